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
# in tests/ (see tests/checkpoint.rs and tests/guard.rs for the invariants) and into
# fuzz/regressions/TARGET/ (see its README) before fixing it.
#
# FUZZ_LOG_DIR=DIR keeps each target's whole libFuzzer log in DIR (the summary's executions and
# exec/s come from it; fuzz/RUNS.md records them).
#
# Before fuzzing a target, every file in fuzz/regressions/TARGET/ is replayed once, one run per
# file; if any crashes, the target is reported as REGRESS (its fuzzing is skipped) and the
# script exits non-zero after the remaining targets.
set -euo pipefail

case "${1:-}" in
    -h | --help)
        sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
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
regress_failed=()
for t in "${targets[@]}"; do
    start=$SECONDS

    # Replay the target's regression inputs (one libFuzzer run per file: a crash aborts the run,
    # so each file gets its own verdict).
    replayed=0
    crashed=0
    if [ -d "regressions/$t" ]; then
        for f in "regressions/$t"/*; do
            [ -f "$f" ] || continue
            case "$(basename "$f")" in README* | .*) continue ;; esac
            replayed=$((replayed + 1))
            rlog="$(mktemp)"
            if "${fuzz[@]}" run -O "$t" "$f" -- -runs=1 >"$rlog" 2>&1; then
                echo "    replay ok      $f"
            else
                echo "    replay CRASH   $f" >&2
                # The panic message (cargo-fuzz's own error and backtrace follow it).
                grep -A 2 -E 'panicked at|ERROR: libFuzzer|SUMMARY:' "$rlog" >&2 || tail -n 25 "$rlog" >&2
                crashed=$((crashed + 1))
                regress_failed+=("$f")
            fi
            rm -f "$rlog"
        done
    fi
    echo "==> $t: replayed $replayed regression input(s), $crashed crashed"
    if [ "$crashed" -gt 0 ]; then
        failures=$((failures + 1))
        summary+=("$(printf '%-20s %-7s %10s %9s %6s %5ss %9s' "$t" REGRESS - - - $((SECONDS - start)) "$crashed/$replayed")")
        continue
    fi

    echo "==> $t: $RUNS runs (${fuzz[*]})"
    mkdir -p "corpus/$t"
    log="$(mktemp)"
    if "${fuzz[@]}" run -O "$t" "corpus/$t" -- -runs="$RUNS" -max_len=4096 2>&1 | tee "$log" | tail -n 3; then
        result=ok
    else
        result=CRASH
        failures=$((failures + 1))
    fi
    # Executions: libFuzzer's closing "Done N runs"; after a crash, its last status line "#N"
    # (a lower bound: the inputs run since that line are not counted).
    execs="$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' ||
        { grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#' | sed 's/^/>=/'; } || echo '?')"
    [ -n "$execs" ] || execs='?'
    # FUZZ_LOG_DIR: keep each target's whole libFuzzer log there (for fuzz/RUNS.md).
    if [ -n "${FUZZ_LOG_DIR:-}" ]; then
        mkdir -p "$FUZZ_LOG_DIR"
        cp "$log" "$FUZZ_LOG_DIR/$t-$(date -u +%Y%m%dT%H%M%SZ).log"
    fi
    rate="$(grep -oE 'exec/s: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo '?')"
    cov="$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo '?')"
    summary+=("$(printf '%-20s %-7s %10s %9s %6s %5ss %9s' "$t" "$result" "$execs" "$rate" "$cov" $((SECONDS - start)) "0/$replayed")")
    rm -f "$log"
done

echo
echo "fuzz summary (libFuzzer, -O, $(rustc +nightly --version 2>/dev/null || rustc --version))"
printf '%-20s %-7s %10s %9s %6s %6s %9s\n' target result executions exec/s cov time regress
for line in "${summary[@]}"; do
    echo "$line"
done
if [ "${#regress_failed[@]}" -gt 0 ]; then
    echo "regression input(s) still crashing:" >&2
    printf '  fuzz/%s\n' "${regress_failed[@]}" >&2
fi
if [ "$failures" -gt 0 ]; then
    echo "$failures target(s) failed: new crash inputs in fuzz/artifacts/, regressions above" >&2
    exit 1
fi
