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
#   (hack/lib/go-tool.sh)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/go-tool.sh"
use_env envtest KUBEBUILDER_ASSETS kube-apiserver etcd

go_cache envtest "$here/envtest" k8s.io/kubernetes
k8s_version=$go_version
ldflags=$(kube_ldflags "$k8s_version")

build() {
  go build -trimpath -ldflags "$ldflags" -o "$1/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver &&
    go build -trimpath -ldflags "-s -w" -o "$1/etcd" go.etcd.io/etcd/server/v3
}
go_build_once envtest "$here/envtest" "kube-apiserver $k8s_version and etcd (several minutes on 2 cores)" \
  build kube-apiserver etcd
echo "$go_dir"
