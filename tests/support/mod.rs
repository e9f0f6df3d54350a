//! Test support shared by the integration tests: the real API server, namespaces, and
//! small helpers. Test doubles live here and in `tests/es-sim`, never in `src/`.
#![allow(dead_code)] // each test binary uses a different part

pub mod apiserver;
pub mod operator;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
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
