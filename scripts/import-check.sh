#!/usr/bin/env bash
# Regenerates the importer's committed files (tests/data/int8/*_model.rs) from the committed
# .tflite models into a temporary directory and diffs them against the committed ones, then runs
# the importer's refusal tests. `--write` updates the committed files instead of diffing.
# PYTHON (default python3) must have scripts/requirements-import.txt installed; rustfmt on PATH.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
# model, head name, split (operators before it are the backbone: up to the flatten, or for
# digits2d_convhead only the first conv), generated file (tests/data/int8/FILE_model.rs)
MODELS=(
    "imu1d ImuHead 6 imu1d"
    "digits2d DigitsHead 6 digits2d"
    "digits2d_clamp DigitsHead 6 digits2d_clamp"
    "digits2d DigitsConvHead 1 digits2d_convhead"
)

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
status=0
for m in "${MODELS[@]}"; do
    read -r model name split file <<<"$m"
    "$PYTHON" scripts/tflite_import.py "tests/data/int8/$model.tflite" --name "$name" --split "$split" \
        --out "$out/${file}_model.rs"
    if [ "${1:-}" = "--write" ]; then
        cp "$out/${file}_model.rs" "tests/data/int8/${file}_model.rs"
        echo "wrote tests/data/int8/${file}_model.rs"
    elif diff -u "tests/data/int8/${file}_model.rs" "$out/${file}_model.rs"; then
        echo "tests/data/int8/${file}_model.rs is current"
    else
        echo "tests/data/int8/${file}_model.rs is stale: run bash scripts/import-check.sh --write" >&2
        status=1
    fi
done
"$PYTHON" scripts/test_tflite_import.py
exit "$status"
