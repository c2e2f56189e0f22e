"""quantize/dequantize: the crate's conversions (round to nearest; errors or saturation
outside the range) and their round trips."""

import numpy as np
import pytest

import edgetune

# name: (fraction bits, storage)
FORMATS = {"I16F16": (16, np.int32), "I8F24": (24, np.int32), "I4F12": (12, np.int16)}


@pytest.mark.parametrize("dtype,frac,raw", [(d, f, r) for d, (f, r) in FORMATS.items()])
def test_bits_round_trip_exactly(dtype, frac, raw):
    rng = np.random.default_rng(17)
    info = np.iinfo(raw)
    bits = rng.integers(info.min, info.max, 10_000, dtype=np.int64)
    bits = np.concatenate([bits, [info.min, info.max, 0, 1, -1]])
    bits = bits.astype(raw)
    x = edgetune.dequantize(bits, dtype)
    assert x.dtype == np.float64
    assert (x == bits.astype(np.float64) / 2.0**frac).all()
    q = edgetune.quantize(x, dtype)
    assert q.dtype == raw and (q == bits).all()


@pytest.mark.parametrize("dtype,frac,raw", [(d, f, r) for d, (f, r) in FORMATS.items()])
def test_values_round_to_nearest_within_half_an_lsb(dtype, frac, raw):
    rng = np.random.default_rng(3)
    limit = 2.0 ** (np.iinfo(raw).bits - 1 - frac)
    x = rng.uniform(-limit * 0.99, limit * 0.99, 10_000)
    back = edgetune.dequantize(edgetune.quantize(x, dtype), dtype)
    assert np.abs(back - x).max() <= 0.5 / 2.0**frac


@pytest.mark.parametrize("dtype,frac,raw", [(d, f, r) for d, (f, r) in FORMATS.items()])
def test_out_of_range_and_nan_raise_unless_saturating(dtype, frac, raw):
    limit = 2.0 ** (np.iinfo(raw).bits - 1 - frac)
    for bad in (np.nan, np.inf, 2 * limit, -2 * limit):
        with pytest.raises(edgetune.EdgetuneError, match="not representable"):
            edgetune.quantize(np.array([0.0, bad]), dtype)
    sat = edgetune.quantize(np.array([2 * limit, -2 * limit, np.nan]), dtype, saturate=True)
    info = np.iinfo(raw)
    assert sat.tolist() == [info.max, info.min, info.max]


def test_the_16_bit_format_takes_int16_arrays_only():
    opt = edgetune.SGD(2, lr=0.5, dtype="I4F12", rounding="nearest")
    p = edgetune.quantize(np.array([1.0, -1.0]), "I4F12")
    opt.step(p, edgetune.quantize(np.array([0.5, 0.25]), "I4F12"))
    assert edgetune.dequantize(p, "I4F12").tolist() == [0.75, -1.125]
    with pytest.raises(edgetune.EdgetuneError, match="int16"):
        opt.step(p.astype(np.int32), np.zeros(2, np.int32))
    with pytest.raises(edgetune.EdgetuneError, match="int16"):
        edgetune.dequantize(p.astype(np.int32), "I4F12")
    with pytest.raises(edgetune.EdgetuneError, match="no I4F12"):
        edgetune.weights.encode([(np.zeros((1, 1), np.int16), np.zeros(1, np.int16))], "I4F12")


def test_shapes_are_kept_and_f32_is_refused():
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    q = edgetune.quantize(x, "I16F16")
    assert q.shape == (3, 4) and q.dtype == np.int32
    assert edgetune.dequantize(q, "I16F16").shape == (3, 4)
    with pytest.raises(edgetune.EdgetuneError, match="fixed-point"):
        edgetune.quantize(x, "f32")
