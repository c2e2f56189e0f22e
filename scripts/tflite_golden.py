#!/usr/bin/env python3
"""Build, train and fully int8-quantise two small CNNs, and record what TFLite's reference
kernels compute on every layer, as the golden files `tests/int8_tflite.rs` checks edgetune's
int8 kernels against bit for bit.

Not run in CI: the Rust test reads only the committed files (`tests/data/int8/*.tflite` and
`*.json`). Dependencies: `scripts/requirements-tflite.txt`; how to run: `scripts/README.md`.

Models (Keras 3 on the TensorFlow CPU wheel, trained for a few seconds, seeded):
- `imu1d`: BasicMotions (`tests/data/basicmotions.bin`, 100 steps x 6 channels, 4 classes) as a
  1-D CNN written with height-1 Conv2D layers: conv (k 5, stride 2, SAME, ReLU), depthwise conv
  (k 3, depth multiplier 2, SAME, ReLU6), max pool (2), conv (k 3, dilation 2, VALID, ReLU),
  average pool (k 3, stride 2, SAME), flatten (RESHAPE), dense (ReLU), dense (logits).
- `digits2d`: scikit-learn's 8x8 digits (`tests/data/digits.bin`) as a 2-D CNN: conv 3x3 SAME
  ReLU, depthwise 3x3 stride 2 SAME multiplier 2 ReLU6 (odd SAME padding: 0 before, 1 after),
  pointwise conv ReLU, max pool 3x3 stride 1 SAME, average pool 2x2 VALID, flatten, dense.
  Its dense layer is converted with per-channel weights (TF 2.21's default), `imu1d`'s with
  per-tensor weights (the converter's `_experimental_disable_per_channel_quantization_for_dense_layers`),
  so both FULLY_CONNECTED forms are covered.

- `digits2d_clamp`: `digits2d` with quantisation parameters edited so that its fused RELU and
  RELU6 clamps bind (`clamped()`); no training of its own (`--clamp-from FILE` makes it from an
  existing `digits2d.tflite`).

Conversion: full-integer quantisation (`Optimize.DEFAULT`, a representative data set of training
samples, `TFLITE_BUILTINS_INT8`, int8 input and output). The interpreter runs with the REFERENCE
kernels (`OpResolverType.BUILTIN_REF`) and `experimental_preserve_all_tensors=True`, so every
intermediate tensor can be read after `invoke()`.

Golden format `int8-golden/v1` (one JSON object per model):
    { "schema", "generator": {versions, command, seed, ...}, "model": "imu1d",
      "tensors": [ {index, name, shape, dtype, scales, zero_points, quantized_dimension,
                    data (constants only, flat row-major)} ],
      "operators": [ {index, op, options: {...}, inputs: [tensor index, -1 = absent],
                      outputs: [...]} ],               // execution order
      "inputs": [ {sample, label, split, activations: {tensor index: flat data}} ] }
Options use TFLite's names: padding "SAME"/"VALID", stride_h/w, dilation_h/w, depth_multiplier,
filter_h/w (pools), fused_activation "NONE"/"RELU"/"RELU6"/..., keep_num_dims.
"""

import argparse
import datetime
import json
import os
import platform
import struct
import sys
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, HERE)

import basicmotions  # noqa: E402  (the repository's own ETBM reader)
import digits  # noqa: E402  (the repository's own ETDG reader)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402
import tflite  # noqa: E402

OUT_DIR = os.path.join(ROOT, "tests", "data", "int8")


def load_basicmotions():
    with open(os.path.join(ROOT, "tests", "data", "basicmotions.bin"), "rb") as f:
        recs = basicmotions.decode(f.read())
    x = np.array([r[2] for r in recs], dtype=np.float32).reshape(-1, 1, 100, 6)
    y = np.array([r[1] for r in recs], dtype=np.int64)
    split = np.array([r[0] for r in recs])
    # Per-channel standardisation from the train split (part of the float pipeline, before the
    # int8 input quantisation).
    tr = split == basicmotions.TRAIN
    mean = x[tr].mean(axis=(0, 1, 2), keepdims=True)
    std = x[tr].std(axis=(0, 1, 2), keepdims=True) + 1e-6
    x = (x - mean) / std
    return x[tr], y[tr], x[~tr], y[~tr]


def load_digits():
    with open(os.path.join(ROOT, "tests", "data", "digits.bin"), "rb") as f:
        pixels, labels = digits.decode(f.read())
    x = np.array(pixels, dtype=np.float32).reshape(-1, 8, 8, 1) / 16.0
    y = np.array(labels, dtype=np.int64)
    # The first 1,000 train, the rest are held out (the adapt demo's split).
    return x[:1000], y[:1000], x[1000:], y[1000:]


class DilatedConv(tf.keras.layers.Layer):
    """A VALID, ReLU conv with dilation through `tf.nn.conv2d(dilations=...)`: one Conv2D op,
    which the converter turns into one dilated CONV_2D (Keras' own dilated Conv2D goes through
    SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND, which the converter keeps as separate operators)."""

    def __init__(self, filters, kernel, dilation, **kw):
        super().__init__(**kw)
        self.filters, self.kernel, self.dilation = filters, kernel, dilation

    def build(self, shape):
        kh, kw = self.kernel
        self.w = self.add_weight(shape=(kh, kw, shape[-1], self.filters), initializer="glorot_uniform")
        self.b = self.add_weight(shape=(self.filters,), initializer="zeros")

    def call(self, x):
        dh, dw = self.dilation
        y = tf.nn.conv2d(x, self.w, strides=1, padding="VALID", dilations=[1, dh, dw, 1])
        return tf.nn.relu(tf.nn.bias_add(y, self.b))


def model_imu1d():
    L = tf.keras.layers
    return tf.keras.Sequential(
        [
            L.Input((1, 100, 6), batch_size=1),
            L.Conv2D(8, (1, 5), strides=(1, 2), padding="same", activation="relu"),
            L.DepthwiseConv2D((1, 3), depth_multiplier=2, padding="same"),
            L.ReLU(6.0),
            L.MaxPooling2D((1, 2)),
            DilatedConv(16, (1, 3), (1, 2)),
            L.AveragePooling2D((1, 3), strides=(1, 2), padding="same"),
            L.Flatten(),
            L.Dense(12, activation="relu"),
            L.Dense(4),
        ]
    )


def model_digits2d():
    L = tf.keras.layers
    return tf.keras.Sequential(
        [
            L.Input((8, 8, 1), batch_size=1),
            L.Conv2D(8, (3, 3), padding="same", activation="relu"),
            L.DepthwiseConv2D((3, 3), strides=(2, 2), depth_multiplier=2, padding="same"),
            L.ReLU(6.0),
            L.Conv2D(16, (1, 1), activation="relu"),
            L.MaxPooling2D((3, 3), strides=(1, 1), padding="same"),
            L.AveragePooling2D((2, 2)),
            L.Flatten(),
            L.Dense(10),
        ]
    )


MODELS = {
    "imu1d": (model_imu1d, load_basicmotions, 60, False),
    "digits2d": (model_digits2d, load_digits, 25, True),
}

ACT = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
PAD = {0: "SAME", 1: "VALID"}
DTYPE = {np.int8: "int8", np.int32: "int32", np.float32: "float32", np.int64: "int64", np.uint8: "uint8"}


def op_names():
    return {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}


def options_of(op, name):
    """The builtin options of `op` that the int8 kernels use, by TFLite's names."""
    table = op.BuiltinOptions()
    if table is None:
        return {}
    if name == "CONV_2D":
        o = tflite.Conv2DOptions()
        o.Init(table.Bytes, table.Pos)
        return {
            "padding": PAD[o.Padding()],
            "stride_h": o.StrideH(),
            "stride_w": o.StrideW(),
            "dilation_h": o.DilationHFactor(),
            "dilation_w": o.DilationWFactor(),
            "fused_activation": ACT[o.FusedActivationFunction()],
        }
    if name == "DEPTHWISE_CONV_2D":
        o = tflite.DepthwiseConv2DOptions()
        o.Init(table.Bytes, table.Pos)
        return {
            "padding": PAD[o.Padding()],
            "stride_h": o.StrideH(),
            "stride_w": o.StrideW(),
            "dilation_h": o.DilationHFactor(),
            "dilation_w": o.DilationWFactor(),
            "depth_multiplier": o.DepthMultiplier(),
            "fused_activation": ACT[o.FusedActivationFunction()],
        }
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        o = tflite.Pool2DOptions()
        o.Init(table.Bytes, table.Pos)
        return {
            "padding": PAD[o.Padding()],
            "stride_h": o.StrideH(),
            "stride_w": o.StrideW(),
            "filter_h": o.FilterHeight(),
            "filter_w": o.FilterWidth(),
            "fused_activation": ACT[o.FusedActivationFunction()],
        }
    if name == "FULLY_CONNECTED":
        o = tflite.FullyConnectedOptions()
        o.Init(table.Bytes, table.Pos)
        return {
            "fused_activation": ACT[o.FusedActivationFunction()],
            "keep_num_dims": bool(o.KeepNumDims()),
            "weights_format": o.WeightsFormat(),
        }
    return {}


def tensor_record(interp, detail, constant):
    q = detail["quantization_parameters"]
    rec = {
        "index": int(detail["index"]),
        "name": detail["name"],
        "shape": [int(v) for v in detail["shape"]],
        "dtype": DTYPE[detail["dtype"]],
        "scales": [float(v) for v in q["scales"]],
        "zero_points": [int(v) for v in q["zero_points"]],
        "quantized_dimension": int(q["quantized_dimension"]),
    }
    if constant:
        rec["data"] = interp.get_tensor(detail["index"]).reshape(-1).tolist()
    return rec


def build(name, seed):
    """Trains model `name` and converts it: (tflite bytes, held-out x, y, metadata)."""
    make, load, epochs, per_channel_dense = MODELS[name]
    tf.keras.utils.set_random_seed(seed)
    xtr, ytr, xte, yte = load()
    model = make()
    model.compile(
        optimizer=tf.keras.optimizers.Adam(3e-3),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(xtr, ytr, epochs=epochs, batch_size=16, verbose=0, shuffle=True)
    _, float_acc = model.evaluate(xte, yte, verbose=0)

    def representative():
        for i in range(min(len(xtr), 200)):
            yield [xtr[i : i + 1]]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    # TF 2.21 quantises dense weights per channel unless told otherwise; `imu1d` asks for
    # per-tensor dense weights so that both FULLY_CONNECTED forms are covered.
    conv._experimental_disable_per_channel_quantization_for_dense_layers = not per_channel_dense
    blob = conv.convert()
    meta = {"seed": seed, "epochs": epochs, "float_test_accuracy": round(float(float_acc), 4)}
    return blob, xte, yte, meta


def record(name, blob, xte, yte, samples, meta):
    """Runs `blob` on the reference kernels and returns its golden record."""
    interp = tf.lite.Interpreter(
        model_content=blob,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    interp.allocate_tensors()
    fb = tflite.Model.GetRootAsModel(blob, 0)
    sub = fb.Subgraphs(0)
    names = op_names()
    details = {d["index"]: d for d in interp.get_tensor_details()}
    constants = set()
    for t in range(sub.TensorsLength()):
        buf = fb.Buffers(sub.Tensors(t).Buffer())
        if buf is not None and buf.DataLength() > 0:
            constants.add(t)
    operators = []
    for i in range(sub.OperatorsLength()):
        op = sub.Operators(i)
        code = fb.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        opname = names[builtin]
        operators.append(
            {
                "index": i,
                "op": opname,
                "options": options_of(op, opname),
                "inputs": [int(v) for v in op.InputsAsNumpy()],
                "outputs": [int(v) for v in op.OutputsAsNumpy()],
            }
        )
    used = sorted({t for o in operators for t in o["inputs"] + o["outputs"] if t >= 0})
    tensors = [tensor_record(interp, details[t], t in constants) for t in used]

    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    in_scale, in_zp = inp["quantization"]
    activations = []
    correct = 0
    # Held-out inputs, spread over the split.
    picks = np.linspace(0, len(xte) - 1, samples).round().astype(int)
    for k in picks:
        q = np.clip(np.round(xte[k : k + 1] / in_scale) + in_zp, -128, 127).astype(np.int8)
        interp.set_tensor(inp["index"], q)
        interp.invoke()
        acts = {str(t): interp.get_tensor(t).reshape(-1).tolist() for t in used if t not in constants}
        logits = interp.get_tensor(out["index"]).reshape(-1)
        correct += int(np.argmax(logits) == yte[k])
        activations.append({"sample": int(k), "label": int(yte[k]), "split": "held-out", "activations": acts})

    # Whole held-out accuracy of the int8 model (context only; not checked by the test).
    int8_correct = 0
    for k in range(len(xte)):
        q = np.clip(np.round(xte[k : k + 1] / in_scale) + in_zp, -128, 127).astype(np.int8)
        interp.set_tensor(inp["index"], q)
        interp.invoke()
        int8_correct += int(np.argmax(interp.get_tensor(out["index"])) == yte[k])
    golden = {
        "schema": "int8-golden/v1",
        "model": name,
        "generator": {
            "script": "scripts/tflite_golden.py",
            "command": " ".join(sys.argv),
            **meta,
            "tensorflow_version": tf.__version__,
            "tflite_version": getattr(tflite, "__version__", "unknown"),
            "numpy_version": np.__version__,
            "python_version": platform.python_version(),
            "machine": platform.machine(),
            "date": datetime.date.today().isoformat(),
            "op_resolver": "BUILTIN_REF",
            "int8_test_accuracy": round(int8_correct / len(xte), 4),
            "test_count": int(len(xte)),
            "tflite_bytes": len(blob),
            "tflite_crc32": zlib.crc32(blob),
        },
        "tensors": tensors,
        "operators": operators,
        "inputs": activations,
    }
    return golden


def clamped(blob):
    """`digits2d` with the output quantisation of its first two layers changed so that their
    fused clamps bind: the converter sets an output range equal to the activation's, so in a
    converted model RELU's lower clamp is int8's -128 and RELU6's upper clamp is 127 or beyond,
    never tested. Here the conv's (RELU) output gets zero point -40 (its clamp at -40 cuts
    negative sums) and the depthwise's (RELU6) output scale 12/255 with zero point -100 (q(0) =
    -100 and q(6) = 28: both clamps cut), and the depthwise's weights ×3 (below). The consumers read the same tensors, so the model stays
    consistent; TFLite's interpreter computes the golden outputs as for any model."""
    buf = bytearray(blob)
    fb = tflite.Model.GetRootAsModel(buf, 0)
    sub = fb.Subgraphs(0)
    for op_index, scale, zero_point in ((0, None, -40), (1, 12.0 / 255.0, -100)):
        t = sub.Tensors(int(sub.Operators(op_index).OutputsAsNumpy()[0]))
        q = t.Quantization()
        scales, zps = q.ScaleAsNumpy(), q.ZeroPointAsNumpy()  # views into `buf`: writable
        if scale is None:
            scales[0] = scales[0] * 1.5
        else:
            scales[0] = scale
        zps[0] = zero_point
    # The depthwise's weights and bias ×3 (their scales; the bias scale stays input · filter
    # scale): its sums then exceed 6, so RELU6's upper clamp (q(6) = 28) cuts them.
    dw = sub.Operators(1)
    for k in (1, 2):
        t = sub.Tensors(int(dw.InputsAsNumpy()[k]))
        scales = t.Quantization().ScaleAsNumpy()
        scales *= 3
    return bytes(buf)


def write_json(path, golden):
    # One tensor / operator / input per line keeps diffs readable.
    with open(path, "w") as f:
        f.write("{\n")
        head = {k: golden[k] for k in ("schema", "model", "generator")}
        for k, v in head.items():
            f.write(f"{json.dumps(k)}: {json.dumps(v)},\n")
        for key in ("tensors", "operators", "inputs"):
            f.write(f"{json.dumps(key)}: [\n")
            items = golden[key]
            for i, item in enumerate(items):
                f.write(json.dumps(item, separators=(",", ":")))
                f.write(",\n" if i + 1 < len(items) else "\n")
            f.write("],\n" if key != "inputs" else "]\n")
        f.write("}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=20261203)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--out", default=OUT_DIR)
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    ap.add_argument(
        "--clamp-from",
        help="also write digits2d_clamp from this existing digits2d .tflite (no training); "
        "with --models digits2d it is made from the fresh model anyway",
    )
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    outputs = []
    for name in args.models:
        blob, xte, yte, meta = build(name, args.seed)
        outputs.append((name, blob, record(name, blob, xte, yte, args.samples, meta)))
        if name == "digits2d":
            clamp = clamped(blob)
            meta = dict(meta, derived_from="digits2d: clamped(), see the script")
            outputs.append(("digits2d_clamp", clamp, record("digits2d_clamp", clamp, xte, yte, args.samples, meta)))
    if args.clamp_from:
        with open(args.clamp_from, "rb") as f:
            base = f.read()
        _, _, xte, yte = load_digits()
        clamp = clamped(base)
        meta = {"seed": None, "derived_from": f"{os.path.basename(args.clamp_from)}: clamped(), see the script"}
        outputs.append(("digits2d_clamp", clamp, record("digits2d_clamp", clamp, xte, yte, args.samples, meta)))
    for name, blob, golden in outputs:
        with open(os.path.join(args.out, f"{name}.tflite"), "wb") as f:
            f.write(blob)
        path = os.path.join(args.out, f"{name}.json")
        write_json(path, golden)
        g = golden["generator"]
        ops = ", ".join(o["op"] for o in golden["operators"])
        print(
            f"{name}: {len(blob)} B tflite, {os.path.getsize(path)} B json, float acc "
            f"{g.get('float_test_accuracy')}, int8 acc {g['int8_test_accuracy']}; ops: {ops}"
        )

if __name__ == "__main__":
    main()
