//! Documents: `_bulk` (ndjson), index/create/get/delete a document (search is in
//! `search.rs`). Writes through an alias land in its write index; missing indices are
//! auto-created (templates apply). Documents are visible to search immediately (every
//! write acts as refreshed).

use serde_json::{Value, json};

use super::indices::{CreateRequest, create_index};
use super::security::{has_index, index_denied};
use super::{AuthUser, Ctx, Method, Reply};
use crate::error::{EsError, EsResult};
use crate::settings::dynamic_map;
use crate::state::{Doc, State};
use crate::util::{now_millis, random_id, resolve_date_math};

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

pub(super) fn check_open(state: &State, index: &str) -> EsResult<()> {
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
