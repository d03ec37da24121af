#!/usr/bin/env bash
# Re-pin every dependency with hashes (run after changing pyproject.toml).
# The test command installs from these files with --require-hashes.
#
#   dev.lock      everything: the package, every extra, the test and lint tools
#   runtime.lock  what the service image runs (Dockerfile): the package's dependencies
#                 and the extras `covenant up` uses, no test or lint tools
#   build.lock    the build backend, for the image's wheel-building stage
#
# runtime.lock and build.lock are constrained to dev.lock's versions, so the image
# ships exactly the versions the test suite ran on.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v uv >/dev/null || { echo "lock.sh needs uv: pip install uv" >&2; exit 1; }
common=(--generate-hashes --python-version 3.11 --universal)
uv pip compile pyproject.toml requirements/build.in --extra dev "${common[@]}" \
  -o requirements/dev.lock
# The extras the service imports at run time: eval (the evaluation worker), serve (the
# serving agent, router and model servers), hsm (pkcs11: signers and the signing
# proxy), kubernetes (the Kubernetes serving runtime), ray (the Ray executor's job
# client), drift (the drift worker's sketches). Not examples: training code brings
# its own dependencies.
uv pip compile pyproject.toml --extra eval --extra serve --extra hsm --extra kubernetes \
  --extra ray --extra drift -c requirements/dev.lock "${common[@]}" -o requirements/runtime.lock
uv pip compile requirements/build.in -c requirements/dev.lock "${common[@]}" \
  -o requirements/build.lock
