//! SLM: `PUT/GET/DELETE /_slm/policy/{id}`, `POST /_slm/policy/{id}/_execute`,
//! `GET /_slm/status`. Schedules are Quartz cron (validated, minimum interval
//! 15 minutes), the repository must exist, retention is checked.

use serde_json::{Map, Value, json};

use super::{Ctx, Reply};
use crate::cron::Cron;
use crate::error::{EsError, EsResult};
use crate::state::SlmPolicy;
use crate::util::{format_millis, now_millis, parse_time_value, random_id, resolve_date_math};

const MIN_INTERVAL_MS: u64 = 15 * 60 * 1000;

fn validate(id: &str, body: &Value, state: &crate::state::State) -> EsResult<Value> {
    let Value::Object(m) = body else {
        return Err(EsError::parse(
            "[1:1] [snapshot_lifecycle_policy] expected an object",
        ));
    };
    for k in m.keys() {
        if !matches!(
            k.as_str(),
            "name" | "schedule" | "repository" | "config" | "retention"
        ) {
            return Err(EsError::parse(format!(
                "[1:2] [snapshot_lifecycle_policy] unknown field [{k}]"
            )));
        }
    }
    let mut errors = Vec::new();
    if id.to_lowercase() != id {
        errors.push(format!("invalid policy id [{id}]: must be lowercase"));
    }
    if id.starts_with('_') {
        errors.push(format!("invalid policy id [{id}]: must not start with '_'"));
    }
    if id.contains([',', ' ', '"', '*', '\\', '<', '|', '>', '/', '?', '#']) {
        errors.push(format!("invalid policy id [{id}]: must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?]"));
    }
    let name = m.get("name").and_then(Value::as_str).unwrap_or_default();
    if name.is_empty() {
        errors.push("invalid snapshot name []: cannot be empty".into());
    } else {
        match resolve_date_math(name, now_millis()) {
            Ok(resolved) => {
                if resolved.to_lowercase() != resolved {
                    errors.push(format!("invalid snapshot name [{name}]: must be lowercase"));
                }
                if resolved.contains(['#', ' ', ',', '*', '\\', '"', '|', '<', '>', '/', '?']) {
                    errors.push(format!("invalid snapshot name [{name}]: must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?]"));
                }
            }
            Err(e) => errors.push(format!("invalid snapshot name [{name}]: {}", e.reason)),
        }
    }
    let schedule = m
        .get("schedule")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let cron = if schedule.is_empty() {
        errors.push("invalid schedule: must not be empty".into());
        None
    } else {
        match Cron::parse(schedule) {
            Ok(c) => Some(c),
            Err(e) => {
                errors.push(format!("invalid schedule: {e}"));
                None
            }
        }
    };
    let repository = m
        .get("repository")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if repository.is_empty() {
        errors.push("invalid repository name [ ]: cannot be empty".into());
    }
    if let Some(cfg) = m.get("config") {
        if !cfg.is_object() {
            errors.push("invalid configuration: must be an object".into());
        } else if let Some(meta) = cfg.get("metadata")
            && !meta.is_object()
        {
            errors.push(
                "invalid configuration.metadata [".to_string()
                    + &meta.to_string()
                    + "]: must be an object if present",
            );
        }
    }
    if let Some(r) = m.get("retention") {
        let Value::Object(r) = r else {
            return Err(EsError::parse(
                "[1:2] [snapshot_lifecycle_policy] failed to parse field [retention]",
            ));
        };
        for k in r.keys() {
            if !matches!(k.as_str(), "expire_after" | "min_count" | "max_count") {
                return Err(EsError::parse(format!(
                    "[1:2] [snapshot_retention] unknown field [{k}]"
                )));
            }
        }
        if let Some(e) = r.get("expire_after") {
            let s = crate::util::scalar_string(e).unwrap_or_default();
            match parse_time_value(&s) {
                Some(ms) if ms > 0 => {}
                _ => {
                    return Err(EsError::new(400, "x_content_parse_exception", "[1:2] [snapshot_retention] failed to parse field [expire_after]")
                        .caused_by(EsError::new(400, "parse_exception", format!(
                            "failed to parse setting [expire_after] with value [{s}] as a time value: unit is missing or unrecognized"
                        ))));
                }
            }
        }
        let min = r.get("min_count").and_then(Value::as_i64);
        let max = r.get("max_count").and_then(Value::as_i64);
        if let Some(v) = min
            && v < 1
        {
            errors.push(format!(
                "minimum snapshot count must be at least 1, but was: {v}"
            ));
        }
        if let Some(v) = max
            && v < 1
        {
            errors.push(format!(
                "maximum snapshot count must be at least 1, but was: {v}"
            ));
        }
        if let (Some(a), Some(b)) = (min, max)
            && a > b
        {
            errors.push(format!(
                "minimum snapshot count {a} cannot be larger than maximum snapshot count {b}"
            ));
        }
    }
    if !errors.is_empty() {
        return Err(EsError::validation(&errors));
    }
    if !state.repositories.contains_key(repository) {
        return Err(EsError::illegal_argument(format!(
            "no such repository [{repository}]"
        )));
    }
    if let Some(c) = cron {
        let now = now_millis();
        if let Some(a) = c.next_after(now)
            && let Some(b) = c.next_after(a)
            && b - a < MIN_INTERVAL_MS
        {
            return Err(EsError::illegal_argument(format!(
                "invalid schedule [{schedule}]: schedule would be too frequent, executing more than every [15m]"
            )));
        }
    }
    Ok(body.clone())
}

pub fn put_policy(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let id = ctx.param("policy_id").unwrap_or_default().to_string();
    let policy = validate(&id, ctx.body_json()?, ctx.state)?;
    let now = now_millis();
    match ctx.state.slm_policies.get_mut(&id) {
        Some(p) if p.policy == policy => {}
        Some(p) => {
            p.policy = policy;
            p.version += 1;
            p.modified_date_millis = now;
        }
        None => {
            ctx.state.slm_policies.insert(
                id,
                SlmPolicy {
                    policy,
                    version: 1,
                    modified_date_millis: now,
                    last_success: None,
                    snapshots_taken: 0,
                    snapshots_failed: 0,
                },
            );
        }
    }
    Ok(Reply::ack())
}

fn render(ctx: &Ctx<'_>, id: &str, p: &SlmPolicy) -> Value {
    let human = ctx.human();
    let mut policy = p.policy.clone();
    if let Some(m) = policy.as_object_mut() {
        m.entry("config").or_insert(json!({}));
    }
    let mut v = Map::new();
    v.insert("version".into(), json!(p.version));
    if human {
        v.insert(
            "modified_date".into(),
            json!(format_millis(p.modified_date_millis)),
        );
    }
    v.insert("modified_date_millis".into(), json!(p.modified_date_millis));
    v.insert("policy".into(), policy);
    if let Some((name, at)) = &p.last_success {
        let mut ls = json!({"snapshot_name": name, "start_time_millis": at, "time_millis": at + 1});
        if human {
            ls["start_time"] = json!(format_millis(*at));
            ls["time"] = json!(format_millis(at + 1));
        }
        v.insert("last_success".into(), ls);
    }
    let next = p
        .policy
        .get("schedule")
        .and_then(Value::as_str)
        .and_then(|s| Cron::parse(s).ok())
        .and_then(|c| c.next_after(now_millis()));
    if let Some(n) = next {
        if human {
            v.insert("next_execution".into(), json!(format_millis(n)));
        }
        v.insert("next_execution_millis".into(), json!(n));
    }
    v.insert(
        "stats".into(),
        json!({
            "policy": id,
            "snapshots_taken": p.snapshots_taken,
            "snapshots_failed": p.snapshots_failed,
            "snapshots_deleted": 0,
            "snapshot_deletion_failures": 0,
        }),
    );
    Value::Object(v)
}

pub fn get_policy(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let ids: Vec<String> = match ctx.param("policy_id") {
        None | Some("" | "_all" | "*") => ctx.state.slm_policies.keys().cloned().collect(),
        Some(s) => s.split(',').map(String::from).collect(),
    };
    let mut out = Map::new();
    let mut missing = Vec::new();
    for id in &ids {
        match ctx.state.slm_policies.get(id) {
            Some(p) => {
                out.insert(id.clone(), render(ctx, id, p));
            }
            None => missing.push(id.clone()),
        }
    }
    if !missing.is_empty() || (ctx.param("policy_id").is_some() && out.is_empty()) {
        let suffix = if ctx.state.slm_policies.is_empty() {
            ", no policies are configured"
        } else {
            ""
        };
        return Err(EsError::resource_not_found(format!(
            "snapshot lifecycle policy or policies [{}] not found{suffix}",
            missing.join(", ")
        )));
    }
    Ok(Reply::ok(Value::Object(out)))
}

pub fn delete_policy(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let id = ctx.param("policy_id").unwrap_or_default().to_string();
    if ctx.state.slm_policies.remove(&id).is_none() {
        return Err(EsError::resource_not_found(format!(
            "Snapshot lifecycle policy not found: {id}"
        )));
    }
    Ok(Reply::ack())
}

pub fn execute_policy(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let id = ctx.param("policy_id").unwrap_or_default().to_string();
    let Some(p) = ctx.state.slm_policies.get(&id).cloned() else {
        return Err(EsError::illegal_argument(format!(
            "no such snapshot lifecycle policy [{id}]"
        )));
    };
    let now = now_millis();
    let name = p
        .policy
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("snap");
    let snap = format!(
        "{}-{}",
        resolve_date_math(name, now)?,
        random_id(22).to_lowercase()
    );
    let repo = p
        .policy
        .get("repository")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let config = p.policy.get("config").cloned().unwrap_or(json!({}));
    let result = super::snapshot::take_snapshot(ctx.state, &repo, &snap, &config);
    if let Some(pm) = ctx.state.slm_policies.get_mut(&id) {
        match &result {
            Ok(_) => {
                pm.snapshots_taken += 1;
                pm.last_success = Some((snap.clone(), now));
            }
            Err(_) => pm.snapshots_failed += 1,
        }
    }
    result?;
    Ok(Reply::ok(json!({ "snapshot_name": snap })))
}

pub fn status(_ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    Ok(Reply::ok(json!({"operation_mode": "RUNNING"})))
}
