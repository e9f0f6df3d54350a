//! Rendering: a validated MeshLogging becomes the Kubernetes objects of its stack. Pure: no
//! client, no clock, no randomness; the same input always gives the same objects.
//!
//! ```text
//! Validated + RenderContext ──render──► Vec<Child>
//!   elasticsearch.rs  StatefulSet, Services (headless, HTTP), PDB, ConfigMap  (managed mode)
//!   kibana.rs         Deployment, Service, ConfigMap, Ingress                 (kibana.enabled)
//!   collector.rs      DaemonSet, ConfigMap, ServiceAccount, ClusterRoleBinding
//! ```
//!
//! Every object carries the recommended labels; every namespaced object an owner reference
//! (controller) to the MeshLogging. Only fields the operator means to own are set: the
//! objects are server-side applied and compared as a subset of the live objects, so no
//! empty placeholders. `apiVersion`/`kind` are set by the applier from the type.

pub mod collector;
pub mod elasticsearch;
pub mod kibana;
pub mod labels;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, EnvVar, EnvVarSource, KeyToPath,
    SeccompProfile, SecretKeySelector, SecretVolumeSource, SecurityContext, Service,
    ServiceAccount, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::config_format;
use crate::naming as names;
use crate::validate::{EsMode, Validated};

/// One rendered object.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // a short-lived list of a dozen objects
pub enum Child {
    /// The Elasticsearch nodes.
    StatefulSet(StatefulSet),
    /// Kibana.
    Deployment(Deployment),
    /// The collector.
    DaemonSet(DaemonSet),
    /// Elasticsearch (headless, HTTP) and Kibana Services.
    Service(Service),
    /// `elasticsearch.yml`, `kibana.yml`, the collector configuration.
    ConfigMap(ConfigMap),
    /// Elasticsearch's disruption budget.
    PodDisruptionBudget(PodDisruptionBudget),
    /// The collector's identity.
    ServiceAccount(ServiceAccount),
    /// Kibana's Ingress.
    Ingress(Ingress),
    /// The collector's cluster-wide read access (cluster-scoped: no owner reference).
    ClusterRoleBinding(ClusterRoleBinding),
}

impl Child {
    /// The object's metadata.
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Self::StatefulSet(o) => &o.metadata,
            Self::Deployment(o) => &o.metadata,
            Self::DaemonSet(o) => &o.metadata,
            Self::Service(o) => &o.metadata,
            Self::ConfigMap(o) => &o.metadata,
            Self::PodDisruptionBudget(o) => &o.metadata,
            Self::ServiceAccount(o) => &o.metadata,
            Self::Ingress(o) => &o.metadata,
            Self::ClusterRoleBinding(o) => &o.metadata,
        }
    }

    /// The object's kind, for logs, events and golden files.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::StatefulSet(_) => "StatefulSet",
            Self::Deployment(_) => "Deployment",
            Self::DaemonSet(_) => "DaemonSet",
            Self::Service(_) => "Service",
            Self::ConfigMap(_) => "ConfigMap",
            Self::PodDisruptionBudget(_) => "PodDisruptionBudget",
            Self::ServiceAccount(_) => "ServiceAccount",
            Self::Ingress(_) => "Ingress",
            Self::ClusterRoleBinding(_) => "ClusterRoleBinding",
        }
    }

    /// The object's name (always set by the renderer).
    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }
}

/// What rendering needs beyond the validated spec: facts the controller observed or
/// computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderContext {
    /// The cluster has formed once: `cluster.initial_master_nodes` is left out (it must
    /// only be set for the very first bootstrap).
    pub es_bootstrapped: bool,
    /// The ClusterRole the collector's ServiceAccount is bound to.
    pub collector_cluster_role: String,
    /// The URL Kibana and the collector use to reach Elasticsearch.
    pub es_endpoint: String,
    /// Pod-template annotations (for example hashes of Secrets and configuration, so pods
    /// roll when they change).
    pub annotations: BTreeMap<String, String>,
}

impl RenderContext {
    /// The context of a first reconcile: not bootstrapped, the default ClusterRole, the
    /// cluster's own URL ([`Validated::es_url`]), no annotations.
    pub fn new(v: &Validated) -> Self {
        Self {
            es_bootstrapped: false,
            collector_cluster_role: names::DEFAULT_COLLECTOR_CLUSTER_ROLE.to_string(),
            es_endpoint: v.es_url(),
            annotations: BTreeMap::new(),
        }
    }
}

/// Renders every Kubernetes object of the stack, in apply order (configuration and
/// Services before the workloads that use them).
pub fn render(v: &Validated, ctx: &RenderContext) -> Vec<Child> {
    let mut children = Vec::new();
    if let Some(m) = v.managed() {
        children.extend(elasticsearch::render(v, m, ctx));
    }
    if let Some(k) = &v.kibana {
        children.extend(kibana::render(v, k, ctx));
    }
    children.extend(collector::render(v, ctx));
    children
}

// --- small builders shared by the renderers -------------------------------------------

/// An environment variable with a literal value.
fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

/// An environment variable from a Secret key.
fn env_secret(name: &str, secret: String, key: &str, optional: bool) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret,
                key: key.to_string(),
                optional: optional.then_some(true),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

/// An environment variable from a field of the pod (`metadata.name`, `status.podIP`, ...).
fn env_field(name: &str, field_path: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value_from: Some(EnvVarSource {
            field_ref: Some(k8s_openapi::api::core::v1::ObjectFieldSelector {
                field_path: field_path.to_string(),
                ..Default::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

/// A volume from a Secret, all keys or the listed `(key, path)` items.
fn secret_volume(name: &str, secret: String, items: Option<&[(&str, &str)]>) -> Volume {
    Volume {
        name: name.to_string(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret),
            items: items.map(|items| {
                items
                    .iter()
                    .map(|(key, path)| KeyToPath {
                        key: key.to_string(),
                        path: path.to_string(),
                        ..KeyToPath::default()
                    })
                    .collect()
            }),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// A volume from a ConfigMap.
fn config_map_volume(name: &str, config_map: String) -> Volume {
    Volume {
        name: name.to_string(),
        config_map: Some(ConfigMapVolumeSource {
            name: config_map,
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// A volume mount.
fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.to_string(),
        mount_path: path.to_string(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

/// A container that runs as a non-root user with no privileges (restricted Pod Security).
fn restricted_container(read_only_root: bool) -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_string()]),
            ..Capabilities::default()
        }),
        run_as_non_root: Some(true),
        read_only_root_filesystem: read_only_root.then_some(true),
        ..SecurityContext::default()
    }
}

/// The runtime's default seccomp profile.
fn runtime_default_seccomp() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".to_string(),
        ..SeccompProfile::default()
    }
}

/// A configuration file of `key: value` lines (Elasticsearch and Kibana both take flat
/// dotted keys), keys and values written by the YAML rule of [`config_format::yaml`]: any
/// string reads back as itself and no value adds a key.
pub fn flat_yaml(header: &str, settings: &BTreeMap<String, serde_json::Value>) -> String {
    let mut out = String::new();
    for line in header.lines() {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    for (key, value) in settings {
        out.push_str(&config_format::yaml::key(key));
        out.push_str(": ");
        out.push_str(&config_format::yaml::value(value));
        out.push('\n');
    }
    out
}

/// The Secret and key of the CA that Kibana and the collector verify Elasticsearch with:
/// the operator's CA in managed mode, the referenced CA Secret of an external cluster, or
/// `None` for the system trust store.
fn es_ca_source(v: &Validated) -> Option<(String, String)> {
    match &v.mode {
        EsMode::Managed(_) => Some((
            names::es_http_certs_secret(&v.name),
            names::CA_CERT_KEY.to_string(),
        )),
        EsMode::External(e) => e
            .ca_secret_ref
            .as_ref()
            .map(|r| (r.name.clone(), r.key.clone())),
    }
}
