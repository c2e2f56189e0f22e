#!/usr/bin/env python3
"""Write the BasicMotions smartwatch data set as `tests/data/basicmotions.bin`.

BasicMotions is a data set of the UEA/UCR time-series classification archive
(timeseriesclassification.com): 80 recordings of a smartwatch's 3-axis accelerometer and 3-axis
gyroscope, 10 Hz for 10 s (100 time steps), 4 activities, split 40 train / 40 test (10 of each
class in each split). The copy read here is the one inside sktime's wheel
(`sktime/datasets/data/BasicMotions/BasicMotions_{TRAIN,TEST}.ts`); source, citation and terms
are in `scripts/README.md`. Standard library only: no sktime, numpy or pandas is imported.

Usage:
    pip download --no-deps sktime==1.2.0 -d /tmp/sktime
    python3 scripts/basicmotions.py --wheel /tmp/sktime/sktime-1.2.0-py3-none-any.whl
    python3 scripts/basicmotions.py --train BasicMotions_TRAIN.ts --test BasicMotions_TEST.ts
    python3 scripts/basicmotions.py --check tests/data/basicmotions.bin   # validate + statistics

Format `ETBM` version 1, all integers and floats little-endian (the Rust reader is the crate
`edgetune-basicmotions`, `examples/basicmotions-data`, whose crate docs hold the same table):

    offset  size           field
    0       4              magic b"ETBM"
    4       2              version, u16 = 1
    6       2              reserved, u16 = 0
    8       4              count, u32 = number of recordings (80)
    12      2404 * count   recordings, each:
                             +0  1     split, u8: 0 = train, 1 = test
                             +1  1     label, u8: 0..=3 (CLASS_NAMES order)
                             +2  2     reserved, u16 = 0
                             +4  2400  100 x 6 values, f32, channels-last (time step major):
                                       t0[acc x, acc y, acc z, gyro x, gyro y, gyro z], t1[...], ...
    12+2404n 4             CRC-32/ISO-HDLC (zlib.crc32) of every byte before it, u32

Every train recording comes before every test recording; within a split, the order is that of
the .ts file. The values are the .ts decimals rounded to the nearest f32, not normalised.

Class order (labels 0..=3) is the order of the `@classLabel` line of the .ts files:
Standing, Running, Walking, Badminton. Channel order is the .ts dimension order, 0..=5; the
files do not name their dimensions. Dimensions 0..=2 are read as the accelerometer and 3..=5 as
the gyroscope, from the data (see scripts/README.md): the gyroscope's per-recording means are
near 0 for every class and one of its values reaches 34.87, the +-2000 deg/s full scale in
rad/s (34.91).
"""

import argparse
import hashlib
import math
import os
import struct
import sys
import zipfile
import zlib

MAGIC = b"ETBM"
VERSION = 1
HEADER = struct.Struct("<4sHHI")
RECORD_HEAD = struct.Struct("<BBH")
STEPS = 100
CHANNELS = 6
VALUES = STEPS * CHANNELS
RECORD = RECORD_HEAD.size + 4 * VALUES
CLASS_NAMES = ("Standing", "Running", "Walking", "Badminton")
CHANNEL_NAMES = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
TRAIN, TEST = 0, 1
SPLIT_NAMES = ("train", "test")
EXPECTED_PER_SPLIT = 40
EXPECTED_PER_CLASS = 10

WHEEL_DIR = "sktime/datasets/data/BasicMotions/"
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "basicmotions.bin")


def parse_ts(text, name):
    """Parse a BasicMotions .ts file: a list of (values[channel][step], label index)."""
    header = {}
    records = []
    in_data = False
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise ValueError(f"{name}:{lineno}: data before @data")
            key, _, rest = line[1:].partition(" ")
            key = key.lower()
            if key == "data":
                in_data = True
            else:
                header[key] = rest.strip()
            continue
        *dims, label = line.split(":")
        if len(dims) != CHANNELS:
            raise ValueError(f"{name}:{lineno}: {len(dims)} dimensions, expected {CHANNELS}")
        if label not in CLASS_NAMES:
            raise ValueError(f"{name}:{lineno}: unknown class {label!r}")
        series = []
        for d in dims:
            values = [float(v) for v in d.split(",")]  # '?' (missing) raises here
            if len(values) != STEPS or not all(math.isfinite(v) for v in values):
                raise ValueError(f"{name}:{lineno}: need {STEPS} finite values per dimension")
            series.append(values)
        records.append((series, CLASS_NAMES.index(label)))
    expected = {
        "problemname": "BasicMotions",
        "timestamps": "false",
        "missing": "false",
        "univariate": "false",
        "dimensions": str(CHANNELS),
        "equallength": "true",
        "serieslength": str(STEPS),
        "classlabel": "true " + " ".join(CLASS_NAMES),
    }
    for key, want in expected.items():
        if header.get(key) != want:
            raise ValueError(f"{name}: header @{key} is {header.get(key)!r}, expected {want!r}")
    return records


def encode(train, test):
    """Encode two lists of (values[channel][step], label) as an ETBM v1 file."""
    out = bytearray(HEADER.pack(MAGIC, VERSION, 0, len(train) + len(test)))
    for split, records in ((TRAIN, train), (TEST, test)):
        for series, label in records:
            out += RECORD_HEAD.pack(split, label, 0)
            # channels-last: for each time step, the 6 channels
            flat = [series[c][t] for t in range(STEPS) for c in range(CHANNELS)]
            out += struct.pack(f"<{VALUES}f", *flat)
    out += struct.pack("<I", zlib.crc32(out))
    return bytes(out)


def decode(data):
    """Parse and fully validate an ETBM v1 file; return a list of (split, label, values[600])."""
    if len(data) < HEADER.size + 4:
        raise ValueError("file shorter than header + CRC")
    magic, version, reserved, count = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise ValueError(f"bad magic {magic!r}")
    if version != VERSION:
        raise ValueError(f"unsupported version {version}")
    if reserved != 0:
        raise ValueError("reserved header field is not 0")
    expected_len = HEADER.size + RECORD * count + 4
    if len(data) != expected_len:
        raise ValueError(f"length {len(data)}, header says {expected_len}")
    (stored,) = struct.unpack_from("<I", data, expected_len - 4)
    computed = zlib.crc32(data[: expected_len - 4])
    if stored != computed:
        raise ValueError(f"CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")
    out = []
    seen_test = False
    for i in range(count):
        at = HEADER.size + RECORD * i
        split, label, res = RECORD_HEAD.unpack_from(data, at)
        values = struct.unpack_from(f"<{VALUES}f", data, at + RECORD_HEAD.size)
        if split not in (TRAIN, TEST) or label >= len(CLASS_NAMES) or res != 0:
            raise ValueError(f"recording {i}: bad split/label/reserved")
        if split == TRAIN and seen_test:
            raise ValueError(f"recording {i}: train recording after a test recording")
        seen_test |= split == TEST
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"recording {i}: non-finite value")
        out.append((split, label, values))
    return out


def stats(records, split):
    """Per-channel (mean, population std, min, max) over every value of one split."""
    rows = []
    for c in range(CHANNELS):
        vals = [r[2][t * CHANNELS + c] for r in records if r[0] == split for t in range(STEPS)]
        n = len(vals)
        mean = math.fsum(vals) / n
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / n)
        rows.append((mean, std, min(vals), max(vals)))
    return rows


def check(path):
    with open(path, "rb") as f:
        data = f.read()
    records = decode(data)
    print(f"{path}: {len(data)} bytes, {len(records)} recordings, CRC ok")
    for split in (TRAIN, TEST):
        counts = tuple(sum(1 for r in records if r[0] == split and r[1] == c) for c in range(len(CLASS_NAMES)))
        print(f"  {SPLIT_NAMES[split]}: {sum(counts)} recordings, per class {dict(zip(CLASS_NAMES, counts))}")
        if counts != (EXPECTED_PER_CLASS,) * len(CLASS_NAMES):
            raise SystemExit(f"unexpected class counts in {SPLIT_NAMES[split]}")
    for split in (TRAIN, TEST):
        print(f"  per-channel statistics, {SPLIT_NAMES[split]} (all {STEPS} steps of every recording; std is population):")
        print(f"    {'channel':8} {'mean':>10} {'std':>10} {'min':>10} {'max':>10}")
        for name, (mean, std, lo, hi) in zip(CHANNEL_NAMES, stats(records, split)):
            print(f"    {name:8} {mean:10.5f} {std:10.5f} {lo:10.4f} {hi:10.4f}")
    return records


def read_sources(args):
    """The two .ts texts, from the wheel or from the paths given."""
    if args.wheel:
        with open(args.wheel, "rb") as f:
            print(f"{args.wheel}: sha256 {hashlib.sha256(f.read()).hexdigest()}")
        with zipfile.ZipFile(args.wheel) as z:
            texts = [z.read(WHEEL_DIR + f"BasicMotions_{s}.ts") for s in ("TRAIN", "TEST")]
    else:
        texts = []
        for p in (args.train, args.test):
            with open(p, "rb") as f:
                texts.append(f.read())
    for s, t in zip(("TRAIN", "TEST"), texts):
        print(f"BasicMotions_{s}.ts: {len(t)} bytes, sha256 {hashlib.sha256(t).hexdigest()}")
    return [t.decode("utf-8") for t in texts]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--wheel", help="sktime wheel (.whl) holding the two .ts files")
    src.add_argument("--train", help="BasicMotions_TRAIN.ts (with --test)")
    src.add_argument("--check", metavar="PATH", help="only validate an existing file and print statistics")
    ap.add_argument("--test", help="BasicMotions_TEST.ts (with --train)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="output path (default tests/data/basicmotions.bin)")
    args = ap.parse_args()

    if args.check:
        check(args.check)
        return
    if args.train and not args.test:
        ap.error("--train needs --test")

    train_text, test_text = read_sources(args)
    train = parse_ts(train_text, "TRAIN")
    test = parse_ts(test_text, "TEST")
    for name, recs in (("TRAIN", train), ("TEST", test)):
        if len(recs) != EXPECTED_PER_SPLIT:
            raise SystemExit(f"{name}: {len(recs)} recordings, expected {EXPECTED_PER_SPLIT}")
    data = encode(train, test)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "wb") as f:
        f.write(data)
    back = check(args.out)
    # Round trip: every value is the .ts decimal rounded to f32.
    source = [(TRAIN, s, l) for s, l in train] + [(TEST, s, l) for s, l in test]
    for i, ((split, series, label), (bsplit, blabel, values)) in enumerate(zip(source, back)):
        want = struct.unpack(f"<{VALUES}f", struct.pack(f"<{VALUES}f", *(series[c][t] for t in range(STEPS) for c in range(CHANNELS))))
        if (split, label, want) != (bsplit, blabel, values):
            raise SystemExit(f"recording {i}: round trip through the file changed the data")


if __name__ == "__main__":
    sys.exit(main())
