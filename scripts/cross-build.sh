#!/usr/bin/env bash
# Cross-build the `edgetune` library for Cortex-M targets.
#
# Usage: scripts/cross-build.sh [TARGET...]
#        (default targets: thumbv6m-none-eabi thumbv7em-none-eabihf)
#
# Every target is built as a library only (`--lib`: the dev-dependencies need std) with the
# default features and with each extra feature set listed in FEATURE_SETS below.
#
# Toolchain, chosen per target:
#   1. rustup, when `rustup target list --installed` lists the target: plain stable
#      `cargo build --target T`.
#   2. otherwise Debian's rustc-web/cargo-web/rust-web-src packages, building core from source:
#      RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 /usr/bin/cargo build -Zbuild-std=core --target T
#   If neither is available the script says what to install and exits non-zero.
#
# Builds go to a separate target directory (default target/cross, override with
# CROSS_TARGET_DIR) so host builds in target/ are not invalidated.
set -euo pipefail

DEFAULT_TARGETS=(thumbv6m-none-eabi thumbv7em-none-eabihf)
# One entry per build; "" means the default features. Add feature sets here.
FEATURE_SETS=("" "fast-sqrt" "defmt" "sim-flash" "arm-dsp" "arm-vsqrt" "arm-vldm" "arm-vldm,fast-sqrt" "arm-dsp,arm-vsqrt,arm-vldm")

DEBIAN_RUSTC="${DEBIAN_RUSTC:-/usr/bin/rustc}"
DEBIAN_CARGO="${DEBIAN_CARGO:-/usr/bin/cargo}"

case "${1:-}" in
    -h | --help)
        sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
esac

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
target_dir="${CROSS_TARGET_DIR:-$repo_root/target/cross}"

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=("${DEFAULT_TARGETS[@]}")
fi

# Targets the active rustup toolchain (as seen from the repo root) has installed.
rustup_targets=""
if command -v rustup >/dev/null 2>&1; then
    rustup_targets="$(rustup target list --installed 2>/dev/null || true)"
fi

debian_route_ok() {
    [ -x "$DEBIAN_RUSTC" ] && [ -x "$DEBIAN_CARGO" ] || return 1
    local sysroot
    sysroot="$("$DEBIAN_RUSTC" --print sysroot 2>/dev/null)" || return 1
    [ -f "$sysroot/lib/rustlib/src/rust/library/core/Cargo.toml" ]
}

# Prints "rustup" or "debian" for a target, or nothing if no toolchain can build it.
choose_toolchain() {
    if grep -qxF "$1" <<<"$rustup_targets"; then
        echo rustup
    elif debian_route_ok; then
        echo debian
    fi
}

missing=()
for t in "${targets[@]}"; do
    if [ -z "$(choose_toolchain "$t")" ]; then
        missing+=("$t")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    {
        echo "error: no toolchain can build: ${missing[*]}"
        echo "Install either the rustup targets (needs network access to the rustup servers):"
        for t in "${missing[@]}"; do
            echo "    rustup target add $t"
        done
        echo "or Debian's Rust with its library source (builds core with -Zbuild-std):"
        echo "    apt-get update && apt-get install -y --no-install-recommends rustc-web cargo-web rust-web-src"
    } >&2
    exit 1
fi

summary=()
failures=0
for t in "${targets[@]}"; do
    toolchain="$(choose_toolchain "$t")"
    for features in "${FEATURE_SETS[@]}"; do
        feature_args=()
        label="default"
        if [ -n "$features" ]; then
            feature_args=(--features "$features")
            label="$features"
        fi
        echo "==> edgetune: target $t, features $label, toolchain $toolchain"
        start=$SECONDS
        if [ "$toolchain" = rustup ]; then
            cmd=(env -u RUSTC -u RUSTC_BOOTSTRAP
                cargo build --lib --target "$t" --target-dir "$target_dir" "${feature_args[@]}")
        else
            cmd=(env RUSTC="$DEBIAN_RUSTC" RUSTC_BOOTSTRAP=1
                "$DEBIAN_CARGO" build --lib -Zbuild-std=core --target "$t" --target-dir "$target_dir"
                "${feature_args[@]}")
        fi
        echo "    ${cmd[*]}"
        if "${cmd[@]}"; then
            result=ok
        else
            result=FAILED
            failures=$((failures + 1))
        fi
        summary+=("$(printf '%-24s %-12s %-9s %-7s %4ss' "$t" "$label" "$toolchain" "$result" $((SECONDS - start)))")
    done
done

echo
echo "cross-build summary"
printf '%-24s %-12s %-9s %-7s %5s\n' target features toolchain result time
for line in "${summary[@]}"; do
    echo "$line"
done

if [ "$failures" -gt 0 ]; then
    echo "$failures cross build(s) failed" >&2
    exit 1
fi
