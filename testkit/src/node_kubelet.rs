//! The kubelet's part for real StatefulSet pods (made by the real StatefulSet controller,
//! [`crate::controller_manager`]), tied to the Elasticsearch stand-in: a pod marked Ready
//! is a node that joined the stand-in's cluster, at the version of its image's tag; a pod
//! deleted (or replaced) is a node that left. The stand-in's cluster is always the Ready
//! pods of the StatefulSet.
//!
//! Every change is recorded ([`NodeEvent`]) with what the cluster looked like just before
//! it: a node that left while health was not green is in the record.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use es_sim::{EsSim, Health};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;
use tokio::task::JoinHandle;

/// A change of the stand-in's cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    /// The pod was marked Ready and its node joined, at `version`.
    Joined {
        /// Pod = node name.
        node: String,
        /// From the image tag.
        version: String,
    },
    /// The pod was deleted or replaced: its node left the cluster.
    Left {
        /// Pod = node name.
        node: String,
        /// The health just before it left.
        health: Health,
        /// `cluster.routing.allocation.enable` just before it left.
        allocation: String,
        /// It was the elected master.
        master: bool,
    },
}

#[derive(Default)]
struct Shared {
    events: Vec<NodeEvent>,
    /// Pods are not marked Ready while held.
    held: bool,
}

/// Plays the kubelet for the pods of one StatefulSet; stops when dropped.
pub struct NodeKubelet {
    shared: Arc<Mutex<Shared>>,
    task: JoinHandle<()>,
}

fn lock(m: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl NodeKubelet {
    /// Starts playing the kubelet for the pods `<sts>-<n>` of `namespace`, every 100 ms.
    pub fn start(client: &kube::Client, namespace: &str, sts: &str, sim: Arc<EsSim>) -> Self {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let prefix = format!("{sts}-");
        let state = shared.clone();
        let task = tokio::spawn(async move {
            // Node name -> the uid of the pod that joined.
            let mut members: BTreeMap<String, String> = BTreeMap::new();
            loop {
                tick(&pods, &prefix, &sim, &state, &mut members).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        NodeKubelet { shared, task }
    }

    /// Holds (or releases) the pods' readiness: a held pod stays not Ready, its node away.
    pub fn hold(&self, held: bool) {
        lock(&self.shared).held = held;
    }

    /// Everything that happened so far.
    pub fn events(&self) -> Vec<NodeEvent> {
        lock(&self.shared).events.clone()
    }
}

impl Drop for NodeKubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn image_tag(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.containers.iter().find(|c| c.name == "elasticsearch"))
        .and_then(|c| c.image.as_deref())
        .and_then(|i| i.rsplit_once(':'))
        .map(|(_, tag)| tag.to_string())
        .unwrap_or_default()
}

async fn tick(
    pods: &Api<Pod>,
    prefix: &str,
    sim: &EsSim,
    shared: &Mutex<Shared>,
    members: &mut BTreeMap<String, String>,
) {
    let Ok(list) = pods.list(&ListParams::default()).await else {
        return;
    };
    let live: BTreeMap<String, &Pod> = list
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| {
            let name = p.metadata.name.clone()?;
            name.starts_with(prefix).then_some((name, p))
        })
        .collect();
    let uid = |p: &Pod| p.metadata.uid.clone().unwrap_or_default();
    let mut changed = false;
    // Nodes whose pod is gone or was replaced leave.
    let leaving: Vec<String> = members
        .iter()
        .filter(|(n, u)| live.get(*n).is_none_or(|p| uid(p) != **u))
        .map(|(n, _)| n.clone())
        .collect();
    for node in leaving {
        let event = NodeEvent::Left {
            health: sim.health_now(),
            allocation: sim.allocation_enable(),
            master: sim.master_node() == node,
            node: node.clone(),
        };
        members.remove(&node);
        let names: Vec<&str> = members.keys().map(String::as_str).collect();
        sim.set_node_names(&names);
        lock(shared).events.push(event);
        changed = true;
    }
    if changed {
        return;
    }
    let held = lock(shared).held;
    for (name, pod) in &live {
        if members.contains_key(name) {
            continue;
        }
        if !ready(pod) {
            if held {
                continue;
            }
            let status = json!({"status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "ContainersReady", "status": "True"},
                {"type": "PodScheduled", "status": "True"},
            ]}});
            let _ = pods
                .patch_status(name, &PatchParams::default(), &Patch::Merge(status))
                .await;
            // Joins at the next look, as a node takes a moment after its pod is Ready.
            continue;
        }
        let version = image_tag(pod);
        members.insert(name.clone(), uid(pod));
        sim.set_node_version(name, &version);
        let names: Vec<&str> = members.keys().map(String::as_str).collect();
        sim.set_node_names(&names);
        lock(shared).events.push(NodeEvent::Joined {
            node: name.clone(),
            version,
        });
    }
}
