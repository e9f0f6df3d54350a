//! The Helm chart `charts/meshlogging-operator`, with `helm` built from the `helm.sh/helm/v3`
//! Go module by `hack/helm.sh` (cached under `~/.cache/meshlogging/helm/`):
//!
//! - `helm lint` passes, for the defaults and for other value sets;
//! - with default values it renders the objects `kubectl kustomize manifests/` renders (one
//!   source of truth; the Namespace and Helm's own labels aside), and its monitoring objects
//!   are those of `manifests/monitoring/`; its CRD is the committed one;
//! - the values change what they say (watched namespace with namespaced RBAC, leader
//!   election, log format, concurrency, image, resources), and bad combinations are refused;
//! - `helm install` on the test API server gives an operator that, running as the chart's
//!   ServiceAccount with the chart's RBAC, brings a MeshLogging to Ready and deletes it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use k8s_openapi::api::apps::v1::DaemonSet;
use kube::api::{Api, PostParams};
use meshlogging_operator::api::MeshLogging;
use meshlogging_testkit::kubectl::{self, text};
use meshlogging_testkit::operator::{self, client_from};
use meshlogging_testkit::process::tool_path;
use meshlogging_testkit::sim::{self, ELASTIC_PASSWORD, SimEndpoint};
use meshlogging_testkit::{Setup, example, repo, resource};
use serde_json::Value;

const CHART: &str = "charts/meshlogging-operator";
const RELEASE_NS: &str = "meshlogging-system";

/// Labels Helm charts add for their own bookkeeping; `manifests/` has no use for them.
const HELM_LABELS: [&str; 3] = [
    "helm.sh/chart",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/instance",
];

/// `helm`, built once by `hack/helm.sh`.
fn helm() -> Command {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    let bin = BIN.get_or_init(|| tool_path("helm.sh"));
    let mut cmd = Command::new(bin);
    // Keep helm's own config, cache and data out of the user's home.
    let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("helm-home");
    for (var, dir) in [
        ("HELM_CONFIG_HOME", "config"),
        ("HELM_CACHE_HOME", "cache"),
        ("HELM_DATA_HOME", "data"),
    ] {
        cmd.env(var, home.join(dir));
    }
    cmd
}

fn documents(yaml_text: &str) -> Vec<Value> {
    yaml_text
        .split("\n---")
        .filter_map(|doc| {
            let value: Value = serde_saphyr::from_str(doc)
                .unwrap_or_else(|e| panic!("parse rendered YAML: {e}\n{doc}"));
            (!value.is_null()).then_some(value)
        })
        .collect()
}

/// `helm template` with `args` (`--set ...`): the objects, or what helm said when it refused.
fn template(args: &[&str]) -> Result<Vec<Value>, String> {
    let out = helm()
        .args(["template", "meshlogging-operator"])
        .arg(repo(CHART))
        .args(["--namespace", RELEASE_NS, "--include-crds"])
        .args(args)
        .output()
        .expect("helm template");
    if !out.status.success() {
        return Err(text(&out));
    }
    Ok(documents(&String::from_utf8_lossy(&out.stdout)))
}

fn kustomize(dir: &str) -> Vec<Value> {
    let out = Command::new("kubectl")
        .args(["kustomize"])
        .arg(repo(dir))
        .output()
        .expect("kubectl kustomize");
    assert!(out.status.success(), "{}", text(&out));
    documents(&String::from_utf8_lossy(&out.stdout))
}

fn key(object: &Value) -> String {
    format!(
        "{} {} {}/{}",
        object["apiVersion"].as_str().unwrap_or_default(),
        object["kind"].as_str().unwrap_or_default(),
        object["metadata"]["namespace"].as_str().unwrap_or_default(),
        object["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// `100.0` and `100` are the same number to the API server (YAML writers differ).
fn normalize_numbers(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                && n.is_f64()
            {
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_numbers),
        Value::Object(map) => map.values_mut().for_each(normalize_numbers),
        _ => {}
    }
}

/// Where two objects first differ, as a JSON pointer with both values.
fn difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => x.keys().chain(y.keys()).find_map(|k| {
            difference(
                x.get(k).unwrap_or(&Value::Null),
                y.get(k).unwrap_or(&Value::Null),
                &format!("{at}/{k}"),
            )
        }),
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| difference(p, q, &format!("{at}/{i}"))),
        _ => (a != b).then(|| format!("{at}: {a} vs {b}")),
    }
}

/// Objects by key, Helm's bookkeeping labels removed.
fn by_key(objects: Vec<Value>) -> BTreeMap<String, Value> {
    objects
        .into_iter()
        .map(|mut object| {
            normalize_numbers(&mut object);
            for pointer in ["/metadata/labels", "/spec/template/metadata/labels"] {
                if let Some(Value::Object(labels)) = object.pointer_mut(pointer) {
                    for label in HELM_LABELS {
                        labels.remove(label);
                    }
                }
            }
            (key(&object), object)
        })
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
}

fn args_of(objects: &[Value]) -> Vec<String> {
    let deployment = find(objects, "Deployment", "meshlogging-operator").expect("Deployment");
    deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("arg").to_string())
        .collect()
}

fn resources_of(rules: &Value) -> Vec<String> {
    rules
        .as_array()
        .expect("rules")
        .iter()
        .flat_map(|r| r["resources"].as_array().expect("resources").clone())
        .map(|r| r.as_str().expect("resource").to_string())
        .collect()
}

#[test]
fn helm_lint_passes_for_every_value_set() {
    for set in [
        None,
        Some("watchNamespace=apps"),
        Some("leaderElection=false,replicaCount=1,logFormat=text"),
        Some("serviceMonitor.enabled=true,prometheusRule.enabled=true"),
        Some("concurrency=8,resyncSeconds=60,image.tag=0.2.0"),
    ] {
        let mut cmd = helm();
        cmd.args(["lint", "--strict"]).arg(repo(CHART));
        if let Some(set) = set {
            cmd.args(["--set", set]);
        }
        let out = cmd.output().expect("helm lint");
        assert!(
            out.status.success(),
            "helm lint --set {set:?}: {}",
            text(&out)
        );
    }
}

#[test]
fn default_values_render_the_objects_of_manifests() {
    let chart = by_key(template(&[]).expect("helm template"));
    let mut manifests = by_key(kustomize("manifests"));
    // Helm does not own the release namespace (`helm install --create-namespace`).
    let namespace = manifests
        .remove(&format!("v1 Namespace /{RELEASE_NS}"))
        .expect("manifests/ has the Namespace");
    assert_eq!(namespace["metadata"]["name"], RELEASE_NS);

    let only_chart: Vec<&String> = chart
        .keys()
        .filter(|k| !manifests.contains_key(*k))
        .collect();
    let only_manifests: Vec<&String> = manifests
        .keys()
        .filter(|k| !chart.contains_key(*k))
        .collect();
    assert!(
        only_chart.is_empty() && only_manifests.is_empty(),
        "only in the chart: {only_chart:?}; only in manifests/: {only_manifests:?}"
    );
    for (key, object) in &manifests {
        assert_eq!(
            difference(&chart[key], object, ""),
            None,
            "{key} differs (chart vs manifests/)"
        );
    }
}

#[test]
fn monitoring_values_render_the_objects_of_manifests_monitoring() {
    let chart = by_key(
        template(&[
            "--set",
            "serviceMonitor.enabled=true,prometheusRule.enabled=true",
        ])
        .expect("helm template"),
    );
    for (key, object) in by_key(kustomize("manifests/monitoring")) {
        let rendered = chart
            .get(&key)
            .unwrap_or_else(|| panic!("the chart does not render {key}"));
        assert_eq!(
            difference(rendered, &object, ""),
            None,
            "{key} differs (chart vs manifests/monitoring)"
        );
    }
    let defaults = template(&[]).expect("helm template");
    assert!(
        defaults
            .iter()
            .all(|o| o["kind"] != "ServiceMonitor" && o["kind"] != "PrometheusRule"),
        "monitoring objects need the Prometheus Operator's CRDs: off by default"
    );
}

#[test]
fn chart_crd_is_the_committed_crd() {
    let chart = std::fs::read_to_string(repo(&format!("{CHART}/crds/meshlogging.yaml")))
        .expect("chart CRD");
    let committed = std::fs::read_to_string(repo("crds/meshlogging.yaml")).expect("CRD");
    assert!(
        chart == committed,
        "{CHART}/crds/meshlogging.yaml differs from crds/meshlogging.yaml: run `make crd`"
    );
}

#[test]
fn a_watched_namespace_gets_namespaced_rbac() {
    let objects = template(&["--set", "watchNamespace=apps"]).expect("helm template");
    assert!(args_of(&objects).contains(&"--namespace=apps".to_string()));

    let role = objects
        .iter()
        .find(|o| o["kind"] == "Role" && o["metadata"]["name"] == "meshlogging-operator")
        .expect("a Role for the watched namespace");
    assert_eq!(role["metadata"]["namespace"], "apps");
    let namespaced = resources_of(&role["rules"]);
    for resource in [
        "meshloggings",
        "meshloggings/status",
        "statefulsets",
        "secrets",
        "events",
    ] {
        assert!(namespaced.contains(&resource.to_string()), "{resource}");
    }
    let binding = objects
        .iter()
        .find(|o| o["kind"] == "RoleBinding" && o["metadata"]["name"] == "meshlogging-operator")
        .expect("RoleBinding");
    assert_eq!(binding["metadata"]["namespace"], "apps");
    assert_eq!(binding["subjects"][0]["namespace"], RELEASE_NS);

    // Cluster-wide, only the collector's ClusterRoleBinding and the StorageClasses (read
    // before a volume expansion) remain.
    let cluster_role = find(&objects, "ClusterRole", "meshlogging-operator").expect("ClusterRole");
    assert_eq!(
        resources_of(&cluster_role["rules"]),
        ["clusterrolebindings", "storageclasses", "clusterroles"]
    );

    // All namespaces: everything in the ClusterRole, no Role besides leader election.
    let objects = template(&[]).expect("helm template");
    assert!(
        !args_of(&objects)
            .iter()
            .any(|a| a.starts_with("--namespace"))
    );
    let cluster_role = find(&objects, "ClusterRole", "meshlogging-operator").expect("ClusterRole");
    assert!(resources_of(&cluster_role["rules"]).contains(&"meshloggings".to_string()));
    assert!(find(&objects, "Role", "meshlogging-operator").is_none());
}

#[test]
fn values_reach_the_deployment() {
    let objects = template(&[
        "--set",
        "logFormat=text,concurrency=8,resyncSeconds=60,image.tag=0.2.0,replicaCount=3",
        "--set",
        "resources.limits.memory=512Mi,collectorClusterRole=my-collector",
    ])
    .expect("helm template");
    assert_eq!(
        args_of(&objects),
        [
            "run",
            "--log-format=text",
            "--concurrency=8",
            "--resync-secs=60",
            "--collector-cluster-role=my-collector"
        ]
    );
    let deployment = find(&objects, "Deployment", "meshlogging-operator").expect("Deployment");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["image"],
        "ghcr.io/mcp-mesh/meshlogging-operator:0.2.0"
    );
    assert_eq!(container["resources"]["limits"]["memory"], "512Mi");
    let collector = find(&objects, "ClusterRole", "my-collector").expect("collector ClusterRole");
    assert_eq!(collector["rules"][0]["resources"][0], "pods");
    let operator_role = find(&objects, "ClusterRole", "meshlogging-operator").expect("ClusterRole");
    assert!(
        operator_role["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .any(|r| r["verbs"][0] == "bind" && r["resourceNames"][0] == "my-collector"),
        "the operator may bind the renamed collector role"
    );

    let objects = template(&["--set", "leaderElection=false,replicaCount=1"]).expect("template");
    assert!(args_of(&objects).contains(&"--leader-election=false".to_string()));
    assert!(find(&objects, "Role", "meshlogging-operator-leader-election").is_none());
}

#[test]
fn bad_values_are_refused_with_the_reason() {
    let e =
        template(&["--set", "leaderElection=false"]).expect_err("two replicas without a leader");
    assert!(
        e.contains("leaderElection: false needs replicaCount: 1"),
        "{e}"
    );
    let e = template(&["--set", "logFormat=xml"]).expect_err("unknown log format");
    assert!(e.contains("logFormat must be text or json"), "{e}");
}

#[tokio::test]
async fn helm_install_gives_a_working_operator_with_the_charts_rbac() {
    let Setup {
        server,
        client: admin,
        ns: watched,
    } = Setup::builder("helm").crd(false).build().await;
    let kubeconfig = &server.kubeconfig;

    // Install as a user would, restricted to one namespace (the strictest RBAC).
    let out = helm()
        .env("KUBECONFIG", kubeconfig)
        .args(["install", "meshlogging-operator"])
        .arg(repo(CHART))
        .args(["--namespace", RELEASE_NS, "--create-namespace"])
        .args(["--set", &format!("watchNamespace={watched}")])
        .output()
        .expect("helm install");
    assert!(out.status.success(), "helm install: {}", text(&out));
    let out = helm()
        .env("KUBECONFIG", kubeconfig)
        .args(["status", "meshlogging-operator", "--namespace", RELEASE_NS])
        .output()
        .expect("helm status");
    assert!(
        text(&out).contains("STATUS: deployed"),
        "helm status: {}",
        text(&out)
    );
    // The CRD, from the chart's crds/.
    kubectl::wait_crd_established(server).await;

    // The chart's ServiceAccount, as the Deployment would run (no kubelet here).
    let token = kubectl::token(server, "meshlogging-operator", RELEASE_NS);
    let operator_client = client_from(
        &server.kubeconfig_for_token("helm-operator", &token),
        "helm-operator",
    )
    .await;

    let sim = sim::green(ELASTIC_PASSWORD).await;
    let options = operator::options(
        "helm-operator",
        operator::settings(&watched),
        Some(RELEASE_NS),
    );
    let running = operator::run_as(operator_client, options, Arc::new(SimEndpoint::new(&sim)));

    let api: Api<MeshLogging> = Api::namespaced(admin.clone(), &watched);
    api.create(&PostParams::default(), &example("minimal.yaml"))
        .await
        .expect("create MeshLogging");
    let name = "mesh-logs";
    resource::wait_ready(&admin, &watched, name, "Ready=True with the chart's RBAC").await;
    let collectors: Api<DaemonSet> = Api::namespaced(admin.clone(), &watched);
    assert!(
        collectors
            .get_opt(&format!("{name}-collector"))
            .await
            .expect("get collector")
            .is_some(),
        "the collector DaemonSet exists"
    );

    resource::delete_and_wait(
        &admin,
        &watched,
        name,
        "deleted (finalizer removed with the chart's RBAC)",
    )
    .await;
    running.stop().await;

    let out = helm()
        .env("KUBECONFIG", kubeconfig)
        .args([
            "uninstall",
            "meshlogging-operator",
            "--namespace",
            RELEASE_NS,
        ])
        .output()
        .expect("helm uninstall");
    assert!(out.status.success(), "helm uninstall: {}", text(&out));
}
