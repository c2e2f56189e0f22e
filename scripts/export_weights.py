#!/usr/bin/env python3
"""Export a PyTorch MLP's weights as an edgetune weight file (.etw) and/or Rust source.

The model is an `nn.Sequential` of `nn.Linear` layers (with bias) and parameter-free
activations; its `state_dict` holds `<i>.weight` [out, in] and `<i>.bias` [out] per Linear, in
order. Both outputs hold the same flat parameter arena: per layer W row-major [out][in], then b.

Usage:
    python3 scripts/export_weights.py MODEL.pt --out NAME.etw --rust NAME.rs
    python3 scripts/export_weights.py --demo --out tests/data/mlp-64-32-10.etw \\
        --rust tests/data/mlp-64-32-10.rs           # seeded random 64-32-10 MLP
    python3 scripts/export_weights.py --check NAME.etw   # decode and summarize; no torch

MODEL.pt is a file written by `torch.save(model.state_dict(), path)` (a dict under the key
`state_dict` or `model_state_dict` is accepted too). It is read with `weights_only=True`, so
no pickled code runs.

`--number-type i16f16|i8f24` writes the raw i32 bits of the fixed-point values (round to
nearest, ties to even; a value out of range is an error) and Rust `WEIGHTS_RAW: [i32; N]`.

Format `ETWF` version 1, all integers little-endian (the Rust reader is
`edgetune::io::weights`, whose module docs hold the same tables):

    offset        size   field
    0             4      magic b"ETWF"
    4             2      version, u16 = 1
    6             1      number type, u8: 1 = f32, 2 = I16F16 (raw i32), 3 = I8F24 (raw i32)
    7             1      reserved, u8 = 0
    8             2      layer count L, u16
    10            2      reserved, u16 = 0
    12            4      payload length P in bytes, u32
    16            12*L   per layer: kind u16 (1 = dense), reserved u16 = 0, inputs u32, outputs u32
    16+12L        P      payload: per dense layer W [out][in] then b [out], 4 bytes per element
    16+12L+P      4      CRC-32/ISO-HDLC (zlib.crc32) of every byte before it, u32
"""

import argparse
import os
import re
import struct
import sys
import zlib

MAGIC = b"ETWF"
VERSION = 1
HEADER = struct.Struct("<4sHBBHHI")
LAYER = struct.Struct("<HHII")
KIND_DENSE = 1
NUMBER_TYPES = {"f32": 1, "i16f16": 2, "i8f24": 3}
FRAC_BITS = {"i16f16": 16, "i8f24": 24}
DEMO_SEED = 20261129
DEMO_SIZES = (64, 32, 10)


def layers_from_state_dict(state):
    """[(weight [out][in] as nested lists of float32-exact floats, bias [out])] in model order."""
    import torch

    keys = list(state.keys())
    layers = []
    i = 0
    while i < len(keys):
        key = keys[i]
        if not key.endswith(".weight"):
            raise SystemExit(f"unsupported state_dict entry {key!r}: only nn.Linear layers (weight then bias)")
        prefix = key[: -len(".weight")]
        bias_key = prefix + ".bias"
        if i + 1 >= len(keys) or keys[i + 1] != bias_key:
            raise SystemExit(f"layer {prefix!r} has no bias right after its weight; edgetune's dense layers need one")
        w = state[key].detach().to(torch.float32).cpu()
        b = state[bias_key].detach().to(torch.float32).cpu()
        if w.dim() != 2 or b.dim() != 1 or b.shape[0] != w.shape[0]:
            raise SystemExit(f"layer {prefix!r}: weight {tuple(w.shape)} / bias {tuple(b.shape)} is not nn.Linear")
        if not (torch.isfinite(w).all() and torch.isfinite(b).all()):
            raise SystemExit(f"layer {prefix!r} has NaN or infinite values")
        layers.append((w.tolist(), b.tolist()))
        i += 2
    for k in range(1, len(layers)):
        out_prev = len(layers[k - 1][1])
        in_next = len(layers[k][0][0])
        if out_prev != in_next:
            raise SystemExit(f"layer {k - 1} has {out_prev} outputs but layer {k} has {in_next} inputs")
    if not layers:
        raise SystemExit("state_dict holds no layers")
    return layers


def shapes_of(layers):
    return [(len(w[0]), len(w)) for w, _ in layers]


def flat_values(layers):
    """The flat arena: per layer W row by row, then b."""
    out = []
    for w, b in layers:
        for row in w:
            out.extend(row)
        out.extend(b)
    return out


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


def rust_f32_literal(x):
    """The shortest decimal that parses back to the f32 `x`, as a Rust f32 literal."""
    bits = f32_bits(x)
    for digits in range(1, 10):
        s = f"{x:.{digits}g}"
        if f32_bits(float(s)) == bits:
            break
    else:  # pragma: no cover - 9 significant digits always round-trip a binary32
        raise AssertionError(x)
    mantissa, _, exp = s.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{int(exp)}" if exp else mantissa


def rust_source(shapes, values, number_type, source, command):
    n = len(values)
    lines = [
        f"// @generated by scripts/export_weights.py from {source}; do not edit.",
        f"// Regenerate: {command}",
        "",
        "/// Layer shapes `(inputs, outputs)`, in order.",
        f"pub const SHAPES: [(usize, usize); {len(shapes)}] = [{', '.join(f'({i}, {o})' for i, o in shapes)}];",
        "/// Parameter count: the sum over layers of `inputs * outputs + outputs`.",
        f"pub const WEIGHTS_LEN: usize = {n};",
    ]
    if number_type == "f32":
        lines += [
            "/// The parameters as one flat arena: per layer `W` row-major `[out][in]`, then `b`.",
            "#[allow(clippy::approx_constant, clippy::excessive_precision)]",
            "pub const WEIGHTS: [f32; WEIGHTS_LEN] = [",
        ]
        items = [rust_f32_literal(v) for v in values]
    else:
        lines += [
            f"/// The parameters' raw {number_type.upper()} bits as one flat arena: per layer `W` "
            "row-major `[out][in]`, then `b`.",
            "pub const WEIGHTS_RAW: [i32; WEIGHTS_LEN] = [",
        ]
        items = [str(r) for r in to_fixed(values, number_type)]
    for k in range(0, len(items), 8):
        lines.append("    " + ", ".join(items[k : k + 8]) + ",")
    lines.append("];")
    return "\n".join(lines) + "\n"


def parse_rust_values(text):
    """The numbers of the WEIGHTS/WEIGHTS_RAW array of generated source (for the self-check)."""
    body = text.split("; WEIGHTS_LEN] = [", 1)[1].split("];", 1)[0]
    return [float(tok) if ("." in tok or "e" in tok) else int(tok) for tok in re.findall(r"-?[0-9][0-9.e+-]*", body)]


def demo_state_dict(seed):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    sizes = DEMO_SIZES
    model = nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.ReLU(), nn.Linear(sizes[1], sizes[2]))
    return model.state_dict()


def load_state_dict(path):
    import torch

    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(hasattr(v, "shape") for v in obj.values()):
        raise SystemExit(f"{path}: not a state_dict (save model.state_dict())")
    return obj


def check(path):
    with open(path, "rb") as f:
        data = f.read()
    number_type, shapes, words = decode(data)
    print(f"{path}: {len(data)} bytes, {number_type}, layers (in, out) {shapes}, {len(words)} parameters, CRC ok")
    return number_type, shapes, words


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", nargs="?", help="state_dict saved with torch.save")
    ap.add_argument("--demo", action="store_true", help=f"export a seeded random {'-'.join(map(str, DEMO_SIZES))} MLP")
    ap.add_argument("--seed", type=int, default=DEMO_SEED, help="seed of --demo (default %(default)s)")
    ap.add_argument("--save-model", metavar="PATH", help="with --demo: also torch.save the demo state_dict")
    ap.add_argument("--out", metavar="NAME.etw", help="write the weight file here")
    ap.add_argument("--rust", metavar="NAME.rs", help="write Rust source with const arrays here")
    ap.add_argument("--number-type", choices=sorted(NUMBER_TYPES), default="f32")
    ap.add_argument("--check", metavar="NAME.etw", help="only decode and validate a weight file (no torch)")
    args = ap.parse_args()

    if args.check:
        check(args.check)
        return 0
    if args.demo == bool(args.model):
        ap.error("give exactly one of MODEL.pt and --demo")
    if not (args.out or args.rust):
        ap.error("nothing to write: give --out and/or --rust")

    if args.demo:
        state = demo_state_dict(args.seed)
        if args.save_model:
            import torch

            torch.save(state, args.save_model)
        source = f"the --demo {'-'.join(map(str, DEMO_SIZES))} MLP (torch.manual_seed({args.seed}), default nn.Linear init)"
    else:
        state = load_state_dict(args.model)
        source = os.path.basename(args.model)
    layers = layers_from_state_dict(state)
    shapes = shapes_of(layers)
    values = flat_values(layers)

    command = "python3 scripts/export_weights.py " + " ".join(
        (["--demo", "--seed", str(args.seed)] if args.demo else [source])
        + (["--number-type", args.number_type] if args.number_type != "f32" else [])
        + (["--out", args.out] if args.out else [])
        + (["--rust", args.rust] if args.rust else [])
    )

    if args.out:
        data = encode(shapes, values, args.number_type)
        with open(args.out, "wb") as f:
            f.write(data)
        number_type, back_shapes, words = check(args.out)
        expected = values if args.number_type == "f32" else to_fixed(values, args.number_type)
        same = [f32_bits(a) == f32_bits(b) for a, b in zip(words, expected)] if number_type == "f32" else [
            a == b for a, b in zip(words, expected)
        ]
        if back_shapes != shapes or len(words) != len(expected) or not all(same):
            raise SystemExit("self-check failed: the weight file does not decode to the model's values")
    if args.rust:
        text = rust_source(shapes, values, args.number_type, source, command)
        with open(args.rust, "w") as f:
            f.write(text)
        back = parse_rust_values(text)
        if args.number_type == "f32":
            ok = len(back) == len(values) and all(f32_bits(a) == f32_bits(b) for a, b in zip(back, values))
        else:
            ok = back == to_fixed(values, args.number_type)
        if not ok:
            raise SystemExit("self-check failed: the Rust literals do not parse back to the model's values")
        print(f"{args.rust}: {len(text)} bytes, {len(values)} {args.number_type} values, literals round-trip")
    return 0


if __name__ == "__main__":
    sys.exit(main())
