//! SLM: `PUT/GET/DELETE /_slm/policy/{id}`, `POST /_slm/policy/{id}/_execute`,
//! `GET /_slm/status`, `GET /_slm/stats`. Schedules are Quartz cron or an interval
//! (validated, minimum interval 15 minutes), the repository must exist, retention is
//! checked. Runs (`_execute`, or the `slm_run` control standing in for the scheduler)
//! record `last_success` / `last_failure`; the `slm_fail_next` control makes a policy's
//! next run fail with a reason.

use serde_json::{Map, Value, json};

use super::{Ctx, Reply};
use crate::cron::Cron;
use crate::error::{EsError, EsResult, json_type};
use crate::state::{SlmFailure, SlmPolicy, put_versioned};
use crate::util::{format_millis, insert_date, now_millis, random_id, resolve_date_math};

const MIN_INTERVAL_MS: u64 = 15 * 60 * 1000;

/// `Strings.INVALID_FILENAME_CHARS` as Elasticsearch prints it.
const INVALID_FILENAME_CHARS: &str = r#"[' ','"','*',',','/','<','>','?','\','|']"#;

fn valid_file_name(s: &str) -> bool {
    !s.contains([' ', '"', '*', ',', '/', '<', '>', '?', '\\', '|'])
}

/// `SnapshotRetentionConfiguration`'s parser: unknown fields ignored, the counts checked
/// as the object is built. The error is the root cause.
fn parse_retention(r: &Map<String, Value>) -> EsResult<()> {
    if let Some(e) = r.get("expire_after") {
        crate::api::ilm::es_time_value(e, "expire_after")?;
    }
    let count = |k: &str| -> EsResult<Option<i64>> {
        match r.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_i64()),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| EsError::parse(format!("For input string: \"{s}\""))),
            Some(other) => Err(EsError::parse(format!(
                "[1:2] [snapshot_retention] {k} doesn't support values of type: {}",
                json_type(other)
            ))),
        }
    };
    let (min, max) = (count("min_count")?, count("max_count")?);
    if let Some(v) = min
        && v < 1
    {
        return Err(EsError::illegal_argument(format!(
            "minimum snapshot count must be at least 1, but was: {v}"
        )));
    }
    if let Some(v) = max
        && v < 1
    {
        return Err(EsError::illegal_argument(format!(
            "maximum snapshot count must be at least 1, but was: {v}"
        )));
    }
    if let (Some(a), Some(b)) = (min, max)
        && a > b
    {
        return Err(EsError::illegal_argument(format!(
            "minimum snapshot count {a} cannot be larger than maximum snapshot count {b}"
        )));
    }
    Ok(())
}

/// What `PUT /_slm/policy/<id>` checks, in Elasticsearch's order: the parse
/// (`x_content_parse_exception`, missing fields `illegal_argument_exception`), the policy's
/// `validate()` (every error in one `action_request_validation_exception`; a date-math
/// error in the name is a `parse_exception`), then the repository, the minimum interval
/// and the id.
fn validate(id: &str, body: &Value, state: &crate::state::State) -> EsResult<Value> {
    let Value::Object(m) = body else {
        return Err(EsError::parse(format!(
            "[1:1] [snapshot_lifecycle] Expected START_OBJECT but was: {}",
            json_type(body)
        )));
    };
    // Parse. Unknown fields are ignored, as the policy's parser does.
    for k in ["name", "schedule", "repository"] {
        if let Some(v) = m.get(k)
            && !v.is_string()
        {
            return Err(EsError::parse(format!(
                "[1:2] [snapshot_lifecycle] {k} doesn't support values of type: {}",
                json_type(v)
            )));
        }
    }
    for k in ["config", "retention"] {
        if let Some(v) = m.get(k)
            && !v.is_object()
        {
            return Err(EsError::parse(format!(
                "[1:2] [snapshot_lifecycle] {k} doesn't support values of type: {}",
                json_type(v)
            )));
        }
    }
    if let Some(Value::Object(r)) = m.get("retention") {
        parse_retention(r).map_err(|root| {
            EsError::parse("[1:2] [snapshot_lifecycle] failed to parse field [retention]")
                .caused_by(root)
        })?;
    }
    let missing: Vec<&str> = ["name", "schedule", "repository"]
        .into_iter()
        .filter(|k| !m.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        return Err(EsError::illegal_argument(format!(
            "Required [{}]",
            missing.join(", ")
        )));
    }
    let text = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or_default();
    let (name, schedule, repository) = (text("name"), text("schedule"), text("repository"));

    // SnapshotLifecyclePolicy.validate()
    let mut errors = Vec::new();
    if !valid_file_name(id) {
        errors.push(format!(
            "invalid policy id [{id}]: must not contain the following characters {INVALID_FILENAME_CHARS}"
        ));
    }
    if id.starts_with('_') {
        errors.push(format!("invalid policy id [{id}]: must not start with '_'"));
    }
    let resolved = resolve_date_math(name, now_millis())?;
    if name.trim().is_empty() {
        errors.push(format!("invalid snapshot name [{name}]: cannot be empty"));
    } else {
        if resolved.contains('#') {
            errors.push(format!(
                "invalid snapshot name [{name}]: must not contain '#'"
            ));
        }
        if resolved.starts_with('_') {
            errors.push(format!(
                "invalid snapshot name [{name}]: must not start with '_'"
            ));
        }
        if resolved.to_lowercase() != resolved {
            errors.push(format!("invalid snapshot name [{name}]: must be lowercase"));
        }
        if !valid_file_name(&resolved) {
            errors.push(format!(
                "invalid snapshot name [{name}]: must not contain contain the following characters {INVALID_FILENAME_CHARS}"
            ));
        }
    }
    // A schedule is a cron expression or an interval (a time value).
    let interval = crate::api::ilm::es_time_value(&json!(schedule), "schedule").ok();
    let cron = if schedule.trim().is_empty() {
        errors.push(format!("invalid schedule [{schedule}]: must not be empty"));
        None
    } else if interval.is_some() {
        None
    } else {
        match Cron::parse(schedule) {
            Ok(c) => Some(c),
            Err(_) => {
                errors.push(format!(
                    "invalid schedule [{schedule}]: must be a valid cron expression or time unit"
                ));
                None
            }
        }
    };
    if repository.trim().is_empty() {
        errors.push(format!(
            "invalid repository name [{repository}]: cannot be empty"
        ));
    }
    if let Some(meta) = m.get("config").and_then(|c| c.get("metadata"))
        && !meta.is_object()
    {
        let shown = meta.as_str().map_or_else(|| meta.to_string(), String::from);
        errors.push(format!(
            "invalid configuration.metadata [{shown}]: must be an object if present"
        ));
    }
    if !errors.is_empty() {
        return Err(EsError::validation(&errors));
    }
    // The master operation.
    if !state.repositories.contains_key(repository) {
        return Err(EsError::illegal_argument(format!(
            "no such repository [{repository}]"
        )));
    }
    let next_interval = match (&cron, interval) {
        (_, Some(ms)) => u64::try_from(ms).ok(),
        (Some(c), None) => {
            let now = now_millis();
            c.next_after(now)
                .and_then(|a| c.next_after(a).map(|b| b - a))
        }
        (None, None) => None,
    };
    if let Some(every) = next_interval
        && every > 0
        && every < MIN_INTERVAL_MS
    {
        return Err(EsError::illegal_argument(format!(
            "invalid schedule [{schedule}]: schedule would be too frequent, executing more than every [15m]"
        )));
    }
    if id.contains(',') || id.contains(' ') {
        return Err(EsError::illegal_argument(format!(
            "invalid policy name [{id}]: must not contain ','"
        )));
    }
    Ok(body.clone())
}

pub fn put_policy(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let id = ctx.param("policy_id").unwrap_or_default().to_string();
    let policy = validate(&id, ctx.body_json()?, ctx.state)?;
    put_versioned(&mut ctx.state.slm_policies, id, policy, now_millis());
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
    insert_date(&mut v, "modified_date", p.modified_date_millis, human);
    v.insert("policy".into(), policy);
    if let Some((name, at)) = &p.last_success {
        let mut ls = json!({"snapshot_name": name, "start_time_millis": at, "time_millis": at + 1});
        if human {
            ls["start_time"] = json!(format_millis(*at));
            ls["time"] = json!(format_millis(at + 1));
        }
        v.insert("last_success".into(), ls);
    }
    if let Some(f) = &p.last_failure {
        let mut lf = json!({
            "snapshot_name": f.snapshot_name,
            "start_time_millis": f.time_millis,
            "time_millis": f.time_millis + 1,
            "details": f.details,
        });
        if human {
            lf["start_time"] = json!(format_millis(f.time_millis));
            lf["time"] = json!(format_millis(f.time_millis + 1));
        }
        v.insert("last_failure".into(), lf);
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
    let snap = run_policy(ctx.state, &id, now_millis())?;
    Ok(Reply::ok(json!({ "snapshot_name": snap })))
}

/// One run of policy `id` at `now`, as the SLM scheduler (or `_execute`) runs it: takes
/// the snapshot and records the outcome (`last_success` or `last_failure` with the error
/// as `details`, the counts). A failure set up by the `fail_next` control is one that
/// happens while the snapshot runs: recorded, and the snapshot name still returned (as
/// `_execute`, which does not wait for completion, answers); a failure to start the
/// snapshot (no such repository) is recorded and returned.
pub fn run_policy(state: &mut crate::state::State, id: &str, now: u64) -> EsResult<String> {
    let Some(p) = state.slm_policies.get(id).cloned() else {
        return Err(EsError::illegal_argument(format!(
            "no such snapshot lifecycle policy [{id}]"
        )));
    };
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
    let (result, returned) = match p.fail_next {
        Some(reason) => (
            Err(EsError::new(
                500,
                "snapshot_exception",
                format!("[{repo}:{snap}] {reason}"),
            )),
            Ok(()),
        ),
        None => {
            let r = super::snapshot::take_snapshot(state, &repo, &snap, &config).map(|_| ());
            (r.clone(), r)
        }
    };
    if let Some(pm) = state.slm_policies.get_mut(id) {
        pm.fail_next = None;
        match &result {
            Ok(()) => {
                pm.snapshots_taken += 1;
                pm.last_success = Some((snap.clone(), now));
            }
            Err(e) => {
                pm.snapshots_failed += 1;
                pm.last_failure = Some(SlmFailure {
                    snapshot_name: snap.clone(),
                    time_millis: now,
                    details: e.cause_object().to_string(),
                });
            }
        }
    }
    returned?;
    Ok(snap)
}

/// `GET /_slm/stats`: the retention counters (no retention runs here) and each policy's
/// counts, as Elasticsearch's `SnapshotLifecycleStats` renders them.
pub fn stats(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let policies = &ctx.state.slm_policies;
    let policy_stats: Vec<Value> = policies
        .iter()
        .filter(|(_, p)| p.snapshots_taken + p.snapshots_failed > 0)
        .map(|(id, p)| {
            json!({
                "policy": id,
                "snapshots_taken": p.snapshots_taken,
                "snapshots_failed": p.snapshots_failed,
                "snapshots_deleted": 0,
                "snapshot_deletion_failures": 0,
            })
        })
        .collect();
    let total = |f: fn(&SlmPolicy) -> u64| policies.values().map(f).sum::<u64>();
    let mut body = json!({
        "retention_runs": 0,
        "retention_failed": 0,
        "retention_timed_out": 0,
        "retention_deletion_time_millis": 0,
        "policy_stats": policy_stats,
        "total_snapshots_taken": total(|p| p.snapshots_taken),
        "total_snapshots_failed": total(|p| p.snapshots_failed),
        "total_snapshots_deleted": 0,
        "total_snapshot_deletion_failures": 0,
    });
    if ctx.human() {
        body["retention_deletion_time"] = json!("0s");
    }
    Ok(Reply::ok(body))
}

pub fn status(_ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    Ok(Reply::ok(json!({"operation_mode": "RUNNING"})))
}
