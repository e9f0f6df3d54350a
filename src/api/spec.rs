//! `MeshLoggingSpec`: what a user asks for. Doc comments become `kubectl explain` text;
//! schema attributes and `x_kube` CEL rules are enforced by the API server at admission.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::status::MeshLoggingStatus;
use super::units::{
    BYTES_PATTERN, COLLECTOR_INTERVAL_PATTERN, COLLECTOR_SIZE_PATTERN, CRON_PATTERN,
    ES_NAME_PATTERN, INDEX_NAME_PATTERN, INDEX_PATTERN_PATTERN, K8S_NAME_PATTERN,
    SECRET_KEY_PATTERN, SNAPSHOT_NAME_PATTERN, STACK_VERSION_PATTERN, TIME_PATTERN,
};

/// Top-level keys of a log document that the collector or the log schema
/// (`elastic::log_schema`) already gives a meaning: `collector.fields` may not reuse them,
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
pub struct MeshLoggingSpec {
    /// Elastic Stack version used for the Elasticsearch and Kibana images, for example `8.15.3`.
    /// Versions 8.x and 9.x are supported.
    #[schemars(pattern(STACK_VERSION_PATTERN))]
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

    /// The Kibana data view and log dashboards. Reserved: this version of the operator does
    /// not load them yet (see the README's known limitations).
    #[serde(default = "DashboardsSpec::recommended")]
    pub dashboards: DashboardsSpec,

    /// What happens to the data when the MeshLogging is deleted: `Retain` (default) keeps the
    /// Elasticsearch volumes (PersistentVolumeClaims); `Delete` removes them.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// Elasticsearch, managed or external.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "!has(self.external) || !(has(self.replicas) || has(self.resources) || has(self.storage) || has(self.antiAffinity) || has(self.config) || has(self.secureSettings) || has(self.image))"
).message("external Elasticsearch cannot be combined with managed settings (replicas, resources, storage, antiAffinity, config, secureSettings, image)").field_path(".external"))]
pub struct ElasticsearchSpec {
    /// Number of Elasticsearch nodes (managed mode). Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub replicas: Option<i32>,

    /// CPU and memory of each node (managed mode). The JVM heap is half the memory limit.
    /// Default: requests 1 CPU / 2Gi, limits 2 CPU / 4Gi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// The data volume of each node (managed mode). Default 10Gi in the default storage class.
    /// Cannot change once set: a StatefulSet's volume claim templates are immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message(
        "storage cannot change once set: the volume claim templates of the Elasticsearch StatefulSet are immutable"
    ))]
    pub storage: Option<StorageSpec>,

    /// How nodes are spread over Kubernetes nodes (managed mode): `hard` never puts two
    /// Elasticsearch nodes on one Kubernetes node; `soft` (default) prefers not to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anti_affinity: Option<AntiAffinity>,

    /// Extra `elasticsearch.yml` settings (managed mode), by their flat dotted name, values as
    /// strings (`"true"`, `"a,b"`). Settings the operator owns (cluster formation, network,
    /// paths and `xpack.security.*`) cannot be set here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::settings_map")]
    #[x_kube(validation = kube::core::Rule::new(
        "!('cluster.name' in self) && !('node.name' in self) && !('network.host' in self) && !('http.port' in self) && !('transport.port' in self) && !('path.data' in self) && !('path.logs' in self) && !('discovery.seed_hosts' in self) && !('discovery.type' in self) && !('cluster.initial_master_nodes' in self) && self.all(k, !k.startsWith('xpack.security.'))"
    ).message("these elasticsearch.yml settings are managed by the operator and cannot be overridden: cluster.name, node.name, network.host, http.port, transport.port, path.data, path.logs, discovery.*, cluster.initial_master_nodes, xpack.security.*"))]
    pub config: Option<BTreeMap<String, String>>,

    /// Secrets whose keys go into the Elasticsearch keystore (managed mode), for example
    /// credentials of repository plugins or realms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure_settings: Option<Vec<SecureSettingsSource>>,

    /// Container image (managed mode). Default `docker.elastic.co/elasticsearch/elasticsearch:<version>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,

    /// An existing Elasticsearch cluster to configure instead of deploying one: the operator
    /// deploys no Elasticsearch and only applies the index management through the REST API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalElasticsearch>,
}

/// A persistent volume for each Elasticsearch node.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Size of the volume, for example `100Gi`.
    pub size: Quantity,
    /// StorageClass of the volume; the cluster's default class when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253), pattern(K8S_NAME_PATTERN))]
    pub storage_class_name: Option<String>,
}

/// Pod anti-affinity between Elasticsearch nodes.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum AntiAffinity {
    /// Required: at most one Elasticsearch node per Kubernetes node.
    Hard,
    /// Preferred: spread when possible.
    #[default]
    Soft,
}

/// A Secret whose keys become Elasticsearch keystore entries.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecureSettingsSource {
    /// Name of the Secret, in the MeshLogging's namespace.
    #[schemars(length(min = 1, max = 253), pattern(K8S_NAME_PATTERN))]
    pub secret_name: String,
    /// The keys to use and the keystore setting each becomes; all keys, under their own
    /// names, when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<KeyToPath>>,
}

/// One key of a Secret and the keystore setting it becomes.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KeyToPath {
    /// Key in the Secret.
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY_PATTERN))]
    pub key: String,
    /// Keystore setting name; the key itself when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// A cluster the operator does not deploy but configures through its REST API.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("!has(self.caSecretRef) || self.url.startsWith('https://')")
    .message("caSecretRef needs an https:// url").field_path(".caSecretRef"))]
#[x_kube(validation = kube::core::Rule::new("self.url.startsWith('https://') || (has(self.insecure) && self.insecure)")
    .message("an http:// url sends the operator's admin credentials and the generated passwords in cleartext: use https://, or set insecure: true to accept that")
    .field_path(".url"))]
pub struct ExternalElasticsearch {
    /// Base URL of the REST API, for example `https://es.example.com:9200`: `https://`
    /// (or `http://` with `insecure: true`), a host name or IP address, an optional port and
    /// path. Never credentials (`user:password@`): they go in `credentialsSecretRef`.
    // CEL rules rather than a pattern: a failed pattern repeats the value in the error,
    // and a URL may hold a password.
    #[schemars(length(max = 2048))]
    #[x_kube(validation = kube::core::Rule::new("!self.matches('^[^/]*//[^/]*@')")
        .message("must not contain credentials (user:password@): put them in the Secret named by credentialsSecretRef"))]
    #[x_kube(validation = kube::core::Rule::new(URL_RULE)
        .message("must be http(s)://host[:port][/path] (letters, digits, '.', '-', '_', '~', '%' and '/' in the path)"))]
    pub url: String,
    /// Allow an `http://` url. The operator's credentials and the passwords it generates
    /// then cross the network in cleartext; the ElasticsearchReady condition says so.
    /// Default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Secret with the user name and password the operator authenticates with. The user
    /// needs the `manage_ilm`, `manage_index_templates`, `manage_slm`, `manage_security` and
    /// `create_index` privileges (or `superuser`).
    pub credentials_secret_ref: BasicAuthSecretRef,
    /// Secret with the PEM CA bundle that signed the cluster's HTTP certificate; the system
    /// trust store when unset. Certificates are always verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeySelector>,
}

/// The shape of an external URL, as CEL (a URL with credentials is refused by its own rule
/// and not reported twice).
const URL_RULE: &str = r"self.matches('^[^/]*//[^/]*@') || self.matches('^https?://([A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?([.][A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?)*|\\[[0-9A-Fa-f:.]+\\])(:[0-9]{1,5})?(/[A-Za-z0-9._~%/-]*)?$')";

/// A Secret holding a user name and a password.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuthSecretRef {
    /// Name of the Secret, in the MeshLogging's namespace.
    #[schemars(length(min = 1, max = 253), pattern(K8S_NAME_PATTERN))]
    pub name: String,
    /// Key of the user name. Default `username`.
    #[serde(default = "default_username_key")]
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY_PATTERN))]
    pub username_key: String,
    /// Key of the password. Default `password`.
    #[serde(default = "default_password_key")]
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY_PATTERN))]
    pub password_key: String,
}

fn default_username_key() -> String {
    "username".into()
}
fn default_password_key() -> String {
    "password".into()
}

/// One key of a Secret.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeySelector {
    /// Name of the Secret, in the MeshLogging's namespace.
    #[schemars(length(min = 1, max = 253), pattern(K8S_NAME_PATTERN))]
    pub name: String,
    /// Key in the Secret. Default `ca.crt`.
    #[serde(default = "default_ca_key")]
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY_PATTERN))]
    pub key: String,
}

fn default_ca_key() -> String {
    "ca.crt".into()
}

/// Kibana.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KibanaSpec {
    /// Deploy Kibana. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Number of Kibana replicas. Default 1.
    #[serde(default = "default_one")]
    #[schemars(range(min = 0, max = 100))]
    pub replicas: i32,
    /// CPU and memory of each replica. Default: requests 500m / 1Gi, limits 1 CPU / 2Gi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Container image. Default `docker.elastic.co/kibana/kibana:<version>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// An Ingress for Kibana; none when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<KibanaIngress>,
}

impl KibanaSpec {
    /// The default: one Kibana replica, no ingress.
    pub fn recommended() -> Self {
        Self {
            enabled: true,
            replicas: 1,
            resources: None,
            image: None,
            ingress: None,
        }
    }
}

/// An Ingress in front of Kibana.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KibanaIngress {
    /// IngressClass, for example `nginx`; the cluster's default class when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253), pattern(K8S_NAME_PATTERN))]
    pub class_name: Option<String>,
    /// Host name Kibana is served on, for example `kibana.example.com`.
    #[schemars(pattern(
        r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
    ))]
    pub host: String,
    /// Secret with the TLS certificate for the host; plain HTTP at the ingress when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253), pattern(K8S_NAME_PATTERN))]
    pub tls_secret_name: Option<String>,
    /// Extra annotations of the Ingress (for example for cert-manager). Keys are
    /// Kubernetes qualified names (`[prefix/]name`). The operator may restrict the keys
    /// (`--allowed-ingress-annotation`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "super::schema::annotations_map")]
    #[x_kube(validation = kube::core::Rule::new(
        r"self.all(k, k.size() <= 317 && k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))"
    ).message("annotation keys must be Kubernetes qualified names: an optional DNS prefix (at most 253 characters) and '/', then at most 63 letters, digits, '-', '_' and '.'"))]
    pub annotations: BTreeMap<String, String>,
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
}

impl IndexSpec {
    /// The source recipe's index: `mcp-mesh-logs`, 3 shards, 1 replica, refresh every 5s.
    pub fn recommended() -> Self {
        Self {
            name: default_index_name(),
            shards: default_shards(),
            replicas: 1,
            refresh_interval: default_refresh(),
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
fn default_one() -> i32 {
    1
}
fn default_true() -> bool {
    true
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

/// Kibana dashboards.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DashboardsSpec {
    /// Load the data view and the log dashboards into Kibana (not implemented yet; accepted
    /// and kept for compatibility). Default true.
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
