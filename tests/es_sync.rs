//! The Elasticsearch configuration sync against the ES stand-in, judged by its request log
//! and its state: order, zero-write steady state, drift, pruning, bad input, retries,
//! restart safety and secrets in logs.

use std::collections::BTreeMap;

use std::time::{Duration, Instant};

use es_sim::{EsSim, Fault};
use kit::desired;
use kit::example_spec;
use kit::sim::{client, client_as, es_sim};
use kit::sync::{COLLECTOR_PASSWORD, KIBANA_PASSWORD, pass};
use meshlogging_operator::api::AppliedStatus;
use meshlogging_operator::elastic::sync::cleanup;
use meshlogging_operator::elastic::{ClientConfig, Credentials, EsClient, Kind, SyncReport};
use meshlogging_testkit as kit;
use serde_json::{Value, json};

const OWNER: &str = "logging/mcp-mesh-logs";

fn log(sim: &EsSim) -> Vec<String> {
    sim.requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn writes(sim: &EsSim) -> Vec<String> {
    sim.write_requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// What matters of the stand-in's state, without server clocks and counters.
fn fingerprint(sim: &EsSim) -> Value {
    sim.with_state(|s| {
        let indices: BTreeMap<&String, Value> = s
            .indices
            .iter()
            .map(|(name, i)| (name, json!({ "aliases": i.aliases, "ilm": i.settings.get("index.lifecycle.name") })))
            .collect();
        json!({
            "ilm": s.ilm_policies.iter().map(|(k, v)| (k.clone(), v.policy.clone())).collect::<BTreeMap<_, _>>(),
            "component": s.component_templates.iter().map(|(k, v)| (k.clone(), json!({"t": v.template, "m": v.meta}))).collect::<BTreeMap<_, _>>(),
            "index_templates": s.index_templates.iter().map(|(k, v)| (k.clone(), json!({"p": v.index_patterns, "c": v.composed_of, "prio": v.priority, "m": v.meta}))).collect::<BTreeMap<_, _>>(),
            "indices": indices,
            "repositories": s.repositories.iter().map(|(k, v)| (k.clone(), json!({"type": v.kind, "settings": v.settings}))).collect::<BTreeMap<_, _>>(),
            "slm": s.slm_policies.iter().map(|(k, v)| (k.clone(), v.policy.clone())).collect::<BTreeMap<_, _>>(),
            "roles": s.roles.iter().map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default())).collect::<BTreeMap<_, _>>(),
            "users": s.users.iter().map(|(k, v)| (k.clone(), json!({"roles": v.roles, "password": v.password, "meta": v.metadata}))).collect::<BTreeMap<_, _>>(),
        })
    })
}

/// A user's own ILM policy, without the operator's marker.
async fn put_users_own_policy(client: &EsClient) {
    client
        .put(
            "ilm",
            "/_ilm/policy/users-own",
            &json!({"policy": {"phases": {"delete": {"min_age": "3d", "actions": {"delete": {}}}}}}),
        )
        .await
        .expect("user's policy");
}

fn assert_clean(report: &SyncReport) {
    let failures = report.failures(|_| true);
    assert!(failures.is_empty(), "failures: {failures:#?}");
}

#[tokio::test]
async fn from_empty_applies_everything_in_dependency_order() {
    let sim = es_sim(1).await;
    let client = client(&sim);
    let desired = desired(&example_spec("production.yaml"), OWNER);
    let (report, applied) = pass(&client, &desired, &AppliedStatus::default()).await;
    assert_clean(&report);

    let expected = [
        "GET /",
        "GET /_ilm/policy",
        "PUT /_ilm/policy/mcp-mesh-logs",
        "GET /_component_template",
        "PUT /_component_template/mcp-mesh-logs-mappings",
        "PUT /_component_template/mcp-mesh-logs-settings",
        "GET /_index_template",
        "PUT /_index_template/mcp-mesh-logs",
        "PUT /_index_template/mcp-mesh-logs-deadletter",
        "GET /_alias/mcp-mesh-logs",
        "PUT /mcp-mesh-logs-000001",
        "GET /_security/role",
        "PUT /_security/role/mcp-mesh-logs-collector",
        // The operator's own Kibana user (dashboards): a role of Kibana privileges only.
        "PUT /_security/role/mcp-mesh-logs-kibana-dashboards",
        "GET /mcp-mesh-logs-deadletter/_mapping",
        "PUT /mcp-mesh-logs-deadletter",
        "GET /_security/user",
        "GET /_security/_authenticate",
        "POST /_security/user/kibana_system/_password",
        "PUT /_security/user/mcp-mesh-logs-collector",
        "PUT /_security/user/mcp-mesh-logs-kibana-dashboards",
        "GET /_snapshot",
        "PUT /_snapshot/mcp_mesh_backup",
        "GET /_slm/policy",
        "PUT /_slm/policy/daily-snapshots",
    ];
    assert_eq!(log(&sim), expected);
    eprintln!(
        "from-empty sync of examples/production.yaml: {} requests, {} writes",
        sim.requests().len(),
        sim.write_requests().len()
    );
    assert_eq!(report.writes(), 14);
    assert_eq!(sim.write_requests().len(), 14);

    // The dead-letter index gets its own template, not the log indices' rollover alias
    // and ILM policy (which would put it in an ILM error step).
    let lifecycle = |index: &str| {
        sim.with_state(|s| {
            s.indices[index]
                .settings
                .get("index.lifecycle.name")
                .cloned()
        })
    };
    assert_eq!(
        lifecycle("mcp-mesh-logs-000001"),
        Some(json!("mcp-mesh-logs"))
    );
    assert_eq!(lifecycle("mcp-mesh-logs-deadletter"), None);

    // What landed is what was meant.
    let state = fingerprint(&sim);
    let ilm = &state["ilm"]["mcp-mesh-logs"]["phases"];
    assert_eq!(
        ilm["hot"]["actions"]["rollover"],
        json!({"max_age": "1d", "max_primary_shard_size": "50gb"})
    );
    assert_eq!(ilm["warm"]["min_age"], "2d");
    assert_eq!(ilm["warm"]["actions"]["shrink"]["number_of_shards"], 1);
    assert_eq!(ilm["cold"]["min_age"], "7d");
    assert_eq!(ilm["delete"]["min_age"], "30d");
    assert_eq!(state["ilm"]["mcp-mesh-logs"]["_meta"]["meshlogging"], OWNER);
    assert_eq!(
        state["index_templates"]["mcp-mesh-logs"]["c"],
        json!(["mcp-mesh-logs-settings", "mcp-mesh-logs-mappings"])
    );
    assert_eq!(state["index_templates"]["mcp-mesh-logs"]["prio"], 200);
    let index = &state["indices"]["mcp-mesh-logs-000001"];
    assert_eq!(index["aliases"]["mcp-mesh-logs"]["is_write_index"], true);
    assert_eq!(
        index["ilm"], "mcp-mesh-logs",
        "the template's settings applied on creation"
    );
    assert_eq!(
        state["repositories"]["mcp_mesh_backup"]["settings"],
        json!({
            "bucket": "mcp-mesh-logs-backup",
            "region": "us-east-1",
            // Repositories have no _meta: the ownership marker is in their settings.
            "meshlogging_managed_by": "meshlogging-operator",
            "meshlogging_owner": OWNER,
        })
    );
    let slm = &state["slm"]["daily-snapshots"];
    assert_eq!(slm["schedule"], "0 30 1 * * ?");
    assert_eq!(
        slm["retention"],
        json!({"expire_after": "90d", "min_count": 5, "max_count": 50})
    );
    assert_eq!(slm["config"]["metadata"]["meshlogging"], OWNER);
    assert_eq!(
        state["roles"]["mcp-mesh-logs-collector"]["indices"][0]["names"],
        json!(["mcp-mesh-logs", "mcp-mesh-logs-*"])
    );
    assert_eq!(
        state["users"]["mcp-mesh-logs-collector"]["roles"],
        json!(["mcp-mesh-logs-collector"])
    );

    assert_eq!(report.write_index.as_deref(), Some("mcp-mesh-logs-000001"));
    assert_eq!(applied.write_alias.as_deref(), Some("mcp-mesh-logs"));
    assert_eq!(applied.slm_policies, ["daily-snapshots"]);

    // The collector can write through the alias with its own user, and only there.
    let collector = Credentials {
        username: "mcp-mesh-logs-collector".into(),
        password: COLLECTOR_PASSWORD.into(),
    };
    assert!(
        client
            .authenticates(&collector)
            .await
            .expect("authenticate")
    );
    let kibana = Credentials {
        username: "kibana_system".into(),
        password: KIBANA_PASSWORD.into(),
    };
    assert!(client.authenticates(&kibana).await.expect("authenticate"));
}

#[tokio::test]
async fn a_second_sync_with_nothing_changed_makes_zero_writes() {
    let sim = es_sim(1).await;
    let client = client(&sim);
    let desired = desired(&example_spec("production.yaml"), OWNER);
    let (_, applied) = pass(&client, &desired, &AppliedStatus::default()).await;
    sim.clear_requests();

    let (report, applied2) = pass(&client, &desired, &applied).await;
    assert_clean(&report);
    assert_eq!(writes(&sim), Vec::<String>::new());
    assert_eq!(report.writes(), 0);
    assert_eq!(applied, applied2);
    eprintln!(
        "no-op sync of examples/production.yaml: {} requests, {} writes",
        sim.requests().len(),
        sim.write_requests().len()
    );
    // Every kind was read, nothing rewritten: the SLM policy keeps its schedule.
    let slm_version = sim.with_state(|s| s.slm_policies["daily-snapshots"].version);
    assert_eq!(slm_version, 1);
}

#[tokio::test]
async fn drift_behind_the_operators_back_is_restored_and_user_objects_are_left_alone() {
    let sim = es_sim(1).await;
    let client = client(&sim);
    let desired = desired(&example_spec("production.yaml"), OWNER);
    let (_, applied) = pass(&client, &desired, &AppliedStatus::default()).await;
    let before = fingerprint(&sim);

    // Behind the operator's back: an edited ILM policy (marker kept, as Kibana's editor
    // does), an index template rewritten without the marker, a deleted SLM policy, and a
    // user's own policy.
    sim.with_state(|s| {
        let p = s.ilm_policies.get_mut("mcp-mesh-logs").expect("policy");
        p.policy["phases"]["delete"]["min_age"] = json!("1d");
        let t = s
            .index_templates
            .get_mut("mcp-mesh-logs")
            .expect("template");
        t.priority = Some(500);
        t.meta = None;
        s.slm_policies.remove("daily-snapshots");
    });
    put_users_own_policy(&client).await;
    sim.clear_requests();

    let (report, _) = pass(&client, &desired, &applied).await;
    assert_clean(&report);
    assert_eq!(
        writes(&sim),
        [
            "PUT /_ilm/policy/mcp-mesh-logs",
            "PUT /_index_template/mcp-mesh-logs",
            "PUT /_slm/policy/daily-snapshots",
        ]
    );
    let after = fingerprint(&sim);
    for part in ["ilm", "index_templates", "slm"] {
        let mut b = before[part].clone();
        let mut a = after[part].clone();
        if part == "ilm" {
            a.as_object_mut().expect("map").remove("users-own");
            b.as_object_mut().expect("map").remove("users-own");
        }
        assert_eq!(a, b, "{part} restored");
    }
    assert_eq!(
        after["ilm"]["users-own"]["phases"]["delete"]["min_age"],
        "3d"
    );
}

#[tokio::test]
async fn a_policy_taken_out_is_deleted_and_a_repository_in_use_is_kept() {
    let sim = es_sim(1).await;
    let client = client(&sim);
    let mut spec = example_spec("production.yaml");
    let snapshots = spec.snapshots.as_mut().expect("snapshots");
    snapshots.repositories.push(
        serde_json::from_value(json!(
            {"name": "local", "type": "fs", "settings": {"location": "/snapshots/mesh"}}
        ))
        .expect("repo"),
    );
    snapshots.policies.push(
        serde_json::from_value(json!(
            {"name": "hourly", "schedule": "0 0 * * * ?", "repository": "local"}
        ))
        .expect("policy"),
    );
    let (report, applied) = pass(&client, &desired(&spec, OWNER), &AppliedStatus::default()).await;
    assert_clean(&report);
    // A user's own policy also snapshots into `local`.
    client
        .put(
            "slm",
            "/_slm/policy/users-own",
            &json!({"schedule": "0 0 3 * * ?", "name": "<u-{now/d}>", "repository": "local", "config": {}}),
        )
        .await
        .expect("user's SLM policy");

    // Take `hourly` and `local` out of the spec.
    let snapshots = spec.snapshots.as_mut().expect("snapshots");
    snapshots.policies.retain(|p| p.name != "hourly");
    snapshots.repositories.retain(|r| r.name != "local");
    sim.clear_requests();
    let (report, applied) = pass(&client, &desired(&spec, OWNER), &applied).await;
    assert_clean(&report);
    assert_eq!(writes(&sim), ["DELETE /_slm/policy/hourly"]);
    assert_eq!(report.kind(Kind::SlmPolicy).deleted, ["hourly"]);
    let retained = report.kind(Kind::SnapshotRepository).retained;
    assert_eq!(retained.len(), 1);
    assert!(retained[0].1.contains("users-own"), "{retained:?}");
    assert!(
        applied.snapshot_repositories.contains(&"local".to_string()),
        "still remembered as ours"
    );

    // Once the user's policy is gone, the repository goes too.
    client
        .delete("slm", "/_slm/policy/users-own")
        .await
        .expect("delete");
    sim.clear_requests();
    let (report, applied) = pass(&client, &desired(&spec, OWNER), &applied).await;
    assert_clean(&report);
    assert_eq!(writes(&sim), ["DELETE /_snapshot/local"]);
    assert!(!applied.snapshot_repositories.contains(&"local".to_string()));
    // The user's unmarked ILM policy and other objects are never pruned.
    assert!(sim.with_state(|s| s.repositories.contains_key("mcp_mesh_backup")));
}

#[tokio::test]
async fn a_rejected_policy_reports_elasticsearchs_reason_and_the_rest_still_applies() {
    let sim = es_sim(1).await;
    let client = client(&sim);
    let mut desired = desired(&example_spec("production.yaml"), OWNER);
    // Minute 61 passes the schema's shape check but not Elasticsearch's cron parser.
    desired
        .slm_policies
        .get_mut("daily-snapshots")
        .expect("policy")["schedule"] = json!("0 61 1 * * ?");
    let (report, applied) = pass(&client, &desired, &AppliedStatus::default()).await;
    let failed = report.kind(Kind::SlmPolicy).failed;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].reason, "Rejected");
    // Elasticsearch's own words reach the report.
    assert!(
        failed[0].message.contains("invalid schedule"),
        "{}",
        failed[0].message
    );
    assert!(
        failed[0]
            .message
            .contains("[0 61 1 * * ?]: must be a valid cron expression or time unit"),
        "{}",
        failed[0].message
    );
    // Everything else landed.
    assert!(report.failures(|k| k != Kind::SlmPolicy).is_empty());
    assert_eq!(applied.ilm_policies, ["mcp-mesh-logs"]);
    assert_eq!(applied.snapshot_repositories, ["mcp_mesh_backup"]);
    assert!(applied.slm_policies.is_empty());
}

#[tokio::test]
async fn wrong_credentials_give_a_clear_message_and_stop_the_pass() {
    let sim = es_sim(1).await;
    let client = client_as(&sim, "not-the-password");
    let desired = desired(&example_spec("production.yaml"), OWNER);
    let (report, _) = pass(&client, &desired, &AppliedStatus::default()).await;
    let aborted = report.aborted.expect("aborted");
    assert_eq!(aborted.reason, "Unauthorized");
    assert!(
        aborted
            .message
            .contains("refused the credentials of user \"elastic\""),
        "{}",
        aborted.message
    );
    assert!(!aborted.message.contains("not-the-password"));
    assert_eq!(log(&sim), ["GET /"], "no retries on 401, nothing after it");
}

#[tokio::test]
async fn refused_connections_are_retried_then_reported_unreachable() {
    let sim = es_sim(1).await;
    let client = client(&sim);
    let desired = desired(&example_spec("minimal.yaml"), OWNER);
    sim.inject(Fault::RefuseConnections);
    let (report, _) = pass(&client, &desired, &AppliedStatus::default()).await;
    let aborted = report.aborted.expect("aborted");
    assert_eq!(aborted.reason, "ElasticsearchUnreachable");
    assert!(
        aborted.message.contains("after 3 attempts"),
        "{}",
        aborted.message
    );

    // Recovery when it comes back.
    sim.clear_faults();
    let (report, _) = pass(&client, &desired, &AppliedStatus::default()).await;
    assert_clean(&report);
}

#[tokio::test]
async fn an_unreachable_cluster_reads_the_same_every_pass_whatever_the_transport_said() {
    let desired = desired(&example_spec("minimal.yaml"), OWNER);
    let message = async |client: &EsClient| {
        let (report, _) = pass(client, &desired, &AppliedStatus::default()).await;
        let aborted = report.aborted.expect("aborted");
        assert_eq!(aborted.reason, "ElasticsearchUnreachable");
        aborted.message
    };

    // Nothing listens: the port was free a moment ago.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let closed = EsClient::new(ClientConfig {
        url: format!("https://127.0.0.1:{port}"),
        credentials: None,
        ca_pem: None,
        request_timeout: Duration::from_secs(2),
        retry: kit::sim::fast_retry(),
    })
    .expect("client");
    let first = message(&closed).await;
    assert!(
        first.ends_with("connection refused (after 3 attempts)"),
        "{first}"
    );
    assert_eq!(message(&closed).await, first, "stable between passes");

    // An answer slower than the request timeout.
    let slow_sim = es_sim(1).await;
    slow_sim.inject(Fault::Latency(Duration::from_millis(1500)));
    let mut config = ClientConfig::new(slow_sim.url());
    config.ca_pem = slow_sim.ca_pem().map(String::into_bytes);
    config.request_timeout = Duration::from_millis(300);
    config.retry = kit::sim::fast_retry();
    let slow = EsClient::new(config).expect("client");
    let first = message(&slow).await;
    assert!(
        first.contains("no answer within the request timeout"),
        "{first}"
    );
    assert_eq!(message(&slow).await, first, "stable between passes");

    // A CA that did not sign the server's certificate.
    let other_sim = es_sim(1).await;
    let mut config = ClientConfig::new(other_sim.url());
    config.ca_pem = Some(
        rcgen::generate_simple_self_signed(vec!["other".to_string()])
            .expect("cert")
            .cert
            .pem()
            .into_bytes(),
    );
    config.retry = kit::sim::fast_retry();
    let untrusted = EsClient::new(config).expect("client");
    let first = message(&untrusted).await;
    assert!(first.contains("TLS failed"), "{first}");
    assert_eq!(message(&untrusted).await, first, "stable between passes");
}

#[tokio::test]
async fn a_503_is_retried_and_then_reported_unreachable() {
    let sim = es_sim(1).await;
    let client = client(&sim);
    let desired = desired(&example_spec("minimal.yaml"), OWNER);
    sim.inject(Fault::Status {
        status: 503,
        count: 10,
        path_prefix: None,
    });
    let (report, _) = pass(&client, &desired, &AppliedStatus::default()).await;
    assert_eq!(
        report.aborted.expect("aborted").reason,
        "ElasticsearchUnreachable"
    );
    assert_eq!(log(&sim), ["GET /", "GET /", "GET /"], "3 attempts");

    // One 503 is absorbed by a retry.
    sim.clear_faults();
    sim.clear_requests();
    sim.inject(Fault::Status {
        status: 503,
        count: 1,
        path_prefix: Some("/_ilm".into()),
    });
    let (report, _) = pass(&client, &desired, &AppliedStatus::default()).await;
    assert_clean(&report);
    assert_eq!(&log(&sim)[1..3], ["GET /_ilm/policy", "GET /_ilm/policy"]);
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after() {
    let sim = es_sim(1).await;
    let client = client(&sim);
    let desired = desired(&example_spec("minimal.yaml"), OWNER);
    sim.inject(Fault::TooManyRequests {
        count: 1,
        retry_after_secs: 1,
    });
    let start = Instant::now();
    let (report, _) = pass(&client, &desired, &AppliedStatus::default()).await;
    assert_clean(&report);
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        start.elapsed()
    );
    assert_eq!(&log(&sim)[..2], ["GET /", "GET /"]);
}

#[tokio::test]
async fn client_errors_are_never_retried() {
    let sim = es_sim(1).await;
    let client = client(&sim);
    for status in [400, 403, 404, 409] {
        sim.clear_requests();
        sim.inject(Fault::Status {
            status,
            count: 1,
            path_prefix: Some("/_ilm/policy/".into()),
        });
        let _ = client
            .put("ilm", "/_ilm/policy/x", &json!({"policy": {"phases": {}}}))
            .await;
        assert_eq!(log(&sim).len(), 1, "{status} retried: {:?}", log(&sim));
        sim.clear_faults();
    }
}

#[tokio::test]
async fn a_pass_interrupted_after_any_request_converges_to_the_same_state() {
    let desired = desired(&example_spec("production.yaml"), OWNER);

    let reference = es_sim(1).await;
    let (report, reference_applied) =
        pass(&client(&reference), &desired, &AppliedStatus::default()).await;
    assert_clean(&report);
    let total = reference.requests().len() as u64;
    let expected = fingerprint(&reference);

    for n in 1..=total {
        let sim = es_sim(1).await;
        let client = client(&sim);
        sim.inject(Fault::FailRequestNumberWith { n, status: 500 });
        let (_, applied) = pass(&client, &desired, &AppliedStatus::default()).await;
        // The next pass (the operator restarted) finishes the job.
        let (report, applied) = pass(&client, &desired, &applied).await;
        assert_clean(&report);
        assert_eq!(fingerprint(&sim), expected, "interrupted at request {n}");
        assert_eq!(applied, reference_applied, "interrupted at request {n}");
        let bootstrap: Vec<String> = sim.with_state(|s| s.indices.keys().cloned().collect());
        assert_eq!(
            bootstrap,
            ["mcp-mesh-logs-000001", "mcp-mesh-logs-deadletter"],
            "interrupted at request {n}: one bootstrap index, one dead-letter index"
        );
    }
}

#[tokio::test]
async fn an_existing_alias_pointing_elsewhere_is_reported_not_overwritten() {
    let sim = es_sim(1).await;
    let client = client(&sim);
    client
        .put(
            "indices.create",
            "/legacy",
            &json!({"aliases": {"mcp-mesh-logs": {"is_write_index": true}}}),
        )
        .await
        .expect("legacy index");
    let desired = desired(&example_spec("minimal.yaml"), "logging/mesh-logs");
    let (report, applied) = pass(&client, &desired, &AppliedStatus::default()).await;
    let failed = report.kind(Kind::WriteAlias).failed;
    assert_eq!(failed[0].reason, "Conflict");
    assert!(
        failed[0].message.contains("writes to legacy"),
        "{}",
        failed[0].message
    );
    assert!(applied.write_alias.is_none());
    assert!(!sim.with_state(|s| s.indices.contains_key("mcp-mesh-logs-000001")));
}

#[tokio::test]
async fn objects_of_another_meshlogging_are_not_touched() {
    let sim = es_sim(1).await;
    let client = client(&sim);
    let spec = example_spec("minimal.yaml");
    let (report, _) = pass(
        &client,
        &desired(&spec, "team-a/logs"),
        &AppliedStatus::default(),
    )
    .await;
    assert_clean(&report);
    sim.clear_requests();
    let (report, _) = pass(
        &client,
        &desired(&spec, "team-b/logs"),
        &AppliedStatus::default(),
    )
    .await;
    assert_eq!(writes(&sim), Vec::<String>::new());
    let conflicts = report.kind(Kind::IlmPolicy).failed;
    assert_eq!(conflicts[0].reason, "Conflict");
    assert!(
        conflicts[0]
            .message
            .contains("belongs to MeshLogging team-a/logs")
    );
}

#[tokio::test]
async fn a_repository_two_resources_declare_belongs_to_the_first_and_survives_the_second() {
    let sim = es_sim(1).await;
    let client = client(&sim);
    // Two resources with their own index names declare the same repository.
    let mut a = example_spec("production.yaml");
    a.index.name = "team-a-logs".into();
    let mut b = example_spec("production.yaml");
    b.index.name = "team-b-logs".into();
    if let Some(s) = &mut b.snapshots {
        s.policies.clear();
    }
    let (report, _) = pass(
        &client,
        &desired(&a, "team-a/logs"),
        &AppliedStatus::default(),
    )
    .await;
    assert_clean(&report);

    let (report, b_applied) = pass(
        &client,
        &desired(&b, "team-b/logs"),
        &AppliedStatus::default(),
    )
    .await;
    let repo = &report.kind(Kind::SnapshotRepository).failed;
    assert_eq!(repo.len(), 1, "{report:#?}");
    assert_eq!(repo[0].reason, "Conflict");
    assert!(
        repo[0]
            .message
            .contains("belongs to MeshLogging team-a/logs"),
        "{}",
        repo[0].message
    );
    assert!(b_applied.snapshot_repositories.is_empty(), "{b_applied:?}");

    // Deleting the second resource leaves the first one's repository.
    let cleaned = cleanup(&client, "team-b/logs", "team-b-logs", &b_applied, false).await;
    assert!(cleaned.aborted.is_none());
    assert!(
        sim.with_state(|s| s.repositories.contains_key("mcp_mesh_backup")),
        "team A's repository is still there"
    );
}

#[tokio::test]
async fn cleanup_removes_what_this_resource_owns_and_nothing_else() {
    let sim = es_sim(1).await;
    let client = client(&sim);
    let desired = desired(&example_spec("production.yaml"), OWNER);
    let (_, applied) = pass(&client, &desired, &AppliedStatus::default()).await;
    put_users_own_policy(&client).await;

    let report = cleanup(&client, OWNER, "mcp-mesh-logs", &applied, true).await;
    assert!(report.aborted.is_none(), "{report:?}");
    let state = fingerprint(&sim);
    assert_eq!(state["slm"], json!({}));
    assert_eq!(state["repositories"], json!({}));
    assert_eq!(state["index_templates"], json!({}));
    assert_eq!(state["component"], json!({}));
    assert_eq!(state["indices"], json!({}));
    assert_eq!(state["roles"], json!({}));
    assert_eq!(
        state["ilm"]
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["users-own".to_string()])
    );
    assert!(state["users"].get("mcp-mesh-logs-collector").is_none());
}

/// Against a real Elasticsearch when `ES_URL` is set (`ES_USERNAME`, `ES_PASSWORD`,
/// `ES_CA_FILE` optional): from empty, a zero-write second pass, then cleanup. Uses its
/// own index name and owner, so it leaves the cluster as it found it.
#[tokio::test]
async fn against_a_real_elasticsearch_when_es_url_is_set() {
    let Ok(url) = std::env::var("ES_URL") else {
        eprintln!("ES_URL not set: the real-Elasticsearch round trip did not run");
        return;
    };
    let ca_pem = std::env::var("ES_CA_FILE")
        .ok()
        .map(|f| std::fs::read(f).expect("read ES_CA_FILE"));
    let client = EsClient::new(ClientConfig {
        credentials: Some(Credentials {
            username: std::env::var("ES_USERNAME").unwrap_or_else(|_| "elastic".into()),
            password: std::env::var("ES_PASSWORD").unwrap_or_default(),
        }),
        ca_pem,
        ..ClientConfig::new(url)
    })
    .expect("client");
    let suffix = format!("{:08x}", rand::random::<u32>());
    let mut spec = example_spec("production.yaml");
    spec.index.name = format!("meshlogging-it-{suffix}");
    spec.snapshots = None; // repositories need storage the test cannot assume
    spec.kibana.enabled = false; // never reset kibana_system on someone's cluster
    spec.dashboards.enabled = false;
    let owner = format!("it/{suffix}");
    let desired = desired(&spec, &owner);

    let (first, applied) = pass(&client, &desired, &AppliedStatus::default()).await;
    assert_clean(&first);
    let (second, _) = pass(&client, &desired, &applied).await;
    assert_clean(&second);
    assert_eq!(
        second.writes(),
        0,
        "a second pass against real Elasticsearch wrote: {second:?}"
    );
    let report = cleanup(&client, &owner, &spec.index.name, &applied, true).await;
    assert!(report.aborted.is_none(), "{report:?}");
    eprintln!(
        "real Elasticsearch {:?}: first pass {} writes, second pass 0",
        first.version,
        first.writes()
    );
}
