"""The edgetune weight file (`.etw`, format `ETWF` version 1): writer, reader and `--check`.

Shared by `export_weights.py` (MLPs) and `export_model.py` (CNNs); needs only the standard
library, so `--check` runs without torch. The Rust reader is `edgetune::io::weights`, whose
module docs hold the same tables. All integers little-endian:

    offset        size   field
    0             4      magic b"ETWF"
    4             2      version, u16 = 1
    6             1      number type, u8: 1 = f32, 2 = I16F16 (raw i32), 3 = I8F24 (raw i32)
    7             1      reserved, u8 = 0
    8             2      layer count L, u16
    10            2      reserved, u16 = 0
    12            4      payload length P in bytes, u32
    16            12*L   per layer: kind u16 (1 = dense), reserved u16 = 0, inputs u32, outputs u32
    16+12L        P      payload: per layer W [out][in] then b [out], 4 bytes per element
    16+12L+P      4      CRC-32/ISO-HDLC (zlib.crc32) of every byte before it, u32

Every layer is an `(inputs, outputs)` entry of kind 1 holding `inputs*outputs + outputs`
elements; a convolution or batch-norm layer of a `cnn!` network uses the same entry with the
sizes given in CNN-CONTRACT.md (conv: `(KH*KW*C_in/G, C_out)`, batch norm: `(1, C)`).
"""

import struct
import zlib

MAGIC = b"ETWF"
VERSION = 1
HEADER = struct.Struct("<4sHBBHHI")
LAYER = struct.Struct("<HHII")
KIND_DENSE = 1
NUMBER_TYPES = {"f32": 1, "i16f16": 2, "i8f24": 3}
FRAC_BITS = {"i16f16": 16, "i8f24": 24}


def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def to_fixed(values, number_type):
    """Raw i32 bits, round to nearest with ties to even; out of range is an error."""
    frac = FRAC_BITS[number_type]
    raw = []
    for v in values:
        r = round(v * (1 << frac))  # Python's round() is ties-to-even on exact floats
        if not -(1 << 31) <= r < (1 << 31):
            raise SystemExit(f"value {v} is out of range for {number_type}")
        raw.append(r)
    return raw


def encode(shapes, values, number_type="f32"):
    """An ETWF v1 file for `shapes` [(in, out)] and the flat arena `values`."""
    n = sum(i * o + o for i, o in shapes)
    if len(values) != n:
        raise ValueError(f"{len(values)} values for shapes that need {n}")
    if number_type == "f32":
        payload = struct.pack(f"<{n}f", *values)
    else:
        payload = struct.pack(f"<{n}i", *to_fixed(values, number_type))
    out = bytearray(HEADER.pack(MAGIC, VERSION, NUMBER_TYPES[number_type], 0, len(shapes), 0, len(payload)))
    for i, o in shapes:
        out += LAYER.pack(KIND_DENSE, 0, i, o)
    out += payload
    out += struct.pack("<I", zlib.crc32(out))
    return bytes(out)


def decode(data):
    """Parse and fully validate an ETWF v1 file; return (number type name, shapes, raw words)."""
    if len(data) < HEADER.size + 4:
        raise ValueError("shorter than a header")
    magic, version, code, res1, n_layers, res2, plen = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise ValueError(f"bad magic {magic!r}")
    if version != VERSION:
        raise ValueError(f"unsupported version {version}")
    total = HEADER.size + LAYER.size * n_layers + plen + 4
    if len(data) != total:
        raise ValueError(f"length {len(data)}, header says {total}")
    (stored,) = struct.unpack_from("<I", data, total - 4)
    if stored != zlib.crc32(data[: total - 4]):
        raise ValueError("CRC mismatch")
    names = {v: k for k, v in NUMBER_TYPES.items()}
    if code not in names:
        raise ValueError(f"unknown number type {code}")
    if res1 or res2:
        raise ValueError("reserved header field not zero")
    shapes = []
    for k in range(n_layers):
        kind, res, i, o = LAYER.unpack_from(data, HEADER.size + LAYER.size * k)
        if kind != KIND_DENSE or res:
            raise ValueError(f"layer {k}: kind {kind}, reserved {res}")
        shapes.append((i, o))
    n = sum(i * o + o for i, o in shapes)
    if plen != 4 * n:
        raise ValueError(f"payload {plen} bytes, shapes need {4 * n}")
    fmt = "f" if names[code] == "f32" else "i"
    words = struct.unpack_from(f"<{n}{fmt}", data, HEADER.size + LAYER.size * n_layers)
    return names[code], shapes, list(words)


def check(path):
    """Decode and validate the file at `path`, print a one-line summary, return `decode`'s tuple."""
    with open(path, "rb") as f:
        data = f.read()
    number_type, shapes, words = decode(data)
    print(f"{path}: {len(data)} bytes, {number_type}, layers (in, out) {shapes}, {len(words)} parameters, CRC ok")
    return number_type, shapes, words


def write_checked(path, shapes, values, number_type="f32"):
    """Write the file, decode it back with `check` and compare every value bit for bit."""
    data = encode(shapes, values, number_type)
    with open(path, "wb") as f:
        f.write(data)
    back_type, back_shapes, words = check(path)
    expected = values if number_type == "f32" else to_fixed(values, number_type)
    if back_type == "f32":
        same = [f32_bits(a) == f32_bits(b) for a, b in zip(words, expected)]
    else:
        same = [a == b for a, b in zip(words, expected)]
    if back_shapes != list(shapes) or len(words) != len(expected) or not all(same):
        raise SystemExit(f"self-check failed: {path} does not decode to the model's values")
    return data
