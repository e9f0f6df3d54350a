//! Every name the operator derives from a MeshLogging, in one place so the renderer, the
//! controller (Secrets, certificates, cleanup), Elasticsearch sync and the tests agree:
//! Kubernetes children, ports, Secret keys, certificate DNS names, Elasticsearch objects
//! and users, and the keys of snapshot repositories' credentials. Pure; imports nothing from
//! the steps that use it (validate, render, elastic, controller).
//!
//! For a MeshLogging `<n>` in namespace `<ns>` with index `<i>`:
//!
//! ```text
//! Elasticsearch  StatefulSet <n>-es, Services <n>-es-nodes (headless) and <n>-es-http,
//!                PodDisruptionBudget <n>-es, ConfigMap <n>-es-config
//! Secrets        <n>-es-elastic-user, <n>-es-operator-user, <n>-es-file-realm, <n>-ca, <n>-es-http-certs,
//!                <n>-es-transport-certs, <n>-kibana-user, <n>-collector-user,
//!                <n>-kibana-encryption-keys, <n>-kibana-dashboards-user
//! Kibana         Deployment, Service and Ingress <n>-kibana, ConfigMap <n>-kibana-config
//! Collector      DaemonSet, ServiceAccount and ConfigMap <n>-collector,
//!                ClusterRoleBinding meshlogging-collector.<ns>.<n>
//! In Elasticsearch  ILM policy and index template <i>, component templates <i>-settings and
//!                <i>-mappings, write alias <i> over <i>-000001, dead letters <i>-deadletter,
//!                role and user <i>-collector, Kibana user kibana_system (managed) or
//!                <i>-kibana (external), role and user <i>-kibana-dashboards (the
//!                operator's Kibana identity, when dashboards are enabled)
//! In Kibana      saved objects meshlogging.<ns>.<n>.<object> (see kibana_object_id)
//! ```

use crate::api::{RepositoryType, SnapshotRepository};
use crate::endpoint::Endpoint;

/// Port of the Elasticsearch REST API (HTTPS).
pub const ES_HTTP_PORT: i32 = 9200;
/// Port of the Elasticsearch transport protocol (node to node, TLS).
pub const ES_TRANSPORT_PORT: i32 = 9300;
/// Port of Elasticsearch's readiness service (`readiness.port`, ES 8.2+): open only while
/// the node is part of a cluster with an elected master. Never exposed by a Service.
pub const ES_READINESS_PORT: i32 = 8080;
/// Port of Kibana (plain HTTP inside the cluster; TLS ends at the Ingress).
pub const KIBANA_PORT: i32 = 5601;
/// Default name of the ClusterRole the collector is bound to (shipped in `manifests/`).
pub const DEFAULT_COLLECTOR_CLUSTER_ROLE: &str = "meshlogging-collector";

/// Key of the `elastic` user's password in [`es_elastic_user_secret`].
pub const ELASTIC_PASSWORD_KEY: &str = "elastic";
/// The built-in superuser of Elasticsearch, whose password `<n>-es-elastic-user` holds.
pub const ELASTIC_USER: &str = "elastic";
/// Keys of the file realm in [`es_file_realm_secret`] (the files `users` and `users_roles`).
pub const FILE_REALM_USERS_KEY: &str = "users";
/// See [`FILE_REALM_USERS_KEY`].
pub const FILE_REALM_USERS_ROLES_KEY: &str = "users_roles";
/// CA certificate key in the CA and certificate Secrets.
pub const CA_CERT_KEY: &str = "ca.crt";
/// CA private key in [`ca_secret`].
pub const CA_KEY_KEY: &str = "ca.key";
/// Certificate key in the HTTP and transport certificate Secrets.
pub const TLS_CERT_KEY: &str = "tls.crt";
/// Private key in the HTTP and transport certificate Secrets.
pub const TLS_KEY_KEY: &str = "tls.key";
/// Password key in [`kibana_user_secret`] and [`collector_user_secret`].
pub const PASSWORD_KEY: &str = "password";
/// Keys of [`kibana_encryption_keys_secret`]: each a random string of at least 32
/// characters, the same for every Kibana replica (sessions, saved objects and reports
/// survive a restart and work across replicas).
pub const KIBANA_ENCRYPTION_KEYS: [&str; 3] = [
    "xpack.security.encryptionKey",
    "xpack.encryptedSavedObjects.encryptionKey",
    "xpack.reporting.encryptionKey",
];

/// Longest name a Kubernetes object may have (DNS-1123 subdomain).
const MAX_NAME: usize = 253;

/// Kubernetes object names of the form `<n><suffix>`: one row per name.
macro_rules! suffixed_names {
    ($($(#[$doc:meta])* $fn:ident => $suffix:literal;)*) => {
        $(
            $(#[$doc])*
            pub fn $fn(name: &str) -> String {
                format!(concat!("{}", $suffix), name)
            }
        )*
    };
}

suffixed_names! {
    /// Elasticsearch StatefulSet `<n>-es`; its pods are `<n>-es-0`, `<n>-es-1`, ...
    es_statefulset => "-es";
    /// Headless Service `<n>-es-nodes`: discovery and the pods' DNS names.
    es_nodes_service => "-es-nodes";
    /// HTTP Service `<n>-es-http` (port 9200, HTTPS).
    es_http_service => "-es-http";
    /// PodDisruptionBudget `<n>-es` (the StatefulSet's name).
    es_pdb => "-es";
    /// ConfigMap `<n>-es-config` holding `elasticsearch.yml`.
    es_config_map => "-es-config";
    /// Secret `<n>-es-elastic-user`: key `elastic`, the `elastic` user's password.
    es_elastic_user_secret => "-es-elastic-user";
    /// Secret `<n>-es-file-realm`: keys `users` and `users_roles`, the file realm holding
    /// the operator's own superuser [`OPERATOR_USER`].
    es_file_realm_secret => "-es-file-realm";
    /// Secret `<n>-es-operator-user`: key `password` of [`OPERATOR_USER`], the file-realm
    /// superuser the operator logs in as. Reserved users such as `elastic` are never looked
    /// up in the file realm, so the operator has a user of its own, which works whatever the
    /// native realm holds (for example on retained data), as ECK does.
    es_operator_user_secret => "-es-operator-user";
    /// Secret `<n>-ca`: keys `ca.crt`, `ca.key`, the operator's CA for this stack.
    ca_secret => "-ca";
    /// Secret `<n>-es-http-certs`: keys `ca.crt`, `tls.crt`, `tls.key`.
    es_http_certs_secret => "-es-http-certs";
    /// Secret `<n>-es-transport-certs`: keys `ca.crt`, `tls.crt`, `tls.key`.
    es_transport_certs_secret => "-es-transport-certs";
    /// Secret `<n>-kibana-user`: key `password` of the user Kibana connects as.
    kibana_user_secret => "-kibana-user";
    /// Secret `<n>-kibana-encryption-keys`: the keys of [`KIBANA_ENCRYPTION_KEYS`]. Optional
    /// for the pods (Kibana then generates per-process keys, which only works with one
    /// replica).
    kibana_encryption_keys_secret => "-kibana-encryption-keys";
    /// Secret `<n>-collector-user`: key `password` of the collector user `<index>-collector`.
    collector_user_secret => "-collector-user";
    /// Secret `<n>-kibana-dashboards-user`: key `password` of the user the operator loads
    /// the dashboards into Kibana as (`<index>-kibana-dashboards`).
    kibana_dashboards_user_secret => "-kibana-dashboards-user";
    /// Kibana Deployment, Service and Ingress `<n>-kibana`.
    kibana => "-kibana";
    /// ConfigMap `<n>-kibana-config` holding `kibana.yml`.
    kibana_config_map => "-kibana-config";
    /// Collector DaemonSet, ServiceAccount and ConfigMap `<n>-collector`.
    collector => "-collector";
}

/// Name of Elasticsearch pod (and node) `ordinal`.
pub fn es_pod(name: &str, ordinal: i32) -> String {
    format!("{}-{ordinal}", es_statefulset(name))
}

/// The file-realm user the operator logs in as.
pub const OPERATOR_USER: &str = "meshlogging-operator";

/// ClusterRoleBinding `meshlogging-collector.<ns>.<n>`. The dots keep it unambiguous: a
/// namespace is a DNS label and has none, so `team`/`prod-logs` and `team-prod`/`logs` get
/// different bindings (`-` as the separator gave both `meshlogging-collector-team-prod-logs`).
/// A namespace (63) and a MeshLogging name keep it far below 253 characters; longer input
/// would be cut and suffixed with a hash of the full name, so it stays unique and stable.
pub fn collector_cluster_role_binding(name: &str, namespace: &str) -> String {
    let full = format!("meshlogging-collector.{namespace}.{name}");
    if full.len() <= MAX_NAME {
        return full;
    }
    let hash = format!("{:016x}", crate::fingerprint::fnv1a64(full.as_bytes()));
    // Names are ASCII (DNS-1123), so cutting at a byte index is cutting at a char.
    let keep = MAX_NAME - hash.len() - 1;
    let prefix = full[..keep].trim_end_matches(['-', '.']);
    format!("{prefix}-{hash}")
}

/// The name the collector's ClusterRoleBinding had before it became unambiguous
/// (`meshlogging-collector-<ns>-<n>`): cleanup removes it when it is this resource's.
pub fn legacy_collector_cluster_role_binding(name: &str, namespace: &str) -> String {
    format!("meshlogging-collector-{namespace}-{name}")
}

/// Directory on each node where the collector keeps its read positions and its buffer,
/// one per MeshLogging *object* (its uid), so two stacks never share state and a later
/// resource of the same name never replays an old one's buffer (possibly to a new URL).
/// The uid is the API server's (a UUID); anything but `[A-Za-z0-9-]` is replaced so it
/// stays one path segment.
pub fn collector_state_dir(uid: &str) -> String {
    let segment: String = uid
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("/var/lib/meshlogging/{segment}")
}

/// The URL of the managed cluster's REST API: `https://<n>-es-http.<ns>.svc:9200`.
pub fn es_http_url(name: &str, namespace: &str) -> String {
    format!(
        "https://{}.{namespace}.svc:{ES_HTTP_PORT}",
        es_http_service(name)
    )
}

/// The managed cluster's REST API as an [`Endpoint`]: the same place as [`es_http_url`].
pub fn es_http_endpoint(name: &str, namespace: &str) -> Endpoint {
    Endpoint {
        tls: true,
        host: format!("{}.{namespace}.svc", es_http_service(name)),
        port: ES_HTTP_PORT as u16,
        path: String::new(),
    }
}

/// DNS names the HTTP certificate must cover: the HTTP Service by every name a client in
/// the cluster may use (short, namespaced, `.svc`, fully qualified with `cluster.local`).
pub fn es_http_dns_names(name: &str, namespace: &str) -> Vec<String> {
    service_dns_names(&es_http_service(name), namespace)
}

/// DNS names the transport certificate must cover: the headless Service and every pod
/// behind it (`<pod>.<n>-es-nodes.<ns>.svc`), for `replicas` nodes. Transport TLS uses
/// `verification_mode: certificate`, so these matter for tools, not for node-to-node trust.
pub fn es_transport_dns_names(name: &str, namespace: &str, replicas: i32) -> Vec<String> {
    let headless = es_nodes_service(name);
    let mut names = service_dns_names(&headless, namespace);
    for i in 0..replicas.max(0) {
        let pod = es_pod(name, i);
        names.push(format!("{pod}.{headless}.{namespace}.svc"));
        names.push(format!("{pod}.{headless}.{namespace}.svc.cluster.local"));
    }
    names
}

fn service_dns_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_string(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

/// The URL of Kibana inside the cluster: `http://<n>-kibana.<ns>.svc:5601` (plain HTTP;
/// TLS ends at the Ingress).
pub fn kibana_url(name: &str, namespace: &str) -> String {
    format!("http://{}.{namespace}.svc:{KIBANA_PORT}", kibana(name))
}

/// The built-in user Kibana connects as in managed mode.
pub const KIBANA_SYSTEM_USER: &str = "kibana_system";
/// The built-in role the user Kibana connects as to an external cluster gets.
pub const KIBANA_SYSTEM_ROLE: &str = "kibana_system";

/// Elasticsearch object names derived from the index name (the write alias), shared by the
/// desired Elasticsearch configuration and the workload rendering (the collector writes to
/// the alias as the collector user).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// The write alias (= `index.name`); also the ILM policy and the index template.
    pub alias: String,
}

/// Elasticsearch object names of the form `<alias><suffix>`: one row per name.
macro_rules! alias_names {
    ($($(#[$doc:meta])* $fn:ident => $suffix:literal;)*) => {
        $(
            $(#[$doc])*
            pub fn $fn(&self) -> String {
                format!(concat!("{}", $suffix), self.alias)
            }
        )*
    };
}

impl Names {
    /// Names for index `alias`.
    pub fn new(alias: &str) -> Self {
        Self {
            alias: alias.to_string(),
        }
    }

    alias_names! {
        /// The ILM policy.
        ilm_policy => "";
        /// The settings component template.
        settings_template => "-settings";
        /// The mappings component template.
        mappings_template => "-mappings";
        /// The composable index template.
        index_template => "";
        /// The first backing index.
        bootstrap_index => "-000001";
        /// Pattern of the backing indices.
        index_pattern => "-*";
        /// Role and user of the collector.
        collector_user => "-collector";
        /// The dead-letter index: where the collector writes the records Elasticsearch
        /// refused (Fluentd), each kept whole as a JSON string under `record`, with `tag` and
        /// `timestamp`.
        deadletter_index => "-deadletter";
        /// The user Kibana connects as to an external cluster (the built-in `kibana_system`
        /// of a shared cluster is not the operator's to change).
        external_kibana_user => "-kibana";
        /// Role and user the operator signs in to Kibana as to keep the dashboards: only
        /// the Kibana feature privileges the saved objects need.
        dashboards_user => "-kibana-dashboards";
    }
}

/// One key of a snapshot repository's credentials Secret, which becomes the keystore setting
/// `<type>.client.<client>.<key>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CredentialKey {
    /// The Secret key (and the last part of the keystore setting).
    pub key: &'static str,
    /// The repository cannot work without it (`session_token` is optional; Azure takes
    /// either `key` or `sas_token`), so its absence is reported.
    pub required: bool,
}

const fn required(key: &'static str) -> CredentialKey {
    CredentialKey {
        key,
        required: true,
    }
}

const fn optional(key: &'static str) -> CredentialKey {
    CredentialKey {
        key,
        required: false,
    }
}

/// The keys of a repository's credentials Secret that Elasticsearch reads from the keystore.
pub fn repository_credential_keys(kind: RepositoryType) -> &'static [CredentialKey] {
    const S3: &[CredentialKey] = &[
        required("access_key"),
        required("secret_key"),
        optional("session_token"),
    ];
    const GCS: &[CredentialKey] = &[required("credentials_file")];
    const AZURE: &[CredentialKey] = &[required("account"), optional("key"), optional("sas_token")];
    match kind {
        RepositoryType::S3 => S3,
        RepositoryType::Gcs => GCS,
        RepositoryType::Azure => AZURE,
        RepositoryType::Fs | RepositoryType::Url => &[],
    }
}

/// Prefix of the keystore settings a repository's credentials Secret keys become:
/// `<type>.client.<client>.` with the client from `settings.client` (default `default`).
pub fn repository_keystore_prefix(r: &SnapshotRepository) -> String {
    let client = r
        .settings
        .get("client")
        .map(String::as_str)
        .unwrap_or("default");
    format!("{}.client.{client}.", r.kind.as_str())
}

/// Kibana saved objects: every id the operator gives one is
/// `meshlogging.<ns>.<n>.<object>`. Namespaces and MeshLogging names hold no dots, so two
/// resources never share an id (`team`/`prod-logs` and `team-prod`/`logs` differ), and the id
/// is the same on every pass and for every recreation of the resource: an import overwrites
/// the operator's own objects and never piles up copies. Dots and dashes are safe in Kibana
/// URLs (`/app/dashboards#/view/<id>`) and API paths.
pub fn kibana_object_id(name: &str, namespace: &str, object: &str) -> String {
    format!("meshlogging.{namespace}.{name}.{object}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_a_stack() {
        assert_eq!(es_statefulset("logs"), "logs-es");
        assert_eq!(es_pod("logs", 2), "logs-es-2");
        assert_eq!(es_nodes_service("logs"), "logs-es-nodes");
        assert_eq!(
            es_http_url("logs", "ns"),
            "https://logs-es-http.ns.svc:9200"
        );
        assert_eq!(
            Some(es_http_endpoint("logs", "ns")),
            Endpoint::parse(&es_http_url("logs", "ns"))
        );
        assert_eq!(
            collector_cluster_role_binding("logs", "ns"),
            "meshlogging-collector.ns.logs"
        );
    }

    #[test]
    fn bindings_of_lookalike_namespaces_and_names_differ() {
        assert_ne!(
            collector_cluster_role_binding("prod-logs", "team"),
            collector_cluster_role_binding("logs", "team-prod")
        );
        assert_eq!(
            legacy_collector_cluster_role_binding("prod-logs", "team"),
            legacy_collector_cluster_role_binding("logs", "team-prod")
        );
    }

    /// The issue's repro: the buffer was `/var/lib/meshlogging/<ns>_<name>`, so a new
    /// resource of the same name replayed the old one's buffer.
    #[test]
    fn state_dir_is_keyed_by_uid() {
        let a = collector_state_dir("0b7c6f1e-1111-4a4a-9b9b-000000000001");
        let b = collector_state_dir("0b7c6f1e-1111-4a4a-9b9b-000000000002");
        assert_eq!(
            a,
            "/var/lib/meshlogging/0b7c6f1e-1111-4a4a-9b9b-000000000001"
        );
        assert_ne!(a, b);
        assert_eq!(
            collector_state_dir("../../etc"),
            "/var/lib/meshlogging/______etc"
        );
    }

    #[test]
    fn long_binding_names_are_cut_and_hashed() {
        let name = "a".repeat(253);
        let b1 = collector_cluster_role_binding(&name, "ns");
        let b2 = collector_cluster_role_binding(&name, "ns2");
        assert_eq!(b1.len(), 253);
        assert_ne!(b1, b2);
        assert_eq!(b1, collector_cluster_role_binding(&name, "ns"));
        assert!(b1.chars().last().is_some_and(|c| c.is_ascii_alphanumeric()));
    }

    /// Missing-credentials reports ask only for the keys a repository cannot work without.
    #[test]
    fn required_credential_keys() {
        let required = |kind| {
            repository_credential_keys(kind)
                .iter()
                .filter(|k| k.required)
                .map(|k| k.key)
                .collect::<Vec<_>>()
        };
        assert_eq!(required(RepositoryType::S3), ["access_key", "secret_key"]);
        assert_eq!(required(RepositoryType::Gcs), ["credentials_file"]);
        assert_eq!(required(RepositoryType::Azure), ["account"]);
        assert!(repository_credential_keys(RepositoryType::Fs).is_empty());
        assert_eq!(repository_credential_keys(RepositoryType::S3).len(), 3);
    }

    #[test]
    fn kibana_ids_of_lookalike_resources_differ() {
        assert_eq!(
            kibana_object_id("logs", "ns", "dashboard-logs"),
            "meshlogging.ns.logs.dashboard-logs"
        );
        assert_ne!(
            kibana_object_id("prod-logs", "team", "tag"),
            kibana_object_id("logs", "team-prod", "tag")
        );
    }

    #[test]
    fn certificate_names_cover_the_services() {
        let http = es_http_dns_names("logs", "ns");
        assert!(http.contains(&"logs-es-http.ns.svc".to_string()));
        let transport = es_transport_dns_names("logs", "ns", 2);
        assert!(transport.contains(&"logs-es-1.logs-es-nodes.ns.svc".to_string()));
        assert!(!transport.iter().any(|n| n.starts_with("logs-es-2.")));
    }
}
