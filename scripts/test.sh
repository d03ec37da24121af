#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs the hash-locked dependencies
# into .venv, fetches Apache Kafka from Maven Central (cached outside the repo),
# runs the linters, type checker and contract check, then pytest, whose fixtures
# start a real single-node Kafka broker, etcd and kube-apiserver. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "system packages"
missing=()
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v softhsm2-util >/dev/null || missing+=(softhsm2)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
command -v etcd >/dev/null || missing+=(etcd-server)
if ((${#missing[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
java -version 2>&1 | head -1

step "python environment (.venv, hash-checked)"
scripts/install.sh

step "Apache Kafka jars (Maven Central)"
deploy/kafka/fetch.sh

step "kube-apiserver (built from source once, cached) and Gateway API's CRDs"
deploy/kubernetes/apiserver/build.sh
deploy/kubernetes/apiserver/gateway-api.sh

step "lint, format, types, contract"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/covenant schemas check

step "tests"
.venv/bin/pytest "$@"
