"""Small layer objects that hold their parameters and call the device's layer functions.

:class:`Dense` and :class:`Conv2d` keep ``weight`` and ``bias`` in the dtype's storage
(``float32``, or raw fixed-point bits) and, after :meth:`backward`, ``grad_weight`` and
``grad_bias``: the gradients of that call's batch, summed over it as the device sums a
mini-batch. They add no arithmetic of their own, so every number is the library's. A parameter and
its gradient are the pair an optimizer steps in place::

    layer = edgetune.nn.Conv2d(1, 4, 3, padding=1)
    opt = edgetune.SGD(layer.weight.size, lr=0.01)
    y = layer(x)
    layer.backward(dy)
    opt.step(layer.weight, layer.grad_weight)

Initialisation is torch's default for ``Linear`` and ``Conv2d`` (uniform in
``±1/sqrt(fan_in)`` for weights and biases), drawn in float64 and rounded to the dtype.
"""

import numpy as np

from ._edgetune import (
    EdgetuneError,
    conv2d_backward,
    conv2d_forward,
    dense_backward,
    dense_forward,
    quantize,
)

__all__ = ["Dense", "Conv2d"]


def _storage(values, dtype):
    """float64 values in the dtype's storage: float32, or raw bits rounded to nearest."""
    if dtype == "f32":
        return np.ascontiguousarray(values, dtype=np.float32)
    return quantize(np.ascontiguousarray(values, dtype=np.float64), dtype)


def _param(given, shape, fan_in, rng, dtype, what):
    """``given`` checked against ``shape``, or torch's default uniform initialisation."""
    if given is None:
        bound = 1.0 / np.sqrt(fan_in) if fan_in > 0 else 0.0
        return _storage(rng.uniform(-bound, bound, shape), dtype)
    given = np.ascontiguousarray(given)
    if given.shape != tuple(shape):
        raise EdgetuneError(f"{what}: expected shape {tuple(shape)}, got {given.shape}")
    return given.copy()


class _Layer:
    """Parameters, their gradients and the kept input, shared by the layers."""

    def __init__(self, dtype, weight, bias):
        self.dtype = dtype
        self.weight, self.bias = weight, bias
        self.grad_weight, self.grad_bias = np.zeros_like(weight), np.zeros_like(bias)
        self._x = None

    def __call__(self, x):
        return self.forward(x)

    def parameters(self):
        """``[(weight, grad_weight), (bias, grad_bias)]``: what an optimizer steps."""
        return [(self.weight, self.grad_weight), (self.bias, self.grad_bias)]

    def zero_grad(self):
        self.grad_weight[...] = 0
        self.grad_bias[...] = 0

    def _keep(self, grads):
        """Stores a backward call's gradients in place (so `parameters()` pairs stay valid)."""
        dw, db, dx = grads
        self.grad_weight[...] = dw
        self.grad_bias[...] = db
        return dx

    def _input(self):
        if self._x is None:
            raise EdgetuneError("backward before forward: the layer has no kept input")
        return self._x


class Dense(_Layer):
    """``y = x Wᵀ + b`` (torch's ``Linear`` layout: ``weight`` ``(out, in)``), on ``(in,)`` or
    ``(batch, in)`` inputs."""

    def __init__(self, in_features, out_features, dtype="f32", *, weight=None, bias=None,
                 seed=0):
        rng = np.random.default_rng(seed)
        w = _param(weight, (out_features, in_features), in_features, rng, dtype, "weight")
        b = _param(bias, (out_features,), in_features, rng, dtype, "bias")
        super().__init__(dtype, w, b)

    def forward(self, x):
        """The output; keeps ``x`` for :meth:`backward`."""
        y = dense_forward(self.weight, self.bias, x, self.dtype)
        self._x = x
        return y

    def backward(self, dy, need_dx=True):
        """Sets ``grad_weight``, ``grad_bias`` from the kept input and ``dy``; returns ``dx``
        (``None`` with ``need_dx=False``)."""
        return self._keep(dense_backward(self.weight, self._input(), dy, self.dtype,
                                         need_dx=need_dx))


class Conv2d(_Layer):
    """A 2-D convolution over channels-last maps ``(H, W, C)`` or ``(batch, H, W, C)``, weights
    OHWI ``(out_channels, kh, kw, in_channels/groups)``. ``kernel_size`` and ``stride`` are an
    int or a pair; ``padding`` an int, ``"same"``, or a pair of the binding's per-axis
    paddings (each an int or ``(before, after)``)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, groups=1,
                 dtype="f32", *, weight=None, bias=None, seed=0):
        kh, kw = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
        self.stride = (stride, stride) if np.isscalar(stride) else tuple(stride)
        self.padding = (padding, padding) if isinstance(padding, (int, str)) else tuple(padding)
        self.groups = groups
        if groups <= 0 or in_channels % groups:
            raise EdgetuneError(f"groups {groups} must divide in_channels {in_channels}")
        fan_in = in_channels // groups * kh * kw
        rng = np.random.default_rng(seed)
        w = _param(weight, (out_channels, kh, kw, in_channels // groups), fan_in, rng, dtype,
                   "weight")
        b = _param(bias, (out_channels,), fan_in, rng, dtype, "bias")
        super().__init__(dtype, w, b)

    def _kw(self):
        return dict(stride_h=self.stride[0], stride_w=self.stride[1], pad_h=self.padding[0],
                    pad_w=self.padding[1], groups=self.groups)

    def forward(self, x):
        """The output map; keeps ``x`` for :meth:`backward`."""
        y = conv2d_forward(self.weight, self.bias, x, self.dtype, **self._kw())
        self._x = x
        return y

    def backward(self, dy, need_dx=True):
        """Sets ``grad_weight``, ``grad_bias`` from the kept input and ``dy``; returns ``dx``
        (``None`` with ``need_dx=False``)."""
        return self._keep(conv2d_backward(self.weight, self._input(), dy, self.dtype,
                                          **self._kw(), need_dx=need_dx))
