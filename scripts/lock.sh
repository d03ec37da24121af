#!/usr/bin/env bash
# Re-pin every dependency with hashes (run after changing pyproject.toml).
# The test command installs from these files with --require-hashes.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v uv >/dev/null || { echo "lock.sh needs uv: pip install uv" >&2; exit 1; }
uv pip compile pyproject.toml requirements/build.in --extra dev --generate-hashes \
  --python-version 3.11 --universal -o requirements/dev.lock
