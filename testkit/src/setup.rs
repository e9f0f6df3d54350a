//! The start of most API-server tests: the binary's API server, an admin client, the CRD
//! installed, and a fresh namespace.

use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};

use crate::apiserver::{self, ApiServer};
use crate::kubelet::Kubelet;
use crate::process::wait_for;

/// What a test works with: `Setup::new("prefix").await`, or
/// `Setup::builder("prefix").crd(false).build().await` for a test that installs the CRD its
/// own way (manifests, Helm chart).
pub struct Setup {
    /// The API server of this test binary.
    pub server: &'static ApiServer,
    /// An admin client.
    pub client: kube::Client,
    /// The test's own namespace, `<prefix>-<random>`.
    pub ns: String,
}

/// Options of a [`Setup`].
pub struct SetupBuilder {
    prefix: String,
    crd: bool,
}

impl SetupBuilder {
    /// Whether to install the MeshLogging CRD (default: yes).
    pub fn crd(mut self, install: bool) -> Self {
        self.crd = install;
        self
    }

    /// Starts (or reuses) the API server and creates the namespace.
    pub async fn build(self) -> Setup {
        let server = apiserver::get();
        let client = server.client().await;
        if self.crd {
            install_crd(&client).await;
        }
        let ns = namespace(&client, &self.prefix).await;
        Setup { server, client, ns }
    }
}

impl Setup {
    /// The defaults: the CRD installed and a namespace named after `prefix`.
    pub async fn new(prefix: &str) -> Setup {
        Setup::builder(prefix).build().await
    }

    /// A setup to adjust before [`SetupBuilder::build`].
    pub fn builder(prefix: &str) -> SetupBuilder {
        SetupBuilder {
            prefix: prefix.to_string(),
            crd: true,
        }
    }

    /// The namespaced API of `K` in the test's namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// The kubelet stand-in for the test's namespace.
    pub fn kubelet(&self) -> Kubelet {
        Kubelet::new(&self.client, &self.ns)
    }
}

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
