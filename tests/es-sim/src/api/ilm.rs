//! ILM: `PUT/GET/DELETE /_ilm/policy/{name}`, `GET /{index}/_ilm/explain`,
//! `POST /{index}/_ilm/remove`, `GET /_ilm/status`. Validation and
//! normalisation follow the timeseries lifecycle type of Elasticsearch.

use serde_json::{Map, Value, json};

use super::{Ctx, Reply, ResolveOpts, resolve_indices};
use crate::error::{EsError, EsResult};
use crate::state::IlmPolicy;
use crate::util::{format_millis, now_millis, parse_time_value, simple_match};

const PHASES: &[&str] = &["hot", "warm", "cold", "frozen", "delete"];

fn allowed_actions(phase: &str) -> &'static [&'static str] {
    match phase {
        "hot" => &[
            "set_priority",
            "unfollow",
            "rollover",
            "readonly",
            "downsample",
            "shrink",
            "forcemerge",
            "searchable_snapshot",
        ],
        "warm" => &[
            "set_priority",
            "unfollow",
            "readonly",
            "allocate",
            "migrate",
            "shrink",
            "forcemerge",
            "downsample",
        ],
        "cold" => &[
            "set_priority",
            "unfollow",
            "readonly",
            "downsample",
            "searchable_snapshot",
            "allocate",
            "migrate",
            "freeze",
        ],
        "frozen" => &["unfollow", "searchable_snapshot"],
        "delete" => &["wait_for_snapshot", "delete"],
        _ => &[],
    }
}

const ALL_ACTIONS: &[&str] = &[
    "set_priority",
    "unfollow",
    "rollover",
    "readonly",
    "downsample",
    "shrink",
    "forcemerge",
    "searchable_snapshot",
    "allocate",
    "migrate",
    "freeze",
    "wait_for_snapshot",
    "delete",
];

const ROLLOVER_CONDITIONS: &[&str] = &[
    "max_age",
    "max_docs",
    "max_size",
    "max_primary_shard_size",
    "max_primary_shard_docs",
    "min_age",
    "min_docs",
    "min_size",
    "min_primary_shard_size",
    "min_primary_shard_docs",
];

fn unknown_field(ctx: &str, field: &str) -> EsError {
    EsError::parse(format!("[1:2] [{ctx}] unknown field [{field}]"))
}

/// Validates and normalises a `policy` object the way ES stores it. Returns the
/// normalised policy and deprecation warnings.
pub fn normalize_policy(
    policy: &Value,
    deprecate_max_size: bool,
) -> EsResult<(Value, Vec<String>)> {
    let Value::Object(p) = policy else {
        return Err(EsError::parse(
            "[1:2] [put_lifecycle_request] failed to parse field [policy]",
        ));
    };
    for k in p.keys() {
        if !matches!(k.as_str(), "phases" | "_meta" | "deprecated") {
            return Err(unknown_field("lifecycle_policy", k));
        }
    }
    let mut warnings = Vec::new();
    let phases = match p.get("phases") {
        Some(Value::Object(m)) => m.clone(),
        None => Map::new(),
        Some(_) => {
            return Err(EsError::parse(
                "[1:2] [lifecycle_policy] failed to parse field [phases]",
            ));
        }
    };
    let mut out_phases = Map::new();
    for (name, phase) in &phases {
        if !PHASES.contains(&name.as_str()) {
            return Err(EsError::illegal_argument(format!(
                "Timeseries lifecycle does not support phase [{name}]"
            )));
        }
        let Value::Object(ph) = phase else {
            return Err(EsError::parse(format!(
                "[1:2] [phases] failed to parse field [{name}]"
            )));
        };
        for k in ph.keys() {
            if !matches!(k.as_str(), "min_age" | "actions") {
                return Err(unknown_field("phase", k));
            }
        }
        let min_age = match ph.get("min_age") {
            None => "0ms".to_string(),
            Some(v) => {
                let s = crate::util::scalar_string(v).unwrap_or_default();
                if parse_time_value(&s).is_none() {
                    return Err(EsError::new(
                        400,
                        "x_content_parse_exception",
                        "[1:2] [phase] failed to parse field [min_age]",
                    ));
                }
                s
            }
        };
        let actions = match ph.get("actions") {
            Some(Value::Object(m)) => m.clone(),
            None => Map::new(),
            Some(_) => {
                return Err(EsError::parse(
                    "[1:2] [phase] failed to parse field [actions]",
                ));
            }
        };
        let mut out_actions = Map::new();
        for (aname, aval) in &actions {
            if !ALL_ACTIONS.contains(&aname.as_str()) {
                return Err(
                    EsError::parse("[1:2] [phase] failed to parse field [actions]").caused_by(
                        EsError::new(
                            400,
                            "named_object_not_found_exception",
                            format!("[1:2] unknown field [{aname}]"),
                        ),
                    ),
                );
            }
            if !allowed_actions(name).contains(&aname.as_str()) {
                return Err(EsError::illegal_argument(format!(
                    "invalid action [{aname}] defined in phase [{name}]"
                )));
            }
            let normalized = normalize_action(aname, aval)?;
            if aname == "rollover" && normalized.get("max_size").is_some() && deprecate_max_size {
                warnings.push(format!(
                    "Use of the [max_size] rollover condition found in phase [{name}]. This condition has been deprecated in favour of the [max_primary_shard_size] condition and will be removed in a later version"
                ));
            }
            out_actions.insert(aname.clone(), normalized);
        }
        if name == "hot" && !out_actions.contains_key("rollover") {
            let needs: Vec<&str> = [
                "readonly",
                "forcemerge",
                "shrink",
                "searchable_snapshot",
                "downsample",
            ]
            .into_iter()
            .filter(|a| out_actions.contains_key(*a))
            .collect();
            if !needs.is_empty() {
                return Err(EsError::illegal_argument(format!(
                    "the [{}] action(s) may not be used in the [hot] phase without an accompanying [rollover] action",
                    needs.join(", ")
                )));
            }
        }
        out_phases.insert(
            name.clone(),
            json!({"min_age": min_age, "actions": out_actions}),
        );
    }
    // phases must not run out of order
    let mut latest: Option<(&str, String, i64)> = None;
    for name in PHASES {
        let Some(ph) = out_phases.get(*name) else {
            continue;
        };
        let age_s = ph["min_age"].as_str().unwrap_or("0ms").to_string();
        let age = parse_time_value(&age_s).unwrap_or(0);
        if let Some((prev, prev_s, prev_age)) = &latest
            && age < *prev_age
        {
            return Err(EsError::illegal_argument(format!(
                "Your policy is configured to run the {name} phase (min_age: {age_s}) before the {prev} phase (min_age: {prev_s}). You should change the phase timing so that the phases will execute in the order of hot, warm, then cold."
            )));
        }
        if latest.as_ref().is_none_or(|l| age >= l.2) {
            latest = Some((name, age_s, age));
        }
    }
    let mut out = Map::new();
    out.insert("phases".into(), Value::Object(out_phases));
    if let Some(m) = p.get("_meta") {
        out.insert("_meta".into(), m.clone());
    }
    if let Some(d) = p.get("deprecated") {
        out.insert("deprecated".into(), d.clone());
    }
    Ok((Value::Object(out), warnings))
}

fn normalize_action(name: &str, v: &Value) -> EsResult<Value> {
    let Value::Object(m) = v else {
        return Err(EsError::parse(format!("[1:2] [{name}] failed to parse")));
    };
    let mut out = m.clone();
    let bad = |msg: String| EsError::illegal_argument(msg);
    match name {
        "delete" => {
            out.entry("delete_searchable_snapshot")
                .or_insert(json!(true));
        }
        "rollover" => {
            for k in m.keys() {
                if !ROLLOVER_CONDITIONS.contains(&k.as_str()) {
                    return Err(unknown_field("rollover", k));
                }
            }
            if !m.keys().any(|k| k.starts_with("max_")) {
                return Err(bad(
                    "At least one max_* rollover condition must be set.".into()
                ));
            }
        }
        "forcemerge" => match m.get("max_num_segments").and_then(Value::as_i64) {
            Some(n) if n > 0 => {}
            _ => return Err(bad("[max_num_segments] must be a positive integer".into())),
        },
        "shrink" => {
            let n = m.get("number_of_shards");
            let s = m.get("max_primary_shard_size");
            if n.is_some() == s.is_some() {
                return Err(bad(
                    "Exactly one of [number_of_shards, max_primary_shard_size] must be set".into(),
                ));
            }
            if let Some(n) = n
                && n.as_i64().is_none_or(|x| x <= 0)
            {
                return Err(bad("[number_of_shards] must be greater than 0".into()));
            }
        }
        "allocate" => {
            for k in ["include", "exclude", "require"] {
                out.entry(k).or_insert(json!({}));
            }
        }
        "migrate" => {
            out.entry("enabled").or_insert(json!(true));
        }
        "searchable_snapshot" => {
            if !m.contains_key("snapshot_repository") {
                return Err(bad("Required [snapshot_repository]".into()));
            }
            out.entry("force_merge_index").or_insert(json!(true));
        }
        "set_priority" => {
            if let Some(p) = m.get("priority")
                && !p.is_null()
                && p.as_i64().is_none_or(|x| x < 0)
            {
                return Err(bad("[priority] must be 0 or greater".into()));
            }
        }
        "wait_for_snapshot" if !m.contains_key("policy") => {
            return Err(bad("Required [policy]".into()));
        }
        _ => {}
    }
    Ok(Value::Object(out))
}

pub fn put_policy(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let name = ctx.param("policy").unwrap_or_default().to_string();
    validate_policy_name(&name)?;
    let body = ctx.body_json()?;
    let Some(obj) = body.as_object() else {
        return Err(EsError::parse(
            "[1:1] [put_lifecycle_request] expected an object",
        ));
    };
    for k in obj.keys() {
        if k != "policy" {
            return Err(unknown_field("put_lifecycle_request", k));
        }
    }
    let policy = obj
        .get("policy")
        .ok_or_else(|| EsError::parse("[1:2] Required [policy]"))?;
    let deprecate =
        crate::version::has_capability_named(&ctx.state.version, "max_size_deprecation");
    let (normalized, warnings) = normalize_policy(policy, deprecate)?;
    let now = now_millis();
    match ctx.state.ilm_policies.get_mut(&name) {
        // an identical policy is a no-op: version and modified_date stay
        Some(existing) if existing.policy == normalized => {}
        Some(existing) => {
            existing.policy = normalized;
            existing.version += 1;
            existing.modified_date_millis = now;
        }
        None => {
            ctx.state.ilm_policies.insert(
                name,
                IlmPolicy {
                    policy: normalized,
                    version: 1,
                    modified_date_millis: now,
                },
            );
        }
    }
    let mut r = Reply::ack();
    r.warnings = warnings;
    Ok(r)
}

fn validate_policy_name(name: &str) -> EsResult<()> {
    if name.is_empty() {
        return Err(EsError::validation(&[
            "policy name must not be empty".into()
        ]));
    }
    if name.contains(',') || name.contains(' ') {
        return Err(EsError::illegal_argument(format!(
            "invalid policy name [{name}]: must not contain ','"
        )));
    }
    if name.starts_with('_') {
        return Err(EsError::illegal_argument(format!(
            "invalid policy name [{name}]: must not start with '_'"
        )));
    }
    Ok(())
}

fn in_use_by(ctx: &Ctx<'_>, name: &str) -> Value {
    let indices: Vec<&String> = ctx
        .state
        .indices
        .iter()
        .filter(|(_, ix)| ix.setting("index.lifecycle.name") == Some(name))
        .map(|(n, _)| n)
        .collect();
    let templates: Vec<&String> = ctx
        .state
        .index_templates
        .iter()
        .filter(|(_, t)| {
            t.template
                .as_ref()
                .and_then(|b| b.settings.as_ref())
                .and_then(|s| s.get("index.lifecycle.name"))
                .and_then(Value::as_str)
                == Some(name)
        })
        .map(|(n, _)| n)
        .collect();
    json!({"indices": indices, "data_streams": [], "composable_templates": templates})
}

pub fn get_policy(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let names: Vec<String> = match ctx.param("policy") {
        None | Some("_all") | Some("*") | Some("") => vec!["*".into()],
        Some(p) => p.split(',').map(|s| s.trim().to_string()).collect(),
    };
    if names.len() > 1 && names.iter().any(|n| crate::util::is_pattern(n)) {
        return Err(EsError::illegal_argument(
            "wildcard only supports a single value, please use comma-separated values or a single wildcard value",
        ));
    }
    let mut out = Map::new();
    for n in &names {
        let matched: Vec<String> = if crate::util::is_pattern(n) {
            ctx.state
                .ilm_policies
                .keys()
                .filter(|k| simple_match(n, k))
                .cloned()
                .collect()
        } else if ctx.state.ilm_policies.contains_key(n) {
            vec![n.clone()]
        } else {
            return Err(EsError::resource_not_found(format!(
                "Lifecycle policy not found: {n}"
            )));
        };
        for m in matched {
            let p = &ctx.state.ilm_policies[&m];
            out.insert(
                m.clone(),
                json!({
                    "version": p.version,
                    "modified_date": format_millis(p.modified_date_millis),
                    "policy": p.policy,
                    "in_use_by": in_use_by(ctx, &m),
                }),
            );
        }
    }
    Ok(Reply::ok(Value::Object(out)))
}

pub fn delete_policy(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let name = ctx.param("policy").unwrap_or_default().to_string();
    if !ctx.state.ilm_policies.contains_key(&name) {
        return Err(EsError::resource_not_found(format!(
            "Lifecycle policy not found: {name}"
        )));
    }
    let users: Vec<String> = ctx
        .state
        .indices
        .iter()
        .filter(|(_, ix)| ix.setting("index.lifecycle.name") == Some(name.as_str()))
        .map(|(n, _)| n.clone())
        .collect();
    if !users.is_empty() {
        return Err(EsError::illegal_argument(format!(
            "Cannot delete policy [{name}]. It is in use by one or more indices: [{}]",
            users.join(", ")
        )));
    }
    ctx.state.ilm_policies.remove(&name);
    Ok(Reply::ack())
}

pub fn status(_ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    Ok(Reply::ok(json!({"operation_mode": "RUNNING"})))
}

pub fn explain(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let expr = ctx.param("index").unwrap_or_default().to_string();
    let opts = ResolveOpts::STRICT.from_query(ctx)?;
    let names = resolve_indices(ctx.state, &expr, opts)?;
    let only_managed = ctx.q_bool("only_managed")?;
    let only_errors = ctx.q_bool("only_errors")?;
    let now = now_millis();
    let mut out = Map::new();
    for n in names {
        let ix = &ctx.state.indices[&n];
        let created: u64 = ix
            .setting("index.creation_date")
            .and_then(|s| s.parse().ok())
            .unwrap_or(now);
        let Some(policy) = ix.setting("index.lifecycle.name").map(String::from) else {
            if !only_managed && !only_errors {
                out.insert(n.clone(), json!({"index": n, "managed": false}));
            }
            continue;
        };
        let mut e = json!({
            "index": n,
            "index_creation_date_millis": created,
            "time_since_index_creation": format_age(now.saturating_sub(created)),
            "managed": true,
            "policy": policy,
        });
        match ctx.state.ilm_policies.get(&policy) {
            None => {
                e["step"] = json!("ERROR");
                e["step_info"] = json!({
                    "type": "illegal_argument_exception",
                    "reason": format!("policy [{policy}] does not exist"),
                });
            }
            Some(p) => {
                let phases = p.policy["phases"].as_object().cloned().unwrap_or_default();
                let first = PHASES.iter().find(|ph| phases.contains_key(**ph)).copied();
                let (phase, action, step) = match first {
                    Some("hot") if phases["hot"]["actions"].get("rollover").is_some() => {
                        ("hot", "rollover", "check-rollover-ready")
                    }
                    Some(ph) => (ph, "complete", "complete"),
                    None => ("new", "complete", "complete"),
                };
                let lifecycle_date = ix.lifecycle_date_millis;
                e["lifecycle_date_millis"] = json!(lifecycle_date);
                e["age"] = json!(format_age(now.saturating_sub(lifecycle_date)));
                e["phase"] = json!(phase);
                e["phase_time_millis"] = json!(lifecycle_date);
                e["action"] = json!(action);
                e["action_time_millis"] = json!(lifecycle_date);
                e["step"] = json!(step);
                e["step_time_millis"] = json!(lifecycle_date);
                if let Some(def) = phases.get(phase) {
                    e["phase_execution"] = json!({
                        "policy": policy,
                        "phase_definition": def,
                        "version": p.version,
                        "modified_date_in_millis": p.modified_date_millis,
                    });
                }
            }
        }
        if only_errors && e["step"] != "ERROR" {
            continue;
        }
        out.insert(n.clone(), e);
    }
    Ok(Reply::ok(json!({ "indices": out })))
}

fn format_age(ms: u64) -> String {
    if ms >= 86_400_000 {
        format!("{:.2}d", ms as f64 / 86_400_000.0)
    } else if ms >= 3_600_000 {
        format!("{:.2}h", ms as f64 / 3_600_000.0)
    } else if ms >= 60_000 {
        format!("{:.2}m", ms as f64 / 60_000.0)
    } else if ms >= 1000 {
        format!("{:.2}s", ms as f64 / 1000.0)
    } else {
        format!("{ms}ms")
    }
}

pub fn remove_policy(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let expr = ctx.param("index").unwrap_or_default().to_string();
    let names = resolve_indices(ctx.state, &expr, ResolveOpts::STRICT.from_query(ctx)?)?;
    for n in names {
        if let Some(ix) = ctx.state.indices.get_mut(&n) {
            ix.settings.remove("index.lifecycle.name");
            ix.settings.remove("index.lifecycle.indexing_complete");
        }
    }
    Ok(Reply::ok(
        json!({"has_failures": false, "failed_indexes": []}),
    ))
}
