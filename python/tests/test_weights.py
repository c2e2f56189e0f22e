"""The weight file from Python: the bytes the library's writer writes (fixture from the static
Rust path), the committed PyTorch exporter's file decoded and re-encoded byte for byte, the
layout checked against an independent numpy/zlib reading of the documented format, and damage
reported with the library's messages."""

import json
import pathlib
import struct
import zlib

import numpy as np
import pytest

import edgetune
from edgetune import weights

HERE = pathlib.Path(__file__).parent
DATA = json.loads((HERE / "data" / "expect.json").read_text())
ETW = (HERE.parent.parent / "tests" / "data" / "mlp-64-32-10.etw").read_bytes()


def read_layout(data):
    """An independent reader of the documented layout (numpy + zlib, no edgetune)."""
    magic, version, code, _, layers, _, payload = struct.unpack_from("<4sHBBHHI", data, 0)
    assert magic == b"ETWF" and version == 1
    table = [struct.unpack_from("<HHII", data, 16 + 12 * k) for k in range(layers)]
    start = 16 + 12 * layers
    words = np.frombuffer(data, "<u4", count=payload // 4, offset=start)
    (crc,) = struct.unpack_from("<I", data, start + payload)
    assert crc == zlib.crc32(data[: start + payload])
    assert len(data) == start + payload + 4
    return code, [(i, o) for _, _, i, o in table], words


def test_fixture_file_from_the_rust_writer_decodes_and_reencodes_bit_for_bit():
    wf = DATA["weight_file"]
    data = bytes.fromhex(wf["hex"])
    dtype, layers = weights.decode_with_dtype(data)
    assert dtype == "I16F16"
    flat = np.concatenate([np.concatenate([w.ravel(), b]) for w, b in layers])
    assert flat.tolist() == wf["raw"]
    assert [tuple(w.shape[::-1]) for w, _ in layers] == [tuple(s) for s in wf["shapes"]]
    assert weights.encode(layers, "I16F16") == data
    code, shapes, words = read_layout(data)
    assert code == 2 and words.view(np.int32).tolist() == wf["raw"]


def test_pytorch_exporters_file_round_trips_byte_for_byte():
    code, shapes, words = read_layout(ETW)
    dtype, layers = weights.decode_with_dtype(ETW)
    assert dtype == "f32" and code == 1 and shapes == [(64, 32), (32, 10)]
    flat = np.concatenate([np.concatenate([w.ravel(), b]) for w, b in layers])
    assert flat.view(np.uint32).tolist() == words.tolist()
    assert weights.encode(layers) == ETW
    assert weights.encoded_len(shapes) == len(ETW) == 9684


@pytest.mark.parametrize("dtype", [d for d in edgetune.DTYPES if d != "I4F12"])  # the format has no 16-bit type
def test_encode_matches_the_documented_layout(dtype):
    rng = np.random.default_rng(7)
    shapes = [(5, 3), (3, 2), (2, 1)]
    layers = []
    for i, o in shapes:
        w, b = rng.uniform(-2, 2, (o, i)), rng.uniform(-1, 1, o)
        if dtype == "f32":
            layers.append((w.astype(np.float32), b.astype(np.float32)))
        else:
            layers.append((edgetune.quantize(w, dtype), edgetune.quantize(b, dtype)))
    data = weights.encode(layers, dtype)
    code, got_shapes, words = read_layout(data)
    assert code == {"f32": 1, "I16F16": 2, "I8F24": 3}[dtype] and got_shapes == shapes
    flat = np.concatenate([np.concatenate([w.ravel(), b]) for w, b in layers])
    assert words.tolist() == flat.view(np.uint32).tolist()
    back = weights.decode(data)
    for (w, b), (w2, b2) in zip(layers, back):
        assert w2.dtype == w.dtype and w2.tobytes() == w.tobytes() and b2.tobytes() == b.tobytes()


def test_damage_and_misuse_raise_the_librarys_errors():
    with pytest.raises(edgetune.EdgetuneError, match="CRC"):
        weights.decode(ETW[:100] + bytes([ETW[100] ^ 1]) + ETW[101:])
    with pytest.raises(edgetune.EdgetuneError, match="magic"):
        weights.decode(b"XXXX" + ETW[4:])
    with pytest.raises(edgetune.EdgetuneError):
        weights.decode(ETW[:-1])
    with pytest.raises(edgetune.EdgetuneError):
        weights.decode(b"")
    with pytest.raises(edgetune.EdgetuneError):
        weights.encode([(np.ones((2, 3), np.float32), np.ones(3, np.float32))])
    with pytest.raises(edgetune.EdgetuneError, match="int32"):
        weights.encode([(np.ones((2, 3), np.float32), np.ones(2, np.float32))], "I8F24")
