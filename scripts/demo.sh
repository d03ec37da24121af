#!/usr/bin/env bash
# The main job on embedded defaults: install, then `covenant demo` (args pass through,
# e.g. --json). Needs nothing but Python 3.11+.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
exec .venv/bin/covenant demo "$@"
