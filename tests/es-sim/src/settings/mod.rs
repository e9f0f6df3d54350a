//! Pure normalisation the way Elasticsearch stores and returns things:
//! index settings (flattened, `index.` prefix, string values, validated) here;
//! analysis components in [`analysis`]; mappings (dotted names expanded, merged by
//! composable-template rules, validated) and dynamic mapping of new document fields
//! in [`mappings`].

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::Modules;
use crate::error::{EsError, EsResult};

pub mod analysis;
pub mod mappings;

pub use analysis::{validate_analysis, validate_mapping_analysis};
pub use mappings::{
    dynamic_map, field_mapping, field_path, merge_mappings, merge_properties, normalize_mappings,
    render_index_mappings,
};

/// Flattens a settings object into `a.b.c -> "value"` (values as strings, arrays as arrays of strings).
pub fn flatten_settings(v: &Value) -> EsResult<BTreeMap<String, Value>> {
    fn go(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) -> EsResult<()> {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    go(&key, v, out)?;
                }
            }
            Value::Array(a) => {
                let items: Vec<Value> = a
                    .iter()
                    .map(|x| {
                        crate::util::scalar_string(x)
                            .map(Value::String)
                            .unwrap_or_else(|| x.clone())
                    })
                    .collect();
                out.insert(prefix.to_string(), Value::Array(items));
            }
            Value::Null => {
                out.insert(prefix.to_string(), Value::Null);
            }
            other => {
                let s = crate::util::scalar_string(other).unwrap_or_default();
                out.insert(prefix.to_string(), Value::String(s));
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    if !v.is_object() && !v.is_null() {
        return Err(EsError::parse("settings must be an object"));
    }
    go("", v, &mut out)?;
    Ok(out)
}

/// Flattens and adds the `index.` prefix to every key that lacks it.
pub fn normalize_index_settings(v: &Value) -> EsResult<BTreeMap<String, Value>> {
    Ok(flatten_settings(v)?
        .into_iter()
        .map(|(k, v)| {
            if k.starts_with("index.") {
                (k, v)
            } else {
                (format!("index.{k}"), v)
            }
        })
        .collect())
}

/// Nests flat settings back into objects (`index.a.b` -> `{"index":{"a":{"b":..}}}`).
pub fn nest_settings(flat: &BTreeMap<String, Value>) -> Value {
    fn insert(map: &mut Map<String, Value>, parts: &[&str], v: &Value) {
        match parts {
            [] => {}
            [last] => {
                map.insert(last.to_string(), v.clone());
            }
            [first, rest @ ..] => {
                let entry = map
                    .entry(first.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    // a scalar and a deeper key share a prefix: the object wins
                    *entry = Value::Object(Map::new());
                }
                if let Value::Object(m) = entry {
                    insert(m, rest, v);
                }
            }
        }
    }
    let mut root = Map::new();
    for (k, v) in flat {
        if !v.is_null() {
            let parts: Vec<&str> = k.split('.').collect();
            insert(&mut root, &parts, v);
        }
    }
    Value::Object(root)
}

pub fn render_settings(flat: &BTreeMap<String, Value>, flat_output: bool) -> Value {
    if flat_output {
        Value::Object(
            flat.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    } else {
        nest_settings(flat)
    }
}

const KNOWN_INDEX_SETTINGS: &[&str] = &[
    "index.number_of_shards",
    "index.number_of_replicas",
    "index.auto_expand_replicas",
    "index.refresh_interval",
    "index.codec",
    "index.hidden",
    "index.priority",
    "index.mode",
    "index.max_result_window",
    "index.max_inner_result_window",
    "index.max_rescore_window",
    "index.max_docvalue_fields_search",
    "index.max_script_fields",
    "index.max_ngram_diff",
    "index.max_shingle_diff",
    "index.max_refresh_listeners",
    "index.max_terms_count",
    "index.max_regex_length",
    "index.max_slices_per_scroll",
    "index.default_pipeline",
    "index.final_pipeline",
    "index.number_of_routing_shards",
    "index.load_fixed_bitset_filters_eagerly",
    "index.gc_deletes",
    "index.format",
    "index.provided_name",
    "index.creation_date",
    "index.uuid",
    "index.look_ahead_time",
    "index.look_back_time",
    "index.routing_path",
    "index.dimensions",
    "index.frozen",
    "index.soft_deletes.enabled",
    "index.soft_deletes.retention_lease.period",
    "index.verified_before_close",
    "index.data_path",
    "index.routing_partition_size",
    "index.auto_expand_replicas",
    "index.logsdb.sort_on_host_name",
];

const KNOWN_INDEX_SETTING_PREFIXES: &[&str] = &[
    "index.routing.",
    "index.mapping.",
    "index.analysis.",
    "index.blocks.",
    "index.sort.",
    "index.translog.",
    "index.query.",
    "index.store.",
    "index.merge.",
    "index.search.",
    "index.indexing.",
    "index.similarity.",
    "index.highlight.",
    "index.unassigned.",
    "index.write.",
    "index.allocation.",
    "index.shard.",
    "index.version.",
    "index.time_series.",
    "index.plugin.",
    "index.xpack.",
    "index.history.",
    "index.resize.",
    "index.queries.",
    "index.recovery.",
    "index.requests.",
    "index.ccr.",
    "index.fielddata.",
    "index.shard_limit.",
    "index.downsample.",
    "index.rollup.",
    "index.source.",
    "index.default_allocation.",
    "index.bloom_filter_for_id_field.",
];

/// The `index.lifecycle.*` settings the ILM module defines.
const ILM_SETTINGS: &[&str] = &[
    "index.lifecycle.name",
    "index.lifecycle.rollover_alias",
    "index.lifecycle.indexing_complete",
    "index.lifecycle.origination_date",
    "index.lifecycle.parse_origination_date",
    "index.lifecycle.step.wait_time_threshold",
    "index.lifecycle.skip",
];

/// Index settings whose values are time values (`30s`, `-1`).
const TIME_SETTINGS: &[&str] = &[
    "index.refresh_interval",
    "index.gc_deletes",
    "index.translog.sync_interval",
    "index.search.idle.after",
    "index.unassigned.node_left.delayed_timeout",
    "index.lifecycle.step.wait_time_threshold",
];

fn known_setting(key: &str, modules: &Modules) -> bool {
    if key.starts_with("index.lifecycle.") {
        // `prefer_ilm` is the server's (data stream lifecycle); the rest are ILM's
        return key == "index.lifecycle.prefer_ilm" || (modules.ilm && ILM_SETTINGS.contains(&key));
    }
    KNOWN_INDEX_SETTINGS.contains(&key)
        || KNOWN_INDEX_SETTING_PREFIXES
            .iter()
            .any(|p| key.starts_with(p))
}

/// Whether `v` parses as Elasticsearch's `TimeValue` (`-1`, `0`, or a whole number with one of
/// the units `nanos`, `micros`, `ms`, `s`, `m`, `h`, `d`).
pub fn is_time_value(v: &str) -> bool {
    let v = v.trim().to_ascii_lowercase();
    if v == "-1" || v == "0" {
        return true;
    }
    for unit in ["nanos", "micros", "ms", "s", "m", "h", "d"] {
        if let Some(n) = v.strip_suffix(unit) {
            return !n.is_empty() && n.trim().parse::<i64>().is_ok_and(|n| n >= 0);
        }
    }
    false
}

/// Validates index settings as index creation (or a template) does, on a node with
/// `modules`: the settings themselves, then the analysis components they define.
pub fn validate_index_settings(flat: &BTreeMap<String, Value>, modules: &Modules) -> EsResult<()> {
    validate_setting_values(flat, modules)?;
    validate_analysis(flat, modules)
}

/// Validates that every setting is known and its value parses (no analysis).
pub fn validate_setting_values(flat: &BTreeMap<String, Value>, modules: &Modules) -> EsResult<()> {
    let unknown: Vec<&String> = flat.keys().filter(|k| !known_setting(k, modules)).collect();
    if let Some(k) = unknown.first() {
        return Err(EsError::illegal_argument(format!(
            "unknown setting [{k}] please check that any required plugins are installed, or check the breaking changes documentation for removed settings"
        )));
    }
    for key in TIME_SETTINGS {
        if let Some(v) = flat.get(*key).and_then(|v| v.as_str())
            && !is_time_value(v)
        {
            return Err(EsError::illegal_argument(format!(
                "failed to parse setting [{key}] with value [{v}] as a time value: unit is missing or unrecognized"
            )));
        }
    }
    if let Some(v) = flat.get("index.codec").and_then(|v| v.as_str())
        && !matches!(
            v,
            "default"
                | "best_compression"
                | "legacy_default"
                | "legacy_best_compression"
                | "lucene_default"
        )
    {
        return Err(EsError::illegal_argument(format!(
            "unknown value for [index.codec] must be one of [default, best_compression] but was: {v}"
        )));
    }
    let int = |key: &str, min: i64, max: i64| -> EsResult<()> {
        if let Some(v) = flat.get(key).and_then(|v| v.as_str()) {
            let n: i64 = v.parse().map_err(|_| {
                EsError::illegal_argument(format!(
                    "Failed to parse value [{v}] for setting [{key}]"
                ))
            })?;
            if n < min {
                return Err(EsError::illegal_argument(format!(
                    "Failed to parse value [{v}] for setting [{key}] must be >= {min}"
                )));
            }
            if n > max {
                return Err(EsError::illegal_argument(format!(
                    "Failed to parse value [{v}] for setting [{key}] must be <= {max}"
                )));
            }
        }
        Ok(())
    };
    int("index.number_of_shards", 1, 1024)?;
    int("index.number_of_replicas", 0, i64::from(i32::MAX))?;
    int("index.priority", 0, i64::from(i32::MAX))?;
    if flat
        .get("index.soft_deletes.enabled")
        .and_then(|v| v.as_str())
        == Some("false")
    {
        return Err(EsError::illegal_argument(
            "Creating indices with soft-deletes disabled is no longer supported. Please do not specify a value for setting [index.soft_deletes.enabled].",
        ));
    }
    for key in ["index.hidden", "index.mapping.dynamic_strings.auto_text"] {
        if let Some(v) = flat.get(key).and_then(|v| v.as_str())
            && v != "true"
            && v != "false"
        {
            return Err(EsError::illegal_argument(format!(
                "Failed to parse value [{v}] as only [true] or [false] are allowed."
            )));
        }
    }
    if let Some(mode) = flat.get("index.mode").and_then(|v| v.as_str()) {
        match mode {
            "standard" | "time_series" | "logsdb" => {}
            "lookup" => {
                let shards = flat.get("index.number_of_shards").and_then(|v| v.as_str());
                if shards.is_some_and(|s| s != "1") {
                    return Err(EsError::illegal_argument(
                        "index with [lookup] mode must have [index.number_of_shards] set to 1 or unset",
                    ));
                }
            }
            other => {
                return Err(EsError::illegal_argument(format!(
                    "[{other}] is an invalid index mode, valid modes are: [standard, time_series, logsdb, lookup]"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn settings_roundtrip() {
        let flat = normalize_index_settings(
            &json!({"number_of_shards": 1, "index": {"number_of_replicas": 0}}),
        )
        .expect("ok");
        assert_eq!(flat["index.number_of_shards"], "1");
        assert_eq!(flat["index.number_of_replicas"], "0");
        assert_eq!(
            nest_settings(&flat),
            json!({"index": {"number_of_shards": "1", "number_of_replicas": "0"}})
        );
        let all = Modules::ALL;
        let check = |v: Value, m: &Modules| {
            validate_index_settings(&normalize_index_settings(&v).expect("ok"), m)
        };
        assert!(check(json!({"foo": 1}), &all).is_err());
        assert!(check(json!({"refresh_interval": "banana"}), &all).is_err());
        assert!(check(json!({"refresh_interval": "5s"}), &all).is_ok());
        assert!(check(json!({"lifecycle": {"name": "p"}}), &all).is_ok());
        assert!(check(json!({"lifecycle": {"nmae": "p"}}), &all).is_err());
        let bare = Modules::INTEG_TEST_DISTRIBUTION;
        assert!(check(json!({"lifecycle": {"name": "p"}}), &bare).is_err());
        assert!(check(json!({"lifecycle": {"prefer_ilm": true}}), &bare).is_ok());
        let snowball = json!({"analysis": {"analyzer": {"a": {"tokenizer": "standard", "filter": ["lowercase", "snowball"]}}}});
        assert!(check(snowball.clone(), &all).is_ok());
        assert!(check(snowball, &bare).is_err());
        let flat = normalize_index_settings(
            &json!({"analysis": {"analyzer": {"a": {"tokenizer": "standard"}}}}),
        )
        .expect("ok");
        let uses = |a: &str| json!({"properties": {"m": {"type": "text", "analyzer": a}}});
        assert!(validate_mapping_analysis(&uses("a"), &flat, &bare).is_ok());
        assert!(validate_mapping_analysis(&uses("whitespace"), &flat, &bare).is_ok());
        assert!(validate_mapping_analysis(&uses("b"), &flat, &all).is_err());
    }
}
