//! Kibana saved objects, checked whole: the production example's objects are compared, as
//! NDJSON (the `_import` body, one object per line), with `tests/golden/kibana/production.ndjson`;
//! then what Kibana needs of them: references resolve within the set, `*JSON` attributes are
//! strings holding JSON, ids are the resource's own. Pure.
//!
//! `UPDATE_GOLDEN=1 cargo test --test kibana_objects` rewrites the golden file.

use std::collections::BTreeSet;
use std::path::PathBuf;

use meshlogging_operator::api::MeshLogging;
use meshlogging_operator::kibana::{DesiredObjects, import_ndjson, objects};
use meshlogging_operator::validate::{Validated, validate};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn validated(example: &str, name: Option<&str>, namespace: &str) -> Validated {
    let text = std::fs::read_to_string(root().join(format!("examples/{example}.yaml")))
        .expect("read example");
    let mut ml: MeshLogging = serde_saphyr::from_str(&text).expect("parse example");
    ml.metadata.namespace = Some(namespace.to_string());
    ml.metadata.uid = Some("6f1c2a3b-0000-4000-8000-000000000001".to_string());
    if let Some(n) = name {
        ml.metadata.name = Some(n.to_string());
    }
    validate(&ml).expect("example is valid")
}

fn production() -> DesiredObjects {
    objects(&validated("production", None, "logging"))
}

/// The import body byte for byte (`production.ndjson`) and, for review, the same objects
/// pretty-printed (`production.json`).
#[test]
fn production_matches_its_golden_files() {
    let objects = production().objects;
    let mut pretty = serde_json::to_string_pretty(&objects).expect("json");
    pretty.push('\n');
    golden("production.ndjson", &import_ndjson(&objects));
    golden("production.json", &pretty);
}

fn golden(file: &str, actual: &str) {
    let path = root().join("tests/golden/kibana").join(file);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
        assert_eq!(
            e,
            a,
            "{} line {} differs (UPDATE_GOLDEN=1 cargo test --test kibana_objects rewrites it; review the diff)",
            path.display(),
            i + 1
        );
    }
    assert_eq!(expected.lines().count(), actual.lines().count());
}

/// What the recipe asked for is there: a data view on `timestamp`, both dashboards by title,
/// and one object of each chart and search.
#[test]
fn the_set_has_the_recipe_objects() {
    let d = production();
    let of_type =
        |t: &str| -> Vec<&Value> { d.objects.iter().filter(|o| o["type"] == t).collect() };
    let views = of_type("index-pattern");
    assert_eq!(views.len(), 1);
    assert_eq!(views[0]["attributes"]["title"], "mcp-mesh-logs");
    assert_eq!(views[0]["attributes"]["timeFieldName"], "timestamp");
    let titles: BTreeSet<&str> = of_type("dashboard")
        .iter()
        .filter_map(|o| o["attributes"]["title"].as_str())
        .collect();
    assert_eq!(
        titles,
        BTreeSet::from(["MCP Mesh Log Analysis", "MCP Mesh Security Audit"])
    );
    assert_eq!(of_type("search").len(), 6);
    assert_eq!(of_type("lens").len(), 6);
    assert_eq!(of_type("tag").len(), 1);
    assert_eq!(
        d.log_dashboard_id(),
        Some("meshlogging.logging.mcp-mesh-logs.dashboard-logs")
    );
    assert_eq!(
        meshlogging_operator::kibana::dashboard_path("d"),
        "/app/dashboards#/view/d"
    );
    // The importing user's role holds Kibana privileges only.
    let role = meshlogging_operator::kibana::operator_role();
    assert_eq!(role["cluster"], serde_json::json!([]));
    assert_eq!(role["indices"], serde_json::json!([]));
}

/// Every reference names an object of the set by type and id (the import would otherwise
/// answer `missing_references`), every object but the tag references the tag, and an object
/// comes after everything it references.
#[test]
fn every_reference_resolves_within_the_set() {
    let d = production();
    let mut seen = BTreeSet::new();
    for o in &d.objects {
        let refs = o["references"].as_array().expect("references array");
        for r in refs {
            let key = (
                r["type"].as_str().expect("type").to_string(),
                r["id"].as_str().expect("id").to_string(),
            );
            assert!(
                seen.contains(&key),
                "{} references {key:?} not before it in the set",
                o["id"]
            );
            assert!(r["name"].as_str().is_some_and(|n| !n.is_empty()));
        }
        assert!(d.is_owned(o), "{} carries no marker", o["id"]);
        seen.insert((
            o["type"].as_str().expect("type").to_string(),
            o["id"].as_str().expect("id").to_string(),
        ));
    }
    // Names used inside the attributes are references of the object.
    for o in &d.objects {
        let names: BTreeSet<&str> = o["references"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["name"].as_str())
            .collect();
        let text = o["attributes"].to_string();
        if let Some(s) = o
            .pointer("/attributes/kibanaSavedObjectMeta/searchSourceJSON")
            .and_then(Value::as_str)
        {
            let source: Value = serde_json::from_str(s).expect("json");
            if let Some(n) = source["indexRefName"].as_str() {
                assert!(names.contains(n), "{}: {n}", o["id"]);
            }
        }
        if let Some(p) = o.pointer("/attributes/panelsJSON").and_then(Value::as_str) {
            let panels: Vec<Value> = serde_json::from_str(p).expect("json");
            for panel in panels {
                let name = format!(
                    "{}:{}",
                    panel["panelIndex"].as_str().expect("panelIndex"),
                    panel["panelRefName"].as_str().expect("panelRefName")
                );
                assert!(names.contains(name.as_str()), "{}: {name}", o["id"]);
            }
        }
        if o["type"] == "lens" {
            assert!(
                names.contains("indexpattern-datasource-layer-layer1"),
                "{text}"
            );
            assert!(
                !text.contains("\"sourceField\":\"Records\""),
                "the recipe's non-field"
            );
        }
    }
}

/// Kibana stores `searchSourceJSON`, `panelsJSON`, `optionsJSON` (and a data view's field
/// lists) as strings holding JSON; the recipe's objects had them as objects.
#[test]
fn json_attributes_are_strings_holding_json() {
    fn walk(path: &str, v: &Value, found: &mut usize) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let p = format!("{path}.{k}");
                    let json_attr = k.ends_with("JSON")
                        || [
                            "fields",
                            "fieldFormatMap",
                            "runtimeFieldMap",
                            "sourceFilters",
                            "typeMeta",
                        ]
                        .contains(&k.as_str());
                    if json_attr {
                        let s = x.as_str().unwrap_or_else(|| panic!("{p} is not a string"));
                        serde_json::from_str::<Value>(s)
                            .unwrap_or_else(|e| panic!("{p} does not hold JSON: {e}"));
                        *found += 1;
                    } else {
                        walk(&p, x, found);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(path, x, found)),
            _ => {}
        }
    }
    let mut found = 0;
    for o in &production().objects {
        walk(
            o["id"].as_str().unwrap_or("?"),
            &o["attributes"],
            &mut found,
        );
    }
    assert!(found >= 15, "{found}");
}

/// Ids come from the resource: two resources never share one, and the same resource gets the
/// same ones on every render.
#[test]
fn ids_differ_between_resources_and_are_stable() {
    let ids = |d: &DesiredObjects| -> BTreeSet<String> {
        d.keys().into_iter().map(|(_, id)| id).collect()
    };
    let a = production();
    let b = objects(&validated("production", Some("other-logs"), "logging"));
    let c = objects(&validated("production", None, "team"));
    assert_eq!(
        ids(&a).len(),
        a.objects.len(),
        "ids are unique within a set"
    );
    assert!(ids(&a).is_disjoint(&ids(&b)));
    assert!(ids(&a).is_disjoint(&ids(&c)));
    assert_eq!(a, production());
    // One resource's objects are not the other's.
    assert!(b.objects.iter().all(|o| !a.is_owned(o)));
}

/// Kibana 8.8 and later read `coreMigrationVersion`/`typeMigrationVersion`; earlier 8.x
/// `migrationVersion`; Lens's datasource is `formBased` from 8.6.
#[test]
fn version_fields_match_the_stack_version() {
    let d = production();
    let lens = d
        .objects
        .iter()
        .find(|o| o["type"] == "lens")
        .expect("lens");
    assert_eq!(lens["coreMigrationVersion"], "8.8.0");
    assert!(
        lens.pointer("/attributes/state/datasourceStates/formBased")
            .is_some()
    );
    let text = std::fs::read_to_string(root().join("examples/production.yaml")).expect("read");
    let old = text.replace("version: \"8.15.3\"", "version: \"8.5.3\"");
    let mut ml: MeshLogging = serde_saphyr::from_str(&old).expect("parse");
    ml.metadata.namespace = Some("logging".into());
    ml.metadata.uid = Some("u".into());
    let d = objects(&validate(&ml).expect("valid"));
    let lens = d
        .objects
        .iter()
        .find(|o| o["type"] == "lens")
        .expect("lens");
    assert!(lens.get("coreMigrationVersion").is_none());
    assert!(lens["migrationVersion"]["lens"].is_string());
    assert!(
        lens.pointer("/attributes/state/datasourceStates/indexpattern")
            .is_some()
    );
}
