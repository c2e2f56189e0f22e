#!/usr/bin/env python3
"""Combined report of the boards/ benchmark runs; called by scripts/embedded.sh.

    report.py BASELINE RUN_DIR BOARD... [--updated] [--write-baseline]

RUN_DIR holds, per board, BOARD.log (the decoded defmt output of the firmware), BOARD.size
(`arm-none-eabi-size` of the ELF, Berkeley format) and optionally BOARD.nm (`arm-none-eabi-nm -S
-C` of the bench ELF), and, when the board ran them, BOARD-finetune.log/.size and
BOARD-cnn.log/.size, BOARD-sensor.log/.size, BOARD-dscnn.log/.size and BOARD-kernels.log/.size
(the finetune, cnn, sensor and DS-CNN training-step firmware, and the Cortex-M0's layer kernel
rows, a firmware apart from its bench for flash).
Prints one table of step-2 instructions per parameter for all boards against the baseline (the
finetune firmware's TrainStep and InputCheck rows, the cnn firmware's CnnStep8, CnnAccumulate
and CnnForward rows, the sensor firmware's SensorWindow row and the dscnn firmware's DsCnnStep
rows join their board's rows; the bench's convolution rows have a shape tag as N:
`Conv1dFwd<f32, 50x6->8 k5 same>`, the DsCnnStep rows a mode: `DsCnnStep<f32, bias-only
fused>`), one flash/RAM budget table (a row per firmware), given BOARD.nm the flash of each
optimizer's step, the finetune, cnn and sensor-app results, and the dscnn firmware's measured
peak RAM of each mode against its memory plan.

A board is any name with a BOARD.log; `qemu-cortex-m4-nightly`, `qemu-cortex-m4-vsqrt`,
`qemu-cortex-m4-vldm` and `qemu-cortex-m4-vldm-vsqrt` (Cortex-M4F firmware built with
edgetune's `nightly`, `arm-vsqrt` or `arm-vldm` feature or both of the last two, by
scripts/embedded.sh) are like the others, and --write-baseline records
the feature in their conditions.

Exit status: 0 = pass; 1 = a figure grew by more than THRESHOLD_PCT over the baseline and
--updated (the baseline file was changed in this commit or is uncommitted) was not given;
2 = unusable input (a board's output has no rows or no conditions line).

--write-baseline rewrites BASELINE from this run (all boards given) and exits 0.

Baseline format: a small TOML file, one table per board with its conditions, and a `.step2`
subtable of `"Opt<Type, N>" = instructions per parameter at step 2`. Read with tomllib when
available (Python >= 3.11), else with a parser for exactly the subset this script writes.
"""
import os
import re
import sys

THRESHOLD_PCT = 2.0

ROW_RE = re.compile(
    r"\|\s*(\w+)\s*\|\s*(\w+)\s*\|\s*(\d+|\w[\w>. -]*?)\s*\|\s*(\d+) / (\d+) / (\d+)\s*\|"
    r"\s*([\d.]+) / ([\d.]+) / ([\d.]+)\s*\|\s*(\w+)\s*\|"
)
COND_RE = re.compile(
    r"conditions: target (\S+), profile (\S+), opt-level (\S+), ([^;]*); (.*)$"
)
RESULT_RE = re.compile(r"result: (held-out shifted accuracy .*)$")
# The sensor firmware (sensor-app in QEMU): its verdict line, and its per-window summary.
SENSOR_RESULT_RE = re.compile(r"sensor result: (.*)$")
SENSOR_WINDOW_RE = re.compile(r"window instructions: (.*)$")
# Conditions that a board key implies beyond its log's conditions line (written to the baseline).
# The first suffix that a key ends with applies.
KEY_CONDITIONS = {
    "-vldm-vsqrt": {"features": "edgetune/arm-vldm, edgetune/arm-vsqrt"},
    "-nightly": {"features": "edgetune/nightly (RUSTC_BOOTSTRAP=1)"},
    "-vsqrt": {"features": "edgetune/arm-vsqrt"},
    "-vldm": {"features": "edgetune/arm-vldm"},
}
# The dscnn firmware (one DS-CNN Small training step per mode): measured peak RAM against the
# memory plan, instructions per step, and the fused-vs-ordinary check, one line each per mode.
DSCNN_MEM_RE = re.compile(
    r"dscnn memory: (.+?): plan (\d+) B .*?; statics (\d+) B .*?\+ stack peak (\d+) B = (\d+) B; "
    r"measured - plan = (-?\d+) B \(step's own stack (\d+) B\)"
)
DSCNN_INSTR_RE = re.compile(r"dscnn instructions: (.+?): .*?([\d.]+) per forward MAC at step 2")
DSCNN_CHECK_RE = re.compile(r"dscnn check: (.+?): (.*)$")
MEM_RE = re.compile(
    r"memory: .*stack peak (\d+) B, never touched (\d+) B of (\d+) B RAM"
)


# The firmware besides the bench whose logs (BOARD-NAME.log) add rows to their board.
EXTRA_FIRMWARE = ("kernels", "finetune", "finetune16", "cnn", "har8", "sensor", "dscnn")


def parse_log(path):
    rows = {}  # key -> dict
    order = []
    cond = None
    mem = None
    result = None
    sensor = {}
    dscnn = {"memory": [], "per_mac": {}, "checks": []}
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = DSCNN_MEM_RE.search(line)
            if m:
                dscnn["memory"].append({
                    "mode": m.group(1), "plan": int(m.group(2)), "statics": int(m.group(3)),
                    "stack": int(m.group(4)), "measured": int(m.group(5)),
                    "diff": int(m.group(6)), "own": int(m.group(7)),
                })
                continue
            m = DSCNN_INSTR_RE.search(line)
            if m:
                dscnn["per_mac"][m.group(1)] = m.group(2)
                continue
            m = DSCNN_CHECK_RE.search(line)
            if m:
                dscnn["checks"].append((m.group(1), m.group(2)))
                continue
            m = RESULT_RE.search(line)
            if m:
                result = m.group(1)
                continue
            m = SENSOR_RESULT_RE.search(line)
            if m:
                sensor["result"] = m.group(1)
                continue
            m = SENSOR_WINDOW_RE.search(line)
            if m:
                sensor["windows"] = m.group(1)
                continue
            if re.search(r"\bsensor: (PASS|FAIL)\b", line):
                sensor["verdict"] = "PASS" if "PASS" in line else "FAIL"
                continue
            m = ROW_RE.search(line)
            if m:
                # N: a count, or a shape tag (the convolution rows, "50x6->8 k5 same").
                opt, ty, n = m.group(1), m.group(2), m.group(3)
                key = f"{opt}<{ty}, {n}>"
                rows[key] = {
                    "ticks": tuple(int(m.group(i)) for i in (4, 5, 6)),
                    "per": tuple(float(m.group(i)) for i in (7, 8, 9)),
                    "ok": m.group(10) == "ok",
                }
                order.append(key)
                continue
            m = COND_RE.search(line)
            if m:
                cond = {
                    "target": m.group(1),
                    "profile": m.group(2),
                    "opt-level": m.group(3),
                    "codegen": m.group(4).strip(),
                    "toolchain": m.group(5).strip(),
                }
                continue
            m = MEM_RE.search(line)
            if m:
                mem = {
                    "stack": int(m.group(1)),
                    "untouched": int(m.group(2)),
                    "ram": int(m.group(3)),
                }
    if result is not None:
        mem = dict(mem or {}, result=result)
    if sensor:
        mem = dict(mem or {}, sensor=sensor)
    if dscnn["memory"] or dscnn["checks"]:
        mem = dict(mem or {}, dscnn=dscnn)
    return order, rows, cond, mem


def parse_size(path):
    """Berkeley output of arm-none-eabi-size: header line, then text data bss dec hex file."""
    try:
        with open(path) as f:
            lines = [l.split() for l in f if l.strip()]
        text, data, bss = (int(x) for x in lines[1][:3])
        return {"text": text, "data": data, "bss": bss}
    except (OSError, IndexError, ValueError):
        return None


STEP_RE = re.compile(
    r"^([0-9a-f]+) ([0-9a-f]+) [tT] bench_common::step_once::<(.*)>$"
)
OPT_RE = re.compile(r"edgetune::optim::\w+::(\w+)<")


def num_type(t):
    """`f32`, or `I<int>F<frac>` for fixed::FixedI32 with typenum's fraction bits (MSB first)."""
    if t.startswith("f32") or t.startswith("f64"):
        return t[:3]
    if t.startswith("fixed::FixedI32<"):
        head = t.split(">, edgetune::")[0]
        frac = int("".join(re.findall(r"B([01])", head)) or "0", 2)
        return f"I{32 - frac}F{frac}"
    return t.split("<")[0]


def parse_nm(path):
    """Sizes of the bench's `step_once::<T, Opt<T, N>, N>` functions, from `nm -S -C`:
    [(optimizer, type, bytes, address)] in address order."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                m = STEP_RE.match(line.strip())
                if not m:
                    continue
                args = m.group(3)
                opt = OPT_RE.search(args)
                name = opt.group(1) if opt else "?"
                # A compile-time form other than the default (Adam's `PlainAdam`, ...).
                form = re.search(r"::((?:Plain|Compact)\w*)>", args)
                if form:
                    name += f" ({form.group(1)})"
                out.append((name, num_type(args), int(m.group(2), 16), int(m.group(1), 16) & ~1))
    except OSError:
        return None
    opts = ["Sgd", "Momentum", "Adam", "RmsProp", "Adagrad", "Lion"]
    types = ["f32", "I16F16", "I8F24"]
    rank = lambda xs, x: xs.index(x.split(" ")[0]) if x.split(" ")[0] in xs else len(xs)  # noqa: E731
    return sorted(out, key=lambda r: (rank(types, r[1]), rank(opts, r[0])))


def toml_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def read_baseline(path):
    """{board: {"conditions": {...}, "step2": {key: float}}}; {} if the file does not exist."""
    if not os.path.exists(path):
        return {}
    try:
        import tomllib

        with open(path, "rb") as f:
            doc = tomllib.load(f)
        out = {}
        for board, tab in doc.items():
            if not isinstance(tab, dict):
                continue
            step2 = {k: float(v) for k, v in tab.get("step2", {}).items()}
            cond = {k: v for k, v in tab.items() if not isinstance(v, dict)}
            out[board] = {"conditions": cond, "step2": step2}
        return out
    except ImportError:
        pass
    out = {}
    board, sub = None, None
    kv = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|[\w-]+)\s*=\s*(.+?)\s*$')
    with open(path) as f:
        for line in f:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            h = re.match(r"^\s*\[([\w-]+)(?:\.(\w+))?\]\s*$", line)
            if h:
                board, sub = h.group(1), h.group(2)
                out.setdefault(board, {"conditions": {}, "step2": {}})
                continue
            m = kv.match(line)
            if not m or board is None:
                continue
            k, v = m.group(1), m.group(2)
            if k.startswith('"'):
                k = k[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            if sub == "step2":
                out[board]["step2"][k] = float(v)
            elif sub is None:
                out[board]["conditions"][k] = v.strip('"')
    return out


def write_baseline(path, boards, runs):
    lines = [
        "# Instruction-count baseline of the boards/ benchmark firmware.",
        "# Written by `scripts/embedded.sh --update-baseline`; commit it with the change that",
        "# explains it. Figures: instructions per parameter for the second optimizer step, counted",
        "# in QEMU with -icount shift=0,align=off,sleep=off (SysTick ticks * 1e9 / cpu_hz / N).",
        "# scripts/embedded.sh fails when a figure grows by more than 2 % over this file, unless",
        "# this file was changed in the same commit (or is uncommitted). See the script's header.",
        "",
    ]
    for b in boards:
        order, rows, cond, mem = runs[b]
        lines.append(f"[{b}]")
        for k in ("target", "profile", "opt-level", "codegen", "toolchain"):
            lines.append(f"{k} = {toml_str(cond[k])}")
        for suffix, extra in KEY_CONDITIONS.items():
            if b.endswith(suffix):
                for k, v in extra.items():
                    lines.append(f"{k} = {toml_str(v)}")
                break
        lines.append("")
        lines.append(f"[{b}.step2]")
        for key in order:
            lines.append(f"{toml_str(key)} = {rows[key]['per'][1]:.2f}")
        lines.append("")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines))
    os.replace(tmp, path)


def table(header, body):
    widths = [max(len(str(r[i])) for r in [header] + body) for i in range(len(header))]
    def fmt(r):
        cells = []
        for i, c in enumerate(r):
            c = str(c)
            # numbers right-aligned, text left-aligned
            if re.match(r"^[+-]?[\d.,]+ ?%?$", c):
                cells.append(c.rjust(widths[i]))
            else:
                cells.append(c.ljust(widths[i]))
        return "| " + " | ".join(cells) + " |"
    print(fmt(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in body:
        print(fmt(r))


def main(argv):
    flags = {a for a in argv if a.startswith("--")}
    args = [a for a in argv if not a.startswith("--")]
    if len(args) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    baseline_path, run_dir, boards = args[0], args[1], args[2:]
    updated = "--updated" in flags

    runs = {}
    # The board's other firmware, whose rows join the board's rows (and baseline): kernels (the
    # M0's layer kernel rows, apart from its bench for flash), finetune (TrainStep, InputCheck),
    # cnn (CnnStep8, CnnAccumulate, CnnForward), sensor (SensorWindow), dscnn (DsCnnStep).
    extra = {name: {} for name in EXTRA_FIRMWARE}
    for b in boards:
        order, rows, cond, mem = parse_log(os.path.join(run_dir, b + ".log"))
        if not rows or cond is None:
            print(f"error: {b}: no table rows or no conditions line in the firmware output",
                  file=sys.stderr)
            return 2
        runs[b] = (order, rows, cond, mem)
        for name in EXTRA_FIRMWARE:
            x_log = os.path.join(run_dir, f"{b}-{name}.log")
            if os.path.exists(x_log):
                xorder, xrows, _, xmem = parse_log(x_log)
                for key in xorder:
                    if key not in rows:
                        order.append(key)
                    rows[key] = xrows[key]
                extra[name][b] = xmem
    finetune, cnn, sensor, dscnn = (extra[n] for n in ("finetune", "cnn", "sensor", "dscnn"))

    if "--write-baseline" in flags:
        write_baseline(baseline_path, boards, runs)
        n = sum(len(runs[b][0]) for b in boards)
        print(f"wrote {baseline_path}: {len(boards)} boards, {n} rows")
        return 0

    base = read_baseline(baseline_path)
    body = []
    regressions, improvements, new = [], [], []
    for b in boards:
        order, rows, cond, _ = runs[b]
        bb = base.get(b, {"conditions": {}, "step2": {}})
        for key in order:
            r = rows[key]
            cur = r["per"][1]
            ref = bb["step2"].get(key)
            if ref is None:
                verdict, ref_s, chg_s = "new", "-", "-"
                new.append(f"{b} {key}")
            else:
                ref_s = f"{ref:.2f}"
                if ref > 0:
                    pct = (cur - ref) / ref * 100.0
                    chg_s = f"{pct:+.2f} %"
                else:
                    pct = 0.0 if cur == ref else float("inf")
                    chg_s = "-"
                if pct > THRESHOLD_PCT:
                    verdict = "REGRESSION" if not updated else "grew (baseline updated)"
                    regressions.append(f"{b} {key}: {ref:.2f} -> {cur:.2f} ({pct:+.2f} %)")
                elif cur < ref:
                    verdict = "improved"
                    improvements.append(f"{b} {key}: {ref:.2f} -> {cur:.2f} ({pct:+.2f} %)")
                else:
                    verdict = "ok"
            if not r["ok"]:
                verdict += ", CHECK FAILED"
            steps = " / ".join(f"{x:.2f}" for x in r["per"])
            body.append([b, key, steps, f"{cur:.2f}", ref_s, chg_s, verdict])
        for key in bb["step2"]:
            if key not in rows:
                body.append([b, key, "-", "-", f"{bb['step2'][key]:.2f}", "-", "not run"])

    print("instructions per parameter per optimizer step, and per multiply-accumulate per "
          "training step for the finetune rows TrainStep1 (one sample) / TrainStep16 (a mini-batch "
          "of 16), whose N is the step's MAC count (steps 1 / 2 / 3); for the finetune row "
          "InputCheck (N = 64, the input's elements) instructions per input element of "
          "Network::check_sample (three timed regions of 32 checks); for the sensor row "
          "SensorWindow (N = 1) instructions per window of sensor-app's App::cycle (windows "
          "58 / 59 / 60); for the convolution rows (Conv1d/Conv2d/DwConv2d Fwd/Bwd, N = the "
          "shape: stride 1, SAME padding) instructions per nominal MAC of one forward, or of one "
          "backward (weight + input gradients, 2 x the MACs), three timed calls; for the cnn rows "
          "CnnStep8 (a mini-batch step of 8 windows, the first three of the fine-tuning), "
          "CnnAccumulate (one accumulate) and CnnForward (one inference), N = MACs, "
          "instructions per MAC; for the dscnn rows DsCnnStep (N = the fine-tuning mode) "
          "instructions per training step of DS-CNN Small on one sample (steps 1 / 2 / 3); "
          "gate on step 2, "
          f"limit +{THRESHOLD_PCT:g} % over {os.path.basename(baseline_path)}")
    table(["board", "row", "steps 1 / 2 / 3", "step 2", "baseline", "change", "verdict"], body)

    print()
    print("conditions")
    for b in boards:
        cond = runs[b][2]
        bc = base.get(b, {}).get("conditions", {})
        print(f"  {b}: target {cond['target']}, profile {cond['profile']}, opt-level "
              f"{cond['opt-level']}, {cond['codegen']}; {cond['toolchain']}")
        diff = [k for k in ("target", "opt-level", "toolchain") if bc and bc.get(k) != cond[k]]
        if diff:
            for k in diff:
                print(f"    warning: {k} differs from the baseline ({bc.get(k)!r}); "
                      "figures may move for that reason alone")

    print()
    print("flash/RAM budget (bytes; text/data/bss from arm-none-eabi-size, stack = painted "
          "high-water mark)")
    bbody = []
    firmwares = [(b, b, runs[b][3]) for b in boards]
    for name in EXTRA_FIRMWARE:
        firmwares += [(f"{b} {name}", f"{b}-{name}", extra[name][b])
                      for b in boards if b in extra[name]]
    for b, tag, mem in firmwares:
        size = parse_size(os.path.join(run_dir, tag + ".size"))
        if size is None or mem is None or "stack" not in mem:
            bbody.append([b] + ["?"] * 8)
            continue
        flash = size["text"] + size["data"]
        ram_used = size["data"] + size["bss"] + mem["stack"]
        bbody.append([
            b, f"{size['text']:,}", f"{size['data']:,}", f"{size['bss']:,}",
            f"{mem['stack']:,}", f"{flash:,}", f"{ram_used:,}",
            f"{mem['ram']:,}", f"{100.0 * ram_used / mem['ram']:.1f} %",
        ])
    table(["board", "text", "data", "bss", "stack peak", "flash used", "RAM used", "RAM",
           "RAM %"], bbody)

    sizes = {b: parse_nm(os.path.join(run_dir, b + ".nm")) for b in boards}
    if any(sizes.values()):
        print()
        print("flash of one optimizer step (bytes): the bench's `step_once::<T, Opt<T, N>, N>` "
              "alone, and with every function it calls that is its own (validation, per-step "
              "coefficients, checks, kernels; boards/step_flash.py follows the calls in the "
              "disassembly); the shared soft-float (`__aeabi_*`), libm and core panic routines "
              "are not counted")
        sbody = []
        for b in boards:
            graph = None
            dis = os.path.join(run_dir, b + ".dis")
            if os.path.exists(dis):
                from step_flash import CallGraph

                graph = CallGraph(os.path.join(run_dir, b + ".nm"), dis)
            for opt, ty, size, addr in sizes[b] or []:
                whole = f"{graph.reachable_bytes(addr)[0]:,}" if graph else "-"
                sbody.append([b, opt, ty, f"{size:,}", whole])
        table(["board", "optimizer", "type", "step_once", "with its own callees"], sbody)

    if finetune:
        print()
        print("on-device fine-tuning (finetune firmware)")
        for b in boards:
            if b in finetune:
                print(f"  {b}: {(finetune[b] or {}).get('result', '?')}")

    finetune16 = extra["finetune16"]
    if finetune16:
        print()
        print("on-device fine-tuning in I4F12 (finetune16 firmware, Cortex-M0)")
        for b in boards:
            if b in finetune16:
                print(f"  {b}: {(finetune16[b] or {}).get('result', '?')}")

    if cnn:
        print()
        print("on-device 1-D CNN fine-tuning (cnn firmware: BasicMotions through a rotated, "
              "gain-drifted sensor; batch norms and head trained)")
        for b in boards:
            if b in cnn:
                print(f"  {b}: {(cnn[b] or {}).get('result', '?')}")

    if sensor:
        print()
        print("sensor app in QEMU (sensor firmware: sensor-app's App::cycle on a simulated LIS3DH "
              "and button, 60 windows of a new user's gesture)")
        for b in boards:
            if b in sensor:
                s = (sensor[b] or {}).get("sensor", {})
                print(f"  {b}: sensor: {s.get('verdict', '?')}; {s.get('result', '?')}")
                print(f"    instructions per window: {s.get('windows', '?')}")

    if dscnn:
        print()
        print("DS-CNN Small, one f32 training step per mode (dscnn firmware): measured peak RAM = "
              "statics (network + Adam, size_of) + painted stack peak, against "
              "memory_plan::<Adam>(false).total() (frozen parameters in flash; no stack); bytes")
        for b in boards:
            if b not in dscnn:
                continue
            d = (dscnn[b] or {}).get("dscnn", {})
            mbody = []
            for r in d.get("memory", []):
                mbody.append([
                    b, r["mode"], f"{r['plan']:,}", f"{r['statics']:,}", f"{r['stack']:,}",
                    f"{r['measured']:,}", f"{r['diff']:+,}",
                    d.get("per_mac", {}).get(r["mode"], "?"),
                ])
            if mbody:
                table(["board", "mode", "plan", "statics", "stack peak", "measured",
                       "measured - plan", "instr/forward MAC"], mbody)
            for mode, text in d.get("checks", []):
                print(f"  {b} {mode}: {text}")

    print()
    if improvements:
        print(f"improved ({len(improvements)}):")
        for s in improvements:
            print("  " + s)
    if new:
        per_board = {}
        for s in new:
            b, key = s.split(" ", 1)
            per_board.setdefault(b, []).append(key)
        print(f"new rows, not in the baseline ({len(new)}): " + "; ".join(
            f"{b}: {len(keys)}" if len(keys) > 4 else f"{b}: " + ", ".join(keys)
            for b, keys in per_board.items()))
    if regressions:
        print(f"grew by more than {THRESHOLD_PCT:g} % ({len(regressions)}):")
        for s in regressions:
            print("  " + s)
        if updated:
            print("baseline updated in this commit (or uncommitted): growth accepted")
        else:
            print("FAIL: instruction counts grew; fix the regression, or run "
                  "`scripts/embedded.sh --update-baseline` and commit boards/baseline.toml "
                  "with the change that explains it")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
