#!/usr/bin/env bash
# Provides kube-apiserver and etcd for the integration tests (the envtest pattern) and
# prints the folder that holds them.
#
# - KUBEBUILDER_ASSETS set (and holding both binaries): that folder is used as is.
# - Otherwise both are built from the Go modules pinned in hack/envtest/go.mod, through
#   the Go module proxy, into a cache outside the clone:
#     ${MESHLOGGING_CACHE:-~/.cache/meshlogging}/envtest/<k8s-version>-<go.sum hash>/
#   A later run (or CI on the same machine) finds them there and builds nothing.
#   Go's own module and build caches (GOMODCACHE, GOCACHE) are reused as well.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
mod="$here/envtest"

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  if [[ -x "$KUBEBUILDER_ASSETS/kube-apiserver" && -x "$KUBEBUILDER_ASSETS/etcd" ]]; then
    echo "$KUBEBUILDER_ASSETS"
    exit 0
  fi
  echo "envtest: KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks kube-apiserver or etcd" >&2
  exit 1
fi

k8s_version=$(awk '{ if ($1 == "require") { $1 = "" ; $0 = $0 } } $1 == "k8s.io/kubernetes" && $2 ~ /^v1\./ {print $2; exit}' "$mod/go.mod")
[[ -n "$k8s_version" ]] || { echo "envtest: no k8s.io/kubernetes version in $mod/go.mod" >&2; exit 1; }
key=$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -c1-12)
cache="${MESHLOGGING_CACHE:-$HOME/.cache/meshlogging}/envtest/${k8s_version}-${key}"

if [[ -x "$cache/kube-apiserver" && -x "$cache/etcd" ]]; then
  echo "$cache"
  exit 0
fi

command -v go >/dev/null || { echo "envtest: Go is needed to build kube-apiserver and etcd" >&2; exit 1; }
echo "envtest: building kube-apiserver $k8s_version and etcd into $cache (first run only; several minutes on 2 cores)" >&2
start=$(date +%s)
tmp="$cache.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

minor=${k8s_version#v1.}; minor=${minor%%.*}
ldflags="-s -w"
ldflags+=" -X k8s.io/component-base/version.gitVersion=$k8s_version"
ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
ldflags+=" -X k8s.io/component-base/version.gitMinor=$minor"
ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"

(
  cd "$mod"
  export CGO_ENABLED=0 GOFLAGS=-mod=mod
  go build -trimpath -ldflags "$ldflags" -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
  go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3 >&2
)

# Publish atomically, so a concurrent or interrupted run never sees half a folder.
rm -rf "$cache"
mv "$tmp" "$cache"
trap - EXIT
echo "envtest: built in $(( $(date +%s) - start ))s" >&2
echo "$cache"
