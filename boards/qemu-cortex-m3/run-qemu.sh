#!/usr/bin/env bash
# Cargo runner: runs ELF ($1) on QEMU's mps2-an385 machine (Cortex-M3, no FPU) with deterministic
# instruction counting (1 instruction = 1 ns of virtual time) and decodes defmt on the host.
# QEMU's exit status is the firmware's semihosting exit code; pipefail keeps it through the pipe.
set -euo pipefail
ELF="$1"
qemu-system-arm -machine mps2-an385 -cpu cortex-m3 -nographic \
    -semihosting-config enable=on,target=native \
    -icount shift=0,align=off,sleep=off \
    -kernel "$ELF" | defmt-print -e "$ELF"
