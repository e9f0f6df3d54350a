//! Elasticsearch configuration, checked whole: each example in `examples/` is validated and
//! its desired Elasticsearch configuration (ILM policy, templates, write alias, roles,
//! users, repositories, SLM policies) is compared, as JSON, with
//! `tests/golden/desired/<example>.json`, so the bodies the operator PUTs can be reviewed
//! without running Elasticsearch or its stand-in. Pure.
//!
//! `UPDATE_GOLDEN=1 cargo test --test desired_golden` rewrites the golden files.

use std::path::PathBuf;

use meshlogging_operator::api::MeshLogging;
use meshlogging_operator::elastic::{DesiredConfig, desired};
use meshlogging_operator::validate::validate;
use serde_json::{Value, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The desired configuration of `examples/<name>.yaml` in namespace `logging`.
fn desired_of(name: &str) -> DesiredConfig {
    let text = std::fs::read_to_string(root().join(format!("examples/{name}.yaml")))
        .expect("read example");
    let mut ml: MeshLogging = serde_saphyr::from_str(&text).expect("parse example");
    ml.metadata.namespace = Some("logging".to_string());
    ml.metadata.uid = Some("6f1c2a3b-0000-4000-8000-000000000001".to_string());
    let v = validate(&ml).expect("example is valid");
    desired(&v.spec, &v.owner())
}

/// Every part of `d`, as JSON (passwords are references, never values).
fn to_json(d: &DesiredConfig) -> Value {
    let users: serde_json::Map<String, Value> = d
        .users
        .iter()
        .map(|(name, u)| {
            let user = json!({
                "roles": u.roles,
                "body": u.body,
                "password": format!("{:?}", u.password),
                "builtin": u.builtin,
            });
            (name.clone(), user)
        })
        .collect();
    let repositories: serde_json::Map<String, Value> = d
        .repositories
        .iter()
        .map(|(name, r)| {
            let repository = json!({ "body": r.body, "credentials_secret": r.credentials_secret });
            (name.clone(), repository)
        })
        .collect();
    json!({
        "owner": d.owner,
        "ilm_policies": d.ilm_policies,
        "component_templates": d.component_templates,
        "index_templates": d.index_templates,
        "write_alias": {
            "alias": d.write_alias.alias,
            "bootstrap_index": d.write_alias.bootstrap_index,
            "body": d.write_alias.body,
        },
        "deadletter_index": d.deadletter_index,
        "roles": d.roles,
        "users": users,
        "repositories": repositories,
        "slm_policies": d.slm_policies,
    })
}

fn golden(name: &str) {
    let mut actual = serde_json::to_string_pretty(&to_json(&desired_of(name))).expect("json");
    actual.push('\n');
    let path = root().join(format!("tests/golden/desired/{name}.json"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    let first = expected
        .lines()
        .zip(actual.lines())
        .position(|(e, a)| e != a)
        .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
    assert!(
        expected == actual,
        "{} differs from desired() at line {}: expected {:?}, actual {:?}\n\
         (UPDATE_GOLDEN=1 cargo test --test desired_golden rewrites it; review the diff)",
        path.display(),
        first + 1,
        expected.lines().nth(first),
        actual.lines().nth(first)
    );
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
