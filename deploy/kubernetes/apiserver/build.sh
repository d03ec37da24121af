#!/usr/bin/env bash
# Build kube-apiserver from source (no Docker, no kind) and print the binary's path.
# The binary is cached outside the repo, keyed by version, like Kafka's jars: the
# build takes about 6 minutes on 2 cores and about 3 GB of Go caches, once.
#
# k8s.io/kubernetes cannot be `go install`ed (its go.mod has replace directives for
# its staging modules), so a small wrapper module requires it and repeats one
# replace per staging module at the matching v0.x tag.
set -euo pipefail
version=${KUBE_VERSION:-v1.34.4}
cache=${COVENANT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/covenant}/kube-apiserver/$version
binary=$cache/kube-apiserver
if [[ -x $binary ]]; then echo "$binary"; exit 0; fi
command -v go >/dev/null || { echo "building kube-apiserver needs Go 1.24 or later (https://go.dev/dl; Debian's golang-go is too old)" >&2; exit 1; }
minor=${version#v1.}; minor=${minor%%.*}; patch=${version##*.}
staging=v0.$minor.$patch
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"
echo "kube-apiserver $version: resolving k8s.io/kubernetes's staging modules" >&2
gomod=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
mapfile -t modules < <(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' "$gomod" | sort -u)
{
  echo "module covenant.local/kube-apiserver"
  echo
  echo "go 1.24"
  echo
  echo "require k8s.io/kubernetes $version"
  echo
  for m in "${modules[@]}"; do echo "replace $m => $m $staging"; done
} > go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
echo "kube-apiserver $version: go mod tidy (${#modules[@]} staging modules at $staging)" >&2
GOFLAGS=-mod=mod go mod tidy >&2
mkdir -p "$cache"
echo "kube-apiserver $version: go build (about 6 minutes on 2 cores)" >&2
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version"
ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
CGO_ENABLED=0 go build -tags tools -ldflags "$ldflags" -o "$binary.partial" k8s.io/kubernetes/cmd/kube-apiserver >&2
mv "$binary.partial" "$binary"
echo "$binary"
