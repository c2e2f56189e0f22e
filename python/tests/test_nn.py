"""edgetune.nn's Dense and Conv2d: they hold parameters and call the layer functions, adding no
arithmetic, so their outputs and gradients must be the functions' bits (the functions are
checked against torch, numpy and the Rust path in test_layers.py and test_conv.py); their
initialisation is torch's documented default bound, rounded to the dtype."""

import numpy as np
import pytest

import edgetune
from edgetune.nn import Conv2d, Dense

LSB = {"f32": 0.0, "I16F16": 2.0**-16, "I8F24": 2.0**-24, "I4F12": 2.0**-12}


def storage(v, dtype):
    return v.astype(np.float32) if dtype == "f32" else edgetune.quantize(v, dtype)


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", edgetune.DTYPES)
def test_dense_is_the_dense_functions_bit_for_bit(dtype):
    rng = np.random.default_rng(1)
    layer = Dense(5, 3, dtype, seed=7)
    x, dy = storage(rng.uniform(-1, 1, (4, 5)), dtype), storage(rng.uniform(-1, 1, (4, 3)), dtype)
    y = layer(x)
    assert same_bits(y, edgetune.dense_forward(layer.weight, layer.bias, x, dtype))
    dx = layer.backward(dy)
    dw, db, dx_ref = edgetune.dense_backward(layer.weight, x, dy, dtype)
    assert same_bits(layer.grad_weight, dw) and same_bits(layer.grad_bias, db)
    assert same_bits(dx, dx_ref)
    assert layer.backward(dy, need_dx=False) is None
    layer.zero_grad()
    assert not layer.grad_weight.any() and not layer.grad_bias.any()


@pytest.mark.parametrize("dtype", edgetune.DTYPES)
def test_conv2d_is_the_conv2d_functions_bit_for_bit(dtype):
    rng = np.random.default_rng(2)
    layer = Conv2d(4, 6, (3, 2), stride=(2, 1), padding=("same", (1, 0)), groups=2, dtype=dtype)
    kw = dict(stride_h=2, stride_w=1, pad_h="same", pad_w=(1, 0), groups=2)
    x = storage(rng.uniform(-1, 1, (2, 7, 5, 4)), dtype)
    y = layer(x)
    assert same_bits(y, edgetune.conv2d_forward(layer.weight, layer.bias, x, dtype, **kw))
    dy = storage(rng.uniform(-1, 1, y.shape), dtype)
    dx = layer.backward(dy)
    dw, db, dx_ref = edgetune.conv2d_backward(layer.weight, x, dy, dtype, **kw)
    assert same_bits(layer.grad_weight, dw) and same_bits(layer.grad_bias, db)
    assert same_bits(dx, dx_ref)


def rounded_bound(bound, dtype):
    """A float64 draw in [-bound, bound] rounded once to the dtype: f32 relative 2^-24 (half an
    ulp), fixed point 1/2 LSB."""
    return bound * (1 + 2**-24) if dtype == "f32" else bound + 0.5 * LSB[dtype]


def values(p, dtype):
    return p.astype(np.float64) if dtype == "f32" else edgetune.dequantize(p, dtype)


@pytest.mark.parametrize("dtype", edgetune.DTYPES)
def test_initialisation_is_torchs_default_bound_rounded_to_the_dtype(dtype):
    layer = Conv2d(6, 8, 3, groups=3, dtype=dtype, seed=3)
    assert layer.weight.shape == (8, 3, 3, 2) and layer.bias.shape == (8,)
    bound = 1 / np.sqrt(2 * 3 * 3)  # fan_in = in_channels/groups · kh · kw (torch)
    for p in (layer.weight, layer.bias):
        v = values(p, dtype)
        assert np.all(np.abs(v) <= rounded_bound(bound, dtype))
        assert np.abs(v).max() > bound / 2  # not a degenerate draw
    again = Conv2d(6, 8, 3, groups=3, dtype=dtype, seed=3)
    assert same_bits(again.weight, layer.weight)
    d = Dense(20, 2, dtype)
    assert np.all(np.abs(values(d.weight, dtype)) <= rounded_bound(1 / np.sqrt(20), dtype))


def test_given_parameters_and_misuse():
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    layer = Dense(3, 2, weight=w, bias=np.zeros(2, np.float32))
    assert same_bits(layer.weight, w) and layer.weight is not w
    with pytest.raises(edgetune.EdgetuneError, match="weight: expected shape"):
        Dense(3, 2, weight=w.T)
    with pytest.raises(edgetune.EdgetuneError, match="backward before forward"):
        Dense(3, 2).backward(np.ones(2, np.float32))
    with pytest.raises(edgetune.EdgetuneError, match="groups"):
        Conv2d(3, 6, 3, groups=2)


def test_parameters_pair_with_an_optimizer_step():
    layer = Dense(3, 2, weight=np.ones((2, 3), np.float32), bias=np.zeros(2, np.float32))
    layer(np.array([1.0, 2.0, -1.0], np.float32))
    layer.backward(np.array([1.0, 0.0], np.float32))
    for p, g in layer.parameters():
        edgetune.SGD(p.size, lr=0.5).step(p, g)
    # SGD: p - lr·g, exact here (dw = dy xᵀ = [[1, 2, -1], [0, 0, 0]], db = [1, 0]).
    assert layer.weight.tolist() == [[0.5, 0.0, 1.5], [1.0, 1.0, 1.0]]
    assert layer.bias.tolist() == [-0.5, 0.0]
