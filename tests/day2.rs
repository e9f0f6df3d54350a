//! Day-2 operations of a managed cluster against a real API server and the Elasticsearch
//! stand-in: volume expansion (claims resized in place, the StatefulSet recreated with
//! orphan semantics, or nothing touched when the StorageClass does not allow it) and the
//! safe scale-down. The tests play the kubelet (workload status), the StatefulSet
//! controller (the claims of its pods) and the garbage collector (an orphaning delete).

use std::sync::Arc;
use std::time::Duration;

use es_sim::EsSim;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use meshlogging_operator::api::MeshLogging;
use meshlogging_testkit::apiserver::ApiServer;
use meshlogging_testkit::sim::SimEndpoint;
use meshlogging_testkit::{Kubelet, Setup, audit, kubectl, operator, resource, wait_for};
use serde_json::json;

const WAIT: Duration = resource::WAIT;
const NAME: &str = "logs";
const STS: &str = "logs-es";

/// The API server, an admin client, a fresh namespace, a stand-in of `nodes` nodes and the
/// operator for the namespace.
struct Stack {
    server: &'static ApiServer,
    client: kube::Client,
    ns: String,
    sim: EsSim,
    /// The operator (taken to stop or restart it).
    op: Option<operator::Running>,
}

impl Stack {
    async fn start(prefix: &str, nodes: u32) -> Stack {
        let Setup { server, client, ns } = Setup::new(prefix).await;
        let sim = meshlogging_testkit::sim::es_sim(nodes).await;
        let settings = operator::settings(&ns);
        let endpoint = Arc::new(SimEndpoint::new(&sim));
        let op = operator::start_with(server, settings, endpoint, &ns).await;
        Stack {
            server,
            client,
            ns,
            sim,
            op: Some(op),
        }
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// `kubectl apply` of the MeshLogging `logs` with `elasticsearch` as its
    /// `spec.elasticsearch`.
    fn apply(&self, elasticsearch: serde_json::Value) {
        self.apply_with(elasticsearch, json!({}));
    }

    /// [`apply`](Self::apply) with `index` as its `spec.index`.
    fn apply_with(&self, elasticsearch: serde_json::Value, index: serde_json::Value) {
        let doc = json!({
            "apiVersion": "logging.mcp-mesh.io/v1alpha1",
            "kind": "MeshLogging",
            "metadata": {"name": NAME},
            "spec": {"version": "8.15.3", "elasticsearch": elasticsearch, "index": index},
        });
        kubectl::run_with_input(
            self.server,
            &["apply", "-n", &self.ns, "-f", "-"],
            &doc.to_string(),
        );
    }

    /// A refused scale-down: the StatefulSet keeps its 3 replicas and nothing about
    /// allocation or voting was written to Elasticsearch.
    async fn refused_untouched(&self) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let sts = self.sts().await.expect("sts");
        assert_eq!(sts.spec.as_ref().and_then(|s| s.replicas), Some(3));
        let writes = self.sim.write_requests();
        assert!(
            writes
                .iter()
                .all(|r| r.path != "/_cluster/settings" && !r.path.contains("voting")),
            "{writes:#?}"
        );
    }

    /// The stand-in's nodes are the StatefulSet's first `n` pods.
    fn name_nodes(&self, n: usize) {
        let names = pods(n);
        self.sim
            .set_node_names(&names.iter().map(String::as_str).collect::<Vec<_>>());
    }

    /// Waits until the `Progressing` condition (status, reason, message) `matches`; returns
    /// the resource as it was then.
    async fn progressing(
        &self,
        what: &str,
        matches: impl Fn(&(String, String, String)) -> bool,
    ) -> MeshLogging {
        wait_for(WAIT, what, || async {
            let ml = self.resource().await;
            let c = condition(&ml, "Progressing")?;
            matches(&c).then_some(ml)
        })
        .await
    }

    async fn ready(&self) -> MeshLogging {
        resource::wait_ready(&self.client, &self.ns, NAME, "Ready=True").await
    }

    async fn sts(&self) -> Option<StatefulSet> {
        self.api::<StatefulSet>().get_opt(STS).await.expect("get")
    }

    /// What the StatefulSet controller does for each pod: its claim
    /// `data-<sts>-<ordinal>`, from the claim template, bound.
    async fn create_claims(&self, replicas: i32, class: &str, size: &str) {
        for ordinal in 0..replicas {
            let pvc: PersistentVolumeClaim = serde_json::from_value(json!({
                "metadata": {"name": format!("data-{STS}-{ordinal}"),
                    "labels": {"app.kubernetes.io/instance": NAME}},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": class,
                    "resources": {"requests": {"storage": size}}},
            }))
            .expect("pvc");
            let api = self.api::<PersistentVolumeClaim>();
            api.create(&PostParams::default(), &pvc)
                .await
                .expect("create claim");
            // The volume binder's part: only a bound claim can be resized.
            api.patch_status(
                &format!("data-{STS}-{ordinal}"),
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"phase": "Bound",
                    "capacity": {"storage": size}}})),
            )
            .await
            .expect("bind claim");
        }
    }

    /// The storage each claim requests, by name.
    async fn claim_sizes(&self) -> Vec<(String, String)> {
        let list = self
            .api::<PersistentVolumeClaim>()
            .list(&Default::default())
            .await
            .expect("claims");
        list.items
            .iter()
            .map(|c| {
                let size = c
                    .spec
                    .as_ref()
                    .and_then(|s| s.resources.as_ref())
                    .and_then(|r| r.requests.as_ref())
                    .and_then(|r| r.get("storage"))
                    .map(|q| q.0.clone())
                    .unwrap_or_default();
                (c.name_any(), size)
            })
            .collect()
    }

    async fn resource(&self) -> MeshLogging {
        self.api::<MeshLogging>().get(NAME).await.expect("get")
    }
}

/// A StorageClass `name` (cluster-scoped), expandable or not.
async fn storage_class(client: &kube::Client, name: &str, expandable: Option<bool>) {
    let mut sc = json!({"metadata": {"name": name}, "provisioner": "example.com/none"});
    if let Some(e) = expandable {
        sc["allowVolumeExpansion"] = json!(e);
    }
    let sc: StorageClass = serde_json::from_value(sc).expect("class");
    Api::<StorageClass>::all(client.clone())
        .create(&PostParams::default(), &sc)
        .await
        .expect("create class");
}

fn condition(ml: &MeshLogging, type_: &str) -> Option<(String, String, String)> {
    ml.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn claim_template_size(sts: &StatefulSet) -> String {
    let templates = sts
        .spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.as_ref())
        .expect("templates");
    let requests = templates[0]
        .spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .expect("requests");
    requests["storage"].0.clone()
}

#[tokio::test]
async fn a_larger_size_expands_each_claim_and_recreates_the_statefulset_keeping_its_pods() {
    let mut stack = Stack::start("expand", 3).await;
    let class = format!("{}-expandable", stack.ns);
    storage_class(&stack.client, &class, Some(true)).await;
    stack.apply(json!({"storage": {"size": "10Gi", "storageClassName": class}}));
    stack.ready().await;
    stack.create_claims(3, &class, "10Gi").await;
    let before = stack.sts().await.expect("sts");
    let old_uid = before.uid().expect("uid");

    let asked = std::time::Instant::now();
    stack.apply(json!({"storage": {"size": "20Gi", "storageClassName": class}}));
    // The operator deletes the StatefulSet orphaning its pods: the API server keeps it
    // with the `orphan` finalizer until the garbage collector (played here) has orphaned
    // the dependents.
    let deleting = wait_for(WAIT, "the StatefulSet deleted with Orphan", || async {
        let sts = stack.sts().await?;
        sts.metadata.deletion_timestamp.is_some().then_some(sts)
    })
    .await;
    assert_eq!(
        deleting.finalizers(),
        ["orphan"],
        "propagationPolicy Orphan"
    );
    // Every claim was expanded before the StatefulSet was deleted.
    let sizes = stack.claim_sizes().await;
    assert_eq!(
        sizes,
        (0..3)
            .map(|o| (format!("data-{STS}-{o}"), "20Gi".to_string()))
            .collect::<Vec<_>>()
    );
    let ml = stack.resource().await;
    let progressing = wait_for(WAIT, "Progressing ExpandingVolumes", || async {
        let ml = stack.resource().await;
        let c = condition(&ml, "Progressing")?;
        (c.1 == "ExpandingVolumes").then_some(c)
    })
    .await;
    assert_eq!(progressing.0, "True");
    assert!(
        progressing
            .2
            .contains("spec.elasticsearch.storage.size 10Gi → 20Gi"),
        "{}",
        progressing.2
    );
    drop(ml);
    stack
        .api::<StatefulSet>()
        .patch(
            STS,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .expect("the garbage collector's part");

    // Created anew with the new claim template.
    let recreated = wait_for(WAIT, "the StatefulSet recreated", || async {
        let sts = stack.sts().await?;
        (sts.uid() != Some(old_uid.clone())).then_some(sts)
    })
    .await;
    assert_eq!(claim_template_size(&recreated), "20Gi");
    eprintln!(
        "volume expansion 10Gi → 20Gi, 3 claims: {:?} from the apply to the new StatefulSet",
        asked.elapsed()
    );
    let ml = stack.ready().await;
    let idle = condition(&ml, "Progressing").expect("Progressing");
    assert_eq!((idle.0.as_str(), idle.1.as_str()), ("False", "Idle"));
    let announced = resource::event_notes(&stack.client, &stack.ns, "ExpandingVolumes").await;
    assert_eq!(announced.len(), 1, "{announced:?}");
    assert!(
        announced[0].contains("data-logs-es-0, data-logs-es-1, data-logs-es-2"),
        "{}",
        announced[0]
    );
    // Each claim was patched once, and the StatefulSet deleted once.
    let writes = audit::writes(stack.server, &stack.op.as_ref().expect("operator").identity);
    let patched = writes
        .iter()
        .filter(|w| w.contains("persistentvolumeclaims"))
        .count();
    let deleted = writes
        .iter()
        .filter(|w| w.starts_with("delete") && w.contains("statefulsets"))
        .count();
    assert_eq!((patched, deleted), (3, 1), "{writes:#?}");
    stack.op.take().expect("operator").stop().await;
}

#[tokio::test]
async fn a_class_that_cannot_expand_refuses_the_size_and_touches_nothing() {
    let mut stack = Stack::start("noexpand", 3).await;
    let class = format!("{}-fixed", stack.ns);
    storage_class(&stack.client, &class, None).await;
    stack.apply(json!({"storage": {"size": "10Gi", "storageClassName": class}}));
    stack.ready().await;
    stack.create_claims(3, &class, "10Gi").await;
    let before = stack.sts().await.expect("sts");

    stack.apply(json!({"storage": {"size": "20Gi", "storageClassName": class}}));
    let ml = stack
        .progressing("Progressing VolumeExpansionNotAllowed", |c| {
            c.1 == "VolumeExpansionNotAllowed"
        })
        .await;
    let (status, _, message) = condition(&ml, "Progressing").expect("Progressing");
    assert_eq!(status, "False");
    assert!(
        message.contains("spec.elasticsearch.storage.size 10Gi → 20Gi")
            && message.contains(&format!(
                "StorageClass {class} does not allow volume expansion"
            )),
        "{message}"
    );
    let ready = condition(&ml, "Ready").expect("Ready");
    assert_eq!(
        (ready.0.as_str(), ready.1.as_str()),
        ("False", "VolumeExpansionNotAllowed")
    );
    // A Warning says so, once.
    wait_for(WAIT, "the Warning", || async {
        let e = resource::event_notes(&stack.client, &stack.ns, "VolumeExpansionNotAllowed").await;
        (!e.is_empty()).then_some(())
    })
    .await;
    // Nothing touched: the same StatefulSet (same uid, same claim template, same
    // resourceVersion), the claims as they were, and no immutable change sent.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = stack.sts().await.expect("sts");
    assert_eq!(after.uid(), before.uid());
    assert_eq!(after.resource_version(), before.resource_version());
    assert_eq!(claim_template_size(&after), "10Gi");
    assert!(stack.claim_sizes().await.iter().all(|(_, s)| s == "10Gi"));
    let writes = audit::writes(stack.server, &stack.op.as_ref().expect("operator").identity);
    assert!(
        !writes
            .iter()
            .any(|w| w.contains("persistentvolumeclaims") || w.starts_with("delete")),
        "{writes:#?}"
    );

    // The administrator allows expansion: the next pass expands.
    Api::<StorageClass>::all(stack.client.clone())
        .patch(
            &class,
            &PatchParams::default(),
            &Patch::Merge(json!({"allowVolumeExpansion": true})),
        )
        .await
        .expect("allow expansion");
    wait_for(WAIT, "the claims expanded", || async {
        let sizes = stack.claim_sizes().await;
        sizes.iter().all(|(_, s)| s == "20Gi").then_some(())
    })
    .await;
    let _ = stack
        .api::<StatefulSet>()
        .delete(STS, &DeleteParams::default())
        .await;
    stack.op.take().expect("operator").stop().await;
}

/// The pod names of the first `n` nodes: the Elasticsearch node names.
fn pods(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{STS}-{i}")).collect()
}

/// The kubelet's and Elasticsearch's part of a StatefulSet going down: when its replicas
/// fall below the nodes in the cluster, the last pods stop and their nodes leave. Returns
/// the shard copies the leaving nodes still held when they left (must be none).
fn nodes_follow_the_statefulset(sim: &EsSim, sts: &StatefulSet) -> Vec<String> {
    let replicas = sts.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1) as usize;
    let present = sim.with_state(|s| s.node_names());
    if replicas >= present.len() {
        return Vec::new();
    }
    let leaving: Vec<String> = present[replicas..].to_vec();
    let lost = sim
        .shard_table()
        .into_iter()
        .filter(|r| r.node.as_ref().is_some_and(|n| leaving.contains(n)))
        .map(|r| format!("{}[{}] on {:?}", r.index, r.shard, r.node))
        .collect();
    let names = pods(replicas);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    sim.set_node_names(&names);
    lost
}

#[tokio::test]
async fn a_scale_down_moves_the_shards_off_first_then_lowers_the_statefulset() {
    let mut stack = Stack::start("scaledown", 5).await;
    stack.name_nodes(5);
    stack.apply(json!({"replicas": 5}));
    stack.ready().await;
    let table = stack.sim.shard_table();
    assert!(
        table.iter().any(|r| r.node.as_deref() == Some("logs-es-4")),
        "the last node holds shards: {table:?}"
    );
    stack.sim.clear_requests();

    // Shards take their time to move: held until released.
    stack.sim.hold_relocation(true);
    stack.apply(json!({"replicas": 3}));
    let ml = stack
        .progressing("Progressing ScalingDown", |c| {
            c.1 == "ScalingDown" && c.2.contains("moving")
        })
        .await;
    let (status, _, message) = condition(&ml, "Progressing").expect("Progressing");
    assert_eq!(status, "True");
    let phase = ml.status.as_ref().and_then(|s| s.phase).map(|p| p.as_str());
    assert_eq!(
        phase,
        Some("Scaling"),
        "kubectl get mlog shows the operation"
    );
    assert!(
        message.starts_with("spec.elasticsearch.replicas 5 → 3: moving ")
            && message.ends_with("shard copies off logs-es-3, logs-es-4"),
        "{message}"
    );
    // Several passes later the StatefulSet still has 5 replicas: nothing leaves with data.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sts = stack.sts().await.expect("sts");
    assert_eq!(sts.spec.as_ref().and_then(|s| s.replicas), Some(5));
    let excluded = stack.sim.with_state(|s| {
        s.persistent_settings
            .get("cluster.routing.allocation.exclude._name")
            .cloned()
    });
    assert_eq!(excluded, Some(json!("logs-es-3,logs-es-4")));
    let puts = stack
        .sim
        .write_requests()
        .iter()
        .filter(|r| r.path == "/_cluster/settings")
        .count();
    assert_eq!(puts, 1, "the allocation filter is set once, not every pass");

    // The shards move; the operator lowers the StatefulSet; the nodes leave; the
    // exclusions are cleared. At every step no leaving node holds a copy.
    stack.sim.hold_relocation(false);
    let released = std::time::Instant::now();
    let lost = std::sync::Mutex::new(Vec::new());
    let kubelet = Kubelet::new(&stack.client, &stack.ns);
    let ml = wait_for(WAIT, "scaled down and Idle", || async {
        if let Some(sts) = stack.sts().await {
            let left = nodes_follow_the_statefulset(&stack.sim, &sts);
            lost.lock().expect("lost").extend(left);
        }
        kubelet.mark_ready(NAME).await;
        let ml = stack.resource().await;
        let c = condition(&ml, "Progressing")?;
        let cleared = stack.sim.with_state(|s| s.voting_exclusions.is_empty());
        (c.1 == "Idle" && stack.sim.with_state(|s| s.nodes) == 3 && cleared).then_some(ml)
    })
    .await;
    eprintln!(
        "scale-down 5 → 3: {:?} from the shards' release to Idle (exclusions cleared)",
        released.elapsed()
    );
    let lost = lost.into_inner().expect("lost");
    assert!(lost.is_empty(), "nodes left holding shards: {lost:?}");
    assert_eq!(condition(&ml, "Ready").expect("Ready").0, "True");
    let sts = stack.sts().await.expect("sts");
    assert_eq!(sts.spec.as_ref().and_then(|s| s.replicas), Some(3));
    assert!(
        stack.sim.with_state(|s| s.persistent_settings.is_empty()),
        "the allocation filter is reset"
    );
    // The writes to Elasticsearch, in order.
    let writes: Vec<String> = stack
        .sim
        .write_requests()
        .iter()
        .map(|r| {
            let q = if r.query.is_empty() {
                String::new()
            } else {
                format!("?{}", r.query)
            };
            format!(
                "{} {}{q} {}",
                r.method,
                r.path,
                r.body.clone().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        writes,
        [
            r#"PUT /_cluster/settings {"persistent":{"cluster.routing.allocation.exclude._name":"logs-es-3,logs-es-4"}}"#,
            "POST /_cluster/voting_config_exclusions?node_names=logs-es-3,logs-es-4 null",
            "DELETE /_cluster/voting_config_exclusions null",
            r#"PUT /_cluster/settings {"persistent":{"cluster.routing.allocation.exclude._name":null}}"#,
        ],
        "{writes:#?}"
    );
    for reason in ["ScalingDown", "ScaledDown"] {
        let e = resource::event_notes(&stack.client, &stack.ns, reason).await;
        assert!(!e.is_empty(), "a {reason} event");
    }
    // Steady again: passes read, write nothing, to Elasticsearch or the API server.
    stack.sim.clear_requests();
    let identity = stack.op.as_ref().expect("operator").identity.clone();
    let api_writes = audit::writes(stack.server, &identity).len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(stack.sim.write_requests().is_empty());
    let after = audit::writes(stack.server, &identity);
    assert_eq!(after.len(), api_writes, "{:#?}", &after[api_writes..]);
    assert!(
        stack
            .sim
            .requests()
            .iter()
            .any(|r| r.path == "/_cluster/settings"),
        "passes ran"
    );
    stack.op.take().expect("operator").stop().await;
}

#[tokio::test]
async fn a_scale_down_below_the_copies_of_a_shard_is_refused_naming_the_field() {
    let mut stack = Stack::start("scalerefuse", 3).await;
    stack.name_nodes(3);
    stack.apply(json!({"replicas": 3}));
    stack.ready().await;
    stack.sim.clear_requests();

    // From the spec: 1 replica + the primary need 2 nodes.
    stack.apply(json!({"replicas": 1}));
    let ml = stack
        .progressing("ScaleDownRefused", |c| c.1 == "ScaleDownRefused")
        .await;
    let (status, _, message) = condition(&ml, "Progressing").expect("Progressing");
    assert_eq!(status, "False");
    assert!(
        message.starts_with("spec.elasticsearch.replicas 3 → 1 refused"),
        "{message}"
    );
    assert_eq!(
        condition(&ml, "Ready").map(|c| c.1),
        Some("ScaleDownRefused".to_string())
    );
    // From the indices: one of them keeps 3 copies, so 2 nodes are too few.
    let index = stack.sim.with_state(|s| {
        let name = s
            .indices
            .keys()
            .find(|n| n.starts_with("mcp-mesh-logs-"))
            .cloned()
            .expect("a backing index");
        let ix = s.indices.get_mut(&name).expect("index");
        ix.settings
            .insert("index.number_of_replicas".into(), json!("2"));
        name
    });
    stack.apply(json!({"replicas": 2}));
    let ml = stack
        .progressing("ScaleDownRefused from the indices", |c| {
            c.1 == "ScaleDownRefused" && c.2.contains("3 copies")
        })
        .await;
    let message = condition(&ml, "Progressing").expect("Progressing").2;
    assert!(
        message.starts_with("spec.elasticsearch.replicas 3 → 2 refused"),
        "{message} ({index})"
    );
    stack.refused_untouched().await;
    stack.op.take().expect("operator").stop().await;
}

/// The operator keeps nothing it cannot read back: stopped while the shards move and
/// started again, it resumes without repeating a write, and the scale-down completes.
#[tokio::test]
async fn an_operator_restarted_during_a_scale_down_resumes_from_the_cluster() {
    let mut stack = Stack::start("scalerestart", 4).await;
    stack.name_nodes(4);
    stack.apply(json!({"replicas": 4}));
    stack.ready().await;
    stack.sim.clear_requests();
    stack.sim.hold_relocation(true);
    stack.apply(json!({"replicas": 3}));
    stack
        .progressing("the shards moving", |c| c.2.contains("moving"))
        .await;
    stack.op.take().expect("operator").stop().await;

    let settings = operator::settings(&stack.ns);
    let endpoint = Arc::new(SimEndpoint::new(&stack.sim));
    let identity = format!("{}-second", stack.ns);
    let op = operator::start_with(stack.server, settings, endpoint, &identity).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sts = stack.sts().await.expect("sts");
    assert_eq!(
        sts.spec.as_ref().and_then(|s| s.replicas),
        Some(4),
        "the restarted operator holds the StatefulSet too"
    );
    stack.sim.hold_relocation(false);
    let kubelet = Kubelet::new(&stack.client, &stack.ns);
    let lost = std::sync::Mutex::new(Vec::new());
    wait_for(WAIT, "scaled down and Idle", || async {
        if let Some(sts) = stack.sts().await {
            let left = nodes_follow_the_statefulset(&stack.sim, &sts);
            lost.lock().expect("lost").extend(left);
        }
        kubelet.mark_ready(NAME).await;
        let ml = stack.resource().await;
        let c = condition(&ml, "Progressing")?;
        let cleared = stack.sim.with_state(|s| s.persistent_settings.is_empty());
        (c.1 == "Idle" && stack.sim.with_state(|s| s.nodes) == 3 && cleared).then_some(())
    })
    .await;
    assert!(lost.into_inner().expect("lost").is_empty());
    let writes: Vec<String> = stack
        .sim
        .write_requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        writes,
        [
            "PUT /_cluster/settings",
            "POST /_cluster/voting_config_exclusions",
            "DELETE /_cluster/voting_config_exclusions",
            "PUT /_cluster/settings",
        ],
        "no write repeated across the restart"
    );
    op.stop().await;
}

/// A scale-down replaced by one that is refused: the StatefulSet keeps its nodes, so the
/// exclusions the first one set are cleared (the shards may come back), and nothing waits
/// for nodes that are not leaving.
#[tokio::test]
async fn a_scale_down_replaced_by_a_refused_one_clears_its_exclusions() {
    let mut stack = Stack::start("scalecancel", 5).await;
    stack.name_nodes(5);
    stack.apply(json!({"replicas": 5}));
    stack.ready().await;
    stack.sim.hold_relocation(true);
    stack.apply(json!({"replicas": 3}));
    stack
        .progressing("the shards moving", |c| c.2.contains("moving"))
        .await;

    stack.apply(json!({"replicas": 1}));
    let ml = wait_for(WAIT, "refused, exclusions cleared", || async {
        let ml = stack.resource().await;
        let c = condition(&ml, "Progressing")?;
        let cleared = stack.sim.with_state(|s| s.persistent_settings.is_empty());
        (c.1 == "ScaleDownRefused" && cleared).then_some(ml)
    })
    .await;
    assert!(
        condition(&ml, "Progressing")
            .expect("Progressing")
            .2
            .starts_with("spec.elasticsearch.replicas 5 → 1 refused")
    );
    let sts = stack.sts().await.expect("sts");
    assert_eq!(sts.spec.as_ref().and_then(|s| s.replicas), Some(5));
    stack.op.take().expect("operator").stop().await;
}

#[tokio::test]
async fn one_node_of_three_is_refused_with_hard_anti_affinity_and_allowed_with_soft() {
    let mut stack = Stack::start("scalehard", 3).await;
    stack.name_nodes(3);
    // No replicas: the copies of a shard do not hold the scale-down back, only the spread.
    let no_replicas = json!({"replicas": 0});
    stack.apply_with(
        json!({"replicas": 3, "antiAffinity": "hard"}),
        no_replicas.clone(),
    );
    stack.ready().await;
    stack.sim.clear_requests();

    stack.apply_with(
        json!({"replicas": 1, "antiAffinity": "hard"}),
        no_replicas.clone(),
    );
    let ml = stack
        .progressing("ScaleDownRefused", |c| c.1 == "ScaleDownRefused")
        .await;
    let message = condition(&ml, "Progressing").expect("Progressing").2;
    assert!(
        message.starts_with("spec.elasticsearch.replicas 3 → 1 refused")
            && message.contains("spec.elasticsearch.antiAffinity"),
        "{message}"
    );
    stack.refused_untouched().await;

    // With soft anti-affinity a single node is the user's choice: the scale-down starts.
    stack.apply_with(json!({"replicas": 1, "antiAffinity": "soft"}), no_replicas);
    stack
        .progressing("ScalingDown", |c| c.1 == "ScalingDown")
        .await;
    stack.op.take().expect("operator").stop().await;
}
