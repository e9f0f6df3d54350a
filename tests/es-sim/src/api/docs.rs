//! Documents: `_bulk` (ndjson), index/create/get/delete a document, and
//! `_search` / `_count` with a small query language (match_all, term, terms,
//! match, bool, exists, ids, range, prefix, wildcard). Writes through an alias
//! land in its write index; missing indices are auto-created (templates apply).
//! Documents are visible to search immediately (every write acts as refreshed).

use serde_json::{Value, json};

use super::indices::{CreateRequest, create_index};
use super::security::{has_index, index_denied};
use super::{AuthUser, Ctx, Method, Reply, ResolveOpts};
use crate::error::{EsError, EsResult};
use crate::settings::{dynamic_map, field_mapping};
use crate::state::{Doc, State};
use crate::util::{now_millis, random_id, resolve_date_math, simple_match};

pub const BULK_PARAMS: &[&str] = &[
    "wait_for_active_shards",
    "refresh",
    "routing",
    "timeout",
    "type",
    "_source",
    "_source_excludes",
    "_source_includes",
    "pipeline",
    "require_alias",
    "require_data_stream",
    "list_executed_pipelines",
    "include_source_on_error",
];
pub const INDEX_PARAMS: &[&str] = &[
    "wait_for_active_shards",
    "op_type",
    "refresh",
    "routing",
    "timeout",
    "version",
    "version_type",
    "if_seq_no",
    "if_primary_term",
    "pipeline",
    "require_alias",
    "require_data_stream",
    "include_source_on_error",
];
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpType {
    Index,
    Create,
    Delete,
    Update,
}

impl OpType {
    fn action(self) -> &'static str {
        match self {
            OpType::Index => "indices:data/write/index",
            OpType::Create => "indices:data/write/index",
            OpType::Delete => "indices:data/write/delete",
            OpType::Update => "indices:data/write/update",
        }
    }

    fn privileges(self) -> &'static [&'static str] {
        match self {
            OpType::Index | OpType::Update => &["index", "write", "all"],
            OpType::Create => &["create_doc", "create", "index", "write", "all"],
            OpType::Delete => &["delete", "write", "all"],
        }
    }

    fn name(self) -> &'static str {
        match self {
            OpType::Index => "index",
            OpType::Create => "create",
            OpType::Delete => "delete",
            OpType::Update => "update",
        }
    }
}

const AUTO_CREATE: &[&str] = &["create_index", "auto_configure", "manage", "all"];

/// Resolves where a write to `name` lands, auto-creating the index when allowed.
fn write_target(
    state: &mut State,
    user: Option<&AuthUser>,
    name: &str,
    op: OpType,
    require_alias: bool,
) -> EsResult<String> {
    let resolved = resolve_date_math(name, now_millis())?;
    // authorized when the user holds the privilege on the name written to or on the concrete index
    let denied = |state: &State, target: &str| -> Option<EsError> {
        let u = user?;
        let ok = has_index(state, u, op.action(), op.privileges(), &resolved)
            || has_index(state, u, op.action(), op.privileges(), target);
        (!ok).then(|| index_denied(state, u, op.action(), op.privileges(), &resolved))
    };
    if state.alias_exists(&resolved) {
        let target = state.write_index(&resolved).ok_or_else(|| {
            EsError::illegal_argument(format!(
                "no write index is defined for alias [{resolved}]. The write index may be explicitly disabled using is_write_index=false or the alias points to multiple indices without one being designated as a write index"
            ))
        })?;
        if let Some(e) = denied(state, &target) {
            return Err(e);
        }
        check_open(state, &target)?;
        return Ok(target);
    }
    if require_alias {
        return Err(EsError::new(
            404,
            "index_not_found_exception",
            format!("no such index [{resolved}] and [require_alias] request flag is [true] and [{resolved}] is not an alias"),
        )
        .with("index", resolved.clone()));
    }
    if state.indices.contains_key(&resolved) {
        if let Some(e) = denied(state, &resolved) {
            return Err(e);
        }
        check_open(state, &resolved)?;
        return Ok(resolved);
    }
    if op == OpType::Delete || op == OpType::Update {
        return Err(EsError::index_not_found(&resolved));
    }
    if let Some(u) = user {
        if !has_index(
            state,
            u,
            "indices:admin/auto_create",
            AUTO_CREATE,
            &resolved,
        ) {
            return Err(index_denied(
                state,
                u,
                "indices:admin/auto_create",
                AUTO_CREATE,
                &resolved,
            ));
        }
        if !has_index(state, u, op.action(), op.privileges(), &resolved) {
            return Err(index_denied(
                state,
                u,
                op.action(),
                op.privileges(),
                &resolved,
            ));
        }
    }
    create_index(state, name, &resolved, CreateRequest::default())?;
    Ok(resolved)
}

fn check_open(state: &State, index: &str) -> EsResult<()> {
    match state.indices.get(index) {
        Some(ix) if ix.closed => Err(EsError::index_closed(index, &ix.uuid)),
        _ => Ok(()),
    }
}

struct WriteOutcome {
    index: String,
    id: String,
    version: u64,
    seq_no: u64,
    result: &'static str,
    status: u16,
    replicas: u64,
}

impl WriteOutcome {
    fn body(&self) -> Value {
        json!({
            "_index": self.index,
            "_id": self.id,
            "_version": self.version,
            "result": self.result,
            "_shards": {"total": 1 + self.replicas, "successful": 1, "failed": 0},
            "_seq_no": self.seq_no,
            "_primary_term": 1,
        })
    }
}

struct WriteOp<'a> {
    op: OpType,
    index: &'a str,
    id: Option<String>,
    source: Option<Value>,
    if_seq_no: Option<u64>,
    require_alias: bool,
}

fn apply_write(
    state: &mut State,
    user: Option<&AuthUser>,
    w: WriteOp<'_>,
) -> EsResult<WriteOutcome> {
    let target = write_target(state, user, w.index, w.op, w.require_alias)?;
    let nodes = state.nodes;
    let ix = state
        .indices
        .get_mut(&target)
        .ok_or_else(|| EsError::index_not_found(&target))?;
    let replicas = ix
        .number_of_replicas(nodes)
        .min(u64::from(nodes.saturating_sub(1)));
    let id = match w.id {
        Some(id) if id.is_empty() => {
            return Err(EsError::validation(&[
                "id is too short, must be no less than 1 bytes long".into(),
            ]));
        }
        Some(id) => id,
        None => random_id(20),
    };
    let existing = ix.docs.get(&id).cloned();
    if let (Some(want), Some(cur)) = (w.if_seq_no, &existing)
        && cur.seq_no != want
    {
        return Err(EsError::new(
            409,
            "version_conflict_engine_exception",
            format!("[{id}]: version conflict, required seqNo [{want}], primary term [1]. current document has seqNo [{}] and primary term [1]", cur.seq_no),
        )
        .on_index(&target, &ix.uuid)
        .with("shard", "0"));
    }
    let seq_no = ix.next_seq_no;
    match w.op {
        OpType::Delete => {
            let Some(cur) = existing else {
                ix.next_seq_no += 1;
                return Ok(WriteOutcome {
                    index: target,
                    id,
                    version: 1,
                    seq_no,
                    result: "not_found",
                    status: 404,
                    replicas,
                });
            };
            ix.docs.remove(&id);
            ix.next_seq_no += 1;
            Ok(WriteOutcome {
                index: target,
                id,
                version: cur.version + 1,
                seq_no,
                result: "deleted",
                status: 200,
                replicas,
            })
        }
        op => {
            if op == OpType::Create
                && let Some(cur) = &existing
            {
                return Err(EsError::new(
                    409,
                    "version_conflict_engine_exception",
                    format!(
                        "[{id}]: version conflict, document already exists (current version [{}])",
                        cur.version
                    ),
                )
                .on_index(&target, &ix.uuid)
                .with("shard", "0"));
            }
            let mut source = w.source.unwrap_or(json!({}));
            if op == OpType::Update {
                let upd = source.clone();
                let doc = upd.get("doc").cloned();
                let upsert = upd.get("upsert").cloned();
                let as_upsert = upd
                    .get("doc_as_upsert")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                source = match (&existing, doc, upsert) {
                    (Some(cur), Some(doc), _) => {
                        let mut merged = cur.source.clone();
                        deep_merge(&mut merged, &doc);
                        merged
                    }
                    (None, Some(doc), _) if as_upsert => doc,
                    (None, _, Some(up)) => up,
                    (None, _, _) => {
                        return Err(EsError::new(
                            404,
                            "document_missing_exception",
                            format!("[{id}]: document missing"),
                        )
                        .on_index(&target, &ix.uuid)
                        .with("shard", "0"));
                    }
                    (Some(cur), None, _) => cur.source.clone(),
                };
            }
            if !source.is_object() {
                return Err(EsError::new(
                    400,
                    "document_parsing_exception",
                    "[1:1] failed to parse: document must be an object",
                ));
            }
            let auto_text = ix.setting("index.mapping.dynamic_strings.auto_text") != Some("false");
            // a document parsing error names no index (as in Elasticsearch's bulk items)
            dynamic_map(&mut ix.mappings, &source, auto_text)?;
            let version = existing.as_ref().map(|d| d.version + 1).unwrap_or(1);
            ix.docs.insert(
                id.clone(),
                Doc {
                    source,
                    version,
                    seq_no,
                    primary_term: 1,
                },
            );
            ix.next_seq_no += 1;
            let (result, status) = if existing.is_some() {
                ("updated", 200)
            } else {
                ("created", 201)
            };
            Ok(WriteOutcome {
                index: target,
                id,
                version,
                seq_no,
                result,
                status,
                replicas,
            })
        }
    }
}

fn deep_merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(bv) if bv.is_object() && v.is_object() => deep_merge(bv, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn if_seq_no(ctx: &Ctx<'_>) -> EsResult<Option<u64>> {
    ctx.q("if_seq_no")
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                EsError::illegal_argument(format!("failed to parse [if_seq_no] value [{v}]"))
            })
        })
        .transpose()
}

pub fn index_doc(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let op = match ctx.q("op_type") {
        Some("create") => OpType::Create,
        None | Some("index") => OpType::Index,
        Some(other) => {
            return Err(EsError::illegal_argument(format!(
                "opType must be 'create' or 'index', found: [{other}]"
            )));
        }
    };
    let op = if ctx.param("id").is_none() && op == OpType::Index {
        OpType::Create
    } else {
        op
    };
    write_one(ctx, op)
}

pub fn create_doc(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    write_one(ctx, OpType::Create)
}

/// A single-document write's answer: with `forced_refresh` when `?refresh=true` made it
/// visible.
fn written(ctx: &Ctx<'_>, out: &WriteOutcome) -> Value {
    let mut body = out.body();
    if out.status < 300 && matches!(ctx.q("refresh"), Some("" | "true")) {
        body["forced_refresh"] = json!(true);
    }
    body
}

fn write_one(ctx: &mut Ctx<'_>, op: OpType) -> EsResult<Reply> {
    let index = ctx.param("index").unwrap_or_default().to_string();
    let id = ctx.param("id").map(String::from);
    let source = ctx.body_json()?.clone();
    let w = WriteOp {
        op,
        index: &index,
        id,
        source: Some(source),
        if_seq_no: if_seq_no(ctx)?,
        require_alias: ctx.q_bool("require_alias")?,
    };
    let out = apply_write(ctx.state, ctx.user, w)?;
    Ok(Reply::with_status(out.status, written(ctx, &out)))
}

pub fn delete_doc(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let index = ctx.param("index").unwrap_or_default().to_string();
    let id = ctx.param("id").map(String::from);
    let w = WriteOp {
        op: OpType::Delete,
        index: &index,
        id,
        source: None,
        if_seq_no: if_seq_no(ctx)?,
        require_alias: false,
    };
    let out = apply_write(ctx.state, ctx.user, w)?;
    Ok(Reply::with_status(out.status, written(ctx, &out)))
}

pub fn get_doc(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let name = resolve_date_math(ctx.param("index").unwrap_or_default(), now_millis())?;
    let id = ctx.param("id").unwrap_or_default().to_string();
    let index = if ctx.state.indices.contains_key(&name) {
        name.clone()
    } else if ctx.state.alias_exists(&name) {
        let members = ctx.state.alias_indices(&name);
        if members.len() > 1 {
            return Err(EsError::illegal_argument(format!(
                "alias [{name}] has more than one index associated with it [{}], can't execute a single index op",
                members.join(", ")
            )));
        }
        members.into_iter().next().unwrap_or_default()
    } else {
        return Err(EsError::index_not_found(&name));
    };
    let ix = &ctx.state.indices[&index];
    check_open(ctx.state, &index)?;
    match ix.docs.get(&id) {
        Some(d) => {
            if ctx.method == Method::Head {
                return Ok(Reply::empty(200));
            }
            Ok(Reply::ok(json!({
                "_index": index,
                "_id": id,
                "_version": d.version,
                "_seq_no": d.seq_no,
                "_primary_term": d.primary_term,
                "found": true,
                "_source": d.source,
            })))
        }
        None if ctx.method == Method::Head => Ok(Reply::empty(404)),
        None => Err(EsError::raw(
            404,
            json!({"_index": index, "_id": id, "found": false}),
        )),
    }
}

pub fn bulk(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let text = ctx.raw_body.to_string();
    if text.trim().is_empty() {
        return Err(EsError::validation(&["no requests added".into()]));
    }
    if !text.ends_with('\n') {
        return Err(EsError::illegal_argument(
            "The bulk request must be terminated by a newline [\\n]",
        ));
    }
    let default_index = ctx.param("index").map(String::from);
    let forced_refresh = matches!(ctx.q("refresh"), Some("" | "true"));
    let require_alias_default = ctx.q_bool("require_alias")?;
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    let mut items: Vec<Value> = Vec::new();
    let mut errors = false;
    let mut line_no = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        i += 1;
        line_no += 1;
        if line.is_empty() {
            continue;
        }
        let action: Value = serde_json::from_str(line).map_err(|e| {
            EsError::parse(format!(
                "[{line_no}:1] Malformed action/metadata line [{line_no}]: {e}"
            ))
        })?;
        let Some((kind, meta)) = action.as_object().and_then(|m| m.iter().next()) else {
            return Err(EsError::illegal_argument(format!(
                "Malformed action/metadata line [{line_no}], expected START_OBJECT or END_OBJECT but found [VALUE_STRING]"
            )));
        };
        let op = match kind.as_str() {
            "index" => OpType::Index,
            "create" => OpType::Create,
            "delete" => OpType::Delete,
            "update" => OpType::Update,
            other => {
                return Err(EsError::illegal_argument(format!(
                    "Malformed action/metadata line [{line_no}], expected one of [create, delete, index, update] but found [{other}]"
                )));
            }
        };
        let op = if op == OpType::Index
            && meta.get("op_type").and_then(Value::as_str) == Some("create")
        {
            OpType::Create
        } else {
            op
        };
        let source = if op == OpType::Delete {
            None
        } else {
            let Some(src) = lines.get(i) else {
                return Err(EsError::illegal_argument(format!(
                    "Malformed action/metadata line [{line_no}], no source"
                )));
            };
            i += 1;
            line_no += 1;
            Some(serde_json::from_str::<Value>(src).map_err(|e| {
                EsError::new(
                    400,
                    "document_parsing_exception",
                    format!("[{line_no}:1] failed to parse: {e}"),
                )
            })?)
        };
        let index = meta
            .get("_index")
            .and_then(Value::as_str)
            .map(String::from)
            .or_else(|| default_index.clone());
        let id = meta.get("_id").and_then(crate::util::scalar_string);
        let require_alias = meta
            .get("require_alias")
            .and_then(Value::as_bool)
            .unwrap_or(require_alias_default);
        let if_seq = meta.get("if_seq_no").and_then(Value::as_u64);
        let result = match &index {
            None => Err(EsError::validation(&["index is missing".into()])),
            Some(_) if op != OpType::Index && op != OpType::Create && id.is_none() => {
                Err(EsError::validation(&["id is missing".into()]))
            }
            Some(ix) => apply_write(
                ctx.state,
                ctx.user,
                WriteOp {
                    op,
                    index: ix,
                    id: id.clone(),
                    source,
                    if_seq_no: if_seq,
                    require_alias,
                },
            ),
        };
        let item = match result {
            Ok(out) => {
                let mut b = out.body();
                if forced_refresh && out.status < 300 {
                    b["forced_refresh"] = json!(true);
                }
                b["status"] = json!(out.status);
                if out.status >= 300 {
                    errors = true;
                }
                b
            }
            Err(e) => {
                errors = true;
                let mut err = e.body()["error"].clone();
                if let Some(m) = err.as_object_mut() {
                    m.remove("root_cause");
                }
                if e.status == 403 {
                    // bulk items are authorized as shard-level bulk actions
                    if let Some(r) = err.get("reason").and_then(Value::as_str) {
                        let r = r.replace(op.action(), "indices:data/write/bulk[s]");
                        err["reason"] = json!(r);
                    }
                }
                // the concrete index the write went to, when Elasticsearch resolved it
                let concrete = err
                    .get("index")
                    .and_then(Value::as_str)
                    .map(String::from)
                    .or_else(|| index.clone())
                    .unwrap_or_default();
                json!({
                    "_index": concrete,
                    "_id": id.clone(),
                    "status": e.status,
                    "error": err,
                })
            }
        };
        items.push(json!({ op.name(): item }));
    }
    Ok(Reply::ok(
        json!({"errors": errors, "took": 1, "items": items}),
    ))
}

// ---- search ----

fn field_values<'a>(source: &'a Value, path: &str) -> Vec<&'a Value> {
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
    if body.get("aggs").is_some() || body.get("aggregations").is_some() {
        return Err(EsError::illegal_argument(
            "es-sim: aggregations are not simulated",
        ));
    }
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
    Ok(Reply::ok(json!({
        "took": 1,
        "timed_out": false,
        "_shards": {"total": shards, "successful": shards, "skipped": 0, "failed": 0},
        "hits": {"total": total_v, "max_score": if total > 0 && specs.is_empty() { json!(1.0) } else { Value::Null }, "hits": page},
    })))
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
    let (hits, shards, _) = run_query(ctx)?;
    Ok(Reply::ok(json!({
        "count": hits.len(),
        "_shards": {"total": shards, "successful": shards, "skipped": 0, "failed": 0},
    })))
}
