//! Status that tells the truth about the pipeline (issue 13: `LogsFlowing`,
//! `IndexLifecycleHealthy`, `DiskHealthy`, `SnapshotsHealthy`): the operator's reads
//! against the **real Elasticsearch** and the stand-in with the same bytes (where the real
//! distribution has the API: it has no SLM, so the `_slm/*` reads meet the stand-in only),
//! then each condition through the controller (API server + stand-in) going False and back
//! to True.

use std::time::Duration;

use es_sim::EsSim;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kit::elasticsearch;
use kit::{operator, wait_for};
use kube::api::{Api, Patch, PatchParams, PostParams};
use meshlogging_operator::api::{AppliedStatus, MeshLogging, MeshLoggingStatus};
use meshlogging_operator::elastic::pipeline::{self, LogFlow};
use meshlogging_operator::elastic::snapshots;
use meshlogging_operator::elastic::{ClientConfig, Credentials, EsClient};
use meshlogging_testkit as kit;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);
const THRESHOLD: Duration = Duration::from_secs(600);

fn sim_client(sim: &EsSim) -> EsClient {
    let mut config = ClientConfig::new(sim.url());
    config.credentials = Some(Credentials {
        username: "elastic".into(),
        password: kit::sim::ELASTIC_PASSWORD.into(),
    });
    config.ca_pem = sim.ca_pem().map(String::into_bytes);
    EsClient::new(config).expect("client")
}

fn at(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

/// A log as the collectors write it, from `node` at `timestamp`.
fn log(timestamp: &str, node: &str) -> Value {
    json!({
        "timestamp": timestamp,
        "stream": "stdout",
        "kubernetes": { "host": node, "namespace_name": "mesh", "pod_name": "registry-0" },
        "app": { "level": "INFO", "msg": "served", "service": { "name": "registry" } },
    })
}

async fn index_log(client: &EsClient, alias: &str, timestamp: &str, node: &str) {
    client
        .post(
            "test",
            &format!("/{alias}/_doc?refresh=true"),
            &log(timestamp, node),
        )
        .await
        .unwrap_or_else(|e| panic!("index through {alias}: {e}"));
}

/// Configures `alias` (minimal example) on `client`'s cluster and indexes four logs: two
/// recent ones (nodes a and b), one an hour old (node c), one three days old (node d).
async fn seed(client: &EsClient, alias: &str) {
    let mut spec = kit::example("minimal.yaml").spec;
    spec.index.name = alias.to_string();
    let desired = kit::desired(&spec, &format!("test/{alias}"));
    let (report, _) = kit::sync::pass(client, &desired, &AppliedStatus::default()).await;
    assert_eq!(report.write_index, Some(format!("{alias}-000001")));
    for (timestamp, node) in [
        ("2026-11-30T11:58:00.250Z", "node-a"),
        ("2026-11-30T11:55:00Z", "node-b"),
        ("2026-11-30T11:00:00Z", "node-c"),
        ("2026-11-27T12:00:00Z", "node-d"),
    ] {
        index_log(client, alias, timestamp, node).await;
    }
}

/// Issue 13's query must be accepted by the real Elasticsearch and answered the same by
/// the stand-in: the same request to both, the answers' aggregations compared, and the
/// operator's parse of them checked.
#[tokio::test]
async fn the_flow_read_is_answered_alike_by_the_real_elasticsearch_and_the_stand_in() {
    let real = elasticsearch::get().client();
    let sim = kit::sim::es_sim(1).await;
    let stand_in = sim_client(&sim);
    let alias = format!("flow-{:06x}", rand::random::<u32>() & 0xff_ffff);
    let now = at("2026-11-30T12:00:00Z");
    let query = pipeline::flow_query(THRESHOLD, now);

    // The unassigned primaries are counted from 8.16 on (the real node is 8.19); the
    // stand-in answers as the version it plays (8.15 by default: no count, then 8.19).
    let health = real.cluster_health().await.expect("health");
    assert_eq!(health.unassigned_primary_shards, Some(0), "real");
    let health = stand_in.cluster_health().await.expect("health");
    assert_eq!(health.unassigned_primary_shards, None, "stand-in as 8.15");
    sim.set_version("8.19.0");
    let health = stand_in.cluster_health().await.expect("health");
    assert_eq!(
        health.unassigned_primary_shards,
        Some(0),
        "stand-in as 8.19"
    );

    let (mut answers, mut disk_answers) = (Vec::new(), Vec::new());
    let write_index = format!("{alias}-000001");
    for (who, client) in [("real", &real), ("stand-in", &stand_in)] {
        seed(client, &alias).await;
        let answer = client
            .post("test", &format!("/{alias}/_search"), &query)
            .await
            .unwrap_or_else(|e| panic!("{who}: the query is refused: {e}"));
        answers.push(answer["aggregations"].clone());

        let flow: LogFlow = pipeline::read_flow(client, &alias, Some(&write_index), THRESHOLD, now)
            .await
            .unwrap_or_else(|e| panic!("{who}: {e}"))
            .expect("the alias exists");
        assert_eq!(flow.newest, Some(at("2026-11-30T11:58:00.250Z")), "{who}");
        assert_eq!(flow.recent, 2, "{who}: logs within 10m");
        let nodes: Vec<(&str, Timestamp)> =
            flow.nodes.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        assert_eq!(
            nodes,
            [
                ("node-a", at("2026-11-30T11:58:00.250Z")),
                ("node-b", at("2026-11-30T11:55:00Z")),
                ("node-c", at("2026-11-30T11:00:00Z")),
            ],
            "{who}: per node over the last day (node-d is older)"
        );
        assert_eq!(flow.silent_nodes(), ["node-c"], "{who}");
        assert!(flow.created.is_some(), "{who}: creation date read");
        assert_eq!(flow.blocked, Vec::<String>::new(), "{who}");

        // The flood-stage block on the write index is seen (and lifted again).
        let block = |on: bool| json!({ "index.blocks.read_only_allow_delete": if on { json!(true) } else { Value::Null } });
        client
            .put("test", &format!("/{write_index}/_settings"), &block(true))
            .await
            .unwrap_or_else(|e| panic!("{who}: block: {e}"));
        let blocked = pipeline::read_flow(client, &alias, Some(&write_index), THRESHOLD, now)
            .await
            .unwrap_or_else(|e| panic!("{who}: {e}"))
            .expect("alias");
        assert_eq!(blocked.blocked, [write_index.as_str()], "{who}");
        let report = client
            .get("test", "/_health_report/disk?verbose=false")
            .await
            .unwrap_or_else(|e| panic!("{who}: health report: {e}"))
            .expect("health report");
        disk_answers.push(report["indicators"].clone());
        let disk = pipeline::read_disk(client)
            .await
            .expect("disk")
            .expect("served");
        assert_eq!(disk.status, "red", "{who}: {disk:?}");
        assert!(
            disk.symptom
                .starts_with("1 index is not allowed to be updated."),
            "{who}: {disk:?}"
        );
        client
            .put("test", &format!("/{write_index}/_settings"), &block(false))
            .await
            .unwrap_or_else(|e| panic!("{who}: unblock: {e}"));

        let disk = pipeline::read_disk(client)
            .await
            .expect("disk")
            .expect("served");
        assert_eq!(disk.status, "green", "{who}: {disk:?}");

        // A missing alias is no error: nothing to read yet.
        let missing =
            pipeline::read_flow(client, &format!("{alias}-none"), None, THRESHOLD, now).await;
        assert!(matches!(missing, Ok(None)), "{who}: {missing:?}");
    }
    assert_eq!(answers[0], answers[1], "real (left) and stand-in (right)");
    assert_eq!(
        disk_answers[0], disk_answers[1],
        "the disk indicator: real (left) and stand-in (right)"
    );
}

/// The stand-in's status, once `check` holds for it.
async fn wait_status<F>(
    api: &Api<MeshLogging>,
    name: &str,
    what: &str,
    check: F,
) -> MeshLoggingStatus
where
    F: Fn(&MeshLoggingStatus) -> bool,
{
    wait_for(WAIT, what, || async {
        let status = api.get(name).await.ok()?.status?;
        check(&status).then_some(status)
    })
    .await
}

fn logs_flowing(status: &MeshLoggingStatus) -> (String, String, String) {
    let c = kit::condition(status, "LogsFlowing");
    (c.status, c.reason, c.message)
}

/// LogsFlowing through the controller: Unknown while the fresh alias holds no log, False
/// (`NoRecentLogs`, phase Degraded) with an hour-old log, True again with a fresh one; an
/// idle pass reads and never writes. Then IndexLifecycleHealthy: False while the write
/// index is in ILM's ERROR step (a policy that does not exist), True again once fixed; and
/// DiskHealthy with LogsFlowing False (`WriteIndexBlocked`) while the flood-stage block is
/// on the write index.
#[tokio::test]
async fn logs_flowing_and_index_lifecycle_go_false_and_back_to_true() {
    let server = kit::apiserver::get();
    let client = server.client().await;
    kit::setup::install_crd(&client).await;
    let ns = kit::setup::namespace(&client, "flow").await;
    let sim = kit::sim::es_sim(1).await;
    let es = sim_client(&sim);
    let op = operator::start(server, &ns, &sim, &ns).await;
    let api: Api<MeshLogging> = Api::namespaced(client.clone(), &ns);
    let ml = kit::example("minimal.yaml");
    let (name, alias) = (
        ml.metadata.name.clone().expect("name"),
        ml.spec.index.name.clone(),
    );
    api.create(&PostParams::default(), &ml)
        .await
        .expect("create");

    let status = wait_for(WAIT, "LogsFlowing read", || async {
        kit::Kubelet::new(&client, &ns).mark_ready(&name).await;
        let status = api.get(&name).await.ok()?.status?;
        (logs_flowing(&status).1 == "AwaitingLogs").then_some(status)
    })
    .await;
    assert_eq!(logs_flowing(&status).0, "Unknown");
    assert_eq!(kit::condition(&status, "Ready").status, "True");

    // An hour-old log: nothing arrived within the 10-minute threshold.
    let hour_ago = Timestamp::now() - SignedDuration::from_hours(1);
    index_log(&es, &alias, &hour_ago.to_string(), "node-a").await;
    let stale = wait_status(&api, &name, "LogsFlowing False", |s| {
        logs_flowing(s).1 == "NoRecentLogs"
    })
    .await;
    let (state, _, message) = logs_flowing(&stale);
    assert_eq!(state, "False");
    assert!(message.contains("no log arrived since"), "{message}");
    assert_eq!(stale.phase.map(|p| p.as_str()), Some("Degraded"));
    let logs = stale.logs.clone().expect("status.logs");
    assert_eq!(
        logs.newest_timestamp.map(|t| t.0.as_second()),
        Some(hour_ago.as_second()),
        "a metav1.Time keeps whole seconds"
    );
    assert_eq!((logs.recent, logs.nodes), (Some(0), Some(0)));
    assert_eq!(logs.silent_nodes, ["node-a"]);

    // Idle: passes run (every 2 s in the tests), read, and write nothing anywhere — once
    // the pass that found the logs stale has announced it (its status and event writes).
    let api_writes = kit::audit::settled(server, &op.identity).await;
    sim.clear_requests();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let requests = sim.requests();
    let searches = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path == format!("/{alias}/_search"))
        .count();
    assert!(searches >= 2, "passes ran: {searches}");
    assert_eq!(sim.write_requests().len(), 0, "{:?}", sim.write_requests());
    let new_writes = kit::audit::writes(server, &op.identity)[api_writes..].to_vec();
    assert_eq!(new_writes, Vec::<String>::new(), "API writes while idle");
    eprintln!(
        "idle: {searches} passes, {} Elasticsearch reads ({:.1} per pass), 0 writes",
        requests.len(),
        requests.len() as f64 / searches as f64
    );

    // A fresh log: True again.
    index_log(&es, &alias, &Timestamp::now().to_string(), "node-a").await;
    let flowing = wait_status(&api, &name, "LogsFlowing True", |s| {
        logs_flowing(s).0 == "True"
    })
    .await;
    assert_eq!(logs_flowing(&flowing).1, "LogsArriving");
    assert_eq!(flowing.phase.map(|p| p.as_str()), Some("Ready"));
    let logs = flowing.logs.clone().expect("status.logs");
    assert_eq!((logs.recent, logs.nodes), (Some(1), Some(1)));
    assert!(logs.silent_nodes.is_empty());

    let c = kit::condition(&flowing, "IndexLifecycleHealthy");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("True", "NoLifecycleErrors")
    );

    // The write index points at an ILM policy that does not exist: ILM's ERROR step.
    let write_index = format!("{alias}-000001");
    let lifecycle = |policy: &str| json!({ "index.lifecycle.name": policy });
    es.put(
        "test",
        &format!("/{write_index}/_settings"),
        &lifecycle("no-such-policy"),
    )
    .await
    .expect("break ILM");
    let broken = wait_status(&api, &name, "IndexLifecycleHealthy False", |s| {
        kit::condition(s, "IndexLifecycleHealthy").status == "False"
    })
    .await;
    let c = kit::condition(&broken, "IndexLifecycleHealthy");
    assert_eq!(c.reason, "IlmStepFailed");
    assert!(
        c.message.contains(&write_index)
            && c.message.contains("policy [no-such-policy] does not exist"),
        "{}",
        c.message
    );
    assert_eq!(broken.phase.map(|p| p.as_str()), Some("Degraded"));
    assert_eq!(broken.lifecycle_errors.len(), 1);
    show(server, &ns, &name);

    es.put(
        "test",
        &format!("/{write_index}/_settings"),
        &lifecycle(&alias),
    )
    .await
    .expect("fix ILM");
    let fixed = wait_status(&api, &name, "IndexLifecycleHealthy True", |s| {
        kit::condition(s, "IndexLifecycleHealthy").status == "True"
    })
    .await;
    assert_eq!(fixed.phase.map(|p| p.as_str()), Some("Ready"));
    assert!(fixed.lifecycle_errors.is_empty());
    assert_eq!(kit::condition(&fixed, "DiskHealthy").status, "True");

    // The flood stage blocks the write index: logs cannot arrive, the disk is red.
    let block = |on: bool| json!({ "index.blocks.read_only_allow_delete": if on { json!(true) } else { Value::Null } });
    es.put("test", &format!("/{write_index}/_settings"), &block(true))
        .await
        .expect("block");
    let blocked = wait_status(&api, &name, "DiskHealthy False", |s| {
        kit::condition(s, "DiskHealthy").status == "False"
    })
    .await;
    let c = kit::condition(&blocked, "DiskHealthy");
    assert_eq!(c.reason, "DiskPressure");
    assert!(
        c.message.contains("1 index is not allowed to be updated"),
        "{}",
        c.message
    );
    assert_eq!(logs_flowing(&blocked).1, "WriteIndexBlocked");
    assert_eq!(blocked.phase.map(|p| p.as_str()), Some("Degraded"));
    let logs = blocked.logs.clone().expect("logs");
    assert_eq!(logs.blocked_indices, [write_index.as_str()]);
    show(server, &ns, &name);
    es.put("test", &format!("/{write_index}/_settings"), &block(false))
        .await
        .expect("unblock");
    let unblocked = wait_status(&api, &name, "DiskHealthy True", |s| {
        kit::condition(s, "DiskHealthy").status == "True"
    })
    .await;
    assert_eq!(logs_flowing(&unblocked).0, "True");
    assert_eq!(unblocked.phase.map(|p| p.as_str()), Some("Ready"));

    // `kubectl get mlog -o wide` shows the newest log's age.
    let table = show(server, &ns, &name);
    assert!(table.contains("NEWESTLOG"), "{table}");
    op.stop().await;
}

/// `kubectl get mlog -o wide` and `kubectl describe mlog` (printed for the closing note);
/// returns the table.
fn show(server: &kit::apiserver::ApiServer, ns: &str, name: &str) -> String {
    let run = |args: &[&str]| {
        let out = server
            .kubectl()
            .args(args)
            .args(["-n", ns])
            .output()
            .expect("kubectl");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let table = run(&["get", "mlog", "-o", "wide"]);
    eprintln!("$ kubectl get mlog -o wide\n{table}");
    eprintln!(
        "$ kubectl describe mlog {name}\n{}",
        run(&["describe", "mlog", name])
    );
    table
}

/// `POST _snapshot/<repo>/_verify`, as the operator sends it
/// (`elastic::snapshots::verify_repository`), answered alike by the real node (an `fs`
/// repository under its `path.repo`) and the stand-in: the nodes that verified, and for an
/// unknown repository the same 404 `repository_missing_exception`. (SLM itself is absent
/// from the integration-test distribution: `_slm/*` reads are checked on the stand-in
/// only, in the test below.)
#[tokio::test]
async fn repository_verification_is_answered_alike_by_the_real_elasticsearch_and_the_stand_in() {
    let node = elasticsearch::get();
    let real = node.client();
    let sim = kit::sim::es_sim(1).await;
    let stand_in = sim_client(&sim);
    let name = format!("verify-{:06x}", rand::random::<u32>() & 0xff_ffff);
    let mut missing = Vec::new();
    for (who, client, root) in [
        ("real", &real, node.repo_dir.display().to_string()),
        ("stand-in", &stand_in, "/snapshots".to_string()),
    ] {
        let repo = json!({"type": "fs", "settings": {"location": format!("{root}/{name}")}});
        client
            .put("test", &format!("/_snapshot/{name}"), &repo)
            .await
            .unwrap_or_else(|e| panic!("{who}: register {name}: {e}"));
        let answer = client
            .post_empty("test", &format!("/_snapshot/{name}/_verify"))
            .await
            .unwrap_or_else(|e| panic!("{who}: verify: {e}"));
        let nodes = answer["nodes"].as_object().expect("nodes");
        assert_eq!(nodes.len(), 1, "{who}: {answer}");
        assert!(
            nodes.values().all(|n| n["name"].is_string()),
            "{who}: {answer}"
        );
        assert_eq!(
            snapshots::verify_repository(client, &name).await,
            None,
            "{who}"
        );
        let unknown = format!("{name}-none");
        let error = snapshots::verify_repository(client, &unknown)
            .await
            .unwrap_or_else(|| panic!("{who}: an unknown repository verified"));
        missing.push(error);
        client
            .delete("test", &format!("/_snapshot/{name}"))
            .await
            .unwrap_or_else(|e| panic!("{who}: unregister: {e}"));
    }
    assert_eq!(
        missing[0],
        format!("Elasticsearch answered 404 repository_missing_exception: [{name}-none] missing")
    );
    assert_eq!(missing[0], missing[1], "real (left) and stand-in (right)");
}

/// A collector pod of MeshLogging `instance` on `node`, Ready since `since` (created on
/// the API server: there is no kubelet; the status is written as one would).
async fn collector_pod(
    client: &kube::Client,
    ns: &str,
    instance: &str,
    node: &str,
    since: Timestamp,
) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let name = format!("{instance}-collector-{node}");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {
            "app.kubernetes.io/component": "collector",
            "app.kubernetes.io/managed-by": "meshlogging-operator",
            "app.kubernetes.io/name": "fluent-bit",
            "app.kubernetes.io/instance": instance,
        }},
        "spec": {"nodeName": node, "automountServiceAccountToken": false,
            "containers": [{"name": "fluent-bit", "image": "fluent/fluent-bit"}]}
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("create the collector pod");
    let status = json!({"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": since.to_string()}
    ]}});
    pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("the collector pod is Ready");
}

fn cond(status: &MeshLoggingStatus, type_: &str) -> (String, String, String) {
    let c = kit::condition(status, type_);
    (c.status, c.reason, c.message)
}

/// SnapshotsHealthy, NodesSilent and the opt-in ILM retry through the controller
/// (API server + stand-in): healthy first (and an idle pass reads a bounded number of
/// times and writes nothing, to the API server or Elasticsearch, not even a `_verify`);
/// then a silent node, a failing snapshot and an ILM error at once (phase Degraded); each
/// fixed in turn (the ILM error by the operator's retry, with its event); then a policy
/// without a snapshot for over twice its interval (NeverSucceeded), and a repository that
/// does not verify after it changed (RepositoryUnverified), each back to True.
#[tokio::test]
async fn snapshots_silent_nodes_and_ilm_retry_go_false_and_back_to_true() {
    let server = kit::apiserver::get();
    let client = server.client().await;
    kit::setup::install_crd(&client).await;
    let ns = kit::setup::namespace(&client, "snap").await;
    // No controller-manager: the namespace's default ServiceAccount, for pod admission.
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "default"}})).expect("sa");
    let _ = accounts.create(&PostParams::default(), &sa).await;
    let sim = kit::sim::es_sim(1).await;
    let es = sim_client(&sim);
    let op = operator::start(server, &ns, &sim, &ns).await;
    let api: Api<MeshLogging> = Api::namespaced(client.clone(), &ns);
    let mut ml = kit::example("minimal.yaml");
    ml.spec.snapshots = Some(
        serde_json::from_value(json!({
            "repositories": [{"name": "backups", "type": "fs", "settings": {"location": "/snapshots/mesh"}}],
            "policies": [{"name": "nightly", "schedule": "0 30 1 * * ?", "repository": "backups"}]
        }))
        .expect("snapshots"),
    );
    let (name, alias) = (
        ml.metadata.name.clone().expect("name"),
        ml.spec.index.name.clone(),
    );
    let write_index = format!("{alias}-000001");
    api.create(&PostParams::default(), &ml)
        .await
        .expect("create");
    let hour_ago = Timestamp::now() - SignedDuration::from_hours(1);
    for node in ["node-a", "node-b"] {
        collector_pod(&client, &ns, &name, node, hour_ago).await;
    }

    // Healthy: both nodes send (once the write alias exists), the policy is fresh, the
    // repository verifies.
    wait_for(WAIT, "Ready, the write alias read", || async {
        kit::Kubelet::new(&client, &ns).mark_ready(&name).await;
        let status = api.get(&name).await.ok()?.status?;
        (cond(&status, "Ready").0 == "True" && cond(&status, "LogsFlowing").1 == "AwaitingLogs")
            .then_some(())
    })
    .await;
    let healthy = wait_for(WAIT, "a healthy pipeline", || async {
        for node in ["node-a", "node-b"] {
            index_log(&es, &alias, &Timestamp::now().to_string(), node).await;
        }
        let status = api.get(&name).await.ok()?.status?;
        (cond(&status, "LogsFlowing").0 == "True"
            && cond(&status, "SnapshotsHealthy").0 == "True"
            && cond(&status, "IndexLifecycleHealthy").0 == "True")
            .then_some(status)
    })
    .await;
    assert_eq!(cond(&healthy, "SnapshotsHealthy").1, "SnapshotsSucceeding");
    assert_eq!(
        cond(&healthy, "SnapshotsHealthy").2,
        "SLM policies [nightly] succeed; repositories [backups] verify"
    );
    assert_eq!(
        healthy.phase.map(|p| p.as_str()),
        Some("Ready"),
        "{:#?}",
        healthy.conditions
    );
    let nightly = &healthy.snapshots[0];
    assert_eq!(nightly.policy, "nightly");
    assert!(nightly.next_run.is_some() && nightly.last_success.is_none());
    let verified = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/_snapshot/backups/_verify")
        .count();
    assert_eq!(
        verified, 1,
        "verified once, after the repository was created"
    );

    // Idle: reads only, a bounded number per pass; nothing written anywhere. (First a
    // pass that reads the last logs indexed above and shows their count.)
    tokio::time::sleep(Duration::from_secs(5)).await;
    let api_writes = kit::audit::writes(server, &op.identity).len();
    sim.clear_requests();
    tokio::time::sleep(Duration::from_secs(9)).await;
    let requests = sim.requests();
    let passes = requests
        .iter()
        .filter(|r| r.path == "/_cluster/health")
        .count();
    assert!(passes >= 2, "passes ran: {passes}");
    assert_eq!(sim.write_requests().len(), 0, "{:?}", sim.write_requests());
    assert!(
        !requests
            .iter()
            .any(|r| r.method != "GET" && !r.path.ends_with("/_search")),
        "only GETs and the flow search on an idle pass: {:?}",
        requests
            .iter()
            .filter(|r| r.method != "GET")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    );
    let new_writes = kit::audit::writes(server, &op.identity)[api_writes..].to_vec();
    assert_eq!(new_writes, Vec::<String>::new(), "API writes while idle");
    let mut per_path = std::collections::BTreeMap::<String, usize>::new();
    for r in &requests {
        *per_path
            .entry(format!("{} {}", r.method, r.path))
            .or_default() += 1;
    }
    let per_pass = requests.len() as f64 / passes as f64;
    eprintln!(
        "idle with snapshots: {passes} passes, {} Elasticsearch reads ({per_pass:.1} per pass), 0 writes: {per_path:?}",
        requests.len()
    );
    // 19 of every idle pass (README: health, the sync's GETs, a login check per generated
    // user, the pipeline reads), 2 for SLM (policies, stats), 1 for a managed cluster's
    // allocation filter.
    assert!(per_pass <= 22.0, "reads per pass are bounded: {per_pass}");
    show(server, &ns, &name);

    // All at once: a third node Ready but silent, the nightly run failing, an ILM error.
    collector_pod(&client, &ns, &name, "node-c", hour_ago).await;
    let reason = "simulated: no space left on device";
    assert!(sim.slm_fail_next("nightly", reason));
    sim.slm_run("nightly").expect("the run starts");
    assert!(sim.ilm_fail_step(
        &write_index,
        "shrink",
        "illegal_state_exception",
        "no node has room for the shrunken copy"
    ));
    let degraded = wait_for(WAIT, "three pipeline conditions False", || async {
        index_log(&es, &alias, &Timestamp::now().to_string(), "node-a").await;
        let status = api.get(&name).await.ok()?.status?;
        (cond(&status, "LogsFlowing").1 == "NodesSilent"
            && cond(&status, "SnapshotsHealthy").1 == "SnapshotFailed"
            && cond(&status, "IndexLifecycleHealthy").1 == "IlmStepFailed")
            .then_some(status)
    })
    .await;
    let (state, _, message) = cond(&degraded, "LogsFlowing");
    assert_eq!(state, "False");
    assert_eq!(
        message,
        "logs arrive, but none within the last 10m from node node-c, whose collector pod is Ready"
    );
    assert_eq!(
        degraded.logs.as_ref().map(|l| l.silent_nodes.clone()),
        Some(vec!["node-c".to_string()])
    );
    let (state, _, message) = cond(&degraded, "SnapshotsHealthy");
    assert_eq!(state, "False");
    assert!(
        message.starts_with("SLM policy nightly failed at ")
            && message.contains("[backups:nightly-")
            && message.ends_with(reason),
        "{message}"
    );
    let nightly = &degraded.snapshots[0];
    assert!(nightly.last_failure.is_some());
    assert!(
        nightly
            .last_failure_reason
            .as_deref()
            .is_some_and(|r| r.ends_with(reason)),
        "{nightly:?}"
    );
    assert_eq!(nightly.snapshots_failed, Some(1));
    assert!(
        cond(&degraded, "IndexLifecycleHealthy")
            .2
            .contains("no node has room for the shrunken copy")
    );
    assert_eq!(degraded.phase.map(|p| p.as_str()), Some("Degraded"));
    assert_eq!(cond(&degraded, "Ready").0, "True", "the stack exists");
    show(server, &ns, &name);

    // node-c sends: True again.
    let flowing = wait_for(WAIT, "NodesSilent cleared", || async {
        index_log(&es, &alias, &Timestamp::now().to_string(), "node-c").await;
        let status = api.get(&name).await.ok()?.status?;
        (cond(&status, "LogsFlowing").0 == "True").then_some(status)
    })
    .await;
    assert!(flowing.logs.expect("logs").silent_nodes.is_empty());

    // The next run succeeds: True again.
    sim.slm_run("nightly").expect("the run starts");
    let succeeded = wait_status(&api, &name, "SnapshotsHealthy True", |s| {
        cond(s, "SnapshotsHealthy").0 == "True"
    })
    .await;
    let nightly = &succeeded.snapshots[0];
    assert!(nightly.last_success.is_some() && nightly.last_failure.is_some());
    assert_eq!(
        (nightly.snapshots_taken, nightly.snapshots_failed),
        (Some(1), Some(1))
    );

    // The opt-in retry: the operator retries the failed step, says so, and the error clears.
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"index": {"retryFailedLifecycleSteps": true}}})),
    )
    .await
    .expect("opt in");
    let retried = wait_status(&api, &name, "IndexLifecycleHealthy True", |s| {
        cond(s, "IndexLifecycleHealthy").0 == "True"
    })
    .await;
    assert!(retried.lifecycle_errors.is_empty());
    assert!(sim.with_state(|s| s.indices[&write_index].ilm_error.is_none()));
    let retries: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path == format!("/{write_index}/_ilm/retry"))
        .collect();
    assert_eq!(retries.len(), 1, "one retry: {retries:?}");
    assert_eq!(
        (retries[0].method.as_str(), retries[0].status),
        ("POST", 200)
    );
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let event = wait_for(WAIT, "the RetriedLifecycleStep event", || async {
        let list = events.list(&Default::default()).await.ok()?;
        list.items.into_iter().find(|e| {
            e.type_.as_deref() == Some("Normal")
                && e.reason.as_deref() == Some("RetriedLifecycleStep")
        })
    })
    .await;
    assert_eq!(
        event.note.as_deref(),
        Some(
            format!(
                "retried ILM step shrink of index {write_index} (it failed: no node has room for the shrunken copy)"
            )
            .as_str()
        )
    );
    assert_eq!(retried.phase.map(|p| p.as_str()), Some("Ready"));

    // No snapshot for more than twice the (daily) interval: NeverSucceeded, then a run.
    let three_days_ago = Timestamp::now() - SignedDuration::from_hours(72);
    sim.with_state(|s| {
        let p = s.slm_policies.get_mut("nightly").expect("policy");
        let (snapshot, _) = p.last_success.clone().expect("a success");
        let ms = u64::try_from(three_days_ago.as_millisecond()).expect("ms");
        p.last_success = Some((snapshot, ms));
        if let Some(f) = p.last_failure.as_mut() {
            f.time_millis = ms - 60_000;
        }
    });
    let overdue = wait_status(&api, &name, "NeverSucceeded", |s| {
        cond(s, "SnapshotsHealthy").1 == "NeverSucceeded"
    })
    .await;
    let message = cond(&overdue, "SnapshotsHealthy").2;
    assert!(
        message.starts_with(&format!(
            "SLM policy nightly: no snapshot since {} ",
            Timestamp::from_second(three_days_ago.as_second()).expect("ts")
        )) && message.ends_with("(more than twice its interval, 2d)"),
        "{message}"
    );
    sim.slm_run("nightly").expect("the run starts");
    wait_status(&api, &name, "SnapshotsHealthy True after a run", |s| {
        cond(s, "SnapshotsHealthy").0 == "True"
    })
    .await;

    // The repository changes while it cannot be written: verified at once, and refused.
    sim.break_repository("backups", "/snapshots/mesh: Permission denied");
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"snapshots": {"repositories": [
            {"name": "backups", "type": "fs", "settings": {"location": "/snapshots/mesh", "compress": "true"}}
        ]}}})),
    )
    .await
    .expect("change the repository");
    let unverified = wait_status(&api, &name, "RepositoryUnverified", |s| {
        cond(s, "SnapshotsHealthy").1 == "RepositoryUnverified"
    })
    .await;
    assert_eq!(
        cond(&unverified, "SnapshotsHealthy").2,
        "snapshot repository backups does not verify: Elasticsearch answered 500 repository_verification_exception: [backups] path [/snapshots/mesh] is not accessible on master node: /snapshots/mesh: Permission denied"
    );
    sim.fix_repository("backups");
    let fixed = wait_status(&api, &name, "SnapshotsHealthy True again", |s| {
        cond(s, "SnapshotsHealthy").0 == "True" && cond(s, "SnapshotsConfigured").0 == "True"
    })
    .await;
    assert_eq!(fixed.phase.map(|p| p.as_str()), Some("Ready"));
    show(server, &ns, &name);
    op.stop().await;
}
