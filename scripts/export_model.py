#!/usr/bin/env python3
"""Export a PyTorch CNN (`nn.Sequential`) as an edgetune weight file (.etw) and a `cnn!` declaration.

The model is a torch `nn.Sequential` (nested `nn.Sequential`s are expanded in order) of:

    Conv1d, Conv2d        any stride, integer / tuple / 'same' / 'valid' padding, groups, bias or not
                          (no bias: zeros are written); dilation 1, padding_mode 'zeros'
    BatchNorm1d/2d        eval mode, running statistics required (track_running_stats=True)
    ReLU, ReLU6, LeakyReLU (slope >= 0), Tanh, Sigmoid
                          become the `, relu` (...) option of the layer line before them
    MaxPool1d/2d          ceil_mode=False, dilation 1
    AvgPool1d/2d          ceil_mode=False, count_include_pad=True (or no padding), no divisor_override
    AdaptiveAvgPool1d/2d(1)  -> `global_avg_pool`
    Flatten               start_dim=1, end_dim=-1
    Linear                on a flat vector (after a Flatten)
    Dropout*, Identity    skipped (eval)

and nothing else: any other module, an activation with no layer before it or right after another
activation, ceil_mode=True, dilation != 1, padding_mode != 'zeros', a batch norm without running
statistics, or sizes that do not chain is an error that names the module.

Where the model comes from (pick one):

    --build MODULE:FUNCTION    a function that takes no arguments and returns the nn.Sequential:
                               MODULE is a dotted import path (`mypkg.models:make_har`, found on
                               sys.path plus the current directory) or a file
                               (`path/to/models.py:make_har`).
    --state-dict MODEL.pt      optional with --build: `torch.save(model.state_dict(), path)`
                               (a dict under `state_dict` / `model_state_dict` is accepted too),
                               loaded with weights_only=True and load_state_dict(strict=True).
                               Without it the weights the function built are exported.
    --pickled-model MODEL.pt   a whole module saved with `torch.save(model, path)`. Loading it
                               unpickles with weights_only=False, which RUNS CODE from the file:
                               only for files you trust. (TorchScript files are not supported:
                               they do not keep the module types; rebuild with --build.)

    --input 32,6               the input shape, channels-last as in `cnn!`: `length,channels`
                               (1-D) or `height,width,channels` (2-D).

What is written:

    --out NAME.etw   the parameters in the flat "torch order" of CNN-CONTRACT.md, one ETWF layer
                     entry per parameterised layer: conv (KH*KW*C_in/G, C_out) with the weight in
                     OHWI (torch `weight.permute(0, 2, 3, 1)`; 1-D `[O][I][K]` -> `[O][K][I]`)
                     then the bias; batch_norm (1, C) with scale = gamma/sqrt(var+eps) then
                     shift = beta - mean*scale; dense (I, O) with W [O][I] then b, the columns of
                     a Linear after a flatten of a spatial map permuted from torch's C,H,W to
                     H,W,C (`edgetune::nn::flatten::torch_flat_index`). `--number-type
                     i16f16|i8f24` writes raw fixed-point bits (etwf.py).
    --rust NAME.rs   the `edgetune::cnn! { ... }` declaration (struct `--name`, loss `--loss`).

Fine-tuning modes (`--mode`), the per-line `train | bias | frozen` of the declaration:

    full     every parameterised layer `train`            batch norm folded into the conv before it
    head     the last dense `train`, every other `frozen` batch norm folded
    bias     every parameterised layer `bias`             batch norm folded
    affine   every batch_norm `train`, the rest `frozen`  batch norm kept as `batch_norm` lines

Folding (W' = s*W, b' = s*(b - mean) + beta, s = gamma/sqrt(var + eps), in float64, rounded once
to float32, as `edgetune::nn::bn_fold`) needs the batch norm right after a convolution; a batch
norm anywhere else is kept as a `batch_norm` line in every mode.

After exporting, the script runs the exported layers (an independent float64 interpreter of the
edgetune layouts, `Export.reference`) against the torch model in float64 on seeded random inputs
and fails unless they agree within the rounding bound (see `Export.bound`).

Usage:
    python3 scripts/export_model.py --build models.py:make_har --state-dict har.pt --input 100,6 \\
        --name Har --mode head --out har.etw --rust har.rs
    python3 scripts/export_model.py --check NAME.etw      # decode and summarize; no torch

Python API (what gen_cnn_roundtrip.py uses): `convert(model, input_shape, mode)` returns an
`Export` with `.shapes`, `.values`, `.declaration(...)`, `.write_etw(...)`, `.reference(x, dtype)`
and `.chain`.
"""

import argparse
import importlib
import importlib.util
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from etwf import NUMBER_TYPES, check, write_checked  # noqa: E402

MODES = ("full", "head", "bias", "affine")
LOSSES = ("softmax_cross_entropy", "mse")
U32 = 2.0**-24  # unit roundoff of binary32
VERIFY_SEED = 20261202


class ExportError(SystemExit):
    """A model the exporter cannot express; the message names the module."""


def gamma(n, u=U32):
    """Higham's gamma_n = n*u / (1 - n*u): the relative error bound of an n-term sum of products."""
    return n * u / (1 - n * u)


def _tuple(v, n):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def _num(v):
    """A Rust literal (int, or `(a, b)` when the two axes differ)."""
    if len(v) == 1 or all(x == v[0] for x in v):
        return str(v[0])
    return "(" + ", ".join(str(x) for x in v) + ")"


def _out_len(n, k, s, before, after, what):
    padded = n + before + after
    if k < 1 or s < 1 or padded < k:
        raise ExportError(f"{what}: kernel {k} does not fit the input length {n} with padding ({before}, {after})")
    return (padded - k) // s + 1


class Line:
    """One line of the `cnn!` declaration, with its parameters in edgetune's layout (float64
    tensors holding float32-exact values) and what the reference interpreter needs."""

    def __init__(self, kind, text, source, params=None, **spec):
        self.kind = kind  # conv, batch_norm, max_pool, avg_pool, global_avg_pool, flatten, dense
        self.text = text
        self.source = source
        self.params = params  # [first, second]: (weight, bias) or (scale, shift)
        self.spec = spec
        self.activation = None  # (name, slope or None)
        self.mode = None
        self.chain = 0

    def shape(self):
        """The ETWF (inputs, outputs) entry."""
        first, second = self.params
        o = second.numel()
        return (first.numel() // o, o)

    def render(self):
        out = self.text
        if self.activation:
            name, slope = self.activation
            out += f", {name}" if slope is None else f", {name}({slope!r})"
        if self.params is not None:
            out += f", {self.mode}"
        return out + ";"


def _f32(t):
    """Round a tensor to float32 and back to float64 (the value the .etw holds)."""
    import torch

    out = t.detach().to(torch.float64).to(torch.float32).to(torch.float64)
    if not bool(torch.isfinite(out).all()):
        raise ExportError("a parameter is NaN, infinite or beyond the float32 range")
    return out


def _modules(model, prefix=""):
    from torch import nn

    for name, m in model.named_children():
        full = f"{prefix}{name}"
        if isinstance(m, nn.Sequential):
            yield from _modules(m, full + ".")
        else:
            yield full, m


def _bn_affine(m, name):
    """(scale, shift) in float64 of an eval-mode batch norm, or an error if it has no running stats."""
    import torch

    if not m.track_running_stats or m.running_mean is None or m.running_var is None:
        raise ExportError(
            f"module {name!r} ({type(m).__name__}): has no running statistics (track_running_stats=False), so it normalises with "
            "the batch's statistics even in eval mode; edgetune's batch_norm is the eval-mode affine map"
        )
    c = m.num_features
    gamma_ = m.weight.detach().double() if m.weight is not None else torch.ones(c, dtype=torch.float64)
    beta = m.bias.detach().double() if m.bias is not None else torch.zeros(c, dtype=torch.float64)
    mean = m.running_mean.detach().double()
    var = m.running_var.detach().double()
    d = var + m.eps
    if not bool((d > 0).all()):
        raise ExportError(f"module {name!r} ({type(m).__name__}): running_var + eps <= 0")
    s = gamma_ / torch.sqrt(d)
    return s, beta, mean


def convert(model, input_shape, mode="full"):
    """Convert `model` (an nn.Sequential, put in eval mode here) for an input of `input_shape`
    (channels-last: (length, channels) or (height, width, channels)); see the module docs."""
    import torch
    from torch import nn

    if mode not in MODES:
        raise ExportError(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
    if not isinstance(model, nn.Sequential):
        raise ExportError(f"the model is a {type(model).__name__}, not an nn.Sequential")
    model.eval()
    input_shape = tuple(int(v) for v in input_shape)
    if len(input_shape) == 2:
        dims, (h, w, c) = 1, (1, input_shape[0], input_shape[1])
    elif len(input_shape) == 3:
        dims, (h, w, c) = 2, input_shape
    else:
        raise ExportError(f"input shape {input_shape}: give (length, channels) or (height, width, channels)")
    if min(h, w, c) < 1:
        raise ExportError(f"input shape {input_shape} has a zero size")
    flat = None  # the vector length once flattened
    perm = None  # (H, W, C) of the spatial map the pending flatten came from, for the next Linear
    lines = []
    mods = list(_modules(model))
    fold = mode != "affine"
    i = 0
    while i < len(mods):
        name, m = mods[i]
        i += 1
        where = f"module {name!r} ({type(m).__name__})"

        def need_map(d):
            if flat is not None:
                raise ExportError(f"{where} needs a {d}-D map, but the tensor is already flat")
            if d != dims:
                raise ExportError(f"{where} is {d}-D but the input is {dims}-D (--input)")

        if isinstance(m, (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout, nn.Identity)):
            continue
        if isinstance(m, (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Tanh, nn.Sigmoid)):
            if not lines:
                raise ExportError(f"{where}: an activation needs a layer before it (cnn! has no activation line)")
            if lines[-1].activation is not None:
                raise ExportError(f"{where}: two activations in a row (after {lines[-1].source!r})")
            if isinstance(m, nn.LeakyReLU):
                slope = float(m.negative_slope)
                if not (math.isfinite(slope) and slope >= 0):
                    raise ExportError(f"{where}: negative_slope {slope} (cnn! needs a finite slope >= 0)")
                lines[-1].activation = ("leaky_relu", slope)
            else:
                lines[-1].activation = (
                    {nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid"}[type(m)],
                    None,
                )
            continue
        if isinstance(m, (nn.Conv1d, nn.Conv2d)) and type(m) in (nn.Conv1d, nn.Conv2d):
            d = 1 if isinstance(m, nn.Conv1d) else 2
            need_map(d)
            if any(x != 1 for x in _tuple(m.dilation, d)):
                raise ExportError(f"{where}: dilation {m.dilation} (only 1)")
            if m.padding_mode != "zeros":
                raise ExportError(f"{where}: padding_mode {m.padding_mode!r} (only 'zeros')")
            if m.in_channels != c:
                raise ExportError(f"{where}: in_channels {m.in_channels}, but the incoming map has {c} channels")
            k = (1,) + _tuple(m.kernel_size, 1) if d == 1 else _tuple(m.kernel_size, 2)
            s = (1,) + _tuple(m.stride, 1) if d == 1 else _tuple(m.stride, 2)
            g = m.groups
            if isinstance(m.padding, str):
                if m.padding == "valid":
                    pads = ((0, 0), (0, 0))
                    ptxt = "valid"
                else:  # 'same' (torch allows it only at stride 1: total k - 1, the extra after, = TF SAME)
                    pads = tuple(
                        ((tot := max((-(-n // st) - 1) * st + kk - n, 0)) // 2, tot - tot // 2)
                        for n, kk, st in zip((h, w), k, s)
                    )
                    ptxt = "same"
            else:
                p = (0,) + _tuple(m.padding, 1) if d == 1 else _tuple(m.padding, 2)
                pads = tuple((x, x) for x in p)
                ptxt = _num(p[1:] if d == 1 else p)
            oh = _out_len(h, k[0], s[0], *pads[0], where)
            ow = _out_len(w, k[1], s[1], *pads[1], where)
            wt = m.weight.detach().double()  # [O, I/G, (KH,) KW]
            if d == 1:
                wt = wt.unsqueeze(2)
            wt = wt.permute(0, 2, 3, 1)  # OHWI
            bias = m.bias.detach().double() if m.bias is not None else torch.zeros(m.out_channels, dtype=torch.float64)
            src = name
            if fold and i < len(mods) and isinstance(mods[i][1], (nn.BatchNorm1d, nn.BatchNorm2d)):
                bn_name, bn = mods[i]
                bn_d = 1 if isinstance(bn, nn.BatchNorm1d) else 2
                if bn_d != d or bn.num_features != m.out_channels:
                    raise ExportError(f"module {bn_name!r} ({type(bn).__name__}) does not fit the {where} before it")
                sc, beta, mean = _bn_affine(bn, bn_name)
                wt = wt * sc.view(-1, 1, 1, 1)
                bias = sc * (bias - mean) + beta
                src = f"{name}+{bn_name}"
                i += 1
            text = f"conv{d}d({m.in_channels}, {m.out_channels}, {_num(k[1:] if d == 1 else k)}"
            if any(x != 1 for x in s):
                text += f", stride = {_num(s[1:] if d == 1 else s)}"
            text += f", padding = {ptxt}"
            if g != 1:
                text += f", groups = {g}"
            text += ")"
            stored = _f32(wt if d == 2 else wt.squeeze(1))  # 1-D: [O][K][I]
            line = Line("conv", text, src, [stored, _f32(bias)], stride=s, pads=pads, groups=g, kernel=k)
            line.chain = k[0] * k[1] * (m.in_channels // g) + 1
            lines.append(line)
            h, w, c = oh, ow, m.out_channels
            continue
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            d = 1 if isinstance(m, nn.BatchNorm1d) else 2
            if flat is not None:
                if d != 1:
                    raise ExportError(f"{where} on a flat vector")
                if perm is not None:
                    raise ExportError(
                        f"{where} on the flatten of a spatial map: its features are in torch's C,H,W order, "
                        "which edgetune's channels-last flatten does not keep"
                    )
                n_ch = flat
            else:
                need_map(d)
                n_ch = c
            if m.num_features != n_ch:
                raise ExportError(f"{where}: num_features {m.num_features}, but the input has {n_ch} channels")
            sc, beta, mean = _bn_affine(m, name)
            line = Line("batch_norm", f"batch_norm({n_ch})", name, [_f32(sc), _f32(beta - sc * mean)])
            line.chain = 2  # one multiplication, one addition
            lines.append(line)
            continue
        if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)):
            is_max = isinstance(m, (nn.MaxPool1d, nn.MaxPool2d))
            d = 1 if isinstance(m, (nn.MaxPool1d, nn.AvgPool1d)) else 2
            need_map(d)
            if m.ceil_mode:
                raise ExportError(f"{where}: ceil_mode=True (edgetune pools floor the output size)")
            if is_max:
                if any(x != 1 for x in _tuple(m.dilation, d)) or m.return_indices:
                    raise ExportError(f"{where}: dilation {m.dilation} / return_indices (only 1 / False)")
            else:
                if getattr(m, "divisor_override", None) is not None:  # AvgPool1d has none
                    raise ExportError(f"{where}: divisor_override (not supported)")
            k = _tuple(m.kernel_size, d)
            s = _tuple(m.stride if m.stride is not None and m.stride != () else m.kernel_size, d)
            p = _tuple(m.padding, d)
            if not is_max and not m.count_include_pad and any(p):
                raise ExportError(f"{where}: count_include_pad=False with padding (edgetune counts the padding)")
            if d == 1:
                k, s, p = (1,) + k, (1,) + s, (0,) + p
            pads = tuple((x, x) for x in p)
            oh = _out_len(h, k[0], s[0], *pads[0], where)
            ow = _out_len(w, k[1], s[1], *pads[1], where)
            sl = slice(1, None) if d == 1 else slice(None)
            text = f"{'max' if is_max else 'avg'}_pool{d}d({_num(k[sl])}"
            if s != k:
                text += f", stride = {_num(s[sl])}"
            if any(p):
                text += f", padding = {_num(p[sl])}"
            text += ")"
            line = Line("max_pool" if is_max else "avg_pool", text, name, stride=s, pads=pads, kernel=k)
            line.chain = 0 if is_max else k[0] * k[1] + 2  # the sum, then 1/n and one multiplication
            lines.append(line)
            h, w = oh, ow
            continue
        if isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)):
            d = 1 if isinstance(m, nn.AdaptiveAvgPool1d) else 2
            need_map(d)
            if any(x != 1 for x in _tuple(m.output_size, d)):
                raise ExportError(f"{where}: output_size {m.output_size} (only 1, i.e. global average pooling)")
            line = Line("global_avg_pool", "global_avg_pool", name)
            line.chain = h * w + 2
            lines.append(line)
            h, w = 1, 1
            continue
        if isinstance(m, nn.Flatten):
            if m.start_dim != 1 or m.end_dim != -1:
                raise ExportError(f"{where}: start_dim {m.start_dim}, end_dim {m.end_dim} (only 1, -1)")
            if flat is None:
                flat = h * w * c
                perm = (h, w, c) if h * w > 1 else None
                lines.append(Line("flatten", "flatten", name))
            continue
        if isinstance(m, nn.Linear):
            if flat is None:
                raise ExportError(f"{where} on a {dims}-D map: put an nn.Flatten before it")
            if m.in_features != flat:
                raise ExportError(f"{where}: in_features {m.in_features}, but the incoming vector has {flat}")
            wt = m.weight.detach().double()
            if perm is not None:
                ph, pw, pc = perm
                # column (h*W + w)*C + c here is torch's column (c*H + h)*W + w (torch_flat_index)
                idx = torch.arange(ph * pw * pc).reshape(pc, ph, pw).permute(1, 2, 0).reshape(-1)
                wt = wt[:, idx]
                perm = None
            bias = m.bias.detach().double() if m.bias is not None else torch.zeros(m.out_features, dtype=torch.float64)
            line = Line("dense", f"dense({m.in_features}, {m.out_features})", name, [_f32(wt), _f32(bias)])
            line.chain = m.in_features + 1
            lines.append(line)
            flat = m.out_features
            continue
        raise ExportError(f"{where} is not supported by edgetune's cnn! (see scripts/export_model.py)")

    if flat is None:
        raise ExportError("the model's output is a map: end it with nn.Flatten (and nn.Linear)")
    if not any(ln.params is not None for ln in lines):
        raise ExportError("the model has no parameterised layer")
    dense = [ln for ln in lines if ln.kind == "dense"]
    if mode == "head" and not dense:
        raise ExportError("--mode head needs a Linear layer (the head)")
    for ln in lines:
        if ln.params is None:
            continue
        if mode == "full":
            ln.mode = "train"
        elif mode == "bias":
            ln.mode = "bias"
        elif mode == "head":
            ln.mode = "train" if ln is dense[-1] else "frozen"
        else:
            ln.mode = "train" if ln.kind == "batch_norm" else "frozen"
    for ln in lines:
        if ln.activation and ln.activation[0] in ("tanh", "sigmoid"):
            ln.chain += 4  # libm's tanh/exp are within a few ulp
        elif ln.activation and ln.activation[0] == "leaky_relu":
            ln.chain += 1  # one multiplication; relu and relu6 are exact
    return Export(lines, input_shape, dims, flat, mode)


class Export:
    def __init__(self, lines, input_shape, dims, outputs, mode):
        self.lines = lines
        self.input_shape = input_shape
        self.dims = dims
        self.outputs = outputs
        self.mode = mode

    @property
    def shapes(self):
        """The ETWF layer entries (inputs, outputs), one per parameterised layer."""
        return [ln.shape() for ln in self.lines if ln.params is not None]

    @property
    def values(self):
        """The flat parameter arena in torch order, as Python floats (float32-exact)."""
        out = []
        for ln in self.lines:
            if ln.params is not None:
                for t in ln.params:
                    out.extend(t.reshape(-1).tolist())
        return out

    @property
    def chain(self):
        """The longest accumulation chain: per layer the number of rounded terms an output sums
        (conv K*C_in/G + 1, dense I + 1, batch_norm 2, average pools n + 2), added along the path."""
        return sum(ln.chain for ln in self.lines)

    @property
    def param_layers(self):
        return sum(1 for ln in self.lines if ln.params is not None)

    def declaration(self, name="Net", doc=None, loss="softmax_cross_entropy", header=(), vis="pub"):
        """The `edgetune::cnn! { ... }` text."""
        if loss not in LOSSES:
            raise ExportError(f"unknown loss {loss!r}")
        out = [f"// {h}" for h in header]
        out.append("edgetune::cnn! {")
        for d in (doc or f"Exported by scripts/export_model.py (mode `{self.mode}`).").split("\n"):
            out.append(f"    /// {d}".rstrip())
        out.append(f"    {vis + ' ' if vis else ''}struct {name} {{")
        out.append(f"        input [{', '.join(str(v) for v in self.input_shape)}];")
        for ln in self.lines:
            out.append(f"        {ln.render()}")
        out.append(f"        loss {loss};")
        out.append("    }")
        out.append("}")
        return "\n".join(out) + "\n"

    def write_etw(self, path, number_type="f32"):
        return write_checked(path, self.shapes, self.values, number_type)

    def reference(self, x, dtype=None, magnitude=False):
        """Run the exported layers on `x` ([N, *input_shape], channels-last) with torch
        functional ops in `dtype` (default float64), reading every parameter in edgetune's layout.
        Returns the logits [N, outputs].

        `magnitude=True` runs the absolute-value network instead: |x|, |W|, |b|, |scale|,
        |shift|, activations replaced by their magnitude bound (|relu(z)| <= |z|, sigmoid by
        max(|z|, 1)). Its output `a` bounds every intermediate sum, so an evaluation of the
        network in floating point with unit roundoff u is within gamma(chain, u) * a of the exact
        value (Higham, Accuracy and Stability, section 3.5, applied layer by layer: relu, relu6,
        max pooling and leaky relu with slope <= 1 are 1-Lipschitz and exact)."""
        import torch
        import torch.nn.functional as F

        dtype = dtype or torch.float64
        t = x.to(dtype)
        if self.dims == 1:
            t = t.unsqueeze(1)  # [N, 1, L, C]
        t = t.permute(0, 3, 1, 2)  # NCHW
        if magnitude:
            t = t.abs()
        cast = (lambda v: v.abs().to(dtype)) if magnitude else (lambda v: v.to(dtype))
        for ln in self.lines:
            sp = ln.spec
            if ln.kind == "conv":
                wt = ln.params[0] if self.dims == 2 else ln.params[0].unsqueeze(1)
                (pt, pb), (pl, pr) = sp["pads"]
                t = F.conv2d(
                    F.pad(t, (pl, pr, pt, pb)), cast(wt.permute(0, 3, 1, 2)), cast(ln.params[1]),
                    stride=sp["stride"], groups=sp["groups"],
                )
            elif ln.kind == "batch_norm":
                sc, sh = cast(ln.params[0]), cast(ln.params[1])
                shape = (1, -1) if t.dim() == 2 else (1, -1, 1, 1)
                t = t * sc.view(shape) + sh.view(shape)
            elif ln.kind in ("max_pool", "avg_pool"):
                (pt, pb), (pl, pr) = sp["pads"]
                if ln.kind == "max_pool":
                    t = F.max_pool2d(F.pad(t, (pl, pr, pt, pb), value=0.0 if magnitude else -math.inf), sp["kernel"], sp["stride"])
                else:
                    t = F.avg_pool2d(F.pad(t, (pl, pr, pt, pb)), sp["kernel"], sp["stride"])
            elif ln.kind == "global_avg_pool":
                t = t.mean(dim=(2, 3), keepdim=True)
            elif ln.kind == "flatten":
                t = t.permute(0, 2, 3, 1).reshape(t.shape[0], -1)  # channels-last order
            elif ln.kind == "dense":
                t = F.linear(t, cast(ln.params[0]), cast(ln.params[1]))
            if ln.activation:
                name, slope = ln.activation
                if magnitude:
                    if name == "leaky_relu" and slope > 1:
                        t = t * slope
                    elif name == "sigmoid":
                        t = t.clamp(min=1.0)
                else:
                    t = {
                        "relu": F.relu,
                        "relu6": F.relu6,
                        "tanh": torch.tanh,
                        "sigmoid": torch.sigmoid,
                        "leaky_relu": lambda v: F.leaky_relu(v, slope),
                    }[name](t)
        return t.reshape(t.shape[0], -1)

    def bound(self, x, u=U32, extra=0):
        """gamma(chain + extra, u) * (the magnitude network's output) per logit."""
        return gamma(self.chain + extra, u) * self.reference(x, magnitude=True)


def torch_input(x, dims):
    """Channels-last [N, *input_shape] -> torch's [N, C, L] or [N, C, H, W]."""
    return x.permute(0, 2, 1) if dims == 1 else x.permute(0, 3, 1, 2)


def verify(model, exp, samples=8, seed=VERIFY_SEED):
    """The exported layers (float64, float32-rounded parameters) against the torch model in
    float64; returns (max |difference|, max bound) or raises if any logit is out of its bound.

    The bound is gamma(chain + layers) * magnitude: torch's float64 rounding is negligible beside
    it, and the only float32 rounding is each folded or batch-norm parameter's (one per value, at
    most one per layer on any path)."""
    import copy

    import torch

    g = torch.Generator().manual_seed(seed)
    x = torch.randn((samples,) + tuple(exp.input_shape), generator=g, dtype=torch.float64)
    x = x.to(torch.float32).to(torch.float64)
    m64 = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        want = m64(torch_input(x, exp.dims)).reshape(samples, -1)
        got = exp.reference(x)
        bound = exp.bound(x, extra=exp.param_layers)
    if want.shape != got.shape:
        raise ExportError(f"self-check: torch gives {tuple(want.shape)} outputs, the export {tuple(got.shape)}")
    diff = (want - got).abs()
    if not bool((diff <= bound).all()):
        k = int(torch.argmax(diff - bound))
        raise ExportError(
            f"self-check failed: the exported layers differ from torch by {diff.reshape(-1)[k].item():.3g} "
            f"(bound {bound.reshape(-1)[k].item():.3g})"
        )
    return diff.max().item(), bound.max().item()


def _load_builder(spec):
    mod_name, sep, fn_name = spec.rpartition(":")
    if not sep or not mod_name or not fn_name:
        raise ExportError(f"--build {spec!r}: expected MODULE:FUNCTION or path/to/file.py:FUNCTION")
    if mod_name.endswith(".py") or os.sep in mod_name:
        path = os.path.abspath(mod_name)
        module_spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
        if module_spec is None or module_spec.loader is None:
            raise ExportError(f"--build: cannot load {path}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_spec.name] = module
        module_spec.loader.exec_module(module)
    else:
        sys.path.insert(0, os.getcwd())
        module = importlib.import_module(mod_name)
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise ExportError(f"--build: {mod_name} has no function {fn_name!r}")
    return fn


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--build", metavar="MODULE:FUNCTION", help="function returning the nn.Sequential")
    src.add_argument("--pickled-model", metavar="MODEL.pt", help="torch.save(model) file (unpickling runs its code)")
    ap.add_argument("--state-dict", metavar="MODEL.pt", help="with --build: weights to load (weights_only=True)")
    ap.add_argument("--input", metavar="L,C|H,W,C", help="input shape, channels-last")
    ap.add_argument("--mode", choices=MODES, default="full")
    ap.add_argument("--name", default="Net", help="Rust struct name (default %(default)s)")
    ap.add_argument("--loss", choices=LOSSES, default="softmax_cross_entropy")
    ap.add_argument("--out", metavar="NAME.etw", help="write the weight file here")
    ap.add_argument("--rust", metavar="NAME.rs", help="write the cnn! declaration here")
    ap.add_argument("--number-type", choices=sorted(NUMBER_TYPES), default="f32")
    ap.add_argument("--check", metavar="NAME.etw", help="only decode and validate a weight file (no torch)")
    args = ap.parse_args()

    if args.check:
        check(args.check)
        return 0
    if not (args.build or args.pickled_model):
        ap.error("give --build MODULE:FUNCTION (with --state-dict) or --pickled-model")
    if args.state_dict and not args.build:
        ap.error("--state-dict goes with --build")
    if not args.input:
        ap.error("--input is required")
    if not (args.out or args.rust):
        ap.error("nothing to write: give --out and/or --rust")
    if not args.name.isidentifier() or not args.name.isascii():
        ap.error(f"--name {args.name!r} is not a Rust identifier")
    try:
        input_shape = tuple(int(v) for v in args.input.split(","))
    except ValueError:
        ap.error(f"--input {args.input!r}: comma-separated integers")

    import torch

    if args.build:
        model = _load_builder(args.build)()
        if args.state_dict:
            from export_weights import load_state_dict

            model.load_state_dict(load_state_dict(args.state_dict), strict=True)
        source = args.build + (f" with {os.path.basename(args.state_dict)}" if args.state_dict else "")
    else:
        model = torch.load(args.pickled_model, map_location="cpu", weights_only=False)
        source = os.path.basename(args.pickled_model)

    exp = convert(model, input_shape, args.mode)
    diff, bound = verify(model, exp)
    print(f"self-check: exported layers vs torch float64: max |d| {diff:.3g} (bound {bound:.3g})")
    command = "python3 scripts/export_model.py " + " ".join(a if " " not in a else repr(a) for a in sys.argv[1:])
    if args.out:
        exp.write_etw(args.out, args.number_type)
    if args.rust:
        text = exp.declaration(
            args.name,
            loss=args.loss,
            header=(f"@generated by scripts/export_model.py from {source}; do not edit.", f"Regenerate: {command}"),
        )
        with open(args.rust, "w") as f:
            f.write(text)
        print(f"{args.rust}: {len(exp.lines)} layer lines, {len(exp.values)} parameters, mode {args.mode}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
