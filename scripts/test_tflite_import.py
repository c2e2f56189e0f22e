#!/usr/bin/env python3
"""Refusal tests of `scripts/tflite_import.py` (plain unittest; run by `.ci/run`):

    python3 scripts/test_tflite_import.py

Each case runs the importer's command line on a committed model, or on a copy edited in memory
(a scalar or vector element of the flatbuffer changed in place, as `tflite_golden.py`'s
`clamped()` does), and requires a non-zero exit with a message naming the operator (index and
name) and the tensor, and nothing written. The committed `digits2d_clamp.tflite` (fused clamps
that bind) must import, with its binding clamps in the output.
"""

import os
import struct
import subprocess
import sys
import tempfile
import unittest

import json

import numpy as np
import tflite

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import int8_reference  # noqa: E402
import tflite_import  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(ROOT, "tests", "data", "int8")
IMPORTER = os.path.join(HERE, "tflite_import.py")


def read(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return bytearray(f.read())


def set_scalar(obj, slot, fmt, value, buf):
    """Overwrites a stored scalar field (vtable slot `slot`) of flatbuffer table `obj` in `buf`."""
    off = obj._tab.Offset(slot)
    assert off, f"field at slot {slot} is not stored (a default value cannot be edited in place)"
    struct.pack_into("<" + fmt, buf, obj._tab.Pos + off, value)


def model(buf):
    fb = tflite.Model.GetRootAsModel(buf, 0)
    return fb, fb.Subgraphs(0)


def tensor_of(sub, op_index, k=None):
    op = sub.Operators(op_index)
    t = int(op.OutputsAsNumpy()[0]) if k is None else int(op.InputsAsNumpy()[k])
    return sub.Tensors(t)


class ImporterRefuses(unittest.TestCase):
    def run_importer(self, blob_or_path, split, *extra):
        with tempfile.TemporaryDirectory() as d:
            if isinstance(blob_or_path, (bytes, bytearray)):
                path = os.path.join(d, "edited.tflite")
                with open(path, "wb") as f:
                    f.write(blob_or_path)
            else:
                path = blob_or_path
            out = os.path.join(d, "out.rs")
            r = subprocess.run(
                [sys.executable, IMPORTER, path, "--name", "Head", "--split", str(split), "--out", out, *extra],
                capture_output=True,
                text=True,
            )
            written = os.path.exists(out)
            text = None
            if written:
                with open(out) as f:
                    text = f.read()
        return r, written, text

    def refused(self, blob_or_path, split, *needles):
        r, written, _ = self.run_importer(blob_or_path, split)
        self.assertNotEqual(r.returncode, 0, f"accepted; stderr: {r.stderr}")
        self.assertFalse(written, "wrote a file although it refused")
        self.assertIn("tflite_import: error:", r.stderr)
        for n in needles:
            self.assertIn(n, r.stderr)
        print(f"  {r.stderr.strip()}")
        return r.stderr

    # -- splits ---------------------------------------------------------------------------------

    def test_split_out_of_range(self):
        path = os.path.join(DATA, "imu1d.tflite")
        self.refused(path, 8, "--split 8 is out of range", "1..=7")
        self.refused(path, 0, "--split 0 is out of range")

    def test_split_that_puts_a_dilated_conv_in_the_head(self):
        self.refused(
            os.path.join(DATA, "imu1d.tflite"),
            3,
            "operator 3 (CONV_2D)",
            "'sequential_1/dilated_conv_1/Conv2D'",
            "a cnn! convolution has no dilation",
        )

    def test_split_that_puts_a_padded_average_pool_in_the_head(self):
        self.refused(
            os.path.join(DATA, "imu1d.tflite"),
            4,
            "operator 4 (AVERAGE_POOL_2D)",
            "'sequential_1/dilated_conv_1/Relu;",
            "counts the padding",
        )

    def test_split_on_the_flatten(self):
        self.refused(os.path.join(DATA, "digits2d.tflite"), 5, "operator 5 (RESHAPE)", "--split 5")

    # -- files ----------------------------------------------------------------------------------

    def test_truncated_file(self):
        blob = read("digits2d.tflite")
        self.refused(blob[: len(blob) // 2], 6, "corrupt or truncated")

    def test_not_a_tflite_file(self):
        self.refused(os.path.join(DATA, "digits2d.json"), 6, "not a TFLite flatbuffer", "TFL3")

    # -- operators and quantisation, edited in memory ------------------------------------------

    def test_unsupported_operator(self):
        # MAX_POOL_2D -> L2_POOL_2D (same options table), in the backbone.
        buf = read("digits2d.tflite")
        fb, sub = model(buf)
        code = fb.OperatorCodes(sub.Operators(3).OpcodeIndex())
        set_scalar(code, 4, "b", tflite.BuiltinOperator.L2_POOL_2D, buf)
        if code._tab.Offset(10):
            set_scalar(code, 10, "i", tflite.BuiltinOperator.L2_POOL_2D, buf)
        self.refused(
            buf,
            6,
            "operator 3 (L2_POOL_2D)",
            "'sequential_1_1/conv2d_2_1/Relu;",
            "is not supported in the int8 backbone",
            "supported: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, AVERAGE_POOL_2D, MAX_POOL_2D, RESHAPE",
        )

    def test_unsupported_operator_in_the_head(self):
        # digits2d split after its first conv: the head holds the max pool, made an L2_POOL_2D.
        buf = read("digits2d.tflite")
        fb, sub = model(buf)
        code = fb.OperatorCodes(sub.Operators(3).OpcodeIndex())
        set_scalar(code, 4, "b", tflite.BuiltinOperator.L2_POOL_2D, buf)
        if code._tab.Offset(10):
            set_scalar(code, 10, "i", tflite.BuiltinOperator.L2_POOL_2D, buf)
        self.refused(
            buf,
            1,
            "operator 3 (L2_POOL_2D)",
            "'sequential_1_1/conv2d_2_1/Relu;",
            "is not supported in the trainable head (supported: FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D",
        )

    def test_asymmetric_weights(self):
        buf = read("digits2d.tflite")
        _, sub = model(buf)
        zps = tensor_of(sub, 2, 1).Quantization().ZeroPointAsNumpy()
        zps[5] = 3
        self.refused(buf, 6, "operator 2 (CONV_2D)", "'sequential_1_1/conv2d_2_1/convolution'", "asymmetric weights")

    def test_per_channel_along_the_wrong_dimension(self):
        # The depthwise filter is quantised along dimension 3 (its output channels); 0 cannot be
        # honoured by the kernel.
        buf = read("digits2d.tflite")
        _, sub = model(buf)
        set_scalar(tensor_of(sub, 1, 1).Quantization(), 16, "i", 1, buf)
        self.refused(
            buf, 6, "operator 1 (DEPTHWISE_CONV_2D)", "'sequential_1_1/depthwise_conv2d_1_1/", "along dimension 1"
        )

    def test_weight_scales_neither_per_tensor_nor_per_channel(self):
        # Shorten the conv filter's scale vector from 8 to 7 (its length prefix).
        buf = read("digits2d.tflite")
        _, sub = model(buf)
        q = tensor_of(sub, 0, 1).Quantization()
        start = q._tab.Vector(q._tab.Offset(8))
        struct.pack_into("<I", buf, start - 4, 7)
        self.refused(buf, 6, "operator 0 (CONV_2D)", "'sequential_1_1/conv2d_1_1/convolution'", "7 weight scales for 8")

    def test_activation_without_one_scale(self):
        # An activation needs exactly one scale and zero point (per tensor); a vector cannot grow
        # in place, so the max pool's output scale vector is shortened to 0 instead.
        buf = read("digits2d.tflite")
        _, sub = model(buf)
        q = tensor_of(sub, 3).Quantization()
        start = q._tab.Vector(q._tab.Offset(8))
        struct.pack_into("<I", buf, start - 4, 0)
        self.refused(buf, 6, "operator 3 (MAX_POOL_2D)", "'sequential_1_1/max_pooling2d_1_1/", "per tensor")

    def test_non_int8_activation(self):
        buf = read("imu1d.tflite")
        _, sub = model(buf)
        set_scalar(tensor_of(sub, 1), 6, "b", tflite.TensorType.INT16, buf)
        self.refused(buf, 6, "operator 1 (DEPTHWISE_CONV_2D)", "'sequential_1/re_lu_1/Relu6;", "INT16", "int8 activations")

    def test_batch_other_than_one(self):
        buf = read("digits2d.tflite")
        _, sub = model(buf)
        shape = tensor_of(sub, 0, 0).ShapeAsNumpy()
        shape[0] = 2
        self.refused(buf, 6, "operator 0 (CONV_2D)", "'serving_default_keras_tensor_10:0'", "batch 2")

    def test_shape_the_declaration_cannot_express(self):
        # The conv's output says 7 columns where SAME padding gives 8.
        buf = read("digits2d.tflite")
        _, sub = model(buf)
        shape = tensor_of(sub, 0).ShapeAsNumpy()
        shape[2] = 7
        self.refused(buf, 6, "operator 0 (CONV_2D)", "'sequential_1_1/conv2d_1_1/Relu;", "[1, 8, 7, 8]", "[1, 8, 8, 8]")

    def test_unsupported_fused_activation(self):
        buf = read("digits2d.tflite")
        _, sub = model(buf)
        table = sub.Operators(0).BuiltinOptions()
        o = tflite.Conv2DOptions()
        o.Init(table.Bytes, table.Pos)
        set_scalar(o, 10, "b", 4, buf)  # TANH
        self.refused(buf, 6, "operator 0 (CONV_2D)", "fused activation TANH")

    def test_pool_that_changes_the_quantisation(self):
        buf = read("digits2d.tflite")
        _, sub = model(buf)
        scales = tensor_of(sub, 4).Quantization().ScaleAsNumpy()
        scales[0] *= 2
        self.refused(buf, 6, "operator 4 (AVERAGE_POOL_2D)", "'sequential_1_1/average_pooling2d_1_1/", "a pool keeps it")

    def test_multiplier_of_two_to_the_31(self):
        buf = read("digits2d.tflite")
        _, sub = model(buf)
        scales = tensor_of(sub, 2, 1).Quantization().ScaleAsNumpy()
        scales[0] = np.float32(1e12)
        self.refused(buf, 6, "operator 2 (CONV_2D)", "'sequential_1_1/conv2d_2_1/convolution'", "2^31 or more")


class ImporterAccepts(unittest.TestCase):
    def test_binding_clamps_are_imported(self):
        # digits2d_clamp: the conv's RELU clamps at -40, the depthwise's RELU6 at (-100, 28).
        r, written, text = ImporterRefuses.run_importer(self, os.path.join(DATA, "digits2d_clamp.tflite"), 6)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(written)
        self.assertIn("act_min: -40,", text)
        self.assertIn("act_min: -100,", text)
        self.assertIn("act_max: 28,", text)

    def test_network_alias_flag(self):
        r, _, text = ImporterRefuses.run_importer(self, os.path.join(DATA, "imu1d.tflite"), 6)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("\npub type Model<S> = edgetune::nn::network::Int8Network<", text)
        r, _, text = ImporterRefuses.run_importer(self, os.path.join(DATA, "imu1d.tflite"), 6, "--no-network-alias")
        self.assertIn("\n// pub type Model<S> = edgetune::nn::network::Int8Network<", text)


class NumpyReference(unittest.TestCase):
    """`int8_reference.run` on the imported layers equals the TFLite interpreter's tensor at the
    split on every golden input (what makes it a reference for `torch_int8.py`)."""

    def test_reference_matches_the_interpreter(self):
        for name in ("imu1d", "digits2d", "digits2d_clamp"):
            imp = tflite_import.import_tflite(os.path.join(DATA, f"{name}.tflite"), 6)
            with open(os.path.join(DATA, f"{name}.json")) as f:
                g = json.load(f)
            x_t, y_t = g["operators"][0]["inputs"][0], g["operators"][5]["outputs"][0]
            compared = 0
            for s in g["inputs"]:
                y = int8_reference.run(imp.layers, s["activations"][str(x_t)])
                np.testing.assert_array_equal(y, np.array(s["activations"][str(y_t)], dtype=np.int8))
                compared += y.size
            print(f"  {name}: {compared} outputs equal the interpreter's")


if __name__ == "__main__":
    unittest.main(verbosity=2)
