#!/usr/bin/env python3
"""Quantise a float PyTorch sequential model to TFLite's int8 scheme without TensorFlow, and
write the same Rust declaration as `tflite_import.py`: the layers before the split as an int8
`Backbone`, the rest as a trainable `cnn!` head with its float parameters.

    python3 scripts/torch_int8.py --demo-imu [--out tests/data/int8/imu_torch_model.rs]
    python3 scripts/torch_int8.py --model MODEL.pt --calib CALIB.npy --split K --name Head --out FILE.rs

`--model` is a whole `torch.nn.Sequential` saved with `torch.save(model, path)` (loaded with
`weights_only=False`: only load your own files); `--calib` a float32 array of calibration inputs
in the model's layout (`[N, C, L]` or `[N, C, H, W]`). `--demo-imu` trains a small 1-D CNN on
BasicMotions (`tests/data/basicmotions.bin`, seeded), quantises it, reports float vs int8
accuracy on the 40 held-out recordings, and also writes `--golden` (the int8 inputs and the
backbone outputs of 8 held-out recordings, for `tests/int8_import.rs`).

Layers (in `nn.Sequential` order): `Conv1d`/`Conv2d` (stride, integer or `'same'`/`'valid'`
zero padding, dilation, groups; `groups == in_channels` becomes `DEPTHWISE_CONV_2D`), `Linear`,
`MaxPool1d`/`2d`, `AvgPool1d`/`2d` (no padding unless `count_include_pad=False`, as TFLite
counts), `ReLU`/`ReLU6` right after a conv or linear (fused), `Flatten`, `Identity`/`Dropout`
(nothing). The head (from `--split`, a module index) is `Linear` (+ `ReLU`/`ReLU6`) and
`Flatten`. Anything else is refused, naming the module.

The scheme is TFLite's (what `tflite_golden.py`'s converter writes): weights int8 symmetric per
output channel, `scale = max|w| / 127`; activations int8 with scale and zero point from the
calibration min/max extended to include 0 (`scale = (max − min) / 255`,
`zero_point = round(−128 − min / scale)`); bias int32 with scale `input_scale · weight_scale`;
a pool's output keeps its input's quantisation. A torch flatten is channel-major and edgetune's
NHWC data is channel-last, so the first `Linear` after a flatten of a map gets its input columns
permuted. The int8 model is evaluated with `int8_reference.py` (TFLite's integer arithmetic in
numpy, equal to the interpreter on the golden files), so the accuracy reported is the int8
model's.
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import int8_reference  # noqa: E402
import tflite_import as ti  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402

SCRIPT = "scripts/torch_int8.py"


class Refused(ti.ImportFailure):
    pass


def fail(k, m, msg):
    raise Refused(f"module {k} ({type(m).__name__}): {msg}")


def act_quant(lo, hi):
    """TFLite's activation quantisation from a calibration range: `(scale, zero_point)`."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi == lo:
        hi = lo + 1e-6
    scale = np.float32((hi - lo) / 255.0)
    zp = int(np.clip(ti.round_half_away(-128.0 - lo / float(scale)), -128, 127))
    return ti.Quant(scale, zp)


def weights_per_channel(w):
    """Symmetric int8 per output channel (axis 0): `(q, scales)`."""
    w = np.asarray(w, dtype=np.float32)
    flat = w.reshape(w.shape[0], -1)
    m = np.abs(flat).max(axis=1)
    scales = np.where(m > 0, m / np.float32(127.0), np.float32(1.0)).astype(np.float32)
    q = np.clip(np.round(flat / scales[:, None]), -127, 127).astype(np.int64)
    return q.reshape(w.shape), scales


def pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def stages(model):
    """Groups the Sequential into (index, module, fused activation name) stages."""
    mods = list(model)
    out, k = [], 0
    while k < len(mods):
        m = mods[k]
        act = "NONE"
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)) and k + 1 < len(mods):
            nxt = mods[k + 1]
            if isinstance(nxt, nn.ReLU):
                act, k = "RELU", k + 1
            elif isinstance(nxt, nn.ReLU6):
                act, k = "RELU6", k + 1
        out.append((k if act == "NONE" else k - 1, m, act, k))
        k += 1
    return out


def quantize_sequential(model, calib, split):
    """`tflite_import.Imported` for `model` (eval mode) with modules `0..split` the int8 backbone."""
    model = model.eval()
    mods = list(model)
    if not 1 <= split < len(mods):
        raise Refused(f"--split {split} is out of range 1..={len(mods) - 1} for this model's {len(mods)} modules")
    x = torch.as_tensor(np.asarray(calib, dtype=np.float32))
    imp = ti.Imported()
    one_d = x.dim() == 3
    if x.dim() not in (3, 4):
        raise Refused(f"calibration inputs of shape {tuple(x.shape)}: [N, C, L] or [N, C, H, W] was expected")
    q = act_quant(x.min(), x.max())
    imp.input = q
    # Map geometry, channel-last: (h, w, c); `flat` is set after a flatten (the element count).
    if one_d:
        h, w, c = 1, x.shape[2], x.shape[1]
    else:
        h, w, c = x.shape[2], x.shape[3], x.shape[1]
    imp.input_shape = [1, h, w, c]
    flat = None
    permute_from = None  # (h, w, c) of the map a flatten produced, until a Linear consumes it
    head = False
    float_head_input = None
    for first, m, act, last in stages(model):
        if first >= split and not head:
            if last != first and first < split <= last:
                fail(first, m, f"--split {split} separates the layer from its fused activation")
            head = True
            imp.output = q
            imp.output_len = flat if flat is not None else h * w * c
        if first < split <= last:
            fail(first, m, f"--split {split} separates the layer from its fused activation")
        with torch.no_grad():
            y = x
            for mm in mods[first : last + 1]:
                y = mm(y)
        if isinstance(m, (nn.Dropout, nn.Identity)):
            x = y
            continue
        if isinstance(m, nn.Flatten):
            if flat is None:
                permute_from = (h, w, c)
                flat = h * w * c
            x = y
            continue
        if head:
            if not isinstance(m, nn.Linear):
                fail(first, m, "only Linear (with a ReLU or ReLU6) and Flatten can be in the head")
            wt = m.weight.detach().numpy().astype(np.float32)
            n_in = flat if flat is not None else h * w * c
            if m.in_features != n_in:
                fail(first, m, f"{m.in_features} inputs, but it receives {n_in}")
            if permute_from is not None:
                wt = nhwc_columns(wt, permute_from)
                permute_from = None
            b = m.bias.detach().numpy() if m.bias is not None else np.zeros(m.out_features, np.float32)
            imp.head.append(
                ti.HeadDense(f"module {first}: Linear({m.in_features}, {m.out_features})", m.in_features,
                             m.out_features, act, wt, b)
            )
            flat = m.out_features
            x = y
            continue
        if isinstance(m, (nn.ReLU, nn.ReLU6)):
            fail(first, m, "an activation must directly follow a conv or linear layer (it is fused into it)")
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            if flat is not None:
                fail(first, m, "a convolution after a flatten")
            if m.padding_mode != "zeros":
                fail(first, m, f"padding_mode {m.padding_mode!r}; only zero padding is supported")
            if isinstance(m, nn.Conv1d):
                kh, kw = 1, m.kernel_size[0]
                sh, sw = 1, m.stride[0]
                dh, dw = 1, m.dilation[0]
            else:
                (kh, kw), (sh, sw), (dh, dw) = m.kernel_size, m.stride, m.dilation
            span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
            if m.padding == "valid":
                ph, pw = (0, 0), (0, 0)
            elif m.padding == "same":  # torch: stride 1, the odd element after (as TF)
                ph, pw = ti.same_padding(h, span_h, 1), ti.same_padding(w, span_w, 1)
            elif isinstance(m, nn.Conv1d):
                ph, pw = (0, 0), (m.padding[0], m.padding[0])
            else:
                ph, pw = (m.padding[0], m.padding[0]), (m.padding[1], m.padding[1])
            inq = q
            outq = act_quant(y.min(), y.max())
            wt = m.weight.detach().numpy()
            if isinstance(m, nn.Conv1d):
                wt = wt[:, :, None, :]  # [O][I/g][1][K]
            wq, ws = weights_per_channel(wt)
            oc, groups = m.out_channels, m.groups
            depthwise = groups == c and groups > 1
            if depthwise:
                filt = wq.transpose(1, 2, 3, 0).reshape(-1)  # [1][kh][kw][O]
            else:
                filt = wq.transpose(0, 2, 3, 1).reshape(-1)  # OHWI
            bias = None
            if m.bias is not None:
                bs = (np.float32(inq.scale) * ws).astype(np.float32)
                bias = np.round(m.bias.detach().numpy().astype(np.float64) / bs.astype(np.float64)).astype(np.int64)
            oh = (h + sum(ph) - span_h) // sh + 1
            ow = (w + sum(pw) - span_w) // sw + 1
            mult, shift = requant(first, m, inq, ws, outq)
            layer = ti.Layer(
                "depthwise" if depthwise else "conv",
                f"module {first}: {m}",
                conv=(h, w, c, oc, kh, kw),
                stride=(sh, sw),
                dilation=(dh, dw),
                groups=groups,
                same=False,
                pads=(ph, pw),
                filter=filt,
                bias=bias,
                multiplier=mult,
                shift=shift,
                input_zp=inq.zero_point,
                output_zp=outq.zero_point,
                act=ti.activation_range(act, outq.scale, outq.zero_point),
                weight_scales=len(ws),
                act_name=act,
            )
            imp.layers.append(layer)
            h, w, c, q = oh, ow, oc, outq
            x = y
            continue
        if isinstance(m, nn.Linear):
            n_in = flat if flat is not None else h * w * c
            if m.in_features != n_in:
                fail(first, m, f"{m.in_features} inputs, but it receives {n_in}")
            wt = m.weight.detach().numpy().astype(np.float32)
            if permute_from is not None:
                wt = nhwc_columns(wt, permute_from)
                permute_from = None
            inq, outq = q, act_quant(y.min(), y.max())
            wq, ws = weights_per_channel(wt)
            bias = None
            if m.bias is not None:
                bs = (np.float32(inq.scale) * ws).astype(np.float64)
                bias = np.round(m.bias.detach().numpy().astype(np.float64) / bs).astype(np.int64)
            mult, shift = requant(first, m, inq, ws, outq)
            imp.layers.append(
                ti.Layer("dense", f"module {first}: {m}", inputs=m.in_features, outputs=m.out_features,
                         filter=wq.reshape(-1), bias=bias, multiplier=mult, shift=shift,
                         input_zp=inq.zero_point, output_zp=outq.zero_point,
                         act=ti.activation_range(act, outq.scale, outq.zero_point),
                         weight_scales=len(ws), act_name=act)
            )
            flat, q = m.out_features, outq
            x = y
            continue
        if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)):
            if flat is not None:
                fail(first, m, "a pool after a flatten")
            if m.ceil_mode:
                fail(first, m, "ceil_mode=True has no TFLite equivalent")
            one = isinstance(m, (nn.MaxPool1d, nn.AvgPool1d))
            ks = (1, pair(m.kernel_size)[0]) if one else pair(m.kernel_size)
            st = (1, pair(m.stride)[0]) if one else pair(m.stride)
            pd = (0, pair(m.padding)[0]) if one else pair(m.padding)
            if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d)):
                if pair(m.dilation) != (1, 1):
                    fail(first, m, "a dilated max pool is not supported")
                kind = "max_pool"
            else:
                if any(pd) and m.count_include_pad:
                    fail(first, m, "padding with count_include_pad=True: TFLite averages in-bounds inputs only")
                kind = "avg_pool"
            (kh, kw), (sh, sw) = ks, st
            ph, pw = (pd[0], pd[0]), (pd[1], pd[1])
            oh = (h + sum(ph) - kh) // sh + 1
            ow = (w + sum(pw) - kw) // sw + 1
            imp.layers.append(
                ti.Layer(kind, f"module {first}: {m}", pool=(h, w, c, kh, kw), stride=(sh, sw), same=False,
                         pads=(ph, pw), act=(-128, 127), act_name="NONE")
            )
            h, w = oh, ow
            x = y
            continue
        fail(first, m, "not supported (Conv1d, Conv2d, Linear, MaxPool, AvgPool, ReLU, ReLU6, Flatten are)")
    if not imp.head:
        raise Refused(f"--split {split}: the head has no Linear layer")
    if not imp.layers:
        raise Refused(f"--split {split}: the backbone has no layer")
    return imp


def nhwc_columns(wt, hwc):
    """A Linear's `[out][C·H·W]` columns (torch's channel-major flatten) reordered to NHWC."""
    h, w, c = hwc
    o = wt.shape[0]
    return wt.reshape(o, c, h, w).transpose(0, 2, 3, 1).reshape(o, h * w * c)


def requant(k, m, inq, scales, outq):
    mult, shift = [], []
    for s in scales:
        r = ti.quantize_multiplier(ti.effective_multiplier(inq.scale, s, outq.scale))
        if r is None:
            fail(k, m, "effective multiplier of 2^31 or more")
        mult.append(r[0])
        shift.append(r[1])
    return mult, shift


def to_nhwc(x):
    """Torch-layout inputs `[N, C, L]` / `[N, C, H, W]` to flat channel-last rows."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 3:
        return x.transpose(0, 2, 1).reshape(len(x), -1)
    return x.transpose(0, 2, 3, 1).reshape(len(x), -1)


def int8_predict(imp, x_torch_layout):
    """Classes, int8 inputs and int8 backbone outputs of the int8 model (numpy reference)."""
    rows = to_nhwc(x_torch_layout)
    preds, xs, ys = [], [], []
    for r in rows:
        xq = int8_reference.quantize(imp.input, r)
        yq = int8_reference.run(imp.layers, xq)
        feats = imp.output.scale * (yq.astype(np.float64) - imp.output.zero_point)
        preds.append(int(np.argmax(int8_reference.head_forward(imp.head, feats))))
        xs.append(xq)
        ys.append(yq)
    return np.array(preds), xs, ys


# ---------------------------------------------------------------------------------------------
# The BasicMotions demo


def load_basicmotions():
    import basicmotions

    with open(os.path.join(ROOT, "tests", "data", "basicmotions.bin"), "rb") as f:
        recs = basicmotions.decode(f.read())
    x = np.array([r[2] for r in recs], dtype=np.float32).reshape(-1, 100, 6)
    y = np.array([r[1] for r in recs], dtype=np.int64)
    tr = np.array([r[0] for r in recs]) == basicmotions.TRAIN
    mean = x[tr].mean(axis=(0, 1), keepdims=True)
    std = x[tr].std(axis=(0, 1), keepdims=True) + 1e-6
    x = ((x - mean) / std).transpose(0, 2, 1).astype(np.float32)  # [N, 6, 100] for Conv1d
    return x[tr], y[tr], x[~tr], y[~tr]


def imu_model():
    return nn.Sequential(
        nn.Conv1d(6, 8, 5, stride=2, padding=2),  # 100 -> 50
        nn.ReLU(),
        nn.Conv1d(8, 16, 3, padding=1, groups=8),  # depthwise, multiplier 2
        nn.ReLU6(),
        nn.MaxPool1d(2),  # 50 -> 25
        nn.Conv1d(16, 16, 3, dilation=2),  # 25 -> 21
        nn.ReLU(),
        nn.AvgPool1d(3, stride=2),  # 21 -> 10
        nn.Flatten(),  # 160, channel-major
        nn.Linear(160, 12),
        nn.ReLU(),
        nn.Linear(12, 4),
    )


def demo_imu(seed, epochs):
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    xtr, ytr, xte, yte = load_basicmotions()
    model = imu_model()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(xtr))
        for i in range(0, len(order), 8):
            idx = order[i : i + 8]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(torch.from_numpy(xtr[idx])), torch.from_numpy(ytr[idx]))
            loss.backward()
            opt.step()
    model.eval()
    return model, xtr, ytr, xte, yte


def params_sha256(model):
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().numpy().astype(np.float32).tobytes())
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo-imu", action="store_true", help="train the BasicMotions demo model and quantise it")
    ap.add_argument("--model", help="a torch.save()d nn.Sequential")
    ap.add_argument("--calib", help="calibration inputs (.npy, float32, torch layout)")
    ap.add_argument("--split", type=int, help="module index where the head starts")
    ap.add_argument("--name", default="Head", help="the head's struct name")
    ap.add_argument("--out", help="the Rust file (default: stdout)")
    ap.add_argument("--golden", help="with --demo-imu: write 8 held-out int8 inputs and backbone outputs (JSON)")
    ap.add_argument("--seed", type=int, default=20261203)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--no-network-alias", dest="network_alias", action="store_false")
    args = ap.parse_args()
    try:
        if args.demo_imu:
            model, xtr, ytr, xte, yte = demo_imu(args.seed, args.epochs)
            split = args.split if args.split is not None else 9  # the head: Linear, ReLU, Linear
            calib = xtr
            source = [
                f"the BasicMotions demo model of {SCRIPT} (seed {args.seed}, {args.epochs} epochs),",
                "calibrated on the 40 training recordings.",
            ]
        else:
            if not (args.model and args.calib and args.split is not None):
                raise Refused("--model, --calib and --split are needed (or --demo-imu)")
            model = torch.load(args.model, weights_only=False)
            if not isinstance(model, nn.Sequential):
                raise Refused(f"{args.model}: a {type(model).__name__}, not an nn.Sequential")
            calib = np.load(args.calib)
            split = args.split
            with open(args.model, "rb") as f:
                source = [f"{os.path.basename(args.model)} (file sha256 {hashlib.sha256(f.read()).hexdigest()})"]
        imp = quantize_sequential(model, calib, split)
        if args.demo_imu:
            command = f"python3 {SCRIPT} --demo-imu --seed {args.seed} --epochs {args.epochs} --split {split}"
        else:
            command = f"python3 {SCRIPT} --model {args.model} --calib {args.calib} --split {split}"
        command += f" --name {args.name}" + ("" if args.network_alias else " --no-network-alias")
        header = ti.header_lines(
            SCRIPT,
            source,
            command,
            f"{params_sha256(model)} (the float parameters, state_dict order, float32 bytes)",
            imp,
            extra=("Scheme: TFLite's int8 (weights per output channel, activations from calibration ranges).",),
        )
        text = ti.rustfmt(ti.render(imp, args.name, header, args.network_alias))
        ti.write(text, args.out)
        if args.demo_imu:
            with torch.no_grad():
                float_pred = model(torch.from_numpy(xte)).argmax(dim=1).numpy()
            int8_pred, xs, ys = int8_predict(imp, xte)
            n = len(yte)
            print(
                f"held-out accuracy ({n} recordings): float {int((float_pred == yte).sum())}/{n}, "
                f"int8 backbone + float head {int((int8_pred == yte).sum())}/{n}; "
                f"classes agree on {int((int8_pred == float_pred).sum())}/{n}",
                file=sys.stderr,
            )
            if args.golden:
                picks = np.linspace(0, n - 1, 8).round().astype(int)
                g = {
                    "schema": "torch-int8-golden/v1",
                    "generator": {"script": SCRIPT, "seed": args.seed, "epochs": args.epochs,
                                  "float_correct": int((float_pred == yte).sum()),
                                  "int8_correct": int((int8_pred == yte).sum()), "test_count": n},
                    "samples": [
                        {"sample": int(k), "label": int(yte[k]), "int8_class": int(int8_pred[k]),
                         "input": xs[k].astype(int).tolist(), "backbone_output": ys[k].astype(int).tolist()}
                        for k in picks
                    ],
                }
                with open(args.golden, "w") as f:
                    f.write(json.dumps(g, separators=(",", ":")) + "\n")
    except ti.ImportFailure as e:
        print(f"torch_int8: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
