//! `spec.snapshots`: snapshot repositories (with their credentials Secret) and the SLM
//! policies that take snapshots into them.

use std::collections::BTreeMap;

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::units::{
    CRON_PATTERN, ES_NAME_PATTERN, INDEX_PATTERN_PATTERN, SNAPSHOT_NAME_PATTERN, TIME_PATTERN,
};

/// Snapshot repositories and the policies that take snapshots into them.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "self.policies.all(p, self.repositories.exists(r, r.name == p.repository))"
).message("every snapshot policy's repository must name a repository in snapshots.repositories")
 .field_path(".policies"))]
pub struct SnapshotsSpec {
    /// Snapshot repositories, by name.
    #[serde(default)]
    #[schemars(length(max = 32))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub repositories: Vec<SnapshotRepository>,
    /// Snapshot lifecycle (SLM) policies, by name.
    #[serde(default)]
    #[schemars(length(max = 64))]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["name".into()]))]
    pub policies: Vec<SnapshotPolicy>,
}

/// A snapshot repository.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "!has(self.settings) || !('access_key' in self.settings || 'secret_key' in self.settings || 'session_token' in self.settings || 'account' in self.settings || 'key' in self.settings || 'sas_token' in self.settings || 'credentials_file' in self.settings || 'application_credentials' in self.settings)"
).message("repository settings must not carry credentials (access_key, secret_key, session_token, account, key, sas_token, credentials_file): put them in the Secret named by credentialsSecretRef").field_path(".settings"))]
#[x_kube(validation = kube::core::Rule::new(
    "!has(self.credentialsSecretRef) || self.type in ['s3', 'gcs', 'azure']"
).message("credentialsSecretRef is only used by s3, gcs and azure repositories").field_path(".credentialsSecretRef"))]
#[x_kube(validation = kube::core::Rule::new(
    "self.type != 'fs' || (has(self.settings) && 'location' in self.settings)"
).message("an fs repository needs settings.location (a path under the cluster's path.repo)").field_path(".settings"))]
#[x_kube(validation = kube::core::Rule::new(
    "!(self.type in ['s3', 'gcs']) || (has(self.settings) && 'bucket' in self.settings)"
).message("s3 and gcs repositories need settings.bucket").field_path(".settings"))]
#[x_kube(validation = kube::core::Rule::new(
    "self.type != 'url' || (has(self.settings) && 'url' in self.settings)"
).message("a url repository needs settings.url").field_path(".settings"))]
pub struct SnapshotRepository {
    /// Name of the repository in Elasticsearch: lowercase, none of
    /// `\ / * ? " < > | , # :` or space, not starting with `-`, `_`, `+` or `.`.
    #[schemars(length(min = 1, max = 128), pattern(ES_NAME_PATTERN))]
    pub name: String,
    /// Repository type: `fs`, `s3`, `gcs`, `azure` or `url`.
    #[serde(rename = "type")]
    pub kind: RepositoryType,
    /// Repository settings as Elasticsearch takes them (string values, for example
    /// `bucket`, `region`, `base_path`, `location`, `compress: "true"`). Never credentials.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "super::schema::settings_map")]
    pub settings: BTreeMap<String, String>,
    /// Secret whose keys become the repository client's keystore settings
    /// (`<type>.client.<client>.<key>`, client from `settings.client`, default `default`):
    /// s3 `access_key`, `secret_key` (and `session_token`); gcs `credentials_file`; azure
    /// `account` and `key` or `sas_token`. Without it, s3 uses the node's IAM role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<LocalObjectReference>,
}

/// A snapshot repository type.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RepositoryType {
    /// Shared file system (a path under `path.repo`).
    Fs,
    /// AWS S3 or compatible.
    S3,
    /// Google Cloud Storage.
    Gcs,
    /// Azure Blob Storage.
    Azure,
    /// Read-only URL repository.
    Url,
}

impl RepositoryType {
    /// The name Elasticsearch uses for the type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fs => "fs",
            Self::S3 => "s3",
            Self::Gcs => "gcs",
            Self::Azure => "azure",
            Self::Url => "url",
        }
    }
}

/// A reference to an object in the MeshLogging's namespace.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct LocalObjectReference {
    /// Name of the object.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// A snapshot lifecycle (SLM) policy.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotPolicy {
    /// Policy id in Elasticsearch (the same naming rules as repositories).
    #[schemars(length(min = 1, max = 128), pattern(ES_NAME_PATTERN))]
    pub name: String,
    /// When to take snapshots: a Quartz cron expression (seconds first), for example
    /// `0 30 1 * * ?` for 01:30 every day. Exactly one of day-of-month (4th field) and
    /// day-of-week (6th) is `?`, as Quartz requires.
    #[schemars(length(max = 128), pattern(CRON_PATTERN))]
    #[x_kube(validation = kube::core::Rule::new(
        "self.matches('^[^ ]+ [^ ]+ [^ ]+ [?] ') != self.matches('^[^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+ [?]( |$)')"
    ).message("exactly one of day-of-month (4th field) and day-of-week (6th field) must be '?': Elasticsearch's Quartz cron supports one or the other, for example '0 30 1 * * ?'"))]
    pub schedule: String,
    /// Name of each snapshot, with date math, for example `<mcp-mesh-logs-{now/d}>`:
    /// lowercase, no spaces, `#`, `_` first or characters a file name may not hold.
    /// Default `<POLICY-NAME-{now/d}>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200), pattern(SNAPSHOT_NAME_PATTERN))]
    pub snapshot_name: Option<String>,
    /// Repository the snapshots go to; must be one of `snapshots.repositories`.
    #[schemars(length(min = 1, max = 128), pattern(ES_NAME_PATTERN))]
    pub repository: String,
    /// Indices (patterns) to snapshot. Default: the log indices, `<index.name>-*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 64),
        inner(length(min = 1, max = 255), pattern(INDEX_PATTERN_PATTERN))
    )]
    pub indices: Option<Vec<String>>,
    /// Include the cluster state (templates, policies, ...). Default false.
    #[serde(default)]
    pub include_global_state: bool,
    /// Allow snapshots of indices with unavailable primary shards. Default false.
    #[serde(default)]
    pub partial: bool,
    /// Which snapshots to delete; kept forever when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<SnapshotRetention>,
}

/// Snapshot retention of an SLM policy.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "!has(self.minCount) || !has(self.maxCount) || self.minCount <= self.maxCount"
).message("retention.minCount must not exceed retention.maxCount").field_path(".minCount"))]
pub struct SnapshotRetention {
    /// Delete snapshots older than this, for example `90d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 24), pattern(TIME_PATTERN))]
    pub expire_after: Option<String>,
    /// Always keep at least this many snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_count: Option<i32>,
    /// Never keep more than this many snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_count: Option<i32>,
}
