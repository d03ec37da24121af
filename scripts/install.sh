#!/usr/bin/env bash
# Create .venv and install Covenant with every dependency hash-checked from
# requirements/dev.lock. Idempotent; used by demo.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
"$python" -c 'import sys; assert sys.version_info >= (3, 11), "Covenant needs Python 3.11+"'
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes \
  -r requirements/dev.lock
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps \
  --no-build-isolation -e .
