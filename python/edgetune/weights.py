"""The device's weight file (``.etw``, the Rust library's ``io::weights``) from Python.

:func:`encode` writes dense layers with the library's writer and :func:`decode` reads a file
with the library's ``parse`` (magic, version, length, CRC-32, every field checked), so the bytes
are exactly what a device stores in flash and what it would send over its radio: a device's
update and an update computed here are interchangeable.

Layers are ``(w, b)`` pairs in torch's ``Linear`` layout: ``w`` of shape ``(out, in)``, ``b`` of
shape ``(out,)``; ``float32`` arrays for ``"f32"``, ``int32`` raw bits for ``"I16F16"`` and
``"I8F24"`` (see :func:`edgetune.quantize`). The file is ``16 + 12·L + 4·P + 4`` bytes for ``L``
layers of ``P`` parameters in total.

>>> import numpy as np
>>> from edgetune import weights
>>> w, b = np.ones((2, 3), np.float32), np.zeros(2, np.float32)
>>> data = weights.encode([(w, b)])
>>> len(data), weights.decode(data)[0][0].shape
(64, (2, 3))
"""

import numpy as np

from ._edgetune import weights_decode as _decode
from ._edgetune import weights_encode as _encode

__all__ = ["encode", "decode", "decode_with_dtype", "encoded_len"]


def encode(layers, dtype="f32"):
    """The weight file (``bytes``) of ``layers``, a sequence of ``(w, b)`` pairs, in ``dtype``."""
    return _encode([(np.ascontiguousarray(w), np.ascontiguousarray(b)) for w, b in layers], dtype)


def decode_with_dtype(data):
    """``(dtype, [(w, b), ...])`` from a weight file; raises ``EdgetuneError`` on any damage."""
    dtype, layers = _decode(bytes(data))
    return dtype, layers


def decode(data):
    """``[(w, b), ...]`` from a weight file (arrays as :func:`encode` takes them)."""
    return decode_with_dtype(data)[1]


def encoded_len(shapes):
    """The file length in bytes for dense layers of ``shapes``, each ``(in, out)``."""
    return 16 + 12 * len(shapes) + 4 * sum(i * o + o for i, o in shapes) + 4
