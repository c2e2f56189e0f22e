"""edgetune from Python: the device's optimizers, bit for bit, on numpy arrays.

Every optimizer takes torch.optim's keyword names and defaults, the number of parameters it
steps (``size``) and the device's number type ``dtype``:

- ``"f32"``: parameters and gradients are ``float32`` numpy arrays;
- ``"I16F16"``, ``"I8F24"``: fixed point; parameters and gradients are ``int32`` arrays of the
  raw bits (see :func:`quantize` and :func:`dequantize`), and parameter writes are rounded
  stochastically (``rounding="stochastic"``, generator state ``seed``) or to nearest
  (``rounding="nearest"``);
- ``"I4F12"``: the 16-bit format for cores without an FPU (range [-8, 8), resolution 2^-12),
  the same way with ``int16`` arrays of raw bits (its optimizer state stays 32-bit, as on the
  device). The weight file has no I4F12 type: :mod:`edgetune.weights` encodes f32 or I16F16.

``step(params, grads)`` updates ``params`` in place with the Rust library's own kernels (the
same code the microcontroller runs); on any error it raises :class:`EdgetuneError` with the
library's message and changes nothing.

The layers run the device's kernels too, batch-aware (a leading batch axis loops in Rust):
:func:`dense_forward` / :func:`dense_backward` (torch's ``Linear`` layout, ``w`` of shape
``(out, in)``; backward sums ``dw``, ``db`` over the batch), :func:`relu` /
:func:`relu_backward` and :func:`softmax_cross_entropy` (per-sample loss and ``dlogits``).
:mod:`edgetune.weights` writes and reads the device's weight file (``.etw``) byte for byte, and
:mod:`edgetune.checkpoint` the device's checkpoint region (parameters, optimizer state and
progress) with the firmware's own code.

>>> import numpy as np, edgetune
>>> opt = edgetune.Adam(3, lr=1e-2)
>>> p = np.array([1.0, -1.0, 0.5], dtype=np.float32)
>>> opt.step(p, np.array([0.5, -0.5, 0.0], dtype=np.float32))
>>> opt.state_dict()["step"]
1
"""

from ._edgetune import EdgetuneError, dequantize, quantize
from ._edgetune import dense_backward, dense_forward, relu, relu_backward, softmax_cross_entropy
from ._edgetune import (  # convolutions and pools (native: python/src/conv.rs)
    conv2d_forward,
    conv2d_backward,
    conv2d_backward_input,
    conv1d_forward,
    conv1d_backward,
    conv1d_backward_input,
    pointwise_forward,
    pointwise_backward,
    pointwise_backward_input,
    max_pool2d,
    max_pool2d_backward,
    avg_pool2d,
    avg_pool2d_backward,
    max_pool1d,
    max_pool1d_backward,
    avg_pool1d,
    avg_pool1d_backward,
    global_avg_pool,
    global_avg_pool_backward,
    relu6,
    relu6_backward,
    leaky_relu,
    leaky_relu_backward,
    sigmoid,
    sigmoid_backward,
    tanh,
    tanh_backward,
)
from . import _edgetune as _native
from . import checkpoint, int8, nn, weights
from .nn import Conv2d, Dense

__all__ = [
    "EdgetuneError",
    "quantize",
    "dequantize",
    "dense_forward",
    "dense_backward",
    "relu",
    "relu_backward",
    "softmax_cross_entropy",
    "conv2d_forward",
    "conv2d_backward",
    "conv2d_backward_input",
    "conv1d_forward",
    "conv1d_backward",
    "conv1d_backward_input",
    "pointwise_forward",
    "pointwise_backward",
    "pointwise_backward_input",
    "max_pool2d",
    "max_pool2d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "max_pool1d",
    "max_pool1d_backward",
    "avg_pool1d",
    "avg_pool1d_backward",
    "global_avg_pool",
    "global_avg_pool_backward",
    "relu6",
    "relu6_backward",
    "leaky_relu",
    "leaky_relu_backward",
    "sigmoid",
    "sigmoid_backward",
    "tanh",
    "tanh_backward",
    "weights",
    "checkpoint",
    "int8",
    "nn",
    "Dense",
    "Conv2d",
    "DTYPES",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Lion",
]

#: The number types: ``"f32"`` and the fixed-point formats.
DTYPES = ("f32", "I16F16", "I8F24", "I4F12")


def _pair(betas, name="betas"):
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise EdgetuneError(f"invalid hyperparameter `{name}`: must be a pair (beta1, beta2)") from None
    return float(b1), float(b2)


class _Optimizer:
    """What every optimizer offers (the torch-named classes below construct it)."""

    def __init__(self, native, hyperparams):
        self._o = native
        self._hyper = dict(hyperparams)

    def step(self, params, grads):
        """One step: ``params`` (C-contiguous, ``size`` elements, any shape) in place."""
        self._o.step(params, grads)

    @property
    def size(self):
        """The number of parameters."""
        return self._o.size

    @property
    def dtype(self):
        """The number type: ``"f32"``, ``"I16F16"`` or ``"I8F24"``."""
        return self._o.dtype

    @property
    def step_count(self):
        """Steps taken since creation or the last :meth:`reset`."""
        return self._o.step_count

    @property
    def lr(self):
        """The learning rate (settable, validated)."""
        return self._o.lr

    @lr.setter
    def lr(self, value):
        self._o.lr = float(value)
        self._hyper["lr"] = float(value)

    @property
    def hyperparams(self):
        """The keyword arguments this optimizer was made with (``lr`` kept current, and all of
        them after :func:`edgetune.checkpoint.restore`)."""
        return dict(self._hyper)

    def _refresh_hyperparams(self):
        current = self._o.hyperparams()
        for key in self._hyper:
            if key in current:
                self._hyper[key] = current[key]

    @property
    def rounding(self):
        """``("stochastic", generator state)`` or ``("nearest", 0)``; ``None`` for f32."""
        return self._o.rounding

    def set_rounding(self, rounding, seed=0):
        """Fixed point: ``"stochastic"`` (from generator state ``seed``) or ``"nearest"``."""
        self._o.set_rounding(rounding, int(seed))

    def reset(self):
        """Forgets all state, as if just created."""
        self._o.reset()

    def state_dict(self):
        """torch's state names: ``step`` and each buffer as exact float64 values."""
        state = {"step": self._o.step_count}
        state.update(self._o.buffers())
        return state

    def state_bits(self):
        """Each state buffer's raw bits (``uint32``: f32 bits, fixed-point bits or the
        library's 4-byte MiniFloat format), for bit-exact comparisons."""
        return dict(self._o.buffer_bits())

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._hyper.items())
        return f"{type(self).__name__}({self.size}, {args}, dtype={self.dtype!r})"


class SGD(_Optimizer):
    """torch.optim.SGD: plain (``momentum=0``) or with momentum, dampening, Nesterov."""

    def __init__(self, size, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False, dtype="f32", rounding="stochastic", seed=0):
        h = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                 nesterov=nesterov, maximize=maximize)
        if momentum != 0 or nesterov:
            o = _native.momentum(size, dtype, float(lr), float(momentum), float(dampening),
                                 float(weight_decay), bool(nesterov), bool(maximize),
                                 rounding, int(seed))
        else:
            o = _native.sgd(size, dtype, float(lr), float(weight_decay), bool(maximize),
                            rounding, int(seed))
        super().__init__(o, h)


class Adam(_Optimizer):
    """torch.optim.Adam (``decoupled_weight_decay=True`` is AdamW), with ``amsgrad``."""

    def __init__(self, size, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False, dtype="f32",
                 rounding="stochastic", seed=0):
        b1, b2 = _pair(betas)
        h = dict(lr=lr, betas=(b1, b2), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                 maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        o = _native.adam(size, dtype, float(lr), b1, b2, float(eps), float(weight_decay),
                         bool(decoupled_weight_decay), bool(amsgrad), bool(maximize),
                         rounding, int(seed))
        super().__init__(o, h)


class AdamW(_Optimizer):
    """torch.optim.AdamW (decoupled weight decay, default ``1e-2``), with ``amsgrad``."""

    def __init__(self, size, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, dtype="f32", rounding="stochastic", seed=0):
        b1, b2 = _pair(betas)
        h = dict(lr=lr, betas=(b1, b2), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                 maximize=maximize)
        o = _native.adam(size, dtype, float(lr), b1, b2, float(eps), float(weight_decay),
                         True, bool(amsgrad), bool(maximize), rounding, int(seed))
        super().__init__(o, h)
        # A checkpoint restores into it only with AdamW's decoupled weight decay.
        self._requires = {"decoupled_weight_decay": True}


class RMSprop(_Optimizer):
    """torch.optim.RMSprop, with momentum and ``centered``."""

    def __init__(self, size, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, *, maximize=False, dtype="f32", rounding="stochastic", seed=0):
        h = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                 centered=centered, maximize=maximize)
        o = _native.rmsprop(size, dtype, float(lr), float(alpha), float(eps),
                            float(weight_decay), float(momentum), bool(centered),
                            bool(maximize), rounding, int(seed))
        super().__init__(o, h)


class Adagrad(_Optimizer):
    """torch.optim.Adagrad."""

    def __init__(self, size, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, *, maximize=False, dtype="f32",
                 rounding="stochastic", seed=0):
        h = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                 initial_accumulator_value=initial_accumulator_value, eps=eps,
                 maximize=maximize)
        o = _native.adagrad(size, dtype, float(lr), float(lr_decay), float(weight_decay),
                            float(initial_accumulator_value), float(eps), bool(maximize),
                            rounding, int(seed))
        super().__init__(o, h)


class Lion(_Optimizer):
    """Lion (Chen et al. 2023), the authors' reference: defaults ``lr=1e-4, betas=(0.9, 0.99)``."""

    def __init__(self, size, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, *, dtype="f32",
                 rounding="stochastic", seed=0):
        b1, b2 = _pair(betas)
        h = dict(lr=lr, betas=(b1, b2), weight_decay=weight_decay)
        o = _native.lion(size, dtype, float(lr), b1, b2, float(weight_decay), rounding,
                         int(seed))
        super().__init__(o, h)
