//! Security: basic authentication against the user table, privilege checks
//! (cluster and index privileges, built-in and API-created roles), and the
//! role / user / password / `_authenticate` APIs.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::{AuthUser, Ctx, Reply};
use crate::error::{EsError, EsResult};
use crate::state::{IndicesPrivileges, RESERVED_USERS, Realm, Role, State, User};
use crate::util::{simple_match, string_list};

const WWW_AUTHENTICATE: [&str; 3] = [
    "Basic realm=\"security\", charset=\"UTF-8\"",
    "Bearer realm=\"security\"",
    "ApiKey",
];

fn unauthorized(reason: String) -> EsError {
    let mut e = EsError::security(401, reason)
        .with("header", json!({ "WWW-Authenticate": WWW_AUTHENTICATE }));
    for h in WWW_AUTHENTICATE {
        e = e.header("WWW-Authenticate", h);
    }
    e
}

/// Authenticates an `Authorization` header value against the user table.
pub fn authenticate_header(state: &State, header: Option<&str>, uri: &str) -> EsResult<AuthUser> {
    let path = uri.split('?').next().unwrap_or(uri);
    let Some(h) = header else {
        return Err(unauthorized(format!(
            "missing authentication credentials for REST request [{path}]"
        )));
    };
    let Some(b64) = h
        .strip_prefix("Basic ")
        .or_else(|| h.strip_prefix("basic "))
    else {
        return Err(unauthorized(
            "unable to authenticate with provided credentials and anonymous access is not allowed for this request".into(),
        ));
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    let (user, pass) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
    match state.users.get(user) {
        Some(u) if u.enabled && u.password.as_deref() == Some(pass) => Ok(AuthUser {
            username: u.username.clone(),
            roles: u.roles.clone(),
        }),
        _ => Err(unauthorized(format!(
            "unable to authenticate user [{user}] for REST request [{path}]"
        ))),
    }
}

fn ip(names: &[&str], privileges: &[&str]) -> IndicesPrivileges {
    IndicesPrivileges {
        names: names.iter().map(|s| s.to_string()).collect(),
        privileges: privileges.iter().map(|s| s.to_string()).collect(),
        allow_restricted_indices: false,
        ..Default::default()
    }
}

/// The built-in roles the stand-in knows.
pub fn builtin_role(name: &str) -> Option<Role> {
    let cluster = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let meta = json!({"_reserved": true});
    let role = match name {
        "superuser" => Role {
            cluster: cluster(&["all"]),
            indices: vec![IndicesPrivileges {
                allow_restricted_indices: true,
                ..ip(&["*"], &["all"])
            }],
            run_as: vec!["*".into()],
            ..Default::default()
        },
        "kibana_system" => Role {
            cluster: cluster(&[
                "monitor",
                "manage_index_templates",
                "manage_ilm",
                "manage_pipeline",
                "manage_saml",
                "manage_token",
                "manage_oidc",
                "manage_own_api_key",
                "manage_enrich",
                "manage_transform",
            ]),
            indices: vec![
                ip(
                    &[
                        ".kibana*",
                        ".reporting-*",
                        ".apm-agent-configuration",
                        ".apm-custom-link",
                        ".fleet*",
                    ],
                    &["all"],
                ),
                ip(&[".monitoring-*"], &["read", "read_cross_cluster"]),
                ip(
                    &["logs-*", "metrics-*", "traces-*"],
                    &["read", "view_index_metadata"],
                ),
            ],
            ..Default::default()
        },
        "viewer" => Role {
            indices: vec![ip(&["*"], &["read", "view_index_metadata"])],
            ..Default::default()
        },
        "editor" => Role {
            indices: vec![
                ip(&["*"], &["read", "view_index_metadata"]),
                ip(
                    &["observability-annotations"],
                    &["read", "view_index_metadata", "write"],
                ),
            ],
            ..Default::default()
        },
        "monitoring_user" => Role {
            cluster: cluster(&["cluster:monitor/main"]),
            indices: vec![ip(&[".monitoring-*"], &["read", "read_cross_cluster"])],
            ..Default::default()
        },
        "ingest_admin" => Role {
            cluster: cluster(&["manage_index_templates", "manage_pipeline"]),
            ..Default::default()
        },
        "snapshot_user" => Role {
            cluster: cluster(&["create_snapshot", "monitor_snapshot"]),
            indices: vec![ip(&["*"], &["view_index_metadata"])],
            ..Default::default()
        },
        "logstash_system" | "beats_system" | "apm_system" | "remote_monitoring_collector" => Role {
            cluster: cluster(&["monitor", "cluster:admin/xpack/monitoring/bulk"]),
            ..Default::default()
        },
        _ => return None,
    };
    Some(Role {
        metadata: meta,
        ..role
    })
}

const BUILTIN_ROLE_NAMES: &[&str] = &[
    "superuser",
    "kibana_system",
    "viewer",
    "editor",
    "monitoring_user",
    "ingest_admin",
    "snapshot_user",
    "logstash_system",
    "beats_system",
    "apm_system",
    "remote_monitoring_collector",
];

fn lookup_role(state: &State, name: &str) -> Option<Role> {
    builtin_role(name).or_else(|| state.roles.get(name).cloned())
}

fn cluster_priv_grants(have: &str, action: &str, wanted: &[&str]) -> bool {
    if have.contains(':') {
        return simple_match(have, action);
    }
    have == "all" || wanted.contains(&have)
}

fn index_priv_grants(have: &str, action: &str, wanted: &[&str]) -> bool {
    if have.contains(':') {
        return simple_match(have, action);
    }
    have == "all" || wanted.contains(&have)
}

fn roles_desc(state: &State, user: &AuthUser) -> String {
    let (found, missing): (Vec<&String>, Vec<&String>) = user
        .roles
        .iter()
        .partition(|r| lookup_role(state, r).is_some());
    let f: Vec<&str> = found.iter().map(|s| s.as_str()).collect();
    let mut s = format!("[{}]", f.join(","));
    if !missing.is_empty() {
        let m: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        s.push_str(&format!(
            " (assigned roles [{}] were not found)",
            m.join(",")
        ));
    }
    s
}

/// Whether one of the user's roles (that exist) grants what `grants` asks of a role.
fn any_role(state: &State, user: &AuthUser, grants: impl Fn(&Role) -> bool) -> bool {
    user.roles
        .iter()
        .filter_map(|r| lookup_role(state, r))
        .any(|role| grants(&role))
}

pub fn has_cluster(state: &State, user: &AuthUser, action: &str, wanted: &[&str]) -> bool {
    any_role(state, user, |role| {
        role.cluster
            .iter()
            .any(|p| cluster_priv_grants(p, action, wanted))
    })
}

pub fn has_index(
    state: &State,
    user: &AuthUser,
    action: &str,
    wanted: &[&str],
    index: &str,
) -> bool {
    any_role(state, user, |role| {
        role.indices.iter().any(|ip| {
            ip.names.iter().any(|n| simple_match(n, index))
                && ip
                    .privileges
                    .iter()
                    .any(|p| index_priv_grants(p, action, wanted))
        })
    })
}

pub fn require_cluster(
    state: &State,
    user: &AuthUser,
    action: &str,
    wanted: &[&str],
) -> EsResult<()> {
    if has_cluster(state, user, action, wanted) {
        return Ok(());
    }
    Err(not_granted(state, user, action, wanted, "", "cluster"))
}

/// The 403 for an action no role of the user grants: `on` says where (` on indices [..]` or
/// nothing), `kind` which privileges would grant it (`cluster` or `index`).
fn not_granted(
    state: &State,
    user: &AuthUser,
    action: &str,
    wanted: &[&str],
    on: &str,
    kind: &str,
) -> EsError {
    EsError::security(
        403,
        format!(
            "action [{action}] is unauthorized for user [{}] with effective roles {}{on}, this action is granted by the {kind} privileges [{}]",
            user.username,
            roles_desc(state, user),
            wanted.join(",")
        ),
    )
}

pub fn index_denied(
    state: &State,
    user: &AuthUser,
    action: &str,
    wanted: &[&str],
    index: &str,
) -> EsError {
    let on = format!(" on indices [{index}]");
    not_granted(state, user, action, wanted, &on, "index")
}

pub fn require_index(
    state: &State,
    user: &AuthUser,
    action: &str,
    wanted: &[&str],
    index: &str,
) -> EsResult<()> {
    if has_index(state, user, action, wanted, index) {
        Ok(())
    } else {
        Err(index_denied(state, user, action, wanted, index))
    }
}

fn security_disabled() -> EsError {
    EsError::new(
        500,
        "exception",
        "Security must be explicitly enabled when using a [basic] license. Enable security by setting [xpack.security.enabled] to [true] in the elasticsearch.yml file and restart the node.",
    )
}

fn require_enabled(ctx: &Ctx<'_>) -> EsResult<()> {
    if ctx.security_enabled {
        Ok(())
    } else {
        Err(security_disabled())
    }
}

fn realm_of(u: &User) -> Value {
    match u.realm {
        Realm::Reserved => json!({"name": "reserved", "type": "reserved"}),
        Realm::File => json!({"name": "default_file", "type": "file"}),
        Realm::Native => json!({"name": "default_native", "type": "native"}),
    }
}

pub fn authenticate(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    require_enabled(ctx)?;
    let name = ctx.username().to_string();
    let u = ctx
        .state
        .users
        .get(&name)
        .ok_or_else(|| EsError::security(401, "user not found"))?;
    Ok(Reply::ok(json!({
        "username": u.username,
        "roles": u.roles,
        "full_name": u.full_name,
        "email": u.email,
        "metadata": u.metadata,
        "enabled": u.enabled,
        "authentication_realm": realm_of(u),
        "lookup_realm": realm_of(u),
        "authentication_type": "realm",
    })))
}

const CLUSTER_PRIVILEGES: &[&str] = &[
    "all",
    "cancel_task",
    "create_snapshot",
    "cross_cluster_replication",
    "cross_cluster_search",
    "delegate_pki",
    "grant_api_key",
    "manage",
    "manage_api_key",
    "manage_autoscaling",
    "manage_behavioral_analytics",
    "manage_ccr",
    "manage_connector",
    "manage_data_frame_transforms",
    "manage_data_stream_global_retention",
    "manage_enrich",
    "manage_ilm",
    "manage_index_templates",
    "manage_inference",
    "manage_ingest_pipelines",
    "manage_logstash_pipelines",
    "manage_ml",
    "manage_oidc",
    "manage_own_api_key",
    "manage_pipeline",
    "manage_rollup",
    "manage_saml",
    "manage_search_application",
    "manage_search_query_rules",
    "manage_search_synonyms",
    "manage_security",
    "manage_service_account",
    "manage_slm",
    "manage_token",
    "manage_transform",
    "manage_user_profile",
    "manage_watcher",
    "monitor",
    "monitor_connector",
    "monitor_data_frame_transforms",
    "monitor_data_stream_global_retention",
    "monitor_enrich",
    "monitor_inference",
    "monitor_ml",
    "monitor_rollup",
    "monitor_snapshot",
    "monitor_text_structure",
    "monitor_transform",
    "monitor_watcher",
    "none",
    "post_behavioral_analytics_event",
    "read_ccr",
    "read_connector_secrets",
    "read_fleet_secrets",
    "read_ilm",
    "read_pipeline",
    "read_security",
    "read_slm",
    "transport_client",
    "write_connector_secrets",
    "write_fleet_secrets",
];

const INDEX_PRIVILEGES: &[&str] = &[
    "all",
    "auto_configure",
    "create",
    "create_doc",
    "create_index",
    "cross_cluster_replication",
    "cross_cluster_replication_internal",
    "delete",
    "delete_index",
    "index",
    "maintenance",
    "manage",
    "manage_data_stream_lifecycle",
    "manage_failure_store",
    "manage_follow_index",
    "manage_ilm",
    "manage_leader_index",
    "monitor",
    "none",
    "read",
    "read_cross_cluster",
    "read_failure_store",
    "view_index_metadata",
    "write",
];

fn parse_role(name: &str, body: &Value) -> EsResult<Role> {
    let Value::Object(m) = body else {
        return Err(EsError::new(
            400,
            "parse_exception",
            format!("failed to parse role [{name}]. expected an object"),
        ));
    };
    let mut role = Role {
        metadata: json!({}),
        ..Default::default()
    };
    let mut errors = Vec::new();
    for (k, v) in m {
        match k.as_str() {
            "cluster" => role.cluster = string_list(Some(v)),
            "indices" | "index" => {
                for e in v.as_array().cloned().unwrap_or_default() {
                    let names = string_list(e.get("names"));
                    let privileges = string_list(e.get("privileges"));
                    if names.is_empty() {
                        return Err(EsError::new(
                            400,
                            "parse_exception",
                            format!(
                                "failed to parse indices privileges for role [{name}]. missing required [names] field"
                            ),
                        ));
                    }
                    if privileges.is_empty() {
                        return Err(EsError::new(
                            400,
                            "parse_exception",
                            format!(
                                "failed to parse indices privileges for role [{name}]. missing required [privileges] field"
                            ),
                        ));
                    }
                    role.indices.push(IndicesPrivileges {
                        names,
                        privileges,
                        field_security: e.get("field_security").cloned(),
                        query: e.get("query").cloned(),
                        allow_restricted_indices: e
                            .get("allow_restricted_indices")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    });
                }
            }
            "applications" => role.applications = v.as_array().cloned().unwrap_or_default(),
            "run_as" => role.run_as = string_list(Some(v)),
            "metadata" => {
                if let Some(mm) = v.as_object()
                    && mm.keys().any(|k| k.starts_with('_'))
                {
                    errors.push("role metadata keys may not start with [_]".to_string());
                }
                role.metadata = v.clone();
            }
            "description" => role.description = v.as_str().map(String::from),
            "transient_metadata" | "global" | "remote_indices" | "remote_cluster" => {}
            other => {
                return Err(EsError::new(
                    400,
                    "parse_exception",
                    format!("failed to parse role [{name}]. unexpected field [{other}]"),
                ));
            }
        }
    }
    for p in &role.cluster {
        if !p.contains(':') && !CLUSTER_PRIVILEGES.contains(&p.as_str()) {
            errors.push(format!(
                "unknown cluster privilege [{p}]. a privilege must be either one of the predefined cluster privilege names [{}] or a pattern over one of the available cluster actions",
                CLUSTER_PRIVILEGES.join(",")
            ));
        }
    }
    for ipv in &role.indices {
        for p in &ipv.privileges {
            if !p.contains(':') && !INDEX_PRIVILEGES.contains(&p.as_str()) {
                errors.push(format!(
                    "unknown index privilege [{p}]. a privilege must be either one of the predefined fixed indices privileges [{}] or a pattern over one of the available index actions",
                    INDEX_PRIVILEGES.join(",")
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(EsError::validation(&errors));
    }
    Ok(role)
}

fn render_role(r: &Role) -> Value {
    let indices: Vec<Value> = r
        .indices
        .iter()
        .map(|i| {
            let mut m = Map::new();
            m.insert("names".into(), json!(i.names));
            m.insert("privileges".into(), json!(i.privileges));
            if let Some(f) = &i.field_security {
                m.insert("field_security".into(), f.clone());
            }
            if let Some(q) = &i.query {
                m.insert("query".into(), q.clone());
            }
            m.insert(
                "allow_restricted_indices".into(),
                json!(i.allow_restricted_indices),
            );
            Value::Object(m)
        })
        .collect();
    let mut out = json!({
        "cluster": r.cluster,
        "indices": indices,
        "applications": r.applications,
        "run_as": r.run_as,
        "metadata": if r.metadata.is_null() { json!({}) } else { r.metadata.clone() },
        "transient_metadata": {"enabled": true},
    });
    if let Some(d) = &r.description {
        out["description"] = json!(d);
    }
    out
}

pub fn put_role(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    require_enabled(ctx)?;
    let name = ctx.param("name").unwrap_or_default().to_string();
    if builtin_role(&name).is_some() {
        return Err(EsError::validation(&[format!(
            "Role [{name}] is reserved and may not be used."
        )]));
    }
    let role = parse_role(&name, ctx.body_json()?)?;
    let created = ctx.state.roles.insert(name, role).is_none();
    Ok(Reply::ok(json!({"role": {"created": created}})))
}

pub fn get_role(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    require_enabled(ctx)?;
    let state = &*ctx.state;
    let builtin = BUILTIN_ROLE_NAMES
        .iter()
        .filter_map(|n| builtin_role(n).map(|r| (n.to_string(), render_role(&r))));
    let created = state.roles.iter().map(|(n, r)| (n.clone(), render_role(r)));
    get_named(ctx.param("name"), builtin.chain(created), |n| {
        lookup_role(state, n).map(|r| render_role(&r))
    })
}

/// A security `GET`: every entry when the path names none; else the named ones (a
/// comma-separated list) that exist, and 404 with `{}` when none does.
fn get_named(
    names: Option<&str>,
    all: impl Iterator<Item = (String, Value)>,
    one: impl Fn(&str) -> Option<Value>,
) -> EsResult<Reply> {
    let mut out = Map::new();
    match names {
        None => out.extend(all),
        Some(names) => {
            for n in names.split(',') {
                if let Some(v) = one(n) {
                    out.insert(n.to_string(), v);
                }
            }
            if out.is_empty() {
                return Err(EsError::raw(404, json!({})));
            }
        }
    }
    Ok(Reply::ok(Value::Object(out)))
}

/// A security `DELETE`'s answer: `found`, or 404 when there was nothing to delete.
fn deleted(found: bool) -> EsResult<Reply> {
    if found {
        Ok(Reply::ok(json!({"found": true})))
    } else {
        Err(EsError::raw(404, json!({"found": false})))
    }
}

pub fn delete_role(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    require_enabled(ctx)?;
    let name = ctx.param("name").unwrap_or_default().to_string();
    if builtin_role(&name).is_some() {
        return Err(EsError::validation(&[format!(
            "role [{name}] is reserved and cannot be deleted"
        )]));
    }
    deleted(ctx.state.roles.remove(&name).is_some())
}

fn check_password(p: &str) -> EsResult<()> {
    if p.chars().count() < 6 {
        return Err(EsError::validation(&[
            "passwords must be at least [6] characters long".into(),
        ]));
    }
    Ok(())
}

pub fn put_user(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    require_enabled(ctx)?;
    let name = ctx.param("username").unwrap_or_default().to_string();
    if RESERVED_USERS.iter().any(|(u, _)| *u == name) {
        return Err(EsError::validation(&[format!(
            "Username [{name}] is reserved and may not be used."
        )]));
    }
    if name.is_empty()
        || name.len() > 507
        || name.starts_with('_')
        || name.chars().any(|c| c.is_control())
    {
        return Err(EsError::validation(&[format!(
            "Invalid username [{name}]... Valid characters are alphanumerics, spaces, punctuation, and printable symbols in the Basic Latin (ASCII) block. Leading or trailing whitespace is not allowed."
        )]));
    }
    let body = ctx.body_json()?.clone();
    let Value::Object(m) = &body else {
        return Err(EsError::new(
            400,
            "parse_exception",
            format!("failed to parse user [{name}]"),
        ));
    };
    for k in m.keys() {
        if !matches!(
            k.as_str(),
            "password"
                | "password_hash"
                | "roles"
                | "full_name"
                | "email"
                | "metadata"
                | "enabled"
                | "profile_uid"
        ) {
            return Err(EsError::new(
                400,
                "parse_exception",
                format!("failed to parse add user request. unexpected field [{k}]"),
            ));
        }
    }
    let existing = ctx
        .state
        .users
        .get(&name)
        .filter(|u| u.realm == Realm::Native)
        .cloned();
    let mut errors = Vec::new();
    let password = m.get("password").and_then(Value::as_str).map(String::from);
    if m.get("roles").is_none() {
        errors.push("roles are missing".to_string());
    }
    match (&password, &existing) {
        (Some(p), _) if p.chars().count() < 6 => {
            errors.push("passwords must be at least [6] characters long".to_string());
        }
        (None, None) if m.get("password_hash").is_none() => {
            errors.push(
                "password must be specified unless you are updating an existing user".to_string(),
            );
        }
        _ => {}
    }
    if let Some(mm) = m.get("metadata").and_then(Value::as_object)
        && mm.keys().any(|k| k.starts_with('_'))
    {
        errors.push("user metadata keys may not start with [_]".to_string());
    }
    if !errors.is_empty() {
        return Err(EsError::validation(&errors));
    }
    let user = User {
        username: name.clone(),
        password: password.or_else(|| existing.as_ref().and_then(|e| e.password.clone())),
        roles: string_list(m.get("roles")),
        full_name: m.get("full_name").and_then(Value::as_str).map(String::from),
        email: m.get("email").and_then(Value::as_str).map(String::from),
        metadata: m.get("metadata").cloned().unwrap_or(json!({})),
        enabled: m.get("enabled").and_then(Value::as_bool).unwrap_or(true),
        realm: Realm::Native,
    };
    let created = existing.is_none();
    ctx.state.users.insert(name, user);
    Ok(Reply::ok(json!({"created": created})))
}

fn render_user(u: &User) -> Value {
    let mut meta = if u.metadata.is_object() {
        u.metadata.clone()
    } else {
        json!({})
    };
    if u.realm == Realm::Reserved {
        meta["_reserved"] = json!(true);
    }
    json!({
        "username": u.username,
        "roles": u.roles,
        "full_name": u.full_name,
        "email": u.email,
        "metadata": meta,
        "enabled": u.enabled,
    })
}

pub fn get_user(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    require_enabled(ctx)?;
    let visible = |u: &&User| u.realm != Realm::File;
    let users = &ctx.state.users;
    let all = users
        .iter()
        .filter(|(_, u)| visible(u))
        .map(|(n, u)| (n.clone(), render_user(u)));
    get_named(ctx.param("username"), all, |n| {
        users.get(n).filter(visible).map(render_user)
    })
}

pub fn delete_user(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    require_enabled(ctx)?;
    let name = ctx.param("username").unwrap_or_default().to_string();
    if RESERVED_USERS.iter().any(|(u, _)| *u == name) {
        return Err(EsError::validation(&[format!(
            "user [{name}] is reserved and may not be deleted"
        )]));
    }
    let native = ctx
        .state
        .users
        .get(&name)
        .is_some_and(|u| u.realm == Realm::Native);
    if native {
        ctx.state.users.remove(&name);
    }
    deleted(native)
}

pub fn change_password(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    require_enabled(ctx)?;
    let caller = ctx.username().to_string();
    let target = ctx
        .param("username")
        .map(String::from)
        .unwrap_or_else(|| caller.clone());
    if let Some(user) = ctx.user
        && target != caller
    {
        require_cluster(
            ctx.state,
            user,
            "cluster:admin/xpack/security/user/change_password",
            &["manage_security", "all"],
        )?;
    }
    let body = ctx.body_json()?;
    let password = body
        .get("password")
        .and_then(Value::as_str)
        .ok_or_else(|| EsError::validation(&["password must be specified".into()]))?
        .to_string();
    check_password(&password)?;
    match ctx.state.users.get_mut(&target) {
        Some(u) if u.realm != Realm::File => {
            u.password = Some(password);
            Ok(Reply::ok(json!({})))
        }
        _ => Err(EsError::new(
            400,
            "validation_exception",
            "Validation Failed: 1: user must exist in order to change password;",
        )),
    }
}

/// The user table of a fresh node: the reserved users plus the configured ones.
pub fn initial_users(cfg_users: &[crate::SimUser]) -> std::collections::BTreeMap<String, User> {
    let mut users = std::collections::BTreeMap::new();
    for (name, role) in RESERVED_USERS {
        users.insert(
            name.to_string(),
            User {
                username: name.to_string(),
                password: None,
                roles: vec![role.to_string()],
                full_name: None,
                email: None,
                metadata: json!({}),
                enabled: true,
                realm: Realm::Reserved,
            },
        );
    }
    for u in cfg_users {
        let reserved = RESERVED_USERS.iter().any(|(n, _)| *n == u.username);
        let roles = if reserved && u.roles.is_empty() {
            users
                .get(&u.username)
                .map(|x| x.roles.clone())
                .unwrap_or_default()
        } else {
            u.roles.clone()
        };
        users.insert(
            u.username.clone(),
            User {
                username: u.username.clone(),
                password: Some(u.password.clone()),
                roles,
                full_name: None,
                email: None,
                metadata: json!({}),
                enabled: true,
                realm: if reserved {
                    Realm::Reserved
                } else {
                    Realm::File
                },
            },
        );
    }
    users
}
