//! The test controls: every fault kind, the request log (and the write rule),
//! state edits, health, version, reset, TLS, and the same controls through the
//! `/_sim/*` admin API.

use std::time::{Duration, Instant};

use es_sim::{EsSim, Fault, Health, RecordedRequest, SimConfig, SimUser};
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// `GET path` on the stand-in: the status and the JSON body (`null` when none).
async fn get(c: &reqwest::Client, sim: &EsSim, path: &str) -> (u16, Value) {
    let r = c
        .get(format!("{}{path}", sim.url()))
        .send()
        .await
        .expect("send");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// Calls the admin API (`"POST /_sim/faults"`, with `body` unless it is null) and asserts it
/// succeeded.
async fn admin(c: &reqwest::Client, sim: &EsSim, call: &str, body: Value) {
    let (method, path) = call.split_once(' ').expect("METHOD /path");
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut r = c.request(method, format!("{}{path}", sim.url()));
    if !body.is_null() {
        r = r.json(&body);
    }
    let r = r.send().await.expect("admin call");
    assert!(r.status().is_success(), "{r:?}");
}

/// A fresh stand-in with the default configuration, and a client.
async fn started() -> (EsSim, reqwest::Client) {
    (EsSim::start().await, client())
}

/// A fresh stand-in with `fault` injected, and a client.
async fn faulted(fault: Fault) -> (EsSim, reqwest::Client) {
    let (sim, c) = started().await;
    sim.inject(fault);
    (sim, c)
}

#[tokio::test]
async fn request_log_records_method_path_query_body_user_status() {
    let sim = EsSim::start_with(SimConfig {
        users: vec![SimUser::elastic("changeme")],
        ..SimConfig::default()
    })
    .await;
    let c = client();
    let base = sim.url();
    c.put(format!("{base}/_ilm/policy/p1?master_timeout=30s"))
        .basic_auth("elastic", Some("changeme"))
        .json(&json!({"policy": {"phases": {"delete": {"min_age": "1d", "actions": {"delete": {}}}}}}))
        .send()
        .await
        .expect("put");
    c.get(format!("{base}/_ilm/policy/p1"))
        .basic_auth("elastic", Some("changeme"))
        .send()
        .await
        .expect("get");
    c.get(format!("{base}/"))
        .send()
        .await
        .expect("unauthenticated");
    let log = sim.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].method, "PUT");
    assert_eq!(log[0].path, "/_ilm/policy/p1");
    assert_eq!(log[0].query, "master_timeout=30s");
    assert_eq!(
        log[0]
            .body
            .as_ref()
            .and_then(|b| b.pointer("/policy/phases/delete/min_age")),
        Some(&json!("1d"))
    );
    assert_eq!(log[0].user.as_deref(), Some("elastic"));
    assert_eq!(log[0].status, 200);
    assert_eq!(log[1].method, "GET");
    assert!(log[1].body.is_none());
    assert_eq!(log[2].status, 401);
    assert_eq!(log[2].user, None);
    assert_eq!(sim.write_requests().len(), 1);
    sim.clear_requests();
    assert!(sim.requests().is_empty());
    sim.stop().await;
}

#[tokio::test]
async fn ndjson_bodies_are_recorded_as_text_and_reads_are_not_writes() {
    let (sim, c) = started().await;
    let base = sim.url();
    let nd = "{\"index\":{\"_index\":\"logs\"}}\n{\"msg\":\"a\"}\n";
    c.post(format!("{base}/_bulk"))
        .header("content-type", "application/x-ndjson")
        .body(nd)
        .send()
        .await
        .expect("bulk");
    c.post(format!("{base}/logs/_search"))
        .json(&json!({"query": {"match_all": {}}}))
        .send()
        .await
        .expect("search");
    c.post(format!("{base}/logs/_count"))
        .send()
        .await
        .expect("count");
    c.head(format!("{base}/logs")).send().await.expect("head");
    let log = sim.requests();
    assert_eq!(log[0].body, Some(Value::String(nd.to_string())));
    let writes = sim.write_requests();
    assert_eq!(writes.len(), 1, "only the bulk is a write: {writes:?}");
    assert_eq!(writes[0].path, "/_bulk");
    let rule = |m: &str, p: &str| {
        RecordedRequest {
            method: m.into(),
            path: p.into(),
            query: String::new(),
            body: None,
            user: None,
            status: 200,
        }
        .is_write()
    };
    assert!(!rule("POST", "/x/_search"));
    assert!(!rule("GET", "/x/_ilm/explain"));
    assert!(!rule("POST", "/_snapshot/r/_verify"));
    assert!(rule("POST", "/_aliases"));
    assert!(rule("DELETE", "/x"));
    sim.stop().await;
}

#[tokio::test]
async fn status_fault_fails_next_n_requests_with_es_body() {
    let (sim, c) = faulted(Fault::Status {
        status: 503,
        count: 2,
        path_prefix: None,
    })
    .await;
    let (s1, b1) = get(&c, &sim, "/").await;
    let (s2, _) = get(&c, &sim, "/_cluster/health").await;
    let (s3, _) = get(&c, &sim, "/").await;
    assert_eq!((s1, s2, s3), (503, 503, 200));
    assert_eq!(b1["status"], 503);
    assert!(b1["error"]["root_cause"][0]["type"].is_string());
    assert_eq!(b1["error"]["type"], "cluster_block_exception");
    let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        vec![503, 503, 200],
        "faulted requests are recorded too"
    );
    sim.stop().await;
}

#[tokio::test]
async fn status_fault_with_path_prefix_only_hits_matching_paths() {
    let (sim, c) = faulted(Fault::Status {
        status: 500,
        count: 1,
        path_prefix: Some("/_ilm".into()),
    })
    .await;
    assert_eq!(get(&c, &sim, "/").await.0, 200);
    assert_eq!(get(&c, &sim, "/_ilm/policy").await.0, 500);
    assert_eq!(get(&c, &sim, "/_ilm/policy").await.0, 200);
    sim.stop().await;
}

#[tokio::test]
async fn too_many_requests_sets_retry_after() {
    let (sim, c) = faulted(Fault::TooManyRequests {
        count: 1,
        retry_after_secs: 7,
    })
    .await;
    let r = c.get(format!("{}/", sim.url())).send().await.expect("send");
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("7")
    );
    let b: Value = r.json().await.expect("json");
    assert_eq!(b["error"]["type"], "es_rejected_execution_exception");
    assert_eq!(get(&c, &sim, "/").await.0, 200);
    sim.stop().await;
}

#[tokio::test]
async fn latency_delays_every_request_until_cleared() {
    let (sim, c) = faulted(Fault::Latency(Duration::from_millis(150))).await;
    let t = Instant::now();
    assert_eq!(get(&c, &sim, "/").await.0, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
    sim.clear_faults();
    let t = Instant::now();
    get(&c, &sim, "/").await;
    assert!(t.elapsed() < Duration::from_millis(150));
    sim.stop().await;
}

#[tokio::test]
async fn refuse_connections_gives_connection_errors_until_cleared() {
    let sim = EsSim::start().await;
    sim.inject(Fault::RefuseConnections);
    for _ in 0..2 {
        let err = client().get(format!("{}/", sim.url())).send().await;
        let e = err.expect_err("connection must fail");
        assert!(e.status().is_none(), "no HTTP response: {e}");
    }
    assert!(
        sim.requests().is_empty(),
        "dropped connections answer nothing and are not logged"
    );
    sim.clear_faults();
    assert_eq!(get(&client(), &sim, "/").await.0, 200);
    sim.stop().await;
}

#[tokio::test]
async fn fail_request_number_fails_exactly_that_request() {
    let (sim, c) = started().await;
    get(&c, &sim, "/").await;
    sim.inject(Fault::FailRequestNumber(3));
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get(&c, &sim, "/").await.0);
    }
    assert_eq!(statuses, vec![200, 200, 503, 200]);
    sim.stop().await;
}

#[tokio::test]
async fn health_version_state_and_reset() {
    let (sim, c) = started().await;
    let base = sim.url();
    assert_eq!(get(&c, &sim, "/_cluster/health").await.1["status"], "green");
    sim.set_health(Health::Red);
    assert_eq!(get(&c, &sim, "/_cluster/health").await.1["status"], "red");
    // waiting for green times out (200 with timed_out since 8.0)
    let (s, b) = get(
        &c,
        &sim,
        "/_cluster/health?wait_for_status=green&timeout=50ms",
    )
    .await;
    assert_eq!((s, b["timed_out"].clone()), (200, json!(true)));
    sim.clear_health();
    sim.set_version("9.1.0");
    assert_eq!(get(&c, &sim, "/").await.1["version"]["number"], "9.1.0");
    // drift: edit a policy behind the client's back
    c.put(format!("{base}/_ilm/policy/p"))
        .json(&json!({"policy": {"phases": {"hot": {"actions": {"rollover": {"max_age": "1d"}}}}}}))
        .send()
        .await
        .expect("put");
    sim.with_state(|s| {
        let p = s.ilm_policies.get_mut("p").expect("policy");
        p.policy["phases"]["hot"]["actions"]["rollover"]["max_age"] = json!("7d");
    });
    let (_, b) = get(&c, &sim, "/_ilm/policy/p").await;
    assert_eq!(
        b["p"]["policy"]["phases"]["hot"]["actions"]["rollover"]["max_age"],
        "7d"
    );
    sim.inject(Fault::Latency(Duration::from_millis(1)));
    sim.reset();
    assert!(sim.with_state(|s| s.ilm_policies.is_empty()));
    assert!(sim.requests().is_empty());
    assert_eq!(get(&c, &sim, "/").await.1["version"]["number"], "8.15.3");
    sim.stop().await;
}

#[tokio::test]
async fn admin_api_drives_the_same_controls() {
    let (sim, c) = started().await;
    let base = sim.url();
    get(&c, &sim, "/").await;
    let (_, log) = get(&c, &sim, "/_sim/requests").await;
    assert_eq!(
        log.as_array().map(Vec::len),
        Some(1),
        "admin calls are not recorded: {log}"
    );
    admin(
        &c,
        &sim,
        "POST /_sim/faults",
        json!({"status": {"status": 502, "count": 1}}),
    )
    .await;
    assert_eq!(get(&c, &sim, "/").await.0, 502);
    admin(
        &c,
        &sim,
        "POST /_sim/faults",
        json!([{"too_many_requests": {"count": 1, "retry_after_secs": 1}}, {"latency": 1}]),
    )
    .await;
    assert_eq!(get(&c, &sim, "/").await.0, 429);
    admin(&c, &sim, "POST /_sim/faults", json!("refuse_connections")).await;
    assert!(client().get(format!("{base}/")).send().await.is_err());
    // the admin API still answers while connections are refused
    admin(&c, &sim, "DELETE /_sim/faults", Value::Null).await;
    assert_eq!(get(&c, &sim, "/").await.0, 200);
    admin(
        &c,
        &sim,
        "POST /_sim/faults",
        json!({"fail_request_number": 1}),
    )
    .await;
    assert_eq!(get(&c, &sim, "/").await.0, 503);
    admin(&c, &sim, "POST /_sim/health", json!({"status": "yellow"})).await;
    assert_eq!(
        get(&c, &sim, "/_cluster/health").await.1["status"],
        "yellow"
    );
    admin(&c, &sim, "POST /_sim/version", json!({"version": "9.1.0"})).await;
    c.put(format!("{base}/idx")).send().await.expect("create");
    let (_, state) = get(&c, &sim, "/_sim/state").await;
    assert!(state["indices"]["idx"].is_object());
    assert_eq!(state["version"], "9.1.0");
    let (_, writes) = get(&c, &sim, "/_sim/requests?writes=true").await;
    assert_eq!(writes.as_array().map(Vec::len), Some(1));
    admin(&c, &sim, "DELETE /_sim/requests", Value::Null).await;
    assert_eq!(get(&c, &sim, "/_sim/requests").await.1, json!([]));
    admin(&c, &sim, "POST /_sim/reset", Value::Null).await;
    assert_eq!(get(&c, &sim, "/idx").await.0, 404);
    assert_eq!(get(&c, &sim, "/_sim/nope").await.0, 404);
    sim.stop().await;
}

#[tokio::test]
async fn tls_serves_with_the_handed_out_ca() {
    let sim = EsSim::start_with(SimConfig {
        tls: true,
        ..SimConfig::default()
    })
    .await;
    assert!(sim.url().starts_with("https://127.0.0.1:"));
    let pem = sim.ca_pem().expect("ca");
    let ca = reqwest::Certificate::from_pem(pem.as_bytes()).expect("pem");
    let c = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .expect("client");
    let (s, b) = get(&c, &sim, "/").await;
    assert_eq!(s, 200);
    assert_eq!(b["tagline"], "You Know, for Search");
    sim.stop().await;
}

#[tokio::test]
async fn stop_and_drop_release_the_port() {
    let sim = EsSim::start().await;
    let addr = sim.addr();
    let c = client();
    assert_eq!(get(&c, &sim, "/").await.0, 200);
    sim.stop().await;
    assert!(c.get(format!("http://{addr}/")).send().await.is_err());
    let sim2 = EsSim::start().await;
    let addr2 = sim2.addr();
    drop(sim2);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        client()
            .get(format!("http://{addr2}/"))
            .send()
            .await
            .is_err()
    );
}

/// `POST path` (a JSON body unless null): the status and the JSON body.
async fn post(c: &reqwest::Client, sim: &EsSim, path: &str, body: Value) -> (u16, Value) {
    let mut r = c.post(format!("{}{path}", sim.url()));
    if !body.is_null() {
        r = r.json(&body);
    }
    let r = r.send().await.expect("send");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn put(c: &reqwest::Client, sim: &EsSim, path: &str, body: Value) -> (u16, Value) {
    let r = c
        .put(format!("{}{path}", sim.url()))
        .json(&body)
        .send()
        .await
        .expect("send");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// SLM runs are recorded: a run made to fail shows as `last_failure` with its reason (as
/// Elasticsearch's `details`, a JSON string), a later success as `last_success`; the
/// counts in the policy and in `_slm/stats`; the controls are not requests.
#[tokio::test]
async fn slm_runs_record_successes_and_failures() {
    let sim = EsSim::start_with(SimConfig {
        path_repo: vec!["/snapshots".into()],
        ..SimConfig::default()
    })
    .await;
    let c = client();
    let repo = json!({"type": "fs", "settings": {"location": "/snapshots/r"}});
    assert_eq!(put(&c, &sim, "/_snapshot/r", repo).await.0, 200);
    let policy = json!({"name": "<n-{now/d}>", "schedule": "0 30 1 * * ?", "repository": "r"});
    assert_eq!(put(&c, &sim, "/_slm/policy/p", policy).await.0, 200);
    let (_, stats) = get(&c, &sim, "/_slm/stats").await;
    assert_eq!(stats["policy_stats"], json!([]));
    assert_eq!(stats["total_snapshots_taken"], 0);

    assert!(sim.slm_fail_next("p", "disk full"));
    assert!(!sim.slm_fail_next("nope", "x"));
    let failed = sim.slm_run("p").expect("run starts");
    let (_, got) = get(&c, &sim, "/_slm/policy/p").await;
    let failure = &got["p"]["last_failure"];
    assert_eq!(failure["snapshot_name"], json!(failed));
    let details: Value =
        serde_json::from_str(failure["details"].as_str().expect("details")).expect("json");
    assert_eq!(details["type"], "snapshot_exception");
    assert_eq!(details["reason"], json!(format!("[r:{failed}] disk full")));
    assert!(got["p"].get("last_success").is_none());
    assert_eq!(got["p"]["stats"]["snapshots_failed"], 1);

    let taken = sim.slm_run("p").expect("the next run succeeds");
    let (_, got) = get(&c, &sim, "/_slm/policy/p").await;
    assert_eq!(got["p"]["last_success"]["snapshot_name"], json!(taken));
    assert!(got["p"]["last_failure"].is_object(), "the failure stays");
    let (_, stats) = get(&c, &sim, "/_slm/stats").await;
    assert_eq!(
        stats["policy_stats"],
        json!([{"policy": "p", "snapshots_taken": 1, "snapshots_failed": 1,
            "snapshots_deleted": 0, "snapshot_deletion_failures": 0}])
    );
    assert_eq!(
        (
            stats["total_snapshots_taken"].clone(),
            stats["total_snapshots_failed"].clone()
        ),
        (json!(1), json!(1))
    );
    let (_, snaps) = get(&c, &sim, "/_snapshot/r/_all").await;
    assert_eq!(snaps["snapshots"].as_array().map(Vec::len), Some(1));
    assert!(
        sim.requests().iter().all(|r| !r.path.contains("_execute")),
        "controls are not requests"
    );
}

/// A broken repository fails `_verify` (and a verifying PUT) until fixed; an unknown one
/// is a 404 `repository_missing_exception`.
#[tokio::test]
async fn a_broken_repository_does_not_verify() {
    let sim = EsSim::start_with(SimConfig {
        path_repo: vec!["/snapshots".into()],
        ..SimConfig::default()
    })
    .await;
    let c = client();
    let repo = json!({"type": "fs", "settings": {"location": "/snapshots/r"}});
    assert_eq!(put(&c, &sim, "/_snapshot/r", repo.clone()).await.0, 200);
    assert_eq!(
        post(&c, &sim, "/_snapshot/r/_verify", Value::Null).await.0,
        200
    );
    sim.break_repository("r", "Permission denied");
    let (status, body) = post(&c, &sim, "/_snapshot/r/_verify", Value::Null).await;
    assert_eq!(status, 500);
    assert_eq!(body["error"]["type"], "repository_verification_exception");
    assert_eq!(
        body["error"]["reason"],
        "[r] path [/snapshots/r] is not accessible on master node"
    );
    assert_eq!(body["error"]["caused_by"]["reason"], "Permission denied");
    assert_eq!(put(&c, &sim, "/_snapshot/r", repo).await.0, 500);
    sim.fix_repository("r");
    assert_eq!(
        post(&c, &sim, "/_snapshot/r/_verify", Value::Null).await.0,
        200
    );
    let (status, body) = post(&c, &sim, "/_snapshot/nope/_verify", Value::Null).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["type"], "repository_missing_exception");
    assert_eq!(body["error"]["reason"], "[nope] missing");
}

/// An index put in ILM's ERROR step shows it in `_ilm/explain` until `_ilm/retry`; a retry
/// of an index without an error is refused.
#[tokio::test]
async fn an_ilm_error_step_clears_on_retry() {
    let (sim, c) = started().await;
    let policy =
        json!({"policy": {"phases": {"hot": {"actions": {"rollover": {"max_age": "1d"}}}}}});
    assert_eq!(put(&c, &sim, "/_ilm/policy/p", policy).await.0, 200);
    let index = json!({"settings": {"index.lifecycle.name": "p", "index.lifecycle.rollover_alias": "a"},
        "aliases": {"a": {"is_write_index": true}}});
    assert_eq!(put(&c, &sim, "/a-000001", index).await.0, 200);
    let (status, body) = post(&c, &sim, "/a-000001/_ilm/retry", Value::Null).await;
    assert_eq!(status, 400, "{body}");
    assert!(!sim.ilm_fail_step("nope", "shrink", "t", "r"));
    assert!(sim.ilm_fail_step("a-000001", "shrink", "illegal_state_exception", "no room"));
    let (_, explain) = get(&c, &sim, "/a-*/_ilm/explain?only_errors=true").await;
    let e = &explain["indices"]["a-000001"];
    assert_eq!(
        (
            e["step"].clone(),
            e["failed_step"].clone(),
            e["step_info"]["reason"].clone()
        ),
        (json!("ERROR"), json!("shrink"), json!("no room"))
    );
    let (status, body) = post(&c, &sim, "/a-000001/_ilm/retry", Value::Null).await;
    assert_eq!((status, body), (200, json!({"acknowledged": true})));
    let (_, explain) = get(&c, &sim, "/a-*/_ilm/explain?only_errors=true").await;
    assert_eq!(explain["indices"], json!({}));
}

/// Nodes by name, and the shard table: copies spread over the nodes (never two of a shard
/// on one), moved off a node the allocation filter excludes unless relocation is held, and
/// lost with a node that leaves.
#[tokio::test]
async fn shards_move_off_excluded_nodes_unless_held_and_leave_with_their_node() {
    let (sim, c) = started().await;
    sim.set_node_names(&["n-0", "n-1", "n-2"]);
    let put = |path: &str, body: Value| {
        let c = c.clone();
        let url = format!("{}{path}", sim.url());
        async move { c.put(url).json(&body).send().await.expect("put").status() }
    };
    let s = put(
        "/logs-1",
        json!({"settings": {"number_of_shards": 3, "number_of_replicas": 1}}),
    )
    .await;
    assert!(s.is_success());
    let on = |node: &str| {
        sim.shard_table()
            .iter()
            .filter(|r| r.node.as_deref() == Some(node))
            .count()
    };
    assert_eq!((on("n-0"), on("n-1"), on("n-2")), (2, 2, 2));
    let table = sim.shard_table();
    for shard in 0..3 {
        let nodes: Vec<_> = table
            .iter()
            .filter(|r| r.shard == shard)
            .map(|r| r.node.clone())
            .collect();
        assert_eq!(nodes.len(), 2);
        assert_ne!(
            nodes[0], nodes[1],
            "two copies of shard {shard} on one node"
        );
    }

    sim.hold_relocation(true);
    let exclude = json!({"persistent": {"cluster.routing.allocation.exclude._name": "n-2"}});
    assert!(put("/_cluster/settings", exclude).await.is_success());
    let (_, rows) = get(&c, &sim, "/_cat/shards?format=json&h=shard,state,node").await;
    let relocating: Vec<&Value> = rows
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["state"] == "RELOCATING")
        .collect();
    assert_eq!(relocating.len(), 2, "{rows}");
    assert!(
        relocating[0]["node"]
            .as_str()
            .expect("node")
            .starts_with("n-2 -> ")
    );

    sim.hold_relocation(false);
    // n-0 and n-1 now hold one copy of each shard; n-2 none.
    assert_eq!((on("n-0"), on("n-1"), on("n-2")), (3, 3, 0));
    let (_, nodes) = get(&c, &sim, "/_nodes?filter_path=nodes.*.name").await;
    assert_eq!(nodes["nodes"].as_object().map(|n| n.len()), Some(3));

    // A node that leaves takes its copies with it; they are placed again where they can be
    // (one node left for two copies: the replicas stay unassigned).
    sim.set_node_names(&["n-0"]);
    let table = sim.shard_table();
    assert_eq!(table.iter().filter(|r| r.node.is_none()).count(), 3);
    assert!(
        table
            .iter()
            .filter(|r| r.primary)
            .all(|r| r.node.as_deref() == Some("n-0"))
    );
}

/// Voting configuration exclusions: by name (an unknown name is `_absent_`), read back
/// through the cluster state, cleared; a clear that would wait for a node still in the
/// cluster fails as Elasticsearch's wait would.
#[tokio::test]
async fn voting_exclusions_are_recorded_and_cleared() {
    let (sim, c) = started().await;
    sim.set_node_names(&["n-0", "n-1", "n-2"]);
    let send = |method: reqwest::Method, path: &str| {
        let c = c.clone();
        let url = format!("{}{path}", sim.url());
        async move {
            c.request(method, url)
                .send()
                .await
                .expect("send")
                .status()
                .as_u16()
        }
    };
    let state = "/_cluster/state/metadata?filter_path=metadata.cluster_coordination.voting_config_exclusions";
    assert_eq!(
        send(
            reqwest::Method::POST,
            "/_cluster/voting_config_exclusions?node_names=n-2,gone"
        )
        .await,
        200
    );
    let (_, body) = get(&c, &sim, state).await;
    let list = &body["metadata"]["cluster_coordination"]["voting_config_exclusions"];
    assert_eq!(list[1], json!({"node_id": "_absent_", "node_name": "gone"}));
    assert_eq!(list[0]["node_name"], "n-2");
    assert_eq!(
        send(
            reqwest::Method::DELETE,
            "/_cluster/voting_config_exclusions"
        )
        .await,
        500
    );
    sim.set_node_names(&["n-0", "n-1"]);
    assert_eq!(
        send(
            reqwest::Method::DELETE,
            "/_cluster/voting_config_exclusions"
        )
        .await,
        200
    );
    assert!(sim.with_state(|s| s.voting_exclusions.is_empty()));
    assert_eq!(
        send(reqwest::Method::POST, "/_cluster/voting_config_exclusions").await,
        400
    );
}

/// `POST /_nodes/reload_secure_settings`: a node whose keystore password the test set
/// reloads only with that password, and otherwise answers Elasticsearch's per-node
/// `reload_exception` (HTTP 200, counted successful, as the real 8.19 node answers); a node
/// without one accepts any; the reload-error control refuses on every node.
#[tokio::test]
async fn reload_secure_settings_checks_each_nodes_keystore_password() {
    let (sim, c) = started().await;
    sim.set_node_names(&["n-0", "n-1", "n-2"]);
    sim.set_keystore_password("n-0", "digest-2");
    sim.set_keystore_password("n-1", "digest-1");
    let reload = |password: &str| {
        let c = c.clone();
        let url = format!("{}/_nodes/reload_secure_settings", sim.url());
        let body = json!({"secure_settings_password": password});
        async move {
            let r = c.post(url).json(&body).send().await.expect("reload");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.expect("json"))
        }
    };
    let outcome = |body: &Value| -> Vec<(String, Option<String>)> {
        let mut rows: Vec<_> = body["nodes"]
            .as_object()
            .expect("nodes")
            .values()
            .map(|n| {
                (
                    n["name"].as_str().unwrap_or_default().to_string(),
                    n["reload_exception"]["reason"].as_str().map(str::to_string),
                )
            })
            .collect();
        rows.sort();
        rows
    };
    let (status, body) = reload("digest-2").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["_nodes"],
        json!({"total": 3, "successful": 3, "failed": 0})
    );
    let wrong = Some("Provided keystore password was incorrect".to_string());
    assert_eq!(
        outcome(&body),
        [
            ("n-0".to_string(), None),
            ("n-1".to_string(), wrong.clone()),
            ("n-2".to_string(), None),
        ]
    );
    sim.set_keystore_password("n-1", "digest-2");
    assert!(
        outcome(&reload("digest-2").await.1)
            .iter()
            .all(|(_, e)| e.is_none())
    );
    sim.set_keystore_reload_error(Some("unknown secure setting [s3.client.default.acess_key]"));
    let (_, body) = reload("digest-2").await;
    assert!(
        outcome(&body)
            .iter()
            .all(|(_, e)| e.as_deref()
                == Some("unknown secure setting [s3.client.default.acess_key]"))
    );
    let r = c
        .post(format!("{}/_nodes/reload_secure_settings", sim.url()))
        .json(&json!({"password": "x"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 400, "an unknown field is refused");
}
