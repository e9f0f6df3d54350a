//! `MeshLoggingStatus`: what the operator observed and did, for `kubectl get/describe`,
//! Argo CD and alerts. Written only by the operator, only when it changed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The observed state of a MeshLogging.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MeshLoggingStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Where the stack is: `Pending`, `Provisioning` (workloads starting), `Configuring`
    /// (Elasticsearch answers, index management being applied), `Ready` or `Degraded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// One condition per concern (`ElasticsearchReady`, `KibanaReady`, `CollectorReady`,
    /// `IndexManagementApplied`, `SnapshotsConfigured`, `LogsFlowing`,
    /// `IndexLifecycleHealthy`, `DiskHealthy`, `SnapshotsHealthy`, `DashboardsReady`,
    /// `Progressing`) and `Ready` for the whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// Elasticsearch as observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elasticsearch: Option<ElasticsearchStatus>,
    /// Kibana as observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kibana: Option<WorkloadStatus>,
    /// The collector DaemonSet as observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collector: Option<WorkloadStatus>,
    /// The Elasticsearch objects the operator manages for this resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<AppliedStatus>,
    /// Whether logs arrive, as last read from the write alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<LogsStatus>,
    /// Backing indices of the write alias in ILM's `ERROR` step (at most 20), as last read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lifecycle_errors: Vec<IndexLifecycleError>,
    /// The SLM policies of `spec.snapshots`, as last read from Elasticsearch: their last
    /// success, last failure and next run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snapshots: Vec<SnapshotPolicyStatus>,
    /// The log dashboards in Kibana, when `spec.dashboards.enabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboards: Option<DashboardsStatus>,
    /// The day-2 operation of the managed cluster in progress (a rolling upgrade or
    /// restart, a scale-down, a volume expansion); absent when none runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<OperationStatus>,
}

/// A day-2 operation in progress.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OperationStatus {
    /// `Upgrading`, `Restarting`, `ScalingDown` or `ExpandingVolumes`.
    #[serde(rename = "type")]
    pub type_: String,
    /// What it does now, for example `Upgrading 8.15.3 → 8.16.1: node 2/3 restarting
    /// (mesh-es-1)`.
    pub message: String,
    /// The current step, for example `RestartingNode mesh-es-1`.
    pub step: String,
    /// When the current step started (moves only when the step changes).
    pub step_start_time: Time,
}

/// One SLM policy as Elasticsearch last reported it (`GET _slm/policy`, `_slm/stats`).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotPolicyStatus {
    /// The policy.
    pub policy: String,
    /// When its last successful snapshot was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<Time>,
    /// When its last run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<Time>,
    /// Elasticsearch's reason for that failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_reason: Option<String>,
    /// When it runs next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run: Option<Time>,
    /// Snapshots it took (since Elasticsearch's master last started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshots_taken: Option<i64>,
    /// Runs that failed (since Elasticsearch's master last started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshots_failed: Option<i64>,
}

/// The log dashboards in Kibana.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DashboardsStatus {
    /// Where the "MCP Mesh Log Analysis" dashboard opens: Kibana's Ingress host and the
    /// dashboard's path. Set when `spec.kibana.ingress.host` is (and is no wildcard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The flow of logs into the write alias, as last read (on the resync timer).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LogsStatus {
    /// The `timestamp` of the newest log in the write alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_timestamp: Option<Time>,
    /// Logs whose `timestamp` is within `spec.index.logsFlowingThreshold` of the read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent: Option<i64>,
    /// Collector nodes (`kubernetes.host`) that sent logs within the threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<i32>,
    /// Nodes that sent nothing within the threshold (at most 20): those whose collector
    /// pod has been Ready for longer than the threshold, and those that sent logs in the
    /// last day (a node removed from the cluster is listed until its logs are a day old).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub silent_nodes: Vec<String>,
    /// Indices of the write alias that refuse writes (`index.blocks.write` or
    /// `index.blocks.read_only_allow_delete`, which Elasticsearch sets when a node's disk
    /// passes the flood-stage watermark).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocked_indices: Vec<String>,
}

/// A backing index in ILM's `ERROR` step.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IndexLifecycleError {
    /// The index.
    pub index: String,
    /// The step that failed, when Elasticsearch names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<String>,
    /// Elasticsearch's reason.
    pub reason: String,
}

/// Life-cycle phase of the stack.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Accepted, nothing running yet.
    Pending,
    /// Workloads applied, waiting for Elasticsearch to answer.
    Provisioning,
    /// Elasticsearch answers; index management is being applied.
    Configuring,
    /// Everything is applied and ready.
    Ready,
    /// Something failed or stopped being ready; see the conditions.
    Degraded,
    /// Ready, with a day-2 operation in progress (scale-down, volume expansion): see the
    /// `Progressing` condition.
    Scaling,
    /// The nodes are restarted one at a time for a new version: see `status.operation`.
    Upgrading,
    /// The nodes are restarted one at a time for a new pod template: see
    /// `status.operation`.
    Restarting,
}

impl Phase {
    /// The phase as it appears in status and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Provisioning => "Provisioning",
            Self::Configuring => "Configuring",
            Self::Ready => "Ready",
            Self::Degraded => "Degraded",
            Self::Scaling => "Scaling",
            Self::Upgrading => "Upgrading",
            Self::Restarting => "Restarting",
        }
    }
}

/// Elasticsearch as observed.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ElasticsearchStatus {
    /// Cluster health: `green`, `yellow`, `red`, or `unknown` when it does not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// Nodes ready out of nodes desired, for example `3/3` (managed mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<String>,
    /// Nodes ready (managed mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Nodes desired (managed mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// URL of the REST API the operator and the collector use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Version reported by Elasticsearch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Fingerprint (not a secret) of the keystore content every node last reloaded
    /// (`POST _nodes/reload_secure_settings`) without a restart (managed mode, secure
    /// settings or repository credentials): a change is reloaded once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure_settings_reloaded: Option<String>,
}

/// A Deployment or DaemonSet as observed.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadStatus {
    /// Pods ready out of pods desired, for example `2/2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<String>,
    /// Pods ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Pods desired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
}

/// Names of the Elasticsearch objects applied for this resource.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AppliedStatus {
    /// ILM policies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ilm_policies: Vec<String>,
    /// Component templates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub component_templates: Vec<String>,
    /// Composable index templates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub index_templates: Vec<String>,
    /// The write alias the collector writes to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_alias: Option<String>,
    /// The index the write alias points to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_index: Option<String>,
    /// Snapshot repositories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snapshot_repositories: Vec<String>,
    /// SLM policies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slm_policies: Vec<String>,
    /// Security roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Security users (passwords are in Secrets, never here).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// Kibana saved objects (`<type>/<id>`: the data view, saved searches, Lens charts,
    /// dashboards and the ownership tag), as last synced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub saved_objects: Vec<String>,
}

/// Condition types.
pub mod condition {
    /// The whole stack is ready.
    pub const READY: &str = "Ready";
    /// Elasticsearch answers with health yellow or green (and, managed, its nodes are ready).
    pub const ELASTICSEARCH_READY: &str = "ElasticsearchReady";
    /// Kibana's replicas are ready (or Kibana is disabled).
    pub const KIBANA_READY: &str = "KibanaReady";
    /// The collector runs on every node it should.
    pub const COLLECTOR_READY: &str = "CollectorReady";
    /// ILM policy, templates, write alias and security objects are applied.
    pub const INDEX_MANAGEMENT_APPLIED: &str = "IndexManagementApplied";
    /// Snapshot repositories and SLM policies are applied (or none are wanted).
    pub const SNAPSHOTS_CONFIGURED: &str = "SnapshotsConfigured";
    /// Logs arrive in the write alias: its newest log is within
    /// `spec.index.logsFlowingThreshold` and it accepts writes. Not part of `Ready` (which
    /// says the stack exists); when False the phase is `Degraded`.
    pub const LOGS_FLOWING: &str = "LogsFlowing";
    /// No backing index of the write alias is in ILM's `ERROR` step. Not part of `Ready`;
    /// when False the phase is `Degraded`.
    pub const INDEX_LIFECYCLE_HEALTHY: &str = "IndexLifecycleHealthy";
    /// Elasticsearch's disk health indicator is green: no node past a disk watermark, no
    /// index blocked by the flood stage. Not part of `Ready`; when False the phase is
    /// `Degraded`.
    pub const DISK_HEALTHY: &str = "DiskHealthy";
    /// The SLM policies' last runs succeeded, none went without a snapshot for twice its
    /// schedule's interval, and the repositories verify (`True` with `NoneRequested` when
    /// the spec asks for no snapshots). Not part of `Ready`; when False the phase is
    /// `Degraded`.
    pub const SNAPSHOTS_HEALTHY: &str = "SnapshotsHealthy";
    /// The data view and dashboards are in Kibana as the spec wants them (or dashboards
    /// are disabled). Not part of `Ready`: a Kibana that is down or starting does not
    /// hold up the rest of the stack.
    pub const DASHBOARDS_READY: &str = "DashboardsReady";
    /// A day-2 operation of the managed cluster is in progress (True: `Upgrading`,
    /// `Restarting`, `ScalingDown`, `ExpandingVolumes`, the message says which nodes or volumes), or one the spec asks
    /// for is refused (False, the reason and message name the field), or none (False,
    /// `Idle`). Not part of `Ready` while in progress; a refusal makes `Ready` False.
    pub const PROGRESSING: &str = "Progressing";
    /// Every condition type, `Ready` first.
    pub const ALL: [&str; 12] = [
        READY,
        ELASTICSEARCH_READY,
        KIBANA_READY,
        COLLECTOR_READY,
        INDEX_MANAGEMENT_APPLIED,
        SNAPSHOTS_CONFIGURED,
        LOGS_FLOWING,
        INDEX_LIFECYCLE_HEALTHY,
        DISK_HEALTHY,
        SNAPSHOTS_HEALTHY,
        DASHBOARDS_READY,
        PROGRESSING,
    ];
}
