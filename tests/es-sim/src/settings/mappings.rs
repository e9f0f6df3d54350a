//! Mappings: normalised (dotted names expanded, `_doc` unwrapped, validated), printed,
//! merged by composable-template rules, and extended by dynamic mapping of new document
//! fields. Pure.

use serde_json::{Map, Value, json};

use crate::error::{EsError, EsResult};

const FIELD_TYPES: &[&str] = &[
    "text",
    "keyword",
    "long",
    "integer",
    "short",
    "byte",
    "double",
    "float",
    "half_float",
    "scaled_float",
    "unsigned_long",
    "date",
    "date_nanos",
    "boolean",
    "binary",
    "object",
    "nested",
    "flattened",
    "ip",
    "geo_point",
    "geo_shape",
    "shape",
    "point",
    "completion",
    "search_as_you_type",
    "token_count",
    "alias",
    "constant_keyword",
    "wildcard",
    "match_only_text",
    "dense_vector",
    "sparse_vector",
    "rank_feature",
    "rank_features",
    "histogram",
    "integer_range",
    "float_range",
    "long_range",
    "double_range",
    "date_range",
    "ip_range",
    "version",
    "murmur3",
    "annotated_text",
    "semantic_text",
    "passthrough",
    "percolator",
    "join",
    "aggregate_metric_double",
    "counted_keyword",
    "exponential_histogram",
];

pub(super) fn mapping_error(reason: String) -> EsError {
    EsError::new(
        400,
        "mapper_parsing_exception",
        format!("Failed to parse mapping: {reason}"),
    )
    .caused_by(EsError::new(400, "mapper_parsing_exception", reason))
}

/// Normalises a mapping: unwraps a `_doc` type wrapper, expands dotted field
/// names into objects and validates field names and types.
pub fn normalize_mappings(v: &Value) -> EsResult<Value> {
    let mut m = match v {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        _ => return Err(EsError::parse("mappings must be an object")),
    };
    if m.len() == 1
        && let Some(Value::Object(inner)) = m.get("_doc")
    {
        m = inner.clone();
    }
    if let Some(props) = m.remove("properties") {
        let props = normalize_properties(&props, "")?;
        m.insert("properties".into(), props);
    }
    for k in m.keys() {
        const TOP: &[&str] = &[
            "properties",
            "dynamic",
            "dynamic_templates",
            "_source",
            "_meta",
            "_routing",
            "date_detection",
            "numeric_detection",
            "dynamic_date_formats",
            "runtime",
            "_field_names",
            "enabled",
            "subobjects",
            "_data_stream_timestamp",
            "_size",
            "_all",
            "_index",
            "_id",
            "_doc_count",
            "_ignored",
            "_tier",
            "_seq_no",
        ];
        if !TOP.contains(&k.as_str()) {
            return Err(EsError::new(
                400,
                "mapper_parsing_exception",
                format!(
                    "Root mapping definition has unsupported parameters:  [{k} : {}]",
                    m[k]
                ),
            ));
        }
    }
    Ok(Value::Object(m))
}

/// An index's mappings as Elasticsearch prints them: parameters at their default value are
/// left out (a `date` field's default `format`), unlike a template's, which are printed as
/// given.
pub fn render_index_mappings(mappings: &Value) -> Value {
    fn strip(v: &mut Value) {
        let Some(map) = v.as_object_mut() else { return };
        if map.get("type").and_then(Value::as_str) == Some("date")
            && map.get("format").and_then(Value::as_str)
                == Some("strict_date_optional_time||epoch_millis")
        {
            map.remove("format");
        }
        for key in ["properties", "fields"] {
            if let Some(props) = map.get_mut(key).and_then(Value::as_object_mut) {
                props.values_mut().for_each(strip);
            }
        }
    }
    let mut out = mappings.clone();
    if let Some(props) = out.get_mut("properties").and_then(Value::as_object_mut) {
        props.values_mut().for_each(strip);
    }
    out
}

fn normalize_properties(props: &Value, path: &str) -> EsResult<Value> {
    let Value::Object(props) = props else {
        return Err(mapping_error(format!(
            "Expected map for property [properties] on field [{path}] but got a class java.lang.String"
        )));
    };
    let mut out = Map::new();
    for (name, def) in props {
        if name.is_empty() || name.split('.').any(str::is_empty) {
            let e = EsError::illegal_argument("field name cannot be an empty string");
            return Err(EsError::new(
                400,
                "mapper_parsing_exception",
                "Failed to parse mapping: field name cannot be an empty string",
            )
            .caused_by(e));
        }
        let Value::Object(def) = def else {
            return Err(mapping_error(format!(
                "Expected map for property [fields] on field [{name}] but got a class java.lang.String"
            )));
        };
        let full = field_path(path, name);
        let mut def = def.clone();
        if let Some(t) = def.get("type").and_then(|t| t.as_str())
            && !FIELD_TYPES.contains(&t)
        {
            return Err(mapping_error(format!(
                "The mapper type [{t}] declared on field [{name}] does not exist. It might have been created within a future version or requires a plugin to be installed. Check the documentation."
            )));
        }
        if let Some(p) = def.remove("properties") {
            def.insert("properties".into(), normalize_properties(&p, &full)?);
        }
        // dotted names become objects: "a.b": {..} -> "a": {"properties": {"b": {..}}}
        let parts: Vec<&str> = name.split('.').collect();
        let mut leaf = Value::Object(def);
        for p in parts[1..].iter().rev() {
            let mut obj = Map::new();
            obj.insert(p.to_string(), leaf);
            leaf = json!({ "properties": Value::Object(obj) });
        }
        let mut single = Map::new();
        single.insert(parts[0].to_string(), leaf);
        merge_properties(&mut out, &single);
    }
    Ok(Value::Object(out))
}

fn is_object_field(def: &Map<String, Value>) -> bool {
    match def.get("type").and_then(|t| t.as_str()) {
        None => true,
        Some(t) => t == "object" || t == "nested",
    }
}

/// Merges `over` into `base` by composable-template rules: object fields merge
/// recursively, leaf fields are replaced whole.
pub fn merge_properties(base: &mut Map<String, Value>, over: &Map<String, Value>) {
    for (name, def) in over {
        match (base.get_mut(name), def) {
            (Some(Value::Object(b)), Value::Object(o))
                if is_object_field(b) && is_object_field(o) =>
            {
                for (k, v) in o {
                    if k == "properties" {
                        merge_properties_field(b, v);
                    } else {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
            _ => {
                base.insert(name.clone(), def.clone());
            }
        }
    }
}

/// The dotted path of field `name` inside the object at `path` (empty at the top).
pub fn field_path(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// Merges `over`, a `properties` value, into the `properties` of `object` (made an empty
/// object first when missing or not an object).
fn merge_properties_field(object: &mut Map<String, Value>, over: &Value) {
    let mut properties = match object.remove("properties") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    if let Value::Object(over) = over {
        merge_properties(&mut properties, over);
    }
    object.insert("properties".into(), Value::Object(properties));
}

/// Merges a later mapping into an earlier one (templates in order, then the request).
pub fn merge_mappings(base: &mut Value, over: &Value) {
    let (Value::Object(b), Value::Object(o)) = (base, over) else {
        return;
    };
    for (k, v) in o {
        match k.as_str() {
            "properties" => merge_properties_field(b, v),
            "dynamic_templates" => {
                // later templates with the same name replace earlier ones, new ones are appended
                let mut list = b
                    .remove("dynamic_templates")
                    .and_then(|v| v.as_array().cloned())
                    .unwrap_or_default();
                for t in v.as_array().cloned().unwrap_or_default() {
                    let name = t.as_object().and_then(|m| m.keys().next().cloned());
                    if let Some(pos) = list
                        .iter()
                        .position(|x| x.as_object().and_then(|m| m.keys().next().cloned()) == name)
                    {
                        list[pos] = t;
                    } else {
                        list.push(t);
                    }
                }
                b.insert(k.clone(), Value::Array(list));
            }
            "_meta" | "_source" => {
                let mut cur = b.remove(k).unwrap_or(Value::Object(Map::new()));
                if let (Value::Object(c), Value::Object(n)) = (&mut cur, v) {
                    for (kk, vv) in n {
                        c.insert(kk.clone(), vv.clone());
                    }
                } else {
                    cur = v.clone();
                }
                b.insert(k.clone(), cur);
            }
            _ => {
                b.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Looks up the mapping of a dotted field path.
pub fn field_mapping<'a>(mappings: &'a Value, path: &str) -> Option<&'a Map<String, Value>> {
    let mut cur = mappings;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        let f = cur.get("properties")?.get(*p)?;
        if i == parts.len() - 1 {
            return f.as_object();
        }
        cur = f;
    }
    None
}

fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b[..4].iter().all(u8::is_ascii_digit)
        && crate::util::parse_date(s).is_some()
}

/// Adds mappings for fields of `source` that are not mapped yet, as dynamic mapping does.
/// Returns an error for `dynamic: strict`.
pub fn dynamic_map(mappings: &mut Value, source: &Value, auto_text: bool) -> EsResult<()> {
    if !mappings.is_object() {
        *mappings = json!({});
    }
    let dynamic = mappings
        .get("dynamic")
        .map(|d| crate::util::scalar_string(d).unwrap_or_default())
        .unwrap_or_else(|| "true".into());
    let date_detection = mappings
        .get("date_detection")
        .and_then(crate::util::parse_bool_value)
        .unwrap_or(true);
    let templates = mappings
        .get("dynamic_templates")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    let Some(Value::Object(src)) = Some(source) else {
        return Ok(());
    };
    let root = mappings
        .as_object_mut()
        .ok_or_else(|| EsError::parse("mapping"))?;
    let props = root
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    let ctx = DynCtx {
        dynamic: &dynamic,
        date_detection,
        templates: &templates,
        auto_text,
    };
    map_object(props, src, "", &ctx)?;
    if props.as_object().is_some_and(Map::is_empty) {
        root.remove("properties");
    }
    Ok(())
}

struct DynCtx<'a> {
    dynamic: &'a str,
    date_detection: bool,
    templates: &'a [Value],
    auto_text: bool,
}

fn map_object(
    props: &mut Value,
    src: &Map<String, Value>,
    path: &str,
    ctx: &DynCtx<'_>,
) -> EsResult<()> {
    let Value::Object(props) = props else {
        return Ok(());
    };
    for (name, value) in src {
        let full = field_path(path, name);
        let value = match value {
            Value::Array(a) => match a.iter().find(|x| !x.is_null()) {
                Some(v) => v,
                None => continue,
            },
            Value::Null => continue,
            v => v,
        };
        if let Some(existing) = props.get_mut(name) {
            if let (Some(sub), Value::Object(obj)) = (
                existing.as_object_mut().filter(|d| is_object_field(d)),
                value,
            ) {
                let child = sub
                    .entry("properties")
                    .or_insert_with(|| Value::Object(Map::new()));
                map_object(child, obj, &full, ctx)?;
            }
            continue;
        }
        match ctx.dynamic {
            "false" | "runtime" => continue,
            "strict" => {
                let within = if path.is_empty() { "_doc" } else { path };
                return Err(EsError::new(
                    400,
                    "strict_dynamic_mapping_exception",
                    format!(
                        "[1:2] mapping set to strict, dynamic introduction of [{name}] within [{within}] is not allowed"
                    ),
                ));
            }
            _ => {}
        }
        let kind = match value {
            Value::String(s) if ctx.date_detection && looks_like_date(s) => "date",
            Value::String(_) => "string",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_f64() => "double",
            Value::Number(_) => "long",
            Value::Object(_) => "object",
            _ => "string",
        };
        if let Some(def) = matching_dynamic_template(ctx.templates, name, &full, kind) {
            props.insert(name.clone(), def);
            continue;
        }
        let def = match (kind, value) {
            ("object", Value::Object(obj)) => {
                let mut child = Value::Object(Map::new());
                map_object(&mut child, obj, &full, ctx)?;
                json!({ "properties": child })
            }
            ("string", _) if ctx.auto_text => {
                json!({"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}})
            }
            ("string", _) => json!({"type": "keyword"}),
            ("double", _) => json!({"type": "float"}),
            (k, _) => json!({ "type": k }),
        };
        props.insert(name.clone(), def);
    }
    Ok(())
}

fn matching_dynamic_template(
    templates: &[Value],
    name: &str,
    path: &str,
    kind: &str,
) -> Option<Value> {
    for t in templates {
        let Some((_, def)) = t.as_object().and_then(|m| m.iter().next()) else {
            continue;
        };
        let matches = |key: &str, subject: &str, negate: bool| {
            let pats = crate::util::string_list(def.get(key));
            if pats.is_empty() {
                return true;
            }
            let hit = pats.iter().any(|p| crate::util::simple_match(p, subject));
            if negate { !hit } else { hit }
        };
        let mmt = crate::util::string_list(def.get("match_mapping_type"));
        let type_ok = mmt.is_empty()
            || mmt
                .iter()
                .any(|t| t == "*" || t == kind || (t == "double" && kind == "double"));
        if type_ok
            && matches("match", name, false)
            && matches("unmatch", name, true)
            && matches("path_match", path, false)
            && matches("path_unmatch", path, true)
        {
            let mut mapping = def.get("mapping").cloned().unwrap_or(json!({}));
            if let Some(m) = mapping.as_object_mut() {
                let dynamic = m.get("type").and_then(|t| t.as_str()) == Some("{dynamic_type}");
                if dynamic || !m.contains_key("type") {
                    m.insert(
                        "type".into(),
                        json!(if kind == "string" { "keyword" } else { kind }),
                    );
                }
            }
            return Some(mapping);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_merge() {
        let mut a =
            normalize_mappings(&json!({"properties": {"object2.red": {"type": "keyword"}}}))
                .expect("ok");
        let b = normalize_mappings(&json!({"properties": {"object2.red": {"type": "text"}, "object2.blue": {"type": "text"}}}))
            .expect("ok");
        merge_mappings(&mut a, &b);
        assert_eq!(
            a["properties"]["object2"]["properties"]["red"]["type"],
            "text"
        );
        assert_eq!(
            a["properties"]["object2"]["properties"]["blue"]["type"],
            "text"
        );
        assert!(normalize_mappings(&json!({"properties": {"": {"type": "keyword"}}})).is_err());
    }

    #[test]
    fn dynamic() {
        let mut m = json!({});
        dynamic_map(
            &mut m,
            &json!({"a": "x", "n": 1, "d": "2024-01-01T00:00:00Z", "o": {"b": true}}),
            true,
        )
        .expect("ok");
        assert_eq!(m["properties"]["a"]["fields"]["keyword"]["type"], "keyword");
        assert_eq!(m["properties"]["n"]["type"], "long");
        assert_eq!(m["properties"]["d"]["type"], "date");
        assert_eq!(m["properties"]["o"]["properties"]["b"]["type"], "boolean");
    }
}
