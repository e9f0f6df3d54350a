//! Aliases: `PUT/DELETE /{index}/_alias/{name}`, `GET|HEAD /_alias/{name}`,
//! `POST /_aliases` (add / remove / remove_index, `must_exist`, per-action
//! results since 8.14) and the one-write-index rule.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::security::require_index;
use super::{Ctx, Method, Reply, ResolveOpts, resolve_indices};
use crate::error::{EsError, EsResult};
use crate::state::{AliasMeta, State};
use crate::util::{is_pattern, now_millis, resolve_date_math, scalar_string, simple_match};

/// Parses an alias definition (`filter`, `routing`, `index_routing`, `search_routing`, `is_write_index`, `is_hidden`).
pub fn parse_alias_meta(v: &Value) -> EsResult<AliasMeta> {
    let mut a = AliasMeta::default();
    let Value::Object(m) = v else {
        if v.is_null() {
            return Ok(a);
        }
        return Err(EsError::parse(
            "[1:2] [aliases] failed to parse alias definition",
        ));
    };
    let mut routing = None;
    for (k, val) in m {
        match k.as_str() {
            "filter" => a.filter = Some(val.clone()),
            "routing" => routing = scalar_string(val),
            "index_routing" => a.index_routing = scalar_string(val),
            "search_routing" => a.search_routing = scalar_string(val),
            "is_write_index" => a.is_write_index = crate::util::parse_bool_value(val),
            "is_hidden" => a.is_hidden = crate::util::parse_bool_value(val),
            other => {
                return Err(EsError::illegal_argument(format!(
                    "Unsupported field [{other}]"
                )));
            }
        }
    }
    if let Some(r) = routing {
        a.index_routing.get_or_insert(r.clone());
        a.search_routing.get_or_insert(r);
    }
    Ok(a)
}

pub fn render_alias(a: &AliasMeta) -> Value {
    let mut m = Map::new();
    if let Some(f) = &a.filter {
        m.insert("filter".into(), f.clone());
    }
    if let Some(r) = &a.index_routing {
        m.insert("index_routing".into(), json!(r));
    }
    if let Some(r) = &a.search_routing {
        m.insert("search_routing".into(), json!(r));
    }
    if let Some(w) = a.is_write_index {
        m.insert("is_write_index".into(), json!(w));
    }
    if let Some(h) = a.is_hidden {
        m.insert("is_hidden".into(), json!(h));
    }
    Value::Object(m)
}

const INVALID_CHARS: &str = "[' ', '\"', '*', ',', '/', '<', '>', '?', '\\', '|']";

/// The checks ES applies to both index and alias names (not the lowercase rule).
pub fn name_problem(name: &str) -> Option<String> {
    if name.chars().any(|c| "\\/*?\"<>| ,".contains(c)) {
        return Some(format!(
            "must not contain the following characters {INVALID_CHARS}"
        ));
    }
    if name.contains('#') {
        return Some("must not contain '#'".into());
    }
    if name.contains(':') {
        return Some("must not contain ':'".into());
    }
    if name.starts_with(['_', '-', '+']) {
        return Some("must not start with '_', '-', or '+'".into());
    }
    if name == "." || name == ".." {
        return Some("must not be '.' or '..'".into());
    }
    if name.len() > 255 {
        return Some(format!("index name is too long, ({} > 255)", name.len()));
    }
    None
}

pub fn validate_alias_name(name: &str) -> EsResult<()> {
    if name.is_empty() {
        return Err(EsError::illegal_argument("alias name is required"));
    }
    match name_problem(name) {
        Some(p) => Err(EsError::new(
            400,
            "invalid_alias_name_exception",
            format!("Invalid alias name [{name}]: {p}"),
        )),
        None => Ok(()),
    }
}

/// Every alias may have at most one write index, and no alias may share a name with an index.
pub fn validate_aliases(state: &State) -> EsResult<()> {
    let mut writes: BTreeMap<&String, Vec<&String>> = BTreeMap::new();
    for (n, ix) in &state.indices {
        for (a, meta) in &ix.aliases {
            if state.indices.contains_key(a) {
                return Err(EsError::new(
                    400,
                    "invalid_alias_name_exception",
                    format!(
                        "Invalid alias name [{a}]: an index or data stream exists with the same name as the alias"
                    ),
                ));
            }
            if meta.is_write_index == Some(true) {
                writes.entry(a).or_default().push(n);
            }
        }
    }
    for (a, ixs) in writes {
        if ixs.len() > 1 {
            let list: Vec<&str> = ixs.iter().map(|s| s.as_str()).collect();
            return Err(EsError::illegal_state(format!(
                "alias [{a}] has more than one write index [{}]",
                list.join(",")
            )));
        }
    }
    Ok(())
}

fn aliases_missing(names: &[String]) -> EsError {
    // Elasticsearch's AliasesNotFoundException: always "aliases", the names as a Java list
    let joined = names.join(",");
    EsError::new(
        404,
        "aliases_not_found_exception",
        format!("aliases [{}] missing", names.join(", ")),
    )
    .with("resource.type", "aliases")
    .with("resource.id", joined)
}

/// The answer of the single-alias APIs, which run as an `_aliases` request: with
/// `errors` since 8.14.
fn alias_ack(ctx: &Ctx<'_>) -> Reply {
    let mut body = json!({"acknowledged": true});
    if ctx.state.version_at_least("8.14.0") {
        body["errors"] = json!(false);
    }
    Reply::ok(body)
}

pub fn put_alias(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let expr = ctx.param("index").unwrap_or_default().to_string();
    let name = resolve_date_math(ctx.param("name").unwrap_or_default(), now_millis())?;
    validate_alias_name(&name)?;
    let meta = match ctx.json {
        None => AliasMeta::default(),
        Some(_) => parse_alias_meta(ctx.body_json()?)?,
    };
    let opts = ResolveOpts {
        aliases: false,
        ..ResolveOpts::STRICT
    };
    let indices = resolve_indices(ctx.state, &expr, opts)?;
    if indices.is_empty() {
        return Err(EsError::index_not_found(&expr));
    }
    let mut next = ctx.state.clone();
    for ix in &indices {
        if let Some(i) = next.indices.get_mut(ix) {
            i.aliases.insert(name.clone(), meta.clone());
        }
    }
    validate_aliases(&next)?;
    *ctx.state = next;
    Ok(alias_ack(ctx))
}

pub fn delete_alias(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let expr = ctx.param("index").unwrap_or_default().to_string();
    let names: Vec<String> = ctx
        .param("name")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let opts = ResolveOpts {
        aliases: false,
        closed: true,
        ..ResolveOpts::STRICT
    };
    let indices = resolve_indices(ctx.state, &expr, opts)?;
    let mut removed = false;
    for ix in &indices {
        if let Some(i) = ctx.state.indices.get_mut(ix) {
            let before = i.aliases.len();
            i.aliases
                .retain(|a, _| !names.iter().any(|n| n == "_all" || simple_match(n, a)));
            removed |= i.aliases.len() != before;
        }
    }
    if !removed {
        return Err(aliases_missing(&names));
    }
    Ok(alias_ack(ctx))
}

/// Does the requested name list select `alias`? (`-name` excludes once a wildcard was seen.)
fn alias_selected(alias: &str, names: &[String], first_wildcard: usize) -> bool {
    let mut selected = false;
    for (i, n) in names.iter().enumerate() {
        if let Some(ex) = n.strip_prefix('-')
            && i >= first_wildcard
        {
            if ex == "_all" || simple_match(ex, alias) {
                selected = false;
            }
        } else if n == "_all" || simple_match(n, alias) {
            selected = true;
        }
    }
    selected
}

pub fn get_alias(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let now = now_millis();
    let index_expr = ctx.param("index").unwrap_or("_all").to_string();
    let names: Option<Vec<String>> = match ctx.param("name") {
        None => None,
        Some(n) => Some(
            n.split(',')
                .map(|s| resolve_date_math(s.trim(), now))
                .collect::<EsResult<Vec<String>>>()?,
        ),
    };
    let opts = ResolveOpts {
        open: true,
        closed: true,
        aliases: false,
        ..ResolveOpts::STRICT
    }
    .from_query(ctx)?;
    let indices = resolve_indices(ctx.state, &index_expr, opts)?;
    let first_wildcard = names
        .as_ref()
        .and_then(|ns| ns.iter().position(|n| n == "_all" || is_pattern(n)))
        .unwrap_or(usize::MAX);
    let mut out = Map::new();
    let mut returned: BTreeSet<String> = BTreeSet::new();
    for ixn in &indices {
        let ix = &ctx.state.indices[ixn];
        let mut al = Map::new();
        for (a, meta) in &ix.aliases {
            let keep = match &names {
                None => true,
                Some(ns) => alias_selected(a, ns, first_wildcard),
            };
            if keep {
                returned.insert(a.clone());
                al.insert(a.clone(), render_alias(meta));
            }
        }
        if names.is_none() || !al.is_empty() {
            out.insert(ixn.clone(), json!({ "aliases": al }));
        }
    }
    let mut missing: Vec<String> = Vec::new();
    if let Some(ns) = &names {
        for (i, a) in ns.iter().enumerate() {
            if a == "_all" || is_pattern(a) || (i > first_wildcard && a.starts_with('-')) {
                continue;
            }
            let start = (i + 1).max(first_wildcard);
            let excluded = ns.iter().skip(start).any(|n| {
                n.strip_prefix('-')
                    .is_some_and(|ex| ex == "_all" || simple_match(ex, a))
            });
            if !excluded && !returned.contains(a) {
                missing.push(a.clone());
            }
        }
    }
    missing.sort();
    missing.dedup();
    if ctx.method == Method::Head {
        let found = !returned.is_empty() || (names.is_none() && !out.is_empty());
        return Ok(Reply::empty(if missing.is_empty() && found {
            200
        } else {
            404
        }));
    }
    if !missing.is_empty() {
        let word = if missing.len() == 1 {
            "alias"
        } else {
            "aliases"
        };
        let mut body = Map::new();
        body.insert(
            "error".into(),
            json!(format!("{word} [{}] missing", missing.join(","))),
        );
        body.insert("status".into(), json!(404));
        body.extend(out);
        return Err(EsError::raw(404, Value::Object(body)));
    }
    Ok(Reply::ok(Value::Object(out)))
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(scalar_string).collect(),
        _ => Vec::new(),
    }
}

pub fn update_aliases(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let body = ctx.body_json()?.clone();
    let actions = body
        .get("actions")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| EsError::validation(&["no actions specified".into()]))?;
    if actions.is_empty() {
        return Err(EsError::validation(&["no actions specified".into()]));
    }
    let now = now_millis();
    let partial_results = ctx.state.version_at_least("8.14.0");
    let mut next = ctx.state.clone();
    let mut results: Vec<Value> = Vec::new();
    let mut any_error = false;
    for action in &actions {
        let Some((kind, spec)) = action.as_object().and_then(|m| m.iter().next()) else {
            return Err(EsError::parse("[1:2] [alias_action] expected an object"));
        };
        if !matches!(kind.as_str(), "add" | "remove" | "remove_index") {
            return Err(EsError::parse(format!(
                "[1:2] [alias_action] unknown field [{kind}]"
            )));
        }
        let mut index_exprs = string_list(spec.get("index"));
        index_exprs.extend(string_list(spec.get("indices")));
        let mut alias_exprs = string_list(spec.get("alias"));
        alias_exprs.extend(string_list(spec.get("aliases")));
        let must_exist = spec
            .get("must_exist")
            .and_then(crate::util::parse_bool_value);
        if spec.get("must_exist").is_some() && kind != "remove" {
            return Err(EsError::illegal_argument(format!(
                "[must_exist] is unsupported for [{kind}]"
            )));
        }
        let mut errors = Vec::new();
        if index_exprs.is_empty() {
            errors.push("One of [index] or [indices] is required".to_string());
        }
        if kind != "remove_index" && alias_exprs.is_empty() {
            errors.push("One of [alias] or [aliases] is required".to_string());
        }
        if !errors.is_empty() {
            return Err(EsError::validation(&errors));
        }
        let opts = ResolveOpts {
            aliases: false,
            closed: true,
            ..ResolveOpts::STRICT
        };
        let mut indices: Vec<String> = Vec::new();
        for e in &index_exprs {
            indices.extend(resolve_indices(&next, e, opts)?);
        }
        if let Some(user) = ctx.user {
            for ix in &indices {
                require_index(
                    ctx.state,
                    user,
                    "indices:admin/aliases",
                    &["manage", "all"],
                    ix,
                )?;
            }
        }
        let echo = json!({"type": kind, "indices": index_exprs, "aliases": alias_exprs});
        match kind.as_str() {
            "add" => {
                let mut meta = parse_alias_meta(&Value::Object(
                    spec.as_object()
                        .map(|m| {
                            m.iter()
                                .filter(|(k, _)| {
                                    !matches!(k.as_str(), "index" | "indices" | "alias" | "aliases")
                                })
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect()
                        })
                        .unwrap_or_default(),
                ))?;
                if meta.filter.as_ref().is_some_and(|f| !f.is_object()) {
                    meta.filter = None;
                }
                if indices.is_empty() {
                    return Err(EsError::index_not_found(&index_exprs.join(",")));
                }
                for a in &alias_exprs {
                    let a = resolve_date_math(a, now)?;
                    validate_alias_name(&a)?;
                    for ix in &indices {
                        if let Some(i) = next.indices.get_mut(ix) {
                            i.aliases.insert(a.clone(), meta.clone());
                        }
                    }
                }
                results.push(json!({"action": echo, "status": 200}));
            }
            "remove" => {
                let resolved: Vec<String> = alias_exprs
                    .iter()
                    .map(|a| resolve_date_math(a, now))
                    .collect::<EsResult<_>>()?;
                let mut removed = false;
                for ix in &indices {
                    if let Some(i) = next.indices.get_mut(ix) {
                        let before = i.aliases.len();
                        i.aliases.retain(|a, _| {
                            !resolved.iter().any(|p| p == "_all" || simple_match(p, a))
                        });
                        removed |= before != i.aliases.len();
                    }
                }
                if removed {
                    results.push(json!({"action": echo, "status": 200}));
                } else if must_exist == Some(true) || (!partial_results && must_exist.is_none()) {
                    return Err(aliases_missing(&resolved));
                } else if partial_results {
                    any_error = true;
                    let err = aliases_missing(&resolved);
                    let mut e = err.body()["error"].clone();
                    if let Some(m) = e.as_object_mut() {
                        m.remove("root_cause");
                    }
                    results.push(json!({"action": echo, "status": 404, "error": e}));
                } else {
                    results.push(json!({"action": echo, "status": 200}));
                }
            }
            _ => {
                for ix in &indices {
                    next.indices.remove(ix);
                }
                results.push(json!({"action": echo, "status": 200}));
            }
        }
    }
    validate_aliases(&next)?;
    *ctx.state = next;
    let mut body = json!({"acknowledged": true});
    if partial_results {
        body["errors"] = json!(any_error);
        if any_error {
            body["action_results"] = Value::Array(results);
        }
    }
    Ok(Reply::ok(body))
}
