#!/usr/bin/env bash
# Provides argocd-lua (hack/argocd-lua/main.go): Argo CD's own health-check path (util/settings
# reading argocd-cm, util/lua's VM, gitops-engine's health.GetResourceHealth) as one binary,
# for tests/argocd_health.rs. Prints the binary's path.
#
# Built once from the Go modules pinned in hack/argocd-lua/go.mod (argo-cd v3.2.12), through
# the Go module proxy, into a cache outside the clone:
#   ${MESHLOGGING_CACHE:-~/.cache/meshlogging}/argocd-lua/<argo-cd version>-<hash of go.mod, go.sum, main.go>/
# A later run finds it there and builds nothing; Go's module and build caches are reused.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
mod="$here/argocd-lua"

version=$(awk '$1 == "github.com/argoproj/argo-cd/v3" {print $2; exit}' "$mod/go.mod")
[[ -n "$version" ]] || { echo "argocd-lua: no argo-cd version in $mod/go.mod" >&2; exit 1; }
key=$(cat "$mod/go.mod" "$mod/go.sum" "$mod/main.go" | sha256sum | cut -c1-12)
cache="${MESHLOGGING_CACHE:-$HOME/.cache/meshlogging}/argocd-lua/${version}-${key}"

if [[ -x "$cache/argocd-lua" ]]; then
  echo "$cache/argocd-lua"
  exit 0
fi

command -v go >/dev/null || { echo "argocd-lua: Go is needed to build Argo CD's Lua health runner" >&2; exit 1; }
echo "argocd-lua: building Argo CD $version's health-check runner into $cache (first run only)" >&2
start=$(date +%s)
tmp="$cache.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

(
  cd "$mod"
  CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$tmp/argocd-lua" . >&2
)

# Publish atomically, so a concurrent or interrupted run never sees half a folder.
rm -rf "$cache"
mv "$tmp" "$cache"
trap - EXIT
echo "argocd-lua: built in $(( $(date +%s) - start ))s" >&2
echo "$cache/argocd-lua"
