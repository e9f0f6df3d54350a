//! `spec.elasticsearch`: the managed cluster (nodes, resources, storage, settings, keystore)
//! or an external one (URL, credentials, CA).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::units::{K8S_NAME_PATTERN, SECRET_KEY_PATTERN};

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
    /// `size` can grow (each volume is expanded in place when its StorageClass allows
    /// expansion) but never shrink; `storageClassName` cannot change once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)"
).message("storageClassName cannot change once set: the volumes of the Elasticsearch nodes stay in their StorageClass").field_path(".storageClassName"))]
pub struct StorageSpec {
    /// Size of the volume, for example `100Gi`. It can grow (the volumes are expanded in
    /// place when the StorageClass has `allowVolumeExpansion: true`), never shrink.
    // `string(...)`: the field is int-or-string.
    #[x_kube(validation = kube::core::Rule::new(
        "!isQuantity(string(self)) || !isQuantity(string(oldSelf)) || quantity(string(self)).compareTo(quantity(string(oldSelf))) >= 0"
    ).message("storage.size cannot shrink: Kubernetes can expand a volume but never shrink one"))]
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
