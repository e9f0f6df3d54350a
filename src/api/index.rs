//! `spec.index` and `spec.lifecycle`: the write alias with its backing indices' settings,
//! and the ILM phases they go through.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::spec::default_one;
use super::units::{BYTES_PATTERN, INDEX_NAME_PATTERN, TIME_PATTERN};

/// The log index.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IndexSpec {
    /// Name of the write alias the collector writes to; backing indices are
    /// `<name>-000001`, `<name>-000002`, ... The ILM policy, templates, users and roles are
    /// named after it. Lowercase letters, digits, `.`, `_` and `-`, starting with a letter
    /// or digit, at most 200 characters (so `<name>-deadletter` and every other derived
    /// name stays within Elasticsearch's 255 bytes). Default `mcp-mesh-logs`.
    #[serde(default = "default_index_name")]
    #[schemars(length(min = 1, max = 200), pattern(INDEX_NAME_PATTERN))]
    pub name: String,
    /// Primary shards of each backing index. Default 3.
    #[serde(default = "default_shards")]
    #[schemars(range(min = 1, max = 1024))]
    pub shards: i32,
    /// Replica shards of each primary. Default 1.
    #[serde(default = "default_one")]
    #[schemars(range(min = 0, max = 100))]
    pub replicas: i32,
    /// How often new logs become searchable, an Elasticsearch time value (`5s`) or `-1` to
    /// disable. Default `5s`.
    #[serde(default = "default_refresh")]
    #[schemars(length(max = 24))]
    #[x_kube(validation = kube::core::Rule::new(
        "self == '-1' || self.matches('^[0-9]+(d|h|m|s|ms|micros|nanos)$')"
    ).message("must be an Elasticsearch time value such as 5s or 1m, or -1"))]
    pub refresh_interval: String,
    /// How old the newest log in the write alias may be before the `LogsFlowing` condition
    /// turns False, an Elasticsearch time value of at least `1m` and at most `7d`.
    /// Default `10m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 24), pattern(TIME_PATTERN))]
    pub logs_flowing_threshold: Option<String>,
    /// When true, the operator retries the failed step of every backing index in ILM's
    /// `ERROR` step (`POST <index>/_ilm/retry`), once per resync, with a Normal event
    /// `RetriedLifecycleStep` each time. Default false: errors are reported
    /// (`IndexLifecycleHealthy`) and left for a person to fix.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retry_failed_lifecycle_steps: bool,
}

impl IndexSpec {
    /// The source recipe's index: `mcp-mesh-logs`, 3 shards, 1 replica, refresh every 5s.
    pub fn recommended() -> Self {
        Self {
            name: default_index_name(),
            shards: default_shards(),
            replicas: 1,
            refresh_interval: default_refresh(),
            logs_flowing_threshold: None,
            retry_failed_lifecycle_steps: false,
        }
    }
}

fn default_index_name() -> String {
    "mcp-mesh-logs".into()
}
fn default_shards() -> i32 {
    3
}
fn default_refresh() -> String {
    "5s".into()
}

/// The ILM policy of the log indices.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleSpec {
    /// Hot phase: the index being written; rolled over to a new one by size or age.
    #[serde(default = "HotPhase::recommended")]
    pub hot: HotPhase,
    /// Warm phase: no more writes; shrink, force-merge, lower priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm: Option<WarmPhase>,
    /// Cold phase: rarely searched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold: Option<ColdPhase>,
    /// Delete phase: the index is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete: Option<DeletePhase>,
}

impl LifecycleSpec {
    /// The source recipe's policy: rollover at 1d/50gb, warm after 2d (shrink to 1 shard,
    /// force-merge to 1 segment), cold after 7d, delete after 30d.
    pub fn recommended() -> Self {
        Self {
            hot: HotPhase::recommended(),
            warm: Some(WarmPhase {
                min_age: "2d".into(),
                shrink_to: Some(1),
                force_merge_segments: Some(1),
                priority: Some(50),
                replicas: None,
            }),
            cold: Some(ColdPhase {
                min_age: "7d".into(),
                priority: Some(0),
                replicas: None,
            }),
            delete: Some(DeletePhase {
                min_age: "30d".into(),
            }),
        }
    }
}

/// The hot phase.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HotPhase {
    /// When to start a new backing index; no rollover when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollover: Option<Rollover>,
    /// Recovery priority of the indices in this phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub priority: Option<i32>,
}

impl HotPhase {
    /// Rollover at 1d or 50gb per primary shard, priority 100.
    pub fn recommended() -> Self {
        Self {
            rollover: Some(Rollover {
                max_age: Some("1d".into()),
                max_primary_shard_size: Some("50gb".into()),
                max_size: None,
                max_docs: None,
                max_primary_shard_docs: None,
            }),
            priority: Some(100),
        }
    }
}

/// Rollover conditions: a new backing index starts when any one is met.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "has(self.maxAge) || has(self.maxPrimaryShardSize) || has(self.maxSize) || has(self.maxDocs) || has(self.maxPrimaryShardDocs)"
).message("rollover needs at least one condition: maxAge, maxPrimaryShardSize, maxSize, maxDocs or maxPrimaryShardDocs"))]
pub struct Rollover {
    /// Age of the index, for example `1d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 24), pattern(TIME_PATTERN))]
    pub max_age: Option<String>,
    /// Size of the largest primary shard, for example `50gb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 24), pattern(BYTES_PATTERN))]
    pub max_primary_shard_size: Option<String>,
    /// Size of all primary shards together, for example `150gb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 24), pattern(BYTES_PATTERN))]
    pub max_size: Option<String>,
    /// Number of documents in the index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_docs: Option<i64>,
    /// Number of documents in the largest primary shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_primary_shard_docs: Option<i64>,
}

/// The warm phase.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WarmPhase {
    /// Age (since rollover) at which an index enters this phase, for example `2d`.
    #[schemars(length(max = 24), pattern(TIME_PATTERN))]
    pub min_age: String,
    /// Shrink to this many primary shards (a factor of `index.shards`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub shrink_to: Option<i32>,
    /// Force-merge each shard to this many segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub force_merge_segments: Option<i32>,
    /// Recovery priority of the indices in this phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub priority: Option<i32>,
    /// Replica shards in this phase; unchanged when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub replicas: Option<i32>,
}

/// The cold phase.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ColdPhase {
    /// Age (since rollover) at which an index enters this phase, for example `7d`.
    #[schemars(length(max = 24), pattern(TIME_PATTERN))]
    pub min_age: String,
    /// Recovery priority of the indices in this phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub priority: Option<i32>,
    /// Replica shards in this phase; unchanged when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub replicas: Option<i32>,
}

/// The delete phase.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeletePhase {
    /// Age (since rollover) at which an index is deleted, for example `30d`.
    #[schemars(length(max = 24), pattern(TIME_PATTERN))]
    pub min_age: String,
}
