//! The requests of a safe scale-down (I/O), and the pure reading of their answers.
//!
//! ```text
//! GET  /_cluster/settings?flat_settings=true        who is excluded from allocation
//! PUT  /_cluster/settings                           exclude._name = the leaving nodes (or back)
//! GET  /_cat/shards?format=json&h=index,shard,prirep,state,node
//! GET  /_cluster/state/metadata?filter_path=...voting_config_exclusions
//! POST /_cluster/voting_config_exclusions?node_names=...
//! GET  /_nodes?filter_path=nodes.*.name             who is still in the cluster
//! DELETE /_cluster/voting_config_exclusions         once they left
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{EsClient, EsError};

/// The allocation filter the operator uses to move shards off leaving nodes.
pub const EXCLUDE_NAME: &str = "cluster.routing.allocation.exclude._name";

/// One shard copy from `_cat/shards`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardCopy {
    /// Index name.
    pub index: String,
    /// Shard number.
    pub shard: String,
    /// `STARTED`, `RELOCATING`, `INITIALIZING`, `UNASSIGNED`.
    pub state: String,
    /// The node holding it (for a relocating copy, the source); `None` when unassigned.
    pub node: Option<String>,
}

/// The node names in `cluster.routing.allocation.exclude._name` (persistent).
pub async fn excluded(client: &EsClient) -> Result<BTreeSet<String>, EsError> {
    Ok(excluded_in(&persistent_settings(client).await?))
}

/// `GET /_cluster/settings?flat_settings=true`: the cluster settings (flat), read once a
/// pass for the scale-down's filter and the rolling restart's allocation setting.
pub async fn persistent_settings(client: &EsClient) -> Result<Value, EsError> {
    Ok(client
        .get(
            "cluster.get_settings",
            "/_cluster/settings?flat_settings=true",
        )
        .await?
        .unwrap_or_default())
}

/// The node names in `cluster.routing.allocation.exclude._name` of flat settings.
pub fn excluded_in(settings: &Value) -> BTreeSet<String> {
    names(settings["persistent"][EXCLUDE_NAME].as_str().unwrap_or(""))
}

/// Sets `cluster.routing.allocation.exclude._name` to `names` (removes it when empty).
pub async fn set_excluded(client: &EsClient, names: &BTreeSet<String>) -> Result<(), EsError> {
    let value = if names.is_empty() {
        Value::Null
    } else {
        json!(names.iter().cloned().collect::<Vec<_>>().join(","))
    };
    let body = json!({"persistent": {EXCLUDE_NAME: value}});
    client
        .put("cluster.put_settings", "/_cluster/settings", &body)
        .await?;
    Ok(())
}

/// Every shard copy of the cluster.
pub async fn shards(client: &EsClient) -> Result<Vec<ShardCopy>, EsError> {
    let path = "/_cat/shards?format=json&h=index,shard,prirep,state,node";
    let body = client.get("cat.shards", path).await?.unwrap_or_default();
    let rows = body.as_array().cloned().unwrap_or_default();
    Ok(rows
        .iter()
        .map(|r| ShardCopy {
            index: r["index"].as_str().unwrap_or_default().to_string(),
            shard: r["shard"].as_str().unwrap_or_default().to_string(),
            state: r["state"].as_str().unwrap_or_default().to_string(),
            // A relocating copy shows as "source -> ip id target".
            node: r["node"]
                .as_str()
                .and_then(|n| n.split_whitespace().next())
                .map(str::to_string),
        })
        .collect())
}

/// The names of the nodes in the cluster.
pub async fn node_names(client: &EsClient) -> Result<BTreeSet<String>, EsError> {
    let body = client
        .get("nodes.info", "/_nodes?filter_path=nodes.*.name")
        .await?
        .unwrap_or_default();
    Ok(body["nodes"]
        .as_object()
        .map(|nodes| {
            nodes
                .values()
                .filter_map(|n| n["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

/// The names of the nodes excluded from the voting configuration.
pub async fn voting_exclusions(client: &EsClient) -> Result<BTreeSet<String>, EsError> {
    let path = "/_cluster/state/metadata?filter_path=metadata.cluster_coordination.voting_config_exclusions";
    let body = client.get("cluster.state", path).await?.unwrap_or_default();
    let list = body["metadata"]["cluster_coordination"]["voting_config_exclusions"].as_array();
    Ok(list
        .into_iter()
        .flatten()
        .filter_map(|e| e["node_name"].as_str().map(str::to_string))
        .collect())
}

/// Excludes `names` from the voting configuration (Elasticsearch waits until the
/// configuration no longer holds them).
pub async fn exclude_from_voting(
    client: &EsClient,
    names: &BTreeSet<String>,
) -> Result<(), EsError> {
    let list = names.iter().cloned().collect::<Vec<_>>().join(",");
    let path = format!("/_cluster/voting_config_exclusions?node_names={list}");
    client
        .post_empty("cluster.post_voting_config_exclusions", &path)
        .await?;
    Ok(())
}

/// Clears the voting configuration exclusions (the excluded nodes have left).
pub async fn clear_voting_exclusions(client: &EsClient) -> Result<(), EsError> {
    client
        .delete(
            "cluster.delete_voting_config_exclusions",
            "/_cluster/voting_config_exclusions",
        )
        .await?;
    Ok(())
}

/// The names in a comma-separated list.
pub fn names(list: &str) -> BTreeSet<String> {
    list.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

/// How many copies held by `nodes` (a relocating copy counts on its source).
pub fn copies_on(shards: &[ShardCopy], nodes: &BTreeSet<String>) -> usize {
    shards
        .iter()
        .filter(|s| s.node.as_ref().is_some_and(|n| nodes.contains(n)))
        .count()
}

/// The most copies (primary and replicas, assigned or not) of any shard of the indices
/// whose name starts with `prefix`.
pub fn most_copies(shards: &[ShardCopy], prefix: &str) -> usize {
    let mut copies: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for s in shards.iter().filter(|s| s.index.starts_with(prefix)) {
        *copies.entry((&s.index, &s.shard)).or_default() += 1;
    }
    copies.values().copied().max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(index: &str, shard: &str, state: &str, node: Option<&str>) -> ShardCopy {
        ShardCopy {
            index: index.into(),
            shard: shard.into(),
            state: state.into(),
            node: node.map(str::to_string),
        }
    }

    #[test]
    fn copies_count_on_their_node_and_a_relocating_one_on_its_source() {
        let shards = vec![
            copy("logs-000001", "0", "STARTED", Some("es-3")),
            copy("logs-000001", "0", "RELOCATING", Some("es-4")),
            copy("logs-000001", "1", "STARTED", Some("es-0")),
            copy("logs-000001", "1", "UNASSIGNED", None),
            copy(".security", "0", "STARTED", Some("es-4")),
        ];
        let leaving = names("es-3,es-4");
        assert_eq!(copies_on(&shards, &leaving), 3);
        assert_eq!(most_copies(&shards, "logs-"), 2);
        assert_eq!(most_copies(&shards, "other-"), 0);
    }

    #[test]
    fn a_relocating_copy_shows_its_source() {
        let row = json!({"index": "a", "shard": "0", "state": "RELOCATING",
            "node": "es-4 -> 10.0.0.1 Xyz es-1"});
        let node = row["node"]
            .as_str()
            .and_then(|n| n.split_whitespace().next());
        assert_eq!(node, Some("es-4"));
        assert_eq!(names(" a, b,,c "), names("c,b,a"));
    }
}
