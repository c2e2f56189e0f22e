#!/usr/bin/env bash
# Builds the Python wheel (python/, maturin, release), installs it into a fresh virtual
# environment with the pinned test dependencies (python/requirements-dev.txt) and runs the
# pytest suite (python/tests). torch is not installed: the edgetune.torch adapter's tests are
# skipped unless the environment already sees torch. Then the federated fine-tuning example's
# short run (python/examples/fleet, its pinned requirements: Flower's simulation engine and
# matplotlib): 20 devices, 10 rounds, failing unless federated beats local-only fine-tuning.
#
# Usage: scripts/python-tests.sh            (venv in target/py-venv, wheel in target/wheels)
#        PY_VENV=/path scripts/python-tests.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
VENV="${PY_VENV:-target/py-venv}"
WHEELS=target/wheels

# The fixture the bit-exactness tests read must be what the static optimizers produce now.
cargo run --release --example pyexpect -- --check

rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r python/requirements-dev.txt

rm -rf "$WHEELS"
(cd python && "../$VENV/bin/maturin" build --release --quiet --out "../$WHEELS")
"$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps "$WHEELS"/edgetune-*.whl

# Run from outside python/ so that the installed wheel is imported, not the source folder.
(cd target && "../$VENV/bin/python" -m pytest -q ../python/tests)

"$VENV/bin/pip" install --quiet --disable-pip-version-check -r python/examples/fleet/requirements.txt
start=$SECONDS
(cd target && "../$VENV/bin/python" ../python/examples/fleet/fleet.py --ci --out fleet-ci)
echo "fleet --ci: $((SECONDS - start)) s"
