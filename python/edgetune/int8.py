"""A frozen int8 backbone from Python: the library's ``nn::int8`` kernels, bit-exact to TFLite's
reference kernels, on numpy ``int8`` arrays.

Give what a full-integer TFLite model holds: each tensor's quantisation as ``(scale,
zero_point)`` (``real = scale · (q − zero_point)``), int8 filters in TFLite's layouts, int32
biases, the filter scales as ``float32`` arrays (one per output channel, or one), and the fused
activation by name (``"none"``, ``"relu"``, ``"relu6"``, ``"relu_n1_to_1"``). The requantisation
multipliers and shifts are computed from the scales by the library (:func:`requantizer`), as a
device computes them. Maps are NHWC without the batch, ``(h, w, c)``; a leading batch axis is
looped over in Rust. Every bad shape, length or quantisation raises
:class:`edgetune.EdgetuneError` with the library's message.

- :func:`quantize` / :func:`dequantize`: the boundaries (TFLite's ``QUANTIZE`` and
  ``DEQUANTIZE``; dequantise also to a fixed-point head's raw bits).
- :func:`conv2d` (``(out_c, kh, kw, in_c / groups)`` filter), :func:`conv1d` (the same at height
  1), :func:`depthwise_conv2d` (``(1, kh, kw, out_c)``), :func:`fully_connected`
  (``(outputs, inputs)``), :func:`avg_pool2d`, :func:`max_pool2d`.
- :class:`Backbone`: the layers in order, given as dicts ``{"op": name, **the layer function's
  keyword arguments}`` with ``input_shape=(h, w, c)`` in place of ``x`` (a dense layer needs
  none); ``run`` is int8 to int8, ``run_real`` quantises real input and dequantises the features
  into the head's dtype. TFLite's ``RESHAPE`` (flatten) needs no layer.

>>> import numpy as np
>>> from edgetune import int8
>>> int8.quantize(np.array([0.25, -1.0, 100.0], np.float32), 0.5, -3)
array([ -2,  -5, 127], dtype=int8)
"""

import numpy as np

from ._edgetune import EdgetuneError
from ._edgetune import Int8Backbone as Backbone
from ._edgetune import int8_activation_range as activation_range
from ._edgetune import int8_avg_pool2d as avg_pool2d
from ._edgetune import int8_conv2d as conv2d
from ._edgetune import int8_depthwise_conv2d as depthwise_conv2d
from ._edgetune import int8_dequantize as dequantize
from ._edgetune import int8_fully_connected as fully_connected
from ._edgetune import int8_max_pool2d as max_pool2d
from ._edgetune import int8_quantize as quantize
from ._edgetune import int8_requantizer as requantizer

__all__ = [
    "ACTIVATIONS",
    "Backbone",
    "activation_range",
    "avg_pool2d",
    "conv1d",
    "conv2d",
    "depthwise_conv2d",
    "dequantize",
    "fully_connected",
    "max_pool2d",
    "quantize",
    "requantizer",
]

#: The fused activations by name (TFLite's ``NONE``, ``RELU``, ``RELU6``, ``RELU_N1_TO_1``).
ACTIVATIONS = ("none", "relu", "relu6", "relu_n1_to_1")


def conv1d(x, filter, bias, input_quant, filter_scales, output_quant, *, stride=1, padding="valid", dilation=1,
           activation="none"):
    """A 1-D convolution as TFLite runs Keras' ``Conv1D``: :func:`conv2d` at height 1.

    ``x`` is ``(length, in_c)`` or ``(batch, length, in_c)``, ``filter`` ``(out_c, k, in_c /
    groups)``, ``padding`` ``"same"``, ``"valid"`` or ``(before, after)``; returns
    ``(out_length, out_c)`` (behind the batch axis if any).
    """
    x, filter = np.asarray(x), np.asarray(filter)
    if x.ndim not in (2, 3) or filter.ndim != 3:
        raise EdgetuneError(
            f"conv1d: expected x (length, in_c) or (batch, length, in_c) and filter (out_c, k, in_c), "
            f"got {x.shape} and {filter.shape}"
        )
    if not isinstance(padding, str):
        padding = ((0, 0), tuple(padding))
    y = conv2d(
        np.expand_dims(x, -3),
        np.expand_dims(filter, 1),
        bias,
        input_quant,
        filter_scales,
        output_quant,
        stride=(1, stride),
        padding=padding,
        dilation=(1, dilation),
        activation=activation,
    )
    return y.squeeze(-3)
