//! The kubelet's part, played: there are no nodes behind the test API server, so nothing
//! runs the pods; the tests, the bench and the demo report a MeshLogging's workloads
//! ready by patching their status. The workloads are found by the operator's own names.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use kube::api::{Api, ListParams, Patch, PatchParams};
use meshlogging_operator::api::MeshLogging;
use meshlogging_operator::naming as names;
use serde_json::{Value, json};

/// Marks the workloads of MeshLogging resources in one namespace ready.
#[derive(Clone)]
pub struct Kubelet {
    client: kube::Client,
    namespace: String,
    collector_nodes: i32,
}

impl Kubelet {
    /// For `namespace`, with 2 nodes running the collector.
    pub fn new(client: &kube::Client, namespace: &str) -> Kubelet {
        Kubelet {
            client: client.clone(),
            namespace: namespace.to_string(),
            collector_nodes: 2,
        }
    }

    /// How many nodes run the collector DaemonSet.
    pub fn collector_nodes(mut self, nodes: i32) -> Kubelet {
        self.collector_nodes = nodes;
        self
    }

    /// Every workload of the MeshLogging `name` (its Elasticsearch StatefulSet, Kibana
    /// Deployment, collector DaemonSet; those that exist) reports all its pods ready.
    /// Returns how many workloads it marked.
    pub async fn mark_ready(&self, name: &str) -> usize {
        self.mark(&[name.to_string()]).await
    }

    /// Kibana's Deployment and the collector's DaemonSet of the MeshLogging `name` report
    /// their pods ready; the Elasticsearch StatefulSet is left to the real StatefulSet
    /// controller and [`crate::node_kubelet`] (its pods are marked, not its status).
    pub async fn mark_ready_but_elasticsearch(&self, name: &str) -> usize {
        let resources = [name.to_string()];
        let deploys = self.mark_kind(&resources, names::kibana, |d: &Deployment| {
            let n = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            json!({"replicas": n, "readyReplicas": n, "availableReplicas": n,
                "updatedReplicas": n, "observedGeneration": d.metadata.generation})
        });
        let n = self.collector_nodes;
        let ds = self.mark_kind(&resources, names::collector, |_: &DaemonSet| {
            json!({"desiredNumberScheduled": n, "currentNumberScheduled": n, "numberReady": n,
                "numberMisscheduled": 0, "numberAvailable": n, "updatedNumberScheduled": n})
        });
        deploys.await + ds.await
    }

    /// [`mark_ready`](Self::mark_ready) for every MeshLogging of the namespace.
    pub async fn mark_all_ready(&self) -> usize {
        let mls: Api<MeshLogging> = Api::namespaced(self.client.clone(), &self.namespace);
        let names: Vec<String> = mls
            .list(&ListParams::default())
            .await
            .expect("list MeshLoggings")
            .items
            .into_iter()
            .filter_map(|ml| ml.metadata.name)
            .collect();
        self.mark(&names).await
    }

    async fn mark(&self, resources: &[String]) -> usize {
        let sts = self.mark_kind(resources, names::es_statefulset, |s: &StatefulSet| {
            let n = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            json!({"replicas": n, "readyReplicas": n, "availableReplicas": n,
                "currentReplicas": n, "updatedReplicas": n, "observedGeneration": s.metadata.generation})
        });
        let deploys = self.mark_kind(resources, names::kibana, |d: &Deployment| {
            let n = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            json!({"replicas": n, "readyReplicas": n, "availableReplicas": n,
                "updatedReplicas": n, "observedGeneration": d.metadata.generation})
        });
        let n = self.collector_nodes;
        let ds = self.mark_kind(resources, names::collector, |_: &DaemonSet| {
            json!({"desiredNumberScheduled": n, "currentNumberScheduled": n, "numberReady": n,
                "numberMisscheduled": 0, "numberAvailable": n, "updatedNumberScheduled": n})
        });
        sts.await + deploys.await + ds.await
    }

    /// Patches the status of each workload of kind `K` named `name_of(r)` for a resource `r`
    /// of `resources` to `status_of(workload)`; returns how many it patched.
    async fn mark_kind<K>(
        &self,
        resources: &[String],
        name_of: fn(&str) -> String,
        status_of: impl Fn(&K) -> Value,
    ) -> usize
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let api = Api::<K>::namespaced(self.client.clone(), &self.namespace);
        let wanted: Vec<String> = resources.iter().map(|r| name_of(r)).collect();
        let workloads = api
            .list(&ListParams::default())
            .await
            .unwrap_or_else(|e| panic!("list workloads: {e}"))
            .items;
        let mut marked = 0;
        for w in workloads {
            let Some(name) = w.meta().name.clone().filter(|n| wanted.contains(n)) else {
                continue;
            };
            let status = json!({ "status": status_of(&w) });
            api.patch_status(&name, &PatchParams::default(), &Patch::Merge(status))
                .await
                .unwrap_or_else(|e| panic!("status of {name}: {e}"));
            marked += 1;
        }
        marked
    }
}
