//! The log collector: a Fluent Bit (default) or Fluentd DaemonSet with its configuration,
//! ServiceAccount and ClusterRoleBinding. Pure.
//!
//! ```text
//! /var/log/containers/*.log (CRI) ─► tail (+ read positions on the node)
//!   ─► JSON logs merged into the record, their `timestamp` becomes the event time
//!   ─► Kubernetes metadata (pod, namespace, labels) ─► spec.collector.fields
//!   ─► Elasticsearch: the write alias `<index>`, op `create`, user `<index>-collector`,
//!      TLS verified, buffered on the node's disk and retried forever while ES is away
//! ```
//!
//! Timestamps follow the index mapping (`timestamp`, a `date` in ISO 8601 or epoch millis):
//! a JSON log's own `timestamp` is parsed into the event time and removed from the record,
//! and the output writes the event time back as `timestamp` (ISO 8601, milliseconds, UTC).
//! Lines without one (plain text, or a `timestamp` the parser cannot read, which is kept as
//! `timestamp_raw`) get the container runtime's time. Every document therefore has exactly
//! one `timestamp`: a duplicate key would be refused by Elasticsearch and, with unlimited
//! retries, block the buffer.
//!
//! A JSON log's own `kubernetes` object is replaced by the collector's metadata (the two
//! would otherwise collide), and dots in keys (label names) become `_` so that labels
//! `app` and `app.kubernetes.io/name` cannot conflict in the mapping.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, Container, ContainerPort, EmptyDirVolumeSource, HTTPGetAction,
    HostPathVolumeSource, PodSpec, PodTemplateSpec, Probe, SecurityContext, ServiceAccount, Volume,
};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::endpoint::Endpoint;
use super::labels::{self, App};
use super::names;
use super::{
    Child, RenderContext, config_map_volume, env, env_field, env_secret, mount, secret_volume,
};
use crate::api::CollectorType;
use crate::validate::{ValidCollector, Validated};

/// Where the node's state (read positions, buffer) is mounted in the collector.
pub const STATE_DIR: &str = "/var/lib/meshlogging-collector";
/// Where the CA that signed Elasticsearch's certificate is mounted in the collector.
pub const CA_DIR: &str = "/etc/meshlogging/es-ca";
/// Annotation on the cluster-scoped binding naming its owner (`<namespace>/<name>`).
pub const OWNER_ANNOTATION: &str = "logging.mcp-mesh.io/owner";
/// Annotation on the cluster-scoped binding holding its owner's uid: a namespaced owner
/// cannot own it by reference, and the operator changes and deletes only a binding whose
/// annotation names this very resource (not an earlier one of the same name).
pub const OWNER_UID_ANNOTATION: &str = "logging.mcp-mesh.io/owner-uid";
/// Port of Fluent Bit's HTTP server (readiness, metrics).
const FLUENT_BIT_HTTP_PORT: i32 = 2020;
/// Port of Fluentd's monitor agent (readiness).
const FLUENTD_MONITOR_PORT: i32 = 24220;
/// Environment variable holding the collector user's password.
const PASSWORD_ENV: &str = "COLLECTOR_PASSWORD";

/// Renders the collector's objects.
pub fn render(v: &Validated, ctx: &RenderContext) -> Vec<Child> {
    let c = &v.collector;
    let app = app(c.kind);
    vec![
        Child::ServiceAccount(ServiceAccount {
            metadata: labels::namespaced(v, names::collector(&v.name), app),
            ..ServiceAccount::default()
        }),
        Child::ClusterRoleBinding(cluster_role_binding(v, ctx)),
        Child::ConfigMap(config_map(v, ctx)),
        Child::DaemonSet(daemonset(v, ctx)),
    ]
}

fn app(kind: CollectorType) -> App {
    match kind {
        CollectorType::FluentBit => App::FluentBit,
        CollectorType::Fluentd => App::Fluentd,
    }
}

fn cluster_role_binding(v: &Validated, ctx: &RenderContext) -> ClusterRoleBinding {
    let mut metadata = labels::cluster_scoped(
        v,
        names::collector_cluster_role_binding(&v.name, &v.namespace),
        app(v.collector.kind),
    );
    metadata.annotations = Some(BTreeMap::from([
        (OWNER_ANNOTATION.to_string(), v.owner()),
        (OWNER_UID_ANNOTATION.to_string(), v.uid.clone()),
    ]));
    ClusterRoleBinding {
        metadata,
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_string(),
            kind: "ClusterRole".to_string(),
            name: ctx.collector_cluster_role.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_string(),
            name: names::collector(&v.name),
            namespace: Some(v.namespace.clone()),
            ..Subject::default()
        }]),
    }
}

/// The Elasticsearch endpoint the collector writes to. The controller's URL is trusted to
/// parse (it is either the managed Service URL or the validated external URL); anything
/// else falls back to the managed Service rather than failing a pure function.
fn endpoint(v: &Validated, ctx: &RenderContext) -> Endpoint {
    Endpoint::parse(&ctx.es_endpoint).unwrap_or_else(|| Endpoint {
        tls: true,
        host: format!("{}.{}.svc", names::es_http_service(&v.name), v.namespace),
        port: names::ES_HTTP_PORT as u16,
        path: String::new(),
    })
}

/// Paths never tailed: the user's, then the collector's own container logs.
fn exclude_paths(v: &Validated) -> Vec<String> {
    let mut paths = v.collector.exclude_paths.clone();
    paths.push(format!(
        "/var/log/containers/{}-*_{}_*.log",
        names::collector(&v.name),
        v.namespace
    ));
    paths
}

fn section(out: &mut String, name: &str, entries: &[(&str, String)]) {
    let _ = writeln!(out, "[{name}]");
    for (key, value) in entries {
        let _ = writeln!(out, "    {key:<26} {value}");
    }
    out.push('\n');
}

/// Fluent Bit's `fluent-bit.conf` and `parsers.conf`.
pub fn fluent_bit_config(v: &Validated, ctx: &RenderContext) -> BTreeMap<String, String> {
    let c = &v.collector;
    let es = endpoint(v, ctx);
    let mut conf = format!(
        "# Fluent Bit configuration of MeshLogging {}/{}, managed by meshlogging-operator.\n\n",
        v.namespace, v.name
    );
    section(
        &mut conf,
        "SERVICE",
        &[
            ("Flush", c.flush_seconds.to_string()),
            ("Log_Level", "info".into()),
            ("Daemon", "off".into()),
            ("Parsers_File", "/fluent-bit/etc/parsers.conf".into()),
            ("HTTP_Server", "On".into()),
            ("HTTP_Listen", "0.0.0.0".into()),
            ("HTTP_Port", FLUENT_BIT_HTTP_PORT.to_string()),
            ("storage.path", format!("{STATE_DIR}/buffer/")),
            ("storage.sync", "normal".into()),
            ("storage.checksum", "off".into()),
            ("storage.backlog.mem_limit", "5M".into()),
        ],
    );
    section(
        &mut conf,
        "INPUT",
        &[
            ("Name", "tail".into()),
            ("Tag", "kube.*".into()),
            ("Path", c.paths.join(",")),
            ("Exclude_Path", exclude_paths(v).join(",")),
            ("multiline.parser", "cri".into()),
            ("DB", format!("{STATE_DIR}/tail.db")),
            ("DB.locking", "true".into()),
            // The largest line shipped, as chunk_limit_size bounds a record in Fluentd.
            ("Buffer_Max_Size", c.chunk_limit_size.clone()),
            ("Skip_Long_Lines", "On".into()),
            ("Refresh_Interval", "10".into()),
            ("storage.type", "filesystem".into()),
        ],
    );
    section(
        &mut conf,
        "FILTER",
        &[
            ("Name", "parser".into()),
            ("Match", "kube.*".into()),
            ("Key_Name", "log".into()),
            ("Parser", "json_timestamp".into()),
            ("Reserve_Data", "On".into()),
            ("Preserve_Key", "Off".into()),
        ],
    );
    section(
        &mut conf,
        "FILTER",
        &[
            ("Name", "modify".into()),
            ("Match", "kube.*".into()),
            ("Remove", "kubernetes".into()),
            ("Hard_rename", "timestamp timestamp_raw".into()),
        ],
    );
    section(
        &mut conf,
        "FILTER",
        &[
            ("Name", "kubernetes".into()),
            ("Match", "kube.*".into()),
            ("Kube_URL", "https://kubernetes.default.svc:443".into()),
            (
                "Kube_CA_File",
                "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt".into(),
            ),
            (
                "Kube_Token_File",
                "/var/run/secrets/kubernetes.io/serviceaccount/token".into(),
            ),
            ("Kube_Tag_Prefix", "kube.var.log.containers.".into()),
            ("Merge_Log", "On".into()),
            ("Keep_Log", "Off".into()),
            ("K8S-Logging.Parser", "On".into()),
            ("K8S-Logging.Exclude", "On".into()),
            ("Labels", "On".into()),
            ("Annotations", "Off".into()),
            ("Buffer_Size", "0".into()),
        ],
    );
    if !c.fields.is_empty() {
        let mut entries = vec![("Name", "modify".to_string()), ("Match", "kube.*".into())];
        entries.extend(c.fields.iter().map(|(k, v)| ("Set", format_set(k, v))));
        section(&mut conf, "FILTER", &entries);
    }
    let mut output = vec![
        ("Name", "es".to_string()),
        ("Match", "kube.*".into()),
        ("Host", es.host.clone()),
        ("Port", es.port.to_string()),
    ];
    if !es.path.is_empty() {
        output.push(("Path", es.path.clone()));
    }
    output.extend([
        ("Index", v.names.alias.clone()),
        ("Suppress_Type_Name", "On".into()),
        ("Write_Operation", "create".into()),
        ("HTTP_User", v.names.collector_user()),
        ("HTTP_Passwd", format!("${{{PASSWORD_ENV}}}")),
        ("Time_Key", "timestamp".into()),
        ("Replace_Dots", "On".into()),
        ("Trace_Error", "On".into()),
    ]);
    if es.tls {
        output.extend([
            ("tls", "On".to_string()),
            ("tls.verify", "On".into()),
            ("tls.verify_hostname", "On".into()),
            ("tls.vhost", es.host.clone()),
        ]);
        if super::es_ca_source(v).is_some() {
            output.push(("tls.ca_file", format!("{CA_DIR}/{}", names::CA_CERT_KEY)));
        }
    }
    output.extend([
        ("Retry_Limit", "False".to_string()),
        ("storage.total_limit_size", c.total_limit_size.clone()),
    ]);
    section(&mut conf, "OUTPUT", &output);

    let mut parsers = String::from(
        "# JSON logs: their `timestamp` (ISO 8601, fractional seconds, Z or offset) becomes the\n# event time, which the output writes back as `timestamp`.\n\n",
    );
    section(
        &mut parsers,
        "PARSER",
        &[
            ("Name", "json_timestamp".into()),
            ("Format", "json".into()),
            ("Time_Key", "timestamp".into()),
            ("Time_Format", "%Y-%m-%dT%H:%M:%S.%L%z".into()),
            ("Time_Keep", "Off".into()),
        ],
    );
    BTreeMap::from([
        (
            "fluent-bit.conf".to_string(),
            conf.trim_end().to_string() + "\n",
        ),
        (
            "parsers.conf".to_string(),
            parsers.trim_end().to_string() + "\n",
        ),
    ])
}

/// `Set key value` of the modify filter; values with spaces are quoted (validated values
/// hold no quotes or backslashes).
fn format_set(key: &str, value: &str) -> String {
    if value.contains(char::is_whitespace) {
        format!("{key} \"{value}\"")
    } else {
        format!("{key} {value}")
    }
}

/// Fluentd's `fluent.conf`: the same pipeline as Fluent Bit's.
pub fn fluentd_config(v: &Validated, ctx: &RenderContext) -> BTreeMap<String, String> {
    let c = &v.collector;
    let es = endpoint(v, ctx);
    let quoted = |s: &str| format!("\"{s}\"");
    let exclude: Vec<String> = exclude_paths(v).iter().map(|p| quoted(p)).collect();
    let mut conf = format!(
        "# Fluentd configuration of MeshLogging {}/{}, managed by meshlogging-operator.\n",
        v.namespace, v.name
    );
    let _ = write!(
        conf,
        r#"
<system>
  log_level info
</system>

<label @FLUENT_LOG>
  <match fluent.**>
    @type stdout
  </match>
</label>

<source>
  @type monitor_agent
  bind 0.0.0.0
  port {FLUENTD_MONITOR_PORT}
</source>

<source>
  @type tail
  @id in_tail_container_logs
  path {paths}
  exclude_path [{exclude}]
  pos_file {STATE_DIR}/containers.log.pos
  tag kubernetes.*
  read_from_head true
  follow_inodes true
  refresh_interval 10
  <parse>
    @type cri
  </parse>
</source>

# CRI splits long lines into partial records (logtag P); join them.
<filter kubernetes.**>
  @type concat
  key log
  use_partial_cri_logtag true
  partial_cri_logtag_key logtag
  partial_cri_stream_key stream
  separator ""
</filter>

# JSON logs are merged into the record; their `timestamp` becomes the event time.
<filter kubernetes.**>
  @type parser
  key_name log
  reserve_data true
  remove_key_name_field true
  emit_invalid_record_to_error false
  <parse>
    @type json
    time_key timestamp
    time_type string
    keep_time_key false
  </parse>
</filter>

<filter kubernetes.**>
  @type kubernetes_metadata
  @id filter_kube_metadata
  skip_labels false
  skip_container_metadata false
  skip_master_url true
  skip_namespace_metadata true
</filter>

# Every document gets exactly one `timestamp`: the event time, as the index mapping reads it.
<filter kubernetes.**>
  @type record_transformer
  enable_ruby true
  <record>
    timestamp ${{Time.at(time).utc.strftime('%Y-%m-%dT%H:%M:%S.%LZ')}}
  </record>
</filter>
"#,
        paths = c.paths.join(","),
        exclude = exclude.join(", "),
    );
    if !c.fields.is_empty() {
        conf.push_str("\n<filter kubernetes.**>\n  @type record_transformer\n  <record>\n");
        for (key, value) in &c.fields {
            let _ = writeln!(conf, "    {key} '{value}'");
        }
        conf.push_str("  </record>\n</filter>\n");
    }
    let _ = write!(
        conf,
        r#"
<match kubernetes.**>
  @type elasticsearch
  @id out_es
  host {host}
  port {port}
  scheme {scheme}
"#,
        host = es.host,
        port = es.port,
        scheme = es.scheme(),
    );
    if !es.path.is_empty() {
        let _ = writeln!(conf, "  path {}", es.path);
    }
    if es.tls {
        conf.push_str("  ssl_verify true\n");
        if super::es_ca_source(v).is_some() {
            let _ = writeln!(conf, "  ca_file {CA_DIR}/{}", names::CA_CERT_KEY);
        }
    }
    let _ = write!(
        conf,
        r##"  user {user}
  password "#{{ENV['{PASSWORD_ENV}']}}"
  index_name {alias}
  logstash_format false
  include_timestamp false
  write_operation create
  suppress_type_name true
  verify_es_version_at_startup false
  default_elasticsearch_version 8
  reconnect_on_error true
  reload_connections false
  log_es_400_reason true
  <buffer>
    @type file
    path {STATE_DIR}/buffer
    flush_mode interval
    flush_interval {flush}
    flush_thread_count 2
    chunk_limit_size {chunk}
    total_limit_size {total}
    overflow_action block
    retry_type exponential_backoff
    retry_max_interval 30
    retry_forever true
  </buffer>
</match>
"##,
        user = v.names.collector_user(),
        alias = v.names.alias,
        flush = c.flush_interval,
        chunk = c.chunk_limit_size,
        total = c.total_limit_size,
    );
    BTreeMap::from([("fluent.conf".to_string(), conf)])
}

fn config_map(v: &Validated, ctx: &RenderContext) -> ConfigMap {
    let data = match v.collector.kind {
        CollectorType::FluentBit => fluent_bit_config(v, ctx),
        CollectorType::Fluentd => fluentd_config(v, ctx),
    };
    ConfigMap {
        metadata: labels::namespaced(v, names::collector(&v.name), app(v.collector.kind)),
        data: Some(data),
        ..ConfigMap::default()
    }
}

/// Root (container logs are root-owned and the state lives on the node) but nothing else:
/// no capabilities, no privilege escalation.
fn security_context(read_only_root: bool) -> SecurityContext {
    SecurityContext {
        run_as_user: Some(0),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_string()]),
            ..Capabilities::default()
        }),
        read_only_root_filesystem: read_only_root.then_some(true),
        ..SecurityContext::default()
    }
}

fn host_path(name: &str, path: String, type_: &str) -> Volume {
    Volume {
        name: name.to_string(),
        host_path: Some(HostPathVolumeSource {
            path,
            type_: Some(type_.to_string()),
        }),
        ..Volume::default()
    }
}

fn daemonset(v: &Validated, ctx: &RenderContext) -> DaemonSet {
    let c: &ValidCollector = &v.collector;
    let n = &v.name;
    let app = app(c.kind);
    let mut volumes = vec![
        host_path("varlog", "/var/log".to_string(), "Directory"),
        host_path(
            "state",
            names::collector_state_dir(n, &v.namespace),
            "DirectoryOrCreate",
        ),
        config_map_volume("config", names::collector(n)),
    ];
    let config_dir = match c.kind {
        CollectorType::FluentBit => "/fluent-bit/etc",
        CollectorType::Fluentd => "/fluentd/etc",
    };
    let mut mounts = vec![
        mount("varlog", "/var/log", true),
        mount("state", STATE_DIR, false),
        mount("config", config_dir, true),
    ];
    if let Some((secret, key)) = super::es_ca_source(v) {
        volumes.push(secret_volume(
            "es-ca",
            secret,
            Some(&[(key.as_str(), names::CA_CERT_KEY)]),
        ));
        mounts.push(mount("es-ca", CA_DIR, true));
    }
    let password = env_secret(
        PASSWORD_ENV,
        names::collector_user_secret(n),
        names::PASSWORD_KEY,
        false,
    );
    let container = match c.kind {
        CollectorType::FluentBit => Container {
            name: "fluent-bit".to_string(),
            image: Some(c.image.clone()),
            command: Some(vec![
                "/fluent-bit/bin/fluent-bit".to_string(),
                "--config=/fluent-bit/etc/fluent-bit.conf".to_string(),
            ]),
            env: Some(vec![password]),
            ports: Some(vec![ContainerPort {
                name: Some("http".to_string()),
                container_port: FLUENT_BIT_HTTP_PORT,
                ..ContainerPort::default()
            }]),
            readiness_probe: Some(http_probe("/", FLUENT_BIT_HTTP_PORT)),
            resources: Some(c.resources.clone()),
            security_context: Some(security_context(true)),
            volume_mounts: Some(mounts),
            ..Container::default()
        },
        CollectorType::Fluentd => {
            // The image's entrypoint edits its config when these are unset; with them set it
            // leaves the (read-only) mounted configuration alone. Fluentd writes beside its
            // gems at start, so its root filesystem stays writable; /tmp is a scratch volume.
            volumes.push(Volume {
                name: "tmp".to_string(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Volume::default()
            });
            mounts.push(mount("tmp", "/tmp", false));
            Container {
                name: "fluentd".to_string(),
                image: Some(c.image.clone()),
                env: Some(vec![
                    password,
                    env_secret(
                        "FLUENT_ELASTICSEARCH_PASSWORD",
                        names::collector_user_secret(n),
                        names::PASSWORD_KEY,
                        false,
                    ),
                    env("FLUENT_ELASTICSEARCH_USER", v.names.collector_user()),
                    env_field("K8S_NODE_NAME", "spec.nodeName"),
                ]),
                ports: Some(vec![ContainerPort {
                    name: Some("monitor".to_string()),
                    container_port: FLUENTD_MONITOR_PORT,
                    ..ContainerPort::default()
                }]),
                readiness_probe: Some(http_probe("/api/plugins.json", FLUENTD_MONITOR_PORT)),
                resources: Some(c.resources.clone()),
                security_context: Some(security_context(false)),
                volume_mounts: Some(mounts),
                ..Container::default()
            }
        }
    };
    DaemonSet {
        metadata: labels::namespaced(v, names::collector(n), app),
        spec: Some(DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(labels::selector(app, n)),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(labels::pod_template(v, app, &ctx.annotations)),
                spec: Some(PodSpec {
                    service_account_name: Some(names::collector(n)),
                    enable_service_links: Some(false),
                    containers: vec![container],
                    tolerations: (!c.tolerations.is_empty()).then(|| c.tolerations.clone()),
                    volumes: Some(volumes),
                    ..PodSpec::default()
                }),
            },
            ..DaemonSetSpec::default()
        }),
        ..DaemonSet::default()
    }
}

/// A readiness probe: the collector's HTTP endpoint answers. Not the delivery health: an
/// Elasticsearch outage is buffered, not a reason to restart or unready every node's pod.
fn http_probe(path: &str, port: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::Int(port),
            ..HTTPGetAction::default()
        }),
        initial_delay_seconds: Some(5),
        period_seconds: Some(10),
        timeout_seconds: Some(5),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}
