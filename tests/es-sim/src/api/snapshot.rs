//! Snapshot repositories (`fs` under `path.repo`, `url`, `s3`, `gcs`, `azure`
//! with keystore-backed credentials) and snapshots. Nothing touches the disk:
//! repository contents live in `State::repository_storage`.

use serde_json::{Map, Value, json};

use super::{Ctx, Reply, ResolveOpts, resolve_indices};
use crate::error::{EsError, EsResult};
use crate::state::{Repository, RepositoryStorage, Snapshot, State};
use crate::util::{
    format_millis, is_pattern, now_millis, random_id, resolve_date_math, scalar_string,
    simple_match,
};

fn repo_missing(name: &str) -> EsError {
    EsError::new(
        404,
        "repository_missing_exception",
        format!("[{name}] missing"),
    )
}

fn repo_error(name: &str, msg: &str) -> EsError {
    EsError::new(500, "repository_exception", format!("[{name}] {msg}"))
}

/// Normalises an absolute or relative path (`.`/`..` removed, no trailing slash).
fn normalize_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Resolves an `fs` location against `path.repo` the way ES does.
pub fn resolve_fs_location(path_repo: &[String], name: &str, location: &str) -> EsResult<String> {
    let abs = if location.starts_with('/') {
        normalize_path(location)
    } else {
        match path_repo.first() {
            Some(base) => normalize_path(&format!("{base}/{location}")),
            None => normalize_path(location),
        }
    };
    if path_repo.is_empty() {
        return Err(repo_error(
            name,
            &format!(
                "location [{location}] doesn't match any of the locations specified by path.repo because this setting is empty"
            ),
        ));
    }
    let ok = path_repo.iter().any(|base| {
        let b = normalize_path(base);
        abs == b || abs.starts_with(&format!("{}/", b.trim_end_matches('/')))
    });
    if !ok {
        return Err(repo_error(
            name,
            &format!(
                "location [{location}] doesn't match any of the locations specified by path.repo"
            ),
        ));
    }
    Ok(abs)
}

fn storage_key(state: &State, name: &str, r: &Repository) -> EsResult<String> {
    let s = |k: &str| {
        r.settings
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Ok(match r.kind.as_str() {
        "fs" => format!(
            "fs:{}",
            resolve_fs_location(&state.path_repo, name, &s("location"))?
        ),
        "url" => format!("url:{}", s("url")),
        "s3" | "gcs" => format!("{}:{}/{}", r.kind, s("bucket"), s("base_path")),
        "azure" => format!("azure:{}/{}", s("container"), s("base_path")),
        other => format!("{other}:{name}"),
    })
}

fn insecure(name: &str, setting: &str) -> EsError {
    repo_error(name, "failed to create repository").caused_by(EsError::illegal_argument(format!(
        "Setting [{setting}] is insecure, but property [allow_insecure_settings] is not set"
    )))
}

fn validate_repository(state: &State, name: &str, r: &Repository) -> EsResult<()> {
    let has = |k: &str| {
        r.settings
            .get(k)
            .and_then(Value::as_str)
            .is_some_and(|v| !v.is_empty())
    };
    if !state.modules.repository_plugins
        && matches!(r.kind.as_str(), "url" | "s3" | "gcs" | "azure")
    {
        return Err(repo_error(
            name,
            &format!("repository type [{}] does not exist", r.kind),
        ));
    }
    match r.kind.as_str() {
        "fs" => {
            // Elasticsearch reports these as the cause of a failed creation
            let failed = |e: EsError| repo_error(name, "failed to create repository").caused_by(e);
            if !has("location") {
                return Err(failed(repo_error(name, "missing location")));
            }
            resolve_fs_location(
                &state.path_repo,
                name,
                r.settings["location"].as_str().unwrap_or_default(),
            )
            .map_err(failed)?;
        }
        "url" => {
            let Some(url) = r.settings.get("url").and_then(Value::as_str) else {
                return Err(repo_error(name, "missing url"));
            };
            if let Some(path) = url.strip_prefix("file:") {
                let path = path.trim_start_matches("//");
                resolve_fs_location(&state.path_repo, name, path).map_err(|_| {
                    repo_error(name, &format!("file url [{url}] doesn't match any of the locations specified by path.repo"))
                })?;
            } else if !(url.starts_with("http://")
                || url.starts_with("https://")
                || url.starts_with("ftp://")
                || url.starts_with("jar:"))
            {
                return Err(repo_error(
                    name,
                    &format!("unsupported url protocol from URL [{url}]"),
                ));
            }
        }
        "s3" => {
            for k in ["access_key", "secret_key"] {
                if r.settings.contains_key(k) {
                    return Err(insecure(name, k));
                }
            }
            if !has("bucket") {
                return Err(repo_error(name, "failed to create repository").caused_by(
                    EsError::illegal_argument("Invalid S3 bucket name, cannot be null or empty"),
                ));
            }
        }
        "gcs" => {
            if !has("bucket") {
                return Err(repo_error(name, "failed to create repository").caused_by(
                    EsError::illegal_argument(format!("No bucket defined for repository [{name}]")),
                ));
            }
        }
        "azure" => {
            for k in ["account", "key", "sas_token"] {
                if r.settings.contains_key(k) {
                    return Err(insecure(name, k));
                }
            }
        }
        other => {
            return Err(repo_error(
                name,
                &format!("repository type [{other}] does not exist"),
            ));
        }
    }
    Ok(())
}

/// Keystore entries a repository's client needs; `None` when satisfied.
fn missing_credentials(state: &State, r: &Repository) -> Option<Vec<String>> {
    let client = r
        .settings
        .get("client")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let ks = &state.keystore;
    let need: Vec<Vec<String>> = match r.kind.as_str() {
        "s3" => vec![vec![
            format!("s3.client.{client}.access_key"),
            format!("s3.client.{client}.secret_key"),
        ]],
        "gcs" => vec![vec![format!("gcs.client.{client}.credentials_file")]],
        "azure" => vec![
            vec![
                format!("azure.client.{client}.account"),
                format!("azure.client.{client}.key"),
            ],
            vec![
                format!("azure.client.{client}.account"),
                format!("azure.client.{client}.sas_token"),
            ],
        ],
        _ => return None,
    };
    if need.iter().any(|set| set.iter().all(|k| ks.contains(k))) {
        return None;
    }
    Some(
        need[0]
            .iter()
            .filter(|k| !ks.contains(*k))
            .cloned()
            .collect(),
    )
}

fn verify(state: &State, name: &str, r: &Repository) -> EsResult<()> {
    if let Some(cause) = state.broken_repositories.get(name) {
        let path = ["location", "base_path"]
            .iter()
            .find_map(|k| r.settings.get(*k).and_then(Value::as_str))
            .unwrap_or("");
        return Err(EsError::new(
            500,
            "repository_verification_exception",
            format!("[{name}] path [{path}] is not accessible on master node"),
        )
        .caused_by(EsError::new(500, "i_o_exception", cause.clone())));
    }
    if let Some(missing) = missing_credentials(state, r) {
        let base = r
            .settings
            .get("base_path")
            .and_then(Value::as_str)
            .unwrap_or("");
        let cause = match r.kind.as_str() {
            "s3" => EsError::new(
                500,
                "sdk_client_exception",
                "Unable to load credentials from any of the providers in the chain",
            ),
            "gcs" => EsError::new(
                500,
                "i_o_exception",
                "Application Default Credentials are not available",
            ),
            _ => EsError::new(
                500,
                "settings_exception",
                format!(
                    "Unable to find client with name [{}]",
                    r.settings
                        .get("client")
                        .and_then(Value::as_str)
                        .unwrap_or("default")
                ),
            ),
        };
        return Err(EsError::new(
            500,
            "repository_verification_exception",
            format!("[{name}] path [{base}] is not accessible on master node"),
        )
        .caused_by(cause.with("es_sim_missing_keystore_settings", json!(missing))));
    }
    Ok(())
}

/// Whether a repository or snapshot name avoids the characters Elasticsearch refuses in
/// them and does not start with `_`.
fn valid_name(name: &str) -> bool {
    !name.contains(['#', ' ', ',', '*', '/', '\\', '"', '<', '>', '|', '?'])
        && !name.starts_with('_')
}

pub fn put_repository(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let name = ctx.param("repository").unwrap_or_default().to_string();
    if name.is_empty() || !valid_name(&name) {
        return Err(EsError::new(
            400,
            "invalid_repository_name_exception",
            format!(
                "[{name}] Invalid repository name, must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?] or start with '_'"
            ),
        ));
    }
    let body = ctx.body_json()?;
    let Value::Object(m) = body else {
        return Err(EsError::parse("[1:1] expected an object"));
    };
    let kind = m.get("type").and_then(Value::as_str).map(String::from);
    let Some(kind) = kind else {
        return Err(EsError::validation(&["type is missing".into()]));
    };
    let mut settings = std::collections::BTreeMap::new();
    if let Some(s) = m.get("settings") {
        for (k, v) in crate::settings::flatten_settings(s)? {
            settings.insert(k, v);
        }
    }
    for k in m.keys() {
        if !matches!(k.as_str(), "type" | "settings") {
            return Err(EsError::new(
                400,
                "parse_exception",
                format!("Unknown field [{k}] in repository definition"),
            ));
        }
    }
    let repo = Repository { kind, settings };
    validate_repository(ctx.state, &name, &repo)?;
    let verify_it = ctx.q("verify") != Some("false");
    ctx.state.repositories.insert(name.clone(), repo.clone());
    if verify_it {
        verify(ctx.state, &name, &repo)?;
    }
    Ok(Reply::ack())
}

fn selected(state: &State, expr: Option<&str>) -> EsResult<Vec<String>> {
    let names: Vec<&str> = match expr {
        None | Some("" | "_all" | "*") => return Ok(state.repositories.keys().cloned().collect()),
        Some(e) => e.split(',').collect(),
    };
    let mut out = Vec::new();
    for n in names {
        if is_pattern(n) {
            out.extend(
                state
                    .repositories
                    .keys()
                    .filter(|k| simple_match(n, k))
                    .cloned(),
            );
        } else if state.repositories.contains_key(n) {
            out.push(n.to_string());
        } else {
            return Err(repo_missing(n));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

pub fn get_repository(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let names = selected(ctx.state, ctx.param("repository"))?;
    let mut out = Map::new();
    for n in names {
        let r = &ctx.state.repositories[&n];
        let mut e = json!({"type": r.kind});
        if let Ok(key) = storage_key(ctx.state, &n, r)
            && let Some(uuid) = ctx
                .state
                .repository_storage
                .get(&key)
                .and_then(|s| s.uuid.clone())
        {
            e["uuid"] = json!(uuid);
        }
        e["settings"] = Value::Object(
            r.settings
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        out.insert(n, e);
    }
    Ok(Reply::ok(Value::Object(out)))
}

pub fn delete_repository(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let names = selected(ctx.state, ctx.param("repository"))?;
    if names.is_empty() {
        return Err(repo_missing(ctx.param("repository").unwrap_or_default()));
    }
    for n in names {
        ctx.state.repositories.remove(&n);
    }
    Ok(Reply::ack())
}

fn get_repo<'a>(state: &'a State, name: &str) -> EsResult<&'a Repository> {
    state
        .repositories
        .get(name)
        .ok_or_else(|| repo_missing(name))
}

pub fn verify_repository(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let name = ctx.param("repository").unwrap_or_default().to_string();
    let repo = get_repo(ctx.state, &name)?.clone();
    verify(ctx.state, &name, &repo)?;
    let mut nodes = Map::new();
    nodes.insert(
        ctx.state.node_id.clone(),
        json!({"name": ctx.state.node_name}),
    );
    Ok(Reply::ok(json!({ "nodes": nodes })))
}

pub fn cleanup_repository(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let name = ctx.param("repository").unwrap_or_default().to_string();
    get_repo(ctx.state, &name)?;
    Ok(Reply::ok(
        json!({"results": {"deleted_bytes": 0, "deleted_blobs": 0}}),
    ))
}

fn snapshot_body(state: &State, repo: &str, s: &Snapshot) -> Value {
    let mut v = json!({
        "snapshot": s.name,
        "uuid": s.uuid,
        "repository": repo,
        "version_id": crate::version::version_id(&state.version),
        "version": state.version,
        "indices": s.indices,
        "data_streams": [],
        "include_global_state": s.include_global_state,
        "state": "SUCCESS",
        "start_time": format_millis(s.start_time_millis),
        "start_time_in_millis": s.start_time_millis,
        "end_time": format_millis(s.end_time_millis),
        "end_time_in_millis": s.end_time_millis,
        "duration_in_millis": s.end_time_millis - s.start_time_millis,
        "failures": [],
        "shards": {"total": s.shards, "failed": 0, "successful": s.shards},
        "feature_states": [],
    });
    if let Some(m) = &s.metadata {
        v["metadata"] = m.clone();
    }
    v
}

/// Takes a snapshot (used by the API and by SLM `_execute`).
pub fn take_snapshot(
    state: &mut State,
    repo_name: &str,
    snap: &str,
    body: &Value,
) -> EsResult<Snapshot> {
    let repo = get_repo(state, repo_name)?.clone();
    if repo.kind == "url"
        || repo
            .settings
            .get("readonly")
            .or(repo.settings.get("read_only"))
            .and_then(Value::as_str)
            == Some("true")
    {
        return Err(repo_error(
            repo_name,
            "cannot create snapshot in a readonly repository",
        ));
    }
    verify(state, repo_name, &repo)?;
    if snap.to_lowercase() != snap || !valid_name(snap) {
        return Err(EsError::new(
            400,
            "invalid_snapshot_name_exception",
            format!(
                "[{repo_name}:{snap}] Invalid snapshot name [{snap}], must be lowercase and must not contain invalid characters"
            ),
        ));
    }
    let key = storage_key(state, repo_name, &repo)?;
    if state
        .repository_storage
        .get(&key)
        .is_some_and(|s| s.snapshots.contains_key(snap))
    {
        return Err(EsError::new(
            400,
            "invalid_snapshot_name_exception",
            format!(
                "[{repo_name}:{snap}] Invalid snapshot name [{snap}], snapshot with the same name already exists"
            ),
        ));
    }
    let indices_expr = match body.get("indices") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(scalar_string)
            .collect::<Vec<_>>()
            .join(","),
        _ => "_all".into(),
    };
    let ignore = body
        .get("ignore_unavailable")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let opts = ResolveOpts {
        ignore_unavailable: ignore,
        ..ResolveOpts::STRICT
    };
    let indices = resolve_indices(state, &indices_expr, opts)?;
    let shards = indices
        .iter()
        .map(|n| state.indices[n].number_of_shards())
        .sum();
    let now = now_millis();
    let s = Snapshot {
        name: snap.to_string(),
        uuid: random_id(22),
        indices,
        include_global_state: body
            .get("include_global_state")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        metadata: body.get("metadata").cloned(),
        start_time_millis: now,
        end_time_millis: now + 1,
        shards,
    };
    let storage = state.repository_storage.entry(key).or_default();
    storage.uuid.get_or_insert_with(|| random_id(22));
    storage.snapshots.insert(snap.to_string(), s.clone());
    Ok(s)
}

pub fn create_snapshot(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let repo = ctx.param("repository").unwrap_or_default().to_string();
    let snap = resolve_date_math(ctx.param("snapshot").unwrap_or_default(), now_millis())?;
    let body = ctx.body_or_empty()?;
    let s = take_snapshot(ctx.state, &repo, &snap, &body)?;
    if ctx.q_bool("wait_for_completion")? {
        Ok(Reply::ok(
            json!({"snapshot": snapshot_body(ctx.state, &repo, &s)}),
        ))
    } else {
        Ok(Reply::ok(json!({"accepted": true})))
    }
}

fn storage_of<'a>(state: &'a State, repo: &str) -> EsResult<Option<&'a RepositoryStorage>> {
    let r = get_repo(state, repo)?;
    let key = storage_key(state, repo, r)?;
    Ok(state.repository_storage.get(&key))
}

pub fn get_snapshot(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let repo = ctx.param("repository").unwrap_or_default().to_string();
    let expr = ctx.param("snapshot").unwrap_or("_all").to_string();
    let empty = RepositoryStorage::default();
    let storage = storage_of(ctx.state, &repo)?.unwrap_or(&empty);
    let mut out = Vec::new();
    for n in expr.split(',') {
        if n == "_all" || is_pattern(n) {
            for (k, s) in &storage.snapshots {
                if n == "_all" || simple_match(n, k) {
                    out.push(snapshot_body(ctx.state, &repo, s));
                }
            }
        } else if let Some(s) = storage.snapshots.get(n) {
            out.push(snapshot_body(ctx.state, &repo, s));
        } else if !ctx.q_bool("ignore_unavailable")? {
            return Err(EsError::new(
                404,
                "snapshot_missing_exception",
                format!("[{repo}:{n}] is missing"),
            ));
        }
    }
    let total = out.len();
    Ok(Reply::ok(
        json!({"snapshots": out, "total": total, "remaining": 0}),
    ))
}

pub fn delete_snapshot(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let repo = ctx.param("repository").unwrap_or_default().to_string();
    let expr = ctx.param("snapshot").unwrap_or_default().to_string();
    let r = get_repo(ctx.state, &repo)?.clone();
    let key = storage_key(ctx.state, &repo, &r)?;
    let storage = ctx.state.repository_storage.entry(key).or_default();
    for n in expr.split(',') {
        if n == "_all" || is_pattern(n) {
            storage
                .snapshots
                .retain(|k, _| !(n == "_all" || simple_match(n, k)));
        } else if storage.snapshots.remove(n).is_none() {
            return Err(EsError::new(
                404,
                "snapshot_missing_exception",
                format!("[{repo}:{n}] is missing"),
            ));
        }
    }
    Ok(Reply::ack())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fs_locations() {
        let repo = vec!["/tmp/repo".to_string()];
        assert_eq!(
            resolve_fs_location(&repo, "r", "a").expect("ok"),
            "/tmp/repo/a"
        );
        assert_eq!(
            resolve_fs_location(&repo, "r", "/tmp/repo/x/../y").expect("ok"),
            "/tmp/repo/y"
        );
        assert!(resolve_fs_location(&repo, "r", "/etc").is_err());
        assert!(resolve_fs_location(&repo, "r", "../escape").is_err());
        assert!(resolve_fs_location(&[], "r", "a").is_err());
    }
}
