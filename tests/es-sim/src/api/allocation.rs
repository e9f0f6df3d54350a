//! The nodes of the simulated cluster and where the shard copies live: `GET /_cat/shards`,
//! `GET|PUT /_cluster/settings` (the allocation filters), the voting configuration
//! exclusions (`POST|DELETE /_cluster/voting_config_exclusions`, read through
//! `GET /_cluster/state/metadata`).
//!
//! Each copy of each shard is placed on a node, never two copies of one shard on the same
//! node; copies with no eligible node are unassigned. A copy on a node that
//! `cluster.routing.allocation.exclude._name` excludes moves to an eligible node at the
//! next look at the table — unless the test holds relocation
//! ([`State::relocation_held`]), when it stays `RELOCATING` (and counts as on its node).
//! A copy on a node that left the cluster is lost (a surviving replica of a lost primary
//! becomes the primary); copies are then placed again where they can be. Cluster health
//! is still computed from the node count (`cluster::health`), not from this table.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{Ctx, Reply};
use crate::error::{EsError, EsResult};
use crate::state::State;

/// Allocation filter settings the stand-in knows (besides these, a cluster setting is
/// refused as unknown, as Elasticsearch does).
const KNOWN_SETTINGS: &[&str] = &[
    "cluster.routing.allocation.exclude._name",
    "cluster.routing.allocation.exclude._id",
    "cluster.routing.allocation.exclude._ip",
    "cluster.routing.allocation.exclude._host",
    "cluster.routing.allocation.include._name",
    "cluster.routing.allocation.require._name",
    "cluster.routing.allocation.enable",
    "cluster.routing.rebalance.enable",
];

/// Elasticsearch's default `cluster.max_voting_config_exclusions`.
const MAX_VOTING_EXCLUSIONS: usize = 10;

/// One copy of a shard: (index, shard number, copy; copy 0 is the primary).
pub type CopyKey = (String, u64, u64);

/// One row of the shard table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRow {
    pub index: String,
    pub shard: u64,
    pub primary: bool,
    /// `STARTED`, `RELOCATING`, `UNASSIGNED`.
    pub state: &'static str,
    /// The node holding it (`None`: unassigned).
    pub node: Option<String>,
}

/// The names of the excluded nodes (`cluster.routing.allocation.exclude._name`).
pub fn excluded_names(state: &State) -> BTreeSet<String> {
    let value = state
        .transient_settings
        .get("cluster.routing.allocation.exclude._name")
        .or_else(|| {
            state
                .persistent_settings
                .get("cluster.routing.allocation.exclude._name")
        });
    value
        .and_then(Value::as_str)
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `cluster.routing.allocation.enable` (transient over persistent; default `all`).
pub fn allocation_enable(state: &State) -> String {
    let key = "cluster.routing.allocation.enable";
    state
        .transient_settings
        .get(key)
        .or_else(|| state.persistent_settings.get(key))
        .and_then(Value::as_str)
        .unwrap_or("all")
        .to_ascii_lowercase()
}

/// Brings the table up to date with the nodes, the indices and the filters, then returns
/// it sorted (index, shard, primary first).
pub fn shard_table(state: &mut State) -> Vec<ShardRow> {
    let nodes = state.node_names();
    let excluded = excluded_names(state);
    let held = state.relocation_held;
    // Copies that no longer exist (index deleted, fewer replicas) or whose node left.
    let mut wanted: BTreeMap<CopyKey, ()> = BTreeMap::new();
    for (name, ix) in &state.indices {
        let replicas = ix.number_of_replicas(state.nodes);
        for shard in 0..ix.number_of_shards() {
            for copy in 0..=replicas {
                wanted.insert((name.clone(), shard, copy), ());
            }
        }
    }
    state
        .allocation
        .retain(|key, node| wanted.contains_key(key) && nodes.contains(node));
    // A primary that was lost is replaced by a surviving replica, as Elasticsearch promotes.
    let lost_primaries: Vec<CopyKey> = wanted
        .keys()
        .filter(|k| k.2 == 0 && !state.allocation.contains_key(*k))
        .cloned()
        .collect();
    for primary in lost_primaries {
        let survivor = state
            .allocation
            .keys()
            .find(|k| k.0 == primary.0 && k.1 == primary.1 && k.2 > 0)
            .cloned();
        if let Some(replica) = survivor
            && let Some(node) = state.allocation.remove(&replica)
        {
            state.allocation.insert(primary, node);
        }
    }
    // Copies on excluded nodes move unless relocation is held.
    if !held {
        state.allocation.retain(|_, node| !excluded.contains(node));
    }
    // Place every copy without a node, on the eligible node with the fewest copies —
    // as far as `cluster.routing.allocation.enable` allows: `primaries` places no replica
    // (a replica whose node left stays unassigned: yellow), `none` places nothing.
    let enable = allocation_enable(state);
    for key in wanted.keys() {
        if state.allocation.contains_key(key) {
            continue;
        }
        let allowed = match enable.as_str() {
            "none" => false,
            "primaries" | "new_primaries" => key.2 == 0,
            _ => true,
        };
        if !allowed {
            continue;
        }
        let holding: BTreeSet<&String> = state
            .allocation
            .iter()
            .filter(|(k, _)| k.0 == key.0 && k.1 == key.1)
            .map(|(_, n)| n)
            .collect();
        let load = |n: &String| state.allocation.values().filter(|m| *m == n).count();
        let target = nodes
            .iter()
            .filter(|n| !excluded.contains(*n) && !holding.contains(n))
            .min_by_key(|n| (load(n), (*n).clone()))
            .cloned();
        if let Some(n) = target {
            state.allocation.insert(key.clone(), n);
        }
    }
    wanted
        .keys()
        .map(|key| {
            let node = state.allocation.get(key).cloned();
            let state_name = match &node {
                None => "UNASSIGNED",
                Some(n) if excluded.contains(n) => "RELOCATING",
                Some(_) => "STARTED",
            };
            ShardRow {
                index: key.0.clone(),
                shard: key.1,
                primary: key.2 == 0,
                state: state_name,
                node,
            }
        })
        .collect()
}

/// `GET /_cat/shards[/{index}]`: JSON (`format=json`) or text, columns from `h`.
pub fn cat_shards(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let filter: Option<Vec<String>> = match ctx.param("index") {
        None => None,
        Some(_) => Some(ctx.indices(
            "_all",
            super::ResolveOpts {
                open: true,
                closed: true,
                allow_no_indices: true,
                ignore_unavailable: false,
                aliases: true,
            },
        )?),
    };
    let columns = super::cat::columns(ctx, "index,shard,prirep,state,docs,store,ip,node");
    let rows = shard_table(ctx.state);
    let excluded = excluded_names(ctx.state);
    let nodes = ctx.state.node_names();
    let mut out = Vec::new();
    for r in rows {
        if filter.as_ref().is_some_and(|f| !f.contains(&r.index)) {
            continue;
        }
        let node = match (&r.node, r.state) {
            // As Elasticsearch shows a relocating copy: "source -> ip id target".
            (Some(n), "RELOCATING") => {
                let target = nodes
                    .iter()
                    .find(|m| !excluded.contains(*m) && *m != n)
                    .cloned()
                    .unwrap_or_default();
                Value::String(format!("{n} -> 127.0.0.1 {} {target}", node_id(&target)))
            }
            (Some(n), _) => Value::String(n.clone()),
            (None, _) => Value::Null,
        };
        let mut row = serde_json::Map::new();
        for c in &columns {
            let v = match c.as_str() {
                "index" | "i" | "idx" => json!(r.index),
                "shard" | "s" | "sh" => json!(r.shard.to_string()),
                "prirep" | "p" | "pr" | "primaryOrReplica" => {
                    json!(if r.primary { "p" } else { "r" })
                }
                "state" | "st" => json!(r.state),
                "node" | "n" => node.clone(),
                "ip" => {
                    if r.node.is_some() {
                        json!("127.0.0.1")
                    } else {
                        Value::Null
                    }
                }
                "docs" | "d" | "dc" => json!("0"),
                "store" | "sto" => json!("0b"),
                other => return Err(super::cat::unknown_column(other)),
            };
            row.insert(c.clone(), v);
        }
        out.push(row);
    }
    Ok(super::cat::reply(ctx, &columns, out))
}

/// A stable node id for `name` (the first node keeps the state's own id).
pub fn node_id(name: &str) -> String {
    let mut h: u64 = 1469598103934665603;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(1099511628211);
    }
    format!("{h:022x}").chars().take(22).collect()
}

/// `GET /_cluster/settings`: the persistent and transient settings (nested, or flat with
/// `flat_settings=true`).
pub fn get_settings(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let flat = ctx.q_bool("flat_settings")?;
    let render = |m: &BTreeMap<String, Value>| crate::settings::render_settings(m, flat);
    Ok(Reply::ok(json!({
        "persistent": render(&ctx.state.persistent_settings),
        "transient": render(&ctx.state.transient_settings),
    })))
}

/// `PUT /_cluster/settings`: `persistent` and `transient` settings, nested or flat; `null`
/// removes one. Unknown settings are refused, as Elasticsearch does.
pub fn put_settings(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let body = ctx.body_json()?.clone();
    let Some(obj) = body.as_object() else {
        return Err(EsError::parse("request body must be an object"));
    };
    for key in obj.keys() {
        if key != "persistent" && key != "transient" {
            return Err(EsError::parse(format!(
                "[cluster_update_settings_request] unknown field [{key}]"
            )));
        }
    }
    let mut updates: Vec<(&str, BTreeMap<String, Value>)> = Vec::new();
    for scope in ["persistent", "transient"] {
        let flat = match obj.get(scope) {
            None => BTreeMap::new(),
            Some(v) => crate::settings::flatten_settings(v)?,
        };
        for (key, value) in &flat {
            if !KNOWN_SETTINGS.contains(&key.as_str()) {
                return Err(EsError::illegal_argument(format!(
                    "{scope} setting [{key}], not recognized"
                )));
            }
            if key.ends_with(".enable")
                && let Some(v) = value.as_str()
            {
                // EnableAllocationDecider's Allocation / Rebalance parse (case-insensitive).
                let allowed: &[&str] = if key == "cluster.routing.allocation.enable" {
                    &["all", "primaries", "new_primaries", "none"]
                } else {
                    &["all", "primaries", "replicas", "none"]
                };
                if !allowed.contains(&v.to_ascii_lowercase().as_str()) {
                    let what = key.trim_start_matches("cluster.routing.");
                    return Err(EsError::illegal_argument(format!(
                        "Illegal {what} value [{v}]"
                    )));
                }
            }
        }
        updates.push((scope, flat));
    }
    let mut echoed = json!({"acknowledged": true});
    for (scope, flat) in updates {
        let target = if scope == "persistent" {
            &mut ctx.state.persistent_settings
        } else {
            &mut ctx.state.transient_settings
        };
        let mut changed = BTreeMap::new();
        for (k, v) in flat {
            if v.is_null() {
                target.remove(&k);
            } else {
                target.insert(k.clone(), v.clone());
                changed.insert(k, v);
            }
        }
        echoed[scope] = crate::settings::render_settings(&changed, false);
    }
    Ok(Reply::ok(echoed))
}

/// `POST /_cluster/voting_config_exclusions?node_names=|node_ids=`: a name not in the
/// cluster is excluded with the id `_absent_`, as Elasticsearch does.
pub fn add_voting_exclusions(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let (names, ids) = (ctx.q("node_names"), ctx.q("node_ids"));
    let list = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect()
    };
    let wanted: Vec<(String, String)> = match (names, ids) {
        (Some(n), None) => {
            let present = ctx.state.node_names();
            list(n)
                .into_iter()
                .map(|name| {
                    let id = if present.contains(&name) {
                        ctx.state.node_id_of(&name)
                    } else {
                        "_absent_".to_string()
                    };
                    (id, name)
                })
                .collect()
        }
        (None, Some(i)) => list(i)
            .into_iter()
            .map(|id| {
                let name = ctx
                    .state
                    .node_names()
                    .into_iter()
                    .find(|n| ctx.state.node_id_of(n) == id)
                    .unwrap_or_else(|| "_absent_".to_string());
                (id, name)
            })
            .collect(),
        _ => {
            return Err(EsError::illegal_argument(
                "You must set [node_names] or [node_ids] but not both",
            ));
        }
    };
    let mut next = ctx.state.voting_exclusions.clone();
    for e in wanted {
        if !next.iter().any(|x| x.1 == e.1 && x.0 == e.0) {
            next.push(e);
        }
    }
    if next.len() > MAX_VOTING_EXCLUSIONS {
        return Err(EsError::illegal_argument(format!(
            "add voting config exclusions request for nodes would add [{}] exclusions to the existing [{}] which would exceed the maximum of [{MAX_VOTING_EXCLUSIONS}] set by [cluster.max_voting_config_exclusions]",
            next.len() - ctx.state.voting_exclusions.len(),
            ctx.state.voting_exclusions.len()
        )));
    }
    ctx.state.voting_exclusions = next;
    Ok(Reply::ok(Value::Null))
}

/// `DELETE /_cluster/voting_config_exclusions[?wait_for_removal=false]`: with the default
/// `wait_for_removal=true`, refused while an excluded node is still in the cluster (where
/// Elasticsearch would wait, then time out).
pub fn clear_voting_exclusions(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let wait = match ctx.q("wait_for_removal") {
        None => true,
        Some(_) => ctx.q_bool("wait_for_removal")?,
    };
    let present = ctx.state.node_names();
    let still: Vec<String> = ctx
        .state
        .voting_exclusions
        .iter()
        .filter(|(_, n)| present.contains(n))
        .map(|(_, n)| n.clone())
        .collect();
    if wait && !still.is_empty() {
        return Err(EsError::new(
            500,
            "elasticsearch_timeout_exception",
            format!(
                "timed out waiting for removal of nodes; if nodes should not be removed, set wait_for_removal to false. {still:?}"
            ),
        ));
    }
    ctx.state.voting_exclusions.clear();
    Ok(Reply::ok(Value::Null))
}

/// `GET /_cluster/state/metadata`: the coordination metadata (voting configuration
/// exclusions) and the cluster settings; the rest of the metadata is not modelled.
pub fn state_metadata(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let s = &*ctx.state;
    let exclusions: Vec<Value> = s
        .voting_exclusions
        .iter()
        .map(|(id, name)| json!({"node_id": id, "node_name": name}))
        .collect();
    Ok(Reply::ok(json!({
        "cluster_name": s.cluster_name,
        "cluster_uuid": s.cluster_uuid,
        "metadata": {
            "cluster_uuid": s.cluster_uuid,
            "cluster_coordination": {
                "term": 1,
                "last_committed_config": [],
                "last_accepted_config": [],
                "voting_config_exclusions": exclusions,
            },
            "persistent_settings": crate::settings::render_settings(&s.persistent_settings, false),
            "transient_settings": crate::settings::render_settings(&s.transient_settings, false),
        },
    })))
}
