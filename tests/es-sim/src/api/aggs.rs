//! Search aggregations, the few the operator sends: `max`, `min`, `filter` and `terms`
//! (with sub-aggregations), answered over the matching documents as Elasticsearch
//! answers them (`value: null` over no documents, `value_as_string` for dates, buckets
//! by count then key). Any other type is refused rather than faked.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::search::{field_values, matches};
use crate::error::{EsError, EsResult};
use crate::settings::field_mapping;
use crate::util::{format_millis, parse_date};

/// One matching document: its id, source and its index's mappings.
#[derive(Clone, Copy)]
pub struct Doc<'a> {
    pub id: &'a str,
    pub source: &'a Value,
    pub mappings: &'a Value,
}

/// The `aggregations` object of a search answer for the request's `aggs`.
pub fn aggregate(aggs: &Value, docs: &[Doc<'_>]) -> EsResult<Value> {
    let Some(aggs) = aggs.as_object() else {
        return Err(EsError::parse("[aggs] must be an object"));
    };
    let mut out = Map::new();
    for (name, spec) in aggs {
        out.insert(name.clone(), one(name, spec, docs)?);
    }
    Ok(Value::Object(out))
}

fn one(name: &str, spec: &Value, docs: &[Doc<'_>]) -> EsResult<Value> {
    let obj = spec
        .as_object()
        .ok_or_else(|| EsError::parse(format!("aggregation [{name}] must be an object")))?;
    let sub = obj.get("aggs").or_else(|| obj.get("aggregations"));
    let mut kinds = obj
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "aggs" | "aggregations" | "meta"));
    let Some((kind, body)) = kinds.next() else {
        return Err(EsError::parse(format!(
            "Missing definition for aggregation [{name}]"
        )));
    };
    if let Some((other, _)) = kinds.next() {
        return Err(EsError::parse(format!(
            "Found two aggregation type definitions in [{name}]: [{kind}] and [{other}]"
        )));
    }
    let result = match kind.as_str() {
        "max" | "min" => metric(kind == "max", body, docs)?,
        "filter" => {
            let mut kept = Vec::new();
            for d in docs {
                if matches(body, d.id, d.source, d.mappings)? {
                    kept.push(*d);
                }
            }
            let mut v = json!({"doc_count": kept.len()});
            if let Some(sub) = sub {
                merge(&mut v, aggregate(sub, &kept)?);
            }
            return Ok(v);
        }
        "terms" => return terms(body, sub, docs),
        other => {
            return Err(EsError::illegal_argument(format!(
                "es-sim: aggregation type [{other}] is not simulated"
            )));
        }
    };
    if sub.is_some() {
        return Err(EsError::illegal_argument(format!(
            "Aggregator [{name}] of type [{kind}] cannot accept sub-aggregations"
        )));
    }
    Ok(result)
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, from) {
        a.extend(b);
    }
}

fn field_of(body: &Value) -> EsResult<&str> {
    body.get("field")
        .and_then(Value::as_str)
        .ok_or_else(|| EsError::illegal_argument("Required [field]"))
}

fn is_date(mappings: &Value, field: &str) -> bool {
    field_mapping(mappings, field)
        .and_then(|m| m.get("type"))
        .and_then(Value::as_str)
        == Some("date")
}

/// A value as a number: dates as epoch milliseconds.
fn numeric(v: &Value, date: bool) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if date => parse_date(s).map(|ms| ms as f64).or_else(|| s.parse().ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn metric(max: bool, body: &Value, docs: &[Doc<'_>]) -> EsResult<Value> {
    let field = field_of(body)?;
    let mut best: Option<f64> = None;
    let mut date = false;
    for d in docs {
        let is_date_field = is_date(d.mappings, field);
        date |= is_date_field;
        for v in field_values(d.source, field) {
            let values: Vec<&Value> = match v {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            for x in values.into_iter().filter_map(|x| numeric(x, is_date_field)) {
                best = Some(match best {
                    None => x,
                    Some(b) if max => b.max(x),
                    Some(b) => b.min(x),
                });
            }
        }
    }
    Ok(match best {
        None => json!({"value": null}),
        Some(v) if date => json!({"value": v, "value_as_string": format_millis(v as u64)}),
        Some(v) => json!({"value": v}),
    })
}

fn terms(body: &Value, sub: Option<&Value>, docs: &[Doc<'_>]) -> EsResult<Value> {
    let field = field_of(body)?;
    let size = body.get("size").and_then(Value::as_u64).unwrap_or(10) as usize;
    let mut groups: BTreeMap<String, (Value, Vec<usize>)> = BTreeMap::new();
    for (i, d) in docs.iter().enumerate() {
        let mut seen = Vec::new();
        for v in field_values(d.source, field) {
            let values: Vec<&Value> = match v {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            for x in values {
                let key = match x {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => continue,
                };
                if !seen.contains(&key) {
                    seen.push(key.clone());
                    groups
                        .entry(key)
                        .or_insert_with(|| (x.clone(), Vec::new()))
                        .1
                        .push(i);
                }
            }
        }
    }
    let mut buckets: Vec<(String, Value, Vec<usize>)> =
        groups.into_iter().map(|(k, (v, ix))| (k, v, ix)).collect();
    buckets.sort_by(|a, b| b.2.len().cmp(&a.2.len()).then(a.0.cmp(&b.0)));
    let other: usize = buckets.iter().skip(size).map(|b| b.2.len()).sum();
    let mut out = Vec::new();
    for (_, key, ix) in buckets.into_iter().take(size) {
        let mut bucket = json!({"key": key, "doc_count": ix.len()});
        if let Some(sub) = sub {
            let kept: Vec<Doc<'_>> = ix.iter().map(|&i| docs[i]).collect();
            merge(&mut bucket, aggregate(sub, &kept)?);
        }
        out.push(bucket);
    }
    Ok(json!({
        "doc_count_error_upper_bound": 0,
        "sum_other_doc_count": other,
        "buckets": out,
    }))
}
