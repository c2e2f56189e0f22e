#!/usr/bin/env bash
# Build the firmware of every board in boards/ and run its binaries on QEMU with
# deterministic instruction counting: `bench` (instructions per parameter per optimizer step),
# `finetune` (fine-tunes a pretrained digits network on the device after a sensor change; its
# verdict must be PASS; it also counts instructions per training step, one sample and one
# mini-batch, per multiply-accumulate), `cnn` (fine-tunes a pretrained 1-D CNN, `cnn!`, on
# BasicMotions windows after a sensor rotation and gain drift; its verdict must be PASS; it counts
# instructions per MAC of a mini-batch step, an accumulate and a forward pass), `har8` (fine-tunes
# the dense head of a TFLite-converted int8 1-D CNN, the backbone frozen in int8, on the same
# recordings and sensor change; its verdict must be PASS; it counts instructions per recording of
# a mini-batch step, an accumulate and a forward pass, and per MAC of the int8 backbone) and `sensor` (the
# real boards' application, sensor-app's
# App::cycle, against a simulated LIS3DH, button and delay: 60 windows of a new user's gesture;
# its verdict must be PASS; it counts instructions per window) and, on the Cortex-M4F only (4 MiB
# of RAM), `dscnn` (one f32 training step of DS-CNN Small, 23,756 parameters, per fine-tuning
# mode, ordinary and fused update: instructions per step, measured peak RAM = statics + painted
# stack peak against the library's memory plan; its verdict must be PASS: finite losses, statics
# equal to the plan, fused parameters bit-identical to the ordinary ones). On the Cortex-M4F,
# also run the `bench` built with edgetune's `nightly` feature, with its `arm-vsqrt` feature and
# with `arm-vldm` and `arm-vsqrt` together, and `bench`, `finetune`, `cnn` and `dscnn` with its
# `arm-vldm` feature (see "Variant builds" below). Then run each
# board's on-target tests (defmt-test, in QEMU) and check that their expected values are fresh.
# Compare the counts with boards/baseline.toml and print one combined table, the fine-tuning and
# sensor-app results, a flash/RAM budget table per firmware, the flash of each optimizer step
# (from `arm-none-eabi-nm -S -C` of each bench ELF, written to RUN_DIR/BOARD.nm) and the
# on-target test summary. Last, run scripts/hw-boards.sh (the real boards) if it exists.
#
# Variant builds (board keys `qemu-cortex-m4-nightly`, `qemu-cortex-m4-vsqrt`,
# `qemu-cortex-m4-vldm` and `qemu-cortex-m4-vldm-vsqrt` in the tables and in baseline.toml): the
# Cortex-M4F `bench` built with
# `--features edgetune/nightly` (f32 square root by core::f32::math::sqrt, one inline vsqrt.f32;
# RUSTC_BOOTSTRAP=1 on either route: the Debian route sets it anyway, on the rustup route it is
# set for this build only) and with `--features edgetune/arm-vsqrt` (stable Rust: vsqrt.f32 in a
# leaf function); and `bench`, `finetune`, `cnn` and `dscnn` built with
# `--features edgetune/arm-vldm` (the f32 dense and convolution sums and Adam's update by vldmia in leaf functions), whose
# on-target tests `sums`, `layers`, `conv`, `optim` and `update` also run again with that
# feature; and `bench` with `arm-vldm` and `arm-vsqrt` (Adam's kernel with the hardware root),
# whose test `update` runs again. Each variant builds only its binaries
# into its own target dir, TARGET_DIR/SUFFIX: its core, dependencies and binaries never replace
# the stable build's (same target dir: every run would relink the stable bench after the
# variant overwrote target/.../release/bench); the cost is one extra cold build each (core and
# the dependencies once, about 1-2 minutes on 2 cores), incremental after that. The nightly and
# vsqrt benches check their root against libm::sqrtf ("sqrt check"). The variants run when
# qemu-cortex-m4 is among the boards, unless EMBEDDED_NIGHTLY=0.
#
# On-target tests (boards/qemu-cortex-*/tests/*.rs, each board's [[test]] targets; harness =
# false, defmt-test; int8.rs runs two TFLite-converted int8 CNNs layer by layer and compares every
# output with TFLite's reference kernels' bits, boards/common-data/int8_expect.rs, written by
# `cargo run --release --bin int8-expect` in boards/tools/target-expect and freshness-checked
# like target_expect.rs):
# `cargo test --release` per board (Debian route: with -Zbuild-std=core -Zpanic-abort-tests, so
# the tests and their dependencies share one core), the board's runner (run-qemu.sh) running
# each test binary in QEMU. They check that a step on the target gives the host's result for the
# same input bits: every optimizer, the dense/activation/softmax-CE layers, an mlp! training
# step, conv1d/conv2d/depthwise conv2d forward and backward and a cnn! training step, bit for
# bit in I16F16 and I8F24; in f32 bit for bit on the Cortex-M4F and on the Cortex-M0 wherever
# no square root is taken, else within a per-element bound derived in the M0's tests/optim.rs. The expected bits are boards/common-data/target_expect.rs, written
# on the host by boards/tools/target-expect from the same case code. Freshness check: the script
# regenerates that file into a temporary file (host cargo) and FAILS if it differs from the
# committed one, so a library change that alters any result must commit the regenerated file
# (`cd boards/tools/target-expect && cargo run --release`). The summary table gives, per board
# and test binary, the tests passed and the largest f32 distance from the host in ulps.
#
# Usage: scripts/embedded.sh                    build, run, compare with the baseline
#        scripts/embedded.sh --update-baseline  build, run, rewrite boards/baseline.toml
#
# Boards: boards/qemu-cortex-m0 (QEMU microbit, Cortex-M0, thumbv6m-none-eabi, 16 KiB RAM),
# boards/qemu-cortex-m3 (QEMU mps2-an385, Cortex-M3, thumbv7m-none-eabi, no FPU, 4 MiB RAM) and
# boards/qemu-cortex-m4 (QEMU mps2-an386, Cortex-M4F, thumbv7em-none-eabihf, 4 MiB RAM). All
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
# The bench's convolution rows (`Conv1dFwd<T, 50x6->8 k5 same>`, `Conv1dBwd<...>`,
# `Conv2dFwd/Bwd<T, 8x8x4->8 k3 same>`, `DwConv2dFwd/Bwd<T, 8x8x8 k3 same>`: instructions per
# nominal MAC of one forward, or of one backward = weight + input gradients, 2 x the MACs; see
# boards/bench-common/src/conv.rs) and the cnn rows (`CnnStep8<T, MACs>`, `CnnAccumulate<T,
# MACs>`, `CnnForward<T, MACs>`: instructions per MAC) are gated like the optimizer rows.
#
# The bench's int8 rows (`Int8DenseFwd<i8, 256->32>`, `Int8Conv2dFwd<i8, 8x8x4->8 k3 same>`,
# `Int8DwConv2dFwd<i8, 8x8x8 k3 same>`: instructions per MAC of edgetune::nn::int8's kernels,
# requantisation included; see boards/bench-common/src/int8.rs) are gated like the others.
#
# The bench's AIfES comparison row (`MlpAdamStep<f32, 64-32-10 batch 1>`: instructions per whole
# training step of a 64-32-10 ReLU MLP, softmax cross-entropy, batch 1, Adam; see
# boards/bench-common/src/mlp_step.rs; the bench's `aifes comparison:` line gives the ratio to
# AIfES 2.2's published 2,929,400) is gated like the others; it runs on the M3 and the M4F (its
# ~40 KB of state does not fit the M0's 16 KiB).
#
# The finetune rows (`TrainStep1<T, MACs>`, `TrainStep16<T, MACs>`: instructions per MAC of a
# whole training step through `Trainer::step_with`, input check included; `InputCheck<T, 64>`:
# instructions per input element of `Network::check_sample` on the 64-element input) and the
# sensor row (`SensorWindow<T, 1>`: instructions per window of
# App::cycle, windows 58 / 59 / 60, gate on 59) are gated like the optimizer rows, and so are
# the dscnn rows (`DsCnnStep<f32, MODE>`, MODE e.g. `bias-only`, `sparse-tail fused`:
# instructions per training step of one sample, three steps, gate on step 2); report.py also
# prints each dscnn mode's measured peak RAM against its memory plan.
#
# Also exits non-zero if a build fails, a firmware reports a failure (its semihosting exit
# status is QEMU's exit status; finetune fails unless the loss fell and held-out accuracy rose
# to exactly the host simulation's figure (boards/tools/pretrain); cnn fails unless its
# accuracies, losses and trained-parameter hash equal the host simulation's
# (boards/tools/har-pretrain) and accuracy rose; har8 likewise (boards/tools/har-pretrain, binary
# har8); dscnn fails unless every step's loss is
# finite, the statics equal the memory plan and the fused update's parameters are bit-identical
# to the ordinary one's after every step; sensor fails unless held-out
# accuracy on the new gesture reached 90 % and beat the pretrained network, the held-out loss
# halved and 18 of the last 20 windows were right before training), an output has no "bench: PASS" / "finetune: PASS" / "cnn: PASS" / "har8: PASS" / "sensor: PASS" / "dscnn: PASS" / "kernels: PASS" (the M0)
# line (the variants: their binaries' PASS lines), a run exceeds
# EMBEDDED_TIMEOUT seconds (default 120; the on-target tests of a board get twice that), an
# on-target test fails (defmt-test panics, the firmware exits QEMU with status 1, cargo test
# fails) or a test binary does not end with "all tests passed!", the expected-values file is
# stale, or scripts/hw-boards.sh exists and fails.
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
# subset, e.g. "qemu-cortex-m4"; --update-baseline needs all boards), EMBEDDED_TESTS=0 (skip
# the on-target tests and the freshness check), EMBEDDED_HW=0 (skip scripts/hw-boards.sh),
# EMBEDDED_NIGHTLY=0 (skip the Cortex-M4F variant builds; not with --update-baseline).
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

ALL_BOARDS="qemu-cortex-m0 qemu-cortex-m3 qemu-cortex-m4"
BOARDS="${EMBEDDED_BOARDS:-$ALL_BOARDS}"
TIMEOUT="${EMBEDDED_TIMEOUT:-120}"
DEBIAN_RUSTC="${DEBIAN_RUSTC:-/usr/bin/rustc}"
DEBIAN_CARGO="${DEBIAN_CARGO:-/usr/bin/cargo}"
RUN_TESTS="${EMBEDDED_TESTS:-1}"
RUN_NIGHTLY="${EMBEDDED_NIGHTLY:-1}"
# The board whose firmware also runs in feature variants; each variant as
# "KEY-SUFFIX FEATURE BOOTSTRAP BINS TESTS" (its board key is BOARD-SUFFIX, its target dir
# TARGET_DIR/SUFFIX; BOOTSTRAP 1: the build needs RUSTC_BOOTSTRAP=1 on the rustup route too;
# BINS: the firmware it builds and runs, comma-separated; TESTS: the on-target test binaries it
# runs again with the feature, comma-separated, or - for none).
VARIANT_BOARD=qemu-cortex-m4
VARIANTS=(
    "nightly edgetune/nightly 1 bench -"
    "vsqrt edgetune/arm-vsqrt 0 bench -"
    "vldm edgetune/arm-vldm 0 bench,finetune,cnn,dscnn sums,layers,conv,optim,update"
    "vldm-vsqrt edgetune/arm-vldm,edgetune/arm-vsqrt 0 bench update"
)

# board -> target, QEMU machine description
board_target() {
    case "$1" in
        qemu-cortex-m0) echo thumbv6m-none-eabi ;;
        qemu-cortex-m3) echo thumbv7m-none-eabi ;;
        qemu-cortex-m4) echo thumbv7em-none-eabihf ;;
        *) echo "error: unknown board '$1'" >&2; return 1 ;;
    esac
}
# board -> its firmware binaries, in run order (dscnn needs the Cortex-M4F's 4 MiB of RAM)
board_bins() {
    case "$1" in
        qemu-cortex-m4) echo bench finetune cnn har8 sensor dscnn ;;
        # The M0's layer kernel rows are a firmware apart: with the bench they overflow its flash.
        qemu-cortex-m0) echo bench kernels finetune finetune16 cnn har8 sensor ;;
        *) echo bench finetune cnn har8 sensor ;;
    esac
}
board_machine() {
    case "$1" in
        qemu-cortex-m0) echo "microbit (-cpu cortex-m0)" ;;
        qemu-cortex-m3) echo "mps2-an385 (-cpu cortex-m3)" ;;
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
if $update && [ "$RUN_NIGHTLY" != 1 ]; then
    echo "error: --update-baseline runs the variant builds too; unset EMBEDDED_NIGHTLY" >&2
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
test_failed=()
timings=()
# The board keys report.py gets: the boards, plus the variants' keys after their board.
report_boards=()

# Runs ELF ($3) of board $1 on QEMU as run tag $2 (log RUN_DIR/$2.log, size RUN_DIR/$2.size);
# $4 is the line that must appear ("bench: PASS", ...). Adds to run_secs; records failures.
run_firmware() {
    local b="$1" tag="$2" elf="$3" must="$4" log run_start run_rc
    echo
    echo "==> running $tag on QEMU $(board_machine "$b"), -icount shift=0,align=off,sleep=off (timeout ${TIMEOUT}s)"
    echo "    timeout $TIMEOUT boards/$b/run-qemu.sh ${elf#"$repo_root"/}"
    log="$run_dir/$tag.log"
    run_start=$SECONDS
    set +e
    timeout "$TIMEOUT" "$boards_dir/$b/run-qemu.sh" "$elf" 2>&1 | tee "$log"
    local statuses=("${PIPESTATUS[@]}")
    set -e
    run_rc="${statuses[0]}"
    run_secs=$((run_secs + SECONDS - run_start))

    arm-none-eabi-size "$elf" >"$run_dir/$tag.size"
    if [ "$run_rc" = 124 ]; then
        echo "embedded: $tag FAILED (timed out after ${TIMEOUT}s)" >&2
        failed+=("$tag")
    elif [ "$run_rc" != 0 ]; then
        echo "embedded: $tag FAILED (firmware/QEMU/defmt-print exit status $run_rc)" >&2
        failed+=("$tag")
    elif ! grep -q "$must" "$log"; then
        echo "embedded: $tag FAILED (exit status 0 but no '$must' in the output)" >&2
        failed+=("$tag")
    fi
}

# run_on_target_tests BOARD LABEL "NAMES" CMD...: builds and runs the on-target test binaries
# NAMES (space-separated) of boards/BOARD with CMD (a `cargo test` command line), logs them to
# RUN_DIR/LABEL.tests.log and adds one summary row per binary, labelled LABEL, to
# RUN_DIR/tests.rows; a failure is added to test_failed.
run_on_target_tests() {
    local b="$1" label="$2" names="$3" board tlog test_rc name
    shift 3
    local cmd=("$@") selected=()
    board="$boards_dir/$b"
    for name in $names; do
        selected+=(--test "$name")
    done
    echo
    echo "==> on-target tests of boards/$b as $label (defmt-test) on QEMU $(board_machine "$b") (timeout $((2 * TIMEOUT))s)"
    echo "    (cd boards/$b && ${cmd[*]} ${selected[*]} --no-fail-fast)"
    tlog="$run_dir/$label.tests.log"
    if ! (cd "$board" && "${cmd[@]}" "${selected[@]}" --no-run); then
        echo "embedded: $label on-target tests FAILED (build)" >&2
        test_failed+=("$label/tests (build)")
        : >"$tlog"
    else
        set +e
        (cd "$board" && timeout "$((2 * TIMEOUT))" "${cmd[@]}" "${selected[@]}" --no-fail-fast) 2>&1 | tee "$tlog"
        test_rc="${PIPESTATUS[0]}"
        set -e
        if [ "$test_rc" = 124 ]; then
            echo "embedded: $label on-target tests FAILED (timed out after $((2 * TIMEOUT))s)" >&2
            test_failed+=("$label/tests (timeout)")
        elif [ "$test_rc" != 0 ]; then
            echo "embedded: $label on-target tests FAILED (cargo test exit status $test_rc)" >&2
            test_failed+=("$label/tests")
        fi
    fi
    # One summary row per test binary; a binary that did not end with "all tests passed!",
    # or a missing one, is a failure.
    # shellcheck disable=SC2086 # NAMES is a word list
    if ! python3 - "$label" "$tlog" "$run_dir/tests.rows" $names <<'PY'; then
import re, sys
board, log, rows, *expected = sys.argv[1:]
sections = []
cur = None
for line in open(log, errors="replace"):
    m = re.search(r"^\s*Running tests/(\w+)\.rs \(", line)
    if m:
        cur = {"name": m.group(1), "ran": 0, "total": 0, "ok": False, "ulp": None, "measured": None}
        sections.append(cur)
        continue
    if cur is None:
        continue
    m = re.search(r"\((\d+)/(\d+)\) running `", line)
    if m:
        cur["ran"], cur["total"] = int(m.group(1)), int(m.group(2))
    if "all tests passed!" in line:
        cur["ok"] = True
    m = re.search(r"check f32 .*max (\d+) ulp", line)
    if m:
        cur["ulp"] = max(cur["ulp"] or 0, int(m.group(1)))
    m = re.search(r"measured f32 .*max (\d+) ulp", line)
    if m:
        cur["measured"] = max(cur["measured"] or 0, int(m.group(1)))
bad = False
with open(rows, "a") as out:
    for s in sections:
        passed = s["total"] if s["ok"] else max(s["ran"] - 1, 0)
        status = "pass" if s["ok"] else "FAIL"
        bad |= not s["ok"]
        ulp = "-" if s["ulp"] is None else str(s["ulp"])
        note = "" if s["measured"] is None else f"(steps 2-3 of the f32 Adam mlp, not asserted: {s['measured']} ulp)"
        out.write(f"{board}\t{s['name']}\t{passed}/{s['total']}\t{status}\t{ulp}\t{note}\n")
    for name in expected:
        if name not in [s["name"] for s in sections]:
            out.write(f"{board}\t{name}\t-\tMISSING\t-\t\n")
            bad = True
sys.exit(1 if bad else 0)
PY
        case " ${test_failed[*]} " in
            *" $label/tests"*) ;;
            *) test_failed+=("$label/tests") ;;
        esac
    fi
}

for b in $BOARDS; do
    target="$(board_target "$b")"
    board="$boards_dir/$b"
    if rustup_has_target "$target"; then
        route="rustup target $target"
        build_cmd=(env -u RUSTC -u RUSTC_BOOTSTRAP cargo build --release --target-dir "$target_dir")
        test_cmd=(env -u RUSTC -u RUSTC_BOOTSTRAP cargo test --release --target-dir "$target_dir")
        rustc_version="$(cd "$board" && env -u RUSTC rustc -V)"
    elif debian_route_ok; then
        route="Debian rustc-web, -Zbuild-std=core"
        build_cmd=(env RUSTC="$DEBIAN_RUSTC" RUSTC_BOOTSTRAP=1
            "$DEBIAN_CARGO" build --release -Zbuild-std=core --target-dir "$target_dir")
        # -Zpanic-abort-tests: without it the test targets get another panic strategy than their
        # dependencies, so build-std builds core twice ("duplicate lang item").
        test_cmd=(env RUSTC="$DEBIAN_RUSTC" RUSTC_BOOTSTRAP=1
            "$DEBIAN_CARGO" test --release -Zbuild-std=core -Zpanic-abort-tests
            --target-dir "$target_dir")
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
    variant_note=""
    report_boards+=("$b")
    for bin in $(board_bins "$b"); do
        tag="$b"
        [ "$bin" = bench ] || tag="$b-$bin"
        run_firmware "$b" "$tag" "$target_dir/$target/release/$bin" "$bin: PASS"
    done
    # Symbol sizes of the bench (report.py: flash of each optimizer step).
    arm-none-eabi-nm -S -C "$target_dir/$target/release/bench" >"$run_dir/$b.nm"
    # Its calls (report.py, boards/step_flash.py: each step's flash with its own callees).
    arm-none-eabi-objdump -d --no-show-raw-insn "$target_dir/$target/release/bench" >"$run_dir/$b.dis"
    ran="$(board_bins "$b" | sed 's/ / + /g')"

    if [ "$b" = "$VARIANT_BOARD" ] && [ "$RUN_NIGHTLY" = 1 ]; then
        # See "Variant builds" in the header: own target dir, the variant's binaries only.
        for variant in "${VARIANTS[@]}"; do
            read -r suffix feature bootstrap bins _ <<<"$variant"
            variant_key="$b-$suffix"
            variant_dir="$target_dir/$suffix"
            if rustup_has_target "$target"; then
                if [ "$bootstrap" = 1 ]; then
                    variant_cmd=(env -u RUSTC RUSTC_BOOTSTRAP=1 cargo build --release)
                else
                    variant_cmd=(env -u RUSTC -u RUSTC_BOOTSTRAP cargo build --release)
                fi
            else
                variant_cmd=(env RUSTC="$DEBIAN_RUSTC" RUSTC_BOOTSTRAP=1
                    "$DEBIAN_CARGO" build --release -Zbuild-std=core)
            fi
            variant_cmd+=(--target-dir "$variant_dir" --features "$feature")
            for bin in ${bins//,/ }; do
                variant_cmd+=(--bin "$bin")
            done
            echo
            echo "==> building the $suffix firmware ($bins) of boards/$b ($feature) into ${variant_dir#"$repo_root"/}"
            echo "    (cd boards/$b && ${variant_cmd[*]})"
            variant_start=$SECONDS
            if ! (cd "$board" && "${variant_cmd[@]}"); then
                echo "embedded: FAIL ($suffix build of boards/$b failed)" >&2
                exit 1
            fi
            variant_note="$variant_note (+ $suffix $((SECONDS - variant_start))s)"
            for bin in ${bins//,/ }; do
                tag="$variant_key"
                [ "$bin" = bench ] || tag="$variant_key-$bin"
                run_firmware "$b" "$tag" "$variant_dir/$target/release/$bin" "$bin: PASS"
            done
            variant_elf="$variant_dir/$target/release/bench"
            arm-none-eabi-nm -S -C "$variant_elf" >"$run_dir/$variant_key.nm"
            arm-none-eabi-objdump -d --no-show-raw-insn "$variant_elf" >"$run_dir/$variant_key.dis"
            report_boards+=("$variant_key")
            ran="$ran + $suffix (${bins//,/, })"
        done
    fi
    test_time=""
    if [ "$RUN_TESTS" = 1 ]; then
        test_start=$SECONDS
        # The expected binaries are the board's [[test]] targets (boards/<b>/Cargo.toml).
        run_on_target_tests "$b" "$b" "$(sed -n '/^\[\[test\]\]/{n;s/^name = "\(.*\)"$/\1/p}' "$board/Cargo.toml" | tr '\n' ' ')" "${test_cmd[@]}"
        if [ "$b" = "$VARIANT_BOARD" ] && [ "$RUN_NIGHTLY" = 1 ]; then
            # The variants that change layer kernels run the tests of those kernels again.
            for variant in "${VARIANTS[@]}"; do
                read -r suffix feature bootstrap bins tests <<<"$variant"
                [ "$tests" = - ] && continue
                run_on_target_tests "$b" "$b-$suffix" "${tests//,/ }" \
                    "${test_cmd[@]/#$target_dir/$target_dir/$suffix}" --features "$feature"
            done
        fi
        test_time=", on-target tests $((SECONDS - test_start))s (build + run)"
    fi
    timings+=("$b: build ${build_secs}s$variant_note, run ${run_secs}s ($ran)$test_time")
done

# ---- freshness of the on-target tests' expected values ---------------------------------------
expect_rel=boards/common-data/target_expect.rs
fresh_status="skipped (EMBEDDED_TESTS=0)"
if [ "$RUN_TESTS" = 1 ]; then
    echo
    echo "==> freshness: regenerating $expect_rel with boards/tools/target-expect (host cargo)"
    echo "    (cd boards/tools/target-expect && cargo run --release -- TMPFILE)"
    fresh="$run_dir/target_expect.rs"
    if ! (cd "$boards_dir/tools/target-expect" &&
        env -u RUSTC -u RUSTC_BOOTSTRAP cargo run --release -q -- "$fresh"); then
        fresh_status="FAIL (the generator failed)"
        test_failed+=("freshness")
    elif ! cmp -s "$fresh" "$repo_root/$expect_rel"; then
        diff -u "$repo_root/$expect_rel" "$fresh" | head -n 40 || true
        echo "embedded: $expect_rel is stale: the library's results changed. Regenerate it" >&2
        echo "    (cd boards/tools/target-expect && cargo run --release) and commit it with the change." >&2
        fresh_status="FAIL (stale: regenerate and commit it)"
        test_failed+=("freshness")
    else
        fresh_status="up to date (regenerated file identical)"
    fi
    # The int8 tests' file (boards/common-data/int8_expect.rs): TFLite's per-layer outputs of
    # tests/data/int8/*.json, which the generator checks the host's edgetune reproduces.
    int8_rel=boards/common-data/int8_expect.rs
    echo "==> freshness: regenerating $int8_rel (cargo run --release --bin int8-expect -- TMPFILE)"
    fresh8="$run_dir/int8_expect.rs"
    if ! (cd "$boards_dir/tools/target-expect" &&
        env -u RUSTC -u RUSTC_BOOTSTRAP cargo run --release -q --bin int8-expect -- "$fresh8"); then
        fresh_status="$fresh_status; int8: FAIL (the generator failed: host differs from TFLite?)"
        test_failed+=("freshness (int8)")
    elif ! cmp -s "$fresh8" "$repo_root/$int8_rel"; then
        diff -u "$repo_root/$int8_rel" "$fresh8" | head -n 40 || true
        echo "embedded: $int8_rel is stale. Regenerate it" >&2
        echo "    (cd boards/tools/target-expect && cargo run --release --bin int8-expect) and commit it." >&2
        fresh_status="$fresh_status; int8: FAIL (stale: regenerate and commit it)"
        test_failed+=("freshness (int8)")
    else
        fresh_status="$fresh_status; int8: up to date"
    fi
fi

echo
echo "==> conditions"
echo "    profile:    boards/Cargo.toml release: opt-level 3, lto = true, codegen-units 1, debug 2, panic abort"
echo "    tools:      $(qemu-system-arm --version 2>/dev/null | sed -n 1p); $(defmt-print --version 2>/dev/null | sed -n 1p)"
for t in "${timings[@]}"; do
    echo "    time:       $t"
done

if [ "$RUN_TESTS" = 1 ]; then
    echo
    echo "==> on-target tests (defmt-test in QEMU; expected values from the host, $expect_rel)"
    {
        printf 'board\ttest binary\ttests passed\tresult\tmax f32 ulp\tnote\n'
        cat "$run_dir/tests.rows" 2>/dev/null || true
    } | python3 -c '
import sys
rows = [line.rstrip("\n").split("\t") for line in sys.stdin]
widths = [max(len(r[i]) for r in rows if len(r) > i) for i in range(len(rows[0]))]
for r in rows:
    print("    " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
'
    echo "    fixed point (I16F16, I8F24) is asserted bit-identical; f32 bounds: see each board's tests/optim.rs"
    echo "    freshness of $expect_rel: $fresh_status"
fi

if [ "${#failed[@]}" -gt 0 ] || [ "${#test_failed[@]}" -gt 0 ]; then
    [ "${#failed[@]}" -eq 0 ] || echo "embedded: FAIL (firmware failed on: ${failed[*]})" >&2
    [ "${#test_failed[@]}" -eq 0 ] || echo "embedded: FAIL (on-target tests failed: ${test_failed[*]})" >&2
    exit 1
fi

# The real boards' script, when present (it builds and sizes them; nothing runs in QEMU).
run_hw_boards() {
    local hw="$repo_root/scripts/hw-boards.sh"
    [ -e "$hw" ] || return 0
    if [ "${EMBEDDED_HW:-1}" = 0 ]; then
        echo "==> EMBEDDED_HW=0: not running scripts/hw-boards.sh"
        return 0
    fi
    echo
    echo "==> scripts/hw-boards.sh (real boards)"
    if ! bash "$hw"; then
        echo "embedded: FAIL (scripts/hw-boards.sh failed)" >&2
        exit 1
    fi
}

if $update; then
    echo
    python3 "$boards_dir/report.py" "$baseline" "$run_dir" "${report_boards[@]}" --write-baseline
    # The README's instruction-count tables are rendered from the baseline.
    python3 "$repo_root/scripts/readme-figures.py" --write
    run_hw_boards
    echo "embedded: PASS (baseline and README tables rewritten; commit boards/baseline.toml and README.md with the change that explains them)"
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
python3 "$boards_dir/report.py" "$baseline" "$run_dir" "${report_boards[@]}" "${report_flags[@]}"
report_rc=$?
set -e
if [ "$report_rc" != 0 ]; then
    echo "embedded: FAIL" >&2
    exit 1
fi
run_hw_boards
echo "embedded: PASS"
