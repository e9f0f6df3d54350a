//! ILM: `PUT/GET/DELETE /_ilm/policy/{name}`, `GET /{index}/_ilm/explain`,
//! `POST /{index}/_ilm/remove`, `POST /{index}/_ilm/retry`, `GET /_ilm/status`. The policy's validation and
//! normalisation (the timeseries lifecycle type of Elasticsearch) are in `policy.rs`.

use serde_json::{Map, Value, json};

use super::{Ctx, Reply, ResolveOpts};
use crate::error::{EsError, EsResult};
use crate::state::put_versioned;
use crate::util::{format_millis, now_millis, simple_match};

mod policy;

pub use policy::es_time_value;
use policy::{PHASES, normalize_policy, required, unknown_field};

pub fn put_policy(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let name = ctx.param("policy").unwrap_or_default().to_string();
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
    let policy = obj.get("policy").ok_or_else(|| required("policy"))?;
    let deprecate =
        crate::version::has_capability_named(&ctx.state.version, "max_size_deprecation");
    let (normalized, warnings) = normalize_policy(policy, deprecate)?;
    // the master operation checks the name after the request's own validation
    validate_policy_name(&name)?;
    put_versioned(&mut ctx.state.ilm_policies, name, normalized, now_millis());
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
    let names = ctx.indices("", ResolveOpts::STRICT)?;
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
        if let Some(err) = &ix.ilm_error
            && e["step"] != "ERROR"
        {
            e["failed_step"] = json!(err.failed_step);
            e["is_auto_retryable_error"] = json!(false);
            e["failed_step_retry_count"] = json!(0);
            e["step"] = json!("ERROR");
            e["step_info"] = json!({"type": err.kind, "reason": err.reason});
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

/// `POST /<index>/_ilm/retry`: every index must be in the `ERROR` step; each moves back
/// to the step that failed (here: the error is cleared, the step is computed again).
pub fn retry(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let names = ctx.indices("", ResolveOpts::STRICT)?;
    for n in &names {
        if ctx.state.indices[n].ilm_error.is_none() {
            return Err(EsError::illegal_argument(format!(
                "cannot retry an action for an index [{n}] that has not encountered an error when running a Lifecycle Policy"
            )));
        }
    }
    for n in names {
        if let Some(ix) = ctx.state.indices.get_mut(&n) {
            ix.ilm_error = None;
        }
    }
    Ok(Reply::ack())
}

pub fn remove_policy(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let names = ctx.indices("", ResolveOpts::STRICT)?;
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
