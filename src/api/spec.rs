//! `MeshLoggingSpec`: what a user asks for. Doc comments become `kubectl explain` text;
//! schema attributes and `x_kube` CEL rules are enforced by the API server at admission.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::collector::CollectorSpec;
use super::elasticsearch::ElasticsearchSpec;
use super::index::{IndexSpec, LifecycleSpec};
use super::kibana::KibanaSpec;
use super::snapshots::SnapshotsSpec;
use super::status::MeshLoggingStatus;
use super::units::STACK_VERSION_PATTERN;

/// A complete, secure logging stack for the services of a mesh: Elasticsearch (managed or
/// external), Kibana, a log collector, and the Elasticsearch configuration that makes the
/// logs usable (ILM policy, templates, write alias, snapshot repositories and policies).
// kube's `printcolumn(...)` entries repeat `type_ = "string"`, which clippy reads as a
// duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "logging.mcp-mesh.io",
    version = "v1alpha1",
    kind = "MeshLogging",
    plural = "meshloggings",
    singular = "meshlogging",
    shortname = "mlog",
    category = "logging",
    namespaced,
    status = "MeshLoggingStatus",
    doc = "MeshLogging turns one resource into a logging stack for a mesh: Elasticsearch, Kibana, a log collector and the Elasticsearch index management that ties them together.",
    printcolumn(
        name = "Version",
        type_ = "string",
        json_path = ".spec.version",
        description = "Elastic Stack version"
    ),
    printcolumn(
        name = "Health",
        type_ = "string",
        json_path = ".status.elasticsearch.health",
        description = "Elasticsearch cluster health"
    ),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Where the stack is in its life"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "The Ready condition"
    ),
    printcolumn(
        name = "ES",
        type_ = "string",
        json_path = ".status.elasticsearch.ready",
        description = "Elasticsearch nodes ready/desired"
    ),
    printcolumn(
        name = "Kibana",
        type_ = "string",
        json_path = ".status.kibana.ready",
        description = "Kibana replicas ready/desired",
        priority = 1
    ),
    printcolumn(
        name = "Collector",
        type_ = "string",
        json_path = ".status.collector.ready",
        description = "Collector pods ready/desired",
        priority = 1
    ),
    printcolumn(
        name = "Alias",
        type_ = "string",
        json_path = ".status.applied.writeAlias",
        description = "The write alias the collector writes to",
        priority = 1
    ),
    printcolumn(
        name = "Dashboards",
        type_ = "string",
        json_path = ".status.dashboards.url",
        description = "Where the log dashboard opens (Kibana's Ingress host)",
        priority = 1
    ),
    printcolumn(
        name = "NewestLog",
        type_ = "date",
        json_path = ".status.logs.newestTimestamp",
        description = "Age of the newest log in the write alias, as last read",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[kube(validation = kube::core::Rule::new(
    "self.metadata.name.size() <= 49 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')"
).message("metadata.name must be at most 49 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit: it prefixes Service names (DNS-1035 labels) and the Elasticsearch StatefulSet <name>-es, whose pods' controller-revision-hash label must fit in 63 characters"))]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "!has(self.dashboards) || !self.dashboards.enabled || !has(self.kibana) || self.kibana.enabled"
).message("dashboards.enabled needs kibana.enabled: the dashboards are loaded into Kibana").field_path(".dashboards.enabled"))]
#[x_kube(validation = kube::core::Rule::new(
    "!has(self.lifecycle) || !has(self.lifecycle.warm) || !has(self.lifecycle.warm.shrinkTo) || !has(self.index) || self.index.shards % self.lifecycle.warm.shrinkTo == 0"
).message("lifecycle.warm.shrinkTo must divide index.shards evenly (Elasticsearch can only shrink to a factor of the primary shard count)").field_path(".lifecycle.warm.shrinkTo"))]
#[x_kube(validation = kube::core::Rule::new(VERSION_NOT_LOWER_RULE)
    .message("version cannot go down: Elasticsearch cannot read data written by a newer version (a managed cluster is only upgraded)")
    .field_path(".version"))]
#[x_kube(validation = kube::core::Rule::new(VERSION_ONE_MAJOR_RULE)
    .message("version can go up by at most one major version at a time (Elasticsearch upgrades from the last minor of one major to the next major)")
    .field_path(".version"))]
pub struct MeshLoggingSpec {
    /// Elastic Stack version used for the Elasticsearch and Kibana images, for example `8.15.3`.
    /// Versions 8.x and 9.x are supported. With a managed Elasticsearch it never goes down
    /// and goes up by at most one major version at a time.
    #[schemars(length(max = 32), pattern(STACK_VERSION_PATTERN))]
    pub version: String,

    /// Elasticsearch: either managed by the operator (the default: `replicas`, `resources`,
    /// `storage`, ...) or an existing cluster (`external`), never both.
    #[serde(default)]
    pub elasticsearch: ElasticsearchSpec,

    /// Kibana, connected to Elasticsearch as the `kibana_system` user over TLS.
    #[serde(default = "KibanaSpec::recommended")]
    pub kibana: KibanaSpec,

    /// The log collector: a DaemonSet that tails container logs on every node and writes
    /// them to the write alias.
    #[serde(default = "CollectorSpec::recommended")]
    pub collector: CollectorSpec,

    /// The log index: its write alias name and the settings of every backing index.
    #[serde(default = "IndexSpec::recommended")]
    pub index: IndexSpec,

    /// The index lifecycle (ILM) policy of the log indices: rollover in the hot phase, then
    /// warm, cold and delete. Defaults: rollover at 1d or 50gb, warm after 2d, cold after 7d,
    /// delete after 30d.
    #[serde(default = "LifecycleSpec::recommended")]
    pub lifecycle: LifecycleSpec,

    /// Snapshot repositories and snapshot lifecycle (SLM) policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshots: Option<SnapshotsSpec>,

    /// The Kibana data view, saved searches, charts and log dashboards, kept in Kibana by
    /// the operator (condition `DashboardsReady`).
    #[serde(default = "DashboardsSpec::recommended")]
    pub dashboards: DashboardsSpec,

    /// The operator's generated certificates (managed Elasticsearch). Rotate passwords or
    /// certificates on request with the annotations `logging.mcp-mesh.io/rotate-credentials`
    /// and `logging.mcp-mesh.io/rotate-certificates` (an RFC 3339 timestamp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<SecuritySpec>,

    /// What happens to the data when the MeshLogging is deleted: `Retain` (default) keeps the
    /// Elasticsearch volumes (PersistentVolumeClaims); `Delete` removes them.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// The transition rules on `version` apply to a managed Elasticsearch only (an external
/// cluster is upgraded by its owners; the operator follows it). Versions are parsed with
/// `split`/`int` rather than the semver library: that library is new in Kubernetes 1.33 and
/// not available to CRD rules there, and the pattern admits leading zeros (`8.015.3`), which
/// strict semver refuses.
///
/// This one: `version` (major, minor, patch) is not lower than before.
const VERSION_NOT_LOWER_RULE: &str = concat!(
    "(has(self.elasticsearch) && has(self.elasticsearch.external)) || (has(oldSelf.elasticsearch) && has(oldSelf.elasticsearch.external)) || ",
    "int(self.version.split('.')[0]) > int(oldSelf.version.split('.')[0]) || ",
    "(int(self.version.split('.')[0]) == int(oldSelf.version.split('.')[0]) && ",
    "(int(self.version.split('.')[1]) > int(oldSelf.version.split('.')[1]) || ",
    "(int(self.version.split('.')[1]) == int(oldSelf.version.split('.')[1]) && ",
    "int(self.version.split('.')[2]) >= int(oldSelf.version.split('.')[2]))))"
);

/// `version`'s major is at most one above the old one.
const VERSION_ONE_MAJOR_RULE: &str = concat!(
    "(has(self.elasticsearch) && has(self.elasticsearch.external)) || (has(oldSelf.elasticsearch) && has(oldSelf.elasticsearch.external)) || ",
    "int(self.version.split('.')[0]) <= int(oldSelf.version.split('.')[0]) + 1"
);

/// Generated credentials and certificates.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecuritySpec {
    /// The CA and the HTTP/transport certificates the operator generates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<CertificatesSpec>,
}

/// The generated certificates' renewal.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CertificatesSpec {
    /// How long before it expires a generated certificate (or the CA) is renewed: a
    /// duration in hours, minutes and seconds such as `720h` (the default, 30 days) or
    /// `2160h`; at least `1h` and less than the certificates' validity (`87600h`, 10
    /// years). A renewed CA is trusted beside the old one until Elasticsearch serves a
    /// certificate it signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 24), pattern(RENEW_BEFORE_PATTERN))]
    #[x_kube(validation = kube::core::Rule::new(
        "duration(self) >= duration('1h') && duration(self) < duration('87600h')"
    ).message("must be at least 1h and less than the certificates' validity, 87600h (10 years)"))]
    pub renew_before: Option<String>,
}

/// A duration of hours, minutes and seconds (`720h`, `1h30m`): what both CEL's
/// `duration()` and the operator parse.
pub const RENEW_BEFORE_PATTERN: &str = "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$";

/// Kibana dashboards.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DashboardsSpec {
    /// Keep the data view, saved searches, Lens charts and the "MCP Mesh Log Analysis" and
    /// "MCP Mesh Security Audit" dashboards in Kibana: created, restored when changed or
    /// deleted there, and removed (only the operator's own) when this turns false or the
    /// resource is deleted. Needs `kibana.enabled`. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

impl DashboardsSpec {
    /// Dashboards on.
    pub fn recommended() -> Self {
        Self { enabled: true }
    }
}

/// What deletion of the MeshLogging does to the data.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeletionPolicy {
    /// Keep the Elasticsearch volumes (PersistentVolumeClaims).
    #[default]
    Retain,
    /// Delete the Elasticsearch volumes with the resource.
    Delete,
}

/// Serde default of counts that start at one.
pub(super) fn default_one() -> i32 {
    1
}

/// Serde default of switches that start on.
pub(super) fn default_true() -> bool {
    true
}
