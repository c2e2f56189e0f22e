#!/usr/bin/env python3
"""The README's instruction-count tables, rendered from boards/baseline.toml.

    readme-figures.py [--check | --write] [README] [BASELINE]

Each table sits between `<!-- figures: NAME -->` and `<!-- /figures -->` in the README; this
script renders every such block from the baseline that the QEMU gate (scripts/embedded.sh)
holds, so the README cannot drift from the measured figures. `--check` (the default; CI runs
it) exits 1 and prints a diff when a block differs from its rendering; `--write` rewrites the
blocks in place. Standard library only (tomllib on Python >= 3.11, else a reader of the
subset boards/report.py writes).
"""
import difflib
import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    tomllib = None

ROOT = Path(__file__).resolve().parent.parent
AIFES_INSTRUCTIONS = 2_929_400  # AIfES 2.2's published Adam step, 64-32-10, Cortex-M4F.

OPTIMIZERS = [
    ("SGD", "Sgd"),
    ("Momentum", "Momentum"),
    ("Adam", "Adam"),
    ("RMSprop", "RmsProp"),
    ("Adagrad", "Adagrad"),
    ("Lion", "Lion"),
]
# (column heading, board key, number type) of the optimizer table.
OPTIMIZER_COLUMNS = [
    ("M0 `f32` (soft float)", "qemu-cortex-m0", "f32"),
    ("M0 `I16F16`", "qemu-cortex-m0", "I16F16"),
    ("M3 `f32` (soft float)", "qemu-cortex-m3", "f32"),
    ("M3 `I16F16`", "qemu-cortex-m3", "I16F16"),
    ("M4F `f32`", "qemu-cortex-m4", "f32"),
    ("M4F `f32` nightly", "qemu-cortex-m4-nightly", "f32"),
    ("M4F `f32` `arm-vsqrt`", "qemu-cortex-m4-vsqrt", "f32"),
    ("M4F `f32` `arm-vldm`", "qemu-cortex-m4-vldm", "f32"),
    ("M4F `f32` `arm-vldm` + `arm-vsqrt`", "qemu-cortex-m4-vldm-vsqrt", "f32"),
    ("M4F `I16F16`", "qemu-cortex-m4", "I16F16"),
]
CONV_ROWS = [
    ("conv1d 50 × 6 → 8, k 5: forward", "Conv1dFwd", "50x6->8 k5 same"),
    ("conv1d: backward", "Conv1dBwd", "50x6->8 k5 same"),
    ("conv2d 8 × 8 × 4 → 8, 3 × 3: forward", "Conv2dFwd", "8x8x4->8 k3 same"),
    ("conv2d: backward", "Conv2dBwd", "8x8x4->8 k3 same"),
    ("depthwise conv2d 8 × 8 × 8, 3 × 3: forward", "DwConv2dFwd", "8x8x8 k3 same"),
    ("depthwise conv2d: backward", "DwConv2dBwd", "8x8x8 k3 same"),
]
CONV_COLUMNS = [
    ("M0 `f32`", "qemu-cortex-m0", "f32"),
    ("M0 `I16F16`", "qemu-cortex-m0", "I16F16"),
    ("M3 `f32`", "qemu-cortex-m3", "f32"),
    ("M3 `I16F16`", "qemu-cortex-m3", "I16F16"),
    ("M4F `f32`", "qemu-cortex-m4", "f32"),
    ("M4F `f32` `arm-vldm`", "qemu-cortex-m4-vldm", "f32"),
    ("M4F `I16F16`", "qemu-cortex-m4", "I16F16"),
]


class Baseline:
    """Step-2 figures by board."""

    def __init__(self, path):
        if tomllib is not None:
            with open(path, "rb") as f:
                data = tomllib.load(f)
            self.rows = {board: table.get("step2", {}) for board, table in data.items()}
        else:
            self.rows = read_step2(Path(path).read_text())

    def get(self, board, row):
        try:
            return self.rows[board][row]
        except KeyError:
            raise SystemExit(f"readme-figures: {path_hint(board, row)} is not in the baseline")

    def optimizer(self, board, name, ty):
        """The row of `name` in `ty`: N = 1024, or 512 where the board only fits that."""
        rows = self.rows.get(board, {})
        for n in (1024, 512):
            key = f"{name}<{ty}, {n}>"
            if key in rows:
                return rows[key], n
        raise SystemExit(f"readme-figures: {path_hint(board, f'{name}<{ty}, N>')} is not in the baseline")


def read_step2(text):
    """The `[BOARD.step2]` tables of the baseline: `"ROW" = NUMBER` lines."""
    rows, current = {}, None
    for line in text.splitlines():
        header = re.fullmatch(r"\[([\w-]+)\.step2\]", line.strip())
        if header:
            current = rows.setdefault(header.group(1), {})
        elif line.startswith("["):
            current = None
        elif current is not None:
            m = re.fullmatch(r'"(.+)"\s*=\s*([-\d.]+)', line.strip())
            if m:
                current[m.group(1)] = float(m.group(2))
    return rows


def path_hint(board, row):
    return f"[{board}.step2] \"{row}\""


def fmt(x, digits=1):
    return f"{x:,.{digits}f}"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def optimizers(b):
    rows = []
    for label, name in OPTIMIZERS:
        cells = [label]
        for _, board, ty in OPTIMIZER_COLUMNS:
            value, n = b.optimizer(board, name, ty)
            cells.append(fmt(value) + (f" (N = {n})" if n != 1024 else ""))
        rows.append(cells)
    return table(["optimizer"] + [c[0] for c in OPTIMIZER_COLUMNS], rows)


def targets(b):
    m4 = "qemu-cortex-m4"
    m0 = "qemu-cortex-m0"
    sgd = b.optimizer(m4, "Sgd", "f32")[0]
    mom = b.optimizer(m4, "Momentum", "f32")[0]
    adam_n = b.optimizer(m4 + "-nightly", "Adam", "f32")[0]
    adam_v = b.optimizer(m4 + "-vsqrt", "Adam", "f32")[0]
    adam_s = b.optimizer(m4, "Adam", "f32")[0]
    adam_lv = b.optimizer(m4 + "-vldm-vsqrt", "Adam", "f32")[0]
    adam_l = b.optimizer(m4 + "-vldm", "Adam", "f32")[0]
    mom16 = b.optimizer(m0, "Momentum", "I16F16")[0]
    mom24 = b.optimizer(m0, "Momentum", "I8F24")[0]
    adam0 = b.optimizer(m0, "Adam", "I16F16")[0]
    mom0 = max(mom16, mom24)

    def met(x, limit):
        return "yes" if x <= limit else "no"

    rows = [
        ["M4F SGD ≤ 5", fmt(sgd), met(sgd, 5)],
        ["M4F Momentum ≤ 9", fmt(mom), met(mom, 9)],
        ["M4F Adam ≤ 25 with a hardware square root (`nightly`)", fmt(adam_n), met(adam_n, 25)],
        [
            "M4F Adam ≤ 25 with a hardware square root on stable (`arm-vsqrt`)",
            fmt(adam_v),
            met(adam_v, 25),
        ],
        [
            "M4F Adam ≤ 25 with a hardware square root and `arm-vldm` (`arm-vsqrt`)",
            fmt(adam_lv),
            met(adam_lv, 25),
        ],
        ["M4F Adam ≤ 40 on stable, square root within 1 ulp", fmt(adam_s), met(adam_s, 40)],
        [
            "M4F Adam ≤ 40 on stable, square root within 1 ulp, with `arm-vldm`",
            fmt(adam_l),
            met(adam_l, 40),
        ],
        [
            "M0 fixed-point Momentum ≤ 60",
            f"{fmt(mom16)} (I16F16), {fmt(mom24)} (I8F24)",
            met(mom0, 60),
        ],
        ["M0 fixed-point Adam ≤ 200", f"{fmt(adam0)} (I16F16)", met(adam0, 200)],
    ]
    return table(["target", "measured", "met?"], rows)


def aifes(b):
    key = "MlpAdamStep<f32, 64-32-10 batch 1>"
    rows = []
    for label, board in [
        ("M4F `f32`, stable (refined square root)", "qemu-cortex-m4"),
        ("M4F `f32`, `nightly` (`vsqrt.f32`)", "qemu-cortex-m4-nightly"),
        ("M4F `f32`, stable with `arm-vsqrt` (`vsqrt.f32`)", "qemu-cortex-m4-vsqrt"),
        ("M4F `f32`, stable with `arm-vldm` (layer sums and Adam by `vldmia`)", "qemu-cortex-m4-vldm"),
        ("M4F `f32`, stable with `arm-vldm` and `arm-vsqrt`", "qemu-cortex-m4-vldm-vsqrt"),
        ("M3 `f32`, soft float (no FPU: not AIfES's setting)", "qemu-cortex-m3"),
    ]:
        x = b.get(board, key)
        rows.append([label, fmt(x, 0), f"{AIFES_INSTRUCTIONS / x:.1f} ×"])
    return table(["board", "instructions per step", "AIfES ÷ edgetune"], rows)


def convolutions(b):
    rows = []
    for label, name, shape in CONV_ROWS:
        cells = [label]
        for _, board, ty in CONV_COLUMNS:
            cells.append(fmt(b.get(board, f"{name}<{ty}, {shape}>")))
        rows.append(cells)
    return table(["kernel, shape"] + [c[0] for c in CONV_COLUMNS], rows)


def training_step(b):
    rows = []
    for label, board, ty in [
        ("M4F", "qemu-cortex-m4", "f32"),
        ("M4F with `arm-vldm`", "qemu-cortex-m4-vldm", "f32"),
        ("M3", "qemu-cortex-m3", "I16F16"),
        ("M0", "qemu-cortex-m0", "I16F16"),
        ("M0", "qemu-cortex-m0", "I4F12"),
    ]:
        batch = b.get(board, f"TrainStep16<{ty}, 24064>")
        one = b.get(board, f"TrainStep1<{ty}, 1504>")
        rows.append([label, f"`{ty}`", fmt(batch, 2), fmt(one, 2)])
    return table(
        ["board", "number type", "mini-batch of 16", "one sample"],
        rows,
    )


RENDER = {
    "optimizers": optimizers,
    "targets": targets,
    "aifes": aifes,
    "convolutions": convolutions,
    "training-step": training_step,
}
BLOCK = re.compile(r"(<!-- figures: ([\w-]+) -->\n)(.*?)(<!-- /figures -->)", re.S)


def render(text, b):
    seen = []

    def one(m):
        name = m.group(2)
        if name not in RENDER:
            raise SystemExit(f"readme-figures: unknown block {name!r}")
        seen.append(name)
        return m.group(1) + RENDER[name](b) + "\n" + m.group(4)

    out = BLOCK.sub(one, text)
    missing = sorted(set(RENDER) - set(seen))
    if missing:
        raise SystemExit(f"readme-figures: the README has no block for {', '.join(missing)}")
    return out


def main(argv):
    mode = "--check"
    paths = []
    for a in argv:
        if a in ("--check", "--write"):
            mode = a
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            paths.append(Path(a))
    readme = paths[0] if paths else ROOT / "README.md"
    baseline = paths[1] if len(paths) > 1 else ROOT / "boards" / "baseline.toml"
    text = readme.read_text()
    new = render(text, Baseline(baseline))
    if mode == "--write":
        if new != text:
            readme.write_text(new)
        return 0
    if new != text:
        sys.stdout.writelines(
            difflib.unified_diff(
                text.splitlines(True), new.splitlines(True), str(readme), "rendered from " + str(baseline)
            )
        )
        print(f"readme-figures: {readme} differs from {baseline}; run scripts/readme-figures.py --write")
        return 1
    print(f"readme-figures: {readme} agrees with {baseline}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
