//! The user and password APIs: create or update, get, delete, change a password.

use serde_json::{Value, json};

use super::{deleted, get_named, name_param, require_cluster, require_enabled};
use crate::api::{Ctx, Reply};
use crate::error::{EsError, EsResult};
use crate::state::{RESERVED_USERS, Realm, User};
use crate::util::string_list;

fn is_reserved_user(name: &str) -> bool {
    RESERVED_USERS.iter().any(|(u, _)| *u == name)
}

pub fn put_user(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let name = name_param(ctx, "username", is_reserved_user, |name| {
        format!("Username [{name}] is reserved and may not be used.")
    })?;
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
    let name = name_param(ctx, "username", is_reserved_user, |name| {
        format!("user [{name}] is reserved and may not be deleted")
    })?;
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
    // The change-password request validates the password itself: a plain
    // `validation_exception`, not the action request's (as the real node answers).
    if password.chars().count() < 6 {
        return Err(EsError::new(
            400,
            "validation_exception",
            "Validation Failed: 1: passwords must be at least [6] characters long;",
        ));
    }
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
