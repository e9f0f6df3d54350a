//! Indices: create (templates applied by pattern and priority), get, exists,
//! delete, mappings, settings, open/close, refresh and rollover.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::aliases::{
    name_problem, parse_alias_meta, render_alias, validate_alias_name, validate_aliases,
};
use super::templates::{compose, find_template};
use super::{Ctx, Reply, ResolveOpts, resolve_indices};
use crate::error::{EsError, EsResult};
use crate::settings::{
    merge_mappings, normalize_index_settings, normalize_mappings, render_index_mappings,
    render_settings, validate_index_settings, validate_mapping_analysis,
};
use crate::state::{AliasMeta, Index, State};
use crate::util::{
    is_pattern, now_millis, parse_byte_size, parse_time_value, random_id, resolve_date_math,
    scalar_string,
};

/// Validates a (resolved) name for a new index.
pub fn validate_index_name(state: &State, name: &str) -> EsResult<()> {
    if let Some(p) = name_problem(name) {
        return Err(EsError::invalid_index_name(name, &p));
    }
    if name.to_lowercase() != name {
        return Err(EsError::invalid_index_name(name, "must be lowercase"));
    }
    if let Some(ix) = state.indices.get(name) {
        return Err(EsError::already_exists(name, &ix.uuid));
    }
    if state.alias_exists(name) {
        return Err(EsError::invalid_index_name(name, "already exists as alias"));
    }
    Ok(())
}

/// The parts of a create-index request body.
#[derive(Default)]
pub struct CreateRequest {
    pub settings: BTreeMap<String, Value>,
    pub mappings: Option<Value>,
    pub aliases: BTreeMap<String, AliasMeta>,
}

pub fn parse_create_body(body: &Value) -> EsResult<CreateRequest> {
    let mut req = CreateRequest::default();
    let Value::Object(m) = body else {
        return Err(EsError::parse("[1:1] expected an object"));
    };
    let now = now_millis();
    for (k, v) in m {
        match k.as_str() {
            "settings" => {
                // validated with the template's settings by `create_index`
                req.settings = normalize_index_settings(v)?;
            }
            "mappings" => req.mappings = Some(normalize_mappings(v)?),
            "aliases" => {
                let Value::Object(al) = v else {
                    return Err(EsError::new(
                        400,
                        "parse_exception",
                        "Failed to parse aliases",
                    ));
                };
                for (name, def) in al {
                    let name = resolve_date_math(name, now)?;
                    validate_alias_name(&name)?;
                    req.aliases.insert(name, parse_alias_meta(def)?);
                }
            }
            other => {
                return Err(EsError::new(
                    400,
                    "parse_exception",
                    format!("unknown key [{other}] for create index"),
                ));
            }
        }
    }
    Ok(req)
}

/// Creates an index the way ES does: template resolution, defaults, alias checks.
/// `provided` is the name as requested (possibly date math); `name` the resolved one.
pub fn create_index(
    state: &mut State,
    provided: &str,
    name: &str,
    req: CreateRequest,
) -> EsResult<()> {
    validate_index_name(state, name)?;
    let now = now_millis();
    let mut settings = BTreeMap::new();
    let mut mappings = json!({});
    let mut aliases = BTreeMap::new();
    if let Some((tname, t)) = find_template(state, name) {
        if t.data_stream.is_some() {
            return Err(EsError::illegal_argument(format!(
                "cannot create index with name [{name}], because it matches with template [{tname}] that creates data streams only, use create data stream api instead"
            )));
        }
        let (s, m, a) = compose(state, t);
        settings = s;
        mappings = m;
        aliases = a;
    }
    settings.extend(req.settings);
    settings.retain(|_, v| !v.is_null());
    validate_index_settings(&settings, &state.modules)?;
    if let Some(m) = &req.mappings {
        merge_mappings(&mut mappings, m);
    }
    validate_mapping_analysis(&mappings, &settings, &state.modules)?;
    aliases.extend(req.aliases);
    let uuid = random_id(22);
    let defaults = [
        ("index.number_of_shards", json!("1")),
        ("index.number_of_replicas", json!("1")),
        (
            "index.routing.allocation.include._tier_preference",
            json!("data_content"),
        ),
    ];
    for (k, v) in defaults {
        settings.entry(k.to_string()).or_insert(v);
    }
    settings.insert("index.provided_name".into(), json!(provided));
    settings
        .entry("index.creation_date".into())
        .or_insert(json!(now.to_string()));
    settings.insert("index.uuid".into(), json!(uuid));
    settings.insert(
        "index.version.created".into(),
        json!(crate::version::version_id(&state.version).to_string()),
    );
    for a in aliases.keys() {
        if state.indices.contains_key(a) || a == name {
            return Err(EsError::new(
                400,
                "invalid_alias_name_exception",
                format!(
                    "Invalid alias name [{a}]: an index or data stream exists with the same name as the alias"
                ),
            ));
        }
    }
    let index = Index {
        uuid,
        settings,
        mappings,
        aliases,
        docs: BTreeMap::new(),
        closed: false,
        next_seq_no: 0,
        lifecycle_date_millis: now,
        ilm_error: None,
    };
    let mut next_aliases_ok = state.clone_without_docs();
    next_aliases_ok
        .indices
        .insert(name.to_string(), index.clone());
    validate_aliases(&next_aliases_ok)?;
    state.indices.insert(name.to_string(), index);
    Ok(())
}

impl State {
    /// A copy without documents, for validating alias changes cheaply.
    pub fn clone_without_docs(&self) -> State {
        let mut s = State::new(&self.version);
        for (n, ix) in &self.indices {
            let c = Index {
                uuid: ix.uuid.clone(),
                settings: BTreeMap::new(),
                mappings: Value::Null,
                aliases: ix.aliases.clone(),
                docs: BTreeMap::new(),
                closed: ix.closed,
                next_seq_no: 0,
                lifecycle_date_millis: 0,
                ilm_error: None,
            };
            s.indices.insert(n.clone(), c);
        }
        s
    }
}

/// Are `n` active copies per shard available for `ix` on this cluster?
fn active_shards_ok(state: &State, ix: &Index, wait: Option<&str>) -> EsResult<bool> {
    let replicas = ix.number_of_replicas(state.nodes);
    let copies = 1 + replicas.min(u64::from(state.nodes.saturating_sub(1)));
    let want = match wait.or_else(|| ix.setting("index.write.wait_for_active_shards")) {
        None | Some("") => 1,
        Some("all") => 1 + replicas,
        Some("index-setting") => 1,
        Some(n) => n.parse::<u64>().map_err(|_| {
            EsError::illegal_argument(format!(
                "failed to parse [wait_for_active_shards] value [{n}]"
            ))
        })?,
    };
    Ok(copies >= want)
}

pub fn create(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let provided = ctx.param("index").unwrap_or_default().to_string();
    let name = resolve_date_math(&provided, now_millis())?;
    let req = match ctx.json {
        None => CreateRequest::default(),
        Some(_) => parse_create_body(ctx.body_json()?)?,
    };
    create_index(ctx.state, &provided, &name, req)?;
    let ix = &ctx.state.indices[&name];
    let acked = active_shards_ok(ctx.state, ix, ctx.q("wait_for_active_shards"))?;
    Ok(Reply::ok(
        json!({"acknowledged": true, "shards_acknowledged": acked, "index": name}),
    ))
}

fn index_body(ix: &Index, features: &[&str], flat: bool) -> Value {
    let mut m = Map::new();
    if features.contains(&"aliases") {
        let al: Map<String, Value> = ix
            .aliases
            .iter()
            .map(|(k, v)| (k.clone(), render_alias(v)))
            .collect();
        m.insert("aliases".into(), Value::Object(al));
    }
    if features.contains(&"mappings") {
        m.insert("mappings".into(), render_index_mappings(&ix.mappings));
    }
    if features.contains(&"settings") {
        m.insert("settings".into(), render_settings(&ix.settings, flat));
    }
    Value::Object(m)
}

pub fn get(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let names = ctx.indices("", ResolveOpts::OPEN_AND_CLOSED)?;
    let features_q = ctx
        .q("features")
        .unwrap_or("aliases,mappings,settings")
        .to_string();
    let features: Vec<&str> = features_q.split(',').map(str::trim).collect();
    let flat = ctx.q_bool("flat_settings")?;
    let mut out = Map::new();
    for n in names {
        let ix = &ctx.state.indices[&n];
        out.insert(n.clone(), index_body(ix, &features, flat));
    }
    Ok(Reply::ok(Value::Object(out)))
}

pub fn exists(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let expr = ctx.param("index").unwrap_or_default().to_string();
    let opts = ResolveOpts::OPEN_AND_CLOSED.from_query(ctx)?;
    match resolve_indices(ctx.state, &expr, opts) {
        Ok(v) if !v.is_empty() || is_pattern(&expr) => Ok(Reply::empty(200)),
        Ok(_) => Ok(Reply::empty(404)),
        Err(e) if e.status == 404 => Ok(Reply::empty(404)),
        Err(e) => Err(e),
    }
}

pub fn delete(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let expr = ctx.param("index").unwrap_or_default().to_string();
    for part in expr.split(',') {
        if part == "_all" || part == "*" || (is_pattern(part) && !part.starts_with('-')) {
            return Err(EsError::illegal_argument(
                "Wildcard expressions or all indices are not allowed",
            ));
        }
        let resolved = resolve_date_math(part, now_millis())?;
        if !ctx.state.indices.contains_key(&resolved) && ctx.state.alias_exists(&resolved) {
            return Err(EsError::illegal_argument(format!(
                "The provided expression [{resolved}] matches an alias, specify the corresponding concrete indices instead."
            )));
        }
    }
    let names = ctx.indices(
        "",
        ResolveOpts {
            aliases: false,
            ..ResolveOpts::OPEN_AND_CLOSED
        },
    )?;
    for n in names {
        ctx.state.indices.remove(&n);
    }
    Ok(Reply::ack())
}

pub fn get_mapping(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let names = ctx.indices("_all", ResolveOpts::STRICT)?;
    let mut out = Map::new();
    for n in names {
        out.insert(
            n.clone(),
            json!({"mappings": render_index_mappings(&ctx.state.indices[&n].mappings)}),
        );
    }
    Ok(Reply::ok(Value::Object(out)))
}

pub fn put_mapping(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let names = ctx.indices("", ResolveOpts::STRICT)?;
    let incoming = normalize_mappings(ctx.body_json()?)?;
    for n in &names {
        let ix = &ctx.state.indices[n];
        check_mapping_conflicts(&ix.mappings, &incoming, "")?;
    }
    for n in names {
        if let Some(ix) = ctx.state.indices.get_mut(&n) {
            merge_mappings(&mut ix.mappings, &incoming);
            // a mapping update replaces `_meta` whole (templates merge it)
            if let (Some(meta), Some(m)) = (incoming.get("_meta"), ix.mappings.as_object_mut()) {
                m.insert("_meta".into(), meta.clone());
            }
        }
    }
    Ok(Reply::ack())
}

fn check_mapping_conflicts(existing: &Value, incoming: &Value, path: &str) -> EsResult<()> {
    let (Some(ep), Some(ip)) = (
        existing.get("properties").and_then(Value::as_object),
        incoming.get("properties").and_then(Value::as_object),
    ) else {
        return Ok(());
    };
    for (name, def) in ip {
        let full = crate::settings::field_path(path, name);
        if let Some(old) = ep.get(name) {
            let ot = old.get("type").and_then(Value::as_str).unwrap_or("object");
            let nt = def.get("type").and_then(Value::as_str).unwrap_or("object");
            if ot != nt {
                return Err(EsError::illegal_argument(format!(
                    "mapper [{full}] cannot be changed from type [{ot}] to [{nt}]"
                )));
            }
            check_mapping_conflicts(old, def, &full)?;
        }
    }
    Ok(())
}

fn defaults_for(state: &State, ix: &Index) -> BTreeMap<String, Value> {
    let mut d = BTreeMap::new();
    for (k, v) in [
        ("index.refresh_interval", "1s"),
        ("index.max_result_window", "10000"),
        ("index.codec", "default"),
        ("index.hidden", "false"),
        ("index.priority", "1"),
        ("index.mapping.total_fields.limit", "1000"),
    ] {
        if !ix.settings.contains_key(k) {
            d.insert(k.to_string(), json!(v));
        }
    }
    if crate::version::has_cluster_feature(
        &state.version,
        "ingest.dynamic_strings.auto_text_setting",
    ) && !ix
        .settings
        .contains_key("index.mapping.dynamic_strings.auto_text")
    {
        d.insert(
            "index.mapping.dynamic_strings.auto_text".into(),
            json!("true"),
        );
    }
    d
}

pub fn get_settings(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let names = ctx.indices("_all", ResolveOpts::OPEN_AND_CLOSED)?;
    let flat = ctx.q_bool("flat_settings")?;
    let include_defaults = ctx.q_bool("include_defaults")?;
    let filter: Vec<String> = ctx
        .param("name")
        .map(|n| n.split(',').map(String::from).collect())
        .unwrap_or_default();
    let keep =
        |k: &String| filter.is_empty() || filter.iter().any(|f| crate::util::simple_match(f, k));
    let mut out = Map::new();
    for n in names {
        let ix = &ctx.state.indices[&n];
        let s: BTreeMap<String, Value> = ix
            .settings
            .iter()
            .filter(|(k, _)| keep(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !filter.is_empty() && s.is_empty() {
            continue;
        }
        let mut entry = json!({"settings": render_settings(&s, flat)});
        if include_defaults {
            let d: BTreeMap<String, Value> = defaults_for(ctx.state, ix)
                .into_iter()
                .filter(|(k, _)| keep(k))
                .collect();
            entry["defaults"] = render_settings(&d, flat);
        }
        out.insert(n, entry);
    }
    Ok(Reply::ok(Value::Object(out)))
}

const STATIC_SETTINGS: &[&str] = &[
    "index.number_of_shards",
    "index.number_of_routing_shards",
    "index.codec",
    "index.mode",
    "index.routing_partition_size",
    "index.soft_deletes.enabled",
    "index.sort.field",
];
const PRIVATE_SETTINGS: &[&str] = &[
    "index.uuid",
    "index.creation_date",
    "index.provided_name",
    "index.version.created",
];

/// `DELETE /`: Elasticsearch routes it to delete-index, which wants an index.
pub fn delete_without_index(_ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    Err(EsError::validation(&["index / indices is missing".into()]))
}

pub fn put_settings(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let names = ctx.indices("_all", ResolveOpts::OPEN_AND_CLOSED)?;
    let body = ctx.body_json()?;
    let body = body.get("settings").unwrap_or(body);
    let incoming = normalize_index_settings(body)?;
    if incoming.is_empty() {
        return Err(EsError::validation(&["no settings to update".into()]));
    }
    let non_null: BTreeMap<String, Value> = incoming
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    validate_index_settings(&non_null, &ctx.state.modules)?;
    for k in incoming.keys() {
        if PRIVATE_SETTINGS.contains(&k.as_str()) {
            return Err(EsError::illegal_argument(format!(
                "can not update private setting [{k}]; this setting is managed by Elasticsearch"
            )));
        }
    }
    let preserve = ctx.q_bool("preserve_existing")?;
    for n in &names {
        let ix = &ctx.state.indices[n];
        let statics: Vec<&String> = incoming
            .keys()
            .filter(|k| {
                STATIC_SETTINGS.contains(&k.as_str()) && ix.settings.get(*k) != incoming.get(*k)
            })
            .collect();
        if !statics.is_empty() && !ix.closed {
            let list: Vec<&str> = statics.iter().map(|s| s.as_str()).collect();
            return Err(EsError::illegal_argument(format!(
                "Can't update non dynamic settings [[{}]] for open indices [[{n}/{}]]",
                list.join(", "),
                ix.uuid
            )));
        }
    }
    for n in names {
        if let Some(ix) = ctx.state.indices.get_mut(&n) {
            for (k, v) in &incoming {
                if v.is_null() {
                    ix.settings.remove(k);
                } else if !(preserve && ix.settings.contains_key(k)) {
                    ix.settings.insert(k.clone(), v.clone());
                }
            }
        }
    }
    Ok(Reply::ack())
}

pub fn close(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let names = ctx.indices("", ResolveOpts::OPEN_AND_CLOSED)?;
    let mut out = Map::new();
    for n in names {
        if let Some(ix) = ctx.state.indices.get_mut(&n) {
            ix.closed = true;
            ix.settings
                .insert("index.verified_before_close".into(), json!("true"));
        }
        out.insert(n, json!({"closed": true}));
    }
    Ok(Reply::ok(
        json!({"acknowledged": true, "shards_acknowledged": true, "indices": out}),
    ))
}

pub fn open(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let names = ctx.indices("", ResolveOpts::OPEN_AND_CLOSED)?;
    for n in names {
        if let Some(ix) = ctx.state.indices.get_mut(&n) {
            ix.closed = false;
            ix.settings.remove("index.verified_before_close");
        }
    }
    Ok(Reply::ok(
        json!({"acknowledged": true, "shards_acknowledged": true}),
    ))
}

pub fn refresh(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let names = ctx.indices("_all", ResolveOpts::STRICT)?;
    let total: u64 = names
        .iter()
        .map(|n| ctx.state.indices[n].number_of_shards())
        .sum();
    Ok(Reply::ok(
        json!({"_shards": {"total": total, "successful": total, "failed": 0}}),
    ))
}

/// `logs-000001` -> `logs-000002`; errors if the name has no numeric suffix.
pub fn next_rollover_name(name: &str) -> EsResult<String> {
    let bad = || {
        EsError::illegal_argument(format!(
            "index name [{name}] does not match pattern '^.*-\\d+$'"
        ))
    };
    let (prefix, num) = name.rsplit_once('-').ok_or_else(bad)?;
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = num.parse().map_err(|_| bad())?;
    Ok(format!("{prefix}-{:06}", n + 1))
}

pub fn rollover(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let now = now_millis();
    let target = resolve_date_math(ctx.param("alias").unwrap_or_default(), now)?;
    let dry_run = ctx.q_bool("dry_run")?;
    if ctx.q_bool("lazy")? {
        return Err(EsError::validation(&[
            "lazy rollover can be used only on a data stream".into(),
        ]));
    }
    let body = ctx.body_or_empty()?;
    let version = ctx.state.version.clone();
    let state = &*ctx.state;
    if !state.alias_exists(&target) {
        if state.indices.contains_key(&target) {
            return Err(EsError::illegal_argument(
                "rollover target is a [concrete index] but one of [alias,data_stream] was expected",
            ));
        }
        let status =
            if crate::version::has_capability_named(&version, "return-404-on-missing-target") {
                404
            } else {
                400
            };
        let kind = if status == 404 {
            "resource_not_found_exception"
        } else {
            "illegal_argument_exception"
        };
        return Err(EsError::new(
            status,
            kind,
            format!("rollover target [{target}] does not exist"),
        ));
    }
    let old = state.write_index(&target).ok_or_else(|| {
        EsError::illegal_argument(format!(
            "rollover target [{target}] does not point to a write index"
        ))
    })?;
    let old_ix = &state.indices[&old];
    // conditions
    let mut conditions = Map::new();
    let mut any_max = false;
    let mut any_min = false;
    let mut max_met = false;
    let mut min_met = true;
    let mut warnings = Vec::new();
    let docs = old_ix.docs.len() as u64;
    let shards = old_ix.number_of_shards().max(1);
    let size = old_ix.size_bytes();
    let created: u64 = old_ix
        .setting("index.creation_date")
        .and_then(|s| s.parse().ok())
        .unwrap_or(now);
    let age = now.saturating_sub(created) as i64;
    let mut create_req = CreateRequest::default();
    if let Value::Object(m) = &body {
        for (k, v) in m {
            match k.as_str() {
                "conditions" => {
                    let Value::Object(c) = v else {
                        return Err(EsError::parse(
                            "[1:2] [rollover] failed to parse field [conditions]",
                        ));
                    };
                    for (ck, cv) in c {
                        let text = scalar_string(cv).unwrap_or_default();
                        let bad = || {
                            EsError::parse(format!(
                                "[1:2] [conditions] failed to parse field [{ck}]"
                            ))
                        };
                        let met = match ck.as_str() {
                            "max_age" | "min_age" => {
                                age >= parse_time_value(&text).ok_or_else(bad)?
                            }
                            "max_docs" | "min_docs" => {
                                docs >= text.parse::<u64>().map_err(|_| bad())?
                            }
                            "max_size" | "min_size" => {
                                size > 0 && size >= parse_byte_size(&text).ok_or_else(bad)?
                            }
                            "max_primary_shard_size" | "min_primary_shard_size" => {
                                size > 0
                                    && size / shards >= parse_byte_size(&text).ok_or_else(bad)?
                            }
                            "max_primary_shard_docs" | "min_primary_shard_docs" => {
                                docs.div_ceil(shards) >= text.parse::<u64>().map_err(|_| bad())?
                            }
                            other => {
                                return Err(EsError::parse(format!(
                                    "[1:2] [conditions] unknown field [{other}]"
                                )));
                            }
                        };
                        if ck == "max_size"
                            && crate::version::has_capability_named(
                                &version,
                                "max_size_deprecation",
                            )
                        {
                            warnings.push("Use of the [max_size] rollover condition has been deprecated in favour of the [max_primary_shard_size] condition and will be removed in a later version".to_string());
                        }
                        if ck.starts_with("max_") {
                            any_max = true;
                            max_met |= met;
                        } else {
                            any_min = true;
                            min_met &= met;
                        }
                        conditions.insert(format!("[{ck}: {text}]"), json!(met));
                    }
                }
                "settings" | "mappings" | "aliases" => {}
                other => {
                    return Err(EsError::parse(format!(
                        "[1:2] [rollover] unknown field [{other}]"
                    )));
                }
            }
        }
        let mut rest = m.clone();
        rest.remove("conditions");
        create_req = parse_create_body(&Value::Object(rest))?;
    }
    if any_min && !any_max {
        return Err(EsError::validation(&[
            "at least one max_* rollover condition must be set when using min_* conditions".into(),
        ]));
    }
    let rolled = if any_max || any_min {
        max_met && min_met
    } else {
        true
    };
    // the new index name
    let provided_new = match ctx.param("new_index") {
        Some(n) => n.to_string(),
        None => {
            let provided = old_ix
                .setting("index.provided_name")
                .unwrap_or(&old)
                .to_string();
            if provided.starts_with('<') && provided.ends_with('>') {
                let inner = &provided[1..provided.len() - 1];
                format!("<{}>", next_rollover_name(inner)?)
            } else {
                next_rollover_name(&old)?
            }
        }
    };
    let new_name = resolve_date_math(&provided_new, now)?;
    validate_index_name(state, &new_name)?;
    let mut body_out = json!({
        "acknowledged": false,
        "shards_acknowledged": false,
        "old_index": old,
        "new_index": new_name,
        "rolled_over": false,
        "dry_run": dry_run,
    });
    if state.version_at_least("8.13.0") {
        body_out["lazy"] = json!(false);
    }
    body_out["conditions"] = Value::Object(conditions);
    if dry_run || !rolled {
        let mut r = Reply::ok(body_out);
        r.warnings = warnings;
        return Ok(r);
    }
    let explicit_write = old_ix.aliases.get(&target).and_then(|a| a.is_write_index) == Some(true);
    let hidden = old_ix.aliases.get(&target).and_then(|a| a.is_hidden);
    let mut next = ctx.state.clone();
    create_index(&mut next, &provided_new, &new_name, create_req)?;
    if let Some(ix) = next.indices.get_mut(&new_name) {
        ix.aliases.insert(
            target.clone(),
            AliasMeta {
                is_write_index: if explicit_write { Some(true) } else { None },
                is_hidden: hidden,
                ..Default::default()
            },
        );
    }
    if let Some(ix) = next.indices.get_mut(&old) {
        if explicit_write {
            if let Some(a) = ix.aliases.get_mut(&target) {
                a.is_write_index = Some(false);
            }
        } else {
            ix.aliases.remove(&target);
        }
        if ix.setting("index.lifecycle.name").is_some() {
            ix.settings
                .insert("index.lifecycle.indexing_complete".into(), json!("true"));
        }
    }
    validate_aliases(&next)?;
    *ctx.state = next;
    body_out["acknowledged"] = json!(true);
    body_out["shards_acknowledged"] = json!(true);
    body_out["rolled_over"] = json!(true);
    let mut r = Reply::ok(body_out);
    r.warnings = warnings;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollover_names() {
        assert_eq!(next_rollover_name("logs-1").expect("ok"), "logs-000002");
        assert_eq!(
            next_rollover_name("logs-000009").expect("ok"),
            "logs-000010"
        );
        assert!(next_rollover_name("logs").is_err());
        assert!(next_rollover_name("logs-a").is_err());
    }
}
