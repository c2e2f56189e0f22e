#!/usr/bin/env python3
"""Where a firmware's instructions go: runs an ELF under QEMU with deterministic instruction
counting and counts the instructions executed in each function (or each translated block, with
its source line).

QEMU logs every translated block once (`-d in_asm`: its instructions) and every execution of a
block (`-d exec,nochain`: its start address), so the instructions a block executed are its length
times its executions. The totals agree with the boards' SysTick counts to within a few
instructions per timed region (SysTick also counts the timed closure's call and return).

    python3 scripts/qemu-profile.py ELF                     # functions, whole run
    python3 scripts/qemu-profile.py ELF --blocks forward    # blocks of functions matching 'forward'
    python3 scripts/qemu-profile.py ELF --machine mps2-an385 --cpu cortex-m3

The firmware must end by itself (semihosting exit), as the boards' firmware does. The trace of a
bench firmware is a few hundred MB per million blocks: profile a firmware that runs only what
is being looked at. Needs `qemu-system-arm` and binutils (`arm-none-eabi-nm`,
`arm-none-eabi-addr2line`); not run in CI.
"""
import argparse
import bisect
import collections
import os
import re
import subprocess
import sys
import tempfile

TRACE = re.compile(r"\[[0-9a-f]+/([0-9a-f]+)/[0-9a-f]+/[0-9a-f]+\]")


def run_qemu(elf, machine, cpu, log):
    cmd = [
        "qemu-system-arm", "-machine", machine, "-cpu", cpu, "-nographic",
        "-semihosting-config", "enable=on,target=native",
        "-icount", "shift=0,align=off,sleep=off",
        "-d", "in_asm,exec,nochain", "-D", log, "-kernel", elf,
    ]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=3600)


def read_trace(log):
    """(block length by start address, executions by start address)."""
    length, runs = {}, collections.Counter()
    start = None
    with open(log, errors="replace") as f:
        for line in f:
            if line.startswith("0x") and line[10:11] == ":":
                addr = int(line[:10], 16)
                if start is None:
                    start, length[addr] = addr, 0
                length[start] += 1
                continue
            start = None
            if line.startswith("Trace"):
                m = TRACE.search(line)
                if m:
                    runs[int(m.group(1), 16)] += 1
    return length, runs


def functions(elf):
    """Sorted (address, size, demangled name) of the ELF's function symbols."""
    out = subprocess.run(["arm-none-eabi-nm", "-S", "-C", "--defined-only", elf],
                         capture_output=True, text=True, check=True).stdout
    syms = []
    for line in out.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[2] in "tTwW":
            syms.append((int(parts[0], 16) & ~1, int(parts[1], 16), parts[3]))
    return sorted(syms)


def owner(syms, starts, addr):
    i = bisect.bisect_right(starts, addr) - 1
    if i >= 0 and addr < syms[i][0] + max(syms[i][1], 1):
        return syms[i][2]
    return "?"


def source_lines(elf, addrs):
    """The inlining chain (innermost first, file:line) of each address."""
    if not addrs:
        return {}
    out = subprocess.run(["arm-none-eabi-addr2line", "-e", elf, "-i", "-a"] + [hex(a) for a in addrs],
                         capture_output=True, text=True).stdout
    chains, cur = {}, None
    for line in out.splitlines():
        if line.startswith("0x"):
            cur = int(line, 16)
            chains[cur] = []
        elif cur is not None:
            chains[cur].append(os.path.basename(line.split(" ")[0]))
    return chains


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("elf")
    ap.add_argument("--machine", default="mps2-an386")
    ap.add_argument("--cpu", default="cortex-m4")
    ap.add_argument("--top", type=int, default=30, help="rows to print")
    ap.add_argument("--blocks", metavar="SUBSTRING",
                    help="list the blocks of the functions whose name contains SUBSTRING")
    ap.add_argument("--log", help="an existing trace to read instead of running QEMU")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        log = args.log or os.path.join(tmp, "trace.log")
        if not args.log:
            run_qemu(args.elf, args.machine, args.cpu, log)
        length, runs = read_trace(log)

    syms = functions(args.elf)
    starts = [s[0] for s in syms]
    cost = {a: n * length.get(a, 1) for a, n in runs.items()}
    total = sum(cost.values())
    print(f"{total} instructions executed ({args.elf}, {args.machine}/{args.cpu})")
    if not args.blocks:
        per_fn = collections.Counter()
        for a, c in cost.items():
            per_fn[owner(syms, starts, a)] += c
        for name, c in per_fn.most_common(args.top):
            print(f"{c:12d} {100 * c / max(total, 1):5.1f} %  {name[:160]}")
        return
    mine = [a for a in cost if args.blocks in owner(syms, starts, a)]
    mine = sorted(mine, key=lambda a: -cost[a])[:args.top]
    chains = source_lines(args.elf, mine)
    sub = sum(cost[a] for a in cost if args.blocks in owner(syms, starts, a))
    print(f"{sub} in functions matching '{args.blocks}'; block, length x executions, source")
    for a in sorted(mine):
        chain = " <- ".join(chains.get(a, [])[:3])
        print(f"{a:#010x} {length.get(a, 1):4d} x {runs[a]:7d} = {cost[a]:9d}  {chain}")


if __name__ == "__main__":
    sys.exit(main())
