//! `GET /` (version info), `GET /_cluster/health` (computed from the indices'
//! shards and the node count, or forced by the test) and `GET /_capabilities`.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{Ctx, Reply, ResolveOpts, resolve_indices};
use crate::Health;
use crate::error::{EsError, EsResult};
use crate::state::{Index, State};
use crate::version;

pub fn info(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    if ctx.method == super::Method::Head {
        return Ok(Reply::empty(200));
    }
    let s = &*ctx.state;
    let v = s.version.as_str();
    Ok(Reply::ok(json!({
        "name": s.node_name,
        "cluster_name": s.cluster_name,
        "cluster_uuid": s.cluster_uuid,
        "version": {
            "number": v,
            "build_flavor": "default",
            "build_type": "docker",
            "build_hash": "0000000000000000000000000000000000e5517e",
            "build_date": "2024-10-09T22:08:00.328917561Z",
            "build_snapshot": false,
            "lucene_version": version::lucene_version(v),
            "minimum_wire_compatibility_version": version::minimum_wire_compatibility_version(v),
            "minimum_index_compatibility_version": version::minimum_index_compatibility_version(v),
        },
        "tagline": "You Know, for Search"
    })))
}

/// `GET /_nodes[/{node_id}]`: the simulated nodes (`_all`, `*`, ids or names; `_local`
/// and `_master` are the first node).
pub fn nodes_info(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let s = &*ctx.state;
    let master = s.master_node();
    let mut nodes = serde_json::Map::new();
    for (i, name) in s.node_names().iter().enumerate() {
        let id = s.node_id_of(name);
        let selected = match ctx.param("node_id") {
            None => true,
            Some(ids) => ids.split(',').any(|sel| {
                matches!(sel, "_all" | "*")
                    || (i == 0 && sel == "_local")
                    || (sel == "_master" && *name == master)
                    || sel == id
                    || sel == name
            }),
        };
        if selected {
            nodes.insert(
                id,
                json!({
                    "name": name,
                    "transport_address": "127.0.0.1:9300",
                    "host": "127.0.0.1",
                    "ip": "127.0.0.1",
                    "version": s.node_version(name),
                    "roles": ["data", "ingest", "master"],
                }),
            );
        }
    }
    let n = nodes.len();
    Ok(Reply::ok(json!({
        "_nodes": {"total": n, "successful": n, "failed": 0},
        "cluster_name": s.cluster_name,
        "nodes": nodes,
    })))
}

pub const HEALTH_PARAMS: &[&str] = &[
    "expand_wildcards",
    "level",
    "local",
    "master_timeout",
    "timeout",
    "wait_for_active_shards",
    "wait_for_nodes",
    "wait_for_events",
    "wait_for_no_relocating_shards",
    "wait_for_no_initializing_shards",
    "wait_for_status",
    "return_200_for_cluster_health_timeout",
];

/// Shard counts of one index on a cluster of `nodes` nodes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShardCounts {
    pub shards: u64,
    pub replicas: u64,
    pub active_primary: u64,
    pub active: u64,
    pub unassigned: u64,
}

pub fn shard_counts(ix: &Index, nodes: u32) -> ShardCounts {
    let shards = ix.number_of_shards();
    let replicas = ix.number_of_replicas(nodes);
    let assignable = replicas.min(u64::from(nodes.saturating_sub(1)));
    ShardCounts {
        shards,
        replicas,
        active_primary: shards,
        active: shards * (1 + assignable),
        unassigned: shards * (replicas - assignable),
    }
}

fn colour(c: &ShardCounts) -> Health {
    if c.active_primary < c.shards {
        Health::Red
    } else if c.unassigned > 0 {
        Health::Yellow
    } else {
        Health::Green
    }
}

/// The computed (or forced) colour of the whole cluster.
pub fn cluster_colour(state: &State) -> Health {
    if let Some(h) = state.health_override {
        return h;
    }
    state
        .indices
        .values()
        .map(|ix| colour(&shard_counts(ix, state.nodes)))
        .max()
        .unwrap_or(Health::Green)
}

fn rank(h: Health) -> u8 {
    match h {
        Health::Green => 0,
        Health::Yellow => 1,
        Health::Red => 2,
    }
}

pub fn health(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    // Where a test named the nodes (they come and go), the shard table says which copies
    // are unassigned (a node away, `cluster.routing.allocation.enable: primaries`).
    let table = ctx
        .state
        .member_names
        .is_some()
        .then(|| super::allocation::shard_table(ctx.state));
    let state = &*ctx.state;
    let level = ctx.q("level").unwrap_or("cluster");
    if !matches!(level, "cluster" | "indices" | "shards") {
        return Err(EsError::illegal_argument(format!(
            "[level] must be one of [cluster, indices, shards], but was [{level}]"
        )));
    }
    let timeout_ms = match ctx.q("timeout") {
        Some(t) => crate::util::parse_time_value(t).ok_or_else(|| {
            EsError::new(
                400,
                "parse_exception",
                format!("failed to parse setting [timeout] with value [{t}] as a time value: unit is missing or unrecognized"),
            )
        })?,
        None => 30_000,
    };
    let opts = ResolveOpts {
        open: true,
        closed: true,
        allow_no_indices: true,
        ignore_unavailable: false,
        aliases: true,
    }
    .from_query(ctx)?;
    let mut missing_index = false;
    let names: Vec<String> = match ctx.param("index") {
        None => state.indices.keys().cloned().collect(),
        Some(expr) => match resolve_indices(state, expr, opts) {
            Ok(v) => v,
            Err(e) if e.status == 404 => {
                missing_index = true;
                Vec::new()
            }
            Err(e) => return Err(e),
        },
    };
    let mut totals = ShardCounts::default();
    let mut worst = Health::Green;
    let mut per_index = Map::new();
    for n in &names {
        let Some(ix) = state.indices.get(n) else {
            continue;
        };
        let mut c = shard_counts(ix, state.nodes);
        if let Some(table) = &table {
            let rows = table.iter().filter(|r| &r.index == n);
            let (mut copies, mut unassigned, mut primaries) = (0, 0, 0);
            for r in rows {
                copies += 1;
                if r.node.is_none() {
                    unassigned += 1;
                } else if r.primary {
                    primaries += 1;
                }
            }
            c.active_primary = primaries;
            c.active = copies - unassigned;
            c.unassigned = unassigned;
        }
        let col = colour(&c);
        worst = worst.max(col);
        totals.shards += c.shards;
        totals.active_primary += c.active_primary;
        totals.active += c.active;
        totals.unassigned += c.unassigned;
        if level != "cluster" {
            let mut entry = json!({
                "status": col.as_str(),
                "number_of_shards": c.shards,
                "number_of_replicas": c.replicas,
                "active_primary_shards": c.active_primary,
                "active_shards": c.active,
                "relocating_shards": 0,
                "initializing_shards": 0,
                "unassigned_shards": c.unassigned,
                "unassigned_primary_shards": 0,
            });
            if level == "shards" {
                let mut shards = Map::new();
                for i in 0..c.shards {
                    let un = c.unassigned / c.shards.max(1);
                    shards.insert(
                        i.to_string(),
                        json!({
                            "status": col.as_str(),
                            "primary_active": true,
                            "active_shards": c.active / c.shards.max(1),
                            "relocating_shards": 0,
                            "initializing_shards": 0,
                            "unassigned_shards": un,
                            "unassigned_primary_shards": 0,
                        }),
                    );
                }
                entry["shards"] = Value::Object(shards);
            }
            per_index.insert(n.clone(), entry);
        }
    }
    if let Some(h) = state.health_override {
        worst = h;
    }
    if missing_index {
        worst = Health::Red;
    }
    // conditions to wait for
    let mut met = !missing_index;
    if let Some(ws) = ctx.q("wait_for_status") {
        let want = Health::parse(ws).ok_or_else(|| {
            EsError::illegal_argument(format!("unknown cluster health status [{ws}]"))
        })?;
        met &= rank(worst) <= rank(want);
    }
    if let Some(wn) = ctx.q("wait_for_nodes") {
        met &= nodes_condition(wn, state.nodes)?;
    }
    if let Some(was) = ctx.q("wait_for_active_shards") {
        let want = match was {
            "all" => totals.active + totals.unassigned,
            n => n.parse::<u64>().map_err(|_| {
                EsError::illegal_argument(format!("failed to parse [{n}] as active shard count"))
            })?,
        };
        met &= totals.active >= want;
    }
    if !met && !ctx.final_attempt && timeout_ms > 0 {
        let mut r = Reply::ok(Value::Null);
        r.retry_within = Some(Duration::from_millis(timeout_ms as u64));
        return Ok(r);
    }
    let timed_out = !met;
    let total = totals.active + totals.unassigned;
    let pct = if total == 0 {
        100.0
    } else {
        totals.active as f64 * 100.0 / total as f64
    };
    let mut body = json!({
        "cluster_name": state.cluster_name,
        "status": worst.as_str(),
        "timed_out": timed_out,
        "number_of_nodes": state.nodes,
        "number_of_data_nodes": state.nodes,
        "active_primary_shards": totals.active_primary,
        "active_shards": totals.active,
        "relocating_shards": 0,
        "initializing_shards": 0,
        "unassigned_shards": totals.unassigned,
    });
    if crate::version::has_capability_named(&state.version, "unassigned_pri_shard_count") {
        body["unassigned_primary_shards"] = json!(0);
    }
    for (k, v) in [
        ("delayed_unassigned_shards", json!(0)),
        ("number_of_pending_tasks", json!(0)),
        ("number_of_in_flight_fetch", json!(0)),
        ("task_max_waiting_in_queue_millis", json!(0)),
        ("active_shards_percent_as_number", json!(pct)),
    ] {
        body[k] = v;
    }
    if level != "cluster" {
        body["indices"] = Value::Object(per_index);
    }
    // since 8.0 a timed-out health request still answers 200
    let status = if timed_out && !state.version_at_least("8.0.0") {
        408
    } else {
        200
    };
    Ok(Reply::with_status(status, body))
}

fn nodes_condition(spec: &str, nodes: u32) -> EsResult<bool> {
    let spec = spec.trim();
    let (op, num) = if let Some(n) = spec.strip_prefix(">=") {
        (">=", n)
    } else if let Some(n) = spec.strip_prefix("<=") {
        ("<=", n)
    } else if let Some(n) = spec.strip_prefix("ge(").and_then(|n| n.strip_suffix(')')) {
        (">=", n)
    } else if let Some(n) = spec.strip_prefix("le(").and_then(|n| n.strip_suffix(')')) {
        ("<=", n)
    } else if let Some(n) = spec.strip_prefix("gt(").and_then(|n| n.strip_suffix(')')) {
        (">", n)
    } else if let Some(n) = spec.strip_prefix("lt(").and_then(|n| n.strip_suffix(')')) {
        ("<", n)
    } else if let Some(n) = spec.strip_prefix('>') {
        (">", n)
    } else if let Some(n) = spec.strip_prefix('<') {
        ("<", n)
    } else {
        ("==", spec)
    };
    let n: u32 = num.trim().parse().map_err(|_| {
        EsError::illegal_argument(format!("failed to parse [wait_for_nodes] value [{spec}]"))
    })?;
    Ok(match op {
        ">=" => nodes >= n,
        "<=" => nodes <= n,
        ">" => nodes > n,
        "<" => nodes < n,
        _ => nodes == n,
    })
}

pub fn capabilities(ctx: &mut Ctx<'_>) -> EsResult<Reply> {
    let method = ctx.q("method").unwrap_or("GET");
    let path = ctx
        .q("path")
        .ok_or_else(|| EsError::validation(&["path is required".to_string()]))?;
    let caps: Vec<&str> = ctx
        .q("capabilities")
        .map(|c| c.split(',').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let supported = crate::version::supports(&ctx.state.version, method, path, &caps);
    Ok(Reply::ok(json!({ "supported": supported })))
}
