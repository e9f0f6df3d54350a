//! `spec.collector`: which collector, what it reads, the fields it adds and how it buffers.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::units::{COLLECTOR_INTERVAL_PATTERN, COLLECTOR_SIZE_PATTERN};

/// Top-level keys of a log document that the collector or the log schema
/// (`log_schema`) already gives a meaning: `collector.fields` may not reuse them,
/// or every document would carry a value the mapping refuses (`service: payments` where
/// the schema maps `service` as an object). A test keeps this list in step with the schema.
pub const RESERVED_FIELD_KEYS: [&str; 19] = [
    "agent",
    "app",
    "audit",
    "exception",
    "kubernetes",
    "level",
    "log",
    "logtag",
    "metrics",
    "msg",
    "request",
    "request_id",
    "service",
    "source",
    "stream",
    "time",
    "timestamp",
    "trace",
    "user_id",
];

/// The CEL list literal of [`RESERVED_FIELD_KEYS`].
fn reserved_field_keys_cel() -> String {
    let quoted: Vec<String> = RESERVED_FIELD_KEYS
        .iter()
        .map(|k| format!("'{k}'"))
        .collect();
    format!("[{}]", quoted.join(", "))
}

fn fields_rule() -> kube::core::Rule {
    let keys = reserved_field_keys_cel();
    kube::core::Rule::new(format!("self.all(k, !(k in {keys}))")).message(
        kube::core::Message::Expression(format!(
            "'collector.fields.' + self.filter(k, k in {keys})[0] + ' is a field the collector or the log schema already sets (reserved: {})'",
            RESERVED_FIELD_KEYS.join(", ")
        )),
    )
}

/// The log collector.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CollectorSpec {
    /// Which collector runs on the nodes: `fluentBit` (default) or `fluentd`.
    #[serde(default, rename = "type")]
    pub kind: CollectorType,
    /// Container image. Default: the operator's pinned Fluent Bit or Fluentd image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Log files to tail on each node (CRI container logs). Default `/var/log/containers/*.log`.
    #[serde(default = "default_paths")]
    #[schemars(length(min = 1), inner(pattern(r"^/\S*$")))]
    pub paths: Vec<String>,
    /// Log files never to read, for example the collector's own logs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(pattern(r"^/\S*$")))]
    pub exclude_paths: Vec<String>,
    /// Fields added to every log record, for example `environment: production`. Names are
    /// identifiers that the log schema and the collector do not use already (not `service`,
    /// `kubernetes`, `app`, `timestamp`, `level`, `msg`, ...); values are one line without
    /// double quotes, backslashes or `${`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "super::schema::fields_map")]
    #[x_kube(validation = kube::core::Rule::new("self.all(k, k.matches('^[A-Za-z][A-Za-z0-9_]*$'))")
        .message("field names must be identifiers (letters, digits and _, starting with a letter; names starting with _ are Elasticsearch's metadata fields)"))]
    #[x_kube(validation = fields_rule())]
    pub fields: BTreeMap<String, String>,
    /// How records are buffered (on the node's disk, so an Elasticsearch outage loses no logs:
    /// Fluentd retries for as long as it lasts, Fluent Bit for about two hours and then keeps
    /// the chunk on the node) and flushed.
    #[serde(default = "BufferSpec::recommended")]
    pub buffer: BufferSpec,
    /// CPU and memory of each collector pod. Default: requests 100m / 200Mi, limits 512Mi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Tolerations of the collector pods, so they also run on tainted nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
}

impl CollectorSpec {
    /// The default: Fluent Bit on all container logs.
    pub fn recommended() -> Self {
        Self {
            kind: CollectorType::FluentBit,
            image: None,
            paths: default_paths(),
            exclude_paths: Vec::new(),
            fields: BTreeMap::new(),
            buffer: BufferSpec::recommended(),
            resources: None,
            tolerations: Vec::new(),
        }
    }
}

fn default_paths() -> Vec<String> {
    vec!["/var/log/containers/*.log".into()]
}

/// The collector implementation.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum CollectorType {
    /// Fluent Bit (default): small and fast.
    #[default]
    FluentBit,
    /// Fluentd.
    Fluentd,
}

/// Buffering and flushing of the collector.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BufferSpec {
    /// How often buffered records are sent. Default `5s`.
    #[serde(default = "default_flush_interval")]
    #[schemars(length(max = 24), pattern(COLLECTOR_INTERVAL_PATTERN))]
    pub flush_interval: String,
    /// Size of one buffer chunk. Default `2M`.
    #[serde(default = "default_chunk_limit")]
    #[schemars(length(max = 24), pattern(COLLECTOR_SIZE_PATTERN))]
    pub chunk_limit_size: String,
    /// Most disk space the buffer may take on a node while Elasticsearch is unreachable.
    /// Default `1G`.
    #[serde(default = "default_total_limit")]
    #[schemars(length(max = 24), pattern(COLLECTOR_SIZE_PATTERN))]
    pub total_limit_size: String,
}

impl BufferSpec {
    /// The source recipe's values: flush every 5s, 2M chunks.
    pub fn recommended() -> Self {
        Self {
            flush_interval: default_flush_interval(),
            chunk_limit_size: default_chunk_limit(),
            total_limit_size: default_total_limit(),
        }
    }
}

fn default_flush_interval() -> String {
    "5s".into()
}
fn default_chunk_limit() -> String {
    "2M".into()
}
fn default_total_limit() -> String {
    "1G".into()
}
