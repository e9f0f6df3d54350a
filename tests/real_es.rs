//! The operator's Elasticsearch configuration against a **real Elasticsearch** (the
//! integration-test distribution, started once for this test binary by the test kit's
//! `elasticsearch`): every API that distribution has is proven here, not against the
//! stand-in. Requests are counted from the node's own audit log.
//!
//! What the distribution lacks is covered by the stand-in (`tests/es_sync.rs`,
//! `tests/controller.rs`) and must show here as what a user of such a cluster would see:
//! - ILM and SLM (no module): `NotSupportedByCluster` naming the API, everything else applied;
//! - the native realm (its `.security` index needs `analysis-common`): role and user PUTs
//!   are refused by Elasticsearch, quoted with its reason;
//! - `repository-s3`: an `s3` repository is refused with Elasticsearch's reason;
//! - `rest-root` (`GET /`): the version comes from the node that answers.
//!
//! The tests run one at a time (they count the node's requests), each with its own index
//! name, so they never see each other's objects.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kit::desired;
use kit::elasticsearch::{self, RealEs};
use kube::api::{Api, PostParams};
use meshlogging_operator::api::{AppliedStatus, MeshLogging, MeshLoggingSpec};
use meshlogging_operator::controller::ServiceEndpoint;
use meshlogging_operator::elastic::{DesiredConfig, EsClient, Kind, SyncReport};
use meshlogging_testkit as kit;
use serde_json::{Value, json};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn es() -> &'static RealEs {
    elasticsearch::get()
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{:06x}", rand::random::<u32>() & 0xff_ffff)
}

/// `example` with its own index name, and its repositories and SLM policies renamed after
/// it; `fs` repositories live under the node's `path.repo`.
fn spec_for(example: &str, index: &str) -> MeshLoggingSpec {
    let mut spec = kit::example(&format!("{example}.yaml")).spec;
    spec.index.name = index.to_string();
    if let Some(snapshots) = &mut spec.snapshots {
        for repo in &mut snapshots.repositories {
            repo.name = format!("{index}-{}", repo.name);
            if repo.settings.contains_key("location") {
                let location = es().repo_dir.join(&repo.name);
                repo.settings
                    .insert("location".into(), location.display().to_string());
            }
        }
        for policy in &mut snapshots.policies {
            policy.name = format!("{index}-{}", policy.name);
            policy.repository = format!("{index}-{}", policy.repository);
        }
    }
    spec
}

async fn pass(client: &EsClient, desired: &DesiredConfig, prev: &AppliedStatus) -> SyncReport {
    kit::sync::pass(client, desired, prev).await.0
}

async fn get(client: &EsClient, path: &str) -> Value {
    client
        .get("test", path)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .unwrap_or_else(|| panic!("GET {path}: 404"))
}

/// Whether `GET path` finds something (not a 404).
async fn exists(client: &EsClient, path: &str) -> bool {
    client.get("test", path).await.expect("GET").is_some()
}

fn failed_reasons(report: &SyncReport, kind: Kind) -> BTreeSet<&'static str> {
    report
        .kinds
        .get(&kind)
        .map(|r| r.failed.iter().map(|f| f.reason.as_str()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn every_example_applies_what_the_cluster_serves_and_a_second_pass_changes_nothing() {
    let _serial = SERIAL.lock().await;
    let client = es().client();
    for example in ["minimal", "production", "external-elasticsearch"] {
        let index = unique(&example[..3]);
        let spec = spec_for(example, &index);
        let desired = desired(&spec, &format!("test/{index}"));

        let mark = es().rest_actions().await;
        let first = pass(&client, &desired, &AppliedStatus::default()).await;
        let from_empty = es().rest_actions().await.since(&mark);
        assert!(first.aborted.is_none(), "{example}: {:?}", first.aborted);
        assert_eq!(
            first.version.map(|v| v.major),
            Some(8),
            "{example}: version from the node"
        );

        // What the distribution serves is applied.
        let templates = first.kind(Kind::ComponentTemplate);
        assert_eq!(
            templates.created,
            vec![format!("{index}-mappings"), format!("{index}-settings")],
            "{example}: {:?}",
            templates.failed
        );
        assert_eq!(
            first.kind(Kind::DeadLetterIndex).created,
            vec![format!("{index}-deadletter")],
            "{example}: {:?}",
            first.kind(Kind::DeadLetterIndex).failed
        );
        assert_eq!(
            first.kind(Kind::IndexTemplate).created,
            vec![index.clone(), format!("{index}-deadletter")],
            "{example}: {:?}",
            first.kind(Kind::IndexTemplate).failed
        );
        assert_eq!(first.kind(Kind::WriteAlias).created, vec![index.clone()]);
        assert_eq!(first.write_index, Some(format!("{index}-000001")));

        // What it does not serve is named, per kind, and nothing else is lost.
        assert_eq!(
            failed_reasons(&first, Kind::IlmPolicy),
            BTreeSet::from(["NotSupportedByCluster"])
        );
        let ilm = &first.kind(Kind::IlmPolicy).failed[0];
        assert!(ilm.message.contains("/_ilm/policy"), "{}", ilm.message);
        assert!(first.unsupported.contains_key(&Kind::IlmPolicy));
        if !desired.slm_policies.is_empty() {
            assert_eq!(
                failed_reasons(&first, Kind::SlmPolicy),
                BTreeSet::from(["NotSupportedByCluster"])
            );
        }
        // The native realm cannot work here: Elasticsearch's own refusal is quoted.
        for f in first.kind(Kind::Role).failed {
            assert_eq!(f.reason, "Rejected", "{f:?}");
            assert!(f.message.contains("illegal_argument_exception"), "{f:?}");
        }
        for (name, repo) in &desired.repositories {
            let kind = repo.body["type"].as_str().unwrap_or_default();
            let r = first.kind(Kind::SnapshotRepository);
            if kind == "fs" {
                assert!(
                    r.created.contains(name),
                    "{example}: fs {name}: {:?}",
                    r.failed
                );
            } else {
                let f = r.failed.iter().find(|f| &f.name == name).expect("refused");
                assert!(f.message.contains(kind), "{example}: {f:?}");
            }
        }

        // The bodies as the real node stores them.
        let mappings = get(&client, &format!("/_component_template/{index}-mappings")).await;
        let template = &mappings["component_templates"][0]["component_template"]["template"];
        assert_eq!(
            template["settings"]["index"]["analysis"]["analyzer"]["log_analyzer"]["tokenizer"],
            json!("standard"),
            "the mappings template defines its own analyzer: {template}"
        );
        let settings = get(&client, &format!("/{index}-000001/_settings")).await;
        let s = &settings[format!("{index}-000001")]["settings"]["index"];
        assert_eq!(s["number_of_shards"], json!(spec.index.shards.to_string()));
        assert_eq!(s["refresh_interval"], json!(spec.index.refresh_interval));
        assert!(
            s.get("lifecycle").is_none(),
            "no ILM here, so no ILM settings"
        );

        // A second pass with the first one's record rewrites nothing that applied; the
        // only writes are the retries of what the cluster refused.
        let applied = first.applied(&index, &AppliedStatus::default());
        let mark = es().rest_actions().await;
        let second = pass(&client, &desired, &applied).await;
        let noop = es().rest_actions().await.since(&mark);
        assert_eq!(second.writes(), 0, "{example}: {second:#?}");
        // The retries of what the cluster refused: the role, the users (native realm) and
        // an s3 repository (no repository-s3 module). Nothing that applied is written.
        let retried = |kind: Kind| second.kind(kind).failed.len() as u64;
        let expected: BTreeMap<String, u64> = [
            ("security_put_role_action", retried(Kind::Role)),
            (
                "security_put_user_action",
                second
                    .kind(Kind::User)
                    .failed
                    .iter()
                    .filter(|f| f.name != "kibana_system")
                    .count() as u64,
            ),
            (
                "security_change_password_action",
                second
                    .kind(Kind::User)
                    .failed
                    .iter()
                    .filter(|f| f.name == "kibana_system")
                    .count() as u64,
            ),
            ("put_repository_action", retried(Kind::SnapshotRepository)),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(a, n)| (a.to_string(), n))
        .collect();
        assert_eq!(
            noop.writes().0,
            expected,
            "{example}: the no-op pass wrote more than the retries of refused objects: {noop:?}"
        );
        eprintln!(
            "{example}: from empty {} requests ({} writes); no-op pass {} requests ({} writes, all retries of refused objects)",
            from_empty.total(),
            from_empty.writes().total(),
            noop.total(),
            noop.writes().total()
        );
    }
}

#[tokio::test]
async fn logs_written_through_the_alias_roll_over_into_an_index_with_the_templates() {
    let _serial = SERIAL.lock().await;
    let client = es().client();
    let index = unique("roll");
    let spec = spec_for("minimal", &index);
    let desired = desired(&spec, &format!("test/{index}"));
    let report = pass(&client, &desired, &AppliedStatus::default()).await;
    assert_eq!(report.write_index, Some(format!("{index}-000001")));

    // A document as the collectors write it: their own fields at the top, the service's
    // JSON log line nested under `app`.
    let doc = |msg: &str, level: &str| {
        json!({
            "timestamp": "2026-11-30T08:00:00.123456Z",
            "stream": "stdout",
            "kubernetes": { "namespace_name": "mesh", "pod_name": "registry-0" },
            "app": { "level": level, "msg": msg, "service": { "name": "registry" } },
        })
    };
    client
        .post(
            "test",
            &format!("/{index}/_doc?refresh=true"),
            &doc("Connection REFUSED by upstream", "ERROR"),
        )
        .await
        .expect("index through the alias");
    // The analyzer lowercases and drops stop words: "refused" finds the message.
    let hits = client
        .post(
            "test",
            &format!("/{index}/_search"),
            &json!({ "query": { "bool": { "filter": [
                { "match": { "app.msg": "refused" } },
                { "term": { "app.level": "ERROR" } },
                { "range": { "timestamp": { "gte": "2026-11-30T00:00:00Z" } } },
            ] } } }),
        )
        .await
        .expect("search");
    assert_eq!(hits["hits"]["total"]["value"], json!(1), "{hits}");

    let rolled = client
        .post("test", &format!("/{index}/_rollover"), &json!({}))
        .await
        .expect("rollover");
    let second = format!("{index}-000002");
    assert_eq!(rolled["new_index"], json!(second), "{rolled}");
    client
        .post(
            "test",
            &format!("/{index}/_doc?refresh=true"),
            &doc("second index", "INFO"),
        )
        .await
        .expect("index after rollover");

    let mapping = get(&client, &format!("/{second}/_mapping")).await;
    let props = &mapping[&second]["mappings"]["properties"];
    let app = &props["app"]["properties"];
    assert_eq!(app["msg"]["analyzer"], json!("log_analyzer"), "{props}");
    assert_eq!(props["timestamp"]["type"], json!("date"));
    assert_eq!(
        app["service"]["properties"]["name"]["type"],
        json!("keyword")
    );
    let settings = get(&client, &format!("/{second}/_settings")).await;
    let s = &settings[&second]["settings"]["index"];
    assert_eq!(
        s["number_of_replicas"],
        json!(spec.index.replicas.to_string())
    );
    assert_eq!(s["refresh_interval"], json!(spec.index.refresh_interval));
    let alias = get(&client, &format!("/_alias/{index}")).await;
    assert_eq!(
        alias[&second]["aliases"][&index]["is_write_index"],
        json!(true)
    );
    let count = get(&client, &format!("/{second}/_count")).await;
    assert_eq!(count["count"], json!(1), "the new line is in the new index");

    // A line whose shape the schema refuses (`service` is an object there) is refused by
    // Elasticsearch; the collector then writes it, verbatim, to the dead-letter index,
    // which takes anything and carries neither the rollover alias nor the ILM settings.
    let refused = json!({ "timestamp": "2026-11-30T08:00:01Z", "app": { "service": "x" } });
    let e = client
        .post("test", &format!("/{index}/_doc"), &refused)
        .await
        .expect_err("the mapping refuses it");
    assert_eq!(e.status(), Some(400), "{e}");
    let deadletter = format!("{index}-deadletter");
    client
        .post(
            "test",
            &format!("/{deadletter}/_doc?refresh=true"),
            &json!({
                "timestamp": "2026-11-30T08:00:01Z",
                "tag": "kube.var.log.containers.x",
                "record": refused.to_string(),
            }),
        )
        .await
        .expect("the dead-letter index takes the refused record");
    let settings = get(&client, &format!("/{deadletter}/_settings")).await;
    let s = &settings[&deadletter]["settings"]["index"];
    assert!(s.get("lifecycle").is_none(), "{s}");
    let alias = get(&client, &format!("/{deadletter}/_alias")).await;
    assert_eq!(
        alias[&deadletter]["aliases"],
        json!({}),
        "not behind the write alias"
    );
}

#[tokio::test]
async fn a_refused_setting_quotes_elasticsearch_and_nothing_else_is_lost() {
    let _serial = SERIAL.lock().await;
    let client = es().client();
    let index = unique("bad");
    let mut spec = spec_for("minimal", &index);
    // The schema refuses this at admission; here the body reaches Elasticsearch anyway.
    spec.index.refresh_interval = "banana".into();
    let desired = desired(&spec, &format!("test/{index}"));
    let report = pass(&client, &desired, &AppliedStatus::default()).await;

    let templates = report.kind(Kind::ComponentTemplate);
    assert_eq!(templates.created, vec![format!("{index}-mappings")]);
    let refused = &templates.failed[0];
    assert_eq!(refused.name, format!("{index}-settings"));
    assert_eq!(refused.reason, "Rejected");
    assert!(
        refused
            .message
            .contains("failed to parse setting [index.refresh_interval] with value [banana]"),
        "{}",
        refused.message
    );
    let it = &report.kind(Kind::IndexTemplate).failed[0];
    assert_eq!(it.reason, "DependencyFailed");
    assert!(
        it.message.contains(&format!("{index}-settings")),
        "{}",
        it.message
    );
    assert_eq!(
        failed_reasons(&report, Kind::WriteAlias),
        BTreeSet::from(["DependencyFailed"])
    );
    assert!(
        !exists(&client, &format!("/{index}-000001")).await,
        "no index without its templates"
    );
}

#[tokio::test]
async fn the_operator_configures_a_real_elasticsearch_in_external_mode() {
    let _serial = SERIAL.lock().await;
    let node = es();
    let kit::Setup {
        server,
        client: kube,
        ns,
    } = kit::Setup::new("real-es").await;
    let index = unique("e2e");

    let secrets: Api<Secret> = Api::namespaced(kube.clone(), &ns);
    for (name, data) in [
        (
            "es-admin",
            json!({ "username": elasticsearch::ADMIN_USER, "password": node.password }),
        ),
        ("es-ca", json!({ "ca.crt": node.ca_pem })),
    ] {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": { "name": name }, "stringData": data,
        }))
        .expect("secret");
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("create secret");
    }
    let mut ml = kit::example("external-elasticsearch.yaml");
    ml.metadata.namespace = Some(ns.clone());
    ml.spec = spec_for("external-elasticsearch", &index);
    if let Some(external) = &mut ml.spec.elasticsearch.external {
        external.url = node.url.clone();
    }
    let mls: Api<MeshLogging> = Api::namespaced(kube.clone(), &ns);
    mls.create(&PostParams::default(), &ml)
        .await
        .expect("create");
    let name = ml.metadata.name.clone().expect("name");

    // The production endpoint: the URL, credentials and CA come from the resource and its
    // Secrets, as in a real cluster.
    let operator = kit::operator::start_with(
        server,
        kit::operator::settings(&ns),
        Arc::new(ServiceEndpoint),
        "real-es",
    )
    .await;
    let status = kit::wait_for(Duration::from_secs(60), "write alias applied", || async {
        let s = mls.get(&name).await.ok()?.status?;
        s.applied.as_ref()?.write_alias.as_ref()?;
        Some(s)
    })
    .await;
    let applied = status.applied.clone().unwrap_or_default();
    assert_eq!(applied.write_index, Some(format!("{index}-000001")));
    assert_eq!(
        applied.component_templates,
        vec![format!("{index}-mappings"), format!("{index}-settings")]
    );
    assert_eq!(
        applied.snapshot_repositories,
        vec![format!("{index}-nightly")],
        "the fs repository applies although SLM is not served"
    );
    let condition = |t: &str| kit::condition(&status, t);
    let im = condition("IndexManagementApplied");
    assert_eq!(im.reason, "NotSupportedByCluster", "{im:?}");
    assert!(im.message.contains("/_ilm/policy"), "{}", im.message);
    let sn = condition("SnapshotsConfigured");
    assert_eq!(sn.reason, "NotSupportedByCluster", "{sn:?}");
    assert!(sn.message.contains("/_slm/policy"), "{}", sn.message);
    let es_ready = condition("ElasticsearchReady");
    assert_eq!(es_ready.status, "True", "{es_ready:?}");

    let found = get(&node.client(), &format!("/_alias/{index}")).await;
    assert!(found.get(format!("{index}-000001")).is_some(), "{found}");

    // Deleting the resource removes what it owns from the real cluster.
    kit::resource::delete_and_wait(&kube, &ns, &name, "resource gone").await;
    let client = node.client();
    for path in [
        format!("/_component_template/{index}-mappings"),
        format!("/_index_template/{index}"),
        format!("/_snapshot/{index}-nightly"),
    ] {
        assert!(!exists(&client, &path).await, "{path} removed on delete");
    }
    operator.stop().await;
}

#[tokio::test]
async fn elasticsearch_killed_mid_pass_is_unreachable_then_recovers_with_one_bootstrap_index() {
    // A node of its own: this test kills it.
    let node = Arc::new(elasticsearch::start_dedicated());
    let index = unique("crash");
    let mut spec = kit::example("minimal.yaml").spec;
    spec.index.name = index.clone();
    let desired = desired(&spec, &format!("test/{index}"));

    // The node dies right after it created the bootstrap index, before the pass is done.
    let victim = node.clone();
    let client = EsClient::new(node.client_config())
        .expect("client")
        .with_observer(Arc::new(move |api, status| {
            if api == "indices.create" && status == Some(200) {
                victim.crash();
            }
        }));
    let first = pass(&client, &desired, &AppliedStatus::default()).await;
    let aborted = first.aborted.clone().expect("the pass stops");
    assert_eq!(aborted.reason, "ElasticsearchUnreachable", "{aborted:?}");
    let applied = first.applied(&index, &AppliedStatus::default());
    assert_eq!(
        applied.write_index,
        Some(format!("{index}-000001")),
        "what the pass created before the crash is remembered"
    );

    node.start_again();
    let client = node.client();
    let second = pass(&client, &desired, &applied).await;
    assert!(second.aborted.is_none(), "{:?}", second.aborted);
    assert_eq!(second.kind(Kind::WriteAlias).unchanged, vec![index.clone()]);
    let indices = get(&client, &format!("/{index}-*/_alias")).await;
    let names: Vec<&String> = indices.as_object().expect("indices").keys().collect();
    assert_eq!(
        names,
        vec![&format!("{index}-000001"), &format!("{index}-deadletter")],
        "one bootstrap index"
    );
}

#[tokio::test]
async fn a_second_resource_with_the_same_index_name_takes_nothing_over_and_deleting_it_keeps_the_logs()
 {
    let _serial = SERIAL.lock().await;
    let client = es().client();
    let index = unique("shared");
    let spec = spec_for("minimal", &index);
    let team_a = desired(&spec, &format!("team-a/{index}"));
    let a = pass(&client, &team_a, &AppliedStatus::default()).await;
    assert_eq!(a.write_index, Some(format!("{index}-000001")));
    client
        .post(
            "test",
            &format!("/{index}/_doc?refresh=true"),
            &json!({ "timestamp": "2026-11-30T08:00:00Z", "msg": "team A's log" }),
        )
        .await
        .expect("index");

    // Team B picks the same index name on the same cluster.
    let team_b = desired(&spec, &format!("team-b/{index}"));
    let b = pass(&client, &team_b, &AppliedStatus::default()).await;
    let alias = &b.kind(Kind::WriteAlias).failed;
    assert_eq!(alias.len(), 1, "{b:#?}");
    assert_eq!(alias[0].reason, "Conflict");
    assert!(
        alias[0].message.contains(&format!("team-a/{index}")),
        "the conflict names the holder: {}",
        alias[0].message
    );
    let b_applied = b.applied(&index, &AppliedStatus::default());
    assert_eq!(b_applied.write_alias, None, "{b_applied:?}");
    assert_eq!(b_applied.write_index, None);
    assert!(
        b.kind(Kind::User)
            .failed
            .iter()
            .any(|f| f.reason == "DependencyFailed"),
        "B's collector gets no user while the alias is not B's: {:?}",
        b.kind(Kind::User)
    );

    // Deleting B with deletionPolicy Delete removes only what B owns.
    let cleaned = meshlogging_operator::elastic::sync::cleanup(
        &client,
        &format!("team-b/{index}"),
        &index,
        &b_applied,
        true,
    )
    .await;
    assert!(cleaned.aborted.is_none(), "{:?}", cleaned.aborted);
    let count = get(&client, &format!("/{index}/_count")).await;
    assert_eq!(count["count"], json!(1), "team A's logs are still there");
    assert!(
        exists(&client, &format!("/_component_template/{index}-mappings")).await,
        "team A's templates are still there"
    );

    // Deleting A with deletionPolicy Delete removes A's marked indices, dead letters too.
    let a_applied = a.applied(&index, &AppliedStatus::default());
    let cleaned = meshlogging_operator::elastic::sync::cleanup(
        &client,
        &format!("team-a/{index}"),
        &index,
        &a_applied,
        true,
    )
    .await;
    assert!(cleaned.aborted.is_none(), "{:?}", cleaned.aborted);
    for gone in [format!("{index}-000001"), format!("{index}-deadletter")] {
        assert!(
            !exists(&client, &format!("/{gone}")).await,
            "{gone} deleted"
        );
    }
}

#[tokio::test]
async fn index_names_that_prefix_each_other_conflict_before_elasticsearch_has_to_refuse() {
    let _serial = SERIAL.lock().await;
    let client = es().client();
    let base = unique("pfx");
    let first = desired(&spec_for("minimal", &base), &format!("a/{base}"));
    let report = pass(&client, &first, &AppliedStatus::default()).await;
    assert!(report.kind(Kind::IndexTemplate).failed.is_empty());

    let longer = format!("{base}-prod");
    let second = desired(&spec_for("minimal", &longer), &format!("b/{longer}"));
    let report = pass(&client, &second, &AppliedStatus::default()).await;
    // Both of its index templates (logs and dead letters) overlap the first's patterns.
    let it = &report.kind(Kind::IndexTemplate).failed;
    assert_eq!(it.len(), 2, "{report:#?}");
    for f in it {
        assert_eq!(f.reason, "Conflict");
        assert!(
            f.message.contains(&format!("MeshLogging a/{base}")),
            "{}",
            f.message
        );
    }
    assert_eq!(
        failed_reasons(&report, Kind::WriteAlias),
        BTreeSet::from(["DependencyFailed"])
    );
    // The collector could otherwise write `<longer>` as a concrete index under the first
    // resource's template: its role may not create indices.
    let role = &second.roles[&format!("{longer}-collector")];
    assert_eq!(role["indices"][0]["privileges"], json!(["create_doc"]));
    assert!(!exists(&client, &format!("/{longer}")).await);
}

/// The scale-down requests (`elastic::nodes`) against the real node, read back by the
/// operator's own parsing: the allocation filter set and reset, the shard table with the
/// node holding each copy (a replica with no second node: unassigned), the node names,
/// and voting exclusions added (a node not in the cluster, as Elasticsearch allows) and
/// cleared.
#[tokio::test]
async fn the_scale_down_requests_are_accepted_and_read_back() {
    use meshlogging_operator::elastic::nodes;
    let _serial = SERIAL.lock().await;
    let client = es().client();
    let index = unique("scale");
    let body = json!({"settings": {"number_of_shards": 2, "number_of_replicas": 1}});
    client
        .put("indices.create", &format!("/{index}-000001"), &body)
        .await
        .expect("index");

    let names = nodes::node_names(&client).await.expect("nodes");
    assert_eq!(names.len(), 1, "{names:?}");
    let node = names.iter().next().cloned().expect("node");
    let shards = nodes::shards(&client).await.expect("shards");
    let ours: Vec<_> = shards
        .iter()
        .filter(|s| s.index.starts_with(&index))
        .collect();
    assert_eq!(ours.len(), 4, "{ours:?}");
    assert_eq!(
        ours.iter()
            .filter(|s| s.node.as_deref() == Some(node.as_str()))
            .count(),
        2
    );
    assert_eq!(ours.iter().filter(|s| s.node.is_none()).count(), 2);
    assert_eq!(nodes::most_copies(&shards, &format!("{index}-")), 2);

    let gone = nodes::names(&format!("{index}-gone-1,{index}-gone-2"));
    assert!(nodes::excluded(&client).await.expect("read").is_empty());
    nodes::set_excluded(&client, &gone).await.expect("exclude");
    assert_eq!(nodes::excluded(&client).await.expect("read"), gone);
    // Excluding absent nodes moves nothing off the one that is there.
    let shards = nodes::shards(&client).await.expect("shards");
    assert_eq!(nodes::copies_on(&shards, &gone), 0);
    nodes::set_excluded(&client, &BTreeSet::new())
        .await
        .expect("reset");
    assert!(nodes::excluded(&client).await.expect("read").is_empty());

    assert!(
        nodes::voting_exclusions(&client)
            .await
            .expect("read")
            .is_empty()
    );
    nodes::exclude_from_voting(&client, &gone)
        .await
        .expect("voting exclusions");
    assert_eq!(nodes::voting_exclusions(&client).await.expect("read"), gone);
    nodes::clear_voting_exclusions(&client)
        .await
        .expect("clear");
    assert!(
        nodes::voting_exclusions(&client)
            .await
            .expect("read")
            .is_empty()
    );
    client
        .delete("indices.delete", &format!("/{index}-000001"))
        .await
        .expect("delete");
}

/// What a rolling restart sends (src/elastic/restart.rs), through the operator's own
/// functions, against a real node: `_cat/nodes` read as the operator reads it (the one node,
/// master-eligible and elected, at the node's version), the yellow of a one-node cluster
/// with replicas taken as permanent (and not with more nodes), allocation set to
/// `primaries` and read back from the settings the scale-down reads, `_flush` accepted,
/// allocation restored (the setting gone).
#[tokio::test]
async fn the_rolling_restart_requests_are_accepted_and_read_back() {
    use meshlogging_operator::elastic::{nodes, restart};
    let _serial = SERIAL.lock().await;
    let client = es().client();
    let index = unique("roll");
    let body = json!({"settings": {"number_of_shards": 1, "number_of_replicas": 1}});
    client
        .put("indices.create", &format!("/{index}-000001"), &body)
        .await
        .expect("index");

    let rows = restart::cat_nodes(&client).await.expect("_cat/nodes");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let version = client.version().await.expect("version").to_string();
    assert!(rows[0].master_eligible && rows[0].elected, "{rows:?}");
    assert_eq!(rows[0].version, version);
    assert!(!rows[0].name.is_empty());

    assert_eq!(client.health().await.expect("health"), "yellow");
    assert!(
        restart::yellow_allows_restart(&client, 1)
            .await
            .expect("health")
    );
    assert!(
        !restart::yellow_allows_restart(&client, 2)
            .await
            .expect("health"),
        "with another node the replica could be assigned"
    );

    let settings = nodes::persistent_settings(&client).await.expect("settings");
    assert_eq!(restart::allocation_enable(&settings), None);
    restart::allocate_primaries_only(&client)
        .await
        .expect("primaries");
    let settings = nodes::persistent_settings(&client).await.expect("settings");
    assert_eq!(
        restart::allocation_enable(&settings).as_deref(),
        Some("primaries")
    );
    restart::flush(&client).await.expect("_flush");
    restart::restore_allocation(&client).await.expect("restore");
    let settings = nodes::persistent_settings(&client).await.expect("settings");
    assert_eq!(restart::allocation_enable(&settings), None, "{settings}");
    client
        .delete("indices.delete", &format!("/{index}-000001"))
        .await
        .expect("delete");
}

/// The role the operator signs in to Kibana with, exactly as it sends it, is one this
/// Elasticsearch parses and holds as meant: the Kibana feature privileges on the default
/// space, no cluster privilege, no index. The native realm does not work in this
/// distribution (its security index cannot be created), so the user and role go to the
/// file realm, whose `roles.yml` takes the same body; a role it cannot parse is skipped and
/// the user would hold nothing. Whether Kibana then lets these privileges keep the saved
/// objects is Kibana's to say; none can run here.
#[tokio::test]
async fn the_kibana_dashboards_role_holds_the_kibana_features_and_nothing_else() {
    use meshlogging_operator::elastic::Credentials;
    use meshlogging_operator::naming::Names;
    let index = unique("dash");
    let spec = spec_for("production", &index);
    let desired = desired(&spec, "ns/dash");
    let user = Names::new(&index).dashboards_user();
    let role = desired.roles.get(&user).expect("the dashboards role");
    assert_eq!(desired.users[&user].roles, vec![user.clone()]);
    let password = format!("{:024x}", rand::random::<u128>());
    es().add_file_user(&user, &password, &user, role)
        .expect("file-realm user");

    let mut config = es().client_config();
    config.credentials = Some(Credentials {
        username: user.clone(),
        password,
    });
    let as_user = EsClient::new(config).expect("client");
    // The node reloads its realm files every 5 s (users and roles apart; 30 tries here took
    // 0.02-5.1 s). One `make test` run once waited past 30 s under load: the budget is
    // generous, and a timeout says what the user held last.
    let deadline = Instant::now() + Duration::from_secs(90);
    let held = loop {
        let answer = as_user.get("test", "/_security/user/_privileges").await;
        if let Ok(Some(held)) = &answer
            && held["applications"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        {
            break held.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the file-realm role is not held after 90 s; the last answer: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(held["cluster"], json!([]), "{held}");
    assert_eq!(held["indices"], json!([]), "{held}");
    assert_eq!(held["run_as"], json!([]), "{held}");
    let applications = held["applications"].as_array().expect("applications");
    assert_eq!(applications.len(), 1, "{held}");
    let want = &role["applications"][0];
    let got = &applications[0];
    assert_eq!(got["application"], want["application"], "{held}");
    assert_eq!(got["resources"], json!(["space:default"]), "{held}");
    let set = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().map(String::from))
            .collect()
    };
    assert_eq!(set(&got["privileges"]), set(&want["privileges"]), "{held}");
    assert!(
        set(&got["privileges"])
            .iter()
            .all(|p| p.starts_with("feature_")),
        "Kibana feature privileges only: {held}"
    );
}

/// The keystore mechanism of secure-settings reloads, on a real node of its own (it needs a
/// password-protected keystore and TLS on the transport layer: Elasticsearch reloads a
/// password-protected keystore cluster-wide only then). The keystore is built by the
/// operator's own keystore script (`init`, with the distribution's `elasticsearch-keystore`)
/// and the node started with its password on stdin, as the image's entrypoint hands it
/// over. Then: a reload with the digest of the mounted settings succeeds; the script's
/// `watch` mode, seeing a setting change, rebuilds the keystore in place (same inode) and
/// writes the new password; a reload with the old digest is refused per node (wrong
/// password), with the new one it succeeds. The digest the script computes is the
/// operator's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keystore_rebuilt_in_place_is_reloaded_with_its_new_digest_only() {
    use meshlogging_operator::elastic::reload::{self, NodeReload};
    use meshlogging_operator::keystore::KeystoreFiles;
    use std::os::unix::fs::MetadataExt;
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let (home, java_home) = elasticsearch::distribution().unwrap_or_else(|e| panic!("{e}"));
    let work = std::env::temp_dir().join(unique("keystore-reload"));
    let (secure, elastic_dir) = (work.join("secure-settings"), work.join("elastic-user"));
    for d in [&secure, &elastic_dir] {
        std::fs::create_dir_all(d).expect("dirs");
    }
    std::fs::write(elastic_dir.join("elastic"), "elastic-Pw-1").expect("elastic");
    // A reloadable setting this distribution knows (it refuses unknown ones at start).
    let setting = "cluster.remote.backup.credentials";
    assert!(meshlogging_operator::keystore::reloadable(setting));
    std::fs::write(secure.join(setting), "first-api-key").expect("setting");
    let files = |value: &str| {
        KeystoreFiles(BTreeMap::from([(
            setting.to_string(),
            value.as_bytes().to_vec(),
        )]))
    };
    let script_for = |target: &std::path::Path| {
        meshlogging_operator::render::elasticsearch::keystore_script()
            .replace(
                "/usr/share/elasticsearch/bin/",
                &format!("{}/bin/", home.display()),
            )
            .replace(
                "/mnt/elastic-internal/secure-settings",
                &secure.display().to_string(),
            )
            .replace(
                "/mnt/elastic-internal/elastic-user",
                &elastic_dir.display().to_string(),
            )
            .replace(
                "/mnt/elastic-internal/keystore",
                &target.display().to_string(),
            )
    };
    let run_script = |target: &std::path::Path, mode: &str| {
        let mut command = std::process::Command::new("bash");
        command
            .arg("-c")
            .arg(script_for(target))
            .arg("keystore")
            .arg(mode)
            .env("ES_JAVA_HOME", &java_home)
            .env("KEYSTORE_WATCH_SECONDS", "1");
        command
    };
    // The node's config folder is the keystore volume: the script leaves the keystore and
    // its password there, as in the pod.
    let prepare = |config: &std::path::Path| -> Result<Option<std::path::PathBuf>, String> {
        let out = run_script(config, "init")
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "the keystore script failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        eprintln!("init: {}", String::from_utf8_lossy(&out.stdout).trim());
        Ok(Some(config.join("keystore-password")))
    };
    let transport_tls = "xpack.security.transport.ssl.enabled: true\n\
                         xpack.security.transport.ssl.certificate: node.crt\n\
                         xpack.security.transport.ssl.key: node.key\n\
                         xpack.security.transport.ssl.certificate_authorities: [ca.crt]\n\
                         xpack.security.transport.ssl.verification_mode: certificate\n";
    let node = elasticsearch::start_dedicated_with(&elasticsearch::NodeExtras {
        yml: transport_tls.to_string(),
        prepare: Some(&prepare),
    });
    let config = node.dir.join("config");
    let first = files("first-api-key").digest();
    assert_eq!(
        std::fs::read_to_string(config.join("keystore-password")).expect("password file"),
        first,
        "the script's digest is the operator's"
    );
    let client = node.client();
    let reload_raw = |password: String| {
        let client = client.clone();
        async move {
            client
                .post(
                    "nodes.reload_secure_settings",
                    "/_nodes/reload_secure_settings",
                    &json!({"secure_settings_password": password}),
                )
                .await
                .expect("reload answer")
        }
    };
    let body = reload_raw(first.clone()).await;
    println!("reload with the keystore's digest: {body}");
    let answer = reload::parse(&body);
    assert_eq!(answer.nodes.len(), 1, "{body}");
    assert_eq!(answer.reloaded(), 1, "{body}");

    // The sidecar's loop sees the change and rebuilds the keystore in place.
    let inode = std::fs::metadata(config.join("elasticsearch.keystore"))
        .expect("keystore")
        .ino();
    let mut watcher = run_script(&config, "watch")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("watch");
    std::fs::write(secure.join(setting), "rotated-api-key").expect("rotate");
    let second = files("rotated-api-key").digest();
    let rebuilt_at = Instant::now();
    while std::fs::read_to_string(config.join("keystore-password")).unwrap_or_default() != second {
        assert!(
            rebuilt_at.elapsed() < Duration::from_secs(60),
            "the keystore was not rebuilt"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "the watch loop rebuilt the keystore {:?} after the change",
        rebuilt_at.elapsed()
    );
    let _ = watcher.kill();
    let output = watcher.wait_with_output().expect("watch output");
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(
        log.contains("keystore rebuilt in place with 1 secure settings"),
        "{log}"
    );
    assert!(
        !log.contains(&second) && !log.contains("rotated-api-key"),
        "no value or digest in the log: {log}"
    );
    assert_eq!(
        std::fs::metadata(config.join("elasticsearch.keystore"))
            .expect("keystore")
            .ino(),
        inode,
        "rebuilt in place: a subPath mount keeps seeing it"
    );

    let body = reload_raw(first.clone()).await;
    println!("reload with the old digest: {body}");
    let answer = reload::parse(&body);
    assert_eq!(
        answer.nodes.values().collect::<Vec<_>>(),
        [&NodeReload::WrongPassword],
        "{body}"
    );
    let body = reload_raw(second.clone()).await;
    println!("reload with the new digest: {body}");
    assert_eq!(reload::parse(&body).reloaded(), 1, "{body}");
    // What the operator calls, over the same path.
    let answer = reload::reload_secure_settings(&client, &second)
        .await
        .expect("reload");
    assert_eq!(answer.reloaded(), 1);
    // The stand-in answers alike, its node's keystore protected by the new digest: the
    // same per-node outcome and `_nodes` counts for the old and the new digest (ids,
    // names and the cluster's name are each side's own).
    let sim = kit::sim::es_sim(1).await;
    let sim_client = kit::sim::client(&sim);
    sim.set_keystore_password("es-sim-0", &second);
    let shape = |body: &Value| {
        let nodes: Vec<Value> = body["nodes"]
            .as_object()
            .map(|n| {
                n.values()
                    .map(|n| json!(n.get("reload_exception")))
                    .collect()
            })
            .unwrap_or_default();
        json!({"_nodes": body["_nodes"], "nodes": nodes})
    };
    for digest in [&first, &second] {
        let body = json!({"secure_settings_password": digest});
        let path = "/_nodes/reload_secure_settings";
        let real = client.post("r", path, &body).await.expect("real");
        let stand_in = sim_client.post("r", path, &body).await.expect("stand-in");
        assert_eq!(
            shape(&stand_in),
            shape(&real),
            "the stand-in answers as the node"
        );
    }
    drop(node);
    let _ = std::fs::remove_dir_all(&work);
    println!("test took {:?}", started.elapsed());
}
