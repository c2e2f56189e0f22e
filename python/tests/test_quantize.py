"""quantize/dequantize: the crate's conversions (round to nearest; errors or saturation
outside the range) and their round trips."""

import numpy as np
import pytest

import edgetune

FORMATS = {"I16F16": 16, "I8F24": 24}


@pytest.mark.parametrize("dtype,frac", FORMATS.items())
def test_bits_round_trip_exactly(dtype, frac):
    rng = np.random.default_rng(17)
    bits = rng.integers(np.iinfo(np.int32).min, np.iinfo(np.int32).max, 10_000, dtype=np.int64)
    bits = np.concatenate([bits, [np.iinfo(np.int32).min, np.iinfo(np.int32).max, 0, 1, -1]])
    bits = bits.astype(np.int32)
    x = edgetune.dequantize(bits, dtype)
    assert x.dtype == np.float64
    assert (x == bits.astype(np.float64) / 2.0**frac).all()
    assert (edgetune.quantize(x, dtype) == bits).all()


@pytest.mark.parametrize("dtype,frac", FORMATS.items())
def test_values_round_to_nearest_within_half_an_lsb(dtype, frac):
    rng = np.random.default_rng(3)
    limit = 2.0 ** (31 - frac)
    x = rng.uniform(-limit * 0.99, limit * 0.99, 10_000)
    back = edgetune.dequantize(edgetune.quantize(x, dtype), dtype)
    assert np.abs(back - x).max() <= 0.5 / 2.0**frac


@pytest.mark.parametrize("dtype,frac", FORMATS.items())
def test_out_of_range_and_nan_raise_unless_saturating(dtype, frac):
    limit = 2.0 ** (31 - frac)
    for bad in (np.nan, np.inf, 2 * limit, -2 * limit):
        with pytest.raises(edgetune.EdgetuneError, match="not representable"):
            edgetune.quantize(np.array([0.0, bad]), dtype)
    sat = edgetune.quantize(np.array([2 * limit, -2 * limit, np.nan]), dtype, saturate=True)
    i32 = np.iinfo(np.int32)
    assert sat.tolist() == [i32.max, i32.min, i32.max]


def test_shapes_are_kept_and_f32_is_refused():
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    q = edgetune.quantize(x, "I16F16")
    assert q.shape == (3, 4) and q.dtype == np.int32
    assert edgetune.dequantize(q, "I16F16").shape == (3, 4)
    with pytest.raises(edgetune.EdgetuneError, match="fixed-point"):
        edgetune.quantize(x, "f32")
