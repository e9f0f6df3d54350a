#!/usr/bin/env bash
# Provides kubeconform for the JSON Schema test (tests/crd.rs) and prints the binary's path.
#
# - KUBECONFORM set (an executable): used as is.
# - Otherwise built once from the Go module github.com/yannh/kubeconform, pinned in hack/kubeconform/go.mod,
#   through the Go module proxy, into a cache outside the clone:
#     ${MESHLOGGING_CACHE:-~/.cache/meshlogging}/kubeconform/<version>-<hash of go.mod, go.sum>/
#   A later run finds it there and builds nothing; Go's module and build caches are reused.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
mod="$here/kubeconform"

if [[ -n "${KUBECONFORM:-}" ]]; then
  [[ -x "$KUBECONFORM" ]] || { echo "kubeconform: KUBECONFORM=$KUBECONFORM is not an executable" >&2; exit 1; }
  echo "$KUBECONFORM"
  exit 0
fi

version=$(awk '{ if ($1 == "require") { $1 = "" ; $0 = $0 } } $1 == "github.com/yannh/kubeconform" {print $2; exit}' "$mod/go.mod")
[[ -n "$version" ]] || { echo "kubeconform: no github.com/yannh/kubeconform version in $mod/go.mod" >&2; exit 1; }
key=$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -c1-12)
cache="${MESHLOGGING_CACHE:-$HOME/.cache/meshlogging}/kubeconform/${version}-${key}"

if [[ -x "$cache/kubeconform" ]]; then
  echo "$cache/kubeconform"
  exit 0
fi

command -v go >/dev/null || { echo "kubeconform: Go is needed to build kubeconform" >&2; exit 1; }
echo "kubeconform: building kubeconform $version into $cache (first run only)" >&2
start=$(date +%s)
tmp="$cache.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

(
  cd "$mod"
  CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-s -w" \
    -o "$tmp/kubeconform" github.com/yannh/kubeconform/cmd/kubeconform >&2
)

# Publish atomically, so a concurrent or interrupted run never sees half a folder.
rm -rf "$cache"
mv "$tmp" "$cache"
trap - EXIT
echo "kubeconform: built in $(( $(date +%s) - start ))s" >&2
echo "$cache/kubeconform"
