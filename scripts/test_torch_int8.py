#!/usr/bin/env python3
"""Tests of `scripts/torch_int8.py` (needs torch; not run in CI, which has no torch):

    python3 scripts/test_torch_int8.py

- Layouts: a 2-D model (Conv2d with padding, a depthwise Conv2d with stride, a padded MaxPool2d,
  an AvgPool2d, Flatten, Linear in the backbone and a Linear head) is quantised, and the int8
  backbone (`int8_reference.py`, TFLite's arithmetic) dequantised must follow the float
  backbone within a few quantisation steps on random inputs, and the whole int8 model must
  predict the float model's class on most of them. A wrong filter layout, a wrong depthwise
  order or a missing flatten permutation breaks both.
- Refusals: each names the module (index and type).
"""

import os
import sys
import unittest

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_int8  # noqa: E402
import int8_reference  # noqa: E402


def model_2d():
    torch.manual_seed(5)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=8),
        nn.ReLU6(),
        nn.MaxPool2d(3, stride=1, padding=1),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 3 * 3, 20),
        nn.ReLU(),
        nn.Linear(20, 5),
    ).eval()


class Layouts(unittest.TestCase):
    def test_2d_int8_backbone_follows_float(self):
        model = model_2d()
        rng = np.random.default_rng(1)
        calib = rng.normal(size=(64, 3, 12, 12)).astype(np.float32)
        test = rng.normal(size=(64, 3, 12, 12)).astype(np.float32)
        imp = torch_int8.quantize_sequential(model, calib, 9)  # backbone: up to the first Linear + ReLU
        self.assertEqual([l.kind for l in imp.layers], ["conv", "depthwise", "max_pool", "avg_pool", "dense"])
        with torch.no_grad():
            float_feats = model[:9](torch.from_numpy(test)).numpy()
            float_class = model(torch.from_numpy(test)).argmax(dim=1).numpy()
        int8_class, _, ys = torch_int8.int8_predict(imp, test)
        q = imp.output
        deq = np.array([q.scale * (y.astype(np.float64) - q.zero_point) for y in ys])
        err = np.abs(deq - float_feats) / q.scale
        signal = np.abs(float_feats).mean() / q.scale
        agree = int((int8_class == float_class).sum())
        print(f"  2-D: |int8 - float| at the split: mean {err.mean():.2f}, worst {err.max():.1f} output steps "
              f"(mean |float| {signal:.1f} steps); class agreement {agree}/{len(test)}")
        # Measured: mean 0.34, worst 14.4 steps, 64/64. Without the flatten permutation: mean 40,
        # worst 269, 34/64; the bounds sit between.
        self.assertLess(err.mean(), 2.0)
        self.assertLess(err.max(), 40.0)
        self.assertGreaterEqual(agree, 56)

    def test_rust_file_renders(self):
        import tflite_import as ti

        imp = torch_int8.quantize_sequential(model_2d(), np.zeros((2, 3, 12, 12), np.float32) + 0.5, 9)
        text = ti.render(imp, "Head", ["test"], False)
        self.assertIn("Padding::symmetric(1)", text)
        self.assertIn("Int8Layer::Depthwise", text)


class Refusals(unittest.TestCase):
    def refused(self, model, split, *needles, shape=(4, 3, 8, 8)):
        with self.assertRaises(torch_int8.Refused) as cm:
            torch_int8.quantize_sequential(model.eval(), np.ones(shape, np.float32), split)
        for n in needles:
            self.assertIn(n, str(cm.exception))
        print(f"  {cm.exception}")

    def test_batch_norm(self):
        self.refused(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(144, 2)), 3,
                     "module 1 (BatchNorm2d)", "not supported")

    def test_activation_not_after_a_layer(self):
        self.refused(nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(36, 2)), 4,
                     "module 2 (ReLU)", "fused")

    def test_split_inside_a_fused_pair(self):
        self.refused(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 2)), 1,
                     "module 0 (Conv2d)", "separates")

    def test_padded_average_counting_padding(self):
        self.refused(nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), nn.Flatten(), nn.Linear(192, 2)), 2,
                     "module 0 (AvgPool2d)", "count_include_pad")

    def test_conv_in_the_head(self):
        self.refused(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3), nn.Flatten(), nn.Linear(64, 2)), 1,
                     "module 1 (Conv2d)", "head")

    def test_split_out_of_range(self):
        self.refused(nn.Sequential(nn.Flatten(), nn.Linear(192, 2)), 2, "out of range")


if __name__ == "__main__":
    unittest.main(verbosity=2)
