//! The role APIs: create or update (with Elasticsearch's validation of privileges), get, delete.

use serde_json::{Map, Value, json};

use super::{
    BUILTIN_ROLE_NAMES, builtin_role, deleted, get_named, lookup_role, name_param, require_enabled,
};
use crate::api::{Ctx, Reply};
use crate::error::{EsError, EsResult};
use crate::state::{IndicesPrivileges, Role};
use crate::util::string_list;

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

fn is_builtin_role(name: &str) -> bool {
    builtin_role(name).is_some()
}

pub fn put_role(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let name = name_param(ctx, "name", is_builtin_role, |name| {
        format!("Role [{name}] is reserved and may not be used.")
    })?;
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

pub fn delete_role(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let name = name_param(ctx, "name", is_builtin_role, |name| {
        format!("role [{name}] is reserved and cannot be deleted")
    })?;
    deleted(ctx.state.roles.remove(&name).is_some())
}
