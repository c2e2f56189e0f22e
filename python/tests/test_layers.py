"""The layer bindings against the Rust path, bit for bit, and against numpy in float64.

data/expect.json's "layers" cases are written by `cargo run --release --example pyexpect` with the
library's static const-generic layers (nn::Dense, Relu, softmax_cross_entropy) for f32, I16F16,
I8F24 and I4F12 (whose data are scaled to stay inside its range) at shapes 64-32, 32-10, 3-5, 17-1, 5-4, a batch of 3: the bindings (which run the
run-time-sized layers, batch loop in Rust) must give the same bits. A numpy float64 reference
checks the same results within tolerances derived from each number type's rounding."""

import json
import pathlib

import numpy as np
import pytest

import edgetune

DATA = json.loads((pathlib.Path(__file__).parent / "data" / "expect.json").read_text())
CASES = DATA["layers"]
U32 = 2.0**-24  # f32 unit roundoff
LSB = {"I16F16": 2.0**-16, "I8F24": 2.0**-24, "I4F12": 2.0**-12}


def arr(bits, dtype, shape):
    if dtype == "f32":
        return np.array(bits, dtype=np.uint32).view(np.float32).reshape(shape)
    return np.array(bits, dtype=np.int16 if dtype == "I4F12" else np.int32).reshape(shape)


def value(a, dtype):
    """Exact float64 values of an array of the dtype's storage."""
    if dtype == "f32":
        return a.astype(np.float64)
    return edgetune.dequantize(a, dtype)


def bits(a):
    a = np.ascontiguousarray(a)
    return a.view(np.uint16 if a.itemsize == 2 else np.uint32).tolist()


def case_id(c):
    return f"{c['dtype']}-{c['inputs']}x{c['outputs']}"


def unpack(c):
    d, i, o, n = c["dtype"], c["inputs"], c["outputs"], c["batch"]
    return d, i, o, n, arr(c["w"], d, (o, i)), arr(c["b"], d, (o,)), arr(c["x"], d, (n, i)), arr(c["dy"], d, (n, o))


def test_fixture_covers_every_dtype_and_shape():
    assert {(c["dtype"], c["inputs"], c["outputs"]) for c in CASES} == {
        (d, i, o) for d in edgetune.DTYPES for i, o in [(64, 32), (32, 10), (3, 5), (17, 1), (5, 4)]
    }


@pytest.mark.parametrize("c", CASES, ids=case_id)
def test_layers_equal_the_static_rust_layers_bit_for_bit(c):
    d, i, o, n, w, b, x, dy = unpack(c)
    y = edgetune.dense_forward(w, b, x, d)
    assert y.shape == (n, o) and bits(y) == bits(arr(c["y"], d, (n, o)))
    h = edgetune.relu(y, d)
    assert bits(h) == bits(arr(c["relu"], d, (n, o)))
    dh = edgetune.relu_backward(h, dy, d)
    assert bits(dh) == bits(arr(c["relu_backward"], d, (n, o)))
    loss, dz = edgetune.softmax_cross_entropy(y, c["labels"], d)
    assert loss.shape == (n,) and bits(loss) == bits(arr(c["loss"], d, (n,)))
    assert bits(dz) == bits(arr(c["dlogits"], d, (n, o)))
    dw, db, dx = edgetune.dense_backward(w, x, dy, d)
    assert bits(dw) == bits(arr(c["dw"], d, (o, i)))
    assert bits(db) == bits(arr(c["db"], d, (o,)))
    assert bits(dx) == bits(arr(c["dx"], d, (n, i)))
    # One sample without a batch axis gives that sample's row.
    y0 = edgetune.dense_forward(w, b, x[0], d)
    assert y0.shape == (o,) and bits(y0) == bits(y[0])
    _, _, none = edgetune.dense_backward(w, x, dy, d, need_dx=False)
    assert none is None


@pytest.mark.parametrize("c", CASES, ids=case_id)
def test_layers_agree_with_numpy_float64_within_the_rounding_bound(c):
    d, i, o, n, w, b, x, dy = unpack(c)
    W, B, X, DY = (value(a, d) for a in (w, b, x, dy))
    y = value(edgetune.dense_forward(w, b, x, d), d)
    ref = X @ W.T + B
    mag = np.abs(X) @ np.abs(W).T + np.abs(B)
    if d == "f32":
        # I products and I additions onto the bias, each rounded once to f32: the classic bound
        # |fl(sum) - sum| <= gamma_{I+1} * sum |terms|, gamma_k = k u / (1 - k u).
        k = i + 1
        tol_y = k * U32 / (1 - k * U32) * mag
    else:
        # Products summed exactly in 64 bits, one rounding to nearest at the end: 0.5 LSB.
        tol_y = 0.5 * LSB[d]
    assert np.all(np.abs(y - ref) <= tol_y)

    dw, db, dx = (value(a, d) for a in edgetune.dense_backward(w, x, dy, d))
    ref_dw, ref_db, ref_dx = DY.T @ X, DY.sum(axis=0), DY @ W
    if d == "f32":
        # dW: n products and n additions per element (2n roundings); dx: O products and O-1
        # additions; db: n additions.
        tol_dw = (2 * n) * U32 / (1 - 2 * n * U32) * (np.abs(DY).T @ np.abs(X))
        tol_db = n * U32 / (1 - n * U32) * np.abs(DY).sum(axis=0)
        tol_dx = 2 * o * U32 / (1 - 2 * o * U32) * (np.abs(DY) @ np.abs(W))
    else:
        # dW: each sample's product rounded to nearest (0.5 LSB), additions exact; db exact;
        # dx: exact 64-bit sums, one rounding.
        tol_dw, tol_db, tol_dx = n * 0.5 * LSB[d], 0.0, 0.5 * LSB[d]
    assert np.all(np.abs(dw - ref_dw) <= tol_dw)
    assert np.all(np.abs(db - ref_db) <= tol_db)
    assert np.all(np.abs(dx - ref_dx) <= tol_dx)

    # ReLU is exact in every type (a comparison and a multiplication by 0 or 1).
    yq = edgetune.dense_forward(w, b, x, d)
    h = value(edgetune.relu(yq, d), d)
    assert np.array_equal(h, np.maximum(value(yq, d), 0.0))
    dh = value(edgetune.relu_backward(edgetune.relu(yq, d), dy, d), d)
    assert np.array_equal(dh, np.where(value(yq, d) > 0, DY, 0.0))


@pytest.mark.parametrize("c", [c for c in CASES if c["dtype"] == "f32"], ids=case_id)
def test_f32_softmax_cross_entropy_agrees_with_numpy_float64(c):
    d, _, o, n, w, b, x, _ = unpack(c)
    z = edgetune.dense_forward(w, b, x, d)
    loss, dz = edgetune.softmax_cross_entropy(z, c["labels"], d)
    Z = z.astype(np.float64)
    m = Z.max(axis=1, keepdims=True)
    e = np.exp(Z - m)
    p = e / e.sum(axis=1, keepdims=True)
    ref_loss = np.log(e.sum(axis=1)) - (Z[np.arange(n), c["labels"]] - m[:, 0])
    onehot = np.eye(o)[c["labels"]]
    # Each exp(z - m) within 1 ulp (libm's expf) after the exact subtraction's rounding (0.5 ulp
    # of an argument up to |z - m|), C additions, a reciprocal and a product (0.5 ulp each):
    # relative error of p below (C + 4 + |z - m|) u; the loss adds ln's 1 ulp and one subtraction.
    spread = (Z.max(axis=1) - Z.min(axis=1))[:, None]
    tol_p = (o + 4 + spread) * U32 * p + U32
    assert np.all(np.abs(dz - (p - onehot)) <= tol_p)
    tol_loss = (o + 6 + spread[:, 0]) * U32 * (np.abs(ref_loss) + np.log(o) + 1)
    assert np.all(np.abs(loss - ref_loss) <= tol_loss)


def test_mismatched_sizes_and_bad_inputs_raise_the_librarys_errors():
    w = np.ones((2, 3), np.float32)
    b = np.zeros(2, np.float32)
    with pytest.raises(edgetune.EdgetuneError, match="length"):
        edgetune.dense_forward(w, b, np.ones((4, 5), np.float32))
    with pytest.raises(edgetune.EdgetuneError, match="length"):
        edgetune.dense_forward(w, np.zeros(3, np.float32), np.ones(3, np.float32))
    with pytest.raises(edgetune.EdgetuneError, match="finite|NaN"):
        edgetune.dense_forward(w, b, np.array([1.0, np.nan, 0.0], np.float32))
    with pytest.raises(edgetune.EdgetuneError):
        edgetune.dense_backward(w, np.ones((2, 3), np.float32), np.ones((3, 2), np.float32))
    with pytest.raises(edgetune.EdgetuneError, match="label"):
        edgetune.softmax_cross_entropy(np.zeros(3, np.float32), 3)
    with pytest.raises(edgetune.EdgetuneError):
        edgetune.softmax_cross_entropy(np.zeros((2, 3), np.float32), [0])
    with pytest.raises(edgetune.EdgetuneError, match="int32"):
        edgetune.dense_forward(w, b, np.ones(3, np.float32), "I16F16")
    with pytest.raises(edgetune.EdgetuneError, match="dtype"):
        edgetune.relu(np.ones(3, np.float32), "f16")
    with pytest.raises(edgetune.EdgetuneError):
        edgetune.relu_backward(np.ones(3, np.float32), np.ones(2, np.float32))
