#!/usr/bin/env bash
# Provides ECK's operator (Elastic Cloud on Kubernetes) for the comparison in
# benches/bootstrap.rs and prints the binary's path. Not needed by `make test`.
#
# - ECK_OPERATOR set (an executable): used as is.
# - Otherwise built once from the Go module github.com/elastic/cloud-on-k8s/v3 (its `cmd`
#   package), pinned in hack/eck/go.mod, into
#   ${MESHLOGGING_CACHE:-~/.cache/meshlogging}/eck-operator/<version>-<hash>/ (hack/lib/go-tool.sh).
#   Its CRDs come from the same module, in Go's module cache (config/crds/v1/all-crds.yaml).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/go-tool.sh"
use_env eck-operator ECK_OPERATOR
go_tool eck-operator "$here/eck" github.com/elastic/cloud-on-k8s/v3 \
  github.com/elastic/cloud-on-k8s/v3/cmd "-s -w" tools.go
