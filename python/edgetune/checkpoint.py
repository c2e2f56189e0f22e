"""The device's checkpoints (the Rust library's ``checkpoint::Store``) from Python.

A device keeps its training state in two flash slots of ``slot_size`` bytes each: the
parameters, the optimizer (configuration, step count, rounding state, every moment buffer) and
a :class:`Progress`. :func:`save` and :func:`restore` run the library's own ``Store`` over an
in-memory image of that region, so

- an image :func:`save` returns is what the device's ``Store::save`` would leave in its flash
  (flash it, and the device's ``Store::restore`` resumes from it bit for bit);
- :func:`restore` reads a region dumped from a device with the device's own validation: the
  newest complete slot, its CRC-32, the format version, every part's kind, number type and size
  against the destinations, every stored value. On any error it raises
  :class:`~edgetune.EdgetuneError` with the library's message and changes nothing.

``write_size`` is the flash's write unit (``NorFlash::WRITE_SIZE``), a power of two from 1 to
128: it decides where the CRC sits. The destinations of :func:`restore` must be of the saved
kind: the same optimizer class and variant (AMSGrad, centered, RMSprop momentum), dtype and
size; its hyperparameters are replaced by the record's.

>>> import numpy as np, edgetune
>>> from edgetune import checkpoint
>>> p = np.array([0.5, -0.25, 1.0], np.float32)
>>> opt = edgetune.Adam(3, lr=1e-2)
>>> opt.step(p, np.array([0.1, -0.2, 0.3], np.float32))
>>> image = checkpoint.save(p, opt, checkpoint.Progress(epoch=1, step=1), slot_size=1024)
>>> q, opt2 = np.zeros(3, np.float32), edgetune.Adam(3, lr=1.0)
>>> checkpoint.restore(image, q, opt2, slot_size=1024).progress.step
1
>>> bool((q == p).all()), opt2.lr, opt2.step_count
(True, 0.01, 1)
"""

from typing import NamedTuple, Tuple

from ._edgetune import checkpoint_restore as _restore
from ._edgetune import checkpoint_save as _save

__all__ = ["Progress", "Restored", "save", "restore"]


class Progress(NamedTuple):
    """Where a run stands: the schedule's epoch, a step count and four application words."""

    epoch: int = 0
    step: int = 0
    user: Tuple[int, int, int, int] = (0, 0, 0, 0)


class Restored(NamedTuple):
    """What :func:`restore` read: the slot (0 or 1), its sequence number and the progress."""

    slot: int
    sequence: int
    progress: Progress


def _native(optimizer):
    return None if optimizer is None else optimizer._o


def save(params, optimizer=None, progress=Progress(), *, slot_size, write_size=4, image=None,
         dtype=None):
    """The checkpoint region (``bytes``, two slots) after saving ``params``, ``optimizer``
    (or none) and ``progress`` into ``image`` (a region's bytes; an erased region when
    ``None``), into the slot that does not hold its newest checkpoint.

    ``params`` is the arena as :meth:`step` takes it (``float32``, or raw bits); without an
    optimizer, ``dtype`` names its number type.
    """
    progress = Progress(*progress)
    region, _, _ = _save(params, _native(optimizer), int(progress.epoch), int(progress.step),
                         tuple(int(w) for w in progress.user), slot_size=int(slot_size),
                         write_size=int(write_size),
                         image=None if image is None else bytes(image), dtype=dtype)
    return region


def restore(image, params, optimizer=None, *, slot_size, write_size=4, dtype=None):
    """Restores the newest valid checkpoint of ``image`` into ``params`` (in place) and
    ``optimizer`` (its whole state, hyperparameters included); returns :class:`Restored`."""
    slot, sequence, epoch, step, user = _restore(bytes(image), params, _native(optimizer),
                                                 slot_size=int(slot_size),
                                                 write_size=int(write_size), dtype=dtype,
                                                 require=getattr(optimizer, "_requires", None))
    if optimizer is not None:
        optimizer._refresh_hyperparams()
    return Restored(slot, sequence, Progress(epoch, step, tuple(user)))
