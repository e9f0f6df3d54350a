//! The controller against a real API server and the Elasticsearch stand-in. The tests play
//! the kubelet's part by patching workload status.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use es_sim::{EsSim, Fault, Health};
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use meshlogging_operator::api::MeshLogging;
use meshlogging_operator::controller::Settings;
use meshlogging_operator::naming as names;
use meshlogging_testkit::apiserver::ApiServer;
use meshlogging_testkit::sim::SimEndpoint;
use meshlogging_testkit::{Kubelet, Setup, audit, example, kubectl, operator, resource, wait_for};
use serde_json::json;

const WAIT: Duration = resource::WAIT;

/// The name of the resource of `examples/minimal.yaml`.
const MINIMAL: &str = "mesh-logs";

async fn sim() -> EsSim {
    meshlogging_testkit::sim::es_sim(3).await
}

/// What most tests start with: the API server, an admin client, a fresh namespace, a
/// stand-in of 3 nodes, and the operator for the namespace, in that order.
struct Stack(
    &'static ApiServer,
    kube::Client,
    String,
    EsSim,
    operator::Running,
);

impl Stack {
    /// The operator for a fresh namespace, with the tests' settings changed by `tweak`.
    async fn start(prefix: &str, tweak: impl FnOnce(&mut Settings)) -> Stack {
        let Setup { server, client, ns } = Setup::new(prefix).await;
        let sim = sim().await;
        let mut settings = operator::settings(&ns);
        tweak(&mut settings);
        let endpoint = Arc::new(SimEndpoint::new(&sim));
        let op = operator::start_with(server, settings, endpoint, &ns).await;
        Stack(server, client, ns, sim, op)
    }

    /// [`Stack::start`], then `examples/minimal.yaml` applied with kubectl and Ready.
    async fn minimal_ready(
        prefix: &str,
        tweak: impl FnOnce(&mut Settings),
    ) -> (Stack, MeshLogging) {
        let stack = Stack::start(prefix, tweak).await;
        kubectl::apply_example(stack.0, &stack.2, "minimal.yaml");
        let ready = wait_ready(&stack.1, &stack.2, MINIMAL).await;
        (stack, ready)
    }
}

/// A namespaced Kubernetes object of a built-in kind.
trait Namespaced:
    Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
{
}

impl<K> Namespaced for K where
    K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
{
}

async fn get<K: Namespaced>(client: &kube::Client, ns: &str, name: &str) -> Option<K> {
    Api::<K>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .expect("get")
}

/// Waits for the child `name` of kind `K` and asserts the resource `uid` controls it.
async fn owned_child<K: Namespaced>(client: &kube::Client, ns: &str, uid: &str, name: &str) -> K {
    let child: K = wait_for(WAIT, name, || get(client, ns, name)).await;
    let owned = child
        .meta()
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == uid && o.controller == Some(true));
    assert!(
        owned,
        "{name} owned by {uid}: {:?}",
        child.meta().owner_references
    );
    child
}

fn condition(ml: &MeshLogging, type_: &str) -> Option<(String, String, String)> {
    ml.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

async fn wait_ready(client: &kube::Client, ns: &str, name: &str) -> MeshLogging {
    resource::wait_ready(client, ns, name, "Ready=True").await
}

#[tokio::test]
async fn production_example_becomes_a_ready_stack() {
    let Stack(server, client, ns, sim, op) = Stack::start("prod", |_| {}).await;
    resource::production_s3_secret(&client, &ns).await;
    kubectl::apply_example(server, &ns, "production.yaml");
    let name = "mcp-mesh-logs";

    // Every child exists, owned by the resource, with the key fields of the spec.
    let ml: MeshLogging = wait_for(WAIT, "the finalizer", || async {
        let ml: MeshLogging = get(&client, &ns, name).await?;
        ml.finalizers()
            .iter()
            .any(|f| f == "logging.mcp-mesh.io/cleanup")
            .then_some(ml)
    })
    .await;
    let uid = ml.uid().expect("uid");
    let sts: StatefulSet = owned_child(&client, &ns, &uid, "mcp-mesh-logs-es").await;
    let spec = sts.spec.clone().expect("spec");
    assert_eq!(spec.replicas, Some(3));
    let pvc = &spec.volume_claim_templates.expect("pvc templates")[0];
    let pvc_spec = pvc.spec.clone().expect("pvc spec");
    assert_eq!(pvc_spec.storage_class_name.as_deref(), Some("fast-ssd"));
    assert_eq!(
        pvc_spec
            .resources
            .and_then(|r| r.requests)
            .and_then(|r| r.get("storage").cloned())
            .map(|q| q.0),
        Some("100Gi".to_string())
    );
    let affinity = spec
        .template
        .spec
        .clone()
        .and_then(|p| p.affinity)
        .and_then(|a| a.pod_anti_affinity);
    assert!(
        affinity
            .and_then(|a| a.required_during_scheduling_ignored_during_execution)
            .is_some(),
        "hard anti-affinity"
    );
    for svc in [
        "mcp-mesh-logs-es-nodes",
        "mcp-mesh-logs-es-http",
        "mcp-mesh-logs-kibana",
    ] {
        owned_child::<Service>(&client, &ns, &uid, svc).await;
    }
    owned_child::<PodDisruptionBudget>(&client, &ns, &uid, "mcp-mesh-logs-es").await;
    for cm in [
        "mcp-mesh-logs-es-config",
        "mcp-mesh-logs-kibana-config",
        "mcp-mesh-logs-collector",
    ] {
        owned_child::<ConfigMap>(&client, &ns, &uid, cm).await;
    }
    let kibana: Deployment = owned_child(&client, &ns, &uid, "mcp-mesh-logs-kibana").await;
    assert_eq!(kibana.spec.and_then(|s| s.replicas), Some(2));
    let ingress: Ingress = owned_child(&client, &ns, &uid, "mcp-mesh-logs-kibana").await;
    let ingress_spec = ingress.spec.expect("ingress spec");
    assert_eq!(ingress_spec.ingress_class_name.as_deref(), Some("nginx"));
    assert_eq!(
        ingress_spec.rules.expect("rules")[0].host.as_deref(),
        Some("kibana.mcp-mesh.local")
    );
    owned_child::<DaemonSet>(&client, &ns, &uid, "mcp-mesh-logs-collector").await;
    owned_child::<ServiceAccount>(&client, &ns, &uid, "mcp-mesh-logs-collector").await;
    let crb: ClusterRoleBinding = wait_for(WAIT, "ClusterRoleBinding", || async {
        Api::<ClusterRoleBinding>::all(client.clone())
            .get_opt(&names::collector_cluster_role_binding(name, &ns))
            .await
            .ok()
            .flatten()
    })
    .await;
    assert_eq!(crb.role_ref.name, "meshlogging-collector");
    assert_eq!(
        crb.annotations()
            .get("logging.mcp-mesh.io/owner-uid")
            .map(String::as_str),
        Some(uid.as_str()),
        "the binding names its owner"
    );
    assert!(
        crb.metadata.owner_references.is_none(),
        "cluster-scoped: no namespaced owner"
    );

    let elastic: Secret = owned_child(&client, &ns, &uid, "mcp-mesh-logs-es-elastic-user").await;
    for secret in [
        "mcp-mesh-logs-es-file-realm",
        "mcp-mesh-logs-ca",
        "mcp-mesh-logs-es-http-certs",
        "mcp-mesh-logs-es-transport-certs",
        "mcp-mesh-logs-kibana-user",
        "mcp-mesh-logs-collector-user",
    ] {
        owned_child::<Secret>(&client, &ns, &uid, secret).await;
    }

    // No node is Ready yet: the status says so, and Elasticsearch is not asked (its
    // Service would have no endpoint to answer).
    wait_for(WAIT, "NodesNotReady", || async {
        let ml: MeshLogging = get(&client, &ns, name).await?;
        let es = condition(&ml, "ElasticsearchReady")?;
        (es.1 == "NodesNotReady").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(sim.requests().is_empty(), "{:?}", sim.requests());

    // The kubelet reports pods ready and Elasticsearch is green: Ready.
    sim.set_health(Health::Green);
    let ml = wait_ready(&client, &ns, name).await;
    let status = ml.status.clone().expect("status");
    assert_eq!(status.observed_generation, ml.metadata.generation);
    assert_eq!(status.phase.map(|p| p.as_str()), Some("Ready"));
    for c in &status.conditions {
        // No log reaches the stand-in: LogsFlowing waits for one (tests/pipeline_status.rs).
        // No Kibana here: DashboardsReady says so, Unknown (tests/dashboards.rs has one).
        // No day-2 operation runs: Progressing is False (tests/day2.rs).
        let want = match c.type_.as_str() {
            "LogsFlowing" | "DashboardsReady" => "Unknown",
            "Progressing" => "False",
            _ => "True",
        };
        assert_eq!(c.status, want, "{c:?}");
        assert_eq!(c.observed_generation, ml.metadata.generation);
    }
    let applied = status.applied.expect("applied");
    assert_eq!(applied.write_alias.as_deref(), Some("mcp-mesh-logs"));
    assert_eq!(applied.slm_policies, ["daily-snapshots"]);

    // The configuration is in Elasticsearch.
    sim.with_state(|s| {
        assert!(s.ilm_policies.contains_key("mcp-mesh-logs"));
        assert!(s.index_templates.contains_key("mcp-mesh-logs"));
        assert!(s.indices.contains_key("mcp-mesh-logs-000001"));
        assert!(s.repositories.contains_key("mcp_mesh_backup"));
        assert!(s.slm_policies.contains_key("daily-snapshots"));
        assert!(s.users.contains_key("mcp-mesh-logs-collector"));
    });

    // `kubectl get meshlogging` shows it.
    let out = kubectl::output(server, &["get", "meshlogging", "-n", &ns]);
    let table = String::from_utf8_lossy(&out.stdout);
    let row = table.lines().nth(1).expect("row");
    for column in ["mcp-mesh-logs", "8.15.3", "green", "Ready", "True", "3/3"] {
        assert!(
            row.split_whitespace().any(|c| c == column),
            "{column} missing in {row:?}"
        );
    }

    // The generated password is never regenerated.
    let before = elastic.data.clone();
    let rv = elastic.resource_version();
    tokio::time::sleep(Duration::from_secs(5)).await; // two Ready resyncs
    let after: Secret = get(&client, &ns, "mcp-mesh-logs-es-elastic-user")
        .await
        .expect("secret");
    assert_eq!(after.data, before);
    assert_eq!(after.resource_version(), rv);

    // Secrets never reach status or events.
    let password = String::from_utf8(before.expect("data")["elastic"].0.clone()).expect("utf8");
    let ml: MeshLogging = get(&client, &ns, name).await.expect("ml");
    assert!(
        !serde_json::to_string(&ml.status)
            .expect("json")
            .contains(&password)
    );
    let events = kubectl::output(server, &["get", "events", "-n", &ns, "-o", "json"]);
    let events = String::from_utf8_lossy(&events.stdout);
    assert!(
        events.contains("ElasticsearchConfigured"),
        "events were published"
    );
    assert!(!events.contains(&password));
    op.stop().await;
}

#[tokio::test]
async fn drift_is_restored_and_an_idle_reconcile_writes_nothing() {
    let (Stack(server, client, ns, sim, op), _) = Stack::minimal_ready("drift", |_| {}).await;

    // Idle: with nothing to change, reconciles (every 2s when Ready) write nothing, to the
    // API server or to Elasticsearch. Reads show they ran.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let api_writes = audit::writes(server, &op.identity).len();
    assert!(
        api_writes > 10,
        "the audit log shows the operator's writes: {api_writes}"
    );
    sim.clear_requests();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let new_writes: Vec<String> = audit::writes(server, &op.identity)[api_writes..].to_vec();
    assert_eq!(new_writes, Vec::<String>::new(), "API writes while idle");
    assert!(
        sim.requests().len() >= 10,
        "reconciles ran: {} ES requests",
        sim.requests().len()
    );
    assert_eq!(sim.write_requests().len(), 0, "{:?}", sim.write_requests());
    eprintln!(
        "setup: {api_writes} API writes; idle for 7s: {} Elasticsearch reads, 0 writes; 0 API writes",
        sim.requests().len()
    );

    // Drift: a deleted Service comes back; a hand-scaled StatefulSet is scaled back.
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    let before = services
        .get("mesh-logs-es-http")
        .await
        .expect("service")
        .uid();
    services
        .delete("mesh-logs-es-http", &DeleteParams::default())
        .await
        .expect("delete service");
    wait_for(WAIT, "Service restored", || async {
        let s = services.get_opt("mesh-logs-es-http").await.ok()??;
        (s.uid() != before).then_some(())
    })
    .await;
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    sts.patch(
        "mesh-logs-es",
        &PatchParams::apply("someone-else").force(),
        &Patch::Apply(
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {"replicas": 7}}),
        ),
    )
    .await
    .expect("scale by hand");
    wait_for(WAIT, "replicas back to 3", || async {
        let s = sts.get("mesh-logs-es").await.ok()?;
        (s.spec?.replicas == Some(3)).then_some(())
    })
    .await;

    // Drift in what the operator's caches do not keep (the pod template, a ConfigMap's
    // data; compared against the whole object once per version) is restored as well.
    let image = |s: &StatefulSet| {
        s.spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|p| {
                p.containers
                    .iter()
                    .find(|c| c.name == "elasticsearch")
                    .and_then(|c| c.image.clone())
            })
    };
    let rendered = image(&sts.get("mesh-logs-es").await.expect("sts")).expect("image");
    sts.patch(
        "mesh-logs-es",
        &PatchParams::apply("someone-else").force(),
        &Patch::Apply(
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {
            "template": {"spec": {"containers": [
                {"name": "elasticsearch", "image": "example.org/not-elasticsearch:1"}
            ]}}}}),
        ),
    )
    .await
    .expect("change the image by hand");
    wait_for(WAIT, "image restored", || async {
        let s = sts.get("mesh-logs-es").await.ok()?;
        (image(&s).as_deref() == Some(rendered.as_str())).then_some(())
    })
    .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let config = |c: &ConfigMap| {
        c.data
            .as_ref()
            .and_then(|d| d.get("elasticsearch.yml").cloned())
    };
    let rendered = config(&config_maps.get("mesh-logs-es-config").await.expect("cm"));
    config_maps
        .patch(
            "mesh-logs-es-config",
            &PatchParams::apply("someone-else").force(),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "data": {"elasticsearch.yml": "cluster.name: hijacked\n"}})),
        )
        .await
        .expect("edit the config by hand");
    wait_for(WAIT, "elasticsearch.yml restored", || async {
        let c = config_maps.get("mesh-logs-es-config").await.ok()?;
        (config(&c) == rendered).then_some(())
    })
    .await;
    // The pass that restored it also announces it (an event, the status): once those
    // landed, nothing more (a write loop would never settle).
    let settled = audit::settled(server, &op.identity).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        audit::writes(server, &op.identity)[settled..].to_vec(),
        Vec::<String>::new(),
        "API writes once the drift was restored"
    );

    // Elasticsearch drift is restored on the periodic re-check.
    sim.with_state(|s| {
        s.ilm_policies.remove("mcp-mesh-logs");
    });
    wait_for(WAIT, "ILM policy restored", || async {
        sim.with_state(|s| s.ilm_policies.contains_key("mcp-mesh-logs"))
            .then_some(())
    })
    .await;
    op.stop().await;
}

#[tokio::test]
async fn a_spec_change_flows_to_children_and_elasticsearch() {
    let (Stack(_, client, ns, sim, op), ready) = Stack::minimal_ready("change", |_| {}).await;
    let name = MINIMAL;

    let api: Api<MeshLogging> = Api::namespaced(client.clone(), &ns);
    let patch = json!({"spec": {
        "elasticsearch": {"replicas": 5},
        "lifecycle": {"delete": {"minAge": "14d"}},
        "snapshots": {
            "repositories": [{"name": "local", "type": "fs", "settings": {"location": "/snapshots/mesh"}}],
            "policies": [{"name": "hourly", "schedule": "0 0 * * * ?", "repository": "local"}]
        }
    }});
    let changed = api
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .expect("patch spec");
    assert!(changed.metadata.generation > ready.metadata.generation);

    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    wait_for(WAIT, "5 replicas", || async {
        (sts.get("mesh-logs-es").await.ok()?.spec?.replicas == Some(5)).then_some(())
    })
    .await;
    let ml = wait_for(WAIT, "observedGeneration and Ready", || async {
        Kubelet::new(&client, &ns).mark_ready(name).await;
        let ml = api.get(name).await.ok()?;
        let s = ml.status.clone()?;
        let ready = condition(&ml, "Ready").map(|c| c.0).as_deref() == Some("True");
        (ready && s.observed_generation == changed.metadata.generation).then_some(ml)
    })
    .await;
    assert_eq!(
        ml.status
            .as_ref()
            .and_then(|s| s.elasticsearch.as_ref())
            .and_then(|e| e.ready.clone())
            .as_deref(),
        Some("5/5")
    );
    sim.with_state(|s| {
        assert_eq!(
            s.ilm_policies["mcp-mesh-logs"].policy["phases"]["delete"]["min_age"],
            "14d"
        );
        assert!(s.repositories.contains_key("local"));
        assert_eq!(s.slm_policies["hourly"].policy["schedule"], "0 0 * * * ?");
    });
    op.stop().await;
}

#[tokio::test]
async fn unreachable_elasticsearch_is_reported_and_recovered_from() {
    let Stack(server, client, ns, sim, op) = Stack::start("unreach", |_| {}).await;
    sim.inject(Fault::RefuseConnections);
    kubectl::apply_example(server, &ns, "minimal.yaml");
    let name = MINIMAL;
    let api: Api<MeshLogging> = Api::namespaced(client.clone(), &ns);

    let ml = wait_for(WAIT, "ElasticsearchUnreachable", || async {
        Kubelet::new(&client, &ns).mark_ready(name).await;
        let ml = api.get(name).await.ok()?;
        let ready = condition(&ml, "Ready")?;
        (ready.0 == "False" && ready.1 == "ElasticsearchUnreachable").then_some(ml)
    })
    .await;
    // The workloads are applied all the same.
    assert!(
        get::<StatefulSet>(&client, &ns, "mesh-logs-es")
            .await
            .is_some()
    );
    assert!(
        get::<DaemonSet>(&client, &ns, "mesh-logs-collector")
            .await
            .is_some()
    );
    let es = condition(&ml, "ElasticsearchReady").expect("ElasticsearchReady");
    assert_eq!(
        (es.0.as_str(), es.1.as_str()),
        ("False", "ElasticsearchUnreachable")
    );
    assert!(es.2.contains("unreachable"), "{}", es.2);
    assert_eq!(
        ml.status
            .and_then(|s| s.elasticsearch)
            .and_then(|e| e.health)
            .as_deref(),
        Some("unknown")
    );

    sim.clear_faults();
    wait_ready(&client, &ns, name).await;
    op.stop().await;
}

async fn delete_and_wait(client: &kube::Client, ns: &str, name: &str) {
    resource::delete_and_wait(client, ns, name, "MeshLogging gone (finalizer removed)").await
}

async fn pvc(client: &kube::Client, ns: &str, name: &str) -> String {
    let pvc_name = format!("data-{name}-es-0");
    let pvc: PersistentVolumeClaim = serde_json::from_value(json!({
        "metadata": {"name": pvc_name, "labels": {
            "app.kubernetes.io/name": "elasticsearch", "app.kubernetes.io/instance": name}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    }))
    .expect("pvc");
    Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &pvc)
        .await
        .expect("create pvc");
    pvc_name
}

#[tokio::test]
async fn deletion_with_retain_keeps_the_data_and_removes_the_rest() {
    let (Stack(_, client, ns, sim, op), _) = Stack::minimal_ready("retain", |_| {}).await;
    let name = MINIMAL;
    let pvc_name = pvc(&client, &ns, name).await;

    delete_and_wait(&client, &ns, name).await;
    let kept: Option<PersistentVolumeClaim> = get(&client, &ns, &pvc_name).await;
    assert!(
        kept.expect("PVC kept")
            .metadata
            .deletion_timestamp
            .is_none()
    );
    let crb = Api::<ClusterRoleBinding>::all(client.clone())
        .get_opt(&names::collector_cluster_role_binding(name, &ns))
        .await
        .expect("get");
    assert!(crb.is_none(), "ClusterRoleBinding deleted");
    // The Elasticsearch objects this resource owned are gone; the ILM policy stays while
    // the retained indices use it.
    sim.with_state(|s| {
        assert!(s.index_templates.is_empty());
        assert!(
            s.component_templates
                .keys()
                .all(|k| !k.starts_with("mcp-mesh-logs"))
        );
        assert!(
            s.indices.contains_key("mcp-mesh-logs-000001"),
            "data retained"
        );
        assert!(!s.users.contains_key("mcp-mesh-logs-collector"));
    });
    op.stop().await;
}

#[tokio::test]
async fn deletion_with_delete_removes_the_data() {
    let Stack(_, client, ns, sim, op) = Stack::start("delete", |_| {}).await;
    let mut ml = example("minimal.yaml");
    ml.spec.deletion_policy = meshlogging_operator::api::DeletionPolicy::Delete;
    Api::<MeshLogging>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &ml)
        .await
        .expect("create");
    let name = MINIMAL;
    wait_ready(&client, &ns, name).await;
    let pvc_name = pvc(&client, &ns, name).await;

    delete_and_wait(&client, &ns, name).await;
    // Without a PVC-protection controller the claim keeps its finalizer; what matters is
    // that it was deleted.
    let gone: Option<PersistentVolumeClaim> = get(&client, &ns, &pvc_name).await;
    assert!(
        gone.is_none_or(|p| p.metadata.deletion_timestamp.is_some()),
        "PVC deleted"
    );
    sim.with_state(|s| {
        assert!(
            s.indices.is_empty(),
            "indices deleted: {:?}",
            s.indices.keys().collect::<Vec<_>>()
        );
        assert!(s.ilm_policies.keys().all(|k| k != "mcp-mesh-logs"));
    });
    op.stop().await;
}

#[tokio::test]
async fn deletion_gives_up_on_a_vanished_elasticsearch_within_the_bound() {
    let (Stack(server, client, ns, sim, op), _) = Stack::minimal_ready("gone", |_| {}).await;
    let name = MINIMAL;
    sim.inject(Fault::RefuseConnections);
    let start = std::time::Instant::now();
    delete_and_wait(&client, &ns, name).await;
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
    let events = kubectl::output(server, &["get", "events", "-n", &ns, "-o", "json"]);
    assert!(String::from_utf8_lossy(&events.stdout).contains("CleanupIncomplete"));
    op.stop().await;
}

#[tokio::test]
async fn an_operator_killed_mid_reconcile_converges_after_restart() {
    let Setup { server, client, ns } = Setup::new("restart").await;
    let sim = sim().await;
    resource::production_s3_secret(&client, &ns).await;
    // Slow Elasticsearch, so the kill lands in the middle of a pass.
    sim.inject(Fault::Latency(Duration::from_millis(150)));
    sim.set_health(Health::Green);
    let first = operator::start(server, &ns, &sim, &format!("{ns}-a")).await;
    kubectl::apply_example(server, &ns, "production.yaml");
    let name = "mcp-mesh-logs";
    wait_for(WAIT, "first Elasticsearch writes", || async {
        Kubelet::new(&client, &ns).mark_ready(name).await;
        (!sim.write_requests().is_empty()).then_some(())
    })
    .await;
    first.kill();
    sim.clear_faults();

    let second = operator::start(server, &ns, &sim, &format!("{ns}-b")).await;
    let ml = wait_ready(&client, &ns, name).await;
    assert_eq!(
        ml.status
            .and_then(|s| s.applied)
            .and_then(|a| a.write_index)
            .as_deref(),
        Some("mcp-mesh-logs-000001")
    );
    sim.with_state(|s| {
        let indices: Vec<&String> = s.indices.keys().collect();
        assert_eq!(
            indices,
            ["mcp-mesh-logs-000001", "mcp-mesh-logs-deadletter"],
            "one bootstrap index, one dead-letter index"
        );
        assert!(s.slm_policies.contains_key("daily-snapshots"));
    });
    let secrets = Api::<Secret>::namespaced(client.clone(), &ns)
        .list(&Default::default())
        .await
        .expect("secrets");
    let generated = secrets
        .items
        .iter()
        .filter(|s| s.name_any().starts_with("mcp-mesh-logs-"))
        .count();
    // Nine, and the operator's own Kibana user's (dashboards).
    assert_eq!(generated, 10, "each generated Secret exists once");
    second.stop().await;
}

#[tokio::test]
async fn a_child_the_api_server_refuses_is_reported_not_retried_blindly() {
    let (Stack(_, client, ns, _sim, op), _) = Stack::minimal_ready("refused", |_| {}).await;
    let name = MINIMAL;

    // Storage was defaulted (10Gi, the default class); naming a class now changes the
    // StatefulSet's immutable volume claim templates, which the API server refuses. (A
    // larger size is a volume expansion instead: tests/day2.rs.)
    let api: Api<MeshLogging> = Api::namespaced(client.clone(), &ns);
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"elasticsearch": {"storage":
            {"size": "10Gi", "storageClassName": "standard"}}}})),
    )
    .await
    .expect("patch");
    let ml = wait_for(WAIT, "ApplyRejected", || async {
        let ml = api.get(name).await.ok()?;
        let ready = condition(&ml, "Ready")?;
        (ready.1 == "ApplyRejected").then_some(ml)
    })
    .await;
    let ready = condition(&ml, "Ready").expect("Ready");
    assert_eq!(ready.0, "False");
    assert!(ready.2.contains("StatefulSet/mesh-logs-es"), "{}", ready.2);
    assert!(ready.2.contains("Forbidden"), "{}", ready.2);
    assert_eq!(
        ml.status.and_then(|s| s.phase).map(|p| p.as_str()),
        Some("Degraded")
    );
    // Everything else is still applied and the StatefulSet is not pruned.
    assert!(
        get::<StatefulSet>(&client, &ns, "mesh-logs-es")
            .await
            .is_some()
    );
    op.stop().await;
}

/// Issue 11, item 3: objects that exist with a child's name are someone else's. A
/// ServiceAccount and a ConfigMap `<name>-collector` and a ClusterRoleBinding of the
/// collector binding's name, made by someone else, are neither patched nor deleted: `Ready`
/// says `Conflict` naming each, and everything else is applied.
#[tokio::test]
async fn objects_of_a_childs_name_that_exist_are_not_taken_over() {
    let Stack(server, client, ns, _sim, op) = Stack::start("takeover", |_| {}).await;
    let name = MINIMAL;
    let binding = names::collector_cluster_role_binding(name, &ns);
    let sa: ServiceAccount = serde_json::from_value(json!({
        "metadata": {"name": "mesh-logs-collector", "labels": {"team": "a"}}
    }))
    .expect("sa");
    Api::<ServiceAccount>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &sa)
        .await
        .expect("someone's ServiceAccount");
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "mesh-logs-collector"}, "data": {"mine": "yes"}
    }))
    .expect("cm");
    Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &cm)
        .await
        .expect("someone's ConfigMap");
    let crb: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": binding},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "someone", "namespace": "elsewhere"}]
    }))
    .expect("crb");
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    bindings
        .create(&PostParams::default(), &crb)
        .await
        .expect("someone's ClusterRoleBinding");

    kubectl::apply_example(server, &ns, "minimal.yaml");
    let api: Api<MeshLogging> = Api::namespaced(client.clone(), &ns);
    let ml = wait_for(WAIT, "Ready=False Conflict", || async {
        Kubelet::new(&client, &ns).mark_ready(name).await;
        let ml = api.get(name).await.ok()?;
        (condition(&ml, "Ready")?.1 == "Conflict").then_some(ml)
    })
    .await;
    let ready = condition(&ml, "Ready").expect("Ready");
    assert_eq!(ready.0, "False");
    for object in [
        "ServiceAccount/mesh-logs-collector".to_string(),
        "ConfigMap/mesh-logs-collector".to_string(),
        format!("ClusterRoleBinding/{binding}"),
    ] {
        assert!(ready.2.contains(&object), "{object} in {:?}", ready.2);
    }
    // The rest is applied.
    for sts in ["mesh-logs-es"] {
        assert!(
            get::<StatefulSet>(&client, &ns, sts).await.is_some(),
            "{sts}"
        );
    }
    assert!(
        get::<DaemonSet>(&client, &ns, "mesh-logs-collector")
            .await
            .is_some()
    );

    // Someone else's objects are as they were: no owner reference, their fields, and not
    // one write of the operator to them.
    let sa: ServiceAccount = get(&client, &ns, "mesh-logs-collector").await.expect("sa");
    assert!(sa.metadata.owner_references.is_none(), "{sa:?}");
    assert_eq!(sa.labels().get("team").map(String::as_str), Some("a"));
    let cm: ConfigMap = get(&client, &ns, "mesh-logs-collector").await.expect("cm");
    assert!(cm.metadata.owner_references.is_none(), "{cm:?}");
    assert_eq!(
        cm.data,
        Some(BTreeMap::from([("mine".to_string(), "yes".to_string())]))
    );
    let crb = bindings.get(&binding).await.expect("crb");
    assert_eq!(crb.role_ref.name, "view");
    assert_eq!(
        crb.subjects.expect("subjects")[0].namespace.as_deref(),
        Some("elsewhere")
    );
    let touched: Vec<String> = audit::writes(server, &op.identity)
        .into_iter()
        .filter(|w| {
            w.ends_with("serviceaccounts/mesh-logs-collector")
                || w.ends_with("configmaps/mesh-logs-collector")
                || w.ends_with(&format!("clusterrolebindings/{binding}"))
        })
        .collect();
    assert_eq!(
        touched,
        Vec::<String>::new(),
        "writes to someone else's objects"
    );

    // Deleting the resource leaves someone else's binding in place.
    delete_and_wait(&client, &ns, name).await;
    let crb = bindings.get_opt(&binding).await.expect("get");
    assert!(crb.is_some(), "someone else's ClusterRoleBinding kept");
    bindings
        .delete(&binding, &DeleteParams::default())
        .await
        .expect("clean up");
    op.stop().await;
}

/// Issue 11, item 3: `team`/`prod-logs` and `team-prod`/`logs` used to share the collector
/// binding `meshlogging-collector-team-prod-logs`: the second took it over, and deleting
/// either deleted the other's. Now each has its own, and deletion removes only its own.
#[tokio::test]
async fn lookalike_namespaces_and_names_get_their_own_collector_bindings() {
    let Setup { server, client, ns } = Setup::new("team").await;
    let team = ns;
    let team_prod = format!("{team}-prod");
    let namespace: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(json!({"metadata": {"name": team_prod}})).expect("ns");
    Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .expect("namespace");
    let (sim_a, sim_b) = (sim().await, sim().await);
    let op_a = operator::start(server, &team, &sim_a, &team).await;
    let op_b = operator::start(server, &team_prod, &sim_b, &team_prod).await;
    let (a, b) = ("prod-logs", "logs");
    for (ns, name) in [(&team, a), (&team_prod, b)] {
        let mut ml = example("minimal.yaml");
        ml.metadata.name = Some(name.to_string());
        Api::<MeshLogging>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &ml)
            .await
            .expect("create");
    }
    wait_ready(&client, &team, a).await;
    wait_ready(&client, &team_prod, b).await;

    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    let (binding_a, binding_b) = (
        names::collector_cluster_role_binding(a, &team),
        names::collector_cluster_role_binding(b, &team_prod),
    );
    assert_ne!(binding_a, binding_b);
    let subject = |crb: ClusterRoleBinding| {
        let s = crb.subjects.expect("subjects").remove(0);
        (s.name, s.namespace.unwrap_or_default())
    };
    let crb_a = bindings.get(&binding_a).await.expect("A's binding");
    assert_eq!(
        subject(crb_a),
        (format!("{a}-collector"), team.clone()),
        "A's binding binds A's collector"
    );
    let crb_b = bindings.get(&binding_b).await.expect("B's binding");
    assert_eq!(
        subject(crb_b),
        (format!("{b}-collector"), team_prod.clone())
    );

    // Deleting A leaves B's binding alone.
    delete_and_wait(&client, &team, a).await;
    assert!(bindings.get_opt(&binding_a).await.expect("get").is_none());
    let crb_b = bindings.get_opt(&binding_b).await.expect("get");
    assert_eq!(
        crb_b.map(subject),
        Some((format!("{b}-collector"), team_prod.clone())),
        "B's binding survives A's deletion"
    );
    delete_and_wait(&client, &team_prod, b).await;
    assert!(bindings.get_opt(&binding_b).await.expect("get").is_none());
    op_a.stop().await;
    op_b.stop().await;
}

/// The certificate in `tls.crt` of `data` is signed by the key of the CA in `ca_pem`.
fn signed_by(data: &BTreeMap<String, ByteString>, ca_pem: &str) -> bool {
    let text = |key: &str| String::from_utf8(data.get(key)?.0.clone()).ok();
    let Some(cert) = text("tls.crt") else {
        return false;
    };
    let (_, ca) = x509_parser::pem::parse_x509_pem(ca_pem.as_bytes()).expect("ca pem");
    let ca = ca.parse_x509().expect("ca");
    let (_, leaf) = x509_parser::pem::parse_x509_pem(cert.as_bytes()).expect("leaf pem");
    let leaf = leaf.parse_x509().expect("leaf");
    text("ca.crt").as_deref() == Some(ca_pem)
        && leaf.verify_signature(Some(ca.public_key())).is_ok()
}

fn secret_text(secret: &Secret, key: &str) -> String {
    let data = secret.data.as_ref().expect("data");
    String::from_utf8(data[key].0.clone()).expect("utf8")
}

fn template_hash<T>(annotations: Option<&BTreeMap<String, String>>, what: T) -> String
where
    T: std::fmt::Display,
{
    annotations
        .and_then(|a| a.get("logging.mcp-mesh.io/config-hash"))
        .cloned()
        .unwrap_or_else(|| panic!("{what} has no config hash"))
}

async fn es_template_hash(client: &kube::Client, ns: &str) -> String {
    let sts: StatefulSet = get(client, ns, "mesh-logs-es").await.expect("sts");
    let meta = sts.spec.and_then(|s| s.template.metadata);
    template_hash(
        meta.as_ref().and_then(|m| m.annotations.as_ref()),
        "StatefulSet",
    )
}

async fn collector_template_hash(client: &kube::Client, ns: &str) -> String {
    let ds: DaemonSet = get(client, ns, "mesh-logs-collector").await.expect("ds");
    let meta = ds.spec.and_then(|s| s.template.metadata);
    template_hash(
        meta.as_ref().and_then(|m| m.annotations.as_ref()),
        "DaemonSet",
    )
}

/// Issue 11, item 4: rotation as the README describes it. Deleting the operator's password
/// Secret regenerates the file realm with a hash of the new password (it kept the old hash:
/// 401 forever) and rolls the nodes; deleting the CA regenerates the HTTP and transport
/// certificates from the new CA (they stayed signed by the old one) and rolls the collector.
#[tokio::test]
async fn deleting_a_source_secret_regenerates_the_secrets_derived_from_it() {
    let (Stack(_, client, ns, _sim, op), _) = Stack::minimal_ready("rotate", |_| {}).await;
    let name = MINIMAL;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);

    // The operator's password.
    let user = secrets
        .get("mesh-logs-es-operator-user")
        .await
        .expect("user");
    let realm_before = secret_text(
        &secrets.get("mesh-logs-es-file-realm").await.expect("realm"),
        "users",
    );
    let es_hash = es_template_hash(&client, &ns).await;
    secrets
        .delete("mesh-logs-es-operator-user", &DeleteParams::default())
        .await
        .expect("delete the password");
    let password = wait_for(WAIT, "a new password", || async {
        let s = secrets.get_opt("mesh-logs-es-operator-user").await.ok()??;
        (s.uid() != user.uid()).then(|| secret_text(&s, "password"))
    })
    .await;
    let realm = wait_for(WAIT, "the file realm regenerated", || async {
        let s = secrets.get_opt("mesh-logs-es-file-realm").await.ok()??;
        let users = secret_text(&s, "users");
        (users != realm_before).then_some(users)
    })
    .await;
    let hash = realm
        .trim()
        .strip_prefix("meshlogging-operator:")
        .expect("the operator's user");
    assert!(
        bcrypt::verify(&password, hash).expect("bcrypt"),
        "the file realm verifies the new password"
    );
    wait_for(WAIT, "the nodes roll", || async {
        (es_template_hash(&client, &ns).await != es_hash).then_some(())
    })
    .await;

    // The CA.
    let ca = secrets.get("mesh-logs-ca").await.expect("ca");
    let old_ca = secret_text(&ca, "ca.crt");
    let collector_hash = collector_template_hash(&client, &ns).await;
    secrets
        .delete("mesh-logs-ca", &DeleteParams::default())
        .await
        .expect("delete the CA");
    let new_ca = wait_for(WAIT, "a new CA", || async {
        let s = secrets.get_opt("mesh-logs-ca").await.ok()??;
        (s.uid() != ca.uid()).then(|| secret_text(&s, "ca.crt"))
    })
    .await;
    assert_ne!(new_ca, old_ca);
    for certs in ["mesh-logs-es-http-certs", "mesh-logs-es-transport-certs"] {
        wait_for(WAIT, &format!("{certs} signed by the new CA"), || async {
            let s = secrets.get_opt(certs).await.ok()??;
            signed_by(s.data.as_ref()?, &new_ca).then_some(())
        })
        .await;
    }
    wait_for(WAIT, "the collector rolls to trust the new CA", || async {
        (collector_template_hash(&client, &ns).await != collector_hash).then_some(())
    })
    .await;
    wait_ready(&client, &ns, name).await;
    op.stop().await;
}

#[tokio::test]
async fn a_changed_failure_message_is_announced_as_a_new_warning() {
    use k8s_openapi::api::events::v1::Event;
    let (Stack(_, client, ns, sim, op), _) = Stack::minimal_ready("warn", |s| {
        s.warning_interval = Duration::ZERO;
    })
    .await;

    // Someone else's marker on the ILM policy: a Conflict naming them; then another one.
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let policy = "mcp-mesh-logs";
    for holder in ["other/first", "other/second"] {
        sim.with_state(|s| {
            let p = s.ilm_policies.get_mut(policy).expect("policy");
            p.policy["_meta"]["meshlogging"] = json!(holder);
        });
        wait_for(WAIT, "a Warning naming the holder", || async {
            let list = events.list(&Default::default()).await.ok()?;
            list.items
                .iter()
                .any(|e| {
                    e.type_.as_deref() == Some("Warning")
                        && e.reason.as_deref() == Some("Conflict")
                        && e.note.as_deref().is_some_and(|n| n.contains(holder))
                })
                .then_some(())
        })
        .await;
    }
    op.stop().await;
}

#[tokio::test]
async fn child_status_changes_do_not_send_the_operator_to_elasticsearch() {
    let (Stack(_, client, ns, sim, op), _) = Stack::minimal_ready("debounce", |s| {
        // Long enough that no resync falls inside the test.
        s.resync_ready = Duration::from_secs(300);
    })
    .await;
    let name = MINIMAL;
    // Ready can show while a pass started by the nodes becoming ready is still running:
    // wait until Elasticsearch hears nothing for a second.
    wait_for(WAIT, "no Elasticsearch pass running", || async {
        sim.clear_requests();
        tokio::time::sleep(Duration::from_secs(1)).await;
        sim.requests().is_empty().then_some(())
    })
    .await;

    // The collector rolls out: its DaemonSet's status changes three times, and each change
    // reaches the operator (the resource's status follows it).
    let daemonsets: Api<DaemonSet> = Api::namespaced(client.clone(), &ns);
    let mls: Api<MeshLogging> = Api::namespaced(client.clone(), &ns);
    for ready in [1, 2, 1] {
        daemonsets
            .patch_status(
                &format!("{name}-collector"),
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": {
                    "desiredNumberScheduled": 2, "numberReady": ready,
                    "currentNumberScheduled": 2, "numberMisscheduled": 0,
                    "observedGeneration": 1, "updatedNumberScheduled": 2,
                    "numberAvailable": ready,
                } })),
            )
            .await
            .expect("daemonset status");
        wait_for(WAIT, "the collector's readiness in the status", || async {
            let ml = mls.get(name).await.ok()?;
            let c = ml.status?.collector?;
            (c.ready_replicas == Some(ready) && c.replicas == Some(2)).then_some(())
        })
        .await;
    }
    let seen: Vec<String> = sim
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        seen,
        Vec::<String>::new(),
        "Elasticsearch requests on child changes"
    );

    // A spec change does go to Elasticsearch.
    mls.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "lifecycle": { "delete": { "minAge": "21d" } } } })),
    )
    .await
    .expect("spec change");
    wait_for(WAIT, "the new ILM policy", || async {
        sim.requests()
            .iter()
            .any(|r| r.method == "PUT" && r.path.starts_with("/_ilm/policy/"))
            .then_some(())
    })
    .await;
    op.stop().await;
}
