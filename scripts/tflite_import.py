#!/usr/bin/env python3
"""Import a full-integer (int8) TFLite model into an edgetune declaration: a Rust file with the
frozen int8 backbone as `const`s (flash) and the trainable head as a `cnn!` network with its
initial parameters.

    python3 scripts/tflite_import.py MODEL.tflite --name Kws --split K [--out FILE.rs]
                                     [--no-network-alias] [--no-rustfmt]

Operators `0..K` become `pub const BACKBONE: Backbone<'static>` (`edgetune::nn::int8`), operators
`K..` the head `NAME` (a `cnn!` of `dense` lines, `loss softmax_cross_entropy;`) and its initial
parameters `pub const HEAD_INIT: [f32; N]` in torch order (each dense layer's `[out][in]` weights
row by row, then its bias), for `net.import(&HEAD_INIT)`.

Backbone operators (TFLite's int8 scheme, see `src/nn/int8/mod.rs`): CONV_2D (stride, SAME/VALID,
dilation, groups; a 1-D conv is height 1), DEPTHWISE_CONV_2D (depth multiplier, dilation),
FULLY_CONNECTED (weights per tensor or per channel), AVERAGE_POOL_2D, MAX_POOL_2D, RESHAPE (a
no-op: NHWC is flat), and QUANTIZE (float to int8) as the first operator (the graph's input
edge). Fused activations NONE, RELU, RELU6, RELU_N1_TO_1. The requantisation multipliers and
shifts are computed here exactly as edgetune's `Requantizer::from_scales` (TFLite's
`QuantizeMultiplier` of `input_scale · filter_scale[c] / output_scale` in f64 from the f32
scales), and the clamps as `activation_range`.

Head operators (a `cnn!` line each): FULLY_CONNECTED (`dense`), CONV_2D and DEPTHWISE_CONV_2D
(`conv2d`, stride, SAME/VALID, groups; no dilation), MAX_POOL_2D (`max_pool2d`), AVERAGE_POOL_2D
without padding (`avg_pool2d`: `cnn!` counts padding in an average, TFLite does not) and RESHAPE
(`flatten`), with a fused NONE, RELU or RELU6. Their parameters are int8 dequantised (weights
`scale[c] · q` and biases `bias_scale[c] · b`, in f64 then rounded to f32) or float32 (copied). A
DEQUANTIZE (int8 to float, before float layers or as the graph's output edge) and a final SOFTMAX
(the loss's softmax) are accepted. The head must end with a FULLY_CONNECTED.

Anything else is refused, before anything is written, with a non-zero exit and a message naming
the operator (index and name) and the tensor: another operator, a graph that is not a chain, a
non-int8 activation in the backbone, asymmetric weights (a non-zero weight zero point), a
quantisation the kernels cannot honour (per-channel activations, weight scales neither per tensor
nor per output channel, a quantised dimension other than the output channel, a pool or reshape
that changes the quantisation, an effective multiplier of 2^31 or more), a batch other than 1, a
shape the declaration cannot express (or that disagrees with the tensor's), and a split that is
out of range or does not start the head at a head operator.

Only the `tflite` flatbuffer parser and numpy are needed (no TensorFlow): versions in
`scripts/requirements-import.txt`. The output is formatted with `rustfmt --edition 2021` (on the
PATH) unless `--no-rustfmt`.
"""

import argparse
import hashlib
import math
import os
import shutil
import subprocess
import sys

import numpy as np

try:
    import tflite
except ImportError:  # the PyTorch route (torch_int8.py) uses the writer only
    tflite = None

SCRIPT = "scripts/tflite_import.py"

BACKBONE_OPS = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "AVERAGE_POOL_2D",
    "MAX_POOL_2D",
    "RESHAPE",
    "QUANTIZE (first operator only)",
)
HEAD_OPS = (
    "FULLY_CONNECTED",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "MAX_POOL_2D",
    "AVERAGE_POOL_2D (no padding)",
    "RESHAPE",
    "DEQUANTIZE",
    "SOFTMAX (last operator only)",
)
HEAD_STARTS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D", "DEQUANTIZE")

ACT = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
PAD = {0: "SAME", 1: "VALID"}
if tflite is not None:
    TYPE_NAMES = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
    OP_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    NP_TYPES = {
        tflite.TensorType.INT8: np.int8,
        tflite.TensorType.INT32: np.int32,
        tflite.TensorType.FLOAT32: np.float32,
        tflite.TensorType.UINT8: np.uint8,
        tflite.TensorType.INT16: np.int16,
        tflite.TensorType.INT64: np.int64,
    }


class ImportFailure(Exception):
    """A model the importer refuses: the message names the operator and the tensor."""


# ---------------------------------------------------------------------------------------------
# Arithmetic that must equal edgetune's bit for bit.


def round_half_away(x):
    """`libm::round` / `roundf`: to nearest, ties away from zero."""
    r = math.floor(abs(x) + 0.5)
    return -r if x < 0 else r


def quantize_multiplier(m):
    """`edgetune::nn::int8::quantize_multiplier` (TFLite's `QuantizeMultiplier`): `(q, shift)`
    with `m ≈ q · 2^(shift − 31)`; `None` where edgetune refuses it (shift > 31)."""
    if not math.isfinite(m) or m < 0:
        return None
    if m == 0.0:
        return (0, 0)
    q, shift = math.frexp(m)
    q_fixed = int(round_half_away(q * float(1 << 31)))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return (0, 0)
    if shift > 31:
        return None
    return (q_fixed, shift)


def effective_multiplier(input_scale, filter_scale, output_scale):
    """`input_scale · filter_scale / output_scale` in f64 from f32 scales, as
    `Requantizer::from_scales` (and TFLite) computes it."""
    return float(np.float32(input_scale)) * float(np.float32(filter_scale)) / float(np.float32(output_scale))


def quantize_f32(f, scale, zero_point):
    """TFLite's `Quantize(scale, zero_point, f)` unclamped: the division in f32."""
    t = np.float32(f) / np.float32(scale)
    return zero_point + int(round_half_away(float(t)))


def activation_range(act, scale, zero_point):
    """`edgetune::nn::int8::activation_range` (TFLite's `CalculateActivationRangeQuantized`)."""
    q = lambda f: quantize_f32(f, scale, zero_point)  # noqa: E731
    if act == "NONE":
        lo, hi = -128, 127
    elif act == "RELU":
        lo, hi = max(q(0.0), -128), 127
    elif act == "RELU6":
        lo, hi = max(q(0.0), -128), min(q(6.0), 127)
    elif act == "RELU_N1_TO_1":
        lo, hi = max(q(-1.0), -128), min(q(1.0), 127)
    else:
        return None
    if lo > hi or hi < -128 or lo > 127:
        return None
    return (lo, hi)


def same_padding(length, k, stride):
    """`Padding::same`: TF's SAME, the odd element after."""
    out = -(-length // stride)
    total = max((out - 1) * stride + k - length, 0)
    return (total // 2, total - total // 2)


# ---------------------------------------------------------------------------------------------
# The intermediate form: what the Rust writer needs, whichever route (TFLite or PyTorch) made it.


class Quant:
    def __init__(self, scale, zero_point):
        self.scale = float(np.float32(scale))
        self.zero_point = int(zero_point)


class Layer:
    """One backbone layer: `kind` is conv / depthwise / dense / avg_pool / max_pool."""

    def __init__(self, kind, source, **kw):
        self.kind = kind
        self.source = source  # a one-line description for the generated comment
        self.__dict__.update(kw)


class HeadLayer:
    """One line of the head's `cnn!` declaration with its parameters in torch order (`params`:
    weight rows then bias, or nothing), `inputs`/`outputs` elements."""

    def __init__(self, source, line, inputs, outputs, weight=None, bias=None, what=""):
        self.source, self.line, self.what = source, line, what
        self.inputs, self.outputs = inputs, outputs
        self.weight = None if weight is None else np.asarray(weight, dtype=np.float32)
        self.bias = None if bias is None else np.asarray(bias, dtype=np.float32).reshape(-1)

    def param_count(self):
        return 0 if self.weight is None else self.weight.size + self.bias.size


class HeadDense(HeadLayer):
    def __init__(self, source, inputs, outputs, act, weight, bias):
        super().__init__(
            source,
            f"dense({inputs}, {outputs}){head_act(act)}",
            inputs,
            outputs,
            np.asarray(weight, dtype=np.float32).reshape(outputs, inputs),
            bias,
            f"weights [{outputs}][{inputs}]",
        )
        self.act = act


class Imported:
    def __init__(self):
        self.input = None  # Quant
        self.input_shape = None  # (h, w, c) or (n,)
        self.layers = []
        self.output = None  # Quant
        self.output_len = None
        self.head = []  # HeadDense
        self.head_source = []  # descriptions of accepted no-op head operators


# ---------------------------------------------------------------------------------------------
# Reading a .tflite


class TfliteModel:
    def __init__(self, path):
        if tflite is None:
            raise ImportFailure("the tflite package is missing: pip install -r scripts/requirements-import.txt")
        self.path = path
        with open(path, "rb") as f:
            self.blob = f.read()
        if len(self.blob) < 8 or self.blob[4:8] != b"TFL3":
            raise ImportFailure(
                f"{path}: not a TFLite flatbuffer (no 'TFL3' file identifier at bytes 4..8; "
                f"{len(self.blob)} bytes)"
            )
        try:
            self.fb = tflite.Model.GetRootAsModel(self.blob, 0)
            if self.fb.SubgraphsLength() != 1:
                raise ImportFailure(
                    f"{path}: {self.fb.SubgraphsLength()} subgraphs; only a single-subgraph model "
                    "(no control flow) can be imported"
                )
            self.sub = self.fb.Subgraphs(0)
            self.ops = []
            for i in range(self.sub.OperatorsLength()):
                op = self.sub.Operators(i)
                code = self.fb.OperatorCodes(op.OpcodeIndex())
                builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
                name = OP_NAMES.get(builtin, f"builtin code {builtin}")
                if builtin == tflite.BuiltinOperator.CUSTOM:
                    name = f"CUSTOM ({code.CustomCode().decode(errors='replace')})"
                self.ops.append(
                    {
                        "index": i,
                        "name": name,
                        "op": op,
                        "inputs": [int(v) for v in op.InputsAsNumpy()] if op.InputsLength() else [],
                        "outputs": [int(v) for v in op.OutputsAsNumpy()] if op.OutputsLength() else [],
                    }
                )
            self.tensors = [self.read_tensor(t) for t in range(self.sub.TensorsLength())]
            self.graph_inputs = [int(v) for v in self.sub.InputsAsNumpy()]
            self.graph_outputs = [int(v) for v in self.sub.OutputsAsNumpy()]
        except ImportFailure:
            raise
        except Exception as e:  # the flatbuffer runtime raises anything on a corrupt buffer
            raise ImportFailure(f"{path}: corrupt or truncated TFLite flatbuffer ({type(e).__name__}: {e})")

    def read_tensor(self, i):
        t = self.sub.Tensors(i)
        name = t.Name().decode(errors="replace")
        rec = {
            "index": i,
            "name": name,
            "type": t.Type(),
            "shape": [int(v) for v in t.ShapeAsNumpy()] if t.ShapeLength() else [],
            "scales": [],
            "zero_points": [],
            "qdim": 0,
            "data": None,
        }
        q = t.Quantization()
        if q is not None:
            if q.ScaleLength():
                rec["scales"] = [float(v) for v in q.ScaleAsNumpy()]
            if q.ZeroPointLength():
                rec["zero_points"] = [int(v) for v in q.ZeroPointAsNumpy()]
            rec["qdim"] = int(q.QuantizedDimension())
        buf = self.fb.Buffers(t.Buffer())
        raw = None
        if buf is not None:
            if buf.DataLength() > 0:
                raw = buf.DataAsNumpy().tobytes()
            elif buf.Offset() > 1:
                start, size = int(buf.Offset()), int(buf.Size())
                if start + size > len(self.blob):
                    raise ImportFailure(f"tensor '{name}': its data lies beyond the end of the file (truncated)")
                raw = self.blob[start : start + size]
        if raw is not None:
            dtype = NP_TYPES.get(rec["type"])
            if dtype is not None:
                n = int(np.prod(rec["shape"])) if rec["shape"] else 1
                if len(raw) != n * np.dtype(dtype).itemsize:
                    raise ImportFailure(
                        f"tensor '{name}': {len(raw)} data bytes for shape {rec['shape']} "
                        f"of {TYPE_NAMES.get(rec['type'])} (corrupt)"
                    )
                rec["data"] = np.frombuffer(raw, dtype=dtype).copy()
            else:
                rec["data"] = raw
        return rec


def options(op, name):
    table = op["op"].BuiltinOptions()
    if table is None:
        return {}
    if name == "CONV_2D":
        o = tflite.Conv2DOptions()
        o.Init(table.Bytes, table.Pos)
        return {
            "padding": PAD.get(o.Padding()),
            "stride": (o.StrideH(), o.StrideW()),
            "dilation": (o.DilationHFactor(), o.DilationWFactor()),
            "act": ACT.get(o.FusedActivationFunction(), str(o.FusedActivationFunction())),
        }
    if name == "DEPTHWISE_CONV_2D":
        o = tflite.DepthwiseConv2DOptions()
        o.Init(table.Bytes, table.Pos)
        return {
            "padding": PAD.get(o.Padding()),
            "stride": (o.StrideH(), o.StrideW()),
            "dilation": (o.DilationHFactor(), o.DilationWFactor()),
            "depth_multiplier": o.DepthMultiplier(),
            "act": ACT.get(o.FusedActivationFunction(), str(o.FusedActivationFunction())),
        }
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        o = tflite.Pool2DOptions()
        o.Init(table.Bytes, table.Pos)
        return {
            "padding": PAD.get(o.Padding()),
            "stride": (o.StrideH(), o.StrideW()),
            "filter": (o.FilterHeight(), o.FilterWidth()),
            "act": ACT.get(o.FusedActivationFunction(), str(o.FusedActivationFunction())),
        }
    if name == "FULLY_CONNECTED":
        o = tflite.FullyConnectedOptions()
        o.Init(table.Bytes, table.Pos)
        return {
            "act": ACT.get(o.FusedActivationFunction(), str(o.FusedActivationFunction())),
            "keep_num_dims": bool(o.KeepNumDims()),
            "weights_format": o.WeightsFormat(),
        }
    return {}


class Ctx:
    """Error reporting for one operator."""

    def __init__(self, m, op):
        self.m, self.op = m, op

    def fail(self, tensor, msg):
        where = f"operator {self.op['index']} ({self.op['name']})"
        if tensor is not None:
            where += f", tensor {tensor['index']} '{tensor['name']}'"
        raise ImportFailure(f"{where}: {msg}")

    def tensor(self, k, what):
        ids = self.op["inputs"]
        if k >= len(ids) or ids[k] < 0:
            self.fail(None, f"has no {what} (input {k})")
        if ids[k] >= len(self.m.tensors):
            self.fail(None, f"input {k} names tensor {ids[k]}, which does not exist (corrupt)")
        return self.m.tensors[ids[k]]

    def optional(self, k):
        ids = self.op["inputs"]
        if k >= len(ids) or ids[k] < 0:
            return None
        return self.m.tensors[ids[k]]

    def output(self):
        outs = self.op["outputs"]
        if len(outs) != 1:
            self.fail(None, f"has {len(outs)} outputs; one was expected")
        return self.m.tensors[outs[0]]

    def act_quant(self, t, role):
        """The per-tensor int8 quantisation of an activation tensor."""
        if t["type"] != tflite.TensorType.INT8:
            self.fail(
                t,
                f"the {role} is {TYPE_NAMES.get(t['type'], t['type'])}; the backbone needs int8 activations "
                "(full-integer quantisation)",
            )
        if len(t["scales"]) != 1 or len(t["zero_points"]) != 1:
            self.fail(
                t,
                f"the {role} has {len(t['scales'])} scales and {len(t['zero_points'])} zero points; "
                "an activation needs one of each (per tensor)",
            )
        s, z = t["scales"][0], t["zero_points"][0]
        if not (math.isfinite(s) and s > 0):
            self.fail(t, f"the {role}'s scale {s} is not finite and positive")
        if not -128 <= z <= 127:
            self.fail(t, f"the {role}'s zero point {z} is outside -128..=127")
        return Quant(s, z)

    def batch_one(self, t, role, rank=4):
        if len(t["shape"]) != rank:
            self.fail(t, f"the {role} has shape {t['shape']}; rank {rank} ([1, H, W, C]) was expected")
        if t["shape"][0] != 1:
            self.fail(t, f"the {role} has batch {t['shape'][0]} (shape {t['shape']}); only batch 1 is supported")

    def act(self, o):
        a = o.get("act", "NONE")
        if a not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
            self.fail(None, f"fused activation {a} is not supported (NONE, RELU, RELU6, RELU_N1_TO_1 are)")
        return a

    def padding(self, o):
        if o["padding"] not in ("SAME", "VALID"):
            self.fail(None, f"padding {o['padding']} is not SAME or VALID")
        return o["padding"]

    def weights(self, f, channel_dim, channels):
        """Checks an int8 weight tensor; returns its scales (1, or one per output channel)."""
        if f["data"] is None:
            self.fail(f, "the weights are not a constant (a run-time filter cannot be frozen in flash)")
        if f["type"] != tflite.TensorType.INT8:
            self.fail(f, f"the weights are {TYPE_NAMES.get(f['type'], f['type'])}; int8 weights were expected")
        scales, zps = f["scales"], f["zero_points"]
        if not scales:
            self.fail(f, "the weights have no quantisation scale")
        if any(z != 0 for z in zps):
            self.fail(
                f,
                f"asymmetric weights (zero points {sorted(set(zps))[:4]}): the int8 kernels need symmetric "
                "weights (zero point 0)",
            )
        n = len(scales)
        if n != 1:
            if f["qdim"] != channel_dim:
                self.fail(
                    f,
                    f"per-channel weights quantised along dimension {f['qdim']}; the kernel needs the output "
                    f"channel, dimension {channel_dim}",
                )
            if n != channels:
                self.fail(
                    f,
                    f"{n} weight scales for {channels} output channels; per tensor (1) or per output channel "
                    f"({channels}) is needed",
                )
        for s in scales:
            if not (math.isfinite(s) and s > 0):
                self.fail(f, f"weight scale {s} is not finite and positive")
        return scales

    def bias(self, channels):
        b = self.optional(2)
        if b is None:
            return None
        if b["data"] is None:
            self.fail(b, "the bias is not a constant")
        if b["type"] != tflite.TensorType.INT32:
            self.fail(
                b,
                f"the bias is {TYPE_NAMES.get(b['type'], b['type'])}; the int8 kernels take an int32 bias "
                "(int64 is the 16x8 scheme)",
            )
        if b["data"].size != channels:
            self.fail(b, f"{b['data'].size} bias values for {channels} output channels")
        if any(z != 0 for z in b["zero_points"]):
            self.fail(b, "the bias has a non-zero zero point")
        return b["data"].astype(np.int64)

    def requant(self, inq, scales, outq, f):
        mult, shift = [], []
        for s in scales:
            r = quantize_multiplier(effective_multiplier(inq.scale, s, outq.scale))
            if r is None:
                self.fail(
                    f,
                    f"effective multiplier input_scale·filter_scale/output_scale = "
                    f"{effective_multiplier(inq.scale, s, outq.scale):.6g} is 2^31 or more",
                )
            mult.append(r[0])
            shift.append(r[1])
        return mult, shift


def desc(op, *tensors):
    names = ", ".join(f"`{t['name']}`" for t in tensors if t is not None)
    return f"operator {op['index']}: {op['name']}" + (f" ({names})" if names else "")


def backbone_layer(m, op, prev_q):
    """One backbone operator as a `Layer` (None for RESHAPE) and the quantisation it outputs."""
    c = Ctx(m, op)
    name = op["name"]
    o = options(op, name)
    x = c.tensor(0, "input")
    y = c.output()
    inq = c.act_quant(x, "input")
    outq = c.act_quant(y, "output")
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        depthwise = name == "DEPTHWISE_CONV_2D"
        f = c.tensor(1, "filter")
        c.batch_one(x, "input")
        c.batch_one(y, "output")
        if len(f["shape"]) != 4:
            c.fail(f, f"the filter has shape {f['shape']}; rank 4 was expected")
        _, in_h, in_w, in_c = x["shape"]
        if depthwise:
            if f["shape"][0] != 1:
                c.fail(f, f"a depthwise filter must be [1, KH, KW, C·M], not {f['shape']}")
            _, kh, kw, out_c = f["shape"]
            if out_c % in_c:
                c.fail(f, f"{out_c} output channels is not a multiple of the {in_c} input channels")
            mult = out_c // in_c
            if o["depth_multiplier"] not in (0, mult):
                c.fail(f, f"depth_multiplier {o['depth_multiplier']} disagrees with the filter ({mult})")
            groups = in_c
        else:
            out_c, kh, kw, fc = f["shape"]
            if fc <= 0 or in_c % fc:
                c.fail(f, f"filter input channels {fc} do not divide the input's {in_c} (groups)")
            groups = in_c // fc
            if out_c % groups:
                c.fail(f, f"{out_c} output channels are not divisible by {groups} groups")
        padding = c.padding(o)
        (sh, sw), (dh, dw) = o["stride"], o["dilation"]
        if min(sh, sw, dh, dw, kh, kw) < 1:
            c.fail(f, f"stride {o['stride']}, dilation {o['dilation']} or kernel {kh}x{kw} is zero")
        span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
        if padding == "SAME":
            ph, pw = same_padding(in_h, span_h, sh), same_padding(in_w, span_w, sw)
        else:
            ph, pw = (0, 0), (0, 0)
        oh_num, ow_num = in_h + sum(ph) - span_h, in_w + sum(pw) - span_w
        if oh_num < 0 or ow_num < 0:
            c.fail(x, f"the input {in_h}x{in_w} is smaller than the (dilated) kernel {span_h}x{span_w}")
        oh, ow = oh_num // sh + 1, ow_num // sw + 1
        if y["shape"] != [1, oh, ow, out_c]:
            c.fail(y, f"the output shape is {y['shape']}; the declared geometry gives [1, {oh}, {ow}, {out_c}]")
        scales = c.weights(f, 3 if depthwise else 0, out_c)
        mult_, shift = c.requant(inq, scales, outq, f)
        act = activation_range(c.act(o), outq.scale, outq.zero_point)
        if act is None:
            c.fail(y, f"the fused {o['act']} clamp is empty for this output's scale and zero point")
        layer = Layer(
            "depthwise" if depthwise else "conv",
            desc(op, f),
            conv=(in_h, in_w, in_c, out_c, kh, kw),
            stride=(sh, sw),
            dilation=(dh, dw),
            groups=groups,
            same=padding == "SAME",
            pads=(ph, pw),
            filter=f["data"].astype(np.int64),
            bias=c.bias(out_c),
            multiplier=mult_,
            shift=shift,
            input_zp=inq.zero_point,
            output_zp=outq.zero_point,
            act=act,
            weight_scales=len(scales),
            act_name=o["act"],
        )
        return layer, outq
    if name == "FULLY_CONNECTED":
        f = c.tensor(1, "weights")
        if len(f["shape"]) != 2:
            c.fail(f, f"the weights have shape {f['shape']}; [outputs, inputs] was expected")
        outputs, inputs = f["shape"]
        if o["weights_format"] != 0:
            c.fail(f, f"weights_format {o['weights_format']} (shuffled); only DEFAULT is supported")
        n_in = int(np.prod(x["shape"]))
        if n_in != inputs:
            c.fail(x, f"the input has {n_in} elements (shape {x['shape']}) for {inputs} inputs: batch {n_in / inputs:g}, only batch 1 is supported")
        if int(np.prod(y["shape"])) != outputs:
            c.fail(y, f"the output shape {y['shape']} does not hold {outputs} outputs (batch 1)")
        scales = c.weights(f, 0, outputs)
        mult_, shift = c.requant(inq, scales, outq, f)
        act = activation_range(c.act(o), outq.scale, outq.zero_point)
        if act is None:
            c.fail(y, f"the fused {o['act']} clamp is empty for this output's scale and zero point")
        layer = Layer(
            "dense",
            desc(op, f),
            inputs=inputs,
            outputs=outputs,
            filter=f["data"].astype(np.int64),
            bias=c.bias(outputs),
            multiplier=mult_,
            shift=shift,
            input_zp=inq.zero_point,
            output_zp=outq.zero_point,
            act=act,
            weight_scales=len(scales),
            act_name=o["act"],
        )
        return layer, outq
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        c.batch_one(x, "input")
        c.batch_one(y, "output")
        _, in_h, in_w, ch = x["shape"]
        padding = c.padding(o)
        (sh, sw), (kh, kw) = o["stride"], o["filter"]
        if min(sh, sw, kh, kw) < 1:
            c.fail(x, f"stride {o['stride']} or window {o['filter']} is zero")
        if (inq.scale, inq.zero_point) != (outq.scale, outq.zero_point):
            c.fail(
                y,
                f"the output's quantisation ({outq.scale:g}, {outq.zero_point}) differs from the input's "
                f"({inq.scale:g}, {inq.zero_point}); a pool keeps it",
            )
        if padding == "SAME":
            ph, pw = same_padding(in_h, kh, sh), same_padding(in_w, kw, sw)
        else:
            ph, pw = (0, 0), (0, 0)
        if max(ph) >= kh or max(pw) >= kw:
            c.fail(x, f"SAME padding {ph}, {pw} reaches a whole {kh}x{kw} window; the pool cannot declare it")
        if in_h + sum(ph) < kh or in_w + sum(pw) < kw:
            c.fail(x, f"the input {in_h}x{in_w} is smaller than the window {kh}x{kw}")
        oh, ow = (in_h + sum(ph) - kh) // sh + 1, (in_w + sum(pw) - kw) // sw + 1
        if y["shape"] != [1, oh, ow, ch]:
            c.fail(y, f"the output shape is {y['shape']}; the declared geometry gives [1, {oh}, {ow}, {ch}]")
        act = activation_range(c.act(o), outq.scale, outq.zero_point)
        if act is None:
            c.fail(y, f"the fused {o['act']} clamp is empty for this output's scale and zero point")
        layer = Layer(
            "avg_pool" if name == "AVERAGE_POOL_2D" else "max_pool",
            desc(op, x),
            pool=(in_h, in_w, ch, kh, kw),
            stride=(sh, sw),
            same=padding == "SAME",
            pads=(ph, pw),
            act=act,
            act_name=o["act"],
        )
        return layer, outq
    if name == "RESHAPE":
        if (inq.scale, inq.zero_point) != (outq.scale, outq.zero_point):
            c.fail(y, "the reshape changes the quantisation; it must be a no-op")
        if int(np.prod(x["shape"])) != int(np.prod(y["shape"])):
            c.fail(y, f"reshape {x['shape']} -> {y['shape']} changes the element count")
        if y["shape"] and y["shape"][0] != 1:
            c.fail(y, f"the output has batch {y['shape'][0]}; only batch 1 is supported")
        return None, outq
    c.fail(x, f"operator {name} is not supported in the int8 backbone (supported: {', '.join(BACKBONE_OPS)})")


def head_dense(m, op, float_input):
    c = Ctx(m, op)
    o = options(op, "FULLY_CONNECTED")
    x = c.tensor(0, "input")
    y = c.output()
    f = c.tensor(1, "weights")
    if f["data"] is None:
        c.fail(f, "the weights are not a constant")
    if len(f["shape"]) != 2:
        c.fail(f, f"the weights have shape {f['shape']}; [outputs, inputs] was expected")
    outputs, inputs = f["shape"]
    if o["weights_format"] != 0:
        c.fail(f, f"weights_format {o['weights_format']} (shuffled); only DEFAULT is supported")
    n_in = int(np.prod(x["shape"]))
    if n_in != inputs:
        c.fail(x, f"the input has {n_in} elements (shape {x['shape']}) for {inputs} inputs: only batch 1 is supported")
    act = o["act"]
    if act not in ("NONE", "RELU", "RELU6"):
        c.fail(None, f"fused activation {act} has no cnn! equivalent in the head (NONE, RELU, RELU6 do)")
    w, bias = head_weights(c, f, c.optional(2), 0, outputs, float_input, x)
    return HeadDense(desc(op, f), inputs, outputs, act, w, bias)


def head_weights(c, f, b, channel_dim, channels, float_input, x):
    """A head layer's float parameters: int8 dequantised (`scale[c] · q`, `bias_scale[c] · b` in
    f64, rounded to f32) or float32 copied; the weights keep the tensor's shape."""
    if f["data"] is None:
        c.fail(f, "the weights are not a constant")
    if f["type"] == tflite.TensorType.FLOAT32:
        w = f["data"].astype(np.float32).reshape(f["shape"])
        if b is not None:
            if b["type"] != tflite.TensorType.FLOAT32 or b["data"] is None:
                c.fail(b, "a float layer's bias must be a float32 constant")
            bias = b["data"].astype(np.float32)
        else:
            bias = np.zeros(channels, np.float32)
    elif f["type"] == tflite.TensorType.INT8:
        if float_input:
            c.fail(f, "int8 weights after a DEQUANTIZE (hybrid quantisation) are not supported")
        inq = c.act_quant(x, "input")
        scales = c.weights(f, channel_dim, channels)
        s = np.array([float(np.float32(v)) for v in scales], dtype=np.float64)
        shape = [1] * len(f["shape"])
        shape[channel_dim] = -1
        w = (f["data"].astype(np.float64).reshape(f["shape"]) * s.reshape(shape)).astype(np.float32)
        if b is not None:
            bq = c.bias(channels)
            if b["scales"]:
                bs = np.array([float(np.float32(v)) for v in b["scales"]], dtype=np.float64)
                if bs.size not in (1, channels):
                    c.fail(b, f"{bs.size} bias scales for {channels} outputs")
            else:  # the scale TFLite implies: input scale · weight scale
                bs = inq.scale * s
            bias = (bq.astype(np.float64) * bs).astype(np.float32)
        else:
            bias = np.zeros(channels, np.float32)
    else:
        c.fail(f, f"the weights are {TYPE_NAMES.get(f['type'], f['type'])}; int8 or float32 was expected")
    if bias.size != channels:
        c.fail(b, f"{bias.size} bias values for {channels} outputs")
    return w, bias


def head_map_layer(m, op, float_input):
    """A CONV_2D, DEPTHWISE_CONV_2D, MAX_POOL_2D or AVERAGE_POOL_2D of the head as a `cnn!` line."""
    c = Ctx(m, op)
    name = op["name"]
    o = options(op, name)
    x = c.tensor(0, "input")
    y = c.output()
    c.batch_one(x, "input")
    c.batch_one(y, "output")
    _, in_h, in_w, in_c = x["shape"]
    act = o["act"]
    if act not in ("NONE", "RELU", "RELU6"):
        c.fail(None, f"fused activation {act} has no cnn! equivalent in the head (NONE, RELU, RELU6 do)")
    padding = c.padding(o)
    sh, sw = o["stride"]
    pad = "same" if padding == "SAME" else "valid"
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        depthwise = name == "DEPTHWISE_CONV_2D"
        f = c.tensor(1, "filter")
        if len(f["shape"]) != 4:
            c.fail(f, f"the filter has shape {f['shape']}; rank 4 was expected")
        if o["dilation"] != (1, 1):
            c.fail(f, f"dilation {o['dilation']}: a cnn! convolution has no dilation (put the layer in the backbone)")
        if depthwise:
            _, kh, kw, out_c = f["shape"]
            if f["shape"][0] != 1 or out_c % in_c:
                c.fail(f, f"a depthwise filter [1, KH, KW, C·M] was expected, not {f['shape']}")
            groups = in_c
        else:
            out_c, kh, kw, fc = f["shape"]
            if fc <= 0 or in_c % fc or out_c % (in_c // fc):
                c.fail(f, f"filter input channels {fc} do not divide the input's {in_c} (groups)")
            groups = in_c // fc
        w, bias = head_weights(c, f, c.optional(2), 3 if depthwise else 0, out_c, float_input, x)
        if depthwise:  # [1][kh][kw][C·M] -> torch order [C·M][kh][kw][1]
            w = w.reshape(kh, kw, out_c).transpose(2, 0, 1).reshape(out_c, kh, kw, 1)
        ph, pw = (same_padding(in_h, kh, sh), same_padding(in_w, kw, sw)) if pad == "same" else ((0, 0), (0, 0))
        oh, ow = (in_h + sum(ph) - kh) // sh + 1, (in_w + sum(pw) - kw) // sw + 1
        if y["shape"] != [1, oh, ow, out_c]:
            c.fail(y, f"the output shape is {y['shape']}; the declared geometry gives [1, {oh}, {ow}, {out_c}]")
        opts = f", stride = ({sh}, {sw})" if (sh, sw) != (1, 1) else ""
        opts += f", padding = {pad}" if pad == "same" else ""
        opts += f", groups = {groups}" if groups != 1 else ""
        line = f"conv2d({in_c}, {out_c}, ({kh}, {kw}){opts}){head_act(act)}"
        return HeadLayer(
            desc(op, f), line, in_h * in_w * in_c, oh * ow * out_c, w.reshape(out_c, -1), bias,
            f"weights [{out_c}][{kh}][{kw}][{in_c // groups}]",
        )
    kh, kw = o["filter"]
    if not float_input:
        inq, outq = c.act_quant(x, "input"), c.act_quant(y, "output")
        if (inq.scale, inq.zero_point) != (outq.scale, outq.zero_point):
            c.fail(y, "the output's quantisation differs from the input's; a pool keeps it")
    ph, pw = (same_padding(in_h, kh, sh), same_padding(in_w, kw, sw)) if pad == "same" else ((0, 0), (0, 0))
    if max(ph) >= kh or max(pw) >= kw:
        c.fail(x, f"SAME padding {ph}, {pw} reaches a whole {kh}x{kw} window; the pool cannot declare it")
    if name == "AVERAGE_POOL_2D" and any(ph + pw):
        c.fail(
            x,
            f"SAME padding {ph}, {pw}: TFLite averages the in-bounds inputs only, a cnn! avg_pool2d counts the "
            "padding (as torch); put the pool in the backbone",
        )
    if act != "NONE":
        c.fail(None, f"a fused {act} on a pool has no cnn! equivalent in the head")
    oh, ow = (in_h + sum(ph) - kh) // sh + 1, (in_w + sum(pw) - kw) // sw + 1
    if y["shape"] != [1, oh, ow, in_c]:
        c.fail(y, f"the output shape is {y['shape']}; the declared geometry gives [1, {oh}, {ow}, {in_c}]")
    kind = "max_pool2d" if name == "MAX_POOL_2D" else "avg_pool2d"
    opts = f", stride = ({sh}, {sw})" if (sh, sw) != (kh, kw) else ""
    opts += f", padding = {pad}" if pad == "same" else ""
    return HeadLayer(desc(op, x), f"{kind}(({kh}, {kw}){opts})", in_h * in_w * in_c, oh * ow * in_c)


def import_tflite(path, split):
    m = TfliteModel(path)
    ops = m.ops
    if not ops:
        raise ImportFailure(f"{path}: the model has no operators")
    # A chain: each operator reads the previous one's output.
    for op in ops:
        c = Ctx(m, op)
        if len(op["outputs"]) != 1:
            c.fail(None, f"has {len(op['outputs'])} outputs; only a chain (one output each) can be declared")
        for t in op["inputs"] + op["outputs"]:
            if t >= len(m.tensors):
                c.fail(None, f"refers to tensor {t}, which does not exist (corrupt)")
        if not op["inputs"] or op["inputs"][0] < 0:
            c.fail(None, "has no input")
        if op["index"] > 0:
            prev = ops[op["index"] - 1]["outputs"][0]
            if op["inputs"][0] != prev:
                c.fail(
                    m.tensors[op["inputs"][0]],
                    f"reads a tensor that is not operator {op['index'] - 1}'s output; only a chain can be declared",
                )
            for k, t in enumerate(op["inputs"][1:], 1):
                if t >= 0 and m.tensors[t]["data"] is None:
                    c.fail(m.tensors[t], f"input {k} is not a constant; only a chain can be declared")
    first = ops[0]
    if first["inputs"][0] not in m.graph_inputs:
        Ctx(m, first).fail(m.tensors[first["inputs"][0]], "the first operator does not read the graph's input")

    # The split.
    if not 1 <= split < len(ops):
        raise ImportFailure(
            f"--split {split} is out of range: operators 0..{split} become the backbone and {split}.. the head, "
            f"so it must be in 1..={len(ops) - 1} for this model's {len(ops)} operators"
        )
    head_first = ops[split]
    if head_first["name"] not in HEAD_STARTS:
        Ctx(m, head_first).fail(
            m.tensors[head_first["outputs"][0]],
            f"--split {split} starts the head at {head_first['name']}; the head must start at one of "
            f"{', '.join(HEAD_STARTS)}",
        )

    imp = Imported()
    start = 0
    if first["name"] == "QUANTIZE":
        c = Ctx(m, first)
        x = c.tensor(0, "input")
        if x["type"] != tflite.TensorType.FLOAT32:
            c.fail(x, f"a QUANTIZE from {TYPE_NAMES.get(x['type'])} (requantisation) is not supported; from float32 is")
        imp.input = c.act_quant(c.output(), "output")
        imp.input_shape = m.tensors[first["outputs"][0]]["shape"]
        start = 1
        if split == 1:
            raise ImportFailure(f"--split {split} leaves no backbone layer after the input QUANTIZE")
    else:
        c = Ctx(m, first)
        x = c.tensor(0, "input")
        imp.input = c.act_quant(x, "graph input")
        imp.input_shape = x["shape"]
    q = imp.input
    for op in ops[start:split]:
        layer, q = backbone_layer(m, op, q)
        if layer is not None:
            imp.layers.append(layer)
    if not imp.layers:
        raise ImportFailure(f"--split {split}: the backbone has no layer with a kernel (only reshapes)")
    boundary = m.tensors[ops[split - 1]["outputs"][0]]
    imp.output = q
    imp.output_len = int(np.prod(boundary["shape"]))
    imp.boundary_tensor = boundary

    # The head.
    float_input = False
    b = boundary["shape"]
    imp.head_input = [b[1], b[2], b[3]] if len(b) == 4 and b[0] == 1 else [1, 1, imp.output_len]
    for k, op in enumerate(ops[split:], split):
        c = Ctx(m, op)
        last = k == len(ops) - 1
        name = op["name"]
        if name == "FULLY_CONNECTED":
            imp.head.append(head_dense(m, op, float_input))
        elif name in ("CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D"):
            imp.head.append(head_map_layer(m, op, float_input))
        elif name == "DEQUANTIZE":
            x = c.tensor(0, "input")
            if x["type"] != tflite.TensorType.INT8:
                c.fail(x, f"dequantises {TYPE_NAMES.get(x['type'])}; int8 was expected")
            float_input = True
            imp.head_source.append(desc(op) + " (the float boundary)")
        elif name == "RESHAPE":
            x, y = c.tensor(0, "input"), c.output()
            if len(x["shape"]) == 4 and x["shape"][1] * x["shape"][2] > 1:
                n = int(np.prod(x["shape"]))
                imp.head.append(HeadLayer(desc(op), "flatten", n, n))
            else:
                imp.head_source.append(desc(op) + " (a flatten of a flat tensor: nothing to declare)")
        elif name == "SOFTMAX" and last:
            imp.head_source.append(desc(op) + " (the softmax of `loss softmax_cross_entropy`)")
        else:
            c.fail(
                m.tensors[op["inputs"][0]],
                f"operator {name} is not supported in the trainable head (supported: {', '.join(HEAD_OPS)})",
            )
    if not any(d.weight is not None for d in imp.head):
        raise ImportFailure(f"--split {split}: the head has no layer with parameters")
    if imp.head[-1].line.split("(")[0] != "dense":
        raise ImportFailure(f"--split {split}: the head must end with a FULLY_CONNECTED (its logits)")
    n = imp.output_len
    for d in imp.head:
        if d.inputs != n:
            raise ImportFailure(f"{d.source}: {d.inputs} inputs, but it receives {n} values")
        n = d.outputs
    return imp


# ---------------------------------------------------------------------------------------------
# Writing Rust


def f32_lit(v):
    v = np.float32(v)
    if not np.isfinite(v):
        raise ImportFailure(f"a parameter is {v}; only finite values can be written")
    a = abs(float(v))
    if a == 0 or 1e-4 <= a < 1e7:
        s = np.format_float_positional(v, unique=True, trim="0")
    else:
        s = np.format_float_scientific(v, unique=True, trim="0", exp_digits=1)
    return s


def wrapped(items, indent="    ", width=100):
    """`items` as comma-terminated lines of at most `width` characters."""
    lines, line = [], indent
    for it in items:
        piece = it + ","
        if line != indent and len(line) + 1 + len(piece) > width:
            lines.append(line + "\n")
            line = indent
        line += ("" if line == indent else " ") + piece
    if line != indent:
        lines.append(line + "\n")
    return lines


def ints(values):
    return ", ".join(str(int(v)) for v in values)


def array(name, ty, values, doc, public=True):
    vis = "pub " if public else ""
    return f"/// {doc}\n{vis}const {name}: [{ty}; {len(values)}] = [{ints(values)}];\n"


def quant_lit(q):
    return f"QuantParams {{ scale: {f32_lit(q.scale)}, zero_point: {q.zero_point} }}"


def padding_lit(p):
    before, after = p
    if before == after:
        return f"Padding::symmetric({before})"
    return f"Padding {{ before: {before}, after: {after} }}"


def explicit_pads(layer):
    """Padding written as numbers (the PyTorch route): not TF's SAME, and not none."""
    return not layer.same and any(v for p in layer.pads for v in p)


def conv_shape(layer):
    h, w, ic, oc, kh, kw = layer.conv
    s = f"Conv2dShape::new({h}, {w}, {ic}, {oc}, {kh}, {kw})"
    if layer.stride != (1, 1):
        s += f".stride({layer.stride[0]}, {layer.stride[1]})"
    if explicit_pads(layer):
        s += f".pad({padding_lit(layer.pads[0])}, {padding_lit(layer.pads[1])})"
    if layer.groups != 1:
        s += f".groups({layer.groups})"
    s = f"ConvShape::new({s})"
    if layer.dilation != (1, 1):
        s += f".dilation({layer.dilation[0]}, {layer.dilation[1]})"
    if layer.same:
        s += ".same()"
    return s


def pool_shape(layer):
    h, w, c, kh, kw = layer.pool
    s = f"Pool2dShape::new({h}, {w}, {c}, {kh}, {kw})"
    if layer.stride != (kh, kw):
        s += f".stride({layer.stride[0]}, {layer.stride[1]})"
    if explicit_pads(layer):
        s += f".pad({padding_lit(layer.pads[0])}, {padding_lit(layer.pads[1])})"
    if layer.same:
        s += ".same()"
    return s


def stage(k, layer):
    return (
        f"stage: OutputStage {{ input_zero_point: {layer.input_zp}, "
        f"requant: Requant::from_slices(&L{k}_MULTIPLIER, &L{k}_SHIFT), "
        f"output_zero_point: {layer.output_zp}, act_min: {layer.act[0]}, act_max: {layer.act[1]} }},"
    )


def head_act(a):
    return {"NONE": "", "RELU": ", relu", "RELU6": ", relu6"}[a]


def render(imp, name, header, network_alias):
    """The Rust source (unformatted; rustfmt formats it)."""
    kinds = {l.kind for l in imp.layers}
    uses = ["Backbone", "Int8Layer", "QuantParams"]
    if kinds & {"conv", "depthwise"}:
        uses += ["ConvShape", "Int8Conv"]
    if "dense" in kinds:
        uses += ["DenseShape", "Int8Dense"]
    if kinds & {"avg_pool", "max_pool"}:
        uses += ["Int8Pool"]
    if kinds & {"conv", "depthwise", "dense"}:
        uses += ["OutputStage", "Requant"]
    nn_uses = []
    if kinds & {"conv", "depthwise"}:
        nn_uses.append("Conv2dShape")
    if kinds & {"avg_pool", "max_pool"}:
        nn_uses.append("Pool2dShape")
    if any(explicit_pads(l) for l in imp.layers if l.kind != "dense"):
        nn_uses.append("Padding")

    out = []
    out.extend(f"// {line}".rstrip() + "\n" for line in header)
    out.append("\n")
    out.append(f"use edgetune::nn::int8::{{{', '.join(sorted(uses))}}};\n")
    if nn_uses:
        out.append(f"use edgetune::nn::{{{', '.join(nn_uses)}}};\n")
    out.append("\n")
    out.append(f"/// The backbone's input quantisation (`Backbone::run_real` quantises with it).\n")
    out.append(f"#[allow(clippy::approx_constant)]\npub const INPUT: QuantParams = {quant_lit(imp.input)};\n")
    out.append(f"/// The backbone's output quantisation (the head receives `scale · (q − zero_point)`).\n")
    out.append(f"#[allow(clippy::approx_constant)]\npub const OUTPUT: QuantParams = {quant_lit(imp.output)};\n\n")

    entries = []
    for k, layer in enumerate(imp.layers):
        if layer.kind in ("conv", "depthwise", "dense"):
            per = "per channel" if layer.weight_scales > 1 else "per tensor"
            out.append(f"// Layer {k}: {layer.source}, weights {per}, fused {layer.act_name}.\n")
            out.append(array(f"L{k}_FILTER", "i8", layer.filter, f"Layer {k}'s filter (TFLite layout)."))
            if layer.bias is not None:
                out.append(array(f"L{k}_BIAS", "i32", layer.bias, f"Layer {k}'s bias."))
            out.append(
                array(f"L{k}_MULTIPLIER", "i32", layer.multiplier, f"Layer {k}'s requantisation multipliers.")
            )
            out.append(array(f"L{k}_SHIFT", "i32", layer.shift, f"Layer {k}'s requantisation shifts."))
            out.append("\n")
            bias = f"Some(&L{k}_BIAS)" if layer.bias is not None else "None"
            if layer.kind == "dense":
                entries.append(
                    f"Int8Layer::Dense(Int8Dense {{ shape: DenseShape::new({layer.inputs}, {layer.outputs}), "
                    f"filter: &L{k}_FILTER, bias: {bias}, {stage(k, layer)} }}),"
                )
            else:
                variant = "Conv" if layer.kind == "conv" else "Depthwise"
                entries.append(
                    f"Int8Layer::{variant}(Int8Conv {{ shape: {conv_shape(layer)}, filter: &L{k}_FILTER, "
                    f"bias: {bias}, {stage(k, layer)} }}),"
                )
        else:
            out.append(f"// Layer {k}: {layer.source}, fused {layer.act_name}.\n")
            variant = "AvgPool" if layer.kind == "avg_pool" else "MaxPool"
            entries.append(
                f"Int8Layer::{variant}(Int8Pool {{ shape: {pool_shape(layer)}, "
                f"act: ({layer.act[0]}, {layer.act[1]}) }}),"
            )
    out.append("\n/// The backbone's layers in order.\n")
    out.append(f"pub const LAYERS: [Int8Layer<'static>; {len(entries)}] = [\n")
    out.extend(e + "\n" for e in entries)
    out.append("];\n\n")
    out.append(
        "/// The frozen int8 backbone, checked at compile time (a layer that does not fit is a build error).\n"
    )
    out.append(
        "pub const BACKBONE: Backbone<'static> = match Backbone::new(INPUT, &LAYERS, OUTPUT) {\n"
        "Ok(b) => b,\n"
        'Err(_) => panic!("the imported backbone does not fit together"),\n'
        "};\n\n"
    )

    # The head.
    # rustfmt leaves a brace macro's body as written: indented here.
    with_params = [d for d in imp.head if d.weight is not None]
    kinds = "dense" if all(d.line.startswith("dense") for d in imp.head) else "cnn"
    what = f"{len(with_params)} dense layer(s)" if kinds == "dense" else f"{len(imp.head)} layers"
    out.append("edgetune::cnn! {\n")
    out.append(f"    /// The trainable head: {what} on the backbone's {imp.output_len} features.\n")
    out.append(f"    pub struct {name} {{\n")
    hi = getattr(imp, "head_input", [1, 1, imp.output_len])
    if kinds == "dense":
        hi = [1, 1, imp.output_len]
    out.append(f"        input [{hi[0]}, {hi[1]}, {hi[2]}];\n")
    for d in imp.head:
        out.append(f"        {d.line};\n")
    out.append("        loss softmax_cross_entropy;\n    }\n}\n\n")
    params = []
    for d in with_params:
        params.extend(d.weight.reshape(-1).tolist())
        params.extend(d.bias.tolist())
    out.append("/// The head's initial parameters in torch order (per layer: the weights, `[out][in]` for a dense\n")
    out.append("/// layer and `[out][kh][kw][in / groups]` for a convolution, then the bias), from the model:\n")
    out.append("/// `net.import(&HEAD_INIT)`.\n")
    for d in with_params:
        out.append(f"/// - {d.source}: {d.what}, bias [{d.bias.size}]\n")
    for s in imp.head_source:
        out.append(f"///\n/// Also in the head: {s}.\n")
    # Laid out here (rustfmt would put one float per line): each weight row and each bias starts
    # a line.
    out.append("#[allow(clippy::approx_constant)]\n#[rustfmt::skip]\n")
    out.append(f"pub const HEAD_INIT: [f32; {len(params)}] = [\n")
    for k, d in enumerate(with_params):
        kind = d.line.split("(")[0]
        out.append(f"    // {kind} {k}: {d.what}\n")
        for row in d.weight.reshape(d.weight.shape[0], -1):
            out.extend(wrapped([f32_lit(v) for v in row]))
        out.append(f"    // {kind} {k}: bias [{d.bias.size}]\n")
        out.extend(wrapped([f32_lit(v) for v in d.bias]))
    out.append("];\n\n")
    out.append(f"const _: () = assert!(HEAD_INIT.len() == {name}::<f32>::PARAMS);\n")
    out.append(f"const _: () = assert!(BACKBONE.output_len() == {name}::<f32>::INPUTS);\n\n")
    alias = [
        "pub type Model<S> = edgetune::nn::network::Int8Network<",
        "    'static,",
        "    S,",
        f"    {name}<S>,",
        "    { BACKBONE.input_len() },",
        "    { BACKBONE.buffer_len() },",
        "    { BACKBONE.output_len() },",
        ">;",
    ]
    if network_alias:
        out.append("/// The whole network: the backbone feeding the head.\n")
        out.extend(line + "\n" for line in alias)
    else:
        out.append("// The whole network (`--no-network-alias` leaves it as this comment):\n")
        out.extend("// " + line + "\n" for line in alias)
    return "".join(out)


def rustfmt(src):
    exe = shutil.which("rustfmt")
    if exe is None:
        raise ImportFailure("rustfmt is not on the PATH (install it with rustup, or pass --no-rustfmt)")
    r = subprocess.run(
        [exe, "--edition", "2021", "--emit", "stdout"], input=src, capture_output=True, text=True
    )
    if r.returncode != 0:
        raise ImportFailure(f"rustfmt failed on the generated code:\n{r.stderr}")
    return r.stdout


def header_lines(kind, source_desc, command, sha256, imp, extra=()):
    lines = [
        "@generated: do not edit; regenerate instead.",
        f"Generated by {kind} from {source_desc[0]}",
        *source_desc[1:],
        f"sha256 {sha256}",
        f"Command: {command}",
        *extra,
        "",
        f"Backbone: {len(imp.layers)} int8 layer{'' if len(imp.layers) == 1 else 's'}, input {imp.input_shape} "
        f"(scale {f32_lit(imp.input.scale)}, zero point {imp.input.zero_point}), "
        f"{imp.output_len} features out.",
        f"Head: {' -> '.join(str(d.inputs) for d in imp.head)} -> {imp.head[-1].outputs}, "
        f"{sum(d.param_count() for d in imp.head)} parameters (HEAD_INIT).",
    ]
    return lines


def write(text, out):
    if out:
        with open(out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="the .tflite file (full-integer int8)")
    ap.add_argument("--name", required=True, help="the head's struct name (a Rust identifier, e.g. Kws)")
    ap.add_argument(
        "--split", type=int, required=True, help="operators before this index are the backbone, the rest the head"
    )
    ap.add_argument("--out", help="the Rust file to write (default: stdout)")
    ap.add_argument(
        "--no-network-alias",
        dest="network_alias",
        action="store_false",
        help="write `pub type Model<S> = Int8Network<...>` as a comment instead of code",
    )
    ap.add_argument("--no-rustfmt", action="store_true", help="do not format the output with rustfmt")
    args = ap.parse_args(argv)
    try:
        if not args.name.isidentifier() or not args.name[0].isupper():
            raise ImportFailure(f"--name {args.name!r} is not a Rust type name (CamelCase identifier)")
        imp = import_tflite(args.model, args.split)
        with open(args.model, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        command = f"python3 {SCRIPT} {args.model} --name {args.name} --split {args.split}"
        if not args.network_alias:
            command += " --no-network-alias"
        boundary = imp.boundary_tensor
        header = header_lines(
            SCRIPT,
            [
                os.path.basename(args.model),
                f"Operators 0..{args.split} are the backbone, {args.split}.. the head; the boundary is tensor "
                f"{boundary['index']}",
                f"'{boundary['name']}'.",
            ],
            command,
            sha,
            imp,
        )
        text = render(imp, args.name, header, args.network_alias)
        if not args.no_rustfmt:
            text = rustfmt(text)
        write(text, args.out)
    except ImportFailure as e:
        print(f"tflite_import: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"tflite_import: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
