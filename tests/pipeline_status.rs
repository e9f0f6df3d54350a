//! Status that tells whether logs arrive (issue 13, `LogsFlowing`): the operator's reads
//! against the **real Elasticsearch** and the stand-in with the same bytes, then the
//! condition through the controller (API server + stand-in) going False and back to True.

use std::time::Duration;

use es_sim::EsSim;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kit::elasticsearch;
use kit::{operator, wait_for};
use kube::api::{Api, PostParams};
use meshlogging_operator::api::{AppliedStatus, MeshLogging, MeshLoggingStatus};
use meshlogging_operator::elastic::pipeline::{self, LogFlow};
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

    // Idle: passes run (every 2 s in the tests), read, and write nothing anywhere.
    let api_writes = kit::audit::writes(server, &op.identity).len();
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
