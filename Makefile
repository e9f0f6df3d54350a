# MeshLogging operator. `make test` runs everything CI runs; `make test-fast` the tests that
# need neither Go nor a network; `make run` runs the operator against the current kubeconfig
# context.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: test test-fast bench lint tools envtest elasticsearch es-policy-validator argocd-lua helm kubeconform filebeat crd run demo

## Lint, then every test of the workspace against a real kube-apiserver + etcd and a real
## Elasticsearch. Needs Rust, Go, a JDK with Maven, and kubectl; every other tool is built or
## fetched here, once, into ~/.cache/meshlogging.
test: lint tools
	KUBEBUILDER_ASSETS="$$(hack/envtest.sh)" $(CARGO) test --workspace

## The test binaries that need neither Go nor a network: no API server, no real
## Elasticsearch, no tool from ~/.cache/meshlogging (tests/README.md lists them all).
FAST_TESTS := render_golden render_props render_config_props desired_golden kibana_objects kibana_sync es_sync secrets_in_logs

## Unit tests, the renderers' golden and property tests, the Elasticsearch sync against the
## stand-in, the CRD freshness checks, and the stand-in's own tests. Under a minute warm.
test-fast:
	$(CARGO) test -p meshlogging-operator --lib --bins $(addprefix --test ,$(FAST_TESTS))
	$(CARGO) test -p meshlogging-operator --test crd -- committed_crd_matches_generated json_schema_is_strict
	$(CARGO) test -p es-sim -p kibana-sim

## The benchmarks (figures, not tests), against the real API server: the operator with the
## Elasticsearch stand-in (benches/operator.rs), and a hundred clusters bootstrapping at once
## beside ECK, built from its Go module (benches/bootstrap.rs; SIZES=1,10,100,300 and
## IDLE_SECS=60 by default), its growth curves drawn to target/bench/bootstrap.png
## (hack/plot.sh: matplotlib from PyPI, in the cache).
## The bootstrap bench measures the operator as shipped: the release build (LTO, optimised
## for size), not the bench profile's.
bench: envtest
	KUBEBUILDER_ASSETS="$$(hack/envtest.sh)" $(CARGO) bench --bench operator
	$(CARGO) build --release --bin meshlogging-operator
	KUBEBUILDER_ASSETS="$$(hack/envtest.sh)" MESHLOGGING_AUDIT_READS=1 ECK_OPERATOR="$$(hack/eck.sh)" \
		MESHLOGGING_OPERATOR="$(CURDIR)/target/release/meshlogging-operator" \
		BENCH_CSV="$(CURDIR)/target/bench/bootstrap.csv" $(CARGO) bench --bench bootstrap
	hack/plot.sh target/bench/bootstrap.csv target/bench/bootstrap.png

## The tools the tests run, each built once from pinned Go modules into the cache.
tools: envtest elasticsearch es-policy-validator argocd-lua helm kubeconform filebeat

## cargo fmt and clippy, as CI runs them.
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## kube-apiserver and etcd for the tests: KUBEBUILDER_ASSETS, or built once from the Go
## modules into ~/.cache/meshlogging/envtest.
envtest:
	@hack/envtest.sh >/dev/null

## Elasticsearch's integration-test distribution (Maven Central), for tests/real_es.rs and
## the differential tests.
elasticsearch:
	@hack/elasticsearch.sh >/dev/null

## ILM/SLM validation by Elasticsearch's own x-pack-core classes, for tests/policy_oracle.rs.
es-policy-validator: elasticsearch
	@hack/es-policy-validator.sh >/dev/null

## Argo CD's own health-check runtime (argo-cd util/lua + gitops-engine), for tests/argocd_health.rs.
argocd-lua:
	@hack/argocd-lua.sh >/dev/null

## helm, built from helm.sh/helm/v3, for tests/helm_chart.rs.
helm:
	@hack/helm.sh >/dev/null

## kubeconform, built from github.com/yannh/kubeconform, for the JSON Schema test (tests/crd.rs).
kubeconform:
	@hack/kubeconform.sh >/dev/null

## Filebeat, built from github.com/elastic/beats/v7 (with beats' replace block), the real
## shipper of tests/shipping.rs.
filebeat:
	@hack/filebeat.sh >/dev/null

## Regenerate the committed CRD from the Rust types, its copy in the Helm chart, and its
## JSON Schema for kubeconform (schemas/<group>/<kind>_<version>.json).
crd:
	$(CARGO) run -q -- crd > crds/meshlogging.yaml
	cp crds/meshlogging.yaml charts/meshlogging-operator/crds/meshlogging.yaml
	mkdir -p schemas/logging.mcp-mesh.io
	$(CARGO) run -q -- crd --json-schema > schemas/logging.mcp-mesh.io/meshlogging_v1alpha1.json

## Run the operator against the current kubeconfig context (CRD must be installed:
## kubectl apply -f crds/meshlogging.yaml). Leader election uses a Lease in `default`.
run:
	$(CARGO) run -- run --metrics-addr 127.0.0.1:8080

## A local demo: throwaway API server + Elasticsearch stand-in, the whole flow in a minute.
demo: envtest
	KUBEBUILDER_ASSETS="$$(hack/envtest.sh)" $(CARGO) run -q --example demo
