"""The bindings against the Rust path, bit for bit: data/expect.json is written by
`cargo run --release --example pyexpect` with the library's static [S; N] optimizers; every case
(each optimizer and option set, f32, I16F16, I8F24 and I4F12, stochastic and nearest rounding) is
replayed through the Python classes and must give the same parameter bits, state-buffer bits,
step count and rounding state. Error messages must be the library's own."""

import json
import pathlib

import numpy as np
import pytest

import edgetune

DATA = json.loads((pathlib.Path(__file__).parent / "data" / "expect.json").read_text())
CLASSES = {c: getattr(edgetune, c) for c in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Lion")}


def as_array(bits, dtype):
    """Raw bits from the fixture as the array the bindings step."""
    if dtype == "f32":
        return np.array(bits, dtype=np.uint32).view(np.float32)
    return np.array(bits, dtype=np.int16 if dtype == "I4F12" else np.int32)


def raw(a):
    """An array's bits as unsigned integers of its width."""
    return a.view(np.uint16 if a.itemsize == 2 else np.uint32).tolist()


def case_id(case):
    return f"{case['class']}-{case['dtype']}-{json.dumps(case['kwargs'], sort_keys=True)}"


def test_fixture_covers_every_class_and_dtype():
    seen = {(c["class"], c["dtype"]) for c in DATA["cases"]}
    assert seen == {(k, d) for k in CLASSES for d in edgetune.DTYPES}
    assert len(DATA["cases"]) == 18 * len(edgetune.DTYPES)


@pytest.mark.parametrize("case", DATA["cases"], ids=case_id)
def test_bindings_replay_the_static_optimizer_bit_for_bit(case):
    dtype = case["dtype"]
    params = as_array(case["param0"], dtype)
    opt = CLASSES[case["class"]](params.size, **case["kwargs"], dtype=dtype,
                                 rounding=case["rounding"], seed=case["seed"])
    for g in case["grads"]:
        opt.step(params, as_array(g, dtype))
    expected = as_array(case["params"], dtype)
    assert raw(params) == raw(expected)
    bits = opt.state_bits()
    assert sorted(bits) == sorted(case["state"])
    for name, want in case["state"].items():
        assert bits[name].tolist() == want, name
    assert opt.step_count == case["step"] == len(case["grads"])
    state = opt.state_dict()
    assert state["step"] == case["step"]
    if dtype == "f32":
        assert opt.rounding is None
        for name, want in case["state"].items():
            assert state[name].tolist() == np.array(want, np.uint32).view(np.float32).astype(np.float64).tolist()
    else:
        assert list(opt.rounding) == case["aux"]


@pytest.mark.parametrize("err", DATA["config_errors"], ids=lambda e: f"{e['class']}-{e['kwargs']}")
def test_invalid_configuration_raises_the_library_message(err):
    for dtype in edgetune.DTYPES:
        with pytest.raises(edgetune.EdgetuneError) as info:
            CLASSES[err["class"]](4, **err["kwargs"], dtype=dtype)
        assert str(info.value) == err["message"]
        assert isinstance(info.value, ValueError)


def test_step_errors_raise_the_library_message_and_change_nothing():
    msgs = DATA["step_errors"]
    opt = edgetune.Adam(7, lr=0.01)
    p = np.full(7, 0.5, np.float32)
    g = np.full(7, 0.25, np.float32)
    g[3] = np.nan
    with pytest.raises(edgetune.EdgetuneError, match="^" + msgs["nan_at_3"] + "$"):
        opt.step(p, g)
    assert p.tolist() == [0.5] * 7 and opt.step_count == 0
    assert opt.state_dict()["exp_avg"].tolist() == [0.0] * 7

    fx = edgetune.Adam(7, lr=0.01, dtype="I16F16")
    q = edgetune.quantize(np.full(7, 0.5), "I16F16")
    h = edgetune.quantize(np.full(7, 0.25), "I16F16")
    h[5] = np.iinfo(np.int32).min
    with pytest.raises(edgetune.EdgetuneError) as info:
        fx.step(q, h)
    assert str(info.value) == msgs["min_at_5"]
    assert edgetune.dequantize(q, "I16F16").tolist() == [0.5] * 7 and fx.step_count == 0

    with pytest.raises(edgetune.EdgetuneError) as info:
        opt.step(p[:6], np.zeros(6, np.float32))
    assert str(info.value) == msgs["short_params"]

    sgd = edgetune.SGD(7, lr=0.5, weight_decay=10.0)
    big = np.ones(7, np.float32)
    big[2] = 3e38
    before = big.copy()
    with pytest.raises(edgetune.EdgetuneError) as info:
        sgd.step(big, np.full(7, 0.5, np.float32))
    assert str(info.value) == msgs["overflow_at_2"]
    assert big.tolist() == before.tolist()


def test_wrong_arrays_raise_edgetune_errors():
    opt = edgetune.SGD(3, lr=0.1)
    p = np.zeros(3, np.float32)
    with pytest.raises(edgetune.EdgetuneError, match="float32"):
        opt.step(np.zeros(3, np.float64), np.zeros(3, np.float32))
    with pytest.raises(edgetune.EdgetuneError, match="different arrays"):
        opt.step(p, p)
    with pytest.raises(edgetune.EdgetuneError, match="contiguous"):
        opt.step(np.zeros(6, np.float32)[::2], np.zeros(3, np.float32))
    ro = np.zeros(3, np.float32)
    ro.flags.writeable = False
    with pytest.raises(edgetune.EdgetuneError):
        opt.step(ro, np.zeros(3, np.float32))
    fx = edgetune.SGD(3, lr=0.1, dtype="I8F24")
    with pytest.raises(edgetune.EdgetuneError, match="int32"):
        fx.step(p, np.zeros(3, np.float32))
    with pytest.raises(edgetune.EdgetuneError, match="unknown dtype"):
        edgetune.SGD(3, dtype="f16")
    with pytest.raises(edgetune.EdgetuneError, match="unknown rounding"):
        edgetune.SGD(3, dtype="I16F16", rounding="up")
    with pytest.raises(edgetune.EdgetuneError, match="no rounding"):
        edgetune.SGD(3, rounding="nearest")
    with pytest.raises(edgetune.EdgetuneError, match="pair"):
        edgetune.Adam(3, betas=0.9)


def test_any_shape_steps_as_its_flat_elements():
    a = edgetune.Adam(6, lr=0.01)
    b = edgetune.Adam(6, lr=0.01)
    p2 = np.arange(6, dtype=np.float32).reshape(2, 3)
    p1 = p2.ravel().copy()
    g = np.linspace(-1, 1, 6).astype(np.float32)
    a.step(p2, g.reshape(3, 2))
    b.step(p1, g)
    assert p2.ravel().tolist() == p1.tolist()


def test_lr_setter_validates_and_schedules():
    opt = edgetune.SGD(2, lr=0.1)
    opt.lr = 0.05
    assert opt.lr == 0.05
    p = np.ones(2, np.float32)
    opt.step(p, np.ones(2, np.float32))
    assert p.tolist() == [np.float32(1.0) - np.float32(0.05)] * 2
    with pytest.raises(edgetune.EdgetuneError, match="`lr`"):
        opt.lr = -1.0
    assert opt.lr == 0.05


def test_reset_forgets_the_state():
    opt = edgetune.RMSprop(3, lr=0.01, momentum=0.9, centered=True, dtype="I8F24", seed=5)
    p = edgetune.quantize(np.array([0.1, 0.2, 0.3]), "I8F24")
    opt.step(p, edgetune.quantize(np.array([1.0, -1.0, 0.5]), "I8F24"))
    assert opt.step_count == 1
    opt.reset()
    assert opt.step_count == 0
    assert all(not v.any() for v in opt.state_bits().values())
    assert opt.rounding == ("stochastic", 0)


def test_an_absurd_size_is_an_error_not_an_abort():
    with pytest.raises(edgetune.EdgetuneError, match="limit"):
        edgetune.Adam(2**40)
    with pytest.raises(OverflowError):
        edgetune.SGD(-1)
