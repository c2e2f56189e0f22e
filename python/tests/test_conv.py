"""The convolution and pooling bindings against PyTorch and against the Rust path.

1. tests/data/conv-golden.json (scripts/gen_conv_golden.py: torch.nn.functional and autograd in
   float64, channels-last, weights OHWI, every operand on a 2^-6 grid with |v| <= 2, so exact in
   every dtype): f32 within gamma_n * sum|terms| (plus torch's own float64 error), fixed point
   within the rounding the library documents, max pooling exactly. sum|terms| comes from the
   numpy float64 reference below run on the absolute values of the operands; the reference
   itself is checked against torch first.
2. data/expect.json's "conv" cases (`cargo run --release --example pyexpect`: the library's nn
   functions with const shapes, a batch of two, every dtype): the bindings, which rebuild each
   shape from the arrays and the keywords and loop over the batch, must give the same bits.
3. Bad shapes, lengths, keywords and non-finite inputs raise EdgetuneError.
"""

import json
import pathlib

import numpy as np
import pytest

import edgetune

ROOT = pathlib.Path(__file__).resolve().parents[2]
GOLDEN = json.loads((ROOT / "tests" / "data" / "conv-golden.json").read_text())
EXPECT = json.loads((pathlib.Path(__file__).parent / "data" / "expect.json").read_text())["conv"]
LAYERS = ("conv2d", "pointwise", "conv1d", "max_pool2d", "max_pool1d", "avg_pool2d", "avg_pool1d",
          "global_avg_pool")
CASES = [c for c in GOLDEN["cases"] if c["layer"] in LAYERS]
U32, U64 = 2.0**-24, 2.0**-53  # unit roundoffs of f32 and float64
LSB = {"I16F16": 2.0**-16, "I8F24": 2.0**-24, "I4F12": 2.0**-12}
RANGE = {"I16F16": 2.0**15, "I8F24": 2.0**7, "I4F12": 2.0**3}


def gamma(n, u):
    """gamma_n = n u / (1 - n u): the relative bound of a sum of n rounded terms."""
    return n * u / (1 - n * u)


def to_dtype(v, dtype, shape):
    a = np.asarray(v, dtype=np.float64).reshape(shape)
    return a.astype(np.float32) if dtype == "f32" else edgetune.quantize(a, dtype)


def value(a, dtype):
    return a.astype(np.float64) if dtype == "f32" else edgetune.dequantize(a, dtype)


# ---- numpy float64 reference (channels-last, OHWI), for the f32 bounds' sum|terms| ----

def conv2d_ref(x, w, b, dy, stride, pad, groups):
    """y, dw, db, dx of a grouped 2-D convolution: x (H, W, C), w (O, KH, KW, C/groups),
    pad ((top, bottom), (left, right)). Tap by tap, so that |x|, |w|, |dy| give sum|terms|."""
    (H, W, C), (O, KH, KW, Cg) = x.shape, w.shape
    (sh, sw), (ph, pw) = stride, pad
    xp = np.pad(x, (ph, pw, (0, 0)))
    OH, OW, Og = (H + sum(ph) - KH) // sh + 1, (W + sum(pw) - KW) // sw + 1, O // groups
    y = np.broadcast_to(b, (OH, OW, O)).copy()
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for ki in range(KH):
        for kj in range(KW):
            rows, cols = slice(ki, ki + sh * (OH - 1) + 1, sh), slice(kj, kj + sw * (OW - 1) + 1, sw)
            for g in range(groups):
                ci, co = slice(g * Cg, (g + 1) * Cg), slice(g * Og, (g + 1) * Og)
                patch, wg, dyg = xp[rows, cols, ci], w[co, ki, kj, :], dy[:, :, co]
                y[:, :, co] += patch @ wg.T
                dxp[rows, cols, ci] += dyg @ wg
                dw[co, ki, kj, :] += dyg.reshape(-1, Og).T @ patch.reshape(-1, Cg)
    dx = dxp[ph[0]:ph[0] + H, pw[0]:pw[0] + W]
    return y, dw, dy.sum(axis=(0, 1)), dx


def pool_ref(x, dy, k, stride, pad, kind, include_pad):
    """y, dx and the number of windows holding each input, of max or average pooling over
    x (H, W, C); max pooling routes dy to the first maximum in row-major order (torch)."""
    (H, W, C), (kh, kw), (sh, sw), (ph, pw) = x.shape, k, stride, pad
    OH, OW = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    y, dx, windows = np.zeros((OH, OW, C)), np.zeros_like(x), np.zeros(x.shape[:2])
    for oh in range(OH):
        for ow in range(OW):
            r0, c0 = oh * sh - ph, ow * sw - pw
            rs, cs = slice(max(r0, 0), min(r0 + kh, H)), slice(max(c0, 0), min(c0 + kw, W))
            win = x[rs, cs]
            windows[rs, cs] += 1
            if kind == "max":
                flat = win.reshape(-1, C)
                first = flat.argmax(axis=0)  # numpy's argmax is the first maximum
                y[oh, ow] = flat[first, np.arange(C)]
                for c in range(C):
                    i, j = divmod(int(first[c]), win.shape[1])
                    dx[rs.start + i, cs.start + j, c] += dy[oh, ow, c]
            else:
                n = kh * kw if include_pad else win.shape[0] * win.shape[1]
                y[oh, ow] = win.sum(axis=(0, 1)) / n
                dx[rs, cs] += dy[oh, ow] / n
    return y, dx, np.broadcast_to(windows[:, :, None], x.shape)


# ---- one golden case through the bindings and the reference ----

def geometry(c):
    """The case's numpy shapes and binding keywords."""
    s, layer = c.get("shape", {}), c["layer"]
    if layer in ("conv2d", "pointwise"):
        x_shape = (s["in_h"], s["in_w"], s["in_c"])
        w_shape = (s["out_c"], s["kh"], s["kw"], s["in_c"] // s["groups"])
        kw = dict(stride_h=s["stride_h"], stride_w=s["stride_w"],
                  pad_h=(s["pad_top"], s["pad_bottom"]), pad_w=(s["pad_left"], s["pad_right"]),
                  groups=s["groups"])
        if layer == "pointwise":
            return x_shape, (s["out_c"], s["in_c"]), {}
        return x_shape, w_shape, kw
    if layer == "conv1d":
        return ((s["len"], s["in_c"]), (s["out_c"], s["k"], s["in_c"] // s["groups"]),
                dict(stride=s["stride"], pad=(s["pad_before"], s["pad_after"]), groups=s["groups"]))
    if layer.endswith("pool2d"):
        kw = dict(kh=s["kh"], kw=s["kw"], stride_h=s["stride_h"], stride_w=s["stride_w"],
                  pad_h=s["pad_h"], pad_w=s["pad_w"])
        return (s["in_h"], s["in_w"], s["c"]), None, kw
    if layer.endswith("pool1d"):
        return (s["len"], s["c"]), None, dict(k=s["k"], stride=s["stride"], pad=s["pad"])
    return (c["pixels"], 1, c["channels"]), None, {}  # global_avg_pool, as an (h, 1, c) map


def reference(c, x, w, b, dy):
    """The float64 reference's (y, dw, db, dx) and, for pools, the windows per input."""
    layer, s = c["layer"], c.get("shape", {})
    if layer in ("conv2d", "pointwise"):
        w4 = w.reshape(w.shape[0], 1, 1, -1) if layer == "pointwise" else w
        pad = ((s["pad_top"], s["pad_bottom"]), (s["pad_left"], s["pad_right"]))
        y, dw, db, dx = conv2d_ref(x, w4, b, dy, (s["stride_h"], s["stride_w"]), pad, s["groups"])
        return y, dw.reshape(w.shape), db, dx, None
    if layer == "conv1d":
        y, dw, db, dx = conv2d_ref(x[None], w[:, None], b, dy[None], (1, s["stride"]),
                                   ((0, 0), (s["pad_before"], s["pad_after"])), s["groups"])
        return y[0], dw[:, 0], db, dx[0], None
    if layer == "global_avg_pool":
        return x.mean(axis=(0, 1)), None, None, np.broadcast_to(dy / c["pixels"], x.shape), None
    kind, inc = layer[:3], c["count_include_pad"]
    if layer.endswith("2d"):
        y, dx, win = pool_ref(x, dy, (s["kh"], s["kw"]), (s["stride_h"], s["stride_w"]),
                              (s["pad_h"], s["pad_w"]), kind, inc)
        return y, None, None, dx, win
    y, dx, win = pool_ref(x[None], dy[None], (1, s["k"]), (1, s["stride"]), (0, s["pad"]), kind,
                          inc)
    return y[0], None, None, dx[0], win[0]


def run(layer, dtype, x, w, b, dy, kw, batched=False):
    """Forward and backward through the bindings: y, dw, db, dx and (convolutions) the input
    gradient alone, as the dtype's arrays. `x`'s leading axis is a batch when `batched`."""
    e, d = edgetune, dtype
    spatial = x.shape[1:-1] if batched else x.shape[:-1]
    out = {}
    if layer in ("conv2d", "conv1d", "pointwise"):
        fwd, bwd, alone = (getattr(e, f"{layer}_{f}") for f in ("forward", "backward", "backward_input"))
        out["y"] = fwd(w, b, x, d, **kw)
        out["dw"], out["db"], out["dx"] = bwd(w, x, dy, d, **kw)
        where = ({} if layer == "pointwise" else dict(len=spatial[0]) if layer == "conv1d"
                 else dict(in_h=spatial[0], in_w=spatial[1]))
        out["dx_input"] = alone(w, dy, d, **kw, **where)
    elif layer.startswith("max_pool"):
        out["y"] = getattr(e, layer)(x, d, **kw)
        out["dx"] = getattr(e, f"{layer}_backward")(x, dy, d, **kw)
    elif layer.startswith("avg_pool"):
        out["y"] = getattr(e, layer)(x, d, **kw)
        where = dict(in_h=spatial[0], in_w=spatial[1]) if layer.endswith("2d") else dict(len=spatial[0])
        out["dx"] = getattr(e, f"{layer}_backward")(dy, d, **kw, **where)
    else:
        out["y"] = e.global_avg_pool(x, d)
        out["dx"] = e.global_avg_pool_backward(dy, d, map_shape=tuple(spatial))
    return out


def out_shape(c):
    """The golden case's output shape (torch's output size formula, ceil_mode=False)."""
    layer, s = c["layer"], c.get("shape", {})
    if layer in ("conv2d", "pointwise"):
        return ((s["in_h"] + s["pad_top"] + s["pad_bottom"] - s["kh"]) // s["stride_h"] + 1,
                (s["in_w"] + s["pad_left"] + s["pad_right"] - s["kw"]) // s["stride_w"] + 1,
                s["out_c"])
    if layer == "conv1d":
        return ((s["len"] + s["pad_before"] + s["pad_after"] - s["k"]) // s["stride"] + 1, s["out_c"])
    if layer.endswith("pool2d"):
        return ((s["in_h"] + 2 * s["pad_h"] - s["kh"]) // s["stride_h"] + 1,
                (s["in_w"] + 2 * s["pad_w"] - s["kw"]) // s["stride_w"] + 1, s["c"])
    if layer.endswith("pool1d"):
        return ((s["len"] + 2 * s["pad"] - s["k"]) // s["stride"] + 1, s["c"])
    return (c["channels"],)


def max_terms(c):
    """The most terms any one y, dx, dw or db element sums (plus one for a bias or a divisor):
    n of the bound gamma_n * sum|terms|."""
    layer, s = c["layer"], c.get("shape", {})
    if layer in ("conv2d", "pointwise", "conv1d"):
        taps = s.get("kh", 1) * s.get("kw", s.get("k", 1))
        pixels = int(np.prod(out_shape(c)[:-1]))
        groups = s["groups"]
        return max(taps * (s["in_c"] // groups) + 1, taps * (s["out_c"] // groups), pixels)
    if layer == "global_avg_pool":
        return c["pixels"] + 1
    return s.get("kh", 1) * s.get("kw", s.get("k", 1)) + 1


def golden_arrays(c):
    """x, w, b, dy of a golden case in float64, shaped, and the binding keywords."""
    x_shape, w_shape, kw = geometry(c)
    x = np.array(c["x"]).reshape(x_shape)
    w = np.array(c["w"]).reshape(w_shape) if w_shape else None
    b = np.array(c["b"]) if "b" in c else None
    dy = np.array(c["dy"]).reshape(out_shape(c))
    return x, w, b, dy, kw


def golden_id(c):
    return f"{c['layer']}-{c['name']}"


def magnitudes(c, x, w, b, dy):
    """sum|terms| of each y, dw, db, dx element: the reference on absolute values."""
    a = lambda v: None if v is None else np.abs(v)  # noqa: E731
    return reference(c, a(x), a(w), a(b), a(dy))


@pytest.mark.parametrize("c", CASES, ids=golden_id)
def test_numpy_reference_agrees_with_torch(c):
    """The float64 reference that sizes the f32 bounds computes what torch computes."""
    x, w, b, dy, _ = golden_arrays(c)
    got, mag, n = reference(c, x, w, b, dy), magnitudes(c, x, w, b, dy), max_terms(c)
    for i, key in enumerate(("y", "dw", "db", "dx")):
        if key not in c:
            continue
        # Two float64 sums of at most n terms in different orders: 2 gamma_n sum|terms| apart.
        tol = 2 * gamma(n, U64) * np.ravel(mag[i])
        assert np.all(np.abs(np.ravel(got[i]) - np.array(c[key])) <= tol), key


@pytest.mark.parametrize("dtype", edgetune.DTYPES)
@pytest.mark.parametrize("c", CASES, ids=golden_id)
def test_bindings_agree_with_torch_within_the_rounding_bound(c, dtype):
    x, w, b, dy, kw = golden_arrays(c)
    if c["layer"].startswith("avg_pool"):
        kw["count_include_pad"] = c["count_include_pad"]
    if dtype != "f32":
        # Every operand is on the 2^-6 grid (exact); every exact result must lie in the range.
        for key in ("y", "dw", "db", "dx"):
            assert np.all(np.abs(c.get(key, [])) < RANGE[dtype] - LSB[dtype]), key
    cast = lambda v: None if v is None else to_dtype(v, dtype, v.shape)  # noqa: E731
    out = run(c["layer"], dtype, cast(x), cast(w), cast(b), cast(dy), kw)
    mag, n = magnitudes(c, x, w, b, dy), max_terms(c)
    _, _, _, _, windows = reference(c, x, w, b, dy)
    layer = c["layer"]
    for i, key in enumerate(("y", "dw", "db", "dx")):
        if key not in c:
            continue
        got, want = np.ravel(value(out[key], dtype)), np.array(c[key])
        m = np.ravel(mag[i])
        torch = gamma(n, U64) * m  # torch's own float64 rounding
        if layer.startswith("max_pool"):
            # Selection, and dx sums at most kh*kw grid values (|v| <= 1, 2^-6 apart): exact
            # in every dtype and in torch.
            tol = 0.0
        elif dtype == "f32":
            # A sum of at most n terms, each product/addition/division rounded once to f32.
            tol = gamma(n, U32) * m + torch
        elif layer.startswith("avg_pool") and key == "dx" and not c["count_include_pad"]:
            # Each window's share dy/n is rounded on its own: 1/2 LSB per window holding it.
            tol = 0.5 * LSB[dtype] * np.ravel(windows) + torch
        else:
            # One exact 64-bit sum (times a divisor) rounded once to nearest: 1/2 LSB.
            tol = 0.5 * LSB[dtype] + torch
        assert np.all(np.abs(got - want) <= tol), key
    if "dx_input" in out:
        # The input gradient alone is the same sums as backward's dx.
        assert np.array_equal(out["dx_input"], out["dx"])


# ---- bit for bit against the Rust nn functions (data/expect.json, "conv") ----

def arr(bits, dtype, shape):
    if dtype == "f32":
        return np.array(bits, dtype=np.uint32).view(np.float32).reshape(shape)
    return np.array(bits, dtype=np.int16 if dtype == "I4F12" else np.int32).reshape(shape)


def bits(a):
    a = np.ascontiguousarray(a)
    return a.view(np.uint16 if a.itemsize == 2 else np.uint32).ravel().tolist()


def expect_id(c):
    return f"{c['dtype']}-{c['layer']}-{c['name']}"


def test_fixture_covers_every_layer_and_dtype():
    assert {(c["layer"], c["dtype"]) for c in EXPECT} == {(l, d) for l in LAYERS for d in edgetune.DTYPES}


@pytest.mark.parametrize("c", EXPECT, ids=expect_id)
def test_bindings_equal_the_rust_nn_functions_bit_for_bit(c):
    d, layer = c["dtype"], c["layer"]
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in c["kwargs"].items()}
    x = arr(c["x"], d, c["x_shape"])
    dy = arr(c["dy"], d, c["y_shape"])
    w = arr(c["w"], d, c["w_shape"]) if c["w_shape"] else None
    b = arr(c["b"], d, (len(c["b"]),))
    out = run(layer, d, x, w, b, dy, kw, batched=True)
    assert out["y"].shape == tuple(c["y_shape"]) and bits(out["y"]) == bits(arr(c["y"], d, -1))
    assert out["dx"].shape == x.shape and bits(out["dx"]) == bits(arr(c["dx"], d, -1))
    if w is not None:
        assert out["dw"].shape == w.shape and bits(out["dw"]) == bits(arr(c["dw"], d, -1))
        assert bits(out["db"]) == bits(arr(c["db"], d, -1))
        assert bits(out["dx_input"]) == bits(arr(c["dx_input"], d, -1))
        _, _, none = getattr(edgetune, f"{layer}_backward")(w, x, dy, d, **kw, need_dx=False)
        assert none is None
    # One sample without the batch axis gives that sample's results.
    one = run(layer, d, x[0], w, b, dy[0], kw)
    assert one["y"].shape == out["y"].shape[1:] and bits(one["y"]) == bits(out["y"][0])
    assert bits(one["dx"]) == bits(out["dx"][0])


# ---- errors ----

F = np.float32


def test_bad_shapes_and_lengths_raise_the_librarys_errors():
    e = edgetune
    x, w, b = np.ones((5, 6, 4), F), np.ones((6, 3, 3, 2), F), np.zeros(6, F)
    e.conv2d_forward(w, b, x, groups=2)  # the valid call the others break
    with pytest.raises(e.EdgetuneError, match="^layer: invalid layer shape$"):
        e.conv2d_forward(w, b, x, groups=4)  # 4 groups do not divide 6 outputs
    with pytest.raises(e.EdgetuneError, match="^layer: invalid layer shape$"):
        e.conv2d_forward(w, b, x[:2], groups=2)  # 3 rows of kernel on 2 rows of input
    with pytest.raises(e.EdgetuneError, match="^layer: invalid layer shape$"):
        e.conv2d_forward(w, b, x, groups=2, stride_h=0)
    with pytest.raises(e.EdgetuneError, match="^length mismatch: expected 216 elements, found 108$"):
        e.conv2d_forward(np.ones((6, 3, 3, 2), F), b, x)  # groups=1 needs in_c = 4 per filter
    with pytest.raises(e.EdgetuneError, match="^length mismatch: expected 6 elements, found 5$"):
        e.conv2d_forward(w, b[:5], x, groups=2)
    with pytest.raises(e.EdgetuneError, match="x: expected shape"):
        e.conv2d_forward(w, b, x.ravel(), groups=2)
    with pytest.raises(e.EdgetuneError, match="w: expected shape"):
        e.conv2d_forward(w[0], b, x, groups=2)
    with pytest.raises(e.EdgetuneError, match="dy: expected shape"):
        e.conv2d_backward(w, x, np.ones((3, 3, 6), F), groups=2)  # y is (3, 4, 6)
    with pytest.raises(e.EdgetuneError, match="dy: expected sample shape"):
        e.conv2d_backward_input(w, np.ones((3, 3, 6), F), in_h=5, in_w=6, groups=2)
    with pytest.raises(e.EdgetuneError, match="groups: expected a non-negative int"):
        e.conv2d_forward(w, b, x, groups=-2)
    with pytest.raises(e.EdgetuneError, match="pad_h"):
        e.conv2d_forward(w, b, x, groups=2, pad_h="valid")
    with pytest.raises(e.EdgetuneError, match="limit of 2\\^28"):
        e.conv2d_forward(w, b, x, groups=2, pad_h=2**40)
    with pytest.raises(e.EdgetuneError, match="limit of 2\\^28"):
        e.conv2d_backward_input(w, np.ones((1, 4, 6), F), in_h=2**40, in_w=6, stride_h=2**40, groups=2)
    with pytest.raises(e.EdgetuneError, match="^layer: invalid layer shape$"):
        e.conv1d_forward(np.ones((3, 4, 1), F), np.zeros(3, F), np.ones((3, 1), F))  # k 4 > len 3
    with pytest.raises(e.EdgetuneError, match="^length mismatch"):
        e.pointwise_forward(np.ones((3, 4), F), np.zeros(3, F), np.ones((2, 2, 5), F))
    with pytest.raises(e.EdgetuneError, match="^layer: invalid layer shape$"):
        e.max_pool2d(x, kh=3, kw=3, pad_h=3)  # padding as large as the window
    with pytest.raises(e.EdgetuneError, match="^layer: invalid layer shape$"):
        e.avg_pool1d(np.ones((4, 2), F), k=5)
    with pytest.raises(e.EdgetuneError, match="dy: expected shape"):
        e.max_pool2d_backward(x, np.ones((2, 2, 3), F), kh=2, kw=2)
    with pytest.raises(e.EdgetuneError, match="dy: expected sample shape"):
        e.avg_pool2d_backward(np.ones((2, 3, 4), F), in_h=5, in_w=5, kh=2, kw=2)
    with pytest.raises(e.EdgetuneError, match="^layer: invalid layer shape$"):
        e.global_avg_pool(np.ones((0, 3, 2), F))
    with pytest.raises(e.EdgetuneError, match="dims"):
        e.global_avg_pool(x, dims=3)
    with pytest.raises(e.EdgetuneError, match="map_shape"):
        e.global_avg_pool_backward(np.ones(4, F), map_shape=())
    with pytest.raises(e.EdgetuneError, match="int32"):
        e.conv2d_forward(w, b, x, "I16F16", groups=2)
    with pytest.raises(e.EdgetuneError, match="unknown dtype"):
        e.max_pool1d(np.ones((4, 2), F), "f16", k=2)


def test_non_finite_inputs_are_rejected_as_the_dense_layer_rejects_them():
    e = edgetune
    x = np.ones((2, 4, 4, 3), F)
    x[1, 0, 1, 2] = np.nan
    index = 48 + 3 + 2  # the flat index over the whole batch: sample 1, pixel 1, channel 2
    w, b = np.ones((2, 3, 3, 3), F), np.zeros(2, F)
    with pytest.raises(e.EdgetuneError, match=f"^input element {index} is NaN or infinite$"):
        e.conv2d_forward(w, b, x)
    dy = np.ones((2, 2, 2, 2), F)
    with pytest.raises(e.EdgetuneError, match=f"^input element {index} is NaN or infinite$"):
        e.conv2d_backward(w, x, dy)
    dy[0, 1, 1, 0] = np.inf
    with pytest.raises(e.EdgetuneError, match="^input element 6 is NaN or infinite$"):
        e.conv2d_backward_input(w, dy, in_h=4, in_w=4)
    with pytest.raises(e.EdgetuneError, match=f"^input element {index} is NaN or infinite$"):
        e.max_pool2d(x, kh=2, kw=2)
    with pytest.raises(e.EdgetuneError, match="NaN or infinite"):
        e.avg_pool2d_backward(dy, in_h=4, in_w=4, kh=2, kw=2)
    with pytest.raises(e.EdgetuneError, match="NaN or infinite"):
        e.global_avg_pool(x)
    # Weights are the caller's parameters and are not checked (as the dense layer): NaN flows.
    w[0, 0, 0, 0] = np.nan
    y = e.conv2d_forward(w, b, np.ones((4, 4, 3), F))
    assert np.isnan(y[..., 0]).all() and np.isfinite(y[..., 1]).all()
