//! Recommended labels, selectors, owner references and object metadata shared by every
//! rendered object. Pure.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::api::{GROUP, VERSION};
use crate::validate::Validated;

/// `app.kubernetes.io/name`: which application (`elasticsearch`, `kibana`, ...).
pub const NAME: &str = "app.kubernetes.io/name";
/// `app.kubernetes.io/instance`: the MeshLogging's name.
pub const INSTANCE: &str = "app.kubernetes.io/instance";
/// `app.kubernetes.io/component`: the role of the application in the stack.
pub const COMPONENT: &str = "app.kubernetes.io/component";
/// `app.kubernetes.io/managed-by`.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// `app.kubernetes.io/part-of`.
pub const PART_OF: &str = "app.kubernetes.io/part-of";
/// Value of [`MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "meshlogging-operator";
/// Value of [`PART_OF`].
pub const PART_OF_VALUE: &str = "meshlogging";

/// The applications of the stack: the value of `app.kubernetes.io/name` and the matching
/// `app.kubernetes.io/component`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum App {
    /// Elasticsearch (component `storage`).
    Elasticsearch,
    /// Kibana (component `ui`).
    Kibana,
    /// Fluent Bit (component `collector`).
    FluentBit,
    /// Fluentd (component `collector`).
    Fluentd,
}

impl App {
    /// `app.kubernetes.io/name`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Elasticsearch => "elasticsearch",
            Self::Kibana => "kibana",
            Self::FluentBit => "fluent-bit",
            Self::Fluentd => "fluentd",
        }
    }

    /// `app.kubernetes.io/component`.
    pub fn component(self) -> &'static str {
        match self {
            Self::Elasticsearch => "storage",
            Self::Kibana => "ui",
            Self::FluentBit | Self::Fluentd => "collector",
        }
    }
}

/// The labels that select the pods of `app` for MeshLogging `instance`. A workload's
/// selector can never change, so it holds only what never does: the instance and the name
/// (Elasticsearch, Kibana) or the component (the collector, so that switching between Fluent
/// Bit and Fluentd updates the DaemonSet in place instead of needing a new one).
pub fn selector(app: App, instance: &str) -> BTreeMap<String, String> {
    let (key, value) = match app {
        App::Elasticsearch | App::Kibana => (NAME, app.name()),
        App::FluentBit | App::Fluentd => (COMPONENT, app.component()),
    };
    BTreeMap::from([
        (key.to_string(), value.to_string()),
        (INSTANCE.to_string(), instance.to_string()),
    ])
}

/// All recommended labels of an object of `app` for MeshLogging `instance`.
pub fn labels(app: App, instance: &str) -> BTreeMap<String, String> {
    let mut labels = selector(app, instance);
    labels.insert(NAME.to_string(), app.name().to_string());
    labels.insert(COMPONENT.to_string(), app.component().to_string());
    labels.insert(MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string());
    labels.insert(PART_OF.to_string(), PART_OF_VALUE.to_string());
    labels
}

/// The owner reference to the MeshLogging: the controller, and the garbage collector
/// waits for the child before deleting the owner in foreground deletion.
pub fn owner_reference(v: &Validated) -> OwnerReference {
    OwnerReference {
        api_version: format!("{GROUP}/{VERSION}"),
        kind: "MeshLogging".to_string(),
        name: v.name.clone(),
        uid: v.uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Metadata of a namespaced child: name, namespace, labels, owner reference.
pub fn namespaced(v: &Validated, name: String, app: App) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(v.namespace.clone()),
        labels: Some(labels(app, &v.name)),
        owner_references: Some(vec![owner_reference(v)]),
        ..ObjectMeta::default()
    }
}

/// Metadata of a cluster-scoped child: name and labels only (a namespaced owner cannot own
/// it; the finalizer deletes it).
pub fn cluster_scoped(v: &Validated, name: String, app: App) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        labels: Some(labels(app, &v.name)),
        ..ObjectMeta::default()
    }
}

/// Metadata of a pod template: the recommended labels and, when any, `annotations`.
pub fn pod_template(v: &Validated, app: App, annotations: &BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        labels: Some(labels(app, &v.name)),
        annotations: (!annotations.is_empty()).then(|| annotations.clone()),
        ..ObjectMeta::default()
    }
}
