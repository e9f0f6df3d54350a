//! Security: basic authentication against the user table, privilege checks
//! (cluster and index privileges, built-in and API-created roles) and the
//! `_authenticate` API; the role APIs are in `roles.rs`, the user and password APIs in
//! `users.rs`.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::{AuthUser, Ctx, Reply};
use crate::error::{EsError, EsResult};
use crate::state::{IndicesPrivileges, RESERVED_USERS, Realm, Role, State, User};
use crate::util::simple_match;

mod roles;
mod users;

pub use roles::{delete_role, get_role, put_role};
pub use users::{change_password, delete_user, get_user, put_user};

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

/// The name the path parameter `param` gives, once security is known to be enabled; a name
/// `reserved` says is reserved is refused with the validation error `refusal(name)`.
pub(super) fn name_param(
    ctx: &Ctx<'_>,
    param: &str,
    reserved: fn(&str) -> bool,
    refusal: impl Fn(&str) -> String,
) -> EsResult<String> {
    require_enabled(ctx)?;
    let name = ctx.param(param).unwrap_or_default().to_string();
    if reserved(&name) {
        return Err(EsError::validation(&[refusal(&name)]));
    }
    Ok(name)
}

/// A security `GET`: every entry when the path names none; else the named ones (a
/// comma-separated list) that exist, and 404 with `{}` when none does.
pub(super) fn get_named(
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
pub(super) fn deleted(found: bool) -> EsResult<Reply> {
    if found {
        Ok(Reply::ok(json!({"found": true})))
    } else {
        Err(EsError::raw(404, json!({"found": false})))
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
