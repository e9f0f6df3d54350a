//! Rendering, checked whole: each example in `examples/` is validated and rendered, and
//! every object, as YAML, is compared with `tests/golden/<example>.yaml`. Then targeted
//! assertions on what a reviewer cares about most. Pure: no API server.
//!
//! `UPDATE_GOLDEN=1 cargo test --test render_golden` rewrites the golden files.

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::api::apps::v1::{DaemonSet, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Container, PodSpec};
use meshlogging_operator::api::MeshLogging;
use meshlogging_operator::naming as names;
use meshlogging_operator::render::{Child, RenderContext, labels, render};
use meshlogging_operator::validate::{Validated, validate};
use serde_json::Value;

const NAMESPACE: &str = "logging";
const UID: &str = "6f1c2a3b-0000-4000-8000-000000000001";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// An example as the API server would hand it to the operator: schema defaults applied
/// (the Rust types carry the same defaults through serde, so a JSON round trip applies
/// them), a namespace and a uid.
fn example(name: &str) -> MeshLogging {
    let path = root().join("examples").join(format!("{name}.yaml"));
    let text = std::fs::read_to_string(&path).expect("read example");
    let parsed: MeshLogging = serde_saphyr::from_str(&text).expect("parse example");
    let json = serde_json::to_value(&parsed).expect("to json");
    let mut ml: MeshLogging = serde_json::from_value(json).expect("from json");
    ml.metadata.namespace = Some(NAMESPACE.to_string());
    ml.metadata.uid = Some(UID.to_string());
    ml
}

fn validated(name: &str) -> Validated {
    validate(&example(name)).expect("example is valid")
}

fn rendered(name: &str) -> (Validated, Vec<Child>) {
    let v = validated(name);
    let children = render(&v, &RenderContext::new(&v));
    (v, children)
}

fn to_yaml(child: &Child) -> String {
    let yaml = match child {
        Child::StatefulSet(o) => serde_saphyr::to_string(o),
        Child::Deployment(o) => serde_saphyr::to_string(o),
        Child::DaemonSet(o) => serde_saphyr::to_string(o),
        Child::Service(o) => serde_saphyr::to_string(o),
        Child::ConfigMap(o) => serde_saphyr::to_string(o),
        Child::PodDisruptionBudget(o) => serde_saphyr::to_string(o),
        Child::ServiceAccount(o) => serde_saphyr::to_string(o),
        Child::Ingress(o) => serde_saphyr::to_string(o),
        Child::ClusterRoleBinding(o) => serde_saphyr::to_string(o),
    };
    yaml.expect("serialise")
}

fn to_json(child: &Child) -> Value {
    let json = match child {
        Child::StatefulSet(o) => serde_json::to_value(o),
        Child::Deployment(o) => serde_json::to_value(o),
        Child::DaemonSet(o) => serde_json::to_value(o),
        Child::Service(o) => serde_json::to_value(o),
        Child::ConfigMap(o) => serde_json::to_value(o),
        Child::PodDisruptionBudget(o) => serde_json::to_value(o),
        Child::ServiceAccount(o) => serde_json::to_value(o),
        Child::Ingress(o) => serde_json::to_value(o),
        Child::ClusterRoleBinding(o) => serde_json::to_value(o),
    };
    json.expect("serialise")
}

fn golden(name: &str) {
    let (_, children) = rendered(name);
    let mut actual = String::new();
    for child in &children {
        actual.push_str("---\n");
        actual.push_str(&to_yaml(child));
    }
    let path = root().join("tests/golden").join(format!("{name}.yaml"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        let context = |text: &str| {
            text.lines()
                .skip(first.saturating_sub(3))
                .take(8)
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "{} differs from the rendering at line {}\n--- expected\n{}\n--- actual\n{}\n\
             (UPDATE_GOLDEN=1 cargo test --test render_golden rewrites it; review the diff)",
            path.display(),
            first + 1,
            context(&expected),
            context(&actual)
        );
    }
}

#[test]
fn golden_minimal() {
    golden("minimal");
}

#[test]
fn golden_production() {
    golden("production");
}

#[test]
fn golden_external_elasticsearch() {
    golden("external-elasticsearch");
}

fn statefulset(children: &[Child]) -> &StatefulSet {
    children
        .iter()
        .find_map(|c| match c {
            Child::StatefulSet(s) => Some(s),
            _ => None,
        })
        .expect("a StatefulSet")
}

/// The Elasticsearch StatefulSet's pod spec.
fn es_pod(children: &[Child]) -> PodSpec {
    statefulset(children)
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.clone())
        .expect("pod")
}

fn daemonset(children: &[Child]) -> &DaemonSet {
    children
        .iter()
        .find_map(|c| match c {
            Child::DaemonSet(d) => Some(d),
            _ => None,
        })
        .expect("a DaemonSet")
}

fn config_map<'a>(children: &'a [Child], name: &str) -> &'a ConfigMap {
    children
        .iter()
        .find_map(|c| match c {
            Child::ConfigMap(cm) if cm.metadata.name.as_deref() == Some(name) => Some(cm),
            _ => None,
        })
        .expect("the ConfigMap")
}

fn config_file<'a>(children: &'a [Child], name: &str, file: &str) -> &'a str {
    config_map(children, name)
        .data
        .as_ref()
        .and_then(|d| d.get(file))
        .expect("the file")
}

#[test]
fn initial_master_nodes_only_before_bootstrap() {
    let v = validated("production");
    let first = render(&v, &RenderContext::new(&v));
    let yml = config_file(&first, "mcp-mesh-logs-es-config", "elasticsearch.yml");
    assert!(yml.contains(
        r#"cluster.initial_master_nodes: ["mcp-mesh-logs-es-0","mcp-mesh-logs-es-1","mcp-mesh-logs-es-2"]"#
    ));
    let ctx = RenderContext {
        es_bootstrapped: true,
        ..RenderContext::new(&v)
    };
    let later = render(&v, &ctx);
    let yml = config_file(&later, "mcp-mesh-logs-es-config", "elasticsearch.yml");
    assert!(!yml.contains("initial_master_nodes"), "{yml}");
    assert!(yml.contains(r#"discovery.seed_hosts: ["mcp-mesh-logs-es-nodes.logging.svc"]"#));
}

#[test]
fn anti_affinity_hard_and_soft() {
    let pod_anti = |children: &[Child]| {
        statefulset(children)
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|p| p.affinity.as_ref())
            .and_then(|a| a.pod_anti_affinity.clone())
            .expect("anti-affinity")
    };
    let (_, production) = rendered("production");
    let hard = pod_anti(&production);
    let required = hard
        .required_during_scheduling_ignored_during_execution
        .expect("required");
    assert_eq!(required[0].topology_key, "kubernetes.io/hostname");
    assert!(
        hard.preferred_during_scheduling_ignored_during_execution
            .is_none()
    );

    let (_, minimal) = rendered("minimal");
    let soft = pod_anti(&minimal);
    assert!(
        soft.required_during_scheduling_ignored_during_execution
            .is_none()
    );
    let preferred = soft
        .preferred_during_scheduling_ignored_during_execution
        .expect("preferred");
    assert_eq!(
        preferred[0].pod_affinity_term.topology_key,
        "kubernetes.io/hostname"
    );
}

#[test]
fn external_mode_renders_no_elasticsearch() {
    let (_, children) = rendered("external-elasticsearch");
    for child in &children {
        assert!(
            !matches!(child, Child::StatefulSet(_) | Child::PodDisruptionBudget(_)),
            "{} {}",
            child.kind(),
            child.name()
        );
        assert!(
            !child.name().contains("-es"),
            "{} {}",
            child.kind(),
            child.name()
        );
        let app = child
            .meta()
            .labels
            .as_ref()
            .and_then(|l| l.get(labels::NAME));
        assert_ne!(app.map(String::as_str), Some("elasticsearch"));
    }
    let kibana = config_file(&children, "mesh-logs-external-kibana-config", "kibana.yml");
    assert!(kibana.contains(r#"elasticsearch.hosts: ["https://elasticsearch.example.com:9200"]"#));
    assert!(kibana.contains(r#"elasticsearch.username: "mcp-mesh-logs-kibana""#));
    let fb = config_file(&children, "mesh-logs-external-collector", "fluent-bit.conf");
    assert!(fb.contains("Host                       elasticsearch.example.com"));
}

#[test]
fn owner_references_on_namespaced_objects_only() {
    for example in ["minimal", "production", "external-elasticsearch"] {
        let (v, children) = rendered(example);
        for child in &children {
            let meta = child.meta();
            let owners = meta.owner_references.clone().unwrap_or_default();
            if let Child::ClusterRoleBinding(_) = child {
                assert!(
                    owners.is_empty(),
                    "cluster-scoped binding must not be owned"
                );
                assert!(meta.namespace.is_none());
                continue;
            }
            assert_eq!(
                meta.namespace.as_deref(),
                Some(NAMESPACE),
                "{}",
                child.name()
            );
            assert_eq!(owners.len(), 1, "{} {}", child.kind(), child.name());
            let o = &owners[0];
            assert_eq!(
                (
                    o.api_version.as_str(),
                    o.kind.as_str(),
                    o.name.as_str(),
                    o.uid.as_str()
                ),
                (
                    "logging.mcp-mesh.io/v1alpha1",
                    "MeshLogging",
                    v.name.as_str(),
                    UID
                )
            );
            assert_eq!(
                (o.controller, o.block_owner_deletion),
                (Some(true), Some(true))
            );
        }
    }
}

#[test]
fn recommended_labels_everywhere() {
    for example in ["minimal", "production", "external-elasticsearch"] {
        let (v, children) = rendered(example);
        for child in &children {
            let l = child.meta().labels.clone().unwrap_or_default();
            for key in [
                labels::NAME,
                labels::INSTANCE,
                labels::COMPONENT,
                labels::MANAGED_BY,
                labels::PART_OF,
            ] {
                assert!(
                    l.contains_key(key),
                    "{} {} lacks {key}",
                    child.kind(),
                    child.name()
                );
            }
            assert_eq!(l[labels::INSTANCE], v.name);
            assert_eq!(l[labels::MANAGED_BY], "meshlogging-operator");
        }
    }
}

/// Server-side apply claims every field sent: nothing may be an empty placeholder
/// (`emptyDir: {}` is the one legitimate empty object: it is the volume's type).
#[test]
fn no_empty_placeholders() {
    fn walk(path: &str, value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if map.is_empty() && !path.ends_with(".emptyDir") {
                    found.push(path.to_string());
                }
                for (k, v) in map {
                    walk(&format!("{path}.{k}"), v, found);
                }
            }
            Value::Array(items) => {
                if items.is_empty() {
                    found.push(path.to_string());
                }
                for (i, v) in items.iter().enumerate() {
                    walk(&format!("{path}[{i}]"), v, found);
                }
            }
            Value::Null => found.push(path.to_string()),
            _ => {}
        }
    }
    for example in ["minimal", "production", "external-elasticsearch"] {
        let (_, children) = rendered(example);
        for child in &children {
            let mut found = Vec::new();
            walk(child.name(), &to_json(child), &mut found);
            assert!(
                found.is_empty(),
                "{} {}: {found:?}",
                child.kind(),
                child.name()
            );
        }
    }
}

#[test]
fn collector_writes_to_the_alias_as_its_own_user_over_verified_tls() {
    let (_, children) = rendered("production");
    let conf = config_file(&children, "mcp-mesh-logs-collector", "fluent-bit.conf");
    assert_has_lines(
        conf,
        &[
            "Name                       es",
            "Host                       mcp-mesh-logs-es-http.logging.svc",
            "Port                       9200",
            "Index                      mcp-mesh-logs",
            "Write_Operation            create",
            "Suppress_Type_Name         On",
            "HTTP_User                  mcp-mesh-logs-collector",
            "HTTP_Passwd                ${COLLECTOR_PASSWORD}",
            "tls                        On",
            "tls.verify                 On",
            "tls.ca_file                /etc/meshlogging/es-ca/ca.crt",
            "Retry_Limit                15",
            "storage.total_limit_size   1G",
            "Time_Key                   timestamp",
            "Set                        environment production",
            "Exclude_Path               /var/log/containers/*fluent*,/var/log/containers/mcp-mesh-logs-collector-*_logging_*.log",
        ],
    );
    assert!(!conf.contains("Logstash_Format On"));
    let ds = daemonset(&children);
    let pod = ds
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod");
    let env = pod.containers[0].env.clone().unwrap_or_default();
    let password = env
        .iter()
        .find(|e| e.name == "COLLECTOR_PASSWORD")
        .expect("password env");
    let secret = password
        .value_from
        .as_ref()
        .and_then(|f| f.secret_key_ref.as_ref())
        .expect("from a Secret");
    assert_eq!(
        (secret.name.as_str(), secret.key.as_str()),
        ("mcp-mesh-logs-collector-user", "password")
    );
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some("mcp-mesh-logs-collector")
    );
    let sc = pod.containers[0]
        .security_context
        .as_ref()
        .expect("security context");
    assert_eq!(sc.read_only_root_filesystem, Some(true));
}

#[test]
fn fluentd_has_the_equivalent_pipeline() {
    let mut ml = example("production");
    ml.spec.collector.kind = meshlogging_operator::api::CollectorType::Fluentd;
    ml.spec.collector.image = None;
    let v = validate(&ml).expect("valid");
    let children = render(&v, &RenderContext::new(&v));
    let conf = config_file(&children, "mcp-mesh-logs-collector", "fluent.conf");
    assert_has_lines(
        conf,
        &[
            "@type elasticsearch",
            "host 'mcp-mesh-logs-es-http.logging.svc'",
            "scheme https",
            "ssl_verify true",
            "ca_file /etc/meshlogging/es-ca/ca.crt",
            "user 'mcp-mesh-logs-collector'",
            "password \"#{ENV['COLLECTOR_PASSWORD']}\"",
            "index_name 'mcp-mesh-logs'",
            "logstash_format false",
            "write_operation create",
            "verify_es_version_at_startup false",
            "default_elasticsearch_version 8",
            "@type file",
            "flush_interval '5s'",
            "chunk_limit_size '2M'",
            "total_limit_size '1G'",
            "retry_forever true",
            "@type kubernetes_metadata",
            "environment 'production'",
            "pos_file /var/lib/meshlogging-collector/containers.log.pos",
        ],
    );
    let ds = daemonset(&children);
    assert_eq!(
        ds.metadata
            .labels
            .as_ref()
            .map(|l| l[labels::NAME].as_str()),
        Some("fluentd")
    );
    // Same selector as Fluent Bit's, so switching type updates the DaemonSet in place.
    let (_, fluent_bit) = rendered("production");
    assert_eq!(
        ds.spec.as_ref().map(|s| &s.selector),
        daemonset(&fluent_bit).spec.as_ref().map(|s| &s.selector)
    );
}

fn init_container(children: &[Child]) -> Container {
    statefulset(children)
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.init_containers.as_ref())
        .and_then(|i| i.first().cloned())
        .expect("keystore init container")
}

#[test]
fn keystore_gets_repository_credentials() {
    let (_, children) = rendered("production");
    let init = init_container(&children);
    let command = init.command.clone().expect("command");
    let script = &command[2];
    assert_eq!(command[3..], ["keystore", "init"]);
    assert!(script.contains("elasticsearch-keystore"));
    assert!(script.contains("add-file"));
    let pod = es_pod(&children);
    let volume = pod
        .volumes
        .unwrap_or_default()
        .into_iter()
        .find(|v| v.name == "secure-settings")
        .expect("secure-settings volume");
    let sources = volume.projected.and_then(|p| p.sources).expect("sources");
    let s3 = sources[0].secret.as_ref().expect("secret source");
    assert_eq!(s3.name, "s3-credentials");
    assert_eq!(s3.optional, Some(true));
    let items: BTreeMap<_, _> = s3
        .items
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|i| (i.key, i.path))
        .collect();
    assert_eq!(items["access_key"], "s3.client.default.access_key");
    assert_eq!(items["secret_key"], "s3.client.default.secret_key");
    assert_eq!(items["session_token"], "s3.client.default.session_token");
    let mounts = init.volume_mounts.unwrap_or_default();
    assert!(mounts.iter().any(|m| m.name == "secure-settings"));

    // Without repositories or secure settings there is no such volume.
    let (_, minimal) = rendered("minimal");
    let pod = es_pod(&minimal);
    assert!(
        !pod.volumes
            .unwrap_or_default()
            .iter()
            .any(|v| v.name == "secure-settings")
    );
}

/// With keystore sources, the node runs beside the keystore sidecar (the init container's
/// script in `watch` mode, its mounts, the restricted security context, a small request and
/// a memory limit) and reads the keystore's password from the file the script leaves in
/// the keystore volume; without, there is neither sidecar nor password.
#[test]
fn the_keystore_sidecar_runs_only_with_keystore_sources() {
    let (_, children) = rendered("production");
    let init = init_container(&children);
    let pod = es_pod(&children);
    let names_of: Vec<&str> = pod.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names_of, ["elasticsearch", "keystore-watcher"]);
    let watcher = &pod.containers[1];
    let command = watcher.command.clone().expect("command");
    assert_eq!(
        command[..3],
        init.command.clone().expect("init")[..3],
        "one script"
    );
    assert_eq!(command[3..], ["keystore", "watch"]);
    assert_eq!(watcher.volume_mounts, init.volume_mounts);
    assert_eq!(watcher.image, init.image);
    assert_eq!(watcher.security_context, init.security_context);
    let resources = watcher.resources.clone().expect("resources");
    let limits = resources.limits.expect("limits");
    assert_eq!(limits["memory"].0, "192Mi");
    assert_eq!(resources.requests.expect("requests")["memory"].0, "64Mi");
    let env = watcher.env.clone().unwrap_or_default();
    assert!(
        env.iter().any(|e| e.name == "CLI_JAVA_OPTS"
            && e.value.as_deref().is_some_and(|v| v.contains("-Xmx64m")))
    );
    let node = &pod.containers[0];
    let password_file = node
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .find(|e| e.name == "KEYSTORE_PASSWORD_FILE")
        .and_then(|e| e.value)
        .expect("KEYSTORE_PASSWORD_FILE");
    assert_eq!(
        password_file,
        "/mnt/elastic-internal/keystore/keystore-password"
    );
    let mounts = node.volume_mounts.clone().unwrap_or_default();
    assert!(
        mounts.iter().any(|m| m.name == "keystore"
            && m.mount_path == "/mnt/elastic-internal/keystore"
            && m.sub_path.is_none()
            && m.read_only == Some(true)),
        "the keystore volume as a directory, for the password file: {mounts:?}"
    );

    let (_, minimal) = rendered("minimal");
    let pod = es_pod(&minimal);
    assert_eq!(
        pod.containers.len(),
        1,
        "no sidecar without secure settings"
    );
    assert!(
        !pod.containers[0]
            .env
            .clone()
            .unwrap_or_default()
            .iter()
            .any(|e| e.name == "KEYSTORE_PASSWORD_FILE")
    );
}

#[test]
fn heap_is_half_the_memory_limit_and_tls_is_on() {
    let (_, children) = rendered("production");
    let pod = es_pod(&children);
    let env = pod.containers[0].env.clone().unwrap_or_default();
    let opts = env
        .iter()
        .find(|e| e.name == "ES_JAVA_OPTS")
        .and_then(|e| e.value.clone());
    assert_eq!(opts.as_deref(), Some("-Xms2048m -Xmx2048m"));
    let yml = config_file(&children, "mcp-mesh-logs-es-config", "elasticsearch.yml");
    for line in [
        "xpack.security.enabled: true",
        "xpack.security.http.ssl.enabled: true",
        "xpack.security.transport.ssl.enabled: true",
        "xpack.security.transport.ssl.verification_mode: \"certificate\"",
        "xpack.security.authc.realms.file.file1.order: -100",
        "node.store.allow_mmap: false",
        "readiness.port: 8080",
    ] {
        assert!(yml.lines().any(|l| l == line), "missing {line:?} in\n{yml}");
    }
}

#[test]
fn pod_templates_carry_the_context_annotations() {
    let v = validated("production");
    let ctx = RenderContext {
        annotations: BTreeMap::from([(
            "logging.mcp-mesh.io/config-hash".to_string(),
            "abc".to_string(),
        )]),
        ..RenderContext::new(&v)
    };
    let children = render(&v, &ctx);
    let mut templates = 0;
    for child in &children {
        let meta = match child {
            Child::StatefulSet(o) => o.spec.as_ref().and_then(|s| s.template.metadata.clone()),
            Child::Deployment(o) => o.spec.as_ref().and_then(|s| s.template.metadata.clone()),
            Child::DaemonSet(o) => o.spec.as_ref().and_then(|s| s.template.metadata.clone()),
            _ => continue,
        };
        templates += 1;
        let annotations = meta.and_then(|m| m.annotations).unwrap_or_default();
        assert_eq!(
            annotations
                .get("logging.mcp-mesh.io/config-hash")
                .map(String::as_str),
            Some("abc")
        );
    }
    assert_eq!(templates, 3);
}

#[test]
fn binding_and_names_match_the_names_module() {
    let (v, children) = rendered("production");
    let binding = children
        .iter()
        .find_map(|c| match c {
            Child::ClusterRoleBinding(b) => Some(b),
            _ => None,
        })
        .expect("binding");
    assert_eq!(
        binding.metadata.name.as_deref(),
        Some(names::collector_cluster_role_binding(&v.name, &v.namespace).as_str())
    );
    assert_eq!(binding.role_ref.name, "meshlogging-collector");
    let subject = &binding.subjects.as_ref().expect("subjects")[0];
    assert_eq!(
        (subject.name.as_str(), subject.namespace.as_deref()),
        ("mcp-mesh-logs-collector", Some(NAMESPACE))
    );
    let kinds: Vec<_> = children
        .iter()
        .map(|c| format!("{} {}", c.kind(), c.name()))
        .collect();
    assert_eq!(
        kinds,
        [
            "ConfigMap mcp-mesh-logs-es-config",
            "Service mcp-mesh-logs-es-nodes",
            "Service mcp-mesh-logs-es-http",
            "PodDisruptionBudget mcp-mesh-logs-es",
            "StatefulSet mcp-mesh-logs-es",
            "ConfigMap mcp-mesh-logs-kibana-config",
            "Service mcp-mesh-logs-kibana",
            "Deployment mcp-mesh-logs-kibana",
            "Ingress mcp-mesh-logs-kibana",
            "ServiceAccount mcp-mesh-logs-collector",
            "ClusterRoleBinding meshlogging-collector.logging.mcp-mesh-logs",
            "ConfigMap mcp-mesh-logs-collector",
            "DaemonSet mcp-mesh-logs-collector",
        ]
    );
}

fn fluentd(name: &str) -> (Validated, Vec<Child>) {
    let mut ml = example(name);
    ml.spec.collector.kind = meshlogging_operator::api::CollectorType::Fluentd;
    ml.spec.collector.image = None;
    let v = validate(&ml).expect("valid");
    let children = render(&v, &RenderContext::new(&v));
    (v, children)
}

/// Issue 11 item 6: `{"service":"x"}` logged by any pod was merged into the record, where
/// the schema maps `service` as an object, and the chunk was refused and retried forever,
/// its good lines indexed again on each retry. Now a JSON line is nested under `app`,
/// every record has an id hashed from its content (a retry is a 409, not a copy), and
/// retries end: Fluentd sets refused records aside in `<index>-deadletter`, Fluent Bit
/// keeps the chunks it gave up on on the node.
#[test]
fn application_json_is_nested_and_retries_are_idempotent_and_bounded() {
    let (_, children) = rendered("production");
    let conf = config_file(&children, "mcp-mesh-logs-collector", "fluent-bit.conf");
    assert_has_lines(
        conf,
        &[
            "Merge_Log                  On",
            "Merge_Log_Key              app",
            "Merge_Parser               json_timestamp",
            "Generate_ID                On",
            "Write_Operation            create",
            "Retry_Limit                15",
            "storage.keep.rejected      On",
        ],
    );
    // No filter merges the parsed JSON at the top level any more.
    assert!(!conf.contains("Reserve_Data"), "{conf}");
    assert!(!conf.contains("Retry_Limit                False"), "{conf}");

    let (_, children) = fluentd("production");
    let conf = config_file(&children, "mcp-mesh-logs-collector", "fluent.conf");
    assert_has_lines(
        conf,
        &[
            "hash_value_field app",
            "@type elasticsearch_genid",
            "use_entire_record true",
            "id_key _hash",
            "remove_keys _hash",
            "write_operation create",
            "<label @ERROR>",
            "index_name 'mcp-mesh-logs-deadletter'",
            "record ${record.to_json}",
        ],
    );
    // The id is computed after every field is set: the genid filter is the last filter
    // before the output.
    let genid = conf.find("@type elasticsearch_genid").expect("genid");
    let output = conf.find("<match kubernetes.**>").expect("output");
    let last_transformer = conf[..output].rfind("@type record_transformer");
    assert!(last_transformer < Some(genid) && genid < output, "{conf}");
}

/// Issue 11: the node buffer was `/var/lib/meshlogging/<ns>_<name>`, so a new resource of
/// the same name replayed the old one's buffer, possibly to a new URL.
#[test]
fn node_buffer_is_keyed_by_the_resource_uid() {
    let path = |uid: &str| {
        let mut ml = example("minimal");
        ml.metadata.uid = Some(uid.to_string());
        let v = validate(&ml).expect("valid");
        let children = render(&v, &RenderContext::new(&v));
        let ds = daemonset(&children).clone();
        ds.spec
            .and_then(|s| s.template.spec)
            .and_then(|p| p.volumes)
            .unwrap_or_default()
            .into_iter()
            .find(|v| v.name == "state")
            .and_then(|v| v.host_path)
            .map(|h| h.path)
            .expect("state volume")
    };
    let first = path("6f1c2a3b-0000-4000-8000-000000000001");
    let second = path("6f1c2a3b-0000-4000-8000-000000000002");
    assert_eq!(
        first,
        "/var/lib/meshlogging/6f1c2a3b-0000-4000-8000-000000000001"
    );
    assert_ne!(first, second);
}

/// Admission allows `metadata.name` up to 49 characters (a DNS-1035 label): with the
/// longest name, every child's name fits the rule Kubernetes applies to its kind, so no
/// child the operator renders is refused later.
#[test]
fn the_longest_admitted_name_fits_every_child() {
    let longest = format!(
        "a{}",
        "b".repeat(meshlogging_operator::validate::MAX_NAME_LEN - 1)
    );
    let dns1035 = |s: &str| {
        s.len() <= 63
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    // Kubernetes' IsDNS1123Subdomain: dot-separated lowercase labels, 253 in all (no limit
    // per label).
    let dns1123_subdomain = |s: &str| {
        s.len() <= 253
            && s.split('.').all(|l| {
                !l.is_empty()
                    && l.starts_with(|c: char| c.is_ascii_alphanumeric())
                    && l.ends_with(|c: char| c.is_ascii_alphanumeric())
                    && l.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            })
    };
    for example in ["production", "minimal"] {
        let mut ml = example_named(example, &longest);
        ml.metadata.name = Some(longest.clone());
        let v = validate(&ml).expect("the longest admitted name is valid");
        let children = render(&v, &RenderContext::new(&v));
        for child in &children {
            let name = child.name();
            match child {
                // RBAC names are path segments (helper 11b owns the binding's naming).
                Child::ClusterRoleBinding(_) => {
                    assert!(name.len() <= 253 && !name.contains(['/', '%']), "{name}")
                }
                _ => assert!(dns1123_subdomain(name), "{} {name}", child.kind()),
            }
            match child {
                // Services are DNS-1035 labels.
                Child::Service(_) => assert!(dns1035(name), "Service {name}"),
                // Pods of a StatefulSet carry `controller-revision-hash: <name>-<10 chars>`,
                // a label value (at most 63), and are named `<name>-<ordinal>`.
                Child::StatefulSet(_) => assert!(name.len() + 11 <= 63, "StatefulSet {name}"),
                // Deployment and DaemonSet pods get generated names, which Kubernetes
                // shortens to fit, and a hash-only revision label: a subdomain suffices.
                _ => {}
            }
        }
        for secret in [
            names::es_elastic_user_secret(&longest),
            names::es_operator_user_secret(&longest),
            names::es_file_realm_secret(&longest),
            names::ca_secret(&longest),
            names::es_http_certs_secret(&longest),
            names::es_transport_certs_secret(&longest),
            names::kibana_user_secret(&longest),
            names::kibana_encryption_keys_secret(&longest),
            names::collector_user_secret(&longest),
        ] {
            assert!(dns1123_subdomain(&secret), "Secret {secret}");
        }
        // One character more and the StatefulSet's revision label would not fit.
        assert!(names::es_statefulset(&format!("{longest}b")).len() + 11 > 63);
        // Volume claims of the StatefulSet: `data-<name>-es-<ordinal>`.
        assert!(dns1123_subdomain(&format!(
            "data-{}-99",
            names::es_statefulset(&longest)
        )));
    }
}

fn example_named(file: &str, name: &str) -> MeshLogging {
    let mut ml = example(file);
    ml.metadata.name = Some(name.to_string());
    ml
}

/// Asserts that each of `lines` is a line of `text` (leading and trailing blanks aside).
fn assert_has_lines(text: &str, lines: &[&str]) {
    for line in lines {
        assert!(
            text.lines().any(|l| l.trim() == *line),
            "missing {line:?} in\n{text}"
        );
    }
}

/// How many lines of `text` read `line`, whitespace runs counted as one space.
fn count_lines(text: &str, line: &str) -> usize {
    let want = line.split_whitespace().collect::<Vec<_>>().join(" ");
    text.lines()
        .filter(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") == want)
        .count()
}

/// A point of the collector contract and the lines that keep it, each with how often it
/// appears in the configuration.
type ContractPoint = (&'static str, Vec<(String, usize)>);

/// Issue 17, collector parity: both collector types keep the same contract with
/// Elasticsearch, the README's table ("The collector contract") row by row: the write
/// alias, TLS verified with the CA from the generated (managed) or given (external)
/// Secret, the collector user with the password from the generated Secret, dead letters,
/// idempotent retries, the node field, CRI parsing. Fluentd's dead-letter output is a
/// second Elasticsearch output: it must carry the same TLS, user and idempotent create.
#[test]
fn both_collectors_keep_the_same_contract_with_elasticsearch() {
    use meshlogging_operator::api::CollectorType;
    use meshlogging_operator::render::collector::CA_DIR;

    for (example_name, ca_secret) in [
        ("production", names::es_http_certs_secret("mcp-mesh-logs")),
        ("external-elasticsearch", "es-ca".to_string()),
    ] {
        for kind in [CollectorType::FluentBit, CollectorType::Fluentd] {
            let mut ml = example(example_name);
            ml.spec.collector.kind = kind;
            ml.spec.collector.image = None;
            let v = validate(&ml).expect("valid");
            let children = render(&v, &RenderContext::new(&v));
            let (alias, user) = (v.names.alias.clone(), v.names.collector_user());
            let deadletter = v.names.deadletter_index();
            let ca_file = format!("{CA_DIR}/{}", names::CA_CERT_KEY);
            let collector = names::collector(&v.name);
            let (file, contract): (&str, Vec<ContractPoint>) = match kind {
                CollectorType::FluentBit => (
                    "fluent-bit.conf",
                    vec![
                        ("write alias", vec![(format!("Index {alias}"), 1)]),
                        (
                            "TLS with the CA",
                            vec![
                                ("tls On".into(), 1),
                                ("tls.verify On".into(), 1),
                                (format!("tls.ca_file {ca_file}"), 1),
                            ],
                        ),
                        (
                            "credentials",
                            vec![
                                (format!("HTTP_User {user}"), 1),
                                ("HTTP_Passwd ${COLLECTOR_PASSWORD}".into(), 1),
                            ],
                        ),
                        (
                            "dead letters (kept on the node)",
                            vec![
                                ("Retry_Limit 15".into(), 1),
                                ("storage.keep.rejected On".into(), 1),
                            ],
                        ),
                        (
                            "idempotent retries",
                            vec![
                                ("Generate_ID On".into(), 1),
                                ("Write_Operation create".into(), 1),
                            ],
                        ),
                        ("node field", vec![("Name kubernetes".into(), 1)]),
                        ("CRI parsing", vec![("multiline.parser cri".into(), 1)]),
                    ],
                ),
                CollectorType::Fluentd => (
                    "fluent.conf",
                    vec![
                        ("write alias", vec![(format!("index_name '{alias}'"), 1)]),
                        (
                            "TLS with the CA",
                            vec![
                                ("scheme https".into(), 2),
                                ("ssl_verify true".into(), 2),
                                (format!("ca_file {ca_file}"), 2),
                            ],
                        ),
                        (
                            "credentials",
                            vec![
                                (format!("user '{user}'"), 2),
                                ("password \"#{ENV['COLLECTOR_PASSWORD']}\"".into(), 2),
                            ],
                        ),
                        (
                            "dead letters",
                            vec![
                                ("<label @ERROR>".into(), 1),
                                (format!("index_name '{deadletter}'"), 1),
                                ("record ${record.to_json}".into(), 1),
                            ],
                        ),
                        (
                            "idempotent retries",
                            vec![
                                ("@type elasticsearch_genid".into(), 2),
                                ("id_key _hash".into(), 2),
                                ("write_operation create".into(), 2),
                            ],
                        ),
                        ("node field", vec![("@type kubernetes_metadata".into(), 1)]),
                        (
                            "CRI parsing",
                            vec![
                                ("@type cri".into(), 1),
                                ("use_partial_cri_logtag true".into(), 1),
                            ],
                        ),
                    ],
                ),
            };
            let conf = config_file(&children, &collector, file);
            for (point, lines) in &contract {
                for (line, n) in lines {
                    assert_eq!(
                        count_lines(conf, line),
                        *n,
                        "{example_name}, {kind:?}, {point}: {line:?}\n{conf}"
                    );
                }
            }
            // The Fluentd dead-letter output comes after the @ERROR label opens.
            if kind == CollectorType::Fluentd {
                let label = conf.find("<label @ERROR>").expect("label");
                let dead = conf
                    .find(&format!("index_name '{deadletter}'"))
                    .expect("dead-letter output");
                assert!(label < dead, "{conf}");
            }

            // The password from the generated Secret, the CA from its Secret, mounted
            // where the configuration reads it.
            let pod = daemonset(&children)
                .spec
                .as_ref()
                .and_then(|s| s.template.spec.clone())
                .expect("pod");
            let container = &pod.containers[0];
            let secret = container
                .env
                .iter()
                .flatten()
                .find(|e| e.name == "COLLECTOR_PASSWORD")
                .and_then(|e| e.value_from.as_ref()?.secret_key_ref.clone())
                .expect("the password from a Secret");
            assert_eq!(
                (secret.name.as_str(), secret.key.as_str()),
                (
                    names::collector_user_secret(&v.name).as_str(),
                    names::PASSWORD_KEY
                ),
                "{example_name}, {kind:?}"
            );
            let volume = pod
                .volumes
                .iter()
                .flatten()
                .find(|vol| vol.name == "es-ca")
                .and_then(|vol| vol.secret.clone())
                .expect("the CA volume");
            assert_eq!(
                volume.secret_name.as_deref(),
                Some(ca_secret.as_str()),
                "{example_name}, {kind:?}"
            );
            let items: Vec<(String, String)> = volume
                .items
                .iter()
                .flatten()
                .map(|i| (i.key.clone(), i.path.clone()))
                .collect();
            assert_eq!(
                items,
                [(
                    names::CA_CERT_KEY.to_string(),
                    names::CA_CERT_KEY.to_string()
                )],
                "{example_name}, {kind:?}"
            );
            let mount = container
                .volume_mounts
                .iter()
                .flatten()
                .find(|m| m.name == "es-ca")
                .expect("the CA mount");
            assert_eq!(
                (mount.mount_path.as_str(), mount.read_only),
                (CA_DIR, Some(true)),
                "{example_name}, {kind:?}"
            );
        }
    }
}
