//! The validated model: what [`validate`](super::validate) hands to every later step.
//! Every default is resolved and every derived value (names, endpoint, Kibana's user) is
//! decided here once; the spec itself stays private, read through the accessors. Pure data.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::api::{
    AntiAffinity, CollectorType, DeletionPolicy, ExternalElasticsearch, IndexSpec, KibanaIngress,
    LifecycleSpec, MeshLoggingSpec, SecureSettingsSource, SnapshotPolicy, SnapshotRepository,
};
use crate::endpoint::Endpoint;
use crate::naming::Names;

/// An Elastic Stack version, `major.minor.patch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StackVersion {
    /// Major version (8 or 9).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version.
    pub patch: u32,
}

impl StackVersion {
    /// Parses `major.minor.patch`.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.split('.').map(|p| p.parse::<u32>().ok());
        let v = Self {
            major: parts.next()??,
            minor: parts.next()??,
            patch: parts.next()??,
        };
        parts.next().is_none().then_some(v)
    }

    /// Elasticsearch has the readiness TCP port (`readiness.port`) from 8.2.0 on.
    pub fn has_readiness_port(self) -> bool {
        (self.major, self.minor) >= (8, 2)
    }
}

impl fmt::Display for StackVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A MeshLogging that passed validation, with every default resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Validated {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.uid`, for owner references.
    pub uid: String,
    /// The spec as written (with the schema's defaults), read through the accessors.
    pub(super) spec: MeshLoggingSpec,
    /// `spec.version`, parsed.
    pub version: StackVersion,
    /// Names derived from the index (alias, collector user, ...).
    pub names: Names,
    /// Managed or external Elasticsearch.
    pub mode: EsMode,
    /// Where Elasticsearch is reached, parsed once: the HTTP Service of the managed
    /// cluster, or the external cluster's URL.
    pub endpoint: Endpoint,
    /// Kibana, when enabled.
    pub kibana: Option<ValidKibana>,
    /// The collector.
    pub collector: ValidCollector,
}

impl Validated {
    /// `<namespace>/<name>`, the owner marker of Elasticsearch objects.
    pub fn owner(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The managed cluster, if the operator deploys one.
    pub fn managed(&self) -> Option<&ManagedEs> {
        match &self.mode {
            EsMode::Managed(m) => Some(m),
            EsMode::External(_) => None,
        }
    }

    /// The URL Kibana and the collector use: the HTTP Service of the managed cluster, or
    /// the external cluster's URL as written.
    pub fn es_url(&self) -> String {
        match &self.mode {
            EsMode::Managed(_) => crate::naming::es_http_url(&self.name, &self.namespace),
            EsMode::External(e) => e.url.clone(),
        }
    }

    /// `spec.index`: the write alias and its shards, replicas and refresh interval.
    pub fn index(&self) -> &IndexSpec {
        &self.spec.index
    }

    /// `spec.index.logsFlowingThreshold`, resolved: how old the newest log may be before
    /// `LogsFlowing` turns False.
    pub fn logs_flowing_threshold(&self) -> std::time::Duration {
        super::pipeline::logs_flowing_threshold(&self.spec.index)
            .unwrap_or(super::pipeline::DEFAULT_LOGS_FLOWING_THRESHOLD)
    }

    /// `spec.lifecycle`: the ILM phases.
    pub fn lifecycle(&self) -> &LifecycleSpec {
        &self.spec.lifecycle
    }

    /// The snapshot repositories (none when `spec.snapshots` is absent).
    pub fn repositories(&self) -> &[SnapshotRepository] {
        self.spec
            .snapshots
            .as_ref()
            .map_or(&[], |s| s.repositories.as_slice())
    }

    /// The SLM policies (none when `spec.snapshots` is absent).
    pub fn snapshot_policies(&self) -> &[SnapshotPolicy] {
        self.spec
            .snapshots
            .as_ref()
            .map_or(&[], |s| s.policies.as_slice())
    }

    /// Whether the spec asks for any snapshot repository or policy.
    pub fn snapshots_wanted(&self) -> bool {
        !self.repositories().is_empty() || !self.snapshot_policies().is_empty()
    }

    /// Whether the operator keeps the data view and dashboards in Kibana:
    /// `spec.dashboards.enabled` with Kibana deployed (admission refuses dashboards without
    /// Kibana; this holds for specs stored before that rule too).
    pub fn dashboards_enabled(&self) -> bool {
        self.spec.dashboards.enabled && self.kibana.is_some()
    }

    /// The URL of the log dashboard for people: Kibana's public URL (its Ingress host)
    /// with the dashboard's path; `None` without dashboards, an Ingress or with a wildcard
    /// host.
    pub fn dashboard_url(&self, dashboard_id: &str) -> Option<String> {
        if !self.dashboards_enabled() {
            return None;
        }
        let base = self.kibana.as_ref()?.public_url()?;
        Some(format!(
            "{base}{}",
            crate::kibana::dashboard_path(dashboard_id)
        ))
    }

    /// `spec.deletionPolicy`: what deleting the resource does to the data.
    pub fn deletion_policy(&self) -> DeletionPolicy {
        self.spec.deletion_policy
    }
}

/// Where Elasticsearch runs.
#[derive(Clone, Debug, PartialEq)]
pub enum EsMode {
    /// The operator deploys and owns the cluster.
    Managed(ManagedEs),
    /// An existing cluster; the operator deploys no Elasticsearch.
    External(ExternalElasticsearch),
}

/// A managed Elasticsearch cluster, defaults resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct ManagedEs {
    /// Number of nodes (default 3).
    pub replicas: i32,
    /// Resources of each node (default requests 1 CPU / 2Gi, limits 2 CPU / 4Gi).
    pub resources: ResourceRequirements,
    /// JVM heap in MiB: half the memory limit, at most [`MAX_HEAP_MIB`](super::MAX_HEAP_MIB).
    pub heap_mib: u64,
    /// Data volume of each node (default 10Gi, default class).
    pub storage: ValidStorage,
    /// Spreading over Kubernetes nodes (default soft).
    pub anti_affinity: AntiAffinity,
    /// Extra `elasticsearch.yml` settings.
    pub config: BTreeMap<String, String>,
    /// Secrets whose keys go into the keystore, as written.
    pub secure_settings: Vec<SecureSettingsSource>,
    /// Every keystore source: `secure_settings`, then each snapshot repository's
    /// credentials Secret.
    pub keystore: Vec<KeystoreSource>,
    /// `path.repo`: the locations of the `fs` snapshot repositories.
    pub repo_paths: Vec<String>,
    /// Container image (default `docker.elastic.co/elasticsearch/elasticsearch:<version>`).
    pub image: String,
}

/// The data volume of each Elasticsearch node.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidStorage {
    /// Requested size.
    pub size: Quantity,
    /// StorageClass; the cluster default when `None`.
    pub class: Option<String>,
}

/// A Secret whose keys become keystore settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeystoreSource {
    /// Secret name.
    pub secret: String,
    /// `(key, keystore setting)` pairs; every key under its own name when `None`.
    pub items: Option<Vec<(String, String)>>,
    /// Absent Secret or keys are skipped rather than blocking the pods.
    pub optional: bool,
}

/// Kibana, defaults resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidKibana {
    /// Number of replicas.
    pub replicas: i32,
    /// Resources (default requests 500m / 1Gi, limits 1 CPU / 2Gi).
    pub resources: ResourceRequirements,
    /// Container image (default `docker.elastic.co/kibana/kibana:<version>`).
    pub image: String,
    /// The user Kibana connects as: `kibana_system` (managed) or `<index>-kibana` (external).
    pub username: String,
    /// The Ingress, when wanted.
    pub ingress: Option<KibanaIngress>,
}

impl ValidKibana {
    /// Where people reach Kibana: `https://<host>` (`http://` without a TLS Secret) of the
    /// Ingress; `None` without an Ingress or with a wildcard host.
    pub fn public_url(&self) -> Option<String> {
        let ingress = self.ingress.as_ref()?;
        if ingress.host.starts_with('*') {
            return None;
        }
        let scheme = if ingress.tls_secret_name.is_some() {
            "https"
        } else {
            "http"
        };
        Some(format!("{scheme}://{}", ingress.host))
    }
}

/// The collector, defaults resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidCollector {
    /// Fluent Bit or Fluentd.
    pub kind: CollectorType,
    /// Container image (default [`DEFAULT_FLUENT_BIT_IMAGE`](super::DEFAULT_FLUENT_BIT_IMAGE) or
    /// [`DEFAULT_FLUENTD_IMAGE`](super::DEFAULT_FLUENTD_IMAGE)).
    pub image: String,
    /// Files to tail.
    pub paths: Vec<String>,
    /// Files never to read.
    pub exclude_paths: Vec<String>,
    /// Fields added to every record.
    pub fields: BTreeMap<String, String>,
    /// Flush interval in whole seconds (at least 1).
    pub flush_seconds: u64,
    /// `buffer.flushInterval` as written (`5s`).
    pub flush_interval: String,
    /// `buffer.chunkLimitSize` (`2M`).
    pub chunk_limit_size: String,
    /// `buffer.totalLimitSize` (`1G`).
    pub total_limit_size: String,
    /// Resources (default requests 100m / 200Mi, limit 512Mi memory).
    pub resources: ResourceRequirements,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
}
