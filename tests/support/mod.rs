//! Test support shared by the integration tests: the real API server, namespaces, and
//! small helpers. Test doubles live here and in `tests/es-sim`, never in `src/`.
#![allow(dead_code)] // each test binary uses a different part

pub mod apiserver;
pub mod elasticsearch;
pub mod es_proxy;
pub mod filebeat;
pub mod operator;
pub mod policy_oracle;
pub mod process;
pub mod specgen;
pub mod sync;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;
use std::sync::OnceLock;
use std::time::Duration;

/// A fresh namespace for one test, named `<prefix>-<random>`.
pub async fn namespace(client: &kube::Client, prefix: &str) -> String {
    let name = format!("{prefix}-{:08x}", rand::random::<u32>());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    name
}

static CRD_INSTALLED: OnceLock<()> = OnceLock::new();

/// Installs the MeshLogging CRD once per test binary and waits until it is Established.
pub async fn install_crd(client: &kube::Client) {
    if CRD_INSTALLED.get().is_some() {
        return;
    }
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = meshlogging_operator::crd::crd();
    let name = crd.metadata.name.clone().expect("crd name");
    crds.patch(
        &name,
        &PatchParams::apply("envtest").force(),
        &Patch::Apply(&crd),
    )
    .await
    .expect("apply CRD");
    wait_for(Duration::from_secs(30), "CRD Established", || async {
        let crd = crds.get(&name).await.ok()?;
        let established = crd
            .status?
            .conditions?
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        established.then_some(())
    })
    .await;
    let _ = CRD_INSTALLED.set(());
}

/// Polls `check` until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Plays the kubelet: every workload of `name` reports all its pods ready.
pub async fn pods_ready(client: &kube::Client, ns: &str, name: &str) {
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    if let Some(s) = sts.get_opt(&format!("{name}-es")).await.expect("sts") {
        let n = s.spec.and_then(|s| s.replicas).unwrap_or(1);
        let status = json!({"status": {"replicas": n, "readyReplicas": n, "availableReplicas": n,
            "currentReplicas": n, "updatedReplicas": n, "observedGeneration": s.metadata.generation}});
        sts.patch_status(
            &format!("{name}-es"),
            &PatchParams::default(),
            &Patch::Merge(status),
        )
        .await
        .expect("sts status");
    }
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), ns);
    if let Some(d) = deploys
        .get_opt(&format!("{name}-kibana"))
        .await
        .expect("deploy")
    {
        let n = d.spec.and_then(|s| s.replicas).unwrap_or(1);
        let status = json!({"status": {"replicas": n, "readyReplicas": n, "availableReplicas": n,
            "updatedReplicas": n, "observedGeneration": d.metadata.generation}});
        deploys
            .patch_status(
                &format!("{name}-kibana"),
                &PatchParams::default(),
                &Patch::Merge(status),
            )
            .await
            .expect("deploy status");
    }
    let ds: Api<DaemonSet> = Api::namespaced(client.clone(), ns);
    if ds
        .get_opt(&format!("{name}-collector"))
        .await
        .expect("ds")
        .is_some()
    {
        let status = json!({"status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2,
            "numberReady": 2, "numberMisscheduled": 0, "numberAvailable": 2, "updatedNumberScheduled": 2}});
        ds.patch_status(
            &format!("{name}-collector"),
            &PatchParams::default(),
            &Patch::Merge(status),
        )
        .await
        .expect("ds status");
    }
}

/// A resource from `examples/`, as a user would apply it.
pub fn example(file: &str) -> meshlogging_operator::api::MeshLogging {
    let path = format!("{}/examples/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("read example");
    serde_saphyr::from_str(&text).expect("parse example")
}

/// The desired Elasticsearch configuration of `spec` for the MeshLogging `owner`
/// (`<namespace>/<name>`), as the operator computes it: through validation.
pub fn desired(
    spec: &meshlogging_operator::api::MeshLoggingSpec,
    owner: &str,
) -> meshlogging_operator::elastic::DesiredConfig {
    let (namespace, name) = owner.split_once('/').expect("owner is <namespace>/<name>");
    let mut ml = meshlogging_operator::api::MeshLogging::new(name, spec.clone());
    ml.metadata.namespace = Some(namespace.to_string());
    ml.metadata.uid = Some(format!("uid-of-{name}"));
    let v = meshlogging_operator::validate::validate(&ml)
        .unwrap_or_else(|e| panic!("the spec of {owner} is invalid: {e}"));
    meshlogging_operator::elastic::desired(&v)
}

/// The Elasticsearch stand-in of the tests: TLS, `elastic` with
/// [`operator::ELASTIC_PASSWORD`], the default S3 client's keys in the keystore (for
/// examples/production.yaml) and `path.repo` `/snapshots`, with `nodes` nodes.
pub async fn es_sim(nodes: u32) -> es_sim::EsSim {
    es_sim::EsSim::start_with(es_sim::SimConfig {
        tls: true,
        users: vec![es_sim::SimUser::elastic(operator::ELASTIC_PASSWORD)],
        keystore: vec![
            "s3.client.default.access_key".into(),
            "s3.client.default.secret_key".into(),
        ],
        path_repo: vec!["/snapshots".into()],
        nodes,
        ..Default::default()
    })
    .await
}

/// The condition of type `type_` in `status`; panics naming it when absent.
pub fn condition(
    status: &meshlogging_operator::api::MeshLoggingStatus,
    type_: &str,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .cloned()
        .unwrap_or_else(|| panic!("no {type_} condition in {status:?}"))
}
