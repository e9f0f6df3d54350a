//! The log collector: a Fluent Bit (default) or Fluentd DaemonSet with its configuration,
//! ServiceAccount and ClusterRoleBinding. Pure.
//!
//! ```text
//! /var/log/containers/*.log (CRI) ─► tail (+ read positions on the node)
//!   ─► Kubernetes metadata (pod, namespace, labels); a JSON log line is parsed and nested
//!      under `app`, its `timestamp` becomes the event time ─► spec.collector.fields
//!   ─► a document id hashed from the record ─► Elasticsearch: the write alias `<index>`,
//!      op `create`, user `<index>-collector`, TLS verified, buffered on the node's disk
//!   ─► documents Elasticsearch refuses (4xx): Fluentd writes them to `<index>-deadletter`;
//!      Fluent Bit keeps chunks it gave up on in `<state>/buffer/rejected/` on the node
//! ```
//!
//! **Nothing an application logs can get its record refused.** A JSON log line is nested
//! under `app` rather than merged into the record, so `{"service":"x"}` from any pod is
//! `app.service`, never a clash with the schema's `service` object or the collector's own
//! `kubernetes`, `stream` and `timestamp`. `spec.collector.fields` may not use those names
//! (admission refuses them).
//!
//! **A retry is never a copy.** Each record gets a document id hashed from its content
//! (Fluent Bit `Generate_ID`; Fluentd `elasticsearch_genid` over the whole record, tag and
//! time), and the output creates (`create`): a chunk sent again after a lost response is
//! answered 409 for what was already indexed, not indexed twice.
//!
//! **A refused record is set aside, not retried forever.** Fluentd's Elasticsearch output
//! routes records refused with a 400 to the `@ERROR` label, which writes them, wrapped as
//! a JSON string with the tag and time, to `<index>-deadletter`; everything else (network,
//! 429, 5xx) is retried forever from the disk buffer. Fluent Bit cannot tell a refused
//! chunk from an unreachable cluster, so it retries a chunk a bounded number of times
//! (about two hours of backoff) and then keeps it in the rejected directory on the node
//! (`storage.keep.rejected`) and counts it in `fluentbit_output_retries_failed_total`.
//!
//! Every value from the spec is written by the format's one rule
//! ([`crate::config_format`]): no index name, URL, path or field adds a key, a section,
//! an include or an environment reference to the configuration.

mod fluent_bit;
mod fluentd;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, Container, ContainerPort, EmptyDirVolumeSource, HTTPGetAction,
    HostPathVolumeSource, PodSpec, PodTemplateSpec, Probe, SecurityContext, ServiceAccount, Volume,
};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::labels::{self, App};
use super::{
    Child, RenderContext, config_map_volume, env, env_field, env_secret, mount, secret_volume,
};
use crate::api::CollectorType;
use crate::endpoint::Endpoint;
use crate::naming as names;
use crate::validate::{ValidCollector, Validated};
pub use fluent_bit::fluent_bit_config;
pub use fluentd::fluentd_config;

/// Where the node's state (read positions, buffer) is mounted in the collector.
pub const STATE_DIR: &str = "/var/lib/meshlogging-collector";
/// Where the CA that signed Elasticsearch's certificate is mounted in the collector.
pub const CA_DIR: &str = "/etc/meshlogging/es-ca";
/// Annotation on the cluster-scoped binding naming its owner (`<namespace>/<name>`).
pub const OWNER_ANNOTATION: &str = "logging.mcp-mesh.io/owner";
/// Annotation on the cluster-scoped binding holding its owner's uid: a namespaced owner
/// cannot own it by reference, and the operator changes and deletes only a binding whose
/// annotation names this very resource (not an earlier one of the same name).
pub const OWNER_UID_ANNOTATION: &str = "logging.mcp-mesh.io/owner-uid";
/// Port of Fluent Bit's HTTP server (readiness, metrics).
const FLUENT_BIT_HTTP_PORT: i32 = 2020;
/// Port of Fluentd's monitor agent (readiness).
const FLUENTD_MONITOR_PORT: i32 = 24220;
/// Environment variable holding the collector user's password.
const PASSWORD_ENV: &str = "COLLECTOR_PASSWORD";
/// Key the parsed JSON of an application's log line is nested under.
pub const APP_KEY: &str = "app";
/// How often Fluent Bit retries a chunk before it sets it aside (with the scheduler's
/// default backoff, 5s doubling up to 2000s at random, about two hours).
pub const FLUENT_BIT_RETRY_LIMIT: u32 = 15;

/// Renders the collector's objects.
pub fn render(v: &Validated, ctx: &RenderContext) -> Vec<Child> {
    let c = &v.collector;
    let app = app(c.kind);
    vec![
        Child::ServiceAccount(ServiceAccount {
            metadata: labels::namespaced(v, names::collector(&v.name), app),
            ..ServiceAccount::default()
        }),
        Child::ClusterRoleBinding(cluster_role_binding(v, ctx)),
        Child::ConfigMap(config_map(v, ctx)),
        Child::DaemonSet(daemonset(v, ctx)),
    ]
}

fn app(kind: CollectorType) -> App {
    match kind {
        CollectorType::FluentBit => App::FluentBit,
        CollectorType::Fluentd => App::Fluentd,
    }
}

fn cluster_role_binding(v: &Validated, ctx: &RenderContext) -> ClusterRoleBinding {
    let mut metadata = labels::cluster_scoped(
        v,
        names::collector_cluster_role_binding(&v.name, &v.namespace),
        app(v.collector.kind),
    );
    metadata.annotations = Some(BTreeMap::from([
        (OWNER_ANNOTATION.to_string(), v.owner()),
        (OWNER_UID_ANNOTATION.to_string(), v.uid.clone()),
    ]));
    ClusterRoleBinding {
        metadata,
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_string(),
            kind: "ClusterRole".to_string(),
            name: ctx.collector_cluster_role.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_string(),
            name: names::collector(&v.name),
            namespace: Some(v.namespace.clone()),
            ..Subject::default()
        }]),
    }
}

/// The Elasticsearch endpoint the collector writes to. The controller's URL is trusted to
/// parse (it is either the managed Service URL or the validated external URL); anything
/// else falls back to the managed Service rather than failing a pure function.
fn endpoint(v: &Validated, ctx: &RenderContext) -> Endpoint {
    Endpoint::parse(&ctx.es_endpoint)
        .unwrap_or_else(|| names::es_http_endpoint(&v.name, &v.namespace))
}

/// Paths never tailed: the user's, then the collector's own container logs.
fn exclude_paths(v: &Validated) -> Vec<String> {
    let mut paths = v.collector.exclude_paths.clone();
    paths.push(format!(
        "/var/log/containers/{}-*_{}_*.log",
        names::collector(&v.name),
        v.namespace
    ));
    paths
}

/// A comma-separated list (`Path` and `Exclude_Path` in Fluent Bit, `path` and
/// `exclude_path` in Fluentd): a comma inside an item would make two items.
fn comma_list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| i.replace(',', "_"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A record key written into a configuration (`Set <key> <value>`, `<record> key value`):
/// the identifiers admission allows; anything else has its other characters replaced.
fn field_key(key: &str) -> String {
    let k: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if k.is_empty() { "_".to_string() } else { k }
}

/// The collector's configuration files.
fn config(v: &Validated, ctx: &RenderContext) -> BTreeMap<String, String> {
    match v.collector.kind {
        CollectorType::FluentBit => fluent_bit_config(v, ctx),
        CollectorType::Fluentd => fluentd_config(v, ctx),
    }
}

fn config_map(v: &Validated, ctx: &RenderContext) -> ConfigMap {
    ConfigMap {
        metadata: labels::namespaced(v, names::collector(&v.name), app(v.collector.kind)),
        data: Some(config(v, ctx)),
        ..ConfigMap::default()
    }
}

/// Root (container logs are root-owned and the state lives on the node) but nothing else:
/// no capabilities, no privilege escalation.
fn security_context(read_only_root: bool) -> SecurityContext {
    SecurityContext {
        run_as_user: Some(0),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_string()]),
            ..Capabilities::default()
        }),
        read_only_root_filesystem: read_only_root.then_some(true),
        ..SecurityContext::default()
    }
}

fn host_path(name: &str, path: String, type_: &str) -> Volume {
    Volume {
        name: name.to_string(),
        host_path: Some(HostPathVolumeSource {
            path,
            type_: Some(type_.to_string()),
        }),
        ..Volume::default()
    }
}

fn daemonset(v: &Validated, ctx: &RenderContext) -> DaemonSet {
    let c: &ValidCollector = &v.collector;
    let n = &v.name;
    let app = app(c.kind);
    let mut volumes = vec![
        host_path("varlog", "/var/log".to_string(), "Directory"),
        host_path(
            "state",
            names::collector_state_dir(&v.uid),
            "DirectoryOrCreate",
        ),
        config_map_volume("config", names::collector(n)),
    ];
    let config_dir = match c.kind {
        CollectorType::FluentBit => "/fluent-bit/etc",
        CollectorType::Fluentd => "/fluentd/etc",
    };
    let mut mounts = vec![
        mount("varlog", "/var/log", true),
        mount("state", STATE_DIR, false),
        mount("config", config_dir, true),
    ];
    if let Some((secret, key)) = super::es_ca_source(v) {
        volumes.push(secret_volume(
            "es-ca",
            secret,
            Some(&[(key.as_str(), names::CA_CERT_KEY)]),
        ));
        mounts.push(mount("es-ca", CA_DIR, true));
    }
    let password = env_secret(
        PASSWORD_ENV,
        names::collector_user_secret(n),
        names::PASSWORD_KEY,
        false,
    );
    let container = match c.kind {
        CollectorType::FluentBit => Container {
            name: "fluent-bit".to_string(),
            image: Some(c.image.clone()),
            command: Some(vec![
                "/fluent-bit/bin/fluent-bit".to_string(),
                "--config=/fluent-bit/etc/fluent-bit.conf".to_string(),
            ]),
            env: Some(vec![password]),
            ports: Some(vec![ContainerPort {
                name: Some("http".to_string()),
                container_port: FLUENT_BIT_HTTP_PORT,
                ..ContainerPort::default()
            }]),
            readiness_probe: Some(http_probe("/", FLUENT_BIT_HTTP_PORT)),
            resources: Some(c.resources.clone()),
            security_context: Some(security_context(true)),
            volume_mounts: Some(mounts),
            ..Container::default()
        },
        CollectorType::Fluentd => {
            // The image's entrypoint edits its config when these are unset; with them set it
            // leaves the (read-only) mounted configuration alone. Fluentd writes beside its
            // gems at start, so its root filesystem stays writable; /tmp is a scratch volume.
            volumes.push(Volume {
                name: "tmp".to_string(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Volume::default()
            });
            mounts.push(mount("tmp", "/tmp", false));
            Container {
                name: "fluentd".to_string(),
                image: Some(c.image.clone()),
                env: Some(vec![
                    password,
                    env_secret(
                        "FLUENT_ELASTICSEARCH_PASSWORD",
                        names::collector_user_secret(n),
                        names::PASSWORD_KEY,
                        false,
                    ),
                    env("FLUENT_ELASTICSEARCH_USER", v.names.collector_user()),
                    env_field("K8S_NODE_NAME", "spec.nodeName"),
                ]),
                ports: Some(vec![ContainerPort {
                    name: Some("monitor".to_string()),
                    container_port: FLUENTD_MONITOR_PORT,
                    ..ContainerPort::default()
                }]),
                readiness_probe: Some(http_probe("/api/plugins.json", FLUENTD_MONITOR_PORT)),
                resources: Some(c.resources.clone()),
                security_context: Some(security_context(false)),
                volume_mounts: Some(mounts),
                ..Container::default()
            }
        }
    };
    DaemonSet {
        metadata: labels::namespaced(v, names::collector(n), app),
        spec: Some(DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(labels::selector(app, n)),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(labels::pod_template(
                    v,
                    app,
                    &ctx.pod_annotations(app, &config(v, ctx)),
                )),
                spec: Some(PodSpec {
                    service_account_name: Some(names::collector(n)),
                    enable_service_links: Some(false),
                    containers: vec![container],
                    tolerations: (!c.tolerations.is_empty()).then(|| c.tolerations.clone()),
                    volumes: Some(volumes),
                    ..PodSpec::default()
                }),
            },
            ..DaemonSetSpec::default()
        }),
        ..DaemonSet::default()
    }
}

/// A readiness probe: the collector's HTTP endpoint answers. Not the delivery health: an
/// Elasticsearch outage is buffered, not a reason to restart or unready every node's pod.
fn http_probe(path: &str, port: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::Int(port),
            ..HTTPGetAction::default()
        }),
        initial_delay_seconds: Some(5),
        period_seconds: Some(10),
        timeout_seconds: Some(5),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}
