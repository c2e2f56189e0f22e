#!/usr/bin/env bash
# Many-seed search of the optimizers' fidelity, outside CI (issue 16, item 3): writes one PyTorch
# golden file per seed with scripts/gen_golden.py (torch needed: scripts/requirements-golden.txt)
# and runs them all through the harness, `cargo run --release --example golden`, in one table.
# The committed tests/data/optim-golden.json stays small; this regenerates the rest.
#
#   scripts/golden-search.sh                 10 seeds x 300 cases (50 per optimizer)
#   SEEDS="1 2 3" CASES=100 scripts/golden-search.sh
#   CORNERS=1 scripts/golden-search.sh       the same over the corner regimes (gen_golden.py --corners)
#
# PYTHON (default python3) is the interpreter with torch; OUT (default target/golden-search) the
# folder of the generated files, reused when a file for a seed and case count exists already.
# Exits with the harness's status: 1 if any case is over its tolerance or cannot be run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
SEEDS="${SEEDS:-20261201 20261202 20261203 20261204 20261205 20261206 20261207 20261208 20261209 20261210}"
CASES="${CASES:-50}"
OUT="${OUT:-target/golden-search}"
CORNERS="${CORNERS:-0}"
extra=()
tag=""
if [ "$CORNERS" = 1 ]; then
    extra=(--corners)
    tag="-corners"
fi
mkdir -p "$OUT"

files=()
for seed in $SEEDS; do
    f="$OUT/golden-seed$seed-cases$CASES$tag.json"
    if [ ! -s "$f" ]; then
        echo "==> generating $f"
        "$PYTHON" scripts/gen_golden.py --seed "$seed" --cases "$CASES" "${extra[@]}" --out "$f"
    fi
    files+=("$f")
done
echo "==> harness over ${#files[@]} files"
cargo run --release --example golden -- "${files[@]}"
