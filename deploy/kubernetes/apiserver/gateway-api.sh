#!/usr/bin/env bash
# Fetch Gateway API's CRDs from the Go module proxy (a package registry, cached in
# Go's module cache) and print the folder holding them. The experimental channel is
# the standard one plus fields such as HTTPRoute's sessionPersistence, which sticky
# A/B routes use; everything else Covenant writes is in the standard channel.
set -euo pipefail
version=${GATEWAY_API_VERSION:-v1.6.3}
channel=${GATEWAY_API_CHANNEL:-experimental}
command -v go >/dev/null || { echo "fetching Gateway API's CRDs needs Go" >&2; exit 1; }
dir=$(cd "${TMPDIR:-/tmp}" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/gateway-api@$version" \
  | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
[[ -d $dir/config/crd/$channel ]] || { echo "no $channel CRDs in $dir" >&2; exit 1; }
echo "$dir/config/crd/$channel"
