#!/usr/bin/env bash
# Provides kube-controller-manager for the tests that need the real StatefulSet controller
# (tests/rolling.rs) and prints its path.
#
# - KUBE_CONTROLLER_MANAGER set (an executable): used as is.
# - Otherwise built from the same pinned k8s.io/kubernetes version as hack/envtest.sh's
#   kube-apiserver, from its own small module (hack/controller-manager/go.mod) so that its
#   cache key is its own and the cached apiserver is never rebuilt for it:
#     ${MESHLOGGING_CACHE:-~/.cache/meshlogging}/kcm/<k8s-version>-<hash>/kube-controller-manager
#   (hack/lib/go-tool.sh)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/go-tool.sh"
use_env kcm KUBE_CONTROLLER_MANAGER

go_cache kcm "$here/controller-manager" k8s.io/kubernetes
k8s_version=$go_version
ldflags=$(kube_ldflags "$k8s_version")

build() {
  go build -trimpath -ldflags "$ldflags" -o "$1/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager
}
go_build_once kcm "$here/controller-manager" "kube-controller-manager $k8s_version (several minutes on 2 cores)" \
  build kube-controller-manager
echo "$go_dir/kube-controller-manager"
