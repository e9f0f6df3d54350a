//! Safe scale-down of a managed cluster, orchestrated through Elasticsearch.
//!
//! ```text
//! reconcile: spec replicas < live StatefulSet replicas ─► ScalePlan (the leaving nodes)
//!            the StatefulSet keeps its replicas until the last pass said ReadyToLower
//! ES pass:   PUT exclude._name = leaving nodes ─► (passes, requeued) _cat/shards: none
//!            left on them ─► (not there yet) POST voting_config_exclusions ─► ReadyToLower
//! reconcile: the StatefulSet lowered to the spec's replicas
//! ES pass:   (no plan) our names still excluded ─► once they left (_nodes):
//!            DELETE voting_config_exclusions ─► exclude._name back to what it was
//! ```
//!
//! No state is kept that the cluster cannot give back: the plan comes from the
//! StatefulSet, the progress from Elasticsearch's allocation filter and shard table, so a
//! restarted operator resumes where it was. A steady pass reads the allocation filter
//! (one GET) and writes nothing. A scale-down that would leave fewer nodes than the copies
//! of a log shard is refused (the StatefulSet untouched), from the spec at once and from
//! the indices Elasticsearch reports; so is one to a single node of three or more with
//! `antiAffinity: hard`.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::EventType;
use tracing::info;

use super::Context;
use crate::api::AntiAffinity;
use crate::elastic::{EsClient, EsError, nodes};
use crate::naming as names;
use crate::reason::Reason;
use crate::render::Child;
use crate::status::Operation;
use crate::validate::Validated;

/// The field the operation and its refusals name.
const FIELD: &str = "spec.elasticsearch.replicas";

/// A scale-down the spec asks for: from the live StatefulSet's replicas to the spec's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalePlan {
    /// Replicas of the live StatefulSet.
    pub from: i32,
    /// Replicas the spec asks for.
    pub to: i32,
    /// The nodes that leave: `<sts>-<to>` .. `<sts>-<from - 1>`.
    pub leaving: BTreeSet<String>,
}

/// What the Elasticsearch pass is told: the plan, and the replicas the StatefulSet is
/// applied with this pass (the nodes that stay; a held or refused scale-down keeps them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScaleInput {
    /// The scale-down under way, if any.
    pub plan: Option<ScalePlan>,
    /// Replicas of the StatefulSet as applied this pass (`None`: not managed, or no
    /// StatefulSet yet).
    pub replicas: Option<i32>,
}

/// Where a scale-down is, as the last Elasticsearch pass saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScaleState {
    /// Shard copies are still on the leaving nodes.
    Moving {
        /// The plan's (from, to).
        plan: (i32, i32),
        /// Copies on the leaving nodes.
        copies: usize,
        /// The leaving nodes.
        nodes: Vec<String>,
    },
    /// The leaving nodes hold no shard and are out of the voting configuration: the
    /// StatefulSet may go from `.0` to `.1` replicas.
    ReadyToLower(i32, i32),
    /// The StatefulSet was lowered; waiting for these nodes to leave the cluster before
    /// the exclusions are cleared.
    Leaving(Vec<String>),
    /// Refused from what Elasticsearch reports (why, naming the field).
    Refused(String),
    /// A request failed (its category); the next pass retries.
    Failed(Reason),
}

impl ScaleState {
    /// The operation the status shows.
    pub fn operation(&self) -> Operation {
        match self {
            Self::Moving {
                plan: (from, to),
                copies,
                nodes,
            } => Operation::in_progress(
                Reason::ScalingDown,
                format!(
                    "{FIELD} {from} → {to}: moving {copies} shard copies off {}",
                    nodes.join(", ")
                ),
            ),
            Self::ReadyToLower(from, to) => Operation::in_progress(
                Reason::ScalingDown,
                format!(
                    "{FIELD} {from} → {to}: no shard left on the leaving nodes, out of the voting configuration: lowering the StatefulSet to {to}"
                ),
            ),
            Self::Leaving(nodes) => Operation::in_progress(
                Reason::ScalingDown,
                format!(
                    "waiting for {} to leave the cluster, then clearing the allocation and voting exclusions",
                    nodes.join(", ")
                ),
            ),
            Self::Refused(why) => Operation::refused(Reason::ScaleDownRefused, why.clone()),
            Self::Failed(reason) => Operation::in_progress(
                Reason::ScalingDown,
                format!("a scale-down request to Elasticsearch failed ({reason}); retrying"),
            ),
        }
    }
}

/// The reconcile's part: the plan, when the spec asks for fewer nodes than run, and the
/// rendered StatefulSet kept at the live replicas until `known` (the last Elasticsearch
/// pass) says the leaving nodes are empty. A scale-down the spec itself makes unsafe is
/// refused here, without asking Elasticsearch.
pub fn hold(
    ctx: &Context,
    v: &Validated,
    rendered: &mut [Child],
    known: Option<&ScaleState>,
) -> (ScaleInput, Option<Operation>) {
    let (plan, refused) = hold_replicas(ctx, v, rendered, known);
    let replicas = rendered.iter().find_map(|c| match c {
        Child::StatefulSet(s) => s.spec.as_ref().and_then(|s| s.replicas),
        _ => None,
    });
    (ScaleInput { plan, replicas }, refused)
}

fn hold_replicas(
    ctx: &Context,
    v: &Validated,
    rendered: &mut [Child],
    known: Option<&ScaleState>,
) -> (Option<ScalePlan>, Option<Operation>) {
    let Some(m) = v.managed() else {
        return (None, None);
    };
    let Some(desired) = rendered.iter_mut().find_map(|c| match c {
        Child::StatefulSet(s) => Some(s),
        _ => None,
    }) else {
        return (None, None);
    };
    let sts = names::es_statefulset(&v.name);
    let live: Option<StatefulSet> = ctx.caches().stateful_set(&v.namespace, &sts);
    let Some(live) = live.filter(|l| l.metadata.deletion_timestamp.is_none()) else {
        return (None, None);
    };
    let from = live.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let to = m.replicas;
    if to >= from {
        return (None, None);
    }
    let mut keep = |replicas: i32| {
        if let Some(spec) = desired.spec.as_mut() {
            spec.replicas = Some(replicas);
        }
    };
    let copies = v.index().replicas + 1;
    if to < copies {
        keep(from);
        let why = format!(
            "{FIELD} {from} → {to} refused: the log indices keep {copies} copies of each shard (spec.index.replicas {} + 1), which need at least {copies} nodes; lower spec.index.replicas first. The StatefulSet keeps {from} replicas",
            v.index().replicas
        );
        return (
            None,
            Some(Operation::refused(Reason::ScaleDownRefused, why)),
        );
    }
    // `hard` asks for a cluster that outlives the loss of a Kubernetes node; one node left
    // of three or more outlives nothing, and losing two of three voters at once is what
    // the spreading was for.
    if to == 1 && from >= 3 && m.anti_affinity == AntiAffinity::Hard {
        keep(from);
        let why = format!(
            "{FIELD} {from} → {to} refused: spec.elasticsearch.antiAffinity is hard (spread over Kubernetes nodes so that the cluster survives losing one), and a single node survives nothing; set antiAffinity to soft first, or keep at least 2 nodes. The StatefulSet keeps {from} replicas"
        );
        return (
            None,
            Some(Operation::refused(Reason::ScaleDownRefused, why)),
        );
    }
    if known != Some(&ScaleState::ReadyToLower(from, to)) {
        keep(from);
    }
    let plan = ScalePlan {
        from,
        to,
        leaving: (to..from).map(|i| names::es_pod(&v.name, i)).collect(),
    };
    (Some(plan), None)
}

/// The Elasticsearch pass's part: one step of the plan, or the clean-up after one.
/// `None`: nothing to do (the steady state: one GET, no write). `settings`: this pass's
/// read of the cluster settings, when it made one (shared with the rolling restart).
pub async fn step(
    ctx: &Context,
    reference: &ObjectReference,
    client: &EsClient,
    v: &Validated,
    input: &ScaleInput,
    settings: Option<&serde_json::Value>,
) -> Option<ScaleState> {
    let result = match &input.plan {
        Some(plan) => advance(ctx, reference, client, v, plan, settings)
            .await
            .map(Some),
        None => clean_up(ctx, reference, client, v, input.replicas, settings).await,
    };
    result.unwrap_or_else(|e| Some(ScaleState::Failed(e.category())))
}

/// The allocation filter: from this pass's settings when read, else read now.
async fn excluded(
    client: &EsClient,
    settings: Option<&serde_json::Value>,
) -> Result<BTreeSet<String>, EsError> {
    match settings {
        Some(s) => Ok(nodes::excluded_in(s)),
        None => nodes::excluded(client).await,
    }
}

/// The ordinal of `node` when it is one of this resource's nodes.
fn ordinal(v: &Validated, node: &str) -> Option<i32> {
    let prefix = format!("{}-", names::es_statefulset(&v.name));
    let rest = node.strip_prefix(&prefix)?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

async fn advance(
    ctx: &Context,
    reference: &ObjectReference,
    client: &EsClient,
    v: &Validated,
    plan: &ScalePlan,
    settings: Option<&serde_json::Value>,
) -> Result<ScaleState, EsError> {
    let (from, to) = (plan.from, plan.to);
    let excluded = excluded(client, settings).await?;
    let shards = nodes::shards(client).await?;
    let copies = nodes::most_copies(&shards, &format!("{}-", v.index().name));
    if (to as usize) < copies {
        return Ok(ScaleState::Refused(format!(
            "{FIELD} {from} → {to} refused: a log index of {} keeps {copies} copies of a shard, which need at least {copies} nodes; lower the indices' replicas first. The StatefulSet keeps {from} replicas",
            v.index().name
        )));
    }
    // Other exclusions (someone else's, or ours for nodes that stay) are kept as they are,
    // ours are replaced by the leaving nodes.
    let others = excluded.iter().filter(|n| ordinal(v, n).is_none()).cloned();
    let want: BTreeSet<String> = others.chain(plan.leaving.iter().cloned()).collect();
    let leaving: Vec<String> = plan.leaving.iter().cloned().collect();
    if excluded != want {
        nodes::set_excluded(client, &want).await?;
        let note = format!(
            "{FIELD} {from} → {to}: excluding {} from shard allocation; their shards move to the other nodes first",
            leaving.join(", ")
        );
        info!(nodes = ?leaving, "scale-down: excluding nodes from allocation");
        ctx.publish(reference, EventType::Normal, Reason::ScalingDown, note)
            .await;
    }
    let on_leaving = nodes::copies_on(&shards, &plan.leaving);
    if on_leaving > 0 || excluded != want {
        return Ok(ScaleState::Moving {
            plan: (from, to),
            copies: on_leaving,
            nodes: leaving,
        });
    }
    // Every node is master-eligible: the leaving ones go out of the voting configuration
    // before they stop, so a majority of voters never leaves at once.
    // (Read first: a second pass before the StatefulSet is lowered sends nothing.)
    let voting = nodes::voting_exclusions(client).await?;
    if !plan.leaving.is_subset(&voting) {
        nodes::exclude_from_voting(client, &plan.leaving).await?;
        let note = format!(
            "{FIELD} {from} → {to}: no shard left on {}; excluded from the voting configuration; lowering the StatefulSet",
            leaving.join(", ")
        );
        ctx.publish(reference, EventType::Normal, Reason::ScalingDown, note)
            .await;
    }
    Ok(ScaleState::ReadyToLower(from, to))
}

async fn clean_up(
    ctx: &Context,
    reference: &ObjectReference,
    client: &EsClient,
    v: &Validated,
    replicas: Option<i32>,
    settings: Option<&serde_json::Value>,
) -> Result<Option<ScaleState>, EsError> {
    let excluded = excluded(client, settings).await?;
    let ours: Vec<&String> = excluded
        .iter()
        .filter(|n| ordinal(v, n).is_some())
        .collect();
    if ours.is_empty() {
        return Ok(None);
    }
    // The nodes that stay are those the StatefulSet keeps (more than the spec's while a
    // scale-down is refused).
    let wanted = replicas
        .or_else(|| v.managed().map(|m| m.replicas))
        .unwrap_or(0);
    let present = nodes::node_names(client).await?;
    let waiting: Vec<String> = ours
        .iter()
        .filter(|n| ordinal(v, n).is_some_and(|o| o >= wanted) && present.contains(**n))
        .map(|n| (*n).clone())
        .collect();
    if !waiting.is_empty() {
        return Ok(Some(ScaleState::Leaving(waiting)));
    }
    // The voting exclusions first: the allocation filter, cleared last, marks an
    // unfinished clean-up for the next pass.
    nodes::clear_voting_exclusions(client).await?;
    let others: BTreeSet<String> = excluded
        .iter()
        .filter(|n| ordinal(v, n).is_none())
        .cloned()
        .collect();
    nodes::set_excluded(client, &others).await?;
    let gone: Vec<String> = ours.iter().map(|n| (*n).clone()).collect();
    let note = format!(
        "scale-down finished: {} no longer excluded (the leaving nodes left the cluster); allocation and voting exclusions cleared",
        gone.join(", ")
    );
    info!(nodes = ?gone, "scale-down finished");
    ctx.publish(reference, EventType::Normal, Reason::ScaledDown, note)
        .await;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_names_the_field_the_nodes_and_the_copies() {
        let moving = ScaleState::Moving {
            plan: (5, 3),
            copies: 4,
            nodes: vec!["logs-es-3".into(), "logs-es-4".into()],
        };
        let op = moving.operation();
        assert_eq!(op.reason, Reason::ScalingDown);
        assert!(!op.refused);
        assert_eq!(
            op.message,
            "spec.elasticsearch.replicas 5 → 3: moving 4 shard copies off logs-es-3, logs-es-4"
        );
        let refused = ScaleState::Refused("spec.elasticsearch.replicas 3 → 1 refused".into());
        let op = refused.operation();
        assert!(op.refused);
        assert_eq!(op.reason, Reason::ScaleDownRefused);
        let failed = ScaleState::Failed(Reason::ElasticsearchUnreachable).operation();
        assert!(
            failed.message.contains("ElasticsearchUnreachable"),
            "{}",
            failed.message
        );
    }
}
