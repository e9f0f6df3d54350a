//! The CRD contract against a real API server: it installs, the examples are accepted,
//! every invalid fixture is refused naming its field, and `kubectl` shows what users read.

use std::path::PathBuf;
use std::process::Output;

use kube::api::{Api, Patch, PatchParams, PostParams};
use meshlogging_operator::api::{
    DashboardsStatus, ElasticsearchStatus, MeshLogging, MeshLoggingStatus, Phase, WorkloadStatus,
};
use meshlogging_testkit::apiserver::ApiServer;
use meshlogging_testkit::kubectl::{self, text};
use meshlogging_testkit::process::tool_path;
use meshlogging_testkit::{Setup, example, wait_for};
use serde_json::json;

fn repo(path: &str) -> PathBuf {
    meshlogging_testkit::repo(path)
}

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo(dir))
        .expect("read dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

async fn setup(prefix: &str) -> (&'static ApiServer, kube::Client, String) {
    let Setup { server, client, ns } = Setup::new(prefix).await;
    (server, client, ns)
}

#[test]
fn committed_crd_matches_generated() {
    let committed =
        std::fs::read_to_string(repo("crds/meshlogging.yaml")).expect("crds/meshlogging.yaml");
    let generated = meshlogging_operator::crd::yaml().expect("render CRD");
    assert!(
        committed == generated,
        "crds/meshlogging.yaml is stale: run `make crd`"
    );
    let chart = std::fs::read_to_string(repo("charts/meshlogging-operator/crds/meshlogging.yaml"))
        .expect("the Helm chart's CRD");
    assert!(
        chart == generated,
        "charts/meshlogging-operator/crds/meshlogging.yaml is stale: run `make crd`"
    );
    let schema = std::fs::read_to_string(repo(JSON_SCHEMA)).expect(JSON_SCHEMA);
    assert!(
        schema == meshlogging_operator::crd::json_schema().expect("render JSON Schema"),
        "{JSON_SCHEMA} is stale: run `make crd`"
    );
}

/// The CRD's JSON Schema where kubeconform looks for it:
/// `-schema-location 'schemas/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json'`.
const JSON_SCHEMA: &str = "schemas/logging.mcp-mesh.io/meshlogging_v1alpha1.json";

#[test]
fn json_schema_is_strict_where_the_crd_is_structural() {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo(JSON_SCHEMA)).expect(JSON_SCHEMA))
            .expect("JSON");
    assert_eq!(
        schema["properties"]["apiVersion"]["enum"],
        json!(["logging.mcp-mesh.io/v1alpha1"])
    );
    assert_eq!(schema["properties"]["kind"]["enum"], json!(["MeshLogging"]));
    // The top allows apiVersion, kind and metadata; spec refuses unknown fields (a typo).
    assert!(schema.get("additionalProperties").is_none());
    assert_eq!(
        schema["properties"]["spec"]["additionalProperties"],
        json!(false)
    );
    assert!(
        schema["properties"]["spec"]["properties"]["version"]["type"] == "string",
        "spec.version: {}",
        schema["properties"]["spec"]["properties"]["version"]
    );
    // Quantities are strings or integers, as kubeconform's converter writes them.
    let text = schema.to_string();
    assert!(text.contains(r#""oneOf":[{"type":"string"},{"type":"integer"}]"#));
    // Every object with fields is closed unless it keeps unknown fields.
    fn check(node: &serde_json::Value, at: &str, top: bool) {
        if let Some(map) = node.as_object() {
            if !top
                && map.contains_key("properties")
                && map.get("x-kubernetes-preserve-unknown-fields") != Some(&json!(true))
            {
                assert!(map.contains_key("additionalProperties"), "{at} is open");
            }
            for (key, child) in map {
                if key == "properties" {
                    for (field, schema) in child.as_object().expect("properties") {
                        check(schema, &format!("{at}.{field}"), false);
                    }
                } else if key == "items" || key == "additionalProperties" {
                    check(child, &format!("{at}[]"), false);
                }
            }
        }
    }
    check(&schema, "", true);
}

/// Runs kubeconform (built once by `hack/kubeconform.sh`) with the committed schema, as a
/// user's CI would, on `files` or on `stdin`.
fn kubeconform(files: &[PathBuf], stdin: Option<&str>) -> Output {
    use std::io::Write as _;
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let bin = BIN.get_or_init(|| tool_path("kubeconform.sh"));
    let mut cmd = std::process::Command::new(bin);
    cmd.current_dir(repo("."))
        .args(["-strict", "-summary", "-schema-location"])
        .arg("schemas/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json")
        .args(files)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if stdin.is_some() {
        cmd.arg("-").stdin(std::process::Stdio::piped());
    }
    let mut child = cmd.spawn().expect("run kubeconform");
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .expect("write to kubeconform");
    }
    child.wait_with_output().expect("kubeconform")
}

#[test]
fn kubeconform_validates_manifests_with_the_json_schema() {
    let examples = yaml_files("examples");
    let out = kubeconform(&examples, None);
    assert!(out.status.success(), "examples refused: {}", text(&out));
    assert!(
        text(&out).contains(&format!("Valid: {}", examples.len())),
        "{}",
        text(&out)
    );

    // A typo in a field name, which `kubectl apply` would silently drop.
    let typo = "apiVersion: logging.mcp-mesh.io/v1alpha1\nkind: MeshLogging\nmetadata: {name: x}\n\
                spec:\n  version: \"8.15.3\"\n  index:\n    shard: 2\n";
    let out = kubeconform(&[], Some(typo));
    assert!(!out.status.success(), "a typo passed: {}", text(&out));
    assert!(
        text(&out).contains("/spec/index") && text(&out).contains("'shard' not allowed"),
        "{}",
        text(&out)
    );

    // Invalid fixtures the schema alone can catch (patterns, enums, minimums) are refused
    // naming their field; the others need the API server's CEL rules.
    let mut refused = 0;
    for file in yaml_files("tests/fixtures/invalid") {
        let out = kubeconform(std::slice::from_ref(&file), None);
        if out.status.success() {
            continue;
        }
        refused += 1;
        let source = std::fs::read_to_string(&file).expect("fixture");
        let field = source
            .lines()
            .find_map(|l| l.strip_prefix("# expect: spec."))
            .unwrap_or_else(|| panic!("{}: no `# expect: spec.<field>`", file.display()));
        let pointer = format!(
            "/spec/{}",
            field.trim().replace(['.', '['], "/").replace(']', "")
        );
        assert!(
            text(&out).contains(&pointer),
            "{}: kubeconform did not name {pointer}: {}",
            file.display(),
            text(&out)
        );
    }
    assert!(
        refused >= 10,
        "only {refused} invalid fixtures refused by the schema"
    );
}

#[tokio::test]
async fn crd_installs_and_becomes_established() {
    let (_, client, _) = setup("crd").await;
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client);
    let crd = crds
        .get("meshloggings.logging.mcp-mesh.io")
        .await
        .expect("get CRD");
    let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
    for wanted in ["Established", "NamesAccepted"] {
        assert!(
            conditions
                .iter()
                .any(|c| c.type_ == wanted && c.status == "True"),
            "{wanted} not True: {conditions:?}"
        );
    }
    // A non-structural schema would show up as a NonStructuralSchema condition.
    assert!(!conditions.iter().any(|c| c.type_ == "NonStructuralSchema"));
}

#[tokio::test]
async fn every_example_passes_server_side_dry_run() {
    let (server, _, ns) = setup("examples").await;
    let examples = yaml_files("examples");
    assert!(examples.len() >= 3, "examples/ holds {examples:?}");
    for file in examples {
        let out = kubectl::dry_run_apply(server, &ns, &file);
        assert!(
            out.status.success(),
            "{} refused:\n{}",
            file.display(),
            text(&out)
        );
        assert!(
            text(&out).contains("serverside-applied (server dry run)"),
            "{}",
            text(&out)
        );
    }
}

#[tokio::test]
async fn every_invalid_fixture_is_refused_naming_its_field() {
    let (server, _, ns) = setup("invalid").await;
    let fixtures = yaml_files("tests/fixtures/invalid");
    assert!(
        fixtures.len() >= 40,
        "only {} invalid fixtures",
        fixtures.len()
    );
    let mut failures = Vec::new();
    for file in &fixtures {
        let content = std::fs::read_to_string(file).expect("read fixture");
        let expected: Vec<&str> = content
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        // What the refusal must never repeat (a password in a URL).
        let forbidden: Vec<&str> = content
            .lines()
            .filter_map(|l| l.strip_prefix("# forbid: "))
            .collect();
        assert!(
            !expected.is_empty(),
            "{} has no `# expect:` line",
            file.display()
        );
        let out = kubectl::dry_run_apply(server, &ns, file);
        let message = text(&out);
        if out.status.success() {
            failures.push(format!("{}: accepted", file.display()));
            continue;
        }
        for e in expected {
            if !message.contains(e) {
                failures.push(format!(
                    "{}: message lacks {e:?}:\n{message}",
                    file.display()
                ));
            }
        }
        for f in forbidden {
            if message.contains(f) {
                failures.push(format!(
                    "{}: message repeats {f:?}:\n{message}",
                    file.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn kubectl_get_wide_shows_the_printer_columns() {
    let (server, client, ns) = setup("printcols").await;
    let api: Api<MeshLogging> = Api::namespaced(client, &ns);
    let ml = example("minimal.yaml");
    let created = api
        .create(&PostParams::default(), &ml)
        .await
        .expect("create");
    let name = created.metadata.name.clone().expect("name");

    // The spec defaults were filled in by the API server from the schema.
    assert_eq!(created.spec.index.shards, 3);
    assert_eq!(created.spec.index.refresh_interval, "5s");
    assert_eq!(
        created
            .spec
            .lifecycle
            .delete
            .as_ref()
            .map(|d| d.min_age.as_str()),
        Some("30d")
    );

    let status = MeshLoggingStatus {
        observed_generation: created.metadata.generation,
        phase: Some(Phase::Ready),
        elasticsearch: Some(ElasticsearchStatus {
            health: Some("green".into()),
            ready: Some("3/3".into()),
            ..Default::default()
        }),
        kibana: Some(WorkloadStatus {
            ready: Some("1/1".into()),
            ..Default::default()
        }),
        collector: Some(WorkloadStatus {
            ready: Some("4/5".into()),
            ..Default::default()
        }),
        dashboards: Some(DashboardsStatus {
            url: Some("https://kibana.example.com/app/dashboards#/view/d".into()),
        }),
        ..Default::default()
    };
    api.patch_status(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
    .expect("patch status");

    let out = kubectl::output(server, &["get", "meshlogging", "-o", "wide", "-n", &ns]);
    assert!(out.status.success(), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "VERSION",
            "HEALTH",
            "PHASE",
            "READY",
            "ES",
            "KIBANA",
            "COLLECTOR",
            "ALIAS",
            "DASHBOARDS",
            "NEWESTLOG",
            "AGE"
        ]
    );
    let row: Vec<&str> = lines.next().expect("row").split_whitespace().collect();
    assert_eq!(&row[..4], [name.as_str(), "8.15.3", "green", "Ready"]);
    assert!(
        row.contains(&"3/3") && row.contains(&"1/1") && row.contains(&"4/5"),
        "{row:?}"
    );
    assert!(
        row.contains(&"https://kibana.example.com/app/dashboards#/view/d"),
        "{row:?}"
    );

    // The short name works too.
    let out = kubectl::output(server, &["get", "mlog", "-n", &ns, "-o", "name"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("meshlogging.logging.mcp-mesh.io/{name}")
    );
}

#[tokio::test]
async fn kubectl_explain_prints_the_field_docs() {
    let (server, _, _) = setup("explain").await;
    // The API server publishes new CRD schemas to OpenAPI a moment after Established.
    let out = wait_for(
        std::time::Duration::from_secs(30),
        "kubectl explain",
        || async {
            let out = kubectl::output(server, &["explain", "meshlogging.spec.lifecycle"]);
            out.status.success().then_some(out)
        },
    )
    .await;
    let doc = String::from_utf8_lossy(&out.stdout);
    assert!(
        doc.contains("The index lifecycle (ILM) policy of the log indices"),
        "{doc}"
    );
    for field in ["hot", "warm", "cold", "delete"] {
        assert!(doc.contains(field), "explain lacks {field}:\n{doc}");
    }
    let out = kubectl::output(
        server,
        &[
            "explain",
            "meshlogging.spec.snapshots.repositories.credentialsSecretRef",
        ],
    );
    let doc = String::from_utf8_lossy(&out.stdout);
    assert!(
        doc.contains("s3.client") || doc.contains("keystore"),
        "{doc}"
    );
}

/// `kubectl apply -n ns -f -` of `doc`: its output, whatever the exit code.
fn apply_doc(server: &ApiServer, ns: &str, doc: &str) -> Output {
    use std::io::Write as _;
    let mut child = server
        .kubectl()
        .args(["apply", "-n", ns, "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run kubectl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(doc.as_bytes())
        .expect("kubectl stdin");
    child.wait_with_output().expect("run kubectl")
}

/// Each fixture of `tests/fixtures/invalid-updates` holds a resource and an update of it:
/// the first is applied, and the API server refuses the update (a transition rule, which
/// sees `oldSelf`) naming the field.
#[tokio::test]
async fn every_invalid_update_is_refused_naming_its_field() {
    let (server, _, ns) = setup("updates").await;
    let fixtures = yaml_files("tests/fixtures/invalid-updates");
    assert!(fixtures.len() >= 5, "only {} fixtures", fixtures.len());
    let mut failures = Vec::new();
    for file in &fixtures {
        let content = std::fs::read_to_string(file).expect("read fixture");
        let expected: Vec<&str> = content
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        assert!(
            !expected.is_empty(),
            "{} has no `# expect:`",
            file.display()
        );
        let (before, after) = content
            .split_once("\n---\n")
            .expect("two documents: the resource and its update");
        let created = apply_doc(server, &ns, before);
        assert!(
            created.status.success(),
            "{}: {}",
            file.display(),
            text(&created)
        );
        let out = apply_doc(server, &ns, after);
        let message = text(&out);
        if out.status.success() {
            failures.push(format!("{}: update accepted", file.display()));
        }
        for e in expected {
            if !message.contains(e) {
                failures.push(format!(
                    "{}: message lacks {e:?}:\n{message}",
                    file.display()
                ));
            }
        }
        kubectl::run(server, &["delete", "-n", &ns, "meshlogging", "update"]);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The updates the transition rules must let through, applied with `kubectl apply` in turn
/// to one resource: upgrades (patch, minor, across one major), a larger volume; and in
/// external mode, where the operator follows a cluster it does not upgrade, a lower version.
#[tokio::test]
async fn upgrades_and_larger_volumes_are_accepted() {
    let (server, _, ns) = setup("upgrades").await;
    let doc = |version: &str, es: &str| {
        format!(
            "apiVersion: logging.mcp-mesh.io/v1alpha1\nkind: MeshLogging\nmetadata: {{name: up}}\nspec:\n  version: \"{version}\"\n  elasticsearch: {es}\n"
        )
    };
    let managed = |size: &str| format!("{{storage: {{size: {size}, storageClassName: standard}}}}");
    for (version, es) in [
        ("8.9.4", managed("10Gi")),
        ("8.10.0", managed("10Gi")),
        ("8.10.1", managed("10Gi")),
        ("8.10.1", managed("10240Mi")),
        ("8.10.1", managed("20Gi")),
        ("8.19.2", managed("1Ti")),
        ("9.0.1", managed("1Ti")),
        ("9.0.1", managed("1Ti")),
    ] {
        let out = apply_doc(server, &ns, &doc(version, &es));
        assert!(out.status.success(), "{version} {es}: {}", text(&out));
    }
    let external =
        "{external: {url: \"https://es.example.com:9200\", credentialsSecretRef: {name: es}}}";
    for version in ["9.1.0", "8.18.0"] {
        let out = apply_doc(
            server,
            &ns,
            &doc(version, external).replace("name: up", "name: ext"),
        );
        assert!(out.status.success(), "external {version}: {}", text(&out));
    }
}
