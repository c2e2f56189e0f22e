"""edgetune.int8 against TFLite's interpreter bit for bit, and against independent numpy formulas.

- Golden: ``tests/data/int8/{imu1d,digits2d,digits2d_clamp}.json``, written by
  ``scripts/tflite_golden.py`` from the TFLite interpreter with ``BUILTIN_REF`` kernels (8 samples
  each, every intermediate tensor). Each layer is built from the file's constants, scales and
  options only (the multipliers and shifts come from the bindings, by the library's
  ``from_scales_into``); per layer it gets the interpreter's input and must give the interpreter's
  output, and as a chain (and as a :class:`edgetune.int8.Backbone`) from the model input alone,
  every intermediate must equal the interpreter's. All comparisons are exact: integer outputs.
- quantize / dequantize / requantizer / activation_range: against numpy re-derivations of
  TFLite's formulas (float32 division, round half away from zero; float64 products), exact.
- Errors: bad scales, zero points, lengths and shapes raise the library's messages.
"""

import json
import math
import pathlib

import numpy as np
import pytest

import edgetune
from edgetune import int8

GOLDEN = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "int8"
MODELS = ("imu1d", "digits2d", "digits2d_clamp")
BAD_QUANT = "layer: invalid int8 quantisation parameter"
FUNCS = {
    "conv2d": int8.conv2d,
    "depthwise_conv2d": int8.depthwise_conv2d,
    "fully_connected": int8.fully_connected,
    "avg_pool2d": int8.avg_pool2d,
    "max_pool2d": int8.max_pool2d,
}
OPS = {
    "CONV_2D": "conv2d",
    "DEPTHWISE_CONV_2D": "depthwise_conv2d",
    "FULLY_CONNECTED": "fully_connected",
    "AVERAGE_POOL_2D": "avg_pool2d",
    "MAX_POOL_2D": "max_pool2d",
}


def load(model):
    v = json.loads((GOLDEN / f"{model}.json").read_text())
    assert v["schema"] == "int8-golden/v1" and v["generator"]["op_resolver"] == "BUILTIN_REF"
    tensors = {t["index"]: t for t in v["tensors"]}
    # Per tensor index: the samples' int8 data stacked, shape (samples, elements).
    acts = {}
    for s in v["inputs"]:
        for k, d in s["activations"].items():
            acts.setdefault(int(k), []).append(d)
    acts = {k: np.array(d, dtype=np.int8) for k, d in acts.items()}
    return tensors, v["operators"], acts


def quant(t):
    """(scale, zero_point) of a per-tensor activation; scales are float32 written as doubles."""
    assert len(t["scales"]) == 1
    return float(np.float32(t["scales"][0])), t["zero_points"][0]


def describe(tensors, op):
    """The operator as a layer description (``None`` for RESHAPE), from the file only."""
    o, name = op["options"], op["op"]
    inp, out = tensors[op["inputs"][0]], tensors[op["outputs"][0]]
    if name == "RESHAPE":
        assert quant(inp) == quant(out)
        return None
    d = {"op": OPS[name], "activation": o["fused_activation"].lower()}
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        assert quant(inp) == quant(out), "TFLite pools keep the quantisation"
        d.update(
            input_shape=tuple(inp["shape"][1:]),
            pool_size=(o["filter_h"], o["filter_w"]),
            strides=(o["stride_h"], o["stride_w"]),
            padding=o["padding"].lower(),
            quant=quant(inp),
        )
        return d
    f = tensors[op["inputs"][1]]
    assert all(z == 0 for z in f["zero_points"]), "symmetric weights"
    channel_axis = 3 if name == "DEPTHWISE_CONV_2D" else 0
    if len(f["scales"]) > 1:
        assert f["quantized_dimension"] == channel_axis
    has_bias = len(op["inputs"]) > 2 and op["inputs"][2] >= 0
    d.update(
        filter=np.array(f["data"], dtype=np.int8).reshape(f["shape"]),
        bias=np.array(tensors[op["inputs"][2]]["data"], dtype=np.int32) if has_bias else None,
        input_quant=quant(inp),
        filter_scales=np.array(f["scales"], dtype=np.float32),
        output_quant=quant(out),
    )
    if name != "FULLY_CONNECTED":
        if name == "DEPTHWISE_CONV_2D":
            assert f["shape"][3] == inp["shape"][3] * o["depth_multiplier"]
        d.update(
            input_shape=tuple(inp["shape"][1:]),
            stride=(o["stride_h"], o["stride_w"]),
            padding=o["padding"].lower(),
            dilation=(o["dilation_h"], o["dilation_w"]),
        )
    return d


def call(d, x):
    """Runs a described layer through its function on a batch `x` (samples, elements)."""
    kw = dict(d)
    op, shape = kw.pop("op"), kw.pop("input_shape", None)
    x = x.reshape(len(x), -1) if shape is None else x.reshape((len(x),) + shape)
    return FUNCS[op](x, **kw)


@pytest.mark.parametrize("model", MODELS)
def test_every_layer_equals_the_tflite_interpreter_bit_for_bit(model):
    tensors, ops, acts = load(model)
    compared = 0
    for i, op in enumerate(ops):
        d = describe(tensors, op)
        if d is None:
            continue
        x, want = acts[op["inputs"][0]], acts[op["outputs"][0]]
        y = call(d, x)
        assert y.dtype == np.int8 and len(y) == len(x)
        assert np.array_equal(y.reshape(len(y), -1), want), f"{model} layer {i} ({op['op']})"
        # One sample without the batch axis: that sample's output.
        shape = d.get("input_shape", (-1,))
        one = FUNCS[d["op"]](x[0].reshape(shape), **{k: v for k, v in d.items() if k not in ("op", "input_shape")})
        assert np.array_equal(one.reshape(-1), want[0])
        compared += want.size
    assert compared > 1000


@pytest.mark.parametrize("model", MODELS)
def test_the_chain_from_the_model_input_equals_every_intermediate(model):
    tensors, ops, acts = load(model)
    x = acts[ops[0]["inputs"][0]]
    for i, op in enumerate(ops):
        d = describe(tensors, op)
        x = x if d is None else call(d, x).reshape(len(x), -1)
        assert np.array_equal(x, acts[op["outputs"][0]]), f"{model} layer {i} ({op['op']})"


def backbone(model):
    tensors, ops, acts = load(model)
    layers = [d for d in (describe(tensors, op) for op in ops) if d is not None]
    first, last = tensors[ops[0]["inputs"][0]], tensors[ops[-1]["outputs"][0]]
    b = int8.Backbone(quant(first), layers, quant(last))
    return b, quant(first), quant(last), acts[first["index"]], acts[last["index"]]


def half_away(v):
    """Round float64 values to integers, ties away from zero (C's round)."""
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


@pytest.mark.parametrize("model", MODELS)
def test_the_backbone_equals_the_interpreter_int8_and_dequantized(model):
    b, (si, zi), (so, zo), x, want = backbone(model)
    assert (b.input_len, b.output_len) == (x.shape[1], want.shape[1])
    assert np.array_equal(b.run(x), want)
    assert np.array_equal(b.run(x[0]), want[0])
    # Real input whose quantisation is the file's int8 input (TFLite's DEQUANTIZE in numpy: the
    # product in float64, rounded to float32; |error| ≤ 2^-24 relative, far below the 1/2 step
    # that would change the rounding back).
    real = (np.float64(si) * (x.astype(np.float64) - zi)).astype(np.float32)
    assert np.array_equal(int8.quantize(real, si, zi), x)
    exact = np.float64(so) * (want.astype(np.float64) - zo)  # exact: 24-bit scale × 9-bit int
    features = b.run_real(real)
    assert features.dtype == np.float32
    assert np.array_equal(features.view(np.uint32), exact.astype(np.float32).view(np.uint32))
    # An I16F16 head: the features rounded to 2^-16, ties away from zero.
    bits = b.run_real(edgetune.quantize(real.astype(np.float64), "I16F16"), "I16F16")
    fixed_in = edgetune.dequantize(edgetune.quantize(real.astype(np.float64), "I16F16"), "I16F16")
    assert np.array_equal(int8.quantize(fixed_in.astype(np.float32), si, zi), x)
    assert bits.dtype == np.int32 and np.array_equal(bits, half_away(exact * 2.0**16).astype(np.int32))


def test_the_golden_comparison_fails_on_a_wrong_zero_point():
    # The comparison can fail: digits2d's first layer with its input zero point off by one.
    tensors, ops, acts = load("digits2d")
    d = describe(tensors, ops[0])
    s, z = d["input_quant"]
    d["input_quant"] = (s, z + 1)
    y = call(d, acts[ops[0]["inputs"][0]])
    assert not np.array_equal(y.reshape(len(y), -1), acts[ops[0]["outputs"][0]])


def np_quantize(x32, scale, zp):
    """TFLite's AffineQuantize: clamp(zp + round(x / scale)), the division in float32."""
    with np.errstate(over="ignore"):  # beyond float32: ±inf, which saturates
        t = (np.asarray(x32, np.float32) / np.float32(scale)).astype(np.float64)
    return np.clip(zp + half_away(t), -128, 127).astype(np.int8)


def test_quantize_equals_the_numpy_formula_with_ties_away_from_zero():
    rng = np.random.default_rng(8)
    cases = 0
    for scale, zp in [(0.5, -3), (0.25, 0), (0.1044315, -31), (0.0235294, -128), (3.0, 127), (1e-3, 5)]:
        x = np.concatenate([
            rng.normal(0, 40 * scale, 4000),
            (np.arange(-300, 300) + 0.5) * scale,  # ties at x / scale for power-of-two scales
            [0.0, -0.0, 1e30, -1e30, 3.4e38, -3.4e38, 1e-45, -1e-45],
        ]).astype(np.float32)
        got = int8.quantize(x, scale, zp)
        assert got.dtype == np.int8 and np.array_equal(got, np_quantize(x, scale, zp))
        cases += x.size
    # Ties go away from zero (numpy's own round would go to even: 0.5 → 0, 2.5 → 2).
    assert int8.quantize(np.array([0.25, -0.25, 1.25], np.float32), 0.5, 0).tolist() == [1, -1, 3]
    # Any shape; a fixed-point input is first its value in float32.
    x = rng.normal(0, 3, (3, 4, 5))
    raw = edgetune.quantize(x, "I16F16")
    assert int8.quantize(raw, 0.05, 7, "I16F16").shape == (3, 4, 5)
    assert np.array_equal(
        int8.quantize(raw, 0.05, 7, "I16F16"),
        np_quantize((raw.astype(np.float64) / 2.0**16).astype(np.float32), 0.05, 7),
    )
    assert cases > 20_000


@pytest.mark.parametrize("dtype,frac,raw", [("I16F16", 16, np.int32), ("I8F24", 24, np.int32), ("I4F12", 12, np.int16)])
def test_dequantize_equals_the_numpy_formula(dtype, frac, raw):
    q = np.arange(-128, 128, dtype=np.int8).reshape(16, 16)
    limit = 2.0 ** (np.iinfo(raw).bits - 1 - frac)
    for scale, zp in [(0.1044315, -31), (0.0235294, -128), (0.5, 6), (1.0 / 3.0, 0), (0.01, 3)]:
        exact = np.float64(np.float32(scale)) * (q.astype(np.float64) - zp)
        y = int8.dequantize(q, scale, zp)
        assert y.shape == q.shape
        assert np.array_equal(y.view(np.uint32), exact.astype(np.float32).view(np.uint32))
        # Fixed point where the range holds it: round(value · 2^frac), ties away from zero.
        if np.abs(exact).max() < limit - 1:
            bits = int8.dequantize(q, scale, zp, dtype)
            assert bits.dtype == raw and np.array_equal(bits, half_away(exact * 2.0**frac).astype(raw))
    with pytest.raises(edgetune.EdgetuneError, match="not representable"):
        int8.dequantize(q, limit / 64, 0, dtype)  # q = -128 is -2 · limit


def np_quantize_multiplier(m):
    """TFLite's QuantizeMultiplier, from its definition with Python's frexp."""
    if m == 0.0:
        return 0, 0
    q, shift = math.frexp(m)
    q_fixed = int(half_away(np.float64(q * 2.0**31)))
    if q_fixed == 2**31:
        q_fixed, shift = q_fixed // 2, shift + 1
    if shift < -31:
        return 0, 0
    return q_fixed, shift


def test_requantizer_equals_quantize_multiplier_per_channel():
    rng = np.random.default_rng(5)
    scales = np.float32(10.0) ** rng.uniform(-4, -1, 64).astype(np.float32)
    scales = np.concatenate([scales, np.float32([1e-30, 0.5, 1.0])]).astype(np.float32)
    for s_in, s_out in [(0.1044315, 0.0459784), (0.0235294, 0.0251955), (1.0, 0.5)]:
        m, sh = int8.requantizer(s_in, scales, s_out)
        want = [np_quantize_multiplier(float(np.float32(s_in)) * float(f) / float(np.float32(s_out))) for f in scales]
        assert list(zip(m.tolist(), sh.tolist())) == want
    assert int8.requantizer(0.02, np.float32([0.001, 0.004]), 0.05)[1].tolist() == [-11, -9]


def test_activation_range_equals_tflites_formula():
    def q(f, scale, zp):
        return zp + int(half_away(np.float64(np.float32(f) / np.float32(scale))))

    for scale, zp in [(0.05, -128), (0.0235294, -128), (0.1372412, 6), (0.01, 0), (0.004, -10)]:
        want = {
            "none": (-128, 127),
            "relu": (max(-128, q(0, scale, zp)), 127),
            "relu6": (max(-128, q(0, scale, zp)), min(127, q(6, scale, zp))),
            "relu_n1_to_1": (max(-128, q(-1, scale, zp)), min(127, q(1, scale, zp))),
        }
        for name in int8.ACTIVATIONS:
            assert int8.activation_range(name, scale, zp) == want[name], (name, scale, zp)
    with pytest.raises(edgetune.EdgetuneError, match="activation"):
        int8.activation_range("gelu", 0.1, 0)


def test_conv1d_is_conv2d_at_height_one():
    tensors, ops, acts = load("imu1d")
    d = describe(tensors, ops[3])  # the dilated conv, VALID, dilation 2
    x = acts[ops[3]["inputs"][0]].reshape(-1, 25, 16)
    y = int8.conv1d(
        x, d["filter"][:, 0], d["bias"], d["input_quant"], d["filter_scales"], d["output_quant"],
        dilation=2, activation="relu",
    )
    assert y.shape == (len(x), 21, 16)
    assert np.array_equal(y.reshape(len(x), -1), acts[ops[3]["outputs"][0]])


# Errors: the library's messages, nothing returned.

def dense_args(**over):
    a = dict(
        x=np.zeros(4, np.int8),
        filter=np.ones((3, 4), np.int8),
        bias=np.zeros(3, np.int32),
        input_quant=(0.1, 0),
        filter_scales=np.full(3, 0.01, np.float32),
        output_quant=(0.2, -128),
    )
    a.update(over)
    return a


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan"), float("inf")])
def test_bad_scales_raise_the_librarys_error(bad):
    with pytest.raises(edgetune.EdgetuneError, match=BAD_QUANT):
        int8.quantize(np.zeros(3, np.float32), bad, 0)
    with pytest.raises(edgetune.EdgetuneError, match=BAD_QUANT):
        int8.dequantize(np.zeros(3, np.int8), bad, 0)
    with pytest.raises(edgetune.EdgetuneError, match=BAD_QUANT):
        int8.requantizer(0.1, np.float32([0.01, bad]), 0.2)
    for over in [
        {"input_quant": (bad, 0)},
        {"output_quant": (bad, 0)},
        {"filter_scales": np.float32([0.01, bad, 0.01])},
    ]:
        with pytest.raises(edgetune.EdgetuneError, match=BAD_QUANT):
            int8.fully_connected(**dense_args(**over))
    with pytest.raises(edgetune.EdgetuneError, match=BAD_QUANT):
        int8.Backbone((bad, 0), [], (0.1, 0))


@pytest.mark.parametrize("zp", [-129, 128, 1000, -(2**40)])
def test_zero_points_outside_int8_raise_the_librarys_error(zp):
    with pytest.raises(edgetune.EdgetuneError, match=BAD_QUANT):
        int8.quantize(np.zeros(3, np.float32), 0.1, zp)
    with pytest.raises(edgetune.EdgetuneError, match=BAD_QUANT):
        int8.dequantize(np.zeros(3, np.int8), 0.1, zp)
    with pytest.raises(edgetune.EdgetuneError, match=BAD_QUANT):
        int8.fully_connected(**dense_args(input_quant=(0.1, zp)))
    with pytest.raises(edgetune.EdgetuneError, match=BAD_QUANT):
        int8.max_pool2d(np.zeros((2, 2, 1), np.int8), 2, activation="relu", quant=(0.1, zp))


def test_wrong_lengths_and_shapes_raise_the_librarys_error():
    def mismatch(expected, found):
        return f"length mismatch: expected {expected} elements, found {found}"

    with pytest.raises(edgetune.EdgetuneError, match=mismatch(4, 5)):
        int8.fully_connected(**dense_args(x=np.zeros((2, 5), np.int8)))
    with pytest.raises(edgetune.EdgetuneError, match=mismatch(4, 5)):  # an empty batch too
        int8.fully_connected(**dense_args(x=np.zeros((0, 5), np.int8)))
    assert int8.fully_connected(**dense_args(x=np.zeros((0, 4), np.int8))).shape == (0, 3)
    with pytest.raises(edgetune.EdgetuneError, match=mismatch(3, 2)):
        int8.fully_connected(**dense_args(bias=np.zeros(2, np.int32)))
    with pytest.raises(edgetune.EdgetuneError, match=mismatch(3, 2)):  # neither 1 nor 3 scales
        int8.fully_connected(**dense_args(filter_scales=np.full(2, 0.01, np.float32)))
    with pytest.raises(edgetune.EdgetuneError, match="float32"):
        int8.fully_connected(**dense_args(filter_scales=np.full(1, 0.01)))  # float64
    x = np.zeros((5, 5, 2), np.int8)
    conv = dict(bias=None, input_quant=(0.1, 0), filter_scales=0.01, output_quant=(0.1, 0))
    with pytest.raises(edgetune.EdgetuneError, match=mismatch(4 * 3 * 3 * 2, 4 * 3 * 3 * 3)):
        int8.conv2d(x, np.zeros((4, 3, 3, 3), np.int8), **conv)  # 3 filter channels for 2
    with pytest.raises(edgetune.EdgetuneError, match=mismatch(4, 3)):
        int8.conv2d(x, np.zeros((4, 3, 3, 2), np.int8), **{**conv, "bias": np.zeros(3, np.int32)})
    with pytest.raises(edgetune.EdgetuneError, match="layer: invalid layer shape"):
        int8.conv2d(x, np.zeros((4, 7, 3, 2), np.int8), **conv)  # kernel taller than the map
    with pytest.raises(edgetune.EdgetuneError, match="layer: invalid layer shape"):
        int8.conv2d(x, np.zeros((4, 3, 3, 2), np.int8), stride=0, **conv)
    with pytest.raises(edgetune.EdgetuneError, match="layer: invalid layer shape"):
        int8.depthwise_conv2d(x, np.zeros((1, 3, 3, 3), np.int8), **conv)  # 3 = 2 · multiplier?
    with pytest.raises(edgetune.EdgetuneError, match="layer: invalid layer shape"):
        int8.avg_pool2d(x, 6)
    with pytest.raises(edgetune.EdgetuneError, match="layer: invalid layer shape"):
        int8.avg_pool2d(x[None][:0], 6)  # an empty batch too
    with pytest.raises(edgetune.EdgetuneError, match="expected shape"):
        int8.conv2d(np.zeros(5, np.int8), np.zeros((4, 3, 3, 2), np.int8), **conv)
    with pytest.raises(edgetune.EdgetuneError, match="int8"):
        int8.max_pool2d(x.astype(np.int16), 2)
    with pytest.raises(edgetune.EdgetuneError, match="padding"):
        int8.max_pool2d(x, 2, padding="full")
    with pytest.raises(edgetune.EdgetuneError, match="quant"):
        int8.max_pool2d(x, 2, activation="relu")  # a clamp needs the quantisation
    with pytest.raises(edgetune.EdgetuneError, match=mismatch(600, 599)):
        backbone("imu1d")[0].run_real(np.zeros(599, np.float32))
    with pytest.raises(edgetune.EdgetuneError, match="input element 1 is"):
        int8.quantize(np.float32([0.0, np.nan]), 0.1, 0)


def test_a_backbone_whose_layers_do_not_fit_names_the_layer():
    tensors, ops, acts = load("digits2d")
    layers = [d for d in (describe(tensors, op) for op in ops) if d is not None]
    first, last = tensors[ops[0]["inputs"][0]], tensors[ops[-1]["outputs"][0]]

    def built(layers, out=quant(last)):
        return int8.Backbone(quant(first), layers, out)

    # Without the average pool, the dense layer (then layer 4) receives the wrong length.
    with pytest.raises(edgetune.EdgetuneError, match="int8 backbone layer 4 does not fit"):
        built(layers[:4] + layers[5:])
    wrong_zp = dict(layers[2], input_quant=(layers[2]["input_quant"][0], 0))
    with pytest.raises(edgetune.EdgetuneError, match="int8 backbone layer 2 does not fit"):
        built(layers[:2] + [wrong_zp] + layers[3:])
    with pytest.raises(edgetune.EdgetuneError, match="int8 backbone layer 5 does not fit"):
        built(layers, (quant(last)[0], quant(last)[1] + 1))
    with pytest.raises(edgetune.EdgetuneError, match="int8 backbone layer 0 does not fit"):
        built([])
    with pytest.raises(edgetune.EdgetuneError, match="unknown key"):
        built([dict(layers[0], strid=2)] + layers[1:])
    b = built(layers)
    for bad in (np.zeros(b.input_len + 1, np.int8), np.zeros((0, b.input_len + 1), np.int8)):
        with pytest.raises(edgetune.EdgetuneError, match="length mismatch"):
            b.run(bad)
    assert b.run(np.zeros((0, b.input_len), np.int8)).shape == (0, b.output_len)
