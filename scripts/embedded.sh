#!/usr/bin/env bash
# Build the Cortex-M0 benchmark firmware (boards/qemu-cortex-m0) and run it on QEMU's `microbit`
# machine with deterministic instruction counting; print its table and the ELF's sizes.
#
# Usage: scripts/embedded.sh
#
# Exits non-zero if the build fails, the firmware reports a failure (its semihosting exit status
# is QEMU's exit status), the output has no "bench: PASS" line, or the run exceeds
# EMBEDDED_TIMEOUT seconds (default 120).
#
# Toolchain: rustup's `thumbv6m-none-eabi` target if installed (plain `cargo build`); otherwise
# Debian's rustc-web/cargo-web/rust-web-src, building core from source:
#     RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 /usr/bin/cargo build -Zbuild-std=core
# Host tools: arm-none-eabi-ld/-size (gcc-arm-none-eabi), qemu-system-arm, defmt-print. Missing
# Debian packages are installed with apt-get when running as root; defmt-print is installed
# with `cargo install defmt-print --locked` if missing.
#
# Environment: EMBEDDED_TIMEOUT (seconds), EMBEDDED_TARGET_DIR (default
# boards/qemu-cortex-m0/target), EMBEDDED_CLEAN=1 (remove the target dir first: a cold build).
set -euo pipefail

case "${1:-}" in
    -h | --help)
        sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
esac

TARGET=thumbv6m-none-eabi
TIMEOUT="${EMBEDDED_TIMEOUT:-120}"
DEBIAN_RUSTC="${DEBIAN_RUSTC:-/usr/bin/rustc}"
DEBIAN_CARGO="${DEBIAN_CARGO:-/usr/bin/cargo}"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
board="$repo_root/boards/qemu-cortex-m0"
target_dir="${EMBEDDED_TARGET_DIR:-$board/target}"
elf="$target_dir/$TARGET/release/bench"

if [ -d "$HOME/.cargo/bin" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

# ---- host tools ------------------------------------------------------------------------------
apt_missing=()
command -v arm-none-eabi-ld >/dev/null 2>&1 || apt_missing+=(binutils-arm-none-eabi)
command -v arm-none-eabi-size >/dev/null 2>&1 || apt_missing+=(binutils-arm-none-eabi)
command -v qemu-system-arm >/dev/null 2>&1 || apt_missing+=(qemu-system-arm)

rustup_has_target=false
if command -v rustup >/dev/null 2>&1 &&
    (cd "$board" && rustup target list --installed 2>/dev/null) | grep -qxF "$TARGET"; then
    rustup_has_target=true
fi

debian_route_ok() {
    [ -x "$DEBIAN_RUSTC" ] && [ -x "$DEBIAN_CARGO" ] || return 1
    local sysroot
    sysroot="$("$DEBIAN_RUSTC" --print sysroot 2>/dev/null)" || return 1
    [ -f "$sysroot/lib/rustlib/src/rust/library/core/Cargo.toml" ]
}

if ! $rustup_has_target && ! debian_route_ok; then
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

# ---- build -----------------------------------------------------------------------------------
if $rustup_has_target; then
    route="rustup target $TARGET"
    build_cmd=(env -u RUSTC -u RUSTC_BOOTSTRAP cargo build --release --target-dir "$target_dir")
    rustc_version="$(cd "$board" && env -u RUSTC rustc -V)"
elif debian_route_ok; then
    route="Debian rustc-web, -Zbuild-std=core"
    build_cmd=(env RUSTC="$DEBIAN_RUSTC" RUSTC_BOOTSTRAP=1
        "$DEBIAN_CARGO" build --release -Zbuild-std=core --target-dir "$target_dir")
    rustc_version="$("$DEBIAN_RUSTC" -V)"
else
    echo "error: no toolchain can build $TARGET (rustup target add $TARGET, or Debian rustc-web)" >&2
    exit 1
fi

if [ "${EMBEDDED_CLEAN:-0}" = 1 ]; then
    rm -rf "$target_dir"
fi

echo "==> building boards/qemu-cortex-m0 (release) with $route"
echo "    (cd boards/qemu-cortex-m0 && ${build_cmd[*]})"
build_start=$SECONDS
(cd "$board" && "${build_cmd[@]}")
build_secs=$((SECONDS - build_start))

# ---- run -------------------------------------------------------------------------------------
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
echo
echo "==> running on QEMU microbit (timeout ${TIMEOUT}s)"
echo "    timeout $TIMEOUT boards/qemu-cortex-m0/run-qemu.sh ${elf#"$repo_root"/}"
run_start=$SECONDS
set +e
timeout "$TIMEOUT" "$board/run-qemu.sh" "$elf" 2>&1 | tee "$log"
statuses=("${PIPESTATUS[@]}")
set -e
run_rc="${statuses[0]}"
run_secs=$((SECONDS - run_start))

echo
echo "==> conditions"
echo "    target:     $TARGET, QEMU machine microbit (-cpu cortex-m0), -icount shift=0,align=off,sleep=off"
echo "    profile:    release: opt-level 3, lto = true, codegen-units 1, debug 2, panic abort"
echo "    toolchain:  $route; $rustc_version"
echo "    tools:      $(qemu-system-arm --version | head -n1); $(defmt-print --version | head -n1)"
echo "    build:      ${build_secs}s; run ${run_secs}s"
echo
echo "==> arm-none-eabi-size ${elf#"$repo_root"/}"
arm-none-eabi-size "$elf"
arm-none-eabi-size -A "$elf" | grep -E '^(\.vector_table|\.text|\.rodata|\.data|\.bss|\.uninit|\.defmt) ' || true
echo "    RAM 16384 B: .bss + .data static; the rest is stack (see the firmware's 'memory:' line)"

if [ "$run_rc" = 124 ]; then
    echo "embedded: FAIL (timed out after ${TIMEOUT}s)" >&2
    exit 1
elif [ "$run_rc" != 0 ]; then
    echo "embedded: FAIL (firmware/QEMU/defmt-print exit status $run_rc)" >&2
    exit 1
elif ! grep -q 'bench: PASS' "$log"; then
    echo "embedded: FAIL (exit status 0 but no 'bench: PASS' in the output)" >&2
    exit 1
fi
echo "embedded: PASS"
