//! The reload of the nodes' secure settings (I/O), and the pure reading of its answer.
//!
//! ```text
//! POST /_nodes/reload_secure_settings  {"secure_settings_password": "<digest>"}
//!   200 {"_nodes": {"total": 3, "successful": 3, "failed": 0}, "cluster_name": "...",
//!        "nodes": {"<id>": {"name": "mesh-es-0"},
//!                  "<id>": {"name": "mesh-es-1", "reload_exception":
//!                           {"type": "security_exception", "reason": "Provided keystore password was incorrect"}}}}
//! ```
//!
//! The keystore's password is the digest of its content
//! ([`crate::keystore::KeystoreFiles::digest`]): a node whose keystore was built from other
//! content refuses it, so the answer says which nodes hold the new keystore. The body is
//! never logged (the client logs no bodies).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{EsClient, EsError};

/// How one node answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeReload {
    /// It reloaded its keystore.
    Reloaded,
    /// Its keystore has another password: it was built from other content (not rebuilt
    /// yet).
    WrongPassword,
    /// Another failure: `type: reason` (an unknown or invalid setting, a node that did not
    /// answer).
    Failed(String),
}

/// The answer of a reload, per node name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadAnswer {
    /// Node name → how it answered.
    pub nodes: BTreeMap<String, NodeReload>,
}

impl ReloadAnswer {
    /// Nodes that reloaded.
    pub fn reloaded(&self) -> usize {
        self.count(|r| *r == NodeReload::Reloaded)
    }

    /// Nodes whose keystore is not rebuilt yet.
    pub fn waiting(&self) -> usize {
        self.count(|r| *r == NodeReload::WrongPassword)
    }

    /// The first other failure: (node, what).
    pub fn failure(&self) -> Option<(&str, &str)> {
        self.nodes.iter().find_map(|(n, r)| match r {
            NodeReload::Failed(why) => Some((n.as_str(), why.as_str())),
            _ => None,
        })
    }

    fn count(&self, f: impl Fn(&NodeReload) -> bool) -> usize {
        self.nodes.values().filter(|r| f(r)).count()
    }
}

/// `POST /_nodes/reload_secure_settings` with the keystore's password.
pub async fn reload_secure_settings(
    client: &EsClient,
    password: &str,
) -> Result<ReloadAnswer, EsError> {
    let body = json!({ "secure_settings_password": password });
    let answer = client
        .post(
            "nodes.reload_secure_settings",
            "/_nodes/reload_secure_settings",
            &body,
        )
        .await?;
    Ok(parse(&answer))
}

/// The per-node outcome of a reload answer. Nodes listed under `_nodes.failures` (no node
/// answer at all) count as failed under their node id.
pub fn parse(body: &Value) -> ReloadAnswer {
    let mut nodes = BTreeMap::new();
    for (id, node) in body["nodes"].as_object().into_iter().flatten() {
        let name = node["name"].as_str().unwrap_or(id).to_string();
        let outcome = match node.get("reload_exception") {
            None | Some(Value::Null) => NodeReload::Reloaded,
            Some(e) if wrong_password(e) => NodeReload::WrongPassword,
            Some(e) => NodeReload::Failed(describe(e)),
        };
        nodes.insert(name, outcome);
    }
    for failure in body["_nodes"]["failures"].as_array().into_iter().flatten() {
        let id = failure["node_id"].as_str().unwrap_or("unknown node");
        let cause = failure.get("caused_by").unwrap_or(failure);
        nodes
            .entry(id.to_string())
            .or_insert_with(|| NodeReload::Failed(describe(cause)));
    }
    ReloadAnswer { nodes }
}

/// Elasticsearch's refusal of a keystore password (`KeyStoreWrapper`: "Provided keystore
/// password was incorrect"), in the exception or its cause.
fn wrong_password(e: &Value) -> bool {
    let said = |v: &Value| {
        v["reason"]
            .as_str()
            .is_some_and(|r| r.contains("keystore password was incorrect"))
    };
    said(e) || said(&e["caused_by"])
}

fn describe(e: &Value) -> String {
    format!(
        "{}: {}",
        e["type"].as_str().unwrap_or("exception"),
        e["reason"].as_str().unwrap_or("no reason given")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_node_is_read_by_name() {
        let body = json!({
            "_nodes": {"total": 4, "successful": 3, "failed": 1, "failures": [
                {"type": "failed_node_exception", "reason": "Failed node [x9]", "node_id": "x9",
                 "caused_by": {"type": "node_not_connected_exception", "reason": "not connected"}}
            ]},
            "cluster_name": "c",
            "nodes": {
                "a1": {"name": "es-0"},
                "b2": {"name": "es-1", "reload_exception": {"type": "security_exception",
                       "reason": "Provided keystore password was incorrect"}},
                "c3": {"name": "es-2", "reload_exception": {"type": "illegal_argument_exception",
                       "reason": "unknown secure setting [s3.client.default.acess_key]"}}
            }
        });
        let a = parse(&body);
        assert_eq!(a.reloaded(), 1);
        assert_eq!(a.waiting(), 1);
        assert_eq!(
            a.nodes["es-2"],
            NodeReload::Failed(
                "illegal_argument_exception: unknown secure setting [s3.client.default.acess_key]"
                    .into()
            )
        );
        assert_eq!(
            a.nodes["x9"],
            NodeReload::Failed("node_not_connected_exception: not connected".into())
        );
        assert_eq!(
            a.failure(),
            Some((
                "es-2",
                "illegal_argument_exception: unknown secure setting [s3.client.default.acess_key]"
            ))
        );
    }
}
