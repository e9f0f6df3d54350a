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
    desired(&v)
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

/// `examples/*.yaml`, by name without the extension, sorted.
fn examples() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("examples"))
        .expect("read examples/")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            Some(name.strip_suffix(".yaml")?.to_string())
        })
        .collect();
    names.sort();
    names
}

/// Every example's desired configuration is its golden file, line for line.
#[test]
fn every_example_matches_its_golden_file() {
    let examples = examples();
    assert!(examples.len() >= 3, "examples: {examples:?}");
    let mut differ = Vec::new();
    for name in examples {
        let mut actual = serde_json::to_string_pretty(&to_json(&desired_of(&name))).expect("json");
        actual.push('\n');
        let path = root().join(format!("tests/golden/desired/{name}.json"));
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &actual).expect("write golden file");
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some((line, (e, a))) = expected
            .lines()
            .chain(std::iter::repeat("<end>"))
            .zip(actual.lines().chain(std::iter::repeat("<end>")))
            .take(expected.lines().count().max(actual.lines().count()))
            .enumerate()
            .find(|(_, (e, a))| e != a)
        {
            differ.push(format!(
                "{} line {}:\n  expected {e}\n  actual   {a}",
                path.display(),
                line + 1
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "{}\n(UPDATE_GOLDEN=1 cargo test --test desired_golden rewrites them; review the diff)",
        differ.join("\n")
    );
}
