#!/usr/bin/env python3
"""Write scikit-learn's 8x8 handwritten digits as `tests/data/digits.bin`.

The data is the copy of the UCI "Optical Recognition of Handwritten Digits" test set that ships
inside scikit-learn (`sklearn.datasets.load_digits`, read from the installed package, no
download): 1,797 samples, 64 pixels each with integer values 0..=16, labels 0..=9.

Usage:
    python3 scripts/digits.py [--out tests/data/digits.bin]
    python3 scripts/digits.py --check tests/data/digits.bin   # verify only; no scikit-learn

Format `ETDG` version 1, all integers little-endian (the Rust reader is the crate `edgetune-digits`, `examples/digits-data`,
whose module docs hold the same table):

    offset  size        field
    0       4           magic b"ETDG"
    4       2           version, u16 = 1
    6       2           reserved, u16 = 0
    8       4           count, u32 = number of samples
    12      65 * count  samples: 64 pixel bytes (row-major 8x8, each 0..=16), then 1 label byte (0..=9)
    12+65n  4           CRC-32/ISO-HDLC (zlib.crc32) of every byte before it, u32

Pixels are one byte each: 0..=16 is 17 values, one too many for a 4-bit packing.
"""

import argparse
import os
import struct
import sys
import zlib

MAGIC = b"ETDG"
VERSION = 1
HEADER = struct.Struct("<4sHHI")
PIXELS = 64
RECORD = PIXELS + 1
# Per-class counts of sklearn's copy (its DESCR / load_digits), labels 0..9.
EXPECTED_COUNTS = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "digits.bin")


def encode(pixels, labels):
    """Encode `pixels` (n x 64 ints 0..=16) and `labels` (n ints 0..=9) as an ETDG v1 file."""
    if len(pixels) != len(labels):
        raise ValueError("pixels and labels differ in length")
    out = bytearray(HEADER.pack(MAGIC, VERSION, 0, len(labels)))
    for i, (row, label) in enumerate(zip(pixels, labels)):
        row = [int(v) for v in row]
        if len(row) != PIXELS or any(v < 0 or v > 16 for v in row):
            raise ValueError(f"sample {i}: need 64 pixels in 0..=16")
        if not 0 <= int(label) <= 9:
            raise ValueError(f"sample {i}: label {label} outside 0..=9")
        out += bytes(row)
        out.append(int(label))
    out += struct.pack("<I", zlib.crc32(out))
    return bytes(out)


def decode(data):
    """Parse and fully validate an ETDG v1 file; return (pixels, labels) as lists."""
    if len(data) < HEADER.size + 4:
        raise ValueError("file shorter than header + CRC")
    magic, version, reserved, count = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise ValueError(f"bad magic {magic!r}")
    if version != VERSION:
        raise ValueError(f"unsupported version {version}")
    if reserved != 0:
        raise ValueError("reserved field is not 0")
    expected_len = HEADER.size + RECORD * count + 4
    if len(data) != expected_len:
        raise ValueError(f"length {len(data)}, header says {expected_len}")
    (stored,) = struct.unpack_from("<I", data, expected_len - 4)
    computed = zlib.crc32(data[: expected_len - 4])
    if stored != computed:
        raise ValueError(f"CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")
    pixels, labels = [], []
    for i in range(count):
        rec = data[HEADER.size + RECORD * i : HEADER.size + RECORD * (i + 1)]
        if max(rec[:PIXELS]) > 16 or rec[PIXELS] > 9:
            raise ValueError(f"sample {i} out of range")
        pixels.append(list(rec[:PIXELS]))
        labels.append(rec[PIXELS])
    return pixels, labels


def check(path):
    with open(path, "rb") as f:
        data = f.read()
    pixels, labels = decode(data)
    counts = tuple(labels.count(c) for c in range(10))
    print(f"{path}: {len(data)} bytes, {len(labels)} samples, class counts {counts}, CRC ok")
    if len(labels) != 1797 or counts != EXPECTED_COUNTS:
        raise SystemExit(f"unexpected samples/counts; expected 1797 and {EXPECTED_COUNTS}")
    return pixels, labels


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="output path (default tests/data/digits.bin)")
    ap.add_argument("--check", metavar="PATH", help="only validate an existing file")
    args = ap.parse_args()

    if args.check:
        check(args.check)
        return

    from sklearn.datasets import load_digits  # only needed to write

    digits = load_digits()
    pixels = digits.data.astype(int).tolist()
    if (digits.data != digits.data.astype(int)).any():
        raise SystemExit("sklearn's digits are not integers; format assumption broken")
    labels = digits.target.astype(int).tolist()
    data = encode(pixels, labels)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "wb") as f:
        f.write(data)
    back_pixels, back_labels = check(args.out)
    if back_pixels != pixels or back_labels != labels:
        raise SystemExit("round trip through the file changed the data")


if __name__ == "__main__":
    sys.exit(main())
