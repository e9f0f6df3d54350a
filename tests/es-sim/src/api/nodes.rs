//! The nodes as a rolling restart sees them: `GET /_cat/nodes` (name, version, roles, the
//! elected master) and `POST [/{index}]/_flush`; and `POST /_nodes/reload_secure_settings`
//! against each node's keystore password.
//!
//! Each node runs the version a test gave it (`EsSim::set_node_version`, or the node's
//! own [`State::version`]); every node is master-eligible and holds data (`dim`), as the
//! operator's managed nodes do. The elected master is the first node until it leaves the
//! cluster, then the first remaining one ([`State::set_node_names`]).

use serde_json::{Map, json};

use super::{Ctx, Reply, ResolveOpts};
use crate::error::{EsError, EsResult};

/// `GET /_cat/nodes`: JSON (`format=json`) or text, columns from `h` (default
/// `ip,heap.percent,ram.percent,cpu,load_1m,load_5m,load_15m,node.role,master,name`).
pub fn cat_nodes(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let columns = super::cat::columns(
        ctx,
        "ip,heap.percent,ram.percent,cpu,load_1m,load_5m,load_15m,node.role,master,name",
    );
    let state = &*ctx.state;
    let master = state.master_node();
    let mut rows = Vec::new();
    for name in state.node_names() {
        let mut row = Map::new();
        for c in &columns {
            let v = match c.as_str() {
                "name" | "n" => json!(name),
                "version" | "v" => json!(state.node_version(&name)),
                "node.role" | "r" | "role" | "nodeRole" => json!("dim"),
                "master" | "m" => json!(if name == master { "*" } else { "-" }),
                "ip" | "i" => json!("127.0.0.1"),
                "id" | "nodeId" => json!(state.node_id_of(&name)),
                "heap.percent" | "ram.percent" | "cpu" => json!("1"),
                "load_1m" | "load_5m" | "load_15m" => json!("0.00"),
                other => return Err(super::cat::unknown_column(other)),
            };
            row.insert(c.clone(), v);
        }
        rows.push(row);
    }
    Ok(super::cat::reply(ctx, &columns, rows))
}

/// `POST [/{index}]/_flush`: every open index (or those named) flushed; `_shards` counts
/// the copies (total) and the assigned ones (successful), as Elasticsearch does.
pub fn flush(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let names = ctx.indices("_all", ResolveOpts::STRICT)?;
    let table = super::allocation::shard_table(ctx.state);
    let copies = table.iter().filter(|r| names.contains(&r.index));
    let (mut total, mut successful) = (0u64, 0u64);
    for r in copies {
        total += 1;
        if r.node.is_some() {
            successful += 1;
        }
    }
    Ok(Reply::ok(
        json!({"_shards": {"total": total, "successful": successful, "failed": 0}}),
    ))
}

/// `POST /_nodes/reload_secure_settings`: each node reloads its keystore when the
/// `secure_settings_password` is its keystore's (a node without a password set by the test
/// accepts any). As Elasticsearch 8.19 answers (checked by `real_es`): HTTP 200, a node
/// that refuses counts as successful in `_nodes` and carries a `reload_exception`
/// (`security_exception` "Provided keystore password was incorrect", caused by the
/// decryption's `i_o_exception`).
pub fn reload_secure_settings(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let body = ctx.body_or_empty()?;
    if let Some(field) = body
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "secure_settings_password"))
    {
        return Err(EsError::parse(format!(
            "[1:2] [reload_secure_settings] unknown field [{field}]"
        )));
    }
    let password = body["secure_settings_password"]
        .as_str()
        .unwrap_or_default();
    let state = &*ctx.state;
    let mut nodes = Map::new();
    for name in state.node_names() {
        let mut node = json!({"name": name});
        let refused = state
            .keystore_passwords
            .get(&name)
            .is_some_and(|p| p != password);
        if refused {
            node["reload_exception"] = json!({
                "type": "security_exception",
                "reason": "Provided keystore password was incorrect",
                "caused_by": {"type": "i_o_exception",
                              "reason": "javax.crypto.AEADBadTagException: Tag mismatch!",
                              "caused_by": {"type": "a_e_a_d_bad_tag_exception", "reason": "Tag mismatch!"}}
            });
        } else if let Some(reason) = &state.keystore_reload_error {
            node["reload_exception"] =
                json!({"type": "illegal_argument_exception", "reason": reason});
        }
        nodes.insert(state.node_id_of(&name), node);
    }
    let total = nodes.len();
    Ok(Reply::ok(json!({
        "_nodes": {"total": total, "successful": total, "failed": 0},
        "cluster_name": state.cluster_name,
        "nodes": nodes,
    })))
}
