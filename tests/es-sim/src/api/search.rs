//! `_search` and `_count` with a small query language (match_all, term, terms, match, bool,
//! exists, ids, range, prefix, wildcard, query_string) over the documents of `docs.rs`;
//! `aggs.rs` answers the aggregations of a search.

use serde_json::{Value, json};

use super::aggs::{Doc, aggregate};
use super::docs::check_open;
use super::{Ctx, Method, Reply, ResolveOpts};
use crate::error::{EsError, EsResult};
use crate::settings::field_mapping;
use crate::util::simple_match;

pub const SEARCH_PARAMS: &[&str] = &[
    "q",
    "size",
    "from",
    "sort",
    "rest_total_hits_as_int",
    "track_total_hits",
    "ignore_unavailable",
    "allow_no_indices",
    "expand_wildcards",
    "routing",
    "preference",
    "search_type",
    "request_cache",
    "timeout",
    "terminate_after",
    "_source",
    "typed_keys",
    "allow_partial_search_results",
    "df",
    "default_operator",
    "analyzer",
    "lenient",
    "ccs_minimize_roundtrips",
    "batched_reduce_size",
    "min_score",
    "track_scores",
    "version",
    "seq_no_primary_term",
    "stored_fields",
    "scroll",
    "ignore_throttled",
];

pub(super) fn field_values<'a>(source: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut cur: Vec<&Value> = vec![source];
    for part in path.split('.') {
        let mut next = Vec::new();
        for v in cur {
            match v {
                Value::Object(m) => {
                    if let Some(x) = m.get(part) {
                        next.push(x);
                    }
                }
                Value::Array(a) => {
                    for e in a {
                        if let Some(x) = e.get(part) {
                            next.push(x);
                        }
                    }
                }
                _ => {}
            }
        }
        cur = next;
    }
    // flatten arrays at the leaf
    let mut out = Vec::new();
    for v in cur {
        match v {
            Value::Array(a) => out.extend(a.iter()),
            v => out.push(v),
        }
    }
    // `.keyword` sub-fields read the parent value
    if out.is_empty()
        && let Some(parent) = path.strip_suffix(".keyword")
    {
        return field_values(source, parent);
    }
    out
}

fn tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn is_text(mappings: &Value, field: &str) -> bool {
    field_mapping(mappings, field)
        .and_then(|m| m.get("type"))
        .and_then(Value::as_str)
        .is_some_and(|t| t == "text" || t == "match_only_text")
}

fn scalar_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Number(x), Value::String(s)) | (Value::String(s), Value::Number(x)) => {
            s.parse::<f64>().ok() == x.as_f64()
        }
        (Value::Bool(x), Value::String(s)) | (Value::String(s), Value::Bool(x)) => {
            s == &x.to_string()
        }
        _ => a == b,
    }
}

fn term_matches(mappings: &Value, source: &Value, field: &str, want: &Value) -> bool {
    let text = is_text(mappings, field);
    field_values(source, field).into_iter().any(|v| {
        if text && let (Value::String(s), Value::String(w)) = (v, want) {
            return tokens(s).iter().any(|t| t == w);
        }
        scalar_eq(v, want)
    })
}

fn cmp_values(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => {
            match (crate::util::parse_date(x), crate::util::parse_date(y)) {
                (Some(p), Some(q)) => Some(p.cmp(&q)),
                _ => Some(x.cmp(y)),
            }
        }
        (Value::Number(x), Value::String(s)) => x.as_f64()?.partial_cmp(&s.parse::<f64>().ok()?),
        (Value::String(s), Value::Number(y)) => s.parse::<f64>().ok()?.partial_cmp(&y.as_f64()?),
        _ => None,
    }
}

fn single_field<'a>(q: &'a Value, kind: &str) -> EsResult<(&'a String, &'a Value)> {
    q.as_object()
        .and_then(|m| m.iter().find(|(k, _)| !k.starts_with('_') && *k != "boost"))
        .ok_or_else(|| {
            EsError::new(
                400,
                "parsing_exception",
                format!("[{kind}] query malformed, no field specified"),
            )
        })
}

/// Evaluates a query against one document.
pub fn matches(query: &Value, id: &str, source: &Value, mappings: &Value) -> EsResult<bool> {
    let Some((kind, body)) = query.as_object().and_then(|m| m.iter().next()) else {
        return Err(EsError::new(
            400,
            "parsing_exception",
            "query malformed, empty clause found",
        ));
    };
    Ok(match kind.as_str() {
        "match_all" => true,
        "match_none" => false,
        "term" => {
            let (f, v) = single_field(body, "term")?;
            let v = v.get("value").unwrap_or(v);
            term_matches(mappings, source, f, v)
        }
        "terms" => {
            let (f, v) = single_field(body, "terms")?;
            let list = v.as_array().cloned().unwrap_or_default();
            list.iter().any(|x| term_matches(mappings, source, f, x))
        }
        "match" | "match_phrase" => {
            let (f, v) = single_field(body, kind)?;
            let q = v.get("query").unwrap_or(v);
            match q {
                Value::String(s) if is_text(mappings, f) || kind == "match_phrase" => {
                    let want = tokens(s);
                    field_values(source, f).into_iter().any(|fv| {
                        let have = fv.as_str().map(tokens).unwrap_or_default();
                        if kind == "match_phrase" {
                            have.windows(want.len().max(1))
                                .any(|w| w == want.as_slice())
                        } else {
                            want.iter().any(|t| have.contains(t))
                        }
                    })
                }
                other => term_matches(mappings, source, f, other),
            }
        }
        "exists" => {
            let f = body
                .get("field")
                .and_then(Value::as_str)
                .unwrap_or_default();
            field_values(source, f).iter().any(|v| !v.is_null())
        }
        "ids" => body
            .get("values")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(id))),
        "prefix" | "wildcard" => {
            let (f, v) = single_field(body, kind)?;
            let pat = v
                .get("value")
                .unwrap_or(v)
                .as_str()
                .unwrap_or_default()
                .to_string();
            let pat = if kind == "prefix" {
                format!("{pat}*")
            } else {
                pat.replace('?', "*")
            };
            field_values(source, f)
                .into_iter()
                .any(|fv| fv.as_str().is_some_and(|s| simple_match(&pat, s)))
        }
        "range" => {
            let (f, v) = single_field(body, "range")?;
            field_values(source, f).into_iter().any(|fv| {
                let ok = |op: &str, pred: fn(std::cmp::Ordering) -> bool| {
                    v.get(op)
                        .is_none_or(|b| cmp_values(fv, b).is_some_and(pred))
                };
                ok("gt", |o| o.is_gt())
                    && ok("gte", |o| o.is_ge())
                    && ok("lt", |o| o.is_lt())
                    && ok("lte", |o| o.is_le())
            })
        }
        "bool" => {
            let clauses = |k: &str| -> Vec<Value> {
                match body.get(k) {
                    Some(Value::Array(a)) => a.clone(),
                    Some(v @ Value::Object(_)) => vec![v.clone()],
                    _ => Vec::new(),
                }
            };
            let must = clauses("must");
            let filter = clauses("filter");
            let should = clauses("should");
            let must_not = clauses("must_not");
            for q in must.iter().chain(&filter) {
                if !matches(q, id, source, mappings)? {
                    return Ok(false);
                }
            }
            for q in &must_not {
                if matches(q, id, source, mappings)? {
                    return Ok(false);
                }
            }
            let min_should = body
                .get("minimum_should_match")
                .and_then(crate::util::scalar_string)
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or(if must.is_empty() && filter.is_empty() {
                    1
                } else {
                    0
                });
            if should.is_empty() {
                true
            } else {
                let mut n = 0;
                for q in &should {
                    if matches(q, id, source, mappings)? {
                        n += 1;
                    }
                }
                n >= min_should
            }
        }
        "query_string" | "simple_query_string" => {
            let q = body.get("query").and_then(Value::as_str).unwrap_or("*");
            query_string_matches(q, source, mappings)
        }
        "constant_score" => match body.get("filter") {
            Some(f) => matches(f, id, source, mappings)?,
            None => true,
        },
        other => {
            return Err(
                EsError::new(400, "parsing_exception", format!("unknown query [{other}]"))
                    .caused_by(EsError::new(
                        400,
                        "named_object_not_found_exception",
                        format!("[1:2] unknown field [{other}]"),
                    )),
            );
        }
    })
}

fn query_string_matches(q: &str, source: &Value, mappings: &Value) -> bool {
    let q = q.trim();
    if q.is_empty() || q == "*" || q == "*:*" {
        return true;
    }
    match q.split_once(':') {
        Some((f, v)) => {
            let v = v.trim_matches('"');
            term_matches(mappings, source, f, &json!(v))
                || field_values(source, f).iter().any(|fv| {
                    fv.as_str()
                        .is_some_and(|s| tokens(s).contains(&v.to_lowercase()))
                })
        }
        None => {
            let want = q.to_lowercase();
            fn any_token(v: &Value, want: &str) -> bool {
                match v {
                    Value::String(s) => tokens(s).iter().any(|t| t == want),
                    Value::Object(m) => m.values().any(|x| any_token(x, want)),
                    Value::Array(a) => a.iter().any(|x| any_token(x, want)),
                    other => crate::util::scalar_string(other).as_deref() == Some(want),
                }
            }
            any_token(source, &want)
        }
    }
}

struct Hit {
    index: String,
    id: String,
    seq: u64,
    source: Value,
}

fn run_query(ctx: &mut Ctx<'_>) -> EsResult<(Vec<Hit>, u64, Value)> {
    let names = ctx.indices("_all", ResolveOpts::STRICT)?;
    for n in &names {
        check_open(ctx.state, n)?;
    }
    let body = if ctx.method == Method::Get && ctx.json.is_none() {
        json!({})
    } else {
        ctx.body_or_empty()?
    };
    let query = match (body.get("query"), ctx.q("q")) {
        (Some(q), _) => q.clone(),
        (None, Some(q)) => json!({"query_string": {"query": q}}),
        (None, None) => json!({"match_all": {}}),
    };
    let mut hits = Vec::new();
    let mut shards = 0;
    for n in &names {
        let ix = &ctx.state.indices[n];
        shards += ix.number_of_shards();
        for (id, d) in &ix.docs {
            if matches(&query, id, &d.source, &ix.mappings)? {
                hits.push(Hit {
                    index: n.clone(),
                    id: id.clone(),
                    seq: d.seq_no,
                    source: d.source.clone(),
                });
            }
        }
    }
    hits.sort_by(|a, b| a.index.cmp(&b.index).then(a.seq.cmp(&b.seq)));
    Ok((hits, shards, body))
}

pub fn search(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let (mut hits, shards, body) = run_query(ctx)?;
    let total = hits.len();
    let aggregations = match body.get("aggs").or_else(|| body.get("aggregations")) {
        None => None,
        Some(aggs) => {
            let docs: Vec<Doc<'_>> = hits
                .iter()
                .map(|h| Doc {
                    id: &h.id,
                    source: &h.source,
                    mappings: &ctx.state.indices[&h.index].mappings,
                })
                .collect();
            Some(aggregate(aggs, &docs)?)
        }
    };
    let num = |k: &str, default: usize| -> EsResult<usize> {
        match (body.get(k), ctx.q(k)) {
            (Some(v), _) => v
                .as_u64()
                .map(|x| x as usize)
                .ok_or_else(|| EsError::parse(format!("[{k}] must be a number"))),
            (None, Some(q)) => q.parse().map_err(|_| {
                EsError::illegal_argument(format!(
                    "Failed to parse int parameter [{k}] with value [{q}]"
                ))
            }),
            (None, None) => Ok(default),
        }
    };
    let size = num("size", 10)?;
    let from = num("from", 0)?;
    let specs: Vec<(String, bool)> = match body.get("sort") {
        None => Vec::new(),
        Some(Value::Array(a)) => a.iter().filter_map(sort_spec).collect(),
        Some(other) => sort_spec(other).into_iter().collect(),
    };
    if !specs.is_empty() {
        hits.sort_by(|a, b| {
            for (f, desc) in &specs {
                let va = field_values(&a.source, f)
                    .first()
                    .map(|v| (*v).clone())
                    .unwrap_or(Value::Null);
                let vb = field_values(&b.source, f)
                    .first()
                    .map(|v| (*v).clone())
                    .unwrap_or(Value::Null);
                let o = cmp_values(&va, &vb).unwrap_or(std::cmp::Ordering::Equal);
                let o = if *desc { o.reverse() } else { o };
                if o.is_ne() {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
    }
    let as_int = ctx.q_bool("rest_total_hits_as_int")?;
    let no_source = body.get("_source") == Some(&json!(false));
    let page: Vec<Value> = hits
        .into_iter()
        .skip(from)
        .take(size)
        .map(|h| {
            // sorted hits carry their sort values and no score, as in Elasticsearch
            let score = if specs.is_empty() {
                json!(1.0)
            } else {
                Value::Null
            };
            let mut v = json!({"_index": h.index, "_id": h.id, "_score": score});
            if !no_source {
                v["_source"] = h.source.clone();
            }
            if !specs.is_empty() {
                let values: Vec<Value> = specs
                    .iter()
                    .map(|(f, _)| {
                        field_values(&h.source, f)
                            .first()
                            .map(|x| (*x).clone())
                            .unwrap_or(Value::Null)
                    })
                    .collect();
                v["sort"] = Value::Array(values);
            }
            v
        })
        .collect();
    let total_v = if as_int {
        json!(total)
    } else {
        json!({"value": total, "relation": "eq"})
    };
    let mut answer = json!({
        "took": 1,
        "timed_out": false,
        "_shards": {"total": shards, "successful": shards, "skipped": 0, "failed": 0},
        "hits": {"total": total_v, "max_score": if total > 0 && specs.is_empty() { json!(1.0) } else { Value::Null }, "hits": page},
    });
    if let Some(aggregations) = aggregations {
        answer["aggregations"] = aggregations;
    }
    Ok(Reply::ok(answer))
}

fn sort_spec(v: &Value) -> Option<(String, bool)> {
    match v {
        Value::String(s) => Some((s.clone(), false)),
        Value::Object(m) => {
            let (f, o) = m.iter().next()?;
            let desc = match o {
                Value::String(s) => s == "desc",
                Value::Object(oo) => oo.get("order").and_then(Value::as_str) == Some("desc"),
                _ => false,
            };
            Some((f.clone(), desc))
        }
        _ => None,
    }
}

pub fn count(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let (hits, shards, body) = run_query(ctx)?;
    if let Some(key) = ["aggs", "aggregations"]
        .into_iter()
        .find(|k| body.get(k).is_some())
    {
        return Err(EsError::parse(format!("request does not support [{key}]")));
    }
    Ok(Reply::ok(json!({
        "count": hits.len(),
        "_shards": {"total": shards, "successful": shards, "skipped": 0, "failed": 0},
    })))
}
