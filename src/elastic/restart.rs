//! The requests of a rolling restart (I/O), and the pure reading of their answers.
//!
//! ```text
//! GET  /_cat/nodes?format=json&h=name,version,node.role,master   who is in, at which version, who is master
//! GET  /_cluster/health?level=indices        (only when yellow) may a restart start anyway?
//! PUT  /_cluster/settings  {"persistent":{"cluster.routing.allocation.enable":"primaries"}}
//! POST /_flush
//! PUT  /_cluster/settings  {"persistent":{"cluster.routing.allocation.enable":null}}
//! ```
//!
//! The allocation setting is read from the same `GET /_cluster/settings` the scale-down
//! reads ([`super::nodes::persistent_settings`]), so a steady pass sends nothing more.

use serde_json::{Value, json};

use super::{EsClient, EsError};

/// The setting a restart lowers to `primaries` while a node is away.
pub const ALLOCATION_ENABLE: &str = "cluster.routing.allocation.enable";

/// The value the operator sets while a node restarts.
pub const PRIMARIES: &str = "primaries";

/// One node from `_cat/nodes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRow {
    /// The node's name (a managed node's is its pod's).
    pub name: String,
    /// The Elasticsearch version it runs.
    pub version: String,
    /// It may be elected master (`m` among its roles).
    pub master_eligible: bool,
    /// It is the elected master.
    pub elected: bool,
}

/// `cluster.routing.allocation.enable` in the persistent settings (flat), when set.
pub fn allocation_enable(persistent_flat: &Value) -> Option<String> {
    persistent_flat["persistent"][ALLOCATION_ENABLE]
        .as_str()
        .map(str::to_string)
}

/// The nodes of the cluster.
pub async fn cat_nodes(client: &EsClient) -> Result<Vec<NodeRow>, EsError> {
    let path = "/_cat/nodes?format=json&h=name,version,node.role,master";
    let body = client.get("cat.nodes", path).await?.unwrap_or_default();
    Ok(parse_nodes(&body))
}

/// The rows of a `_cat/nodes` answer (JSON).
pub fn parse_nodes(body: &Value) -> Vec<NodeRow> {
    body.as_array()
        .into_iter()
        .flatten()
        .map(|r| NodeRow {
            name: r["name"].as_str().unwrap_or_default().to_string(),
            version: r["version"].as_str().unwrap_or_default().to_string(),
            master_eligible: r["node.role"].as_str().is_some_and(|x| x.contains('m')),
            elected: r["master"].as_str() == Some("*"),
        })
        .filter(|n| !n.name.is_empty())
        .collect()
}

/// Whether a yellow cluster may still restart a node: every index that is not green keeps
/// more replicas than the cluster has other nodes, so it can never be green (a one-node
/// cluster with replicas). An index whose replicas could be assigned but are not (a node
/// away, copies recovering) holds the restart.
pub async fn yellow_allows_restart(client: &EsClient, nodes: usize) -> Result<bool, EsError> {
    let path =
        "/_cluster/health?level=indices&filter_path=indices.*.status,indices.*.number_of_replicas";
    let body = client
        .get("cluster.health", path)
        .await?
        .unwrap_or_default();
    Ok(yellow_is_permanent(&body, nodes))
}

/// The pure half of [`yellow_allows_restart`]. A yellow cluster that names no index that
/// is not green is not understood: no restart.
pub fn yellow_is_permanent(health: &Value, nodes: usize) -> bool {
    let mut not_green = health["indices"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, ix)| ix["status"].as_str() != Some("green"))
        .peekable();
    not_green.peek().is_some()
        && not_green.all(|(_, ix)| {
            let replicas = ix["number_of_replicas"].as_u64().unwrap_or(0);
            ix["status"].as_str() == Some("yellow") && replicas as usize >= nodes
        })
}

/// `cluster.routing.allocation.enable: primaries`: replicas of the node that leaves are
/// not rebuilt elsewhere while it restarts.
pub async fn allocate_primaries_only(client: &EsClient) -> Result<(), EsError> {
    let body = json!({"persistent": {ALLOCATION_ENABLE: PRIMARIES}});
    client
        .put("cluster.put_settings", "/_cluster/settings", &body)
        .await?;
    Ok(())
}

/// `cluster.routing.allocation.enable: null`: back to the default (`all`).
pub async fn restore_allocation(client: &EsClient) -> Result<(), EsError> {
    let body = json!({"persistent": {ALLOCATION_ENABLE: Value::Null}});
    client
        .put("cluster.put_settings", "/_cluster/settings", &body)
        .await?;
    Ok(())
}

/// `POST /_flush`: what is in the translog is written to the segments, so the node's
/// shards recover from their files when it is back.
pub async fn flush(client: &EsClient) -> Result<(), EsError> {
    client.post_empty("indices.flush", "/_flush").await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_read_with_their_roles_and_the_master() {
        let body = json!([
            {"name": "logs-es-0", "version": "8.15.3", "node.role": "cdfhilmrstw", "master": "-"},
            {"name": "logs-es-1", "version": "8.16.1", "node.role": "dim", "master": "*"},
            {"name": "coord", "version": "8.16.1", "node.role": "-", "master": "-"},
        ]);
        let rows = parse_nodes(&body);
        assert_eq!(rows.len(), 3);
        assert!(rows[0].master_eligible && !rows[0].elected);
        assert!(rows[1].elected && rows[1].version == "8.16.1");
        assert!(!rows[2].master_eligible);
    }

    #[test]
    fn yellow_holds_unless_the_replicas_can_never_be_assigned() {
        let one_node =
            json!({"indices": {"logs-000001": {"status": "yellow", "number_of_replicas": 1}}});
        assert!(yellow_is_permanent(&one_node, 1));
        assert!(!yellow_is_permanent(&one_node, 3), "a node away");
        let red = json!({"indices": {"a": {"status": "red", "number_of_replicas": 5}}});
        assert!(!yellow_is_permanent(&red, 1));
        let all_green = json!({"indices": {"a": {"status": "green", "number_of_replicas": 1}}});
        assert!(
            !yellow_is_permanent(&all_green, 3),
            "yellow, yet no index says why"
        );
        let flat = json!({"persistent": {"cluster.routing.allocation.enable": "primaries"}});
        assert_eq!(allocation_enable(&flat).as_deref(), Some("primaries"));
        assert_eq!(allocation_enable(&json!({"persistent": {}})), None);
    }
}
