#!/usr/bin/env bash
# Provides helm for the chart tests (tests/helm_chart.rs) and prints the binary's path.
#
# - HELM set (an executable): used as is.
# - Otherwise built once from the Go module helm.sh/helm/v3, pinned in hack/helm/go.mod,
#   through the Go module proxy, into a cache outside the clone:
#     ${MESHLOGGING_CACHE:-~/.cache/meshlogging}/helm/<version>-<hash of go.mod, go.sum>/
#   A later run finds it there and builds nothing; Go's module and build caches are reused.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
mod="$here/helm"

if [[ -n "${HELM:-}" ]]; then
  [[ -x "$HELM" ]] || { echo "helm: HELM=$HELM is not an executable" >&2; exit 1; }
  echo "$HELM"
  exit 0
fi

version=$(awk '{ if ($1 == "require") { $1 = "" ; $0 = $0 } } $1 == "helm.sh/helm/v3" {print $2; exit}' "$mod/go.mod")
[[ -n "$version" ]] || { echo "helm: no helm.sh/helm/v3 version in $mod/go.mod" >&2; exit 1; }
key=$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -c1-12)
cache="${MESHLOGGING_CACHE:-$HOME/.cache/meshlogging}/helm/${version}-${key}"

if [[ -x "$cache/helm" ]]; then
  echo "$cache/helm"
  exit 0
fi

command -v go >/dev/null || { echo "helm: Go is needed to build helm" >&2; exit 1; }
echo "helm: building helm $version into $cache (first run only)" >&2
start=$(date +%s)
tmp="$cache.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

(
  cd "$mod"
  CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$version" \
    -o "$tmp/helm" helm.sh/helm/v3/cmd/helm >&2
)

# Publish atomically, so a concurrent or interrupted run never sees half a folder.
rm -rf "$cache"
mv "$tmp" "$cache"
trap - EXIT
echo "helm: built in $(( $(date +%s) - start ))s" >&2
echo "$cache/helm"
