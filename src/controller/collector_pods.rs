//! The collector's pods, watched through a reflector (I/O at the edge): which nodes run a
//! Ready collector pod, and since when, for `LogsFlowing`'s `NodesSilent`. Read from the
//! store on every reconcile (no GET per pass); a pod's change reconciles its MeshLogging.
//!
//! ```text
//! watch pods (component=collector, managed-by=meshlogging-operator) ─► store (node, Ready)
//!            └─► reconcile of the pod's MeshLogging (app.kubernetes.io/instance)
//! ```

use futures::Stream;
use k8s_openapi::api::core::v1::{Pod, PodSpec, PodStatus};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};

use crate::api::MeshLogging;
use crate::render::labels;

/// The label selector of every collector pod the operator's DaemonSets run.
pub fn selector() -> String {
    format!(
        "{}={},{}={}",
        labels::COMPONENT,
        labels::App::FluentBit.component(),
        labels::MANAGED_BY,
        labels::MANAGED_BY_VALUE
    )
}

/// A watch of the collector pods (in `namespace`, or all namespaces): its store and its
/// stream. The store keeps only what is read: labels, the node, the Ready condition.
pub fn watch(
    client: &kube::Client,
    namespace: Option<&str>,
) -> (
    Store<Pod>,
    impl Stream<Item = Result<Pod, watcher::Error>> + Send + 'static,
) {
    let api: Api<Pod> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let (reader, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default().labels(&selector()))
        .default_backoff()
        .modify(|pod| {
            pod.metadata.managed_fields = None;
            pod.metadata.annotations = None;
            pod.spec = Some(PodSpec {
                node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
                ..PodSpec::default()
            });
            pod.status = Some(PodStatus {
                conditions: pod.status.as_ref().and_then(|s| s.conditions.clone()),
                ..PodStatus::default()
            });
        })
        .reflect(writer)
        .touched_objects();
    (reader, stream)
}

/// The MeshLogging a collector pod belongs to (its instance label, in its namespace).
pub fn owner(pod: &Pod) -> Option<ObjectRef<MeshLogging>> {
    let instance = pod.metadata.labels.as_ref()?.get(labels::INSTANCE)?;
    Some(ObjectRef::new(instance).within(pod.metadata.namespace.as_deref()?))
}

/// The nodes where a collector pod of MeshLogging `namespace/name` is Ready, with when it
/// became Ready, sorted by node. Pure over the pods given.
pub fn ready_nodes<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
    namespace: &str,
    name: &str,
) -> Vec<(String, Timestamp)> {
    let mut nodes: Vec<(String, Timestamp)> = pods
        .into_iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(namespace))
        .filter(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(labels::INSTANCE))
                .map(String::as_str)
                == Some(name)
        })
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| {
            let node = p.spec.as_ref()?.node_name.clone()?;
            let ready = p
                .status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .find(|c| c.type_ == "Ready" && c.status == "True")?;
            let since = ready
                .last_transition_time
                .as_ref()
                .map_or(Timestamp::UNIX_EPOCH, |t| t.0);
            Some((node, since))
        })
        .collect();
    nodes.sort();
    nodes.dedup_by(|a, b| a.0 == b.0);
    nodes
}

/// [`ready_nodes`] from the store (empty when there is no store: outside the controller).
pub fn ready_nodes_in(
    store: Option<&Store<Pod>>,
    namespace: &str,
    name: &str,
) -> Vec<(String, Timestamp)> {
    match store {
        Some(store) => ready_nodes(store.state().iter().map(|p| &**p), namespace, name),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ns: &str, instance: &str, node: &str, ready: &str, since: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": format!("c-{node}"), "namespace": ns,
                "labels": {"app.kubernetes.io/instance": instance}},
            "spec": {"nodeName": node, "containers": []},
            "status": {"conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": since}]}
        }))
        .expect("pod")
    }

    #[test]
    fn only_ready_pods_of_the_resource_count() {
        let pods = [
            pod("logging", "mesh", "node-b", "True", "2026-01-01T00:00:00Z"),
            pod("logging", "mesh", "node-a", "True", "2026-01-01T01:00:00Z"),
            pod("logging", "mesh", "node-c", "False", "2026-01-01T00:00:00Z"),
            pod("logging", "other", "node-d", "True", "2026-01-01T00:00:00Z"),
            pod(
                "elsewhere",
                "mesh",
                "node-e",
                "True",
                "2026-01-01T00:00:00Z",
            ),
        ];
        let got = ready_nodes(&pods, "logging", "mesh");
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["node-a", "node-b"]);
        assert_eq!(
            got[0].1,
            "2026-01-01T01:00:00Z".parse::<Timestamp>().expect("ts")
        );
    }
}
