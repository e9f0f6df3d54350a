//! Normalisation of Elasticsearch objects before comparison (pure).
//!
//! Elasticsearch answers a `GET` with more than it was sent: server-added fields
//! (`version`, `modified_date`, `in_use_by`, dates in millis), settings nested under
//! `index` with every value a string, and defaults filled in (`min_age: 0ms`,
//! `delete_searchable_snapshot: true`, `allow_write_after_shrink: false` on newer 8.x).
//! Both sides go through the same function, so "equal after normalising" means "nothing
//! to write". The per-version quirks live here, in one place.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Server-added keys of templates (9.x adds creation/modification dates).
const TEMPLATE_SERVER_KEYS: &[&str] = &[
    "created_date",
    "created_date_millis",
    "modified_date",
    "modified_date_millis",
];

/// Flattens settings to `index.`-prefixed dotted keys with string values (lists of
/// strings stay lists), the form Elasticsearch compares and returns them in.
pub fn settings(value: &Value) -> Value {
    let mut flat = BTreeMap::new();
    flatten("", value, &mut flat);
    let map: Map<String, Value> = flat
        .into_iter()
        .map(|(k, v)| {
            let key = if k.starts_with("index.") {
                k
            } else {
                format!("index.{k}")
            };
            (key, v)
        })
        .collect();
    Value::Object(map)
}

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Value::Array(items) => {
            let items = items.iter().map(|v| Value::String(scalar(v))).collect();
            out.insert(prefix.to_string(), Value::Array(items));
        }
        Value::Null => {}
        other => {
            out.insert(prefix.to_string(), Value::String(scalar(other)));
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An ILM policy body (`{phases, _meta}`) with Elasticsearch's defaults made explicit and
/// version-dependent defaults removed.
pub fn ilm_policy(policy: &Value) -> Value {
    let mut policy = policy.clone();
    if let Some(phases) = policy.get_mut("phases").and_then(Value::as_object_mut) {
        for phase in phases.values_mut() {
            let Some(phase) = phase.as_object_mut() else {
                continue;
            };
            phase
                .entry("min_age")
                .or_insert_with(|| Value::String("0ms".into()));
            let actions = phase
                .entry("actions")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(delete) = actions.get_mut("delete").and_then(Value::as_object_mut)
                && delete.get("delete_searchable_snapshot") == Some(&Value::Bool(true))
            {
                delete.remove("delete_searchable_snapshot");
            }
            if let Some(shrink) = actions.get_mut("shrink").and_then(Value::as_object_mut)
                && shrink.get("allow_write_after_shrink") == Some(&Value::Bool(false))
            {
                shrink.remove("allow_write_after_shrink");
            }
        }
    }
    policy
}

/// A component or index template body: settings flattened, server keys dropped.
pub fn template(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(map) = body.as_object_mut() {
        for key in TEMPLATE_SERVER_KEYS {
            map.remove(*key);
        }
        if let Some(settings) = map.get_mut("template").and_then(|t| t.get_mut("settings")) {
            *settings = self::settings(settings);
        }
    }
    body
}

/// A snapshot repository (`{type, settings}`): settings values as strings.
pub fn repository(body: &Value) -> Value {
    let mut out = Map::new();
    out.insert(
        "type".into(),
        body.get("type").cloned().unwrap_or(Value::Null),
    );
    let settings: Map<String, Value> = body
        .get("settings")
        .and_then(Value::as_object)
        .map(|s| {
            s.iter()
                .map(|(k, v)| (k.clone(), Value::String(scalar(v))))
                .collect()
        })
        .unwrap_or_default();
    out.insert("settings".into(), Value::Object(settings));
    Value::Object(out)
}

/// A security role: empty lists and Elasticsearch's defaults dropped.
pub fn role(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(map) = body.as_object_mut() {
        map.remove("transient_metadata");
        if let Some(indices) = map.get_mut("indices").and_then(Value::as_array_mut) {
            for entry in indices.iter_mut().filter_map(Value::as_object_mut) {
                if entry.get("allow_restricted_indices") == Some(&Value::Bool(false)) {
                    entry.remove("allow_restricted_indices");
                }
            }
        }
        map.retain(|_, v| !is_empty(v));
    }
    body
}

/// An SLM policy body: no server fields are inside `policy`; nothing to do but keep the
/// function, so every kind goes through one.
pub fn slm_policy(policy: &Value) -> Value {
    policy.clone()
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::String(s) => s.is_empty(),
        Value::Null => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_compare_as_elasticsearch_returns_them() {
        let sent = json!({"index": {"number_of_shards": 3, "lifecycle": {"name": "x"}}, "refresh_interval": "5s"});
        let got = json!({"index": {"number_of_shards": "3", "lifecycle": {"name": "x"}, "refresh_interval": "5s"}});
        assert_eq!(settings(&sent), settings(&got));
        assert_eq!(settings(&got)["index.number_of_shards"], "3");
    }

    #[test]
    fn ilm_defaults_do_not_count_as_drift() {
        let sent = json!({"phases": {
            "hot": {"actions": {}},
            "warm": {"min_age": "2d", "actions": {"shrink": {"number_of_shards": 1}}},
            "delete": {"min_age": "30d", "actions": {"delete": {}}}}});
        let got = json!({"phases": {
            "hot": {"min_age": "0ms", "actions": {}},
            "warm": {"min_age": "2d", "actions": {"shrink": {"number_of_shards": 1, "allow_write_after_shrink": false}}},
            "delete": {"min_age": "30d", "actions": {"delete": {"delete_searchable_snapshot": true}}}}});
        assert_eq!(ilm_policy(&sent), ilm_policy(&got));
    }

    #[test]
    fn a_changed_age_is_drift() {
        let a = json!({"phases": {"delete": {"min_age": "30d", "actions": {"delete": {}}}}});
        let b = json!({"phases": {"delete": {"min_age": "7d", "actions": {"delete": {}}}}});
        assert_ne!(ilm_policy(&a), ilm_policy(&b));
    }

    #[test]
    fn repository_settings_are_strings() {
        let a = json!({"type": "fs", "settings": {"location": "/x", "compress": true}});
        let b =
            json!({"type": "fs", "settings": {"location": "/x", "compress": "true"}, "uuid": "u"});
        assert_eq!(repository(&a), repository(&b));
    }

    #[test]
    fn role_defaults_are_ignored() {
        let sent = json!({"cluster": [], "indices": [{"names": ["a"], "privileges": ["create_doc"]}], "metadata": {"m": 1}});
        let got = json!({"cluster": [], "indices": [{"names": ["a"], "privileges": ["create_doc"], "allow_restricted_indices": false}],
            "applications": [], "run_as": [], "metadata": {"m": 1}, "transient_metadata": {"enabled": true}});
        assert_eq!(role(&sent), role(&got));
    }
}
