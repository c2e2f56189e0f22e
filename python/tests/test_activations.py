"""ReLU6, LeakyReLU, sigmoid and tanh from Python.

1. Bit for bit against data/expect.json's "activations" cases (`cargo run --release --example
   pyexpect`: the static `Activation::forward`/`backward` on `[S; 28]` arrays, every dtype).
2. ReLU6 exactly against torch (tests/data/conv-golden.json's relu6 case, inputs on a 1/16 grid).
3. LeakyReLU, sigmoid and tanh against numpy float64 within each dtype's documented bound:
   one rounded product for LeakyReLU; for sigmoid/tanh libm's 2-ulp expf/tanhf in f32 (tanh 4u,
   sigmoid 8u relative, as tests/nn_gradcheck.rs derives) and the fixed-point table of
   src/num/fixed/scalar.rs (0.5001 LSB in I16F16 and I4F12, 0.51 / 0.52 LSB in I8F24).
4. Non-finite inputs, a bad slope and mismatched shapes raise EdgetuneError.
"""

import json
import pathlib

import numpy as np
import pytest

import edgetune

HERE = pathlib.Path(__file__).parent
CASES = json.loads((HERE / "data" / "expect.json").read_text())["activations"]
GOLDEN = json.loads((HERE.parents[1] / "tests" / "data" / "conv-golden.json").read_text())
RELU6 = next(c for c in GOLDEN["cases"] if c["layer"] == "relu6")
U32, U64 = 2.0**-24, 2.0**-53
LSB = {"I16F16": 2.0**-16, "I8F24": 2.0**-24, "I4F12": 2.0**-12}
# Documented worst case of the fixed-point sigmoid / tanh, in LSB (src/num/fixed/scalar.rs and
# tests/fixed16.rs).
SIGMOID_LSB = {"I16F16": 0.5001, "I8F24": 0.51, "I4F12": 0.5001}
TANH_LSB = {"I16F16": 0.5001, "I8F24": 0.52, "I4F12": 0.5001}


def arr(bits, dtype):
    if dtype == "f32":
        return np.array(bits, dtype=np.uint32).view(np.float32)
    return np.array(bits, dtype=np.int16 if dtype == "I4F12" else np.int32)


def value(a, dtype):
    return a.astype(np.float64) if dtype == "f32" else edgetune.dequantize(a, dtype)


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def case_id(c):
    return f"{c['dtype']}-{c['activation']}"


def test_fixture_covers_every_activation_and_dtype():
    assert {(c["activation"], c["dtype"]) for c in CASES} == {
        (a, d) for a in ("relu6", "leaky_relu", "sigmoid", "tanh") for d in edgetune.DTYPES}


@pytest.mark.parametrize("c", CASES, ids=case_id)
def test_activations_equal_the_static_rust_layers_bit_for_bit(c):
    d, name, kw = c["dtype"], c["activation"], c["kwargs"]
    x, dy = arr(c["x"], d), arr(c["dy"], d)
    y = getattr(edgetune, name)(x, d, **kw)
    assert same_bits(y, arr(c["y"], d))
    dx = getattr(edgetune, f"{name}_backward")(y, dy, d, **kw)
    assert same_bits(dx, arr(c["dx"], d))
    # Any shape: a (4, 7) batch is the same elements.
    y2 = getattr(edgetune, name)(x.reshape(4, 7), d, **kw)
    assert y2.shape == (4, 7) and same_bits(y2.ravel(), y)


@pytest.mark.parametrize("dtype", edgetune.DTYPES)
def test_relu6_equals_torch_exactly(dtype):
    x, dy = np.array(RELU6["x"]), np.array(RELU6["dy"])
    y_ref, dx_ref = np.array(RELU6["y"]), np.array(RELU6["dx"])
    keep = np.abs(x) < 8 if dtype == "I4F12" else np.ones(x.size, bool)  # I4F12 holds [-8, 8)
    assert keep.sum() >= x.size - 5
    x, dy, y_ref, dx_ref = x[keep], dy[keep], y_ref[keep], dx_ref[keep]
    to = (lambda v: v.astype(np.float32)) if dtype == "f32" else (lambda v: edgetune.quantize(v, dtype))
    y = edgetune.relu6(to(x), dtype)
    # A comparison and a selection (inputs on the 1/16 grid are exact in every dtype); backward
    # multiplies dy by 0 or 1: exact.
    assert np.array_equal(value(y, dtype), y_ref)
    dx = edgetune.relu6_backward(y, to(dy), dtype)
    assert np.array_equal(value(dx, dtype), dx_ref)


@pytest.mark.parametrize("c", CASES, ids=case_id)
def test_activations_agree_with_numpy_float64_within_the_documented_bound(c):
    d, name = c["dtype"], c["activation"]
    xs, dys = arr(c["x"], d), arr(c["dy"], d)
    x, dy = value(xs, d), value(dys, d)
    ys = getattr(edgetune, name)(xs, d, **c["kwargs"])
    y = value(ys, d)
    dx = value(getattr(edgetune, f"{name}_backward")(ys, dys, d, **c["kwargs"]), d)
    lsb = LSB.get(d)
    if name == "relu6":
        assert np.array_equal(y, np.clip(x, 0, 6))
        assert np.array_equal(dx, np.where((y > 0) & (y < 6), dy, 0.0))
        return
    if name == "leaky_relu":
        # The slope as the dtype holds it, then one rounded product per element.
        slope = float(np.float32(0.2)) if d == "f32" else float(value(edgetune.quantize(np.array([0.2]), d), d)[0])
        y_ref = np.where(x > 0, x, slope * x)
        dx_ref = np.where(y > 0, dy, slope * dy)
        tol_y = U32 * np.abs(y_ref) if d == "f32" else 0.5 * lsb
        tol_dx = U32 * np.abs(dx_ref) if d == "f32" else 0.5 * lsb
    elif name == "sigmoid":
        y_ref = 1 / (1 + np.exp(-x))
        # Backward from the stored y: 1 - y, y·(1 - y), dy·(...) each rounded once.
        dx_ref = dy * y * (1 - y)
        if d == "f32":
            tol_y = (8 * U32 + 4 * U64) * y_ref  # expf 2 ulp, an addition, a division
            tol_dx = 3 * U32 / (1 - 3 * U32) * np.abs(dx_ref)
        else:
            tol_y = SIGMOID_LSB[d] * lsb + 4 * U64 * y_ref
            tol_dx = 0.5 * lsb * (np.abs(dy) + 1)  # two products rounded to nearest
    else:
        y_ref = np.tanh(x)
        dx_ref = dy * (1 - y * y)
        if d == "f32":
            tol_y = (4 * U32 + 4 * U64) * np.abs(y_ref)  # tanhf 2 ulp
            # u·y² (square) + u·|1 − y²| (subtraction) + u·|dx| (product), |y| <= 1: 3u·|dy|.
            tol_dx = 3 * U32 * np.abs(dy)
        else:
            tol_y = TANH_LSB[d] * lsb + 4 * U64 * np.abs(y_ref)
            tol_dx = 0.5 * lsb * (np.abs(dy) + 1)
    assert np.all(np.abs(y - y_ref) <= tol_y)
    assert np.all(np.abs(dx - dx_ref) <= tol_dx)


def test_bad_inputs_raise_the_librarys_errors():
    e = edgetune
    x = np.array([[0.5, -1.0], [np.inf, 2.0]], np.float32)
    for f in (e.relu6, e.leaky_relu, e.sigmoid, e.tanh):
        with pytest.raises(e.EdgetuneError, match="^input element 2 is NaN or infinite$"):
            f(x)
    y, dy = np.zeros(3, np.float32), np.array([0.0, np.nan, 1.0], np.float32)
    with pytest.raises(e.EdgetuneError, match="^input element 1 is NaN or infinite$"):
        e.tanh_backward(y, dy)
    with pytest.raises(e.EdgetuneError, match="differ in shape"):
        e.sigmoid_backward(y, np.zeros(4, np.float32))
    with pytest.raises(e.EdgetuneError, match="^layer: LeakyReLU slope must be finite and non-negative$"):
        e.leaky_relu(y, negative_slope=-0.1)
    with pytest.raises(e.EdgetuneError, match="int16"):
        e.relu6(np.zeros(3, np.int32), "I4F12")
