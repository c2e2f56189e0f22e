"""TFLite's int8 integer arithmetic in numpy, on the importer's layers (`tflite_import.Layer`):
conv (groups, dilation, padding), depthwise, dense, average and max pool, requantised with
TFLite's default double rounding (`SaturatingRoundingDoublingHighMul`, then
`RoundingDivideByPOT`). Written from TFLite's `reference_integer_ops`, independently of
edgetune's Rust kernels; `scripts/test_tflite_import.py` checks it against the TFLite
interpreter's tensors in the golden files, and `scripts/torch_int8.py` uses it to evaluate a
PyTorch model quantised without TensorFlow.
"""

import numpy as np

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def srdhm(a, b):
    """`SaturatingRoundingDoublingHighMul(a, b)` elementwise (int64 arrays holding int32)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    s = ab + nudge
    # C division truncates toward zero.
    q = np.where(s >= 0, s // (1 << 31), -((-s) // (1 << 31)))
    return np.where(overflow, INT32_MAX, q)


def rounding_divide_by_pot(x, exponent):
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x, multiplier, shift):
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    xl = np.asarray(x, dtype=np.int64) * (np.int64(1) << left)
    # TFLite computes `x * (1 << left)` in int32; a model whose accumulators overflow there is
    # outside what either implementation defines.
    assert np.all((xl >= INT32_MIN) & (xl <= INT32_MAX)), "int32 overflow before the multiplier"
    return rounding_divide_by_pot(srdhm(xl, multiplier), right)


def _finish(acc, layer):
    """Requantise the int64 accumulators (last axis: output channels) and clamp."""
    m = np.array(layer.multiplier, dtype=np.int64)
    s = np.array(layer.shift, dtype=np.int64)
    y = multiply_by_quantized_multiplier(acc, m, s) + layer.output_zp
    return np.clip(y, layer.act[0], layer.act[1]).astype(np.int8)


def conv(layer, x):
    """CONV_2D / DEPTHWISE_CONV_2D on `x` flat NHWC (batch 1): flat int8 output."""
    h, w, ic, oc, kh, kw = layer.conv
    (sh, sw), (dh, dw), g = layer.stride, layer.dilation, layer.groups
    (pt, pb), (pl, pr) = layer.pads
    x = np.asarray(x, dtype=np.int64).reshape(h, w, ic) - layer.input_zp
    xp = np.zeros((h + pt + pb, w + pl + pr, ic), dtype=np.int64)  # padding reads real 0
    xp[pt : pt + h, pl : pl + w] = x
    oh = (h + pt + pb - ((kh - 1) * dh + 1)) // sh + 1
    ow = (w + pl + pr - ((kw - 1) * dw + 1)) // sw + 1
    icg, ocg = ic // g, oc // g
    if layer.kind == "depthwise":
        # [1][kh][kw][ic·mult] -> [oc][kh][kw][1]: output channel o reads input channel o // mult.
        f = np.asarray(layer.filter, dtype=np.int64).reshape(kh, kw, oc).transpose(2, 0, 1)[..., None]
    else:
        f = np.asarray(layer.filter, dtype=np.int64).reshape(oc, kh, kw, icg)
    acc = np.zeros((oh, ow, oc), dtype=np.int64)
    for a in range(kh):
        for b in range(kw):
            patch = xp[a * dh : a * dh + (oh - 1) * sh + 1 : sh, b * dw : b * dw + (ow - 1) * sw + 1 : sw]
            for grp in range(g):
                xs = patch[..., grp * icg : (grp + 1) * icg]  # [oh][ow][icg]
                fs = f[grp * ocg : (grp + 1) * ocg, a, b, :]  # [ocg][icg]
                acc[..., grp * ocg : (grp + 1) * ocg] += xs @ fs.T
    if layer.bias is not None:
        acc += np.asarray(layer.bias, dtype=np.int64)
    return _finish(acc, layer).reshape(-1)


def dense(layer, x):
    x = np.asarray(x, dtype=np.int64).reshape(-1) - layer.input_zp
    f = np.asarray(layer.filter, dtype=np.int64).reshape(layer.outputs, layer.inputs)
    acc = f @ x
    if layer.bias is not None:
        acc = acc + np.asarray(layer.bias, dtype=np.int64)
    return _finish(acc, layer)


def pool(layer, x):
    h, w, c, kh, kw = layer.pool
    (sh, sw) = layer.stride
    (pt, pb), (pl, pr) = layer.pads
    x = np.asarray(x, dtype=np.int64).reshape(h, w, c)
    oh = (h + pt + pb - kh) // sh + 1
    ow = (w + pl + pr - kw) // sw + 1
    y = np.zeros((oh, ow, c), dtype=np.int64)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * sh - pt, j * sw - pl
            win = x[max(r0, 0) : min(r0 + kh, h), max(c0, 0) : min(c0 + kw, w)].reshape(-1, c)
            if layer.kind == "max_pool":
                y[i, j] = win.max(axis=0)
            else:  # in-bounds elements only; rounding half away from zero
                n = win.shape[0]
                s = win.sum(axis=0)
                y[i, j] = np.where(s > 0, (s + n // 2) // n, -((-s + n // 2) // n))
    return np.clip(y, layer.act[0], layer.act[1]).astype(np.int8).reshape(-1)


def run(layers, x):
    """The backbone on the int8 input `x` (flat): its int8 output (flat)."""
    y = np.asarray(x, dtype=np.int8).reshape(-1)
    for layer in layers:
        if layer.kind in ("conv", "depthwise"):
            y = conv(layer, y)
        elif layer.kind == "dense":
            y = dense(layer, y)
        else:
            y = pool(layer, y)
    return y


def quantize(q, x):
    """TFLite's QUANTIZE from float: `clamp(zp + round(x / scale))`, the division in f32, ties
    away from zero."""
    t = np.asarray(x, dtype=np.float32) / np.float32(q.scale)
    r = np.sign(t) * np.floor(np.abs(t) + np.float32(0.5))
    return np.clip(r.astype(np.int64) + q.zero_point, -128, 127).astype(np.int8)


def head_forward(head, features):
    """The float head (`tflite_import.HeadDense` list) in f64 on dequantised features."""
    x = np.asarray(features, dtype=np.float64)
    for d in head:
        x = d.weight.astype(np.float64) @ x + d.bias.astype(np.float64)
        if d.act == "RELU":
            x = np.maximum(x, 0)
        elif d.act == "RELU6":
            x = np.clip(x, 0, 6)
    return x
