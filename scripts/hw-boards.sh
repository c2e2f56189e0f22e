#!/usr/bin/env bash
# Real-board firmware: test the shared crate on the host, build every board, print its size.
#
# Usage:
#   scripts/hw-boards.sh                       # host tests + all boards
#   HW_BOARDS="rpi-pico nrf52840-dk" scripts/hw-boards.sh   # some boards only
#   HW_SKIP_TESTS=1 scripts/hw-boards.sh       # builds only
#
# Steps:
#   1. `cargo test -p sensor-app` from boards/ with the host toolchain (RUSTC and RUSTC_BOOTSTRAP
#      unset, so a caller's cross-build environment cannot leak into the host build).
#   2. Each board in boards/<name> builds in release for the target of its .cargo/config.toml:
#      with plain `cargo build --release` when `rustup target list --installed` has the target
#      (rust-lld links, as for a user), otherwise by the Debian route: /usr/bin/rustc and
#      /usr/bin/cargo (rustc-web, cargo-web, rust-web-src), RUSTC_BOOTSTRAP=1,
#      -Zbuild-std=core, linked by arm-none-eabi-ld (Debian ships no rust-lld).
#   3. A table per board: target, chip (from the probe-rs runner), text/data/bss from
#      arm-none-eabi-size.
# Everything goes to boards/target. Exits non-zero if the tests or any board fail (the other
# boards are still built and reported). Nothing is flashed: these boards are built, not run.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
boards_dir="$root/boards"
boards=(${HW_BOARDS:-nucleo-f411re rpi-pico nrf52840-dk})
failed=()

# The value of `key = "..."` in a board's .cargo/config.toml (first match).
config_value() {
    sed -n "s/^$2 *= *\"\\(.*\\)\"/\\1/p" "$1/.cargo/config.toml" | head -n 1
}

if [[ -z "${HW_SKIP_TESTS:-}" ]]; then
    echo "== host tests: cargo test -p sensor-app"
    if ! (cd "$boards_dir" && env -u RUSTC -u RUSTC_BOOTSTRAP -u CARGO_BUILD_TARGET \
        cargo test -p sensor-app); then
        failed+=("sensor-app tests")
    fi
fi

installed=""
if command -v rustup > /dev/null; then
    installed="$(rustup target list --installed 2> /dev/null || true)"
fi

declare -A route size_line
for b in "${boards[@]}"; do
    dir="$boards_dir/$b"
    if [[ ! -f "$dir/.cargo/config.toml" ]]; then
        echo "no board $b (expected $dir/.cargo/config.toml)" >&2
        failed+=("$b")
        continue
    fi
    target="$(config_value "$dir" target)"
    echo "== $b: $target"
    if grep -qx "$target" <<< "$installed"; then
        route[$b]="rustup"
        cmd=(env -u RUSTC -u RUSTC_BOOTSTRAP cargo build --release)
    else
        route[$b]="debian"
        linker_var="CARGO_TARGET_$(tr 'a-z.-' 'A-Z__' <<< "$target")_LINKER"
        cmd=(env RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 "$linker_var=arm-none-eabi-ld"
            /usr/bin/cargo build --release -Zbuild-std=core)
    fi
    echo "   (${route[$b]} route) ${cmd[*]}"
    if ! (cd "$dir" && "${cmd[@]}"); then
        failed+=("$b")
        continue
    fi
    elf="$boards_dir/target/$target/release/$b"
    if ! size_line[$b]="$(arm-none-eabi-size "$elf" | tail -n 1)"; then
        failed+=("$b (size)")
    fi
done

echo
echo "| board | target | chip | route | text | data | bss |"
echo "|---|---|---|---|---|---|---|"
for b in "${boards[@]}"; do
    [[ -n "${size_line[$b]:-}" ]] || continue
    dir="$boards_dir/$b"
    target="$(config_value "$dir" target)"
    chip="$(config_value "$dir" runner | sed -n 's/.*--chip \([^ ]*\).*/\1/p')"
    read -r text data bss _ <<< "${size_line[$b]}"
    echo "| $b | $target | $chip | ${route[$b]} | $text | $data | $bss |"
done

if ((${#failed[@]})); then
    echo
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
echo
echo "all boards built (not flashed)"
