#!/usr/bin/env bash
# Provides argocd-lua (hack/argocd-lua/main.go): Argo CD's own health-check path (util/settings
# reading argocd-cm, util/lua's VM, gitops-engine's health.GetResourceHealth) as one binary,
# for tests/argocd_health.rs. Prints the binary's path.
#
# Built once from the Go modules pinned in hack/argocd-lua/go.mod (argo-cd v3.2.12) into
# ${MESHLOGGING_CACHE:-~/.cache/meshlogging}/argocd-lua/<argo-cd version>-<hash of go.mod,
# go.sum, main.go>/ (hack/lib/go-tool.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/go-tool.sh"
go_tool argocd-lua "$here/argocd-lua" github.com/argoproj/argo-cd/v3 . "-s -w" main.go
