"""edgetune.torch: step a PyTorch model with the device's exact update.

:class:`DeviceOptimizer` is a ``torch.optim.Optimizer`` that keeps, for each parameter tensor,
an edgetune optimizer of the tensor's size, and on each ``step()`` applies the device's update:
gradients (and, in fixed point, parameters) are converted to the device's number type, the
library's kernel steps them, and the result is written back into the tensor. So an ordinary
PyTorch training loop (forward, ``loss.backward()``, ``opt.step()``) simulates on-device
fine-tuning, arithmetic included::

    import torch, edgetune.torch
    model = torch.nn.Linear(8, 2)
    opt = edgetune.torch.DeviceOptimizer(model.parameters(), "adam", dtype="I16F16", lr=1e-2)
    for x, y in data:
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()

What is kept where:

- ``dtype="f32"``: the tensor (converted to float32 for the step) is the parameter.
- Fixed point (``"I16F16"``, ``"I8F24"``, ``"I4F12"``): the device's parameter bits are kept in the
  optimizer's state (``state[p]["device_params"]``) and the tensor receives their dequantised
  values (which a float32 tensor may round: I8F24 has 32 significant bits). If the tensor is
  changed outside ``step()`` (loaded, re-initialised), the next step quantises it afresh
  (``edgetune.quantize``: a value outside the format's range is an ``EdgetuneError``).
  Gradients are converted saturating (NaN to the format's ``MAX``), so an unusable gradient is
  refused by the step exactly as on the device.
- A parameter whose ``.grad`` is ``None`` is skipped, as torch does. ``group["lr"]`` is read on
  every step, so learning-rate schedulers work; other hyperparameters are fixed when a
  parameter's device optimizer is made (its first step).
- Any error (invalid hyperparameter, NaN gradient, overflow) raises ``edgetune.EdgetuneError``;
  the tensor that failed and its state are unchanged, but tensors stepped before it in the same
  ``step()`` stay stepped (one device optimizer per tensor).
- ``state_dict()`` holds the edgetune optimizers themselves, which do not pickle: save and
  resume the model, not this optimizer's state.
"""

import inspect

import numpy as np
import torch

import edgetune

__all__ = ["DeviceOptimizer"]

_CLASSES = {
    "sgd": edgetune.SGD,
    "adam": edgetune.Adam,
    "adamw": edgetune.AdamW,
    "rmsprop": edgetune.RMSprop,
    "adagrad": edgetune.Adagrad,
    "lion": edgetune.Lion,
}


class DeviceOptimizer(torch.optim.Optimizer):
    """A torch optimizer whose update is the device's: ``optimizer`` is one of "sgd", "adam",
    "adamw", "rmsprop", "adagrad", "lion"; ``hyperparams`` are torch's keywords for it (and
    may differ per param group); ``dtype`` is "f32", "I16F16", "I8F24" or "I4F12"; fixed point rounds
    stochastically from ``seed`` (a different stream per tensor) or to ``"nearest"``."""

    def __init__(self, params, optimizer="adam", *, dtype="f32", rounding="stochastic", seed=0,
                 **hyperparams):
        try:
            cls = _CLASSES[optimizer.lower()]
        except (KeyError, AttributeError):
            raise edgetune.EdgetuneError(
                f"unknown optimizer {optimizer!r}: expected one of {sorted(_CLASSES)}") from None
        if dtype not in edgetune.DTYPES:
            raise edgetune.EdgetuneError(
                f"unknown dtype {dtype!r}: expected one of {edgetune.DTYPES}")
        signature = inspect.signature(cls.__init__)
        keys = [k for k in signature.parameters
                if k not in ("self", "size", "dtype", "rounding", "seed")]
        unknown = set(hyperparams) - set(keys)
        if unknown:
            raise edgetune.EdgetuneError(
                f"{cls.__name__} has no hyperparameter {sorted(unknown)}; it takes {keys}")
        defaults = {k: signature.parameters[k].default for k in keys}
        defaults.update(hyperparams)
        self._cls = cls
        self._keys = keys
        self._dtype = dtype
        self._rounding = rounding
        self._seed = int(seed)
        self._made = 0
        super().__init__(params, defaults)

    @property
    def dtype(self):
        """The device's number type."""
        return self._dtype

    def _device(self, p, group):
        state = self.state[p]
        opt = state.get("device")
        if opt is None:
            kwargs = {k: group[k] for k in self._keys}
            opt = self._cls(p.numel(), **kwargs, dtype=self._dtype, rounding=self._rounding,
                            seed=(self._seed + 0x9E3779B9 * self._made) % 2**32)
            self._made += 1
            state["device"] = opt
        if opt.lr != group["lr"]:
            opt.lr = group["lr"]
        return opt

    @torch.no_grad()
    def step(self, closure=None):
        """One device step of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                opt = self._device(p, group)
                grad = p.grad.detach().to("cpu", torch.float64).reshape(-1).numpy()
                if self._dtype == "f32":
                    params = p.detach().to("cpu", torch.float32).reshape(-1).numpy().copy()
                    opt.step(params, grad.astype(np.float32))
                    p.copy_(torch.from_numpy(params).view_as(p))
                    continue
                state = self.state[p]
                bits = state.get("device_params")
                current = p.detach().to("cpu", torch.float64).reshape(-1)
                if bits is None or not torch.equal(
                        torch.from_numpy(edgetune.dequantize(bits, self._dtype)).to(p.dtype),
                        current.to(p.dtype)):
                    bits = edgetune.quantize(current.numpy(), self._dtype)
                new = bits.copy()
                opt.step(new, edgetune.quantize(grad, self._dtype, saturate=True))
                state["device_params"] = new
                values = torch.from_numpy(edgetune.dequantize(new, self._dtype))
                p.copy_(values.view_as(p))
        return loss
