# MeshLogging operator. `make test` runs everything CI runs; `make run` runs the operator
# against the current kubeconfig context.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: test lint envtest crd run demo

## Lint, then every test of the workspace against a real kube-apiserver + etcd.
test: lint envtest
	KUBEBUILDER_ASSETS="$$(hack/envtest.sh)" $(CARGO) test --workspace

## cargo fmt and clippy, as CI runs them.
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## kube-apiserver and etcd for the tests: KUBEBUILDER_ASSETS, or built once from the Go
## modules into ~/.cache/meshlogging/envtest.
envtest:
	@hack/envtest.sh >/dev/null

## Regenerate the committed CRD from the Rust types.
crd:
	$(CARGO) run -q -- crd > crds/meshlogging.yaml

## Run the operator against the current kubeconfig context (CRD must be installed:
## kubectl apply -f crds/meshlogging.yaml). Leader election uses a Lease in `default`.
run:
	$(CARGO) run -- run --metrics-addr 127.0.0.1:8080

## A local demo: throwaway API server + Elasticsearch stand-in, the whole flow in a minute.
demo: envtest
	KUBEBUILDER_ASSETS="$$(hack/envtest.sh)" $(CARGO) run -q --example demo
