//! The managed Elasticsearch cluster: `elasticsearch.yml`, the headless and HTTP Services,
//! the PodDisruptionBudget and the StatefulSet. Pure. Rendered in managed mode only.
//!
//! Shapes follow ECK where they apply:
//! - the keystore is built by an init container from the mounted secure settings (one
//!   `add-file` per file of a projected Secret volume) and handed to the node in an
//!   `emptyDir`; the `elastic` user's bootstrap password is added from its Secret;
//! - the file realm (`users`, `users_roles`) comes from a Secret and is ordered before the
//!   native realm, so the operator's own login works even on retained data;
//! - readiness is Elasticsearch's own readiness TCP port (8.2+, open only while the node is
//!   in a cluster with an elected master): no credentials in the probe, and a node that
//!   answers HTTP but has not joined is not ready. Before 8.2, a TCP check on 9200;
//! - no privileged `sysctl` init container: `node.store.allow_mmap: false` instead of
//!   raising `vm.max_map_count` (users who tune their nodes may set it back to `true`).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec, StatefulSetUpdateStrategy};
use k8s_openapi::api::core::v1::{
    Affinity, ConfigMap, Container, ContainerPort, EmptyDirVolumeSource, ExecAction,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PodAffinityTerm, PodAntiAffinity,
    PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ProjectedVolumeSource, SecretProjection,
    Service, ServicePort, ServiceSpec, TCPSocketAction, Volume, VolumeMount, VolumeProjection,
    VolumeResourceRequirements, WeightedPodAffinityTerm,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

use super::labels::{self, App};
use super::{
    Child, RenderContext, config_map, config_map_volume, env, env_field, flat_yaml, mount,
    restricted_container, runtime_default_seccomp, secret_volume,
};
use crate::api::AntiAffinity;
use crate::naming::{self as names, ES_HTTP_PORT, ES_READINESS_PORT, ES_TRANSPORT_PORT};
use crate::validate::{KeystoreSource, ManagedEs, Validated};

/// Elasticsearch's home in the official image.
const HOME: &str = "/usr/share/elasticsearch";
/// Where the secure settings are mounted in the keystore init container.
const SECURE_SETTINGS_DIR: &str = "/mnt/elastic-internal/secure-settings";
/// Where the `elastic` user's password is mounted in the keystore init container.
const ELASTIC_USER_DIR: &str = "/mnt/elastic-internal/elastic-user";
/// Where the keystore init container leaves the keystore.
const KEYSTORE_DIR: &str = "/mnt/elastic-internal/keystore";
/// The bootstrap-only setting naming the first master-eligible nodes.
const INITIAL_MASTER_NODES: &str = "cluster.initial_master_nodes";
/// The image's user and group (Elasticsearch refuses to run as root).
const ES_UID: i64 = 1000;

/// Renders the managed cluster's objects.
pub fn render(v: &Validated, m: &ManagedEs, ctx: &RenderContext) -> Vec<Child> {
    vec![
        Child::ConfigMap(elasticsearch_yml(v, m, ctx)),
        Child::Service(headless_service(v)),
        Child::Service(http_service(v)),
        Child::PodDisruptionBudget(pdb(v)),
        Child::StatefulSet(statefulset(v, m, ctx)),
    ]
}

fn config_path(file: &str) -> String {
    format!("{HOME}/config/{file}")
}

/// The `elasticsearch.yml` settings, operator-owned ones last so nothing overrides them.
pub fn settings(v: &Validated, m: &ManagedEs, ctx: &RenderContext) -> BTreeMap<String, Value> {
    let mut s = BTreeMap::new();
    // A default the user may override (`true` on nodes with a raised vm.max_map_count).
    s.insert("node.store.allow_mmap".to_string(), json!(false));
    for (key, value) in &m.config {
        s.insert(key.clone(), json!(value));
    }
    let mut set = |k: &str, v: Value| {
        s.insert(k.to_string(), v);
    };
    set("cluster.name", json!(v.name));
    set("node.name", json!("${POD_NAME}"));
    set("network.host", json!("0.0.0.0"));
    set("network.publish_host", json!("${POD_IP}"));
    set(
        "discovery.seed_hosts",
        json!([format!(
            "{}.{}.svc",
            names::es_nodes_service(&v.name),
            v.namespace
        )]),
    );
    if !ctx.es_bootstrapped {
        let masters: Vec<String> = (0..m.replicas).map(|i| names::es_pod(&v.name, i)).collect();
        set(INITIAL_MASTER_NODES, json!(masters));
    }
    if !m.repo_paths.is_empty() {
        set("path.repo", json!(m.repo_paths));
    }
    if v.version.has_readiness_port() {
        set("readiness.port", json!(ES_READINESS_PORT));
    }
    set("xpack.security.enabled", json!(true));
    set("xpack.security.authc.realms.file.file1.order", json!(-100));
    set(
        "xpack.security.authc.realms.native.native1.order",
        json!(-99),
    );
    for (layer, dir) in [("http", "http-certs"), ("transport", "transport-certs")] {
        let p = |file: &str| config_path(&format!("{dir}/{file}"));
        set(&format!("xpack.security.{layer}.ssl.enabled"), json!(true));
        set(
            &format!("xpack.security.{layer}.ssl.certificate"),
            json!(p(names::TLS_CERT_KEY)),
        );
        set(
            &format!("xpack.security.{layer}.ssl.key"),
            json!(p(names::TLS_KEY_KEY)),
        );
        set(
            &format!("xpack.security.{layer}.ssl.certificate_authorities"),
            json!([p(names::CA_CERT_KEY)]),
        );
    }
    // Nodes trust each other through the operator's CA; host names are not checked because
    // pod IPs change and node certificates are shared.
    set(
        "xpack.security.transport.ssl.verification_mode",
        json!("certificate"),
    );
    s
}

/// The settings whose change needs a restart of the nodes: all of them but
/// `cluster.initial_master_nodes`, which is dropped once the cluster formed (that alone
/// must not restart the nodes).
fn restart_settings(v: &Validated, m: &ManagedEs, ctx: &RenderContext) -> BTreeMap<String, Value> {
    let mut s = settings(v, m, ctx);
    s.remove(INITIAL_MASTER_NODES);
    s
}

fn elasticsearch_yml(v: &Validated, m: &ManagedEs, ctx: &RenderContext) -> ConfigMap {
    let header = "elasticsearch.yml of MeshLogging {ns}/{n}, managed by meshlogging-operator: edits are overwritten.\n\
                  fs snapshot repositories need their shared volume mounted at their path.repo location.";
    let header = header.replace("{ns}", &v.namespace).replace("{n}", &v.name);
    let name = names::es_config_map(&v.name);
    let file = (
        "elasticsearch.yml",
        flat_yaml(&header, &settings(v, m, ctx)),
    );
    config_map(v, name, App::Elasticsearch, file)
}

fn selector(v: &Validated) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels::selector(App::Elasticsearch, &v.name)),
        ..LabelSelector::default()
    }
}

fn port(name: &str, number: i32) -> ServicePort {
    ServicePort {
        name: Some(name.to_string()),
        port: number,
        target_port: Some(IntOrString::Int(number)),
        ..ServicePort::default()
    }
}

fn headless_service(v: &Validated) -> Service {
    Service {
        metadata: labels::namespaced(v, names::es_nodes_service(&v.name), App::Elasticsearch),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_string()),
            // Discovery must find nodes before they are ready: they become ready by joining.
            publish_not_ready_addresses: Some(true),
            selector: Some(labels::selector(App::Elasticsearch, &v.name)),
            ports: Some(vec![
                port("https", ES_HTTP_PORT),
                port("transport", ES_TRANSPORT_PORT),
            ]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn http_service(v: &Validated) -> Service {
    Service {
        metadata: labels::namespaced(v, names::es_http_service(&v.name), App::Elasticsearch),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_string()),
            selector: Some(labels::selector(App::Elasticsearch, &v.name)),
            ports: Some(vec![port("https", ES_HTTP_PORT)]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn pdb(v: &Validated) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: labels::namespaced(v, names::es_pdb(&v.name), App::Elasticsearch),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(selector(v)),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

/// The name of the file the keystore's password is left in, beside the keystore (only
/// when there are secure settings: the node reads it through `KEYSTORE_PASSWORD_FILE`).
pub const KEYSTORE_PASSWORD_FILE: &str = "keystore-password";
/// The sidecar that rebuilds the keystore when the mounted secure settings change.
pub const KEYSTORE_WATCHER: &str = "keystore-watcher";
/// Seconds between the sidecar's looks at the mounted secure settings.
const KEYSTORE_WATCH_SECONDS: u32 = 5;

/// The keystore script, one for the init container (`init`: build it once) and the
/// sidecar (`watch`: rebuild it whenever the mounted secure settings change), so the two
/// cannot drift; `functions` only defines the functions (tests).
///
/// The keystore holds the `elastic` bootstrap password and one entry per mounted
/// secure-setting file (file name = setting name; absent optional keys have no file). With
/// secure settings it is password-protected, the password being the `digest` of the
/// mounted directory ([`crate::keystore::KeystoreFiles::digest`]), left beside the keystore
/// for the node (`KEYSTORE_PASSWORD_FILE`, mode 600). The sidecar copies a rebuilt
/// keystore over the old one in place (same inode: the node's subPath mount sees it), then
/// writes the password; `POST _nodes/reload_secure_settings` with the new digest then
/// succeeds on that node, and only there. It logs one line per build, never a value.
pub fn keystore_script() -> String {
    format!(
        r#"#!/usr/bin/env bash
set -euo pipefail
export LC_ALL=C
tool={HOME}/bin/elasticsearch-keystore
secure={SECURE_SETTINGS_DIR}
elastic={ELASTIC_USER_DIR}/{elastic}
target={KEYSTORE_DIR}
# SHA-256 of the files of directory $1: sorted names, each "name NUL content NUL".
digest() {{
  local file
  for file in "$1"/*; do
    [[ -f "$file" ]] || continue
    printf '%s\0' "${{file##*/}}"
    cat "$file"
    printf '\0'
  done | sha256sum | cut -d' ' -f1
}}
# Builds the keystore into $target/.build, protected by password $1 (none when empty);
# prints how many secure settings it holds.
build() {{
  local password=$1 dir=$target/.build file out count=0
  local args=(bootstrap.password "$elastic")
  rm -rf "$dir" && mkdir -p "$dir" || return 1
  for file in "$secure"/*; do
    [[ -f "$file" ]] || continue
    args+=("${{file##*/}}" "$file")
    count=$((count + 1))
  done
  if [[ -n "$password" ]]; then
    out=$(printf '%s\n%s\n' "$password" "$password" | ES_PATH_CONF=$dir "$tool" create -p 2>&1) || {{ echo "$out" >&2; return 1; }}
  else
    out=$(ES_PATH_CONF=$dir "$tool" create 2>&1) || {{ echo "$out" >&2; return 1; }}
  fi
  out=$(printf '%s\n' "$password" | ES_PATH_CONF=$dir "$tool" add-file "${{args[@]}}" 2>&1) || {{ echo "$out" >&2; return 1; }}
  echo "$count"
}}
# Puts the built keystore in place (over the old one, same inode), then its password.
install() {{
  cat "$target/.build/elasticsearch.keystore" > "$target/elasticsearch.keystore"
  rm -rf "$target/.build"
  if [[ -n "$1" ]]; then
    : > "$target/.password"
    chmod 600 "$target/.password"
    printf '%s' "$1" > "$target/.password"
    mv -f "$target/.password" "$target/{password_file}"
  fi
}}
case "${{1:-init}}" in
  functions) ;;
  init)
    password=
    [[ -d "$secure" ]] && password=$(digest "$secure")
    count=$(build "$password")
    install "$password"
    echo "keystore built with $count secure settings"
    ;;
  watch)
    last=$(cat "$target/{password_file}" 2>/dev/null || true)
    while sleep "${{KEYSTORE_WATCH_SECONDS:-{interval}}}"; do
      now=$(digest "$secure")
      [[ "$now" == "$last" ]] && continue
      if ! count=$(build "$now"); then
        echo "keystore rebuild failed; trying again"
        continue
      fi
      # Changed again while it was built: the next round builds the newer one.
      [[ "$(digest "$secure")" == "$now" ]] || continue
      install "$now"
      last=$now
      echo "keystore rebuilt in place with $count secure settings"
    done
    ;;
esac
"#,
        elastic = names::ELASTIC_PASSWORD_KEY,
        password_file = KEYSTORE_PASSWORD_FILE,
        interval = KEYSTORE_WATCH_SECONDS,
    )
}

/// The keystore script run in `mode` (`init` or `watch`).
fn keystore_command(mode: &str) -> Vec<String> {
    vec![
        "bash".to_string(),
        "-c".to_string(),
        keystore_script(),
        "keystore".to_string(),
        mode.to_string(),
    ]
}

fn secure_settings_volume(sources: &[KeystoreSource]) -> Option<Volume> {
    if sources.is_empty() {
        return None;
    }
    let projections = sources
        .iter()
        .map(|s| VolumeProjection {
            secret: Some(SecretProjection {
                name: s.secret.clone(),
                items: s.items.as_ref().map(|items| {
                    items
                        .iter()
                        .map(|(key, setting)| k8s_openapi::api::core::v1::KeyToPath {
                            key: key.clone(),
                            path: setting.clone(),
                            ..Default::default()
                        })
                        .collect()
                }),
                optional: s.optional.then_some(true),
            }),
            ..VolumeProjection::default()
        })
        .collect();
    Some(Volume {
        name: "secure-settings".to_string(),
        projected: Some(ProjectedVolumeSource {
            sources: Some(projections),
            ..ProjectedVolumeSource::default()
        }),
        ..Volume::default()
    })
}

/// The sidecar rebuilding the keystore in place when the mounted secure settings change
/// (a projected Secret volume mounted as a directory is refreshed by the kubelet). The
/// keystore tool is a small JVM (`CLI_JAVA_OPTS`: the 8.x tools' variable; 64 MiB heap, as
/// their own default) started only when something changed: a small request, a limit it
/// fits in (about 90 MiB resident per build, measured with the 8.19 tool).
fn keystore_watcher(m: &ManagedEs, mounts: Vec<VolumeMount>) -> Container {
    let quantity = |q: &str| k8s_openapi::apimachinery::pkg::api::resource::Quantity(q.into());
    Container {
        name: KEYSTORE_WATCHER.to_string(),
        image: Some(m.image.clone()),
        command: Some(keystore_command("watch")),
        env: Some(vec![env(
            "CLI_JAVA_OPTS",
            "-Xms4m -Xmx64m -XX:+UseSerialGC".to_string(),
        )]),
        resources: Some(k8s_openapi::api::core::v1::ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), quantity("10m")),
                ("memory".to_string(), quantity("64Mi")),
            ])),
            limits: Some(BTreeMap::from([("memory".to_string(), quantity("192Mi"))])),
            ..Default::default()
        }),
        security_context: Some(restricted_container(false)),
        volume_mounts: Some(mounts),
        ..Container::default()
    }
}

fn affinity(v: &Validated, kind: AntiAffinity) -> Affinity {
    let term = PodAffinityTerm {
        label_selector: Some(selector(v)),
        topology_key: "kubernetes.io/hostname".to_string(),
        ..PodAffinityTerm::default()
    };
    let anti = match kind {
        AntiAffinity::Hard => PodAntiAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![term]),
            ..PodAntiAffinity::default()
        },
        AntiAffinity::Soft => PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    pod_affinity_term: term,
                    weight: 100,
                },
            ]),
            ..PodAntiAffinity::default()
        },
    };
    Affinity {
        pod_anti_affinity: Some(anti),
        ..Affinity::default()
    }
}

fn readiness_probe(v: &Validated) -> Probe {
    let base = Probe {
        initial_delay_seconds: Some(10),
        period_seconds: Some(5),
        timeout_seconds: Some(5),
        failure_threshold: Some(3),
        ..Probe::default()
    };
    if v.version.has_readiness_port() {
        Probe {
            exec: Some(ExecAction {
                command: Some(vec![
                    "bash".to_string(),
                    "-c".to_string(),
                    format!("exec 3<>/dev/tcp/127.0.0.1/{ES_READINESS_PORT}"),
                ]),
            }),
            ..base
        }
    } else {
        Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::Int(ES_HTTP_PORT),
                ..TCPSocketAction::default()
            }),
            ..base
        }
    }
}

fn sub_path_mount(volume: &str, file: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        sub_path: Some(file.to_string()),
        ..mount(volume, &config_path(file), read_only)
    }
}

fn statefulset(v: &Validated, m: &ManagedEs, ctx: &RenderContext) -> StatefulSet {
    let n = &v.name;
    let elastic_item = [(names::ELASTIC_PASSWORD_KEY, names::ELASTIC_PASSWORD_KEY)];
    let mut volumes = vec![
        config_map_volume("elasticsearch-config", names::es_config_map(n)),
        secret_volume("file-realm", names::es_file_realm_secret(n), None),
        secret_volume("http-certs", names::es_http_certs_secret(n), None),
        secret_volume("transport-certs", names::es_transport_certs_secret(n), None),
        secret_volume(
            "elastic-user",
            names::es_elastic_user_secret(n),
            Some(&elastic_item),
        ),
        Volume {
            name: "keystore".to_string(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        },
    ];
    let mut keystore_mounts = vec![
        mount("elastic-user", ELASTIC_USER_DIR, true),
        mount("keystore", KEYSTORE_DIR, false),
    ];
    if let Some(secure) = secure_settings_volume(&m.keystore) {
        volumes.push(secure);
        keystore_mounts.push(mount("secure-settings", SECURE_SETTINGS_DIR, true));
    }

    let keystore_init = Container {
        name: "elastic-internal-init-keystore".to_string(),
        image: Some(m.image.clone()),
        command: Some(keystore_command("init")),
        // The keystore tool is a small JVM: the node's resources are plenty and add nothing
        // to the pod's footprint (init containers run before the main one).
        resources: Some(m.resources.clone()),
        security_context: Some(restricted_container(false)),
        volume_mounts: Some(keystore_mounts.clone()),
        ..Container::default()
    };
    let secure_settings = !m.keystore.is_empty();
    let watcher = secure_settings.then(|| keystore_watcher(m, keystore_mounts));

    let heap = format!("-Xms{h}m -Xmx{h}m", h = m.heap_mib);
    let elasticsearch = Container {
        name: "elasticsearch".to_string(),
        image: Some(m.image.clone()),
        env: Some(
            vec![
                env_field("POD_NAME", "metadata.name"),
                env_field("POD_IP", "status.podIP"),
                env("ES_JAVA_OPTS", heap),
            ]
            .into_iter()
            // The image's entrypoint reads the password file and hands it to the node on stdin.
            .chain(secure_settings.then(|| {
                env(
                    "KEYSTORE_PASSWORD_FILE",
                    format!("{KEYSTORE_DIR}/{KEYSTORE_PASSWORD_FILE}"),
                )
            }))
            .collect(),
        ),
        ports: Some(vec![
            ContainerPort {
                name: Some("https".to_string()),
                container_port: ES_HTTP_PORT,
                ..ContainerPort::default()
            },
            ContainerPort {
                name: Some("transport".to_string()),
                container_port: ES_TRANSPORT_PORT,
                ..ContainerPort::default()
            },
        ]),
        readiness_probe: Some(readiness_probe(v)),
        resources: Some(m.resources.clone()),
        security_context: Some(restricted_container(false)),
        volume_mounts: Some(
            vec![
                mount("data", &format!("{HOME}/data"), false),
                sub_path_mount("elasticsearch-config", "elasticsearch.yml", true),
                sub_path_mount("file-realm", names::FILE_REALM_USERS_KEY, true),
                sub_path_mount("file-realm", names::FILE_REALM_USERS_ROLES_KEY, true),
                sub_path_mount("keystore", "elasticsearch.keystore", false),
                mount("http-certs", &config_path("http-certs"), true),
                mount("transport-certs", &config_path("transport-certs"), true),
            ]
            .into_iter()
            .chain(secure_settings.then(|| mount("keystore", KEYSTORE_DIR, true)))
            .collect(),
        ),
        ..Container::default()
    };

    let claim = PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some("data".to_string()),
            labels: Some(labels::labels(App::Elasticsearch, n)),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_string()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_string(),
                    m.storage.size.clone(),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            storage_class_name: m.storage.class.clone(),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    };

    StatefulSet {
        metadata: labels::namespaced(v, names::es_statefulset(n), App::Elasticsearch),
        spec: Some(StatefulSetSpec {
            service_name: Some(names::es_nodes_service(n)),
            pod_management_policy: Some("Parallel".to_string()),
            replicas: Some(m.replicas),
            selector: selector(v),
            template: PodTemplateSpec {
                metadata: Some(labels::pod_template(
                    v,
                    App::Elasticsearch,
                    &ctx.pod_annotations(App::Elasticsearch, &restart_settings(v, m, ctx)),
                )),
                spec: Some(PodSpec {
                    affinity: Some(affinity(v, m.anti_affinity)),
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    init_containers: Some(vec![keystore_init]),
                    containers: std::iter::once(elasticsearch).chain(watcher).collect(),
                    security_context: Some(PodSecurityContext {
                        fs_group: Some(ES_UID),
                        run_as_user: Some(ES_UID),
                        run_as_non_root: Some(true),
                        seccomp_profile: Some(runtime_default_seccomp()),
                        ..PodSecurityContext::default()
                    }),
                    volumes: Some(volumes),
                    ..PodSpec::default()
                }),
            },
            volume_claim_templates: Some(vec![claim]),
            // The operator restarts the pods itself, one at a time, telling Elasticsearch
            // first (controller/rolling.rs): Kubernetes' own rolling update would not.
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("OnDelete".to_string()),
                rolling_update: None,
            }),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    }
}
