#!/usr/bin/env bash
# Run every cargo-fuzz target in fuzz/ for a fixed number of executions and report them.
#
# Usage: scripts/fuzz.sh [RUNS] [TARGET...]
#        (default 200000 runs of every target: optim_step checkpoint_decode weights_parse
#        network_step)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`) and a nightly toolchain (libFuzzer and
# the sanitizer flags need `-Z` options): `cargo +nightly` if rustup has one, otherwise stable
# with RUSTC_BOOTSTRAP=1. Builds with `-O` (release, debug assertions on: overflow panics are
# findings). A crash leaves its input in fuzz/artifacts/TARGET/; copy it into a regression test
# in tests/ (see tests/checkpoint.rs and tests/guard.rs for the invariants) before fixing it.
set -euo pipefail

case "${1:-}" in
    -h | --help)
        sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
esac

RUNS="${1:-200000}"
shift || true
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=(optim_step checkpoint_decode weights_parse network_step)
fi

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root/fuzz"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "error: cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 1
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz)
else
    fuzz=(env RUSTC_BOOTSTRAP=1 cargo fuzz)
fi

summary=()
failures=0
for t in "${targets[@]}"; do
    echo "==> $t: $RUNS runs (${fuzz[*]})"
    mkdir -p "corpus/$t"
    log="$(mktemp)"
    start=$SECONDS
    if "${fuzz[@]}" run -O "$t" "corpus/$t" -- -runs="$RUNS" -max_len=4096 2>&1 | tee "$log" | tail -n 3; then
        result=ok
    else
        result=CRASH
        failures=$((failures + 1))
    fi
    execs="$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' || echo '?')"
    rate="$(grep -oE 'exec/s: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo '?')"
    cov="$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo '?')"
    summary+=("$(printf '%-20s %-6s %10s %9s %6s %5ss' "$t" "$result" "$execs" "$rate" "$cov" $((SECONDS - start)))")
    rm -f "$log"
done

echo
echo "fuzz summary (libFuzzer, -O, $(rustc +nightly --version 2>/dev/null || rustc --version))"
printf '%-20s %-6s %10s %9s %6s %6s\n' target result executions exec/s cov time
for line in "${summary[@]}"; do
    echo "$line"
done
if [ "$failures" -gt 0 ]; then
    echo "$failures target(s) crashed: inputs in fuzz/artifacts/" >&2
    exit 1
fi
