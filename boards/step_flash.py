"""The flash one optimizer step takes: a function and everything it calls that is its own.

`reachable_bytes(nm_path, dis_path, start)` follows the calls (`bl`, and branches to another
function's entry: tail calls) of the function at address `start` through the disassembly, and sums
the sizes (from `nm -S -C`) of every function reached, each once, except the shared runtime that
any firmware links anyway: compiler-builtins' soft-float and integer helpers (`__aeabi_*`,
`__*`), `libm`, and `core`'s panic and formatting machinery. Those are listed apart.

Inputs: `arm-none-eabi-nm -S -C ELF` and `arm-none-eabi-objdump -d --no-show-raw-insn ELF`.
"""
import re

FUNC_RE = re.compile(r"^([0-9a-f]+) <(.+)>:$")
BRANCH_RE = re.compile(r"^\s*([0-9a-f]+):\s+(bl|blx|b|b\.w|b\.n)\s+([0-9a-f]+) <")
NM_RE = re.compile(r"^([0-9a-f]+) ([0-9a-f]+) [tTwW] (.+)$")
SHARED_RE = re.compile(r"^(__|compiler_builtins::|libm::|core::(panicking|fmt|result::unwrap_failed|option::)|defmt)")


def read_nm(path):
    """{address: (size, demangled name)} of the text symbols."""
    out = {}
    with open(path) as f:
        for line in f:
            m = NM_RE.match(line.rstrip("\n"))
            if m:
                addr = int(m.group(1), 16) & ~1  # Thumb bit
                out[addr] = (int(m.group(2), 16), m.group(3))
    return out


def read_calls(path, entries):
    """{function address: set of called function entry addresses}."""
    calls = {}
    current = None
    with open(path) as f:
        for line in f:
            m = FUNC_RE.match(line.strip())
            if m:
                current = int(m.group(1), 16)
                calls.setdefault(current, set())
                continue
            b = BRANCH_RE.match(line)
            if b and current is not None:
                target = int(b.group(3), 16)
                if target in entries and target != current:
                    calls[current].add(target)
    return calls


class CallGraph:
    """Symbol sizes and calls of one ELF."""

    def __init__(self, nm_path, dis_path):
        self.symbols = read_nm(nm_path)
        self.calls = read_calls(dis_path, self.symbols)

    def reachable_bytes(self, start):
        """(own bytes: the function and its non-shared callees, sorted names of the shared
        routines it reaches)."""
        seen, shared, stack, total = set(), set(), [start], 0
        while stack:
            addr = stack.pop()
            if addr in seen:
                continue
            seen.add(addr)
            size, name = self.symbols.get(addr, (0, "?"))
            if addr != start and SHARED_RE.match(name):
                shared.add(name)
                continue
            total += size
            stack.extend(self.calls.get(addr, ()))
        return total, sorted(shared)
