#!/usr/bin/env python3
"""Host benchmark table: edgetune against a naive f32 loop, PyTorch and memory bandwidth.

Runs the criterion benches (`cargo bench --bench optim` in the package benches/), reads
benches/target/criterion/**/new/{benchmark,estimates}.json, times torch.optim on the same configurations
(scripts/torch_bench.py; skipped with a message if torch is missing) and prints one table with its
conditions.  See scripts/README.md, "Host benchmarks".

Usage:
    python3 scripts/bench-host.py                  # full run, about 5 minutes
    python3 scripts/bench-host.py --quick          # shorter criterion times, noisier (about 2 min)
    python3 scripts/bench-host.py --no-bench       # table from the last criterion results
    python3 scripts/bench-host.py -- --measurement-time 5 --sample-size 50   # criterion options
"""

import argparse
import datetime
import glob
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

OPTIMIZERS = ["sgd", "momentum", "adam", "adamw", "rmsprop", "adagrad", "lion"]
TYPES = ["f32", "f64", "I16F16", "I8F24"]
SIZES = [64, 1024, 65536, 1048576]
BIG = 1048576
BENCH_DIR = os.path.join(ROOT, "benches")  # the criterion package (benches/Cargo.toml)
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(BENCH_DIR, "target")
CRITERION = os.environ.get("CRITERION_HOME") or os.path.join(TARGET, "criterion")
OUT_DIR = os.path.join(TARGET, "bench-host")


def sh(cmd):
    try:
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "?"


def load():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def cache_l3():
    sizes = set()
    for path in glob.glob("/sys/devices/system/cpu/cpu*/cache/index*/level"):
        try:
            with open(path) as f:
                if f.read().strip() == "3":
                    with open(os.path.join(os.path.dirname(path), "size")) as g:
                        sizes.add(g.read().strip())
        except OSError:
            pass
    return ", ".join(sorted(sizes)) or "?"


def run_criterion(args, started):
    os.makedirs(OUT_DIR, exist_ok=True)
    log_path = os.path.join(OUT_DIR, "criterion.log")
    print("building the bench (cargo bench --bench optim --no-run) ...", flush=True)
    features = ["--features", "exact-sqrt"] if args.exact_sqrt else []
    build = subprocess.run(["cargo", "bench", "--bench", "optim", "--no-run"] + features, cwd=BENCH_DIR,
                           capture_output=True, text=True)
    if build.returncode != 0:
        sys.stderr.write(build.stderr)
        sys.exit("the bench did not build")
    types = "f32|f64|I16F16|I8F24" if args.f64 else "f32|I16F16|I8F24"
    flt = args.filter or f"^(bandwidth/|diagnostics/|[a-z]+/(edgetune-({types})|naive-f32)/)"
    extra = list(args.criterion_args)
    if args.quick:
        extra = ["--warm-up-time", "0.2", "--measurement-time", "0.4", "--sample-size", "10"] + extra
    # Second pass: the steps host-threads cuts across the cores, on one thread (ids ending -1t).
    one_flt = args.filter or f"^[a-z]+/edgetune-({types})-1t/"
    passes = [({}, flt), ({"RAYON_NUM_THREADS": "1"}, one_flt)]
    count = 0
    commands = []
    with open(log_path, "w") as log:
        for env, pattern in passes:
            cmd = ["cargo", "bench", "--bench", "optim"] + features + ["--", pattern] + extra
            shown = " ".join(f"{k}={v}" for k, v in env.items()) + (" " if env else "") + " ".join(cmd)
            commands.append(shown)
            print(f"running: {shown}", flush=True)
            print(f"  (criterion output: {log_path})", flush=True)
            proc = subprocess.Popen(cmd, cwd=BENCH_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, env={**os.environ, **env})
            for line in proc.stdout:
                log.write(line)
                # One "time:" line per benchmark, plus one in the "change:" block (with a p-value)
                # when an earlier run left results to compare with.
                if "time:" in line and "(p =" not in line:
                    count += 1
                    if count % 10 == 0:
                        print(f"  {count} benchmarks done ({time.time() - started:.0f} s)", flush=True)
            if proc.wait() != 0:
                sys.exit(f"cargo bench failed, see {log_path}")
    print(f"  {count} benchmarks done ({time.time() - started:.0f} s)", flush=True)
    return "; ".join(commands)


def read_criterion(since):
    """{full_id: {"ns": median ns/iter, "lo": .., "hi": .., "elements": n, "bytes": b}}."""
    out = {}
    for bench in glob.glob(os.path.join(CRITERION, "**", "new", "benchmark.json"),
                           recursive=True):
        est_path = os.path.join(os.path.dirname(bench), "estimates.json")
        if not os.path.exists(est_path) or os.path.getmtime(est_path) < since:
            continue
        with open(bench) as f:
            meta = json.load(f)
        with open(est_path) as f:
            est = json.load(f)
        tp = meta.get("throughput") or {}
        elements = bytes_ = None
        if "ElementsAndBytes" in tp:
            elements, bytes_ = tp["ElementsAndBytes"]["elements"], tp["ElementsAndBytes"]["bytes"]
        elif "Bytes" in tp:
            bytes_ = tp["Bytes"]
        elif "Elements" in tp:
            elements = tp["Elements"]
        med = est["median"]
        out[meta["full_id"]] = {
            "ns": med["point_estimate"],
            "lo": med["confidence_interval"]["lower_bound"],
            "hi": med["confidence_interval"]["upper_bound"],
            "elements": elements,
            "bytes": bytes_,
        }
    return out


def fmt_rate(x):
    """Parameters per second, as M/s with 4 significant digits."""
    if x is None:
        return "-"
    m = x / 1e6
    return f"{m:.0f}" if m >= 1000 else f"{m:.4g}"


def fmt_ratio(a, b):
    return "-" if a is None or b is None else f"{a / b:.2f}"


def table(crit, torch_res, threads_cols, copy):
    rows = []
    # edgetune on all cores, and on one where host-threads cut the step (else the same figure);
    # each torch column is compared with the edgetune figure of its own thread count.
    head = ["optimizer", "type", "N", "edgetune", "et 1t", "naive", "et/naive"]
    for t in threads_cols:
        head += [f"torch {t}t", "et/torch"]
    head += ["GB/s", "/copy-dram", "/copy-cache"]
    units = ["", "", "", "Mparam/s", "Mparam/s", "Mparam/s", ""]
    for t in threads_cols:
        units += ["Mparam/s", ""]
    units += ["", "", ""]

    def rate(key):
        r = crit.get(key)
        return None if r is None or not r["elements"] else r["elements"] / (r["ns"] * 1e-9)

    for opt in OPTIMIZERS:
        for n in SIZES:
            naive = rate(f"{opt}/naive-f32/{n}")
            for ty in TYPES:
                key = f"{opt}/edgetune-{ty}/{n}"
                if key not in crit:
                    continue
                et = rate(key)
                one = rate(f"{opt}/edgetune-{ty}-1t/{n}") or et
                row = [opt, ty, str(n), fmt_rate(et), fmt_rate(one)]
                f32 = ty == "f32"
                row += [fmt_rate(naive), fmt_ratio(one, naive)] if f32 else ["-", "-"]
                for t in threads_cols:
                    s = torch_res.get(str(t), {}).get(f"{opt}/{n}") if f32 else None
                    tr = n / s if s else None
                    row += [fmt_rate(tr), fmt_ratio(one if t == 1 else et, tr)]
                if n == BIG:
                    r = crit[key]
                    gbs = r["bytes"] / (r["ns"] * 1e-9) / 1e9
                    row.append(f"{gbs:.1f}")
                    for c in ("dram", "cache"):
                        row.append(f"{gbs / copy[c]:.2f}" if copy.get(c) else "-")
                else:
                    row += ["", "", ""]
                rows.append(row)
    widths = [max(len(x) for x in col) for col in zip(head, units, *rows)]
    lines = []
    for r in [head, units] + rows:
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
    lines.insert(2, "-" * len(lines[0]))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short criterion times (noisier)")
    ap.add_argument("--f64", action="store_true", help="also bench the f64 kernels")
    ap.add_argument("--filter", help="criterion filter regex (default: every optimizer, size and type)")
    ap.add_argument("--no-bench", action="store_true", help="do not run cargo bench: use the latest results")
    ap.add_argument("--exact-sqrt", action="store_true",
                    help="edgetune with feature exact-sqrt (correctly rounded f32 root, as nightly and FPU-less devices)")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch timing")
    ap.add_argument("--torch-threads", default="1,0",
                    help="comma-separated torch thread counts (0 = torch's default); default 1,0")
    ap.add_argument("criterion_args", nargs="*", help="after --: options passed to criterion")
    args = ap.parse_args()

    started = time.time()
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    loads = [("start", load())]
    command = "(none: --no-bench, latest results)"
    if not args.no_bench:
        command = run_criterion(args, started)
        loads.append(("after cargo bench", load()))
    crit = read_criterion(0 if args.no_bench else started - 1)
    if not crit:
        sys.exit(f"no criterion results found under {CRITERION}")

    torch_res, torch_info, threads_cols = {}, "not run (--no-torch)", []
    if not args.no_torch:
        try:
            import torch_bench

            import torch  # noqa: F401
        except ImportError as e:
            torch_info = f"skipped: torch is not installed ({e})"
            print(f"PyTorch timing {torch_info}", flush=True)
        else:
            print("timing torch.optim ...", flush=True)
            wanted = [int(t) for t in args.torch_threads.split(",")]
            default = torch.get_num_threads()
            threads = []
            for t in wanted:
                t = default if t == 0 else t
                if t not in threads:
                    threads.append(t)
            res = torch_bench.run(threads_list=threads)
            torch_res, threads_cols = res["results"], threads
            torch_info = (f"{res['torch']}, float32, foreach=True, threads {'/'.join(map(str, threads))} "
                          f"(default {res['default_threads']}; OpenMP backend), median of 21 batches of ~5 ms")
            loads.append(("after torch", load()))

    copy = {}
    for c in ("dram", "cache"):
        for key, r in crit.items():
            if key.startswith(f"bandwidth/copy-{c}/"):
                copy[c] = r["bytes"] / (r["ns"] * 1e-9) / 1e9
    bw = []
    for key in sorted(k for k in crit if k.startswith("bandwidth/")):
        r = crit[key]
        n = int(key.rsplit("/", 1)[1])
        bw.append(f"{key.split('/')[1]:<12} {n * 4 / 2**20:>5.0f} MiB/array  {r['bytes'] / (r['ns'] * 1e-9) / 1e9:6.1f} GB/s")

    print()
    print("edgetune host benchmark: one optimizer step over N parameters (median time per step)")
    print()
    print(table(crit, torch_res, threads_cols, copy))
    print()
    print("bandwidth (STREAM-style, f32; copy counts 8 B/element, triad 12 B/element):")
    for line in bw:
        print("  " + line)
    diag = sorted(k for k in crit if k.startswith("diagnostics/"))
    if diag:
        print("diagnostics (f32, N = 1Mi; see benches/optim.rs):")
        for key in diag:
            r = crit[key]
            print(f"  {key.split('/')[1]:<30} {r['ns'] / 1e3:9.1f} us/step  "
                  f"{r['elements'] / (r['ns'] * 1e-9) / 1e6:8.1f} Mparam/s")
    print()
    print("columns: edgetune runs on every core (host-threads cuts a float step of >= 128 Ki elements into")
    print("  pieces), et 1t on one; et/naive and each et/torch are edgetune's params/s over the other's (> 1:")
    print("  edgetune faster), with et 1t against naive and torch 1t, edgetune against torch on more threads;")
    print("  naive and torch are f32 only; GB/s (1e9 B/s, N = 1Mi only) = bytes moved per step / time, with")
    print("  bytes/element = 2*size(param) + size(grad) + size(grad) [check pass] + 2*size(each state buffer)")
    print("  (f32: SGD 16, Momentum/RMSprop/Adagrad/Lion 24, Adam/AdamW 32); /copy-dram and /copy-cache divide")
    print("  it by the copy bandwidth over 256 MiB arrays and over 4 MiB arrays. At N = 1Mi an f32 Adam step")
    print("  touches 16 MiB, which fits in this L3: the step runs at cache, not DRAM, bandwidth.")
    print("  torch lion: the authors' rule as in-place tensor ops (not in torch.optim).")
    print()
    print("conditions:")
    print(f"  date        {date}")
    print(f"  cpu         {cpu_model()}, {os.cpu_count()} logical CPUs, L3 {cache_l3()}")
    print(f"  rustc       {sh(['rustc', '-V'])} (bench profile: release, opt-level 3, host target, no target-cpu; edgetune with "
          f"host-simd, host-threads{' and exact-sqrt' if args.exact_sqrt else ''})")
    print(f"  edgetune    {sh(['git', 'rev-parse', '--short', 'HEAD'])}"
          f"{' (uncommitted changes)' if sh(['git', 'status', '--porcelain', '--', 'src', 'benches', 'Cargo.toml']) else ''}"
          f"{'  (now; the results are from an earlier run)' if args.no_bench else ''}")
    print(f"  criterion   {command}")
    print(f"              times: median of the samples' per-iteration times; settings in benches/optim.rs")
    print(f"  torch       {torch_info}")
    print(f"  load avg    " + "; ".join(f"{what}: {v}" for what, v in loads) + "  (1/5/15 min)")
    print(f"  duration    {time.time() - started:.0f} s")

    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "results.json"), "w") as f:
        json.dump({"date": date, "criterion": crit, "torch": torch_res, "torch_info": torch_info,
                   "loads": loads, "cpu": cpu_model(), "rustc": sh(["rustc", "-V"])}, f, indent=1)


if __name__ == "__main__":
    main()
