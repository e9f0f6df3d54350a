#!/usr/bin/env bash
# Provides kubeconform for the JSON Schema test (tests/crd.rs) and prints the binary's path.
#
# - KUBECONFORM set (an executable): used as is.
# - Otherwise built once from the Go module github.com/yannh/kubeconform, pinned in
#   hack/kubeconform/go.mod, into
#   ${MESHLOGGING_CACHE:-~/.cache/meshlogging}/kubeconform/<version>-<hash>/ (hack/lib/go-tool.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/go-tool.sh"
use_env kubeconform KUBECONFORM
go_tool kubeconform "$here/kubeconform" github.com/yannh/kubeconform \
  github.com/yannh/kubeconform/cmd/kubeconform "-s -w"
