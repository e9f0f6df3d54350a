//! Rolling restarts and upgrades of a managed cluster, driven by the operator.
//!
//! ```text
//! reconcile: StatefulSet (OnDelete) updatedReplicas/readyReplicas < replicas
//!            ─► LIST its pods ─► RollPlan (each pod: revision, Ready, version)
//! ES pass:   allocation.enable = primaries (left by a restart)?
//!              a pod's node not back (or not at its version) ─► wait
//!              all back ─► PUT allocation.enable = null ─► (passes) wait for green
//!            else: outdated pods, every node in, green ─► next pod (non-master-eligible
//!              first, the elected master last): PUT primaries ─► POST _flush ─► delete pod
//! ```
//!
//! Nothing is kept in memory that the cluster cannot give back: which pods are outdated
//! comes from their `controller-revision-hash` against the StatefulSet's update
//! revision; whether a node is away from `_cat/nodes`; whether a restart is under way from
//! the allocation setting it left. A restarted operator resumes from there and restarts
//! no pod twice (a recreated pod is at the update revision). A steady cluster costs no
//! request more: the StatefulSet's status says there is nothing to do, and the allocation
//! setting comes from the settings read the scale-down makes anyway.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::api::{Api, DeleteParams, ListParams, Preconditions};
use kube::runtime::events::EventType;
use serde_json::Value;
use tracing::{info, warn};

use super::Context;
use crate::elastic::restart::{self, NodeRow, PRIMARIES};
use crate::elastic::{EsClient, EsError};
use crate::naming as names;
use crate::reason::Reason;
use crate::status::Operation;
use crate::validate::Validated;

/// The label the StatefulSet controller gives each pod: the revision it was made from.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// A pod of the managed StatefulSet, as the plan needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollPod {
    /// The pod's name (= its Elasticsearch node's name).
    pub name: String,
    /// Its uid (the delete is conditional on it: never a pod recreated meanwhile).
    pub uid: String,
    /// Its ordinal in the StatefulSet.
    pub ordinal: i32,
    /// Made from the StatefulSet's update revision.
    pub updated: bool,
    /// Ready (and not being deleted).
    pub ready: bool,
    /// The version of its Elasticsearch image (the tag).
    pub version: Option<String>,
}

/// What Kubernetes says of the managed StatefulSet's pods.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RollPlan {
    /// Not managed, no StatefulSet yet, or the StatefulSet controller has not seen its
    /// template yet: nothing is decided this pass.
    #[default]
    Unknown,
    /// Every pod is at the update revision and Ready (from the StatefulSet's status; no
    /// pod was read): `replicas` nodes.
    Steady {
        /// The StatefulSet's replicas.
        replicas: i32,
    },
    /// Some pod is outdated or not Ready: the pods, read.
    Rolling {
        /// Every pod of the StatefulSet.
        pods: Vec<RollPod>,
        /// The StatefulSet's replicas.
        replicas: i32,
    },
}

/// Where a rolling restart is, as the last Elasticsearch pass saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollState {
    /// The versions (from, to) when they differ: an upgrade; else a restart.
    pub versions: Option<(String, String)>,
    /// What it does now.
    pub step: RollStep,
}

/// A step of a rolling restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RollStep {
    /// Waiting for health green (or for the nodes to be all in) before the next restart.
    WaitingForGreen {
        /// Pods restarted so far, of all.
        done: usize,
        /// The StatefulSet's pods.
        total: usize,
    },
    /// The pod was deleted (allocation `primaries`, flushed): waiting for its node to be
    /// back in the cluster (at its new version).
    Restarting {
        /// Its place in the order (1-based).
        index: usize,
        /// The StatefulSet's pods.
        total: usize,
        /// The pod (= node).
        node: String,
    },
    /// The node is back: allocation restored, replicas recovering.
    Recovering {
        /// Its place in the order (1-based).
        index: usize,
        /// The StatefulSet's pods.
        total: usize,
        /// The pod (= node).
        node: String,
    },
    /// A request failed (its category); the next pass retries.
    Failed(Reason),
    /// The API server refused to delete the pod: allocation restored; the next pass retries.
    DeleteRefused {
        /// The pod (= node).
        node: String,
    },
}

impl RollState {
    /// A request failed (its category): retried by the next pass.
    pub fn failed(reason: Reason) -> Self {
        Self {
            versions: None,
            step: RollStep::Failed(reason),
        }
    }

    /// The operation the status shows.
    pub fn operation(&self) -> Operation {
        let (reason, what) = match &self.versions {
            Some((from, to)) => (Reason::Upgrading, format!("Upgrading {from} → {to}")),
            None => (Reason::Restarting, "Restarting".to_string()),
        };
        let (step, message) = match &self.step {
            RollStep::WaitingForGreen { done, total } => (
                format!("WaitingForGreen {done}/{total}"),
                format!("{what}: {done}/{total} nodes restarted, waiting for health green"),
            ),
            RollStep::Restarting { index, total, node } => (
                format!("RestartingNode {node}"),
                format!("{what}: node {index}/{total} restarting ({node})"),
            ),
            RollStep::Recovering { index, total, node } => (
                format!("Recovering {node}"),
                format!(
                    "{what}: node {index}/{total} back ({node}), shard allocation restored, waiting for green"
                ),
            ),
            RollStep::DeleteRefused { node } => (
                format!("DeleteRefused {node}"),
                format!(
                    "{what}: the API server refused to delete pod {node} (see the operator's log); shard allocation restored; retrying"
                ),
            ),
            RollStep::Failed(r) => (
                format!("Failed {r}"),
                format!("{what}: a request to Elasticsearch failed ({r}); retrying"),
            ),
        };
        let mut op = Operation::in_progress(reason, message);
        op.step = Some(step);
        op
    }
}

/// The reconcile's part: the plan from the live StatefulSet (cache) and, only when its
/// status says some pod is outdated or not Ready, its pods (one LIST).
pub async fn plan(ctx: &Context, v: &Validated) -> RollPlan {
    if v.managed().is_none() {
        return RollPlan::Unknown;
    }
    let sts_name = names::es_statefulset(&v.name);
    let live: Option<StatefulSet> = ctx.caches().stateful_set(&v.namespace, &sts_name);
    let Some(sts) = live.filter(|s| s.metadata.deletion_timestamp.is_none()) else {
        return RollPlan::Unknown;
    };
    let replicas = sts.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let Some(status) = sts.status.as_ref() else {
        return RollPlan::Unknown;
    };
    let seen = status.observed_generation.unwrap_or(0) >= sts.metadata.generation.unwrap_or(0);
    let Some(update_revision) = status.update_revision.clone().filter(|_| seen) else {
        return RollPlan::Unknown;
    };
    let updated = status.updated_replicas.unwrap_or(0);
    let ready = status.ready_replicas.unwrap_or(0);
    if updated >= replicas && ready >= replicas && status.replicas >= replicas {
        return RollPlan::Steady { replicas };
    }
    let selector = sts
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.as_ref())
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    if selector.is_empty() {
        return RollPlan::Unknown;
    }
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &v.namespace);
    let Ok(list) = api.list(&ListParams::default().labels(&selector)).await else {
        return RollPlan::Unknown;
    };
    let prefix = format!("{sts_name}-");
    let mut pods: Vec<RollPod> = list
        .items
        .iter()
        .filter_map(|p| {
            let name = p.metadata.name.clone()?;
            let ordinal = name.strip_prefix(&prefix)?.parse().ok()?;
            Some(RollPod {
                uid: p.metadata.uid.clone().unwrap_or_default(),
                ordinal,
                updated: p
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(REVISION_LABEL))
                    == Some(&update_revision),
                ready: p.metadata.deletion_timestamp.is_none() && pod_ready(p),
                version: pod_version(p),
                name,
            })
        })
        .collect();
    pods.sort_by_key(|p| p.ordinal);
    RollPlan::Rolling { pods, replicas }
}

fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The tag of the pod's Elasticsearch image.
fn pod_version(p: &Pod) -> Option<String> {
    let spec = p.spec.as_ref()?;
    let image = spec
        .containers
        .iter()
        .find(|c| c.name == "elasticsearch")?
        .image
        .as_deref()?;
    let tag = image.rsplit_once(':')?.1;
    (!tag.contains('/')).then(|| tag.to_string())
}

/// What the Elasticsearch pass gives the step.
pub struct StepInput<'a> {
    /// The reconcile's plan.
    pub plan: &'a RollPlan,
    /// This pass's cluster settings (flat).
    pub settings: &'a Value,
    /// This pass's health colour.
    pub health: &'a str,
    /// The (from, to) the last pass showed, for the message once the cluster no longer
    /// shows the old version (its last old node away). Display only.
    pub last_versions: Option<&'a (String, String)>,
}

/// The Elasticsearch pass's part: one step. `None`: nothing under way (the steady state:
/// no request).
pub async fn step(
    ctx: &Context,
    reference: &ObjectReference,
    client: &EsClient,
    v: &Validated,
    input: StepInput<'_>,
) -> Option<RollState> {
    let StepInput {
        plan,
        settings,
        health,
        last_versions,
    } = input;
    let enable = restart::allocation_enable(settings);
    let result = match plan {
        RollPlan::Unknown => return None,
        RollPlan::Steady { replicas } => {
            if enable.as_deref() != Some(PRIMARIES) {
                return None;
            }
            // The last node restarted and is Ready: allocation back once it is in.
            let pods: Vec<RollPod> = (0..*replicas)
                .map(|i| RollPod {
                    name: names::es_pod(&v.name, i),
                    uid: String::new(),
                    ordinal: i,
                    updated: true,
                    ready: true,
                    version: None,
                })
                .collect();
            advance(
                ctx,
                reference,
                client,
                v,
                &pods,
                (true, health),
                last_versions,
            )
            .await
        }
        RollPlan::Rolling { pods, .. } => {
            let primaries = enable.as_deref() == Some(PRIMARIES);
            advance(
                ctx,
                reference,
                client,
                v,
                pods,
                (primaries, health),
                last_versions,
            )
            .await
        }
    };
    match result {
        Ok(state) => state,
        Err(e) => Some(RollState::failed(e.category())),
    }
}

/// The versions of an upgrade: the old one (an outdated pod's image, else a node's that
/// differs from the spec's) and the spec's.
fn versions(v: &Validated, pods: &[RollPod], nodes: &[NodeRow]) -> Option<(String, String)> {
    let to = v.version.to_string();
    let from = pods
        .iter()
        .filter(|p| !p.updated)
        .filter_map(|p| p.version.clone())
        .chain(nodes.iter().map(|n| n.version.clone()))
        .find(|x| *x != to)?;
    Some((from, to))
}

/// The pod to restart next: nodes that are not master-eligible first, then master-eligible
/// ones from the highest ordinal, the elected master very last (a node not in `nodes`
/// counts as master-eligible).
pub fn next_pod<'a>(outdated: &[&'a RollPod], nodes: &[NodeRow]) -> Option<&'a RollPod> {
    let rank = |p: &&&RollPod| {
        let n = nodes.iter().find(|n| n.name == p.name);
        let elected = n.is_some_and(|n| n.elected);
        let eligible = n.is_none_or(|n| n.master_eligible);
        (elected, eligible, -p.ordinal)
    };
    outdated.iter().min_by_key(rank).copied()
}

async fn advance(
    ctx: &Context,
    reference: &ObjectReference,
    client: &EsClient,
    v: &Validated,
    pods: &[RollPod],
    (primaries, health): (bool, &str),
    last_versions: Option<&(String, String)>,
) -> Result<Option<RollState>, EsError> {
    let outdated: Vec<&RollPod> = pods.iter().filter(|p| !p.updated).collect();
    if outdated.is_empty() && !primaries {
        // Pods starting for the first time, or a restart that is over (allocation
        // restored: the replicas recover on their own).
        return Ok(None);
    }
    let nodes = restart::cat_nodes(client).await?;
    let target = v.version.to_string();
    let versions = versions(v, pods, &nodes)
        .or_else(|| last_versions.filter(|(_, to)| *to == target).cloned());
    let in_cluster: BTreeMap<&str, &NodeRow> = nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    // A pod whose node is not (yet) in the cluster, or not at its new version.
    let away: Vec<&RollPod> = pods
        .iter()
        .filter(|p| {
            !p.ready
                || in_cluster
                    .get(p.name.as_str())
                    .is_none_or(|n| p.updated && versions.is_some() && n.version != target)
        })
        .collect();
    let total = pods.len();
    let done = total - outdated.len();
    let state = |step| {
        Some(RollState {
            versions: versions.clone(),
            step,
        })
    };
    if primaries {
        if let Some(p) = away.first() {
            return Ok(state(RollStep::Restarting {
                index: done.max(1),
                total,
                node: p.name.clone(),
            }));
        }
        // Every node is back: replicas may be allocated again.
        restart::restore_allocation(client).await?;
        let node = pods
            .iter()
            .filter(|p| p.updated)
            .map(|p| p.name.clone())
            .next_back()
            .unwrap_or_default();
        let what = versions
            .as_ref()
            .map(|(_, to)| format!(" at {to}"))
            .unwrap_or_default();
        let note = if done == 0 {
            "no node away (a restart was interrupted before its pod was deleted); shard allocation restored (cluster.routing.allocation.enable: null)".to_string()
        } else if outdated.is_empty() {
            format!(
                "all {total} nodes restarted{what}; shard allocation restored (cluster.routing.allocation.enable: null)"
            )
        } else {
            format!(
                "node {done}/{total} back in the cluster{what}; shard allocation restored (cluster.routing.allocation.enable: null)"
            )
        };
        info!(done, total, "rolling restart: allocation restored");
        ctx.publish(reference, EventType::Normal, Reason::NodeRestarted, note)
            .await;
        return Ok(state(RollStep::Recovering {
            index: done,
            total,
            node,
        }));
    }
    let allowed = match health {
        "green" => true,
        "yellow" => restart::yellow_allows_restart(client, nodes.len()).await?,
        _ => false,
    };
    if !away.is_empty() || !allowed {
        return Ok(state(RollStep::WaitingForGreen { done, total }));
    }
    let Some(next) = next_pod(&outdated, &nodes) else {
        return Ok(None);
    };
    restart::allocate_primaries_only(client).await?;
    restart::flush(client).await?;
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &v.namespace);
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(next.uid.clone()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&next.name, &params).await {
        Ok(_) => {}
        // Gone or replaced meanwhile (404, or 409: the uid precondition): the next pass
        // sees it as it is.
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {
            info!(pod = %next.name, code = e.code, "rolling restart: pod already gone or replaced");
        }
        Err(e) => {
            // Refused (RBAC, admission): no node is away, so allocation goes back at once
            // rather than waiting for a restart that is not happening.
            warn!(pod = %next.name, error = %e, "rolling restart: pod deletion refused");
            restart::restore_allocation(client).await?;
            return Ok(state(RollStep::DeleteRefused {
                node: next.name.clone(),
            }));
        }
    }
    let index = done + 1;
    let what = match &versions {
        Some((from, to)) => format!("Upgrading {from} → {to}"),
        None => "Restarting".to_string(),
    };
    let note = format!(
        "{what}: restarting node {index}/{total} ({}): shard allocation set to primaries, flushed, pod deleted",
        next.name
    );
    info!(pod = %next.name, index, total, "rolling restart: restarting node");
    ctx.publish(reference, EventType::Normal, Reason::RestartingNode, note)
        .await;
    Ok(state(RollStep::Restarting {
        index,
        total,
        node: next.name.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ordinal: i32) -> RollPod {
        RollPod {
            name: format!("logs-es-{ordinal}"),
            uid: String::new(),
            ordinal,
            updated: false,
            ready: true,
            version: Some("8.15.3".into()),
        }
    }

    fn node(ordinal: i32, master_eligible: bool, elected: bool) -> NodeRow {
        NodeRow {
            name: format!("logs-es-{ordinal}"),
            version: "8.15.3".into(),
            master_eligible,
            elected,
        }
    }

    #[test]
    fn data_only_nodes_first_then_the_highest_ordinal_and_the_elected_master_last() {
        let pods: Vec<RollPod> = (0..4).map(pod).collect();
        let mut outdated: Vec<&RollPod> = pods.iter().collect();
        let nodes = vec![
            node(0, true, false),
            node(1, true, true),
            node(2, false, false),
            node(3, true, false),
        ];
        let mut order = Vec::new();
        while let Some(next) = next_pod(&outdated, &nodes) {
            order.push(next.name.clone());
            outdated.retain(|p| p.name != next.name);
        }
        assert_eq!(order, ["logs-es-2", "logs-es-3", "logs-es-0", "logs-es-1"]);
    }

    #[test]
    fn the_status_says_upgrade_node_and_step() {
        let s = RollState {
            versions: Some(("8.15.3".into(), "8.16.1".into())),
            step: RollStep::Restarting {
                index: 2,
                total: 3,
                node: "mesh-es-1".into(),
            },
        };
        let op = s.operation();
        assert_eq!(op.reason, Reason::Upgrading);
        assert_eq!(
            op.message,
            "Upgrading 8.15.3 → 8.16.1: node 2/3 restarting (mesh-es-1)"
        );
        assert_eq!(op.step.as_deref(), Some("RestartingNode mesh-es-1"));
        let restart = RollState {
            versions: None,
            step: RollStep::WaitingForGreen { done: 1, total: 3 },
        };
        assert_eq!(restart.operation().reason, Reason::Restarting);
    }
}
