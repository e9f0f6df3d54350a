//! The one set of reasons (pure): the `reason` of status conditions, the `reason` label of
//! the sync-failure metric, the reason of Kubernetes events, and the category of errors.
//!
//! Bounded by construction: a label or condition reason can only be one of these, never
//! text from an error (see STYLE.md, "Errors"). The strings are part of the operator's
//! interface (`kubectl get`, alerts, Argo CD): [`Reason::as_str`] must not change them.

use std::fmt;

/// Declares [`Reason`] with `as_str` giving each variant's own name: the text of a reason
/// is its name, by construction.
macro_rules! reasons {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// Why a condition is what it is, why an object failed, or what an event reports.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Reason {
            $($(#[$doc])* $name,)*
        }

        impl Reason {
            /// The reason as it appears in status, metrics and events.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$name => stringify!($name),)*
                }
            }

            /// The reason whose text is `text` (a condition's reason read back from status).
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $(stringify!($name) => Some(Self::$name),)*
                    _ => None,
                }
            }
        }
    };
}

reasons! {
    // Conditions.
    /// The whole stack is ready (condition), or just became so (event).
    Ready,
    /// The spec failed validation.
    InvalidSpec,
    /// Kibana is disabled.
    Disabled,
    /// A workload's pods are ready.
    Available,
    /// A workload's pods are not all ready yet.
    Progressing,
    /// No snapshot repositories or policies are requested.
    NoneRequested,
    /// The API server refused a child.
    ApplyRejected,
    /// An object of that name belongs to someone else.
    Conflict,
    /// The Elasticsearch objects are applied (condition), or children were (event).
    Applied,
    /// Elasticsearch has not answered yet.
    WaitingForElasticsearch,
    /// Elasticsearch is healthy but reached over plain `http://`.
    InsecureTransport,
    /// Not all Elasticsearch nodes are ready (managed mode).
    NodesNotReady,
    /// Cluster health green.
    Green,
    /// Cluster health yellow.
    Yellow,
    /// Cluster health red.
    Red,
    /// A Secret or key with credentials is missing.
    CredentialsMissing,
    /// An object was not applied because one it depends on was not.
    DependencyFailed,

    // Elasticsearch errors.
    /// No answer from Elasticsearch (after retries).
    ElasticsearchUnreachable,
    /// Elasticsearch refused the credentials (401).
    Unauthorized,
    /// Elasticsearch answered 403.
    Forbidden,
    /// Elasticsearch refused a request (another 4xx).
    Rejected,
    /// Elasticsearch answered 5xx, or its health could not be read.
    ElasticsearchError,
    /// An answer the API does not document.
    UnexpectedResponse,
    /// The cluster does not serve the API (a distribution without ILM or SLM).
    NotSupportedByCluster,
    /// An Elasticsearch version the operator does not support.
    UnsupportedVersion,
    /// The Elasticsearch client could not be built.
    InvalidClientConfig,

    // Other errors of a reconcile.
    /// A Kubernetes API call failed.
    KubernetesApi,
    /// Generating a password, hash or certificate failed.
    GenerateCredentials,
    /// The finalizer could not be added or removed.
    Finalizer,

    // Events.
    /// A new resource waited long for its first reconcile.
    ReconcileDelayed,
    /// The sync created, changed or deleted Elasticsearch objects.
    ElasticsearchConfigured,
    /// Deletion removed the Elasticsearch objects.
    ElasticsearchCleanedUp,
    /// Deletion could not remove the Elasticsearch objects.
    CleanupIncomplete,
    /// Deletion removed the PersistentVolumeClaims (`deletionPolicy: Delete`).
    DataDeleted,

    // The flow of logs (condition LogsFlowing).
    /// The newest log in the write alias is within the threshold.
    LogsArriving,
    /// The write alias exists but no log has arrived yet, within the threshold of its
    /// creation.
    AwaitingLogs,
    /// No log arrived within the threshold.
    NoRecentLogs,
    /// An index of the write alias refuses writes (disk flood-stage watermark or a block).
    WriteIndexBlocked,
    /// Logs arrive, but not from every node whose collector pod is Ready.
    NodesSilent,

    // Index lifecycle (condition IndexLifecycleHealthy).
    /// No backing index is in ILM's `ERROR` step.
    NoLifecycleErrors,
    /// A backing index is in ILM's `ERROR` step.
    IlmStepFailed,
    /// The operator retried a failed ILM step (event; `spec.index.retryFailedLifecycleSteps`).
    RetriedLifecycleStep,

    // Snapshots (condition SnapshotsHealthy).
    /// Every SLM policy's last run succeeded, and every repository verified.
    SnapshotsSucceeding,
    /// An SLM policy's last run failed.
    SnapshotFailed,
    /// A snapshot repository could not be verified (`_verify`).
    RepositoryUnverified,
    /// An SLM policy produced no snapshot within twice its schedule's interval.
    NeverSucceeded,

    // Kibana's saved objects (condition DashboardsReady).
    /// Kibana did not answer, answered 503 (starting), or says it is not available; or it
    /// has no ready replica yet.
    KibanaUnavailable,
    /// Kibana answered an error (5xx other than 503).
    KibanaError,
    /// The sync created, changed or deleted saved objects in Kibana (event).
    DashboardsConfigured,

    // Day-2 operations of a managed cluster (condition Progressing, and events).
    /// No day-2 operation is in progress.
    Idle,
    /// Nodes are leaving the cluster: their shards are moved off first.
    ScalingDown,
    /// A scale-down finished: the nodes left and the exclusions were cleared (event).
    ScaledDown,
    /// A scale-down would leave too few nodes for the indices' replicas: refused.
    ScaleDownRefused,
    /// The volumes are being expanded and the StatefulSet recreated for the new size.
    ExpandingVolumes,
    /// A larger `storage.size` whose StorageClass does not allow volume expansion.
    VolumeExpansionNotAllowed,
    /// The nodes are restarted one at a time for a new version (rolling upgrade).
    Upgrading,
    /// The nodes are restarted one at a time for a new pod template (config, resources,
    /// JVM heap, certificates).
    Restarting,
    /// A node's pod is deleted for its restart (event).
    RestartingNode,
    /// A restarted node is back in the cluster and shard allocation restored (event).
    NodeRestarted,
    /// A rotation annotation does not hold an RFC 3339 timestamp: nothing rotated.
    RotationRefused,
    /// Changed reloadable secure settings are being reloaded: some node's keystore is not
    /// rebuilt yet (its sidecar has not seen the change), or the reload request failed.
    ReloadingSecureSettings,
    /// Every node reloaded the changed secure settings, without a restart (event).
    SecureSettingsReloaded,
    /// A node refused the reloaded keystore for another reason than its password (an
    /// unknown or invalid setting): the message names the node, the setting and the
    /// Secrets the keystore is built from.
    SecureSettingsReloadFailed,

    // Disk (condition DiskHealthy).
    /// Elasticsearch reports disk trouble: a watermark reached or indices blocked.
    DiskPressure,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// So that tests and callers can compare a reason with its text: `failure.reason == "Conflict"`.
impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_compare_with_their_text() {
        assert_eq!(Reason::NotSupportedByCluster, "NotSupportedByCluster");
        assert_eq!(
            Reason::WaitingForElasticsearch.to_string(),
            "WaitingForElasticsearch"
        );
        assert!(Reason::Conflict != "Rejected");
        assert_eq!(Reason::parse("Conflict"), Some(Reason::Conflict));
        assert_eq!(Reason::parse("no such reason"), None);
    }
}
