//! Rolling upgrades and restarts of a managed cluster, driven by the operator, against a
//! real API server with the REAL StatefulSet controller (`kube-controller-manager`, built by
//! `hack/controller-manager.sh`): it makes the pods with their real
//! `controller-revision-hash` labels and recreates a deleted pod at the update revision
//! (`updateStrategy: OnDelete`). There is no kubelet: `NodeKubelet` marks the pods Ready and
//! makes each Ready pod a node of the Elasticsearch stand-in (at its image's version); a
//! deleted pod's node leaves. The stand-in models what a restart shows: health yellow while
//! a node holding replicas is away and allocation is `primaries`, green once restored.

use std::sync::Arc;
use std::time::{Duration, Instant};

use es_sim::{EsSim, Fault, Health, RecordedRequest};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use meshlogging_operator::api::MeshLogging;
use meshlogging_testkit::apiserver::ApiServer;
use meshlogging_testkit::node_kubelet::{NodeEvent, NodeKubelet};
use meshlogging_testkit::sim::SimEndpoint;
use meshlogging_testkit::{
    Kubelet, Setup, audit, controller_manager, kubectl, operator, resource, wait_for,
};
use serde_json::json;

const NAME: &str = "logs";
const STS: &str = "logs-es";
const WAIT: Duration = Duration::from_secs(120);

/// The API server with the StatefulSet controller, a fresh namespace, the stand-in, the
/// node kubelet and the operator.
struct Stack {
    server: &'static ApiServer,
    client: kube::Client,
    ns: String,
    sim: Arc<EsSim>,
    kubelet: NodeKubelet,
    op: Option<operator::Running>,
}

impl Stack {
    /// The pod deletes in the API server's audit log, in order (`delete pods/<name>`).
    fn pod_deletes(&self) -> Vec<String> {
        audit::writes(self.server, &self.ns)
            .into_iter()
            .filter(|w| w.starts_with("delete pods/"))
            .collect()
    }

    async fn start(prefix: &str) -> Stack {
        let Setup { server, client, ns } = Setup::new(prefix).await;
        controller_manager::get(server);
        let sim = Arc::new(meshlogging_testkit::sim::es_sim(1).await);
        let kubelet = NodeKubelet::start(&client, &ns, STS, sim.clone());
        let mut stack = Stack {
            server,
            client,
            ns,
            sim,
            kubelet,
            op: None,
        };
        stack.start_operator().await;
        stack
    }

    async fn start_operator(&mut self) {
        let settings = operator::settings(&self.ns);
        let endpoint = Arc::new(SimEndpoint::new(&self.sim));
        self.op = Some(operator::start_with(self.server, settings, endpoint, &self.ns).await);
    }

    /// Kills the operator where it stands (its in-flight Elasticsearch requests, detached,
    /// get a moment to end), then starts a new one: no memory carried over.
    async fn restart_operator(&mut self) {
        if let Some(op) = self.op.take() {
            op.kill();
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
        self.start_operator().await;
    }

    /// `kubectl apply` of the MeshLogging with 3 nodes at `version`, `config` for
    /// `elasticsearch.yml`.
    fn apply(&self, version: &str, config: serde_json::Value) {
        let doc = json!({
            "apiVersion": "logging.mcp-mesh.io/v1alpha1",
            "kind": "MeshLogging",
            "metadata": {"name": NAME},
            "spec": {"version": version, "elasticsearch": {"replicas": 3, "config": config}},
        });
        kubectl::run_with_input(
            self.server,
            &["apply", "-n", &self.ns, "-f", "-"],
            &doc.to_string(),
        );
    }

    async fn resource(&self) -> MeshLogging {
        let api: Api<MeshLogging> = Api::namespaced(self.client.clone(), &self.ns);
        api.get(NAME).await.expect("get")
    }

    /// Ready=True, Kibana and the collector marked ready (the nodes are the StatefulSet
    /// controller's and the node kubelet's), health green.
    async fn ready(&self) {
        let kubelet = Kubelet::new(&self.client, &self.ns);
        wait_for(WAIT, "Ready=True and green", || async {
            kubelet.mark_ready_but_elasticsearch(NAME).await;
            let ml = self.resource().await;
            let status = ml.status?;
            let ready = status
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            let green = status.elasticsearch.and_then(|e| e.health).as_deref() == Some("green");
            (ready && green && status.operation.is_none()).then_some(())
        })
        .await;
    }

    /// Makes `node` the elected master, once every node is in the stand-in's cluster.
    async fn elect(&self, node: &str) {
        wait_for(WAIT, "every node in", || async {
            let joined = self
                .kubelet
                .events()
                .iter()
                .filter(|e| matches!(e, NodeEvent::Joined { .. }))
                .count();
            (joined == 3).then_some(())
        })
        .await;
        self.sim.set_master_node(node);
        assert_eq!(self.sim.master_node(), node);
    }

    /// `kubectl get mlog` (the printer columns a user sees).
    fn get(&self) -> String {
        kubectl::run(self.server, &["get", "mlog", "-n", &self.ns, NAME])
    }

    /// The pods: (name, revision, image tag).
    async fn pods(&self) -> Vec<(String, String, String)> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &self.ns);
        let list = api.list(&ListParams::default()).await.expect("pods");
        let mut out: Vec<_> = list
            .items
            .iter()
            .filter(|p| {
                p.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with(STS))
            })
            .map(|p| {
                let labels = p.metadata.labels.clone().unwrap_or_default();
                let image = p
                    .spec
                    .as_ref()
                    .and_then(|s| s.containers.iter().find(|c| c.name == "elasticsearch"))
                    .and_then(|c| c.image.clone())
                    .unwrap_or_default();
                (
                    p.metadata.name.clone().unwrap_or_default(),
                    labels
                        .get("controller-revision-hash")
                        .cloned()
                        .unwrap_or_default(),
                    image
                        .rsplit_once(':')
                        .map(|(_, t)| t.to_string())
                        .unwrap_or_default(),
                )
            })
            .collect();
        out.sort();
        out
    }

    /// Done: every pod at `version`, every node in at `version`, allocation back, green,
    /// `status.operation` gone.
    async fn finished(&self, version: &str) -> bool {
        let pods = self.pods().await;
        let joined = self.kubelet.events();
        // Each pod's node last joined (and did not leave since) at `version`.
        let joined_at = |name: &str| {
            joined.iter().rev().find_map(|e| match e {
                NodeEvent::Joined { node, version } if node == name => Some(version.clone()),
                NodeEvent::Left { node, .. } if node == name => Some(String::new()),
                _ => None,
            })
        };
        let at_version = pods.len() == 3
            && pods
                .iter()
                .all(|(name, _, v)| v == version && joined_at(name).as_deref() == Some(version));
        let status = self.resource().await.status.unwrap_or_default();
        at_version
            && self.sim.allocation_enable() == "all"
            && self.sim.health_now() == Health::Green
            && status.operation.is_none()
            && status.elasticsearch.and_then(|e| e.health).as_deref() == Some("green")
    }
}

/// The requests of a rolling restart, as `METHOD path?query body`.
fn restart_requests(log: &[RecordedRequest]) -> Vec<String> {
    log.iter()
        .filter(|r| {
            r.path == "/_cat/nodes"
                || r.path == "/_flush"
                || (r.path == "/_cluster/settings" && r.method == "PUT")
                || (r.path == "/_cluster/health" && r.query.contains("level=indices"))
        })
        .map(|r| {
            let mut line = format!("{} {}", r.method, r.path);
            if !r.query.is_empty() {
                line.push('?');
                line.push_str(&r.query);
            }
            if let Some(b) = &r.body {
                line.push(' ');
                line.push_str(&b.to_string());
            }
            line
        })
        .collect()
}

/// The nodes that left, in order, each with what the cluster looked like just before.
fn departures(events: &[NodeEvent]) -> Vec<(String, Health, String, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            NodeEvent::Left {
                node,
                health,
                allocation,
                master,
            } => Some((node.clone(), *health, allocation.clone(), *master)),
            NodeEvent::Joined { .. } => None,
        })
        .collect()
}

#[tokio::test]
async fn an_upgrade_restarts_each_node_once_the_elected_master_last_never_unless_green() {
    let stack = Stack::start("roll-up").await;
    stack.apply("8.15.3", json!({}));
    stack.ready().await;
    // logs-es-1 is the elected master: it goes last, after logs-es-2 then logs-es-0.
    stack.elect("logs-es-1").await;
    let before = stack.pods().await;
    assert_eq!(before.len(), 3, "{before:?}");
    assert!(before.iter().all(|(_, _, v)| v == "8.15.3"), "{before:?}");

    // A steady cluster costs no request of the rolling restart.
    stack.sim.clear_requests();
    let events_before = stack.kubelet.events().len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let steady = restart_requests(&stack.sim.requests());
    assert!(steady.is_empty(), "a steady pass sent {steady:?}");

    stack.sim.clear_requests();
    let started = Instant::now();
    stack.apply("8.16.1", json!({}));
    // Hold the first restarted pod so the operation is seen while it runs.
    stack.kubelet.hold(true);
    let seen = wait_for(
        WAIT,
        "the first node restarting, in kubectl get mlog",
        || async {
            let ml = stack.resource().await;
            let op = ml.status.and_then(|s| s.operation)?;
            op.step.starts_with("RestartingNode").then_some(())?;
            let table = stack.get();
            table.contains("Upgrading").then_some((op, table))
        },
    )
    .await;
    let (op, table) = seen;
    let shown = kubectl::run(
        stack.server,
        &[
            "get",
            "mlog",
            "-n",
            &stack.ns,
            NAME,
            "-o",
            "jsonpath={.status.phase}: {.status.operation.message}",
        ],
    );
    assert_eq!(
        shown,
        "Upgrading: Upgrading 8.15.3 → 8.16.1: node 1/3 restarting (logs-es-2)"
    );
    assert_eq!(op.type_, "Upgrading");
    assert_eq!(
        op.message,
        "Upgrading 8.15.3 → 8.16.1: node 1/3 restarting (logs-es-2)"
    );
    assert_eq!(op.step, "RestartingNode logs-es-2");
    println!("while it runs:\n{table}");
    // The step's start time does not move while the step stays.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let again = stack.resource().await.status.and_then(|s| s.operation);
    assert_eq!(again.map(|o| o.step_start_time), Some(op.step_start_time));
    // The node comes back, but the cluster stays yellow (replicas recovering): allocation
    // is restored, and no other pod is deleted until it is green.
    stack.sim.set_health(Health::Yellow);
    stack.kubelet.hold(false);
    wait_for(WAIT, "allocation restored after the first node", || async {
        (stack.sim.allocation_enable() == "all").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let waiting = stack.resource().await.status.and_then(|s| s.operation);
    assert_eq!(
        departures(&stack.kubelet.events()[events_before..]).len(),
        1,
        "{waiting:?}"
    );
    let waiting = waiting.expect("an operation while yellow");
    assert!(waiting.step.starts_with("WaitingForGreen"), "{waiting:?}");
    assert_eq!(
        waiting.message,
        "Upgrading 8.15.3 → 8.16.1: 1/3 nodes restarted, waiting for health green"
    );
    stack.sim.clear_health();

    // Every step of the upgrade is shown as one: the last node's too (once it is away,
    // the cluster no longer shows the old version).
    let types = std::sync::Mutex::new(std::collections::BTreeSet::new());
    wait_for(WAIT, "the upgrade to finish", || async {
        if let Some(op) = stack.resource().await.status.and_then(|s| s.operation) {
            types.lock().expect("types").insert(op.type_);
        }
        stack.finished("8.16.1").await.then_some(())
    })
    .await;
    let types = types.into_inner().expect("types");
    assert_eq!(types.into_iter().collect::<Vec<_>>(), ["Upgrading"]);
    let took = started.elapsed();
    let table = stack.get();
    println!("after:\n{table}");
    assert!(
        table.contains("Ready") && !table.contains("Upgrading"),
        "{table}"
    );

    let events = stack.kubelet.events()[events_before..].to_vec();
    let left = departures(&events);
    let order: Vec<&str> = left.iter().map(|l| l.0.as_str()).collect();
    assert_eq!(order, ["logs-es-2", "logs-es-0", "logs-es-1"], "{events:?}");
    for (node, health, allocation, _) in &left {
        assert_eq!(*health, Health::Green, "{node} deleted while {health:?}");
        assert_eq!(
            allocation, "primaries",
            "{node} deleted with allocation {allocation}"
        );
    }
    assert!(left[2].3, "the elected master went last: {left:?}");
    let joined: Vec<&NodeEvent> = events
        .iter()
        .filter(|e| matches!(e, NodeEvent::Joined { .. }))
        .collect();
    assert_eq!(joined.len(), 3, "{events:?}");
    assert!(
        joined
            .iter()
            .all(|e| matches!(e, NodeEvent::Joined { version, .. } if version == "8.16.1"))
    );

    let all = stack.sim.requests();
    let requests = restart_requests(&all);
    println!(
        "the upgrade took {:.1}s; {} Elasticsearch requests in all ({} writes), the rolling restart's:",
        took.as_secs_f64(),
        all.len(),
        all.iter().filter(|r| r.is_write()).count()
    );
    for r in &requests {
        println!("  {r}");
    }
    assert!(
        requests.iter().any(|r| r.contains("level=indices")),
        "yellow: may a restart start anyway? {requests:#?}"
    );
    let writes: Vec<&String> = requests.iter().filter(|r| !r.starts_with("GET")).collect();
    let primaries = r#"PUT /_cluster/settings {"persistent":{"cluster.routing.allocation.enable":"primaries"}}"#;
    let restore =
        r#"PUT /_cluster/settings {"persistent":{"cluster.routing.allocation.enable":null}}"#;
    let one = [primaries, "POST /_flush", restore];
    let expected: Vec<&str> = one.iter().chain(&one).chain(&one).copied().collect();
    assert_eq!(writes, expected, "{requests:#?}");

    // An event per step: each node's restart and its return.
    let restarting = wait_for(WAIT, "an event per step", || async {
        let restarting = resource::event_notes(&stack.client, &stack.ns, "RestartingNode").await;
        let back = resource::event_notes(&stack.client, &stack.ns, "NodeRestarted").await;
        (restarting.len() == 3 && back.len() == 3).then_some(restarting)
    })
    .await;
    assert!(
        restarting.contains(&"Upgrading 8.15.3 → 8.16.1: restarting node 3/3 (logs-es-1): shard allocation set to primaries, flushed, pod deleted".to_string()),
        "{restarting:#?}"
    );
    let gone = kubectl::run(
        stack.server,
        &[
            "get",
            "mlog",
            "-n",
            &stack.ns,
            NAME,
            "-o",
            "jsonpath={.status.operation}",
        ],
    );
    assert_eq!(gone, "", "status.operation is gone");

    // The operator deleted each pod once (the audit log of the API server).
    assert_eq!(
        stack.pod_deletes(),
        [
            "delete pods/logs-es-2",
            "delete pods/logs-es-0",
            "delete pods/logs-es-1"
        ]
    );

    // Steady again: nothing more, neither to Elasticsearch nor to the API server.
    let writes_before = audit::writes(stack.server, &stack.ns).len();
    stack.sim.clear_requests();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let steady = restart_requests(&stack.sim.requests());
    assert!(
        steady.is_empty(),
        "after the upgrade a steady pass sent {steady:?}"
    );
    let writes = audit::writes(stack.server, &stack.ns);
    assert!(
        writes.len() == writes_before,
        "steady, yet the operator wrote {:?}",
        &writes[writes_before..]
    );
    assert!(stack.sim.write_requests().is_empty());
    assert_eq!(
        departures(&stack.kubelet.events()[events_before..]).len(),
        3
    );
}

#[tokio::test]
async fn an_operator_killed_after_each_step_resumes_and_restarts_no_pod_twice() {
    let mut stack = Stack::start("roll-kill").await;
    stack.apply("8.15.3", json!({}));
    stack.ready().await;
    stack.elect("logs-es-1").await;
    let events_before = stack.kubelet.events().len();
    let started = Instant::now();
    // The first pass dies between its steps: allocation set to primaries, the flush fails
    // (500, not retried), no pod deleted; the operator is killed right there.
    stack.sim.inject(Fault::Status {
        status: 500,
        count: 1,
        path_prefix: Some("/_flush".into()),
    });
    // A config change: a new pod template, a restart at the same version.
    stack.apply("8.15.3", json!({"indices.memory.index_buffer_size": "20%"}));
    wait_for(
        WAIT,
        "the flush to fail with allocation at primaries",
        || async {
            let failed = stack
                .sim
                .requests()
                .iter()
                .any(|r| r.path == "/_flush" && r.status == 500);
            (failed && stack.sim.allocation_enable() == "primaries").then_some(())
        },
    )
    .await;
    stack.restart_operator().await;
    let mut restarts = 1;
    let mut types = std::collections::BTreeSet::new();
    let mut seen = (stack.kubelet.events().len(), stack.sim.allocation_enable());
    let deadline = Instant::now() + WAIT;
    while !stack.finished("8.15.3").await
        || departures(&stack.kubelet.events()[events_before..]).len() < 3
    {
        assert!(
            Instant::now() < deadline,
            "not finished: {:?}",
            stack.kubelet.events()
        );
        if let Some(op) = stack.resource().await.status.and_then(|s| s.operation) {
            types.insert(op.type_);
        }
        let now = (stack.kubelet.events().len(), stack.sim.allocation_enable());
        if now != seen {
            // A step happened (a node left or joined, allocation changed): kill the
            // operator right there.
            stack.restart_operator().await;
            restarts += 1;
            seen = (stack.kubelet.events().len(), stack.sim.allocation_enable());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    // Every operator (they share the identity) deleted each pod once, between them.
    assert_eq!(
        stack.pod_deletes(),
        [
            "delete pods/logs-es-2",
            "delete pods/logs-es-0",
            "delete pods/logs-es-1"
        ]
    );
    let left = departures(&stack.kubelet.events()[events_before..]);
    let order: Vec<&str> = left.iter().map(|l| l.0.as_str()).collect();
    println!(
        "restart with {restarts} operator kills took {:.1}s: {order:?}",
        took.as_secs_f64()
    );
    assert_eq!(order, ["logs-es-2", "logs-es-0", "logs-es-1"], "{left:?}");
    assert!(left[2].3, "the elected master went last: {left:?}");
    for (node, health, allocation, _) in &left {
        assert_eq!(*health, Health::Green, "{node} deleted while {health:?}");
        assert_eq!(allocation, "primaries", "{node}");
    }
    assert!(restarts >= 6, "killed after each step: {restarts}");
    // The same version: a restart, not an upgrade.
    assert_eq!(types.into_iter().collect::<Vec<_>>(), ["Restarting"]);
    // The node whose restart died before its pod was deleted was restarted once, later.
    assert!(
        stack
            .sim
            .requests()
            .iter()
            .filter(|r| r.path == "/_flush")
            .count()
            >= 4,
        "the failed flush and one per node"
    );
    // Nothing more once finished.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        departures(&stack.kubelet.events()[events_before..]).len(),
        3
    );
    let op = stack.resource().await.status.and_then(|s| s.operation);
    assert!(op.is_none(), "{op:?}");
}
