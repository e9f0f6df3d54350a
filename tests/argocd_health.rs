//! Operating manifests that must not drift from the code:
//!
//! - the Argo CD health check, in the layout of Argo CD's own `resource_customizations`
//!   (`manifests/argocd/resource_customizations/logging.mcp-mesh.io/MeshLogging/`: `health.lua`,
//!   `health_test.yaml`, `testdata/`), run by Argo CD's own code (`hack/argocd-lua`: argo-cd
//!   v3.2.12's `util/settings` and `util/lua` through gitops-engine's
//!   `health.GetResourceHealth`, as the application controller runs it);
//! - `manifests/argocd/argocd-cm-patch.yaml`, generated from `health.lua`
//!   (`UPDATE_GOLDEN=1 cargo test --test argocd_health` rewrites it) and read by Argo CD's
//!   settings code;
//! - the alerts of `manifests/monitoring/prometheusrule.yaml`, whose metric and label names
//!   are checked against what `meshlogging_operator::metrics::Metrics` renders.
//!
//! `hack/argocd-lua.sh` builds the runner once (Go) into `~/.cache/meshlogging/argocd-lua/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use meshlogging_operator::api::{MeshLoggingStatus, Phase, condition};
use meshlogging_operator::metrics::Metrics;
use meshlogging_operator::reason::Reason;
use meshlogging_testkit::process::tool_path;
use meshlogging_testkit::repo;
use serde_json::Value;

const CHECK_DIR: &str = "manifests/argocd/resource_customizations/logging.mcp-mesh.io/MeshLogging";
const CM_PATCH: &str = "manifests/argocd/argocd-cm-patch.yaml";
const CM_KEY: &str = "resource.customizations.health.logging.mcp-mesh.io_MeshLogging";
const PROMETHEUS_RULE: &str = "manifests/monitoring/prometheusrule.yaml";

/// Health statuses Argo CD accepts from a Lua check (anything else becomes `Unknown`).
const ARGO_STATUSES: [&str; 6] = [
    "Healthy",
    "Progressing",
    "Degraded",
    "Suspended",
    "Missing",
    "Unknown",
];

fn read(relative: &str) -> String {
    let p = repo(relative);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

fn yaml(text: &str, what: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("parse {what} as YAML: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Argo CD's runtime

/// The runner built by `hack/argocd-lua.sh` (once per machine; the script prints its path).
fn argocd_lua() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| tool_path("argocd-lua.sh"))
}

/// Runs the runner: its exit code and the JSON object it printed per resource.
fn run_argocd_lua(args: &[&Path]) -> (i32, Vec<Value>, String) {
    let out = Command::new(argocd_lua())
        .args(args)
        .output()
        .expect("run argocd-lua");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let results = stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("argocd-lua printed {l:?}: {e}"))
        })
        .collect();
    (
        out.status.code().expect("argocd-lua exited by a signal"),
        results,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A scratch folder, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "meshlogging-argocd-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create scratch folder");
        Scratch(dir)
    }

    /// A check folder named `<group>/<kind>` as Argo CD's layout has it, holding `script`.
    fn check(&self, script: &str) -> PathBuf {
        let dir = self.0.join("logging.mcp-mesh.io/MeshLogging");
        std::fs::create_dir_all(&dir).expect("create check folder");
        std::fs::write(dir.join("health.lua"), script).expect("write health.lua");
        dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn summary(results: &[Value]) -> String {
    results
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn health_test_yaml_passes_in_argo_cds_runtime() {
    let dir = repo(CHECK_DIR);
    let (code, results, stderr) = run_argocd_lua(&[
        Path::new("--check"),
        &dir,
        Path::new("--test"),
        &dir.join("health_test.yaml"),
    ]);
    let failed: Vec<&Value> = results.iter().filter(|r| r["ok"] != true).collect();
    assert!(
        code == 0 && failed.is_empty(),
        "Argo CD's runtime disagrees with health_test.yaml (exit {code}):\n{}\n{stderr}",
        summary(&failed.into_iter().cloned().collect::<Vec<_>>())
    );
    assert!(results.len() >= 10, "only {} tests", results.len());
    for r in &results {
        let status = r["status"].as_str().expect("status");
        assert!(ARGO_STATUSES.contains(&status), "{r}");
        assert!(
            !r["message"].as_str().expect("message").is_empty(),
            "a check without a message tells the user nothing: {r}"
        );
    }
    let covered: BTreeSet<&str> = results
        .iter()
        .filter_map(|r| r["status"].as_str())
        .collect();
    for status in ["Healthy", "Progressing", "Degraded", "Suspended"] {
        assert!(covered.contains(status), "no test expects {status}");
    }

    // Every sample in testdata/ is tested, once (Argo CD's layout has no other use for them).
    let inputs: Vec<&str> = results.iter().filter_map(|r| r["input"].as_str()).collect();
    let mut files: Vec<String> = std::fs::read_dir(dir.join("testdata"))
        .expect("read testdata")
        .map(|e| {
            format!(
                "testdata/{}",
                e.expect("entry").file_name().to_string_lossy()
            )
        })
        .collect();
    files.sort();
    let mut tested: Vec<String> = inputs.iter().map(|s| s.to_string()).collect();
    tested.sort();
    assert_eq!(tested, files, "health_test.yaml and testdata/ differ");
}

#[test]
fn argocd_cm_patch_gives_the_same_health_through_argo_cds_settings() {
    let dir = repo(CHECK_DIR);
    let (code, results, stderr) = run_argocd_lua(&[
        Path::new("--argocd-cm"),
        &repo(CM_PATCH),
        Path::new("--test"),
        &dir.join("health_test.yaml"),
    ]);
    let failed: Vec<Value> = results
        .iter()
        .filter(|r| r["ok"] != true)
        .cloned()
        .collect();
    assert!(
        code == 0 && failed.is_empty() && results.len() >= 10,
        "{CM_PATCH} as Argo CD reads it (exit {code}):\n{}\n{stderr}",
        summary(&failed)
    );
}

/// `argocd-cm-patch.yaml` as generated from `health.lua`.
fn generated_cm_patch() -> String {
    let script = read(&format!("{CHECK_DIR}/health.lua"));
    let mut out = String::from(
        "# Argo CD health check for MeshLogging, as a patch of the argocd-cm ConfigMap.\n\
         # GENERATED from resource_customizations/logging.mcp-mesh.io/MeshLogging/health.lua by\n\
         # `UPDATE_GOLDEN=1 cargo test --test argocd_health`; do not edit. See README.md here.\n\
         #\n\
         #   kubectl -n argocd patch configmap argocd-cm --type merge --patch-file manifests/argocd/argocd-cm-patch.yaml\n\
         apiVersion: v1\n\
         kind: ConfigMap\n\
         metadata:\n\
         \x20 name: argocd-cm\n\
         \x20 namespace: argocd\n\
         \x20 labels:\n\
         \x20   app.kubernetes.io/name: argocd-cm\n\
         \x20   app.kubernetes.io/part-of: argocd\n\
         data:\n",
    );
    out.push_str(&format!("  {CM_KEY}: |\n"));
    for line in script.lines() {
        if !line.is_empty() {
            out.push_str("    ");
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[test]
fn argocd_cm_patch_is_generated_from_health_lua() {
    let generated = generated_cm_patch();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(repo(CM_PATCH), &generated).expect("write the argocd-cm patch");
    }
    let patch = yaml(&generated, "the generated patch");
    assert_eq!(
        patch["data"][CM_KEY].as_str(),
        Some(read(&format!("{CHECK_DIR}/health.lua")).as_str()),
        "the generated patch does not carry health.lua unchanged"
    );
    assert!(
        read(CM_PATCH) == generated,
        "{CM_PATCH} is stale: `UPDATE_GOLDEN=1 cargo test --test argocd_health` regenerates it"
    );
}

#[test]
fn argo_cds_runtime_has_no_string_or_math_library() {
    let sample = repo(&format!("{CHECK_DIR}/testdata/healthy.yaml"));
    for script in [
        r#"return { status = string.format("%s", "Healthy") }"#,
        r#"return { status = ("healthy"):upper() }"#,
        r#"return { status = "Healthy", message = tostring(math.max(1, 2)) }"#,
        r#"io.write("x") return { status = "Healthy" }"#,
    ] {
        let scratch = Scratch::new();
        let check = scratch.check(script);
        let (code, results, _) = run_argocd_lua(&[Path::new("--check"), &check, &sample]);
        assert!(
            code == 1 && results.len() == 1 && results[0]["error"].is_string(),
            "Argo CD's VM let a check use a library it does not open: {script}: {}",
            summary(&results)
        );
        assert_eq!(results[0]["status"], "Unknown", "{script}");
    }
    let scratch = Scratch::new();
    let check = scratch.check(
        r#"local parts = { obj.metadata.name, tostring(obj.metadata.generation + 1), tostring(#obj.status.conditions) }
return { status = "Healthy", message = table.concat(parts, "|") }"#,
    );
    let (code, results, stderr) = run_argocd_lua(&[Path::new("--check"), &check, &sample]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(results[0]["status"], "Healthy");
    assert_eq!(results[0]["message"], "mesh-logs|3|6");
}

#[test]
fn a_wrong_expectation_fails_the_run() {
    let scratch = Scratch::new();
    let check = scratch.check(&read(&format!("{CHECK_DIR}/health.lua")));
    std::fs::create_dir_all(check.join("testdata")).expect("testdata");
    std::fs::copy(
        repo(&format!("{CHECK_DIR}/testdata/degraded_invalidSpec.yaml")),
        check.join("testdata/x.yaml"),
    )
    .expect("copy sample");
    let tests = check.join("health_test.yaml");
    std::fs::write(
        &tests,
        "tests:\n- healthStatus:\n    status: Healthy\n    message: the logging stack is ready\n  inputPath: testdata/x.yaml\n",
    )
    .expect("write health_test.yaml");
    let (code, results, _) =
        run_argocd_lua(&[Path::new("--check"), &check, Path::new("--test"), &tests]);
    assert_eq!(code, 1);
    assert_eq!(results[0]["ok"], false);
    assert_eq!(results[0]["status"], "Degraded");
}

#[test]
fn application_examples_point_at_what_this_repository_ships() {
    let operator = yaml(
        &read("manifests/argocd/application-operator.yaml"),
        "application-operator.yaml",
    );
    let mesh = yaml(
        &read("manifests/argocd/application-meshlogging.yaml"),
        "application-meshlogging.yaml",
    );
    for app in [&operator, &mesh] {
        assert_eq!(app["apiVersion"], "argoproj.io/v1alpha1");
        assert_eq!(app["kind"], "Application");
        let source = app["spec"]["source"]["path"]
            .as_str()
            .expect("spec.source.path");
        assert!(
            repo(source).is_dir(),
            "{source} is not a folder of this repository"
        );
    }
    // The operator's chart, and the example it deploys.
    assert!(
        repo(
            operator["spec"]["source"]["path"]
                .as_str()
                .unwrap_or_default()
        )
        .join("Chart.yaml")
        .is_file()
    );
    let include = mesh["spec"]["source"]["directory"]["include"]
        .as_str()
        .expect("include");
    let example = repo(mesh["spec"]["source"]["path"].as_str().unwrap_or_default()).join(include);
    let example: Value = yaml(
        &std::fs::read_to_string(&example).expect("example"),
        include,
    );
    assert_eq!(example["kind"], "MeshLogging");

    // The CRD and the operator before the resources: a lower sync wave.
    let wave = |app: &Value| -> i32 {
        app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
            .as_str()
            .expect("sync-wave")
            .parse()
            .expect("a number")
    };
    assert!(wave(&operator) < wave(&mesh));
    let options: Vec<&str> = mesh["spec"]["syncPolicy"]["syncOptions"]
        .as_array()
        .expect("syncOptions")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(options.contains(&"SkipDryRunOnMissingResource=true"));
    // The API server defaults spec fields (the CRD's schema defaults): compare server-side.
    assert!(read("crds/meshlogging.yaml").contains("default:"));
    assert_eq!(
        mesh["metadata"]["annotations"]["argocd.argoproj.io/compare-options"],
        "ServerSideDiff=true"
    );
}

// ---------------------------------------------------------------------------------------------
// PrometheusRule

fn prometheus_rules() -> Vec<Value> {
    let rule = yaml(&read(PROMETHEUS_RULE), PROMETHEUS_RULE);
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["kind"], "PrometheusRule");
    let groups = rule["spec"]["groups"].as_array().expect("spec.groups");
    groups
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").iter().cloned())
        .collect()
}

fn text_of<'a>(rule: &'a Value, pointer: &str) -> &'a str {
    rule.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("rule {} has no {pointer}", rule["alert"]))
}

#[test]
fn prometheus_rule_has_the_alerts_users_need() {
    let rules = prometheus_rules();
    let alerts: BTreeMap<&str, &Value> = rules.iter().map(|r| (text_of(r, "/alert"), r)).collect();
    let expected = [
        ("MeshLoggingOperatorDown", Some("5m")),
        ("MeshLoggingReconcileErrors", Some("15m")),
        ("MeshLoggingElasticsearchNotReady", Some("10m")),
        ("MeshLoggingCollectorNotReady", Some("15m")),
        ("MeshLoggingDashboardsNotReady", Some("30m")),
        ("MeshLoggingNotReady", Some("30m")),
        ("MeshLoggingElasticsearchSyncFailures", None),
        ("MeshLoggingElasticsearchBacklog", Some("10m")),
        ("MeshLoggingNoRecentLogs", Some("15m")),
        ("MeshLoggingLogsNotFlowing", Some("30m")),
        ("MeshLoggingIndexLifecycleErrors", Some("30m")),
        ("MeshLoggingDiskPressure", Some("15m")),
        ("MeshLoggingSnapshotFailing", Some("1h")),
        ("MeshLoggingSnapshotsStale", Some("1h")),
        ("MeshLoggingSnapshotsUnhealthy", Some("1h")),
    ];
    assert_eq!(
        alerts.keys().copied().collect::<BTreeSet<_>>(),
        expected.iter().map(|(a, _)| *a).collect::<BTreeSet<_>>()
    );
    for (alert, wait) in expected {
        let rule = alerts[alert];
        assert_eq!(rule["for"].as_str(), wait, "{alert}: `for`");
        let severity = text_of(rule, "/labels/severity");
        assert!(
            ["critical", "warning"].contains(&severity),
            "{alert}: severity {severity}"
        );
        let summary = text_of(rule, "/annotations/summary");
        let description = text_of(rule, "/annotations/description");
        if text_of(rule, "/expr").contains("meshlogging_condition") {
            for text in [summary, description] {
                assert!(
                    text.contains("{{ $labels.namespace }}/{{ $labels.name }}"),
                    "{alert}: does not name the resource: {text}"
                );
            }
        }
    }
    let es = text_of(
        alerts["MeshLoggingElasticsearchNotReady"],
        "/annotations/description",
    );
    assert!(
        es.contains("red"),
        "the Elasticsearch alert should mention red health: {es}"
    );
}

/// A PromQL label matcher: label, operator (`=`, `!=`, `=~`, `!~`), value.
type Matcher = (String, String, String);

/// One sample of the text exposition format: metric name and labels.
type Sample = (String, BTreeMap<String, String>);

/// Parses `name{a="x",b="y"} value` lines, skipping comments.
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            let name = line[..end].to_string();
            let labels = if line[end..].starts_with('{') {
                let (matchers, _) = parse_matchers(&line[end + 1..]);
                matchers.into_iter().map(|(k, _, v)| (k, v)).collect()
            } else {
                BTreeMap::new()
            };
            (name, labels)
        })
        .collect()
}

/// Parses `a="x", b!~"y"}` (the text after `{`): the matchers and the byte length consumed,
/// closing brace included.
fn parse_matchers(s: &str) -> (Vec<Matcher>, usize) {
    let mut matchers = Vec::new();
    let mut chars = s.char_indices().peekable();
    loop {
        while chars
            .next_if(|(_, c)| c.is_whitespace() || *c == ',')
            .is_some()
        {}
        match chars.peek() {
            Some((i, '}')) => return (matchers, i + 1),
            None => panic!("unterminated label matchers: {s}"),
            _ => {}
        }
        let mut name = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| c.is_alphanumeric() || *c == '_') {
            name.push(c);
        }
        let mut op = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| matches!(c, '=' | '!' | '~')) {
            op.push(c);
        }
        assert!(
            chars.next().is_some_and(|(_, c)| c == '"'),
            "expected a quoted value in {s}"
        );
        let mut value = String::new();
        loop {
            match chars.next() {
                Some((_, '\\')) => value.extend(chars.next().map(|(_, c)| c)),
                Some((_, '"')) => break,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value in {s}"),
            }
        }
        assert!(
            !name.is_empty() && !op.is_empty(),
            "bad label matcher in {s}"
        );
        matchers.push((name, op, value));
    }
}

/// The `meshlogging_*` selectors of a PromQL expression, with their label matchers.
fn selectors(expr: &str) -> Vec<(String, Vec<Matcher>)> {
    let mut found = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find("meshlogging_") {
        let preceded_by_ident = rest[..start]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let after = &rest[start..];
        let end = after
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(after.len());
        let name = &after[..end];
        let (matchers, used) = match after[end..].strip_prefix('{') {
            Some(inner) => {
                let (m, n) = parse_matchers(inner);
                (m, n + 1)
            }
            None => (Vec::new(), 0),
        };
        if !preceded_by_ident {
            found.push((name.to_string(), matchers));
        }
        rest = &after[end + used..];
    }
    found
}

/// Labels listed in `by (...)` clauses.
fn grouping_labels(expr: &str) -> Option<BTreeSet<String>> {
    let mut labels: Option<BTreeSet<String>> = None;
    for part in expr.split("by (").skip(1) {
        let list = part.split(')').next().unwrap_or_default();
        labels.get_or_insert_default().extend(
            list.split(',')
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty()),
        );
    }
    labels
}

/// `X` of every `$labels.X` in a template.
fn template_labels(text: &str) -> BTreeSet<String> {
    text.split("$labels.")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// Labels Prometheus adds to every scraped series (job, instance, and the Prometheus
/// Operator's target labels); `namespace` is the operator's unless the series has its own.
const TARGET_LABELS: [&str; 7] = [
    "job",
    "instance",
    "namespace",
    "pod",
    "service",
    "container",
    "endpoint",
];

/// The operator's metrics after one of everything, conditions of every type included.
fn rendered_metrics() -> String {
    let metrics = Metrics::default();
    metrics.reconciled("success");
    metrics.reconciled("error");
    metrics.es_request("cluster_health", Some(200));
    metrics.es_request("ilm", None);
    metrics.sync_failure("ilm_policy", Reason::Rejected);
    let at = Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
    let status = MeshLoggingStatus {
        observed_generation: Some(1),
        phase: Some(Phase::Degraded),
        conditions: condition::ALL
            .iter()
            .map(|type_| Condition {
                type_: type_.to_string(),
                status: "False".to_string(),
                reason: "Progressing".to_string(),
                message: String::new(),
                observed_generation: Some(1),
                last_transition_time: at.clone(),
            })
            .collect(),
        ..Default::default()
    };
    metrics.observe_status("logging", "mesh-logs", &status);
    metrics.newest_log_age(
        "logging",
        "mesh-logs",
        Some(std::time::Duration::from_secs(60)),
    );
    metrics.ilm_errors("logging", "mesh-logs", Some(1));
    metrics.snapshot_policy(
        "logging",
        "mesh-logs",
        "nightly",
        Some(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        true,
    );
    drop(metrics.reconcile_timer());
    metrics.render()
}

#[test]
fn prometheus_rule_references_only_metrics_and_labels_the_operator_exports() {
    let exported = samples(&rendered_metrics());
    let mut referenced = BTreeSet::new();
    for rule in prometheus_rules() {
        let alert = text_of(&rule, "/alert");
        let expr = text_of(&rule, "/expr");
        let mut available: BTreeSet<String> = TARGET_LABELS.iter().map(|l| l.to_string()).collect();
        for (name, matchers) in selectors(expr) {
            let series: Vec<&BTreeMap<String, String>> = exported
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, l)| l)
                .collect();
            assert!(
                !series.is_empty(),
                "{alert}: the operator exports no metric {name}"
            );
            for (label, op, value) in matchers {
                let ok = if op == "=" {
                    series.iter().any(|l| l.get(&label) == Some(&value))
                } else {
                    series.iter().any(|l| l.contains_key(&label))
                };
                assert!(
                    ok,
                    "{alert}: no {name} series matches {label}{op}\"{value}\""
                );
            }
            available.extend(series.iter().flat_map(|l| l.keys().cloned()));
            referenced.insert(name);
        }
        if let Some(by) = grouping_labels(expr) {
            let unknown: Vec<&String> = by.difference(&available).collect();
            assert!(
                unknown.is_empty(),
                "{alert}: groups by labels no series has: {unknown:?}"
            );
            available = by;
        }
        for text in [
            text_of(&rule, "/annotations/summary"),
            text_of(&rule, "/annotations/description"),
        ] {
            let missing: Vec<String> = template_labels(text)
                .difference(&available)
                .cloned()
                .collect();
            assert!(
                missing.is_empty(),
                "{alert}: annotations use labels the alert lacks: {missing:?}"
            );
        }
    }
    for name in [
        "meshlogging_reconciliations_total",
        "meshlogging_condition",
        "meshlogging_elasticsearch_sync_failures_total",
    ] {
        assert!(referenced.contains(name), "no alert uses {name}");
    }
}

#[test]
fn promql_helpers_find_selectors_and_labels() {
    let expr = r#"sum by (namespace, kind) (increase(meshlogging_x_total{a="1", b!~"x\"y"}[5m])) / meshlogging_y"#;
    assert_eq!(
        selectors(expr),
        vec![
            (
                "meshlogging_x_total".to_string(),
                vec![
                    ("a".to_string(), "=".to_string(), "1".to_string()),
                    ("b".to_string(), "!~".to_string(), "x\"y".to_string()),
                ]
            ),
            ("meshlogging_y".to_string(), vec![]),
        ]
    );
    assert_eq!(
        grouping_labels(expr),
        Some(BTreeSet::from([
            "namespace".to_string(),
            "kind".to_string()
        ]))
    );
    assert_eq!(
        template_labels("{{ $labels.namespace }}/{{ $labels.name }}"),
        BTreeSet::from(["namespace".to_string(), "name".to_string()])
    );
    let parsed = samples("# TYPE m counter\nm_total{result=\"error\"} 1\nplain 2\n");
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[0].1.get("result").map(String::as_str), Some("error"));
}
