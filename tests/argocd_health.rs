//! Operating manifests that must not drift from the code:
//!
//! - the Argo CD health check `manifests/argocd/health.lua`, run by a real Lua 5.1 interpreter
//!   (`lua5.1`, Argo CD's dialect) against the sample resources in `tests/fixtures/argocd/`,
//!   each of which states the health it expects (`# expect: ...`, `# message: ...`);
//! - its copy in `manifests/argocd/argocd-cm-patch.yaml`;
//! - the alerts of `manifests/monitoring/prometheusrule.yaml`, whose metric and label names
//!   are checked against what `meshlogging_operator::metrics::Metrics` renders.
//!
//! `lua5.1` must be installed (`apt-get install lua5.1`); these tests fail without it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use meshlogging_operator::api::{MeshLoggingStatus, Phase, condition};
use meshlogging_operator::metrics::Metrics;
use serde_json::{Value, json};

const HEALTH_LUA: &str = "manifests/argocd/health.lua";
const CM_PATCH: &str = "manifests/argocd/argocd-cm-patch.yaml";
const CM_KEY: &str = "resource.customizations.health.logging.mcp-mesh.io_MeshLogging";
const FIXTURES: &str = "tests/fixtures/argocd";
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

fn path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(relative: &str) -> String {
    let p = path(relative);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

fn yaml(text: &str, what: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("parse {what} as YAML: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Lua harness

/// Appends `s` as a Lua 5.1 string literal. Control characters use three-digit decimal escapes,
/// so a following digit cannot extend them; other characters, UTF-8 included, pass as they are
/// (Lua strings are 8-bit clean).
fn lua_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\{:03}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `value` as a Lua table constructor: the table Argo CD builds from the resource
/// (objects keyed by string, arrays 1-based, JSON null absent, numbers as Lua numbers).
fn lua_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("nil"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => lua_string(s, out),
        Value::Array(items) => {
            out.push('{');
            for item in items {
                lua_value(item, out);
                out.push_str(", ");
            }
            out.push('}');
        }
        Value::Object(map) => {
            out.push('{');
            for (key, item) in map {
                out.push('[');
                lua_string(key, out);
                out.push_str("] = ");
                lua_value(item, out);
                out.push_str(", ");
            }
            out.push('}');
        }
    }
}

/// The program fed to `lua5.1`: Argo CD's sandbox, the global `obj`, the check wrapped in a
/// function (its top-level `return hs` becomes the function's result), then the result printed
/// as `status`, newline, `message`.
fn lua_program(script: &str, obj: &Value) -> String {
    let mut program = String::from(
        "-- Argo CD runs custom health checks with the base, table and package libraries only\n\
         -- (plus a reduced os): no string, math, io or debug library, and no string methods.\n\
         local write, type, tostring, error = io.write, type, tostring, error\n\
         getmetatable(\"\").__index = nil\n\
         string, math, io, os, debug, coroutine = nil, nil, nil, nil, nil, nil\n\
         obj = ",
    );
    lua_value(obj, &mut program);
    program.push_str("\nlocal function check()\n");
    program.push_str(script);
    program.push_str(
        "\nend\n\
         local hs = check()\n\
         if type(hs) ~= \"table\" then error(\"the check returned \" .. type(hs) .. \", not a table\") end\n\
         write(tostring(hs.status), \"\\n\", tostring(hs.message))\n",
    );
    program
}

/// Runs `script` with `obj` under `lua5.1`: `Ok((status, message))`, or `Err` with what Lua
/// printed when the script failed. Panics when `lua5.1` is not installed.
fn run_lua(script: &str, obj: &Value) -> Result<(String, String), String> {
    let program = lua_program(script, obj);
    let mut child = match Command::new("lua5.1")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "lua5.1 is not installed; the Argo CD health check is tested with a real Lua 5.1 \
             interpreter: run `apt-get install lua5.1` (CI installs it in .ci/run)"
        ),
        Err(e) => panic!("start lua5.1: {e}"),
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(program.as_bytes())
        .expect("write the program to lua5.1");
    let output = child.wait_with_output().expect("wait for lua5.1");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(format!(
            "lua5.1 exited with {}: {}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            stdout
        ));
    }
    match stdout.split_once('\n') {
        Some((status, message)) => Ok((status.to_string(), message.to_string())),
        None => Err(format!("unexpected output from lua5.1: {stdout:?}")),
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures

struct Fixture {
    name: String,
    expect: String,
    message_contains: Option<String>,
    message_exact: Option<String>,
    obj: Value,
}

fn fixtures() -> Vec<Fixture> {
    let dir = path(FIXTURES);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let name = file
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&file).expect("read fixture");
            let directive = |key: &str| {
                let prefix = format!("# {key}:");
                let values: Vec<String> = text
                    .lines()
                    .filter_map(|l| l.strip_prefix(&prefix))
                    .map(|v| v.trim().to_string())
                    .collect();
                assert!(values.len() <= 1, "{name}: more than one `{prefix}` line");
                values.into_iter().next()
            };
            let expect = directive("expect")
                .unwrap_or_else(|| panic!("{name}: no `# expect: <status>` line"));
            assert!(
                ARGO_STATUSES.contains(&expect.as_str()),
                "{name}: `# expect: {expect}` is not an Argo CD health status"
            );
            Fixture {
                expect,
                message_contains: directive("message"),
                message_exact: directive("exact-message"),
                obj: yaml(&text, &name),
                name,
            }
        })
        .collect()
}

#[test]
fn health_check_gives_every_fixture_its_expected_status() {
    let script = read(HEALTH_LUA);
    let fixtures = fixtures();
    assert!(
        fixtures.len() >= 10,
        "only {} fixtures in {FIXTURES}",
        fixtures.len()
    );

    let mut failures = Vec::new();
    for f in &fixtures {
        assert!(
            f.message_contains.is_some() || f.message_exact.is_some(),
            "{}: no `# message:` or `# exact-message:` line",
            f.name
        );
        let (status, message) = match run_lua(&script, &f.obj) {
            Ok(result) => result,
            Err(e) => {
                failures.push(format!("{}: the check failed: {e}", f.name));
                continue;
            }
        };
        if !ARGO_STATUSES.contains(&status.as_str()) {
            failures.push(format!(
                "{}: {status:?} is not a status Argo CD accepts",
                f.name
            ));
        }
        if status != f.expect {
            failures.push(format!(
                "{}: expected {}, got {status} ({message})",
                f.name, f.expect
            ));
        }
        if let Some(part) = &f.message_contains
            && !message.contains(part.as_str())
        {
            failures.push(format!(
                "{}: message {message:?} does not contain {part:?}",
                f.name
            ));
        }
        if let Some(exact) = &f.message_exact
            && message != *exact
        {
            failures.push(format!("{}: message {message:?} is not {exact:?}", f.name));
        }
    }
    assert!(
        failures.is_empty(),
        "health check mismatches:\n{}",
        failures.join("\n")
    );

    let covered: BTreeSet<&str> = fixtures.iter().map(|f| f.expect.as_str()).collect();
    for status in ["Healthy", "Progressing", "Degraded", "Suspended"] {
        assert!(covered.contains(status), "no fixture expects {status}");
    }
}

#[test]
fn argocd_cm_patch_embeds_health_lua_unchanged() {
    let script = read(HEALTH_LUA);
    let patch = yaml(&read(CM_PATCH), CM_PATCH);
    assert_eq!(patch["apiVersion"], "v1");
    assert_eq!(patch["kind"], "ConfigMap");
    assert_eq!(patch["metadata"]["name"], "argocd-cm");
    let embedded = patch["data"][CM_KEY]
        .as_str()
        .unwrap_or_else(|| panic!("{CM_PATCH} has no data.{CM_KEY}"));
    assert!(
        embedded == script,
        "{CM_PATCH} embeds a different script than {HEALTH_LUA}; regenerate the data entry with \
         `sed 's/^\\(.\\)/    \\1/' {HEALTH_LUA}` (four spaces of indentation)"
    );
}

#[test]
fn harness_passes_resources_to_lua_unchanged() {
    let tricky =
        "quote \" backslash \\ newline\nreturn\r tab\t bell\u{7} digit-after-control\u{1}2 é ✓ ]]";
    let obj = json!({
        "s": tricky,
        "n": 41,
        "list": [1, 2, 3],
        "nested": { "deep": [{ "x": "a" }, { "x": "b" }] },
        "missing": null,
        "t": true,
        "metadata": { "annotations": { "logging.mcp-mesh.io/paused": "true" } }
    });
    let script = r#"
local parts = {
  obj.s,
  tostring(obj.n + 1),
  tostring(#obj.list),
  obj.nested.deep[2].x,
  tostring(obj.missing == nil),
  tostring(obj.t),
  obj.metadata.annotations["logging.mcp-mesh.io/paused"],
}
return { status = "Healthy", message = table.concat(parts, "|") }
"#;
    let (status, message) = run_lua(script, &obj).expect("run");
    assert_eq!(status, "Healthy");
    assert_eq!(message, format!("{tricky}|42|3|b|true|true|true"));
}

#[test]
fn harness_runs_checks_without_the_string_and_math_libraries_like_argo_cd() {
    let obj = json!({ "metadata": { "name": "x" } });
    for script in [
        r#"return { status = string.format("%s", "Healthy") }"#,
        r#"return { status = ("healthy"):upper() }"#,
        r#"return { status = "Healthy", message = tostring(math.max(1, 2)) }"#,
        r#"io.write("x") return { status = "Healthy" }"#,
    ] {
        assert!(
            run_lua(script, &obj).is_err(),
            "the harness let a check use a library Argo CD does not open: {script}"
        );
    }
    assert_eq!(
        run_lua(r#"return { status = "Healthy", message = "ok" }"#, &obj),
        Ok(("Healthy".to_string(), "ok".to_string()))
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
        ("MeshLoggingNotReady", Some("30m")),
        ("MeshLoggingElasticsearchSyncFailures", None),
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
    metrics.sync_failure("ilm_policy", "Rejected");
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
