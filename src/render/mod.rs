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

use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, EnvVar, EnvVarSource, KeyToPath,
    SeccompProfile, SecretKeySelector, SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::config_format;
use crate::naming as names;
use crate::validate::{EsMode, Validated};

/// The one list of the kinds of children: `scope Variant(Type) field "doc";`. The [`Child`] enum
/// and its accessors here, and the controller's apply, prune and watch tables, are all
/// generated from it (a macro that takes the name of the macro to feed the list to): adding
/// a kind is one line here, and a table that forgets one cannot be written. `namespaced`
/// kinds carry an owner reference to the MeshLogging (pruned by it, watched through it);
/// `cluster` ones cannot (kept by an owner annotation, removed by the cleanup).
macro_rules! child_kinds {
    ($then:ident) => {
        $then! {
            namespaced StatefulSet(k8s_openapi::api::apps::v1::StatefulSet) stateful_sets "The Elasticsearch nodes.";
            namespaced Deployment(k8s_openapi::api::apps::v1::Deployment) deployments "Kibana.";
            namespaced DaemonSet(k8s_openapi::api::apps::v1::DaemonSet) daemon_sets "The collector.";
            namespaced Service(k8s_openapi::api::core::v1::Service) services "Elasticsearch (headless, HTTP) and Kibana Services.";
            namespaced ConfigMap(k8s_openapi::api::core::v1::ConfigMap) config_maps "`elasticsearch.yml`, `kibana.yml`, the collector configuration.";
            namespaced PodDisruptionBudget(k8s_openapi::api::policy::v1::PodDisruptionBudget) pod_disruption_budgets "Elasticsearch's disruption budget.";
            namespaced ServiceAccount(k8s_openapi::api::core::v1::ServiceAccount) service_accounts "The collector's identity.";
            namespaced Ingress(k8s_openapi::api::networking::v1::Ingress) ingresses "Kibana's Ingress.";
            cluster ClusterRoleBinding(k8s_openapi::api::rbac::v1::ClusterRoleBinding) cluster_role_bindings "The collector's cluster-wide read access (cluster-scoped: no owner reference).";
        }
    };
}
pub(crate) use child_kinds;

macro_rules! define_child {
    ($($scope:ident $variant:ident($ty:ty) $field:ident $doc:literal;)*) => {
        /// One rendered object. Serialized as the object itself.
        #[derive(Clone, Debug, PartialEq, serde::Serialize)]
        #[serde(untagged)]
        #[allow(clippy::large_enum_variant)] // a short-lived list of a dozen objects
        pub enum Child {
            $(#[doc = $doc] $variant($ty),)*
        }

        /// The kind of every child, in the order of [`child_kinds!`].
        pub const CHILD_KINDS: &[&str] = &[$(stringify!($variant)),*];

        impl Child {
            /// The object's metadata.
            pub fn meta(&self) -> &ObjectMeta {
                match self {
                    $(Self::$variant(o) => &o.metadata,)*
                }
            }

            /// The object's kind, for logs, events and golden files.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => stringify!($variant),)*
                }
            }
        }
    };
}
child_kinds!(define_child);

impl Child {
    /// The object's name (always set by the renderer).
    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }
}

/// Pod-template annotation holding a hash of what the pods read at start, so a change
/// rolls them.
pub const CONFIG_HASH_ANNOTATION: &str = "logging.mcp-mesh.io/config-hash";

/// Fingerprints (hashes, never the material) of the generated Secrets, as the controller
/// read them. What pods read only at start goes into their [`CONFIG_HASH_ANNOTATION`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretFingerprints {
    /// The file realm (mounted by subPath, no live update: a new one needs a restart).
    pub file_realm: Option<String>,
    /// The operator's CA certificate (Kibana and the collector read it at start).
    pub ca: Option<String>,
    /// Kibana's encryption keys.
    pub kibana_encryption_keys: Option<String>,
    /// Kibana's password (an environment variable).
    pub kibana_user: Option<String>,
    /// The collector's password (an environment variable).
    pub collector_user: Option<String>,
    /// Elasticsearch's HTTP certificate (reloaded live by Elasticsearch).
    pub http_certs: Option<String>,
    /// Elasticsearch's transport certificate (reloaded live by Elasticsearch).
    pub transport_certs: Option<String>,
    /// The keystore entries a node reads only at start (from `secureSettings` and the
    /// snapshot repositories' credentials, [`crate::keystore::KeystoreFiles::restart_fingerprint`]):
    /// a change restarts the nodes. `None` when there are no keystore sources.
    pub secure_settings: Option<String>,
    /// A fingerprint of the whole keystore content, reloadable entries included: not in
    /// any pod template (the keystore sidecar rebuilds the keystore and the operator
    /// reloads it), but an input of the Elasticsearch pass, which sends the reload.
    pub reloadable_settings: Option<String>,
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
    /// Extra pod-template annotations of every workload.
    pub annotations: BTreeMap<String, String>,
    /// The generated Secrets, once read: each workload's pod template then carries a
    /// [`CONFIG_HASH_ANNOTATION`] of its configuration and of the Secrets it reads at
    /// start. `None` (before they are known) adds none.
    pub secrets: Option<SecretFingerprints>,
}

impl RenderContext {
    /// The context of a first reconcile: not bootstrapped, the default ClusterRole, the
    /// cluster's own URL ([`Validated::es_url`]), no annotations, no Secrets yet.
    pub fn new(v: &Validated) -> Self {
        Self {
            es_bootstrapped: false,
            collector_cluster_role: names::DEFAULT_COLLECTOR_CLUSTER_ROLE.to_string(),
            es_endpoint: v.es_url(),
            annotations: BTreeMap::new(),
            secrets: None,
        }
    }

    /// The pod-template annotations of `app`'s workload: [`Self::annotations`], and, when
    /// the Secrets are known, the hash of `config` (the structured configuration its pods
    /// read at start) and of the Secrets they read at start.
    fn pod_annotations(
        &self,
        app: labels::App,
        config: &impl serde::Serialize,
    ) -> BTreeMap<String, String> {
        let mut annotations = self.annotations.clone();
        if let Some(secrets) = &self.secrets {
            let config = serde_json::to_string(config).unwrap_or_default();
            let parts = secrets.read_at_start(app);
            let hash = crate::fingerprint::of_parts(std::iter::once(config.as_str()).chain(parts));
            annotations.insert(CONFIG_HASH_ANNOTATION.to_string(), hash);
        }
        annotations
    }
}

impl SecretFingerprints {
    /// The fingerprints of the Secrets `app`'s pods read only at start.
    fn read_at_start(&self, app: labels::App) -> Vec<&str> {
        let read: &[&Option<String>] = match app {
            labels::App::Elasticsearch => &[&self.file_realm],
            labels::App::Kibana => &[&self.kibana_encryption_keys, &self.ca, &self.kibana_user],
            labels::App::FluentBit | labels::App::Fluentd => &[&self.ca, &self.collector_user],
        };
        let mut parts: Vec<&str> = read
            .iter()
            .map(|s| s.as_deref().unwrap_or_default())
            .collect();
        // Only when there are secure settings: other templates keep their hash.
        if let (labels::App::Elasticsearch, Some(keystore)) = (app, &self.secure_settings) {
            parts.push(keystore);
        }
        parts
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

/// The ConfigMap `name` of `app` holding one configuration file (`file name`, `text`).
fn config_map(v: &Validated, name: String, app: labels::App, file: (&str, String)) -> ConfigMap {
    ConfigMap {
        metadata: labels::namespaced(v, name, app),
        data: Some(BTreeMap::from([(file.0.to_string(), file.1)])),
        ..ConfigMap::default()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn production() -> Validated {
        let text = include_str!("../../examples/production.yaml");
        let mut ml: crate::api::MeshLogging = serde_saphyr::from_str(text).expect("example");
        ml.metadata.namespace = Some("logging".into());
        ml.metadata.uid = Some("uid-1".into());
        crate::validate::validate(&ml).expect("valid")
    }

    /// The config hash of each workload's pod template, by kind.
    fn hashes(v: &Validated, ctx: &RenderContext) -> BTreeMap<&'static str, Option<String>> {
        render(v, ctx)
            .iter()
            .filter_map(|child| {
                let template = match child {
                    Child::StatefulSet(o) => o.spec.as_ref().map(|s| &s.template),
                    Child::Deployment(o) => o.spec.as_ref().map(|s| &s.template),
                    Child::DaemonSet(o) => o.spec.as_ref().map(|s| &s.template),
                    _ => None,
                }?;
                let hash = template
                    .metadata
                    .as_ref()
                    .and_then(|m| m.annotations.as_ref())
                    .and_then(|a| a.get(CONFIG_HASH_ANNOTATION).cloned());
                Some((child.kind(), hash))
            })
            .collect()
    }

    #[test]
    fn pods_roll_when_what_they_read_at_start_changes_and_only_then() {
        let v = production();
        let before_secrets = RenderContext::new(&v);
        assert!(
            hashes(&v, &before_secrets).values().all(Option::is_none),
            "no hash before the Secrets are known"
        );
        let secrets = SecretFingerprints {
            file_realm: Some("realm-1".into()),
            ca: Some("ca-1".into()),
            kibana_encryption_keys: Some("keys-1".into()),
            kibana_user: Some("kibana-1".into()),
            collector_user: Some("collector-1".into()),
            http_certs: Some("http-1".into()),
            transport_certs: Some("transport-1".into()),
            secure_settings: Some("keystore-1".into()),
            reloadable_settings: Some("reloadable-1".into()),
        };
        let ctx = RenderContext {
            secrets: Some(secrets.clone()),
            ..RenderContext::new(&v)
        };
        let base = hashes(&v, &ctx);
        assert_eq!(base.len(), 3, "{base:?}");
        assert!(base.values().all(Option::is_some));
        let changed = |f: fn(&mut SecretFingerprints)| {
            let mut s = secrets.clone();
            f(&mut s);
            let now = hashes(
                &v,
                &RenderContext {
                    secrets: Some(s),
                    ..ctx.clone()
                },
            );
            base.iter()
                .filter(|(kind, hash)| now[*kind] != **hash)
                .map(|(kind, _)| *kind)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            changed(|s| s.file_realm = Some("realm-2".into())),
            ["StatefulSet"]
        );
        assert_eq!(
            changed(|s| s.ca = Some("ca-2".into())),
            ["DaemonSet", "Deployment"]
        );
        assert_eq!(
            changed(|s| s.kibana_user = Some("k-2".into())),
            ["Deployment"]
        );
        assert_eq!(
            changed(|s| s.collector_user = Some("c-2".into())),
            ["DaemonSet"]
        );
        // Certificates are reloaded live by Elasticsearch: no restart.
        assert!(changed(|s| s.http_certs = Some("http-2".into())).is_empty());
        // A changed setting the nodes read only at start restarts the nodes only.
        assert_eq!(
            changed(|s| s.secure_settings = Some("keystore-2".into())),
            ["StatefulSet"]
        );
        // A reloadable one is reloaded (the sidecar rebuilds the keystore): no restart.
        assert!(changed(|s| s.reloadable_settings = Some("reloadable-2".into())).is_empty());
        // Dropping cluster.initial_master_nodes once the cluster formed restarts nothing.
        let bootstrapped = RenderContext {
            es_bootstrapped: true,
            ..ctx.clone()
        };
        assert_eq!(hashes(&v, &bootstrapped), base);
        // A configuration change rolls the workload that reads it.
        let elsewhere = RenderContext {
            es_endpoint: "https://elsewhere:9200".into(),
            ..ctx.clone()
        };
        let moved = hashes(&v, &elsewhere);
        assert_ne!(moved["Deployment"], base["Deployment"]);
        assert_ne!(moved["DaemonSet"], base["DaemonSet"]);
    }

    #[test]
    fn every_kind_is_listed_once() {
        let mut kinds = CHILD_KINDS.to_vec();
        kinds.sort();
        kinds.dedup();
        assert_eq!(kinds.len(), CHILD_KINDS.len());
        let v = production();
        for child in render(&v, &RenderContext::new(&v)) {
            assert!(CHILD_KINDS.contains(&child.kind()), "{}", child.kind());
        }
    }
}
