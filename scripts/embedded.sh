#!/usr/bin/env bash
# Build the firmware of every board in boards/ and run both binaries on QEMU with deterministic
# instruction counting: `bench` (instructions per parameter per optimizer step) and `finetune`
# (fine-tunes a pretrained digits network on the device after a sensor change; its verdict
# must be PASS; it also counts instructions per training step, one sample and one mini-batch,
# per multiply-accumulate). Compare the counts with boards/baseline.toml and print one combined
# table, the fine-tuning results, and a flash/RAM budget table per firmware.
#
# Usage: scripts/embedded.sh                    build, run, compare with the baseline
#        scripts/embedded.sh --update-baseline  build, run, rewrite boards/baseline.toml
#
# Boards: boards/qemu-cortex-m0 (QEMU microbit, Cortex-M0, thumbv6m-none-eabi, 16 KiB RAM) and
# boards/qemu-cortex-m4 (QEMU mps2-an386, Cortex-M4F, thumbv7em-none-eabihf, 4 MiB RAM). Both
# use boards/bench-common and the boards/ workspace (one Cargo.lock, target dir boards/target).
#
# Baseline rule. The gated figure is instructions per parameter for the SECOND optimizer step
# of each row (step 1 may take first-step shortcuts). The run FAILS (exit 1) when any figure
# grows by more than 2 % over boards/baseline.toml, UNLESS the baseline counts as updated:
#   - boards/baseline.toml differs between HEAD~1 and HEAD (changed in the last commit; when
#     HEAD is a root commit that added it, that counts too), or
#   - it has uncommitted changes (staged or not), or is untracked.
# In a shallow clone without HEAD~1 the last commit cannot be inspected: the gate applies.
# Rows missing from the baseline are reported as "new", never failed; smaller figures pass and
# are reported as "improved". So: a change that makes the code slower must come with
# `scripts/embedded.sh --update-baseline` and the rewritten boards/baseline.toml in the same
# commit. The baseline records its conditions (target, opt-level, toolchain); a run under other
# conditions prints a warning (and is still gated).
#
# The finetune rows (`TrainStep1<T, MACs>`, `TrainStep16<T, MACs>`: instructions per MAC of a
# whole training step) are gated like the optimizer rows.
#
# Also exits non-zero if a build fails, a firmware reports a failure (its semihosting exit
# status is QEMU's exit status; finetune fails unless the loss fell and held-out accuracy
# reached its threshold), an output has no "bench: PASS" / "finetune: PASS" line, or a run exceeds
# EMBEDDED_TIMEOUT seconds (default 120).
#
# Toolchain, per target: rustup's target if installed (plain `cargo build`); otherwise Debian's
# rustc-web/cargo-web/rust-web-src, building core from source:
#     RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 /usr/bin/cargo build -Zbuild-std=core
# Host tools: arm-none-eabi-ld/-size (gcc-arm-none-eabi), qemu-system-arm, defmt-print, python3.
# Missing Debian packages are installed with apt-get when running as root; defmt-print is
# installed with `cargo install defmt-print --locked` if missing.
#
# Environment: EMBEDDED_TIMEOUT (seconds per run), EMBEDDED_TARGET_DIR (default boards/target),
# EMBEDDED_CLEAN=1 (remove the target dir first: a cold build), EMBEDDED_BOARDS (space-separated
# subset, e.g. "qemu-cortex-m4"; --update-baseline needs all boards).
set -euo pipefail

update=false
case "${1:-}" in
    -h | --help)
        sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    --update-baseline) update=true ;;
    "") ;;
    *)
        echo "error: unknown argument '$1' (try --help)" >&2
        exit 2
        ;;
esac

ALL_BOARDS="qemu-cortex-m0 qemu-cortex-m4"
BOARDS="${EMBEDDED_BOARDS:-$ALL_BOARDS}"
TIMEOUT="${EMBEDDED_TIMEOUT:-120}"
DEBIAN_RUSTC="${DEBIAN_RUSTC:-/usr/bin/rustc}"
DEBIAN_CARGO="${DEBIAN_CARGO:-/usr/bin/cargo}"

# board -> target, QEMU machine description
board_target() {
    case "$1" in
        qemu-cortex-m0) echo thumbv6m-none-eabi ;;
        qemu-cortex-m4) echo thumbv7em-none-eabihf ;;
        *) echo "error: unknown board '$1'" >&2; return 1 ;;
    esac
}
board_machine() {
    case "$1" in
        qemu-cortex-m0) echo "microbit (-cpu cortex-m0)" ;;
        qemu-cortex-m4) echo "mps2-an386 (-cpu cortex-m4)" ;;
    esac
}

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
boards_dir="$repo_root/boards"
baseline="$boards_dir/baseline.toml"
target_dir="${EMBEDDED_TARGET_DIR:-$boards_dir/target}"

if $update && [ "$BOARDS" != "$ALL_BOARDS" ]; then
    echo "error: --update-baseline runs all boards; unset EMBEDDED_BOARDS" >&2
    exit 2
fi
for b in $BOARDS; do board_target "$b" >/dev/null; done

if [ -d "$HOME/.cargo/bin" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

# ---- host tools ------------------------------------------------------------------------------
apt_missing=()
command -v arm-none-eabi-ld >/dev/null 2>&1 || apt_missing+=(binutils-arm-none-eabi)
command -v arm-none-eabi-size >/dev/null 2>&1 || apt_missing+=(binutils-arm-none-eabi)
command -v qemu-system-arm >/dev/null 2>&1 || apt_missing+=(qemu-system-arm)
command -v python3 >/dev/null 2>&1 || apt_missing+=(python3)

rustup_has_target() {
    command -v rustup >/dev/null 2>&1 &&
        (cd "$boards_dir" && rustup target list --installed 2>/dev/null) | grep -qxF "$1"
}

debian_route_ok() {
    [ -x "$DEBIAN_RUSTC" ] && [ -x "$DEBIAN_CARGO" ] || return 1
    local sysroot
    sysroot="$("$DEBIAN_RUSTC" --print sysroot 2>/dev/null)" || return 1
    [ -f "$sysroot/lib/rustlib/src/rust/library/core/Cargo.toml" ]
}

need_debian=false
for b in $BOARDS; do
    rustup_has_target "$(board_target "$b")" || need_debian=true
done
if $need_debian && ! debian_route_ok; then
    apt_missing+=(rustc-web cargo-web rust-web-src)
fi

if [ "${#apt_missing[@]}" -gt 0 ]; then
    mapfile -t apt_missing < <(printf '%s\n' "${apt_missing[@]}" | sort -u)
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing Debian packages: ${apt_missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_missing[@]}"
    else
        echo "error: missing tools; install: apt-get install -y ${apt_missing[*]}" >&2
        exit 1
    fi
fi

if ! command -v defmt-print >/dev/null 2>&1; then
    echo "==> installing defmt-print (cargo install defmt-print --locked)"
    # The host's own cargo/rustc, not the Debian cross route's environment.
    env -u RUSTC -u RUSTC_BOOTSTRAP cargo install defmt-print --locked
fi

# ---- baseline rule (see the header) ----------------------------------------------------------
# Prints why the baseline counts as updated and returns 0, or returns 1 (gate applies).
baseline_updated() {
    local rel=boards/baseline.toml
    git -C "$repo_root" rev-parse --git-dir >/dev/null 2>&1 || return 1
    [ -e "$baseline" ] || return 1
    if ! git -C "$repo_root" rev-parse -q --verify HEAD >/dev/null; then
        echo "no commit yet"
        return 0
    fi
    if ! git -C "$repo_root" ls-files --error-unmatch -- "$rel" >/dev/null 2>&1; then
        echo "untracked"
        return 0
    fi
    if ! git -C "$repo_root" diff --quiet HEAD -- "$rel"; then
        echo "uncommitted changes"
        return 0
    fi
    if git -C "$repo_root" rev-parse -q --verify 'HEAD~1^{commit}' >/dev/null; then
        if ! git -C "$repo_root" diff --quiet HEAD~1 HEAD -- "$rel"; then
            echo "changed in the last commit"
            return 0
        fi
    elif [ "$(git -C "$repo_root" rev-parse --is-shallow-repository 2>/dev/null)" != true ]; then
        echo "added by the root commit"
        return 0
    else
        echo "warning: shallow clone without HEAD~1: cannot tell whether the last commit changed $rel; gate applies" >&2
    fi
    return 1
}

# ---- build and run ---------------------------------------------------------------------------
if [ "${EMBEDDED_CLEAN:-0}" = 1 ]; then
    echo "==> EMBEDDED_CLEAN=1: removing ${target_dir#"$repo_root"/} (cold build)"
    rm -rf "$target_dir"
fi

run_dir="$(mktemp -d)"
trap 'rm -rf "$run_dir"' EXIT
failed=()
timings=()

for b in $BOARDS; do
    target="$(board_target "$b")"
    board="$boards_dir/$b"
    if rustup_has_target "$target"; then
        route="rustup target $target"
        build_cmd=(env -u RUSTC -u RUSTC_BOOTSTRAP cargo build --release --target-dir "$target_dir")
        rustc_version="$(cd "$board" && env -u RUSTC rustc -V)"
    elif debian_route_ok; then
        route="Debian rustc-web, -Zbuild-std=core"
        build_cmd=(env RUSTC="$DEBIAN_RUSTC" RUSTC_BOOTSTRAP=1
            "$DEBIAN_CARGO" build --release -Zbuild-std=core --target-dir "$target_dir")
        rustc_version="$("$DEBIAN_RUSTC" -V)"
    else
        echo "error: no toolchain can build $target (rustup target add $target, or Debian rustc-web)" >&2
        exit 1
    fi

    echo
    echo "==> building boards/$b (release, $target) with $route; $rustc_version"
    echo "    (cd boards/$b && ${build_cmd[*]})"
    build_start=$SECONDS
    if ! (cd "$board" && "${build_cmd[@]}"); then
        echo "embedded: FAIL (build of boards/$b failed)" >&2
        exit 1
    fi
    build_secs=$((SECONDS - build_start))

    run_secs=0
    for bin in bench finetune; do
        elf="$target_dir/$target/release/$bin"
        tag="$b"
        [ "$bin" = bench ] || tag="$b-$bin"
        echo
        echo "==> running $bin on QEMU $(board_machine "$b"), -icount shift=0,align=off,sleep=off (timeout ${TIMEOUT}s)"
        echo "    timeout $TIMEOUT boards/$b/run-qemu.sh ${elf#"$repo_root"/}"
        log="$run_dir/$tag.log"
        run_start=$SECONDS
        set +e
        timeout "$TIMEOUT" "$board/run-qemu.sh" "$elf" 2>&1 | tee "$log"
        statuses=("${PIPESTATUS[@]}")
        set -e
        run_rc="${statuses[0]}"
        run_secs=$((run_secs + SECONDS - run_start))

        arm-none-eabi-size "$elf" >"$run_dir/$tag.size"
        if [ "$run_rc" = 124 ]; then
            echo "embedded: $b $bin FAILED (timed out after ${TIMEOUT}s)" >&2
            failed+=("$b/$bin")
        elif [ "$run_rc" != 0 ]; then
            echo "embedded: $b $bin FAILED (firmware/QEMU/defmt-print exit status $run_rc)" >&2
            failed+=("$b/$bin")
        elif ! grep -q "$bin: PASS" "$log"; then
            echo "embedded: $b $bin FAILED (exit status 0 but no '$bin: PASS' in the output)" >&2
            failed+=("$b/$bin")
        fi
    done
    timings+=("$b: build ${build_secs}s, run ${run_secs}s (bench + finetune)")
done

echo
echo "==> conditions"
echo "    profile:    boards/Cargo.toml release: opt-level 3, lto = true, codegen-units 1, debug 2, panic abort"
echo "    tools:      $(qemu-system-arm --version 2>/dev/null | sed -n 1p); $(defmt-print --version 2>/dev/null | sed -n 1p)"
for t in "${timings[@]}"; do
    echo "    time:       $t"
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "embedded: FAIL (firmware failed on: ${failed[*]})" >&2
    exit 1
fi

# shellcheck disable=SC2086 # $BOARDS is a word list
if $update; then
    echo
    python3 "$boards_dir/report.py" "$baseline" "$run_dir" $BOARDS --write-baseline
    echo "embedded: PASS (baseline rewritten; commit boards/baseline.toml with the change that explains it)"
    exit 0
fi

report_flags=()
if why="$(baseline_updated)"; then
    echo "    baseline:   boards/baseline.toml counts as updated ($why): growth is reported, not failed"
    report_flags+=(--updated)
elif [ -e "$baseline" ]; then
    echo "    baseline:   boards/baseline.toml unchanged in the last commit: growth over 2 % fails"
else
    echo "    baseline:   boards/baseline.toml does not exist: every row is new"
fi

echo
echo "==> results"
set +e
# shellcheck disable=SC2086
python3 "$boards_dir/report.py" "$baseline" "$run_dir" $BOARDS "${report_flags[@]}"
report_rc=$?
set -e
if [ "$report_rc" != 0 ]; then
    echo "embedded: FAIL" >&2
    exit 1
fi
echo "embedded: PASS"
