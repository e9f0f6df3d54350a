#!/usr/bin/env bash
# Provides helm for the chart tests (tests/helm_chart.rs) and prints the binary's path.
#
# - HELM set (an executable): used as is.
# - Otherwise built once from the Go module helm.sh/helm/v3, pinned in hack/helm/go.mod, into
#   ${MESHLOGGING_CACHE:-~/.cache/meshlogging}/helm/<version>-<hash>/ (hack/lib/go-tool.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/go-tool.sh"
use_env helm HELM
go_tool helm "$here/helm" helm.sh/helm/v3 helm.sh/helm/v3/cmd/helm \
  "-s -w -X helm.sh/helm/v3/internal/version.version={version}"
