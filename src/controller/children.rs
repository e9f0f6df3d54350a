//! Applying the rendered children (I/O): each through the one applier, pruning children
//! the spec no longer asks for, and reading back the workloads' readiness. An object of a
//! child's name that is not this resource's is never changed or deleted: it is reported
//! as a conflict and the other children are applied.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, PodTemplateSpec, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::Resource;
use kube::api::{Api, DeleteParams, ListParams};
use kube::core::NamespaceResourceScope;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

use super::apply::{Outcome, apply, apply_namespaced};
use crate::error::Result;
use crate::naming as names;
use crate::render::{Child, labels};
use crate::validate::Validated;

/// Pod-template annotation holding a hash of what the pods read at start.
pub const CONFIG_HASH_ANNOTATION: &str = "logging.mcp-mesh.io/config-hash";

/// Readiness of the workloads: (desired, ready).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Workloads {
    /// Elasticsearch nodes (managed mode).
    pub elasticsearch: Option<(i32, i32)>,
    /// Kibana replicas (when enabled).
    pub kibana: Option<(i32, i32)>,
    /// Collector pods.
    pub collector: (i32, i32),
}

/// What applying the children did.
#[derive(Debug, Default)]
pub struct Applied {
    /// `Kind/name` of every child created, updated or deleted.
    pub changes: Vec<String>,
    /// Children the API server refused: `Kind/name: its message`.
    pub rejected: Vec<String>,
    /// Objects with a child's name that belong to someone else (`Kind/name`): left alone.
    pub conflicts: Vec<String>,
    /// Readiness read from the applied workloads.
    pub workloads: Workloads,
}

/// Adds to each workload's pod template a hash of the configuration it reads at start, so
/// a change rolls its pods. The Elasticsearch hash leaves out `cluster.initial_master_nodes`
/// (dropped once the cluster formed; that alone must not restart the nodes).
pub fn annotate(children: &mut [Child], v: &Validated, fingerprints: &BTreeMap<String, String>) {
    let config = |name: &str| {
        children.iter().find_map(|c| match c {
            Child::ConfigMap(cm) if cm.metadata.name.as_deref() == Some(name) => cm.data.clone(),
            _ => None,
        })
    };
    // The file realm is mounted by subPath (no live update): a new one needs a restart.
    let realm = fingerprints.get("file-realm").cloned().unwrap_or_default();
    let es = config(&names::es_config_map(&v.name)).map(|mut data| {
        for text in data.values_mut() {
            *text = without_initial_master_nodes(text);
        }
        hash(&data, &[&realm])
    });
    let kibana_keys = fingerprints
        .get("kibana-encryption-keys")
        .cloned()
        .unwrap_or_default();
    // Kibana and the collector read the operator's CA and their password (an environment
    // variable) at start: a rotated one rolls them. The CA is absent for an external
    // cluster, whose CA the operator does not generate.
    let parts = |keys: &[&str]| -> Vec<&str> {
        keys.iter()
            .filter_map(|k| fingerprints.get(*k).map(String::as_str))
            .collect()
    };
    let mut kibana_parts = vec![kibana_keys.as_str()];
    kibana_parts.extend(parts(&["ca", "kibana-user"]));
    let kibana = config(&names::kibana_config_map(&v.name)).map(|d| hash(&d, &kibana_parts));
    let collector =
        config(&names::collector(&v.name)).map(|d| hash(&d, &parts(&["ca", "collector-user"])));
    for child in children.iter_mut() {
        let (template, value) = match child {
            Child::StatefulSet(s) => (s.spec.as_mut().map(|s| &mut s.template), &es),
            Child::Deployment(d) => (d.spec.as_mut().map(|s| &mut s.template), &kibana),
            Child::DaemonSet(d) => (d.spec.as_mut().map(|s| &mut s.template), &collector),
            _ => continue,
        };
        if let (Some(template), Some(value)) = (template, value) {
            set_annotation(template, value);
        }
    }
}

fn set_annotation(template: &mut PodTemplateSpec, value: &str) {
    template
        .metadata
        .get_or_insert_with(Default::default)
        .annotations
        .get_or_insert_with(Default::default)
        .insert(CONFIG_HASH_ANNOTATION.to_string(), value.to_string());
}

/// `elasticsearch.yml` without the `cluster.initial_master_nodes` setting (a flow or a
/// block list).
fn without_initial_master_nodes(yaml: &str) -> String {
    let mut out = Vec::new();
    let mut skipping = false;
    for line in yaml.lines() {
        if line.starts_with("cluster.initial_master_nodes") {
            skipping = true;
            continue;
        }
        if skipping && (line.starts_with(' ') || line.starts_with('-')) {
            continue;
        }
        skipping = false;
        out.push(line);
    }
    out.join("\n")
}

/// A fingerprint of `data` (sorted keys and values) and `extra` parts.
fn hash(data: &BTreeMap<String, String>, extra: &[&str]) -> String {
    let parts = data.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]);
    crate::fingerprint::of_parts(parts.chain(extra.iter().copied()))
}

/// Applies every child, then deletes children of this resource that were not rendered.
pub async fn apply_all(
    client: &kube::Client,
    v: &Validated,
    children: &[Child],
) -> Result<Applied> {
    let mut applied = Applied::default();
    let mut wanted: BTreeSet<(&'static str, String)> = BTreeSet::new();
    for child in children {
        let (kind, name) = (child.kind(), child.name().to_string());
        match apply_child(client, child, &mut applied.workloads).await {
            // Not ours: not applied, and not in `wanted` either (prune only ever deletes
            // objects carrying this resource's owner reference anyway).
            Ok(Outcome::NotOwned) => applied.conflicts.push(format!("{kind}/{name}")),
            Ok(outcome) => {
                if outcome != Outcome::Unchanged {
                    let verb = if outcome == Outcome::Created {
                        "created"
                    } else {
                        "updated"
                    };
                    applied.changes.push(format!("{verb} {kind}/{name}"));
                }
                wanted.insert((kind, name));
            }
            // The API server refuses the object (for example a changed volume claim
            // template of a StatefulSet, which is immutable): report it, keep going, and
            // never prune what could not be applied.
            Err(kube::Error::Api(e)) if e.code == 422 => {
                applied
                    .rejected
                    .push(format!("{kind}/{name}: {}", e.message));
                wanted.insert((kind, name));
            }
            Err(e) => return Err(e.into()),
        }
    }

    let selector = format!(
        "{}={},{}={}",
        labels::INSTANCE,
        v.name,
        labels::MANAGED_BY,
        labels::MANAGED_BY_VALUE
    );
    let ns = v.namespace.as_str();
    prune::<StatefulSet>(
        client,
        ns,
        &selector,
        "StatefulSet",
        &v.uid,
        &wanted,
        &mut applied,
    )
    .await?;
    prune::<Deployment>(
        client,
        ns,
        &selector,
        "Deployment",
        &v.uid,
        &wanted,
        &mut applied,
    )
    .await?;
    prune::<DaemonSet>(
        client,
        ns,
        &selector,
        "DaemonSet",
        &v.uid,
        &wanted,
        &mut applied,
    )
    .await?;
    prune::<Service>(
        client,
        ns,
        &selector,
        "Service",
        &v.uid,
        &wanted,
        &mut applied,
    )
    .await?;
    prune::<ConfigMap>(
        client,
        ns,
        &selector,
        "ConfigMap",
        &v.uid,
        &wanted,
        &mut applied,
    )
    .await?;
    prune::<PodDisruptionBudget>(
        client,
        ns,
        &selector,
        "PodDisruptionBudget",
        &v.uid,
        &wanted,
        &mut applied,
    )
    .await?;
    prune::<Ingress>(
        client,
        ns,
        &selector,
        "Ingress",
        &v.uid,
        &wanted,
        &mut applied,
    )
    .await?;
    prune::<ServiceAccount>(
        client,
        ns,
        &selector,
        "ServiceAccount",
        &v.uid,
        &wanted,
        &mut applied,
    )
    .await?;
    Ok(applied)
}

/// Applies one child, reading the workloads' readiness from what the API server returns
/// (not from someone else's workload of the same name: that says nothing about this stack).
async fn apply_child(
    client: &kube::Client,
    child: &Child,
    workloads: &mut Workloads,
) -> Result<Outcome, kube::Error> {
    let replicas = |spec: Option<i32>, ready: Option<i32>| (spec.unwrap_or(1), ready.unwrap_or(0));
    Ok(match child {
        Child::StatefulSet(o) => {
            let (outcome, live) = apply_namespaced(client, o).await?;
            if outcome == Outcome::NotOwned {
                let wanted = o.spec.as_ref().and_then(|s| s.replicas);
                workloads.elasticsearch = Some(replicas(wanted, None));
                return Ok(outcome);
            }
            workloads.elasticsearch = Some(replicas(
                live.spec.as_ref().and_then(|s| s.replicas),
                live.status.as_ref().and_then(|s| s.ready_replicas),
            ));
            outcome
        }
        Child::Deployment(o) => {
            let (outcome, live) = apply_namespaced(client, o).await?;
            if outcome == Outcome::NotOwned {
                let wanted = o.spec.as_ref().and_then(|s| s.replicas);
                workloads.kibana = Some(replicas(wanted, None));
                return Ok(outcome);
            }
            workloads.kibana = Some(replicas(
                live.spec.as_ref().and_then(|s| s.replicas),
                live.status.as_ref().and_then(|s| s.ready_replicas),
            ));
            outcome
        }
        Child::DaemonSet(o) => {
            let (outcome, live) = apply_namespaced(client, o).await?;
            if outcome == Outcome::NotOwned {
                return Ok(outcome);
            }
            let status = live.status.unwrap_or_default();
            workloads.collector = (status.desired_number_scheduled, status.number_ready);
            outcome
        }
        Child::Service(o) => apply_namespaced(client, o).await?.0,
        Child::ConfigMap(o) => apply_namespaced(client, o).await?.0,
        Child::PodDisruptionBudget(o) => apply_namespaced(client, o).await?.0,
        Child::ServiceAccount(o) => apply_namespaced(client, o).await?.0,
        Child::Ingress(o) => apply_namespaced(client, o).await?.0,
        Child::ClusterRoleBinding(o) => {
            apply(Api::<ClusterRoleBinding>::all(client.clone()), o)
                .await?
                .0
        }
    })
}

/// Deletes objects of kind `K` labelled as this resource's and owned by it (uid) that
/// were not rendered this pass (Kibana disabled, Ingress removed, managed -> external).
#[allow(clippy::too_many_arguments)]
async fn prune<K>(
    client: &kube::Client,
    namespace: &str,
    selector: &str,
    kind: &'static str,
    owner_uid: &str,
    wanted: &BTreeSet<(&'static str, String)>,
    applied: &mut Applied,
) -> Result<()>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + Debug + Serialize + DeserializeOwned,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let list = api
        .list_metadata(&ListParams::default().labels(selector))
        .await?;
    for item in list.items {
        let name = item.metadata.name.clone().unwrap_or_default();
        let owned = item
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.uid == owner_uid);
        if !owned || wanted.contains(&(kind, name.clone())) {
            continue;
        }
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => applied.changes.push(format!("deleted {kind}/{name}")),
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_master_nodes_do_not_change_the_hash() {
        let first = "cluster.name: logs\ncluster.initial_master_nodes:\n  - logs-es-0\n  - logs-es-1\nnode.store.allow_mmap: false\n";
        let flow = "cluster.name: logs\ncluster.initial_master_nodes: [\"logs-es-0\"]\nnode.store.allow_mmap: false\n";
        let later = "cluster.name: logs\nnode.store.allow_mmap: false\n";
        assert_eq!(
            without_initial_master_nodes(first),
            without_initial_master_nodes(later)
        );
        assert_eq!(
            without_initial_master_nodes(flow),
            without_initial_master_nodes(later)
        );
    }
}
