//! The MeshLogging operator's test kit: what the integration tests (`tests/*.rs`), the bench
//! (`benches/operator.rs`) and the demo (`hack/demo.rs`) start, drive and stop. Test doubles
//! live here and in `tests/es-sim`, never in the operator's `src/`.
//!
//! ```text
//!  Setup (client, CRD, namespace) ──> apiserver: kube-apiserver + etcd ──> audit: writes
//!                                       ▲              ▲                  by user agent
//!  operator: in-process, or the binary ─┘   Kubelet: marks workloads ready (no nodes here)
//!     │ (kill-on-drop OperatorProcess)
//!     ▼
//!  sim: the es-sim stand-in  |  elasticsearch: a real node <── es_proxy <── filebeat
//! ```
//!
//! For real StatefulSet pods: `controller_manager` (the real StatefulSet controller) and
//! `node_kubelet` (marks its pods Ready, and makes them nodes joining and leaving the
//! stand-in's cluster).
//!
//! Also: `kubectl` (the CLI against the test API server), `resource` (wait for Ready,
//! delete), `process` (free ports, supervisors, `hack/*.sh` tools, polling), `sync` (one
//! sync pass), `policy_oracle` (Elasticsearch's ILM/SLM validation), `specgen` (proptest
//! strategies of specs).
//!
//! Everything started here stops when its handle is dropped or the test binary ends
//! (supervisors on a stdin pipe, kill-on-drop children); nothing binds a fixed port.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod apiserver;
pub mod audit;
pub mod controller_manager;
pub mod elasticsearch;
pub mod es_proxy;
pub mod filebeat;
pub mod kubectl;
pub mod kubelet;
pub mod node_kubelet;
pub mod operator;
pub mod policy_oracle;
pub mod process;
pub mod resource;
pub mod setup;
pub mod sim;
pub mod specgen;
pub mod sync;

use std::path::{Path, PathBuf};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use meshlogging_operator::api::{MeshLogging, MeshLoggingSpec, MeshLoggingStatus};

pub use kubelet::Kubelet;
pub use process::wait_for;
pub use setup::Setup;

/// `path` in the repository (the operator's crate root: `examples/`, `hack/`, `crds/`, ...).
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the test kit lives in the repository")
        .join(path)
}

/// A resource from `examples/`, as a user would apply it.
pub fn example(file: &str) -> MeshLogging {
    let path = repo(&format!("examples/{file}"));
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// The spec of the example `file`.
/// The desired Elasticsearch configuration of `spec` for the MeshLogging `owner`
/// (`<namespace>/<name>`), as the operator computes it: through validation.
pub fn desired(
    spec: &MeshLoggingSpec,
    owner: &str,
) -> meshlogging_operator::elastic::DesiredConfig {
    let (namespace, name) = owner.split_once('/').expect("owner is <namespace>/<name>");
    let mut ml = MeshLogging::new(name, spec.clone());
    ml.metadata.namespace = Some(namespace.to_string());
    ml.metadata.uid = Some(format!("uid-of-{name}"));
    let v = meshlogging_operator::validate::validate(&ml)
        .unwrap_or_else(|e| panic!("the spec of {owner} is invalid: {e}"));
    meshlogging_operator::elastic::desired(&v)
}

/// The spec of `examples/<file>`.
pub fn example_spec(file: &str) -> MeshLoggingSpec {
    example(file).spec
}

/// The condition of type `type_` in `status`; panics naming it when absent.
pub fn condition(status: &MeshLoggingStatus, type_: &str) -> Condition {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .cloned()
        .unwrap_or_else(|| panic!("no {type_} condition in {status:?}"))
}

/// Whether `ml` reports `Ready=True`.
pub fn is_ready(ml: &MeshLogging) -> bool {
    ml.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}
