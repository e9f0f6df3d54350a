//! Logs really arrive: a real shipper (Filebeat, `hack/filebeat.sh`) reads CRI container
//! log files and writes them to the write alias the operator configured on a real
//! Elasticsearch (`meshlogging_testkit::elasticsearch`), with a configuration derived from the
//! operator's collector contract (`meshlogging_testkit::filebeat`).
//!
//! Filebeat writes as the collector user, with exactly the role the operator renders
//! (`create_doc` on the alias and `<index>-*`, no cluster privilege); the native realm does
//! not work in this distribution, so user and role live in the file realm.
//!
//! - the lines arrive, searchable by the schema; a restart re-sends nothing; after a
//!   rollover they land in the new backing index;
//! - a line the mappings refuse lands in the dead-letter index with Elasticsearch's
//!   reason, and every other line arrives exactly once;
//! - the collector's identity writes through the alias and to its dead letters, and is
//!   refused (403) reading anything and writing anywhere else;
//! - the operator (external mode, with the API server) sees the shipped logs: `LogsFlowing`
//!   True, then False (`NoRecentLogs`) once shipping stops for longer than the threshold.
//!
//! The distribution lacks `rest-root`, whose `GET /` Filebeat reads first, and Filebeat
//! reads `GET /_license` (cluster privilege `monitor`, which the operator's collectors do
//! not need): Filebeat talks to the node through `meshlogging_testkit::es_proxy`, which answers those
//! two itself and forwards everything else unchanged.
//!
//! The figures (lines shipped, latency from the first line written to all lines
//! searchable) are printed, not asserted.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use kit::desired;
use kit::elasticsearch;
use kit::filebeat::{Filebeat, Output, ShipperDir, container_log_file};
use meshlogging_operator::api::AppliedStatus;
use meshlogging_operator::elastic::{Credentials, EsClient, EsError};
use meshlogging_operator::naming::Names;
use meshlogging_testkit as kit;
use serde_json::{Value, json};

fn unique(prefix: &str) -> String {
    format!("{prefix}-{:06x}", rand::random::<u32>() & 0xff_ffff)
}

/// What [`configure`] set up.
struct Configured {
    /// The first backing index.
    first_index: String,
    /// The collector's credentials (a file-realm user).
    collector: Credentials,
    /// The role body the operator renders for the collector.
    role: Value,
}

/// Applies the operator's configuration for a resource whose index is `index`, and makes
/// the collector user.
async fn configure(client: &EsClient, index: &str) -> Configured {
    let mut spec = kit::example("minimal.yaml").spec;
    spec.index.name = index.to_string();
    let desired = desired(&spec, &format!("test/{index}"));
    let (report, _) = kit::sync::pass(client, &desired, &AppliedStatus::default()).await;
    assert!(report.aborted.is_none(), "{:?}", report.aborted);
    let first_index = report.write_index.expect("the write alias is in place");
    let password = format!("{:024x}", rand::random::<u128>());
    let (collector, role) = collector_user(&desired, index, &password).await;
    Configured {
        first_index,
        collector,
        role,
    }
}

/// The collector user of `index` with `password`, and its role body.
///
/// The native realm does not work in this distribution, so the collector user the
/// operator would create there is made in the file realm, with exactly the role body the
/// operator renders for it.
async fn collector_user(
    desired: &meshlogging_operator::elastic::DesiredConfig,
    index: &str,
    password: &str,
) -> (Credentials, Value) {
    let es = elasticsearch::get();
    let collector = Names::new(index).collector_user();
    let role = desired.roles.get(&collector).expect("the collector role");
    assert_eq!(desired.users[&collector].roles, vec![collector.clone()]);
    let credentials = Credentials {
        username: collector.clone(),
        password: password.to_string(),
    };
    es.add_file_user(&collector, &credentials.password, &collector, role)
        .expect("file-realm collector");

    // Wait for the node to reload its files: the collector may create documents in the
    // alias, and nothing more.
    let mut config = es.client_config();
    config.credentials = Some(credentials.clone());
    let as_collector = EsClient::new(config).expect("collector client");
    let check =
        json!({ "index": [{ "names": [index], "privileges": ["create_doc", "index", "delete"] }] });
    kit::wait_for(
        Duration::from_secs(30),
        "the file-realm collector",
        || async {
            let answer = as_collector
                .post("test", "/_security/user/_has_privileges", &check)
                .await
                .ok()?;
            let p = &answer["index"][index];
            (p["create_doc"] == json!(true)).then(|| p.clone())
        },
    )
    .await;
    let p = as_collector
        .post("test", "/_security/user/_has_privileges", &check)
        .await
        .expect("has_privileges");
    assert_eq!(
        p["index"][index],
        json!({ "create_doc": true, "index": false, "delete": false }),
        "{p}"
    );
    (credentials, role.clone())
}

/// Filebeat's output for `index` as `collector`, through `proxy`.
fn output(proxy: &kit::es_proxy::EsProxy, collector: &Credentials, index: &str) -> Output {
    let es = elasticsearch::get();
    Output::new(
        &proxy.url,
        &es.ca_pem,
        &collector.username,
        &collector.password,
        index,
    )
}

async fn refresh(client: &EsClient, index: &str) {
    client
        .get("test", &format!("/{index}/_refresh"))
        .await
        .expect("refresh");
}

async fn count(client: &EsClient, index: &str) -> u64 {
    refresh(client, index).await;
    client
        .get("test", &format!("/{index}/_count"))
        .await
        .expect("count")
        .and_then(|c| c["count"].as_u64())
        .unwrap_or(0)
}

async fn search(client: &EsClient, index: &str, query: Value) -> Vec<Value> {
    refresh(client, index).await;
    let hits = client
        .post(
            "test",
            &format!("/{index}/_search"),
            &json!({ "query": query, "size": 100 }),
        )
        .await
        .expect("search");
    hits["hits"]["hits"].as_array().cloned().unwrap_or_default()
}

/// Waits until `index` holds `n` documents; panics with Filebeat's log after `timeout`.
async fn wait_for_count(
    client: &EsClient,
    index: &str,
    n: u64,
    dir: &ShipperDir,
    timeout: Duration,
) -> Duration {
    let start = Instant::now();
    loop {
        let c = count(client, index).await;
        if c >= n {
            return start.elapsed();
        }
        if start.elapsed() > timeout {
            let log = dir.filebeat_log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            panic!(
                "{index}: {c} of {n} documents after {timeout:?}; Filebeat's log (last lines first):\n{}",
                tail.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn cri(time: &str, tag: &str, text: &str) -> String {
    format!("{time} stdout {tag} {text}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_lines_arrive_in_the_write_alias_searchable_by_the_schema() {
    let es = elasticsearch::get();
    let client = es.client();
    let alias = unique("ship");
    let Configured {
        first_index,
        collector,
        ..
    } = configure(&client, &alias).await;
    let proxy = kit::es_proxy::start(es).await;
    let out = output(&proxy, &collector, &alias);
    let dir = ShipperDir::new();
    let file = container_log_file("registry-0", "mesh", "registry");

    // One ERROR line, one line split by the runtime (P then F), and a batch of INFO lines.
    let mut lines = vec![
        cri(
            "2026-11-30T08:00:00.000000001Z",
            "F",
            r#"{"level":"ERROR","msg":"connection refused","service":{"name":"registry"}}"#,
        ),
        cri(
            "2026-11-30T08:00:01.000000000Z",
            "P",
            r#"{"level":"WARN","msg":"slow upstream "#,
        ),
        cri(
            "2026-11-30T08:00:01.000000001Z",
            "F",
            r#"answer","service":{"name":"gateway"}}"#,
        ),
    ];
    let batch = 200;
    for i in 0..batch {
        lines.push(cri(
            &format!("2026-11-30T08:01:{:02}.{:09}Z", i / 10, i),
            "F",
            &format!(r#"{{"level":"INFO","msg":"request {i} served","service":{{"name":"api"}}}}"#),
        ));
    }
    let shipped = 2 + batch as u64; // the P/F pair is one line
    let started = Instant::now();
    dir.append(&file, &lines);
    let filebeat = Filebeat::start(&dir, &out);
    let waited = wait_for_count(&client, &alias, shipped, &dir, Duration::from_secs(120)).await;
    eprintln!(
        "shipping: {shipped} lines shipped by Filebeat, all searchable {:.2}s after they were written \
         (Filebeat started with them; {:.2}s waited)",
        started.elapsed().as_secs_f64(),
        waited.as_secs_f64()
    );
    assert_eq!(count(&client, &alias).await, shipped, "each line once");

    // Searchable by message words, level and a time range, in the first backing index.
    let hits = search(
        &client,
        &alias,
        json!({ "bool": { "filter": [
            { "match": { "app.msg": "refused" } },
            { "term": { "app.level": "ERROR" } },
            { "range": { "timestamp": {
                "gte": "2026-11-30T07:59:59Z", "lt": "2026-11-30T08:00:00.5Z" } } },
        ] } }),
    )
    .await;
    let sample = search(&client, &alias, json!({ "match_all": {} })).await;
    assert_eq!(hits.len(), 1, "a document: {:?}", sample.first());
    let doc = &hits[0]["_source"];
    assert_eq!(hits[0]["_index"], json!(first_index));
    assert_eq!(doc["app"]["msg"], json!("connection refused"), "{doc}");
    assert_eq!(doc["app"]["service"]["name"], json!("registry"), "{doc}");
    assert_eq!(doc["stream"], json!("stdout"), "{doc}");
    // `kubernetes.*` as the collectors name them: from the log file's name, and the node.
    assert_eq!(
        doc["kubernetes"],
        json!({
            "pod_name": "registry-0",
            "namespace_name": "mesh",
            "container_name": "registry",
            "host": "node-a",
        }),
        "{doc}"
    );
    // The partial line was joined with its final part before it was parsed.
    let hits = search(
        &client,
        &alias,
        json!({ "term": { "app.msg.keyword": "slow upstream answer" } }),
    )
    .await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["_source"]["app"]["level"], json!("WARN"));
    // The time range selects by the container's timestamps.
    let in_range = search(
        &client,
        &alias,
        json!({ "range": { "timestamp": {
            "gte": "2026-11-30T08:01:00Z", "lt": "2026-11-30T08:01:10Z" } } }),
    )
    .await;
    assert_eq!(in_range.len(), 100, "INFO lines of 08:01:00-08:01:10");

    // A restart re-sends nothing: Filebeat's registry remembers what was shipped.
    filebeat.stop();
    let filebeat = Filebeat::start(&dir, &out);
    let restarted = Instant::now();
    dir.append(
        &file,
        &[cri(
            "2026-11-30T08:02:00.000000000Z",
            "F",
            r#"{"level":"INFO","msg":"after restart","service":{"name":"registry"}}"#,
        )],
    );
    wait_for_count(&client, &alias, shipped + 1, &dir, Duration::from_secs(120)).await;
    eprintln!(
        "shipping: after a restart the new line was searchable in {:.2}s",
        restarted.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        count(&client, &alias).await,
        shipped + 1,
        "the restart re-sent nothing"
    );

    // After a rollover new lines land in the new backing index.
    let rolled = client
        .post("test", &format!("/{alias}/_rollover"), &json!({}))
        .await
        .expect("rollover");
    let second = rolled["new_index"].as_str().expect("new index").to_string();
    assert_eq!(second, format!("{alias}-000002"));
    dir.append(
        &file,
        &[cri(
            "2026-11-30T08:03:00.000000000Z",
            "F",
            r#"{"level":"INFO","msg":"after rollover","service":{"name":"registry"}}"#,
        )],
    );
    wait_for_count(&client, &second, 1, &dir, Duration::from_secs(120)).await;
    let hits = search(
        &client,
        &alias,
        json!({ "match_phrase": { "app.msg": "after rollover" } }),
    )
    .await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["_index"], json!(second));
    assert_eq!(count(&client, &first_index).await, shipped + 1);
    filebeat.stop();
    eprintln!(
        "shipping: {} requests forwarded by the proxy",
        proxy.forwarded.load(Ordering::Relaxed)
    );
}

/// A JSON log line of the mesh's schema with a unique `request_id`, at `time` (CRI).
fn app_line(time: &str, id: &str, fields: Value) -> String {
    let mut line = json!({
        "level": "INFO",
        "msg": format!("request {id} served"),
        "service": { "name": "api" },
        "request_id": id,
    });
    if let (Some(line), Some(fields)) = (line.as_object_mut(), fields.as_object()) {
        line.extend(fields.clone());
    }
    cri(time, "F", &line.to_string())
}

/// How many documents `index` holds per `app.request_id` (only ids seen more than
/// `min` times).
async fn ids_seen(client: &EsClient, index: &str, min: u64) -> Vec<(String, u64)> {
    refresh(client, index).await;
    let answer = client
        .post(
            "test",
            &format!("/{index}/_search"),
            &json!({
                "size": 0,
                "aggs": { "ids": { "terms": {
                    "field": "app.request_id", "size": 1000, "min_doc_count": min + 1 } } },
            }),
        )
        .await
        .expect("terms");
    answer["aggregations"]["ids"]["buckets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            (
                b["key"].as_str().unwrap_or_default().to_string(),
                b["doc_count"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

/// Issue 17: a line the mappings refuse (a `timestamp` that is not a date; an object where
/// the schema maps `level` as a keyword) is set aside in the dead-letter index with
/// Elasticsearch's reason, never retried forever; the lines after it still arrive, each
/// exactly once (counted by a unique id per line) although the answers to the first bulk
/// requests were lost and the requests sent again, and a restart re-sends neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_the_mappings_refuse_goes_to_the_dead_letter_index_and_the_rest_arrive_once() {
    let es = elasticsearch::get();
    let client = es.client();
    let alias = unique("dead");
    let deadletter = Names::new(&alias).deadletter_index();
    let Configured { collector, .. } = configure(&client, &alias).await;
    let proxy = kit::es_proxy::start(es).await;
    let out = output(&proxy, &collector, &alias);
    assert_eq!(out.deadletter_index, deadletter);
    let dir = ShipperDir::new();
    let file = container_log_file("api-7d9f", "mesh", "api");

    let time = |i: usize| format!("2026-11-30T09:00:{:02}.{:09}Z", i / 10, i);
    let (bad_time, bad_level) = (30, 60);
    let lines: Vec<String> = (0..100)
        .map(|i| {
            let id = format!("req-{i:03}");
            match i {
                i if i == bad_time => app_line(&time(i), &id, json!({ "timestamp": "yesterday" })),
                i if i == bad_level => {
                    app_line(&time(i), &id, json!({ "level": { "name": "WARN" } }))
                }
                _ => app_line(&time(i), &id, json!({})),
            }
        })
        .collect();
    let good = 98;
    // The answers to the first two bulk requests are lost after the node carried them
    // out: Filebeat sends them again, and the ids make the copies 409s.
    let lost = 2;
    proxy.lose_bulk_answers.store(lost, Ordering::SeqCst);
    let started = Instant::now();
    dir.append(&file, &lines);
    let filebeat = Filebeat::start(&dir, &out);
    wait_for_count(&client, &alias, good, &dir, Duration::from_secs(120)).await;
    wait_for_count(&client, &deadletter, 2, &dir, Duration::from_secs(60)).await;
    assert_eq!(
        proxy.lose_bulk_answers.load(Ordering::SeqCst),
        0,
        "the answers were lost"
    );
    eprintln!(
        "shipping: {good} lines and 2 dead letters searchable {:.2}s after they were written",
        started.elapsed().as_secs_f64()
    );

    // Every good line once, the refused ones not in the alias.
    assert_eq!(count(&client, &alias).await, good);
    assert_eq!(ids_seen(&client, &alias, 1).await, vec![], "no duplicates");
    let ids: Vec<String> = ids_seen(&client, &alias, 0)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let expected: Vec<String> = (0..100)
        .filter(|i| *i != bad_time && *i != bad_level)
        .map(|i| format!("req-{i:03}"))
        .collect();
    assert_eq!(
        ids, expected,
        "every line but the refused ones, the ones after them too"
    );

    // The dead letters: the line as the shipper had it, the status and Elasticsearch's
    // reason. Filebeat's shape (`@timestamp`, `message`, `error.type`, `error.message`) is
    // not Fluentd's (`timestamp`, `tag`, `record`): the index takes any shape
    // (`dynamic: false`) and keeps it in `_source`; only Fluentd's fields are mapped.
    let letters = search(&client, &deadletter, json!({ "match_all": {} })).await;
    assert_eq!(letters.len(), 2, "{letters:?}");
    let letter = |id: &str| {
        letters
            .iter()
            .map(|h| &h["_source"])
            .find(|d| d["message"].as_str().is_some_and(|m| m.contains(id)))
            .unwrap_or_else(|| panic!("no dead letter of {id}: {letters:?}"))
            .clone()
    };
    let field = |d: &Value, key: &str| {
        d.get(key)
            .or_else(|| d.pointer(&format!("/{}", key.replace('.', "/"))))
            .cloned()
            .unwrap_or(Value::Null)
    };
    for (id, reason) in [
        (
            "req-030",
            "failed to parse field [timestamp] of type [date]",
        ),
        (
            "req-060",
            "failed to parse field [app.level] of type [keyword]",
        ),
    ] {
        let d = letter(id);
        assert_eq!(field(&d, "error.type"), json!(400), "{d}");
        // Elasticsearch's error object, as the bulk answer gave it, as a JSON string.
        let why: Value = field(&d, "error.message")
            .as_str()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_else(|| panic!("{id}: no error object: {d}"));
        assert_eq!(
            why["type"],
            json!("document_parsing_exception"),
            "{id}: {why}"
        );
        assert!(
            why["reason"].as_str().is_some_and(|r| r.contains(reason)),
            "{id}: {why}"
        );
        let original: Value = serde_json::from_str(d["message"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("the refused line as JSON: {e}: {d}"));
        assert_eq!(original["app"]["request_id"], json!(id), "{original}");
    }
    let mapping = client
        .get("test", &format!("/{deadletter}/_mapping"))
        .await
        .expect("mapping")
        .expect("the dead-letter index");
    let mapped: Vec<&String> = mapping[&deadletter]["mappings"]["properties"]
        .as_object()
        .map(|p| p.keys().collect())
        .unwrap_or_default();
    assert_eq!(mapped, ["record", "tag", "timestamp"], "{mapping}");

    // A restart re-sends neither the lines nor the dead letters.
    filebeat.stop();
    let filebeat = Filebeat::start(&dir, &out);
    dir.append(&file, &[app_line(&time(100), "req-100", json!({}))]);
    wait_for_count(&client, &alias, good + 1, &dir, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    filebeat.stop();
    assert_eq!(count(&client, &alias).await, good + 1);
    assert_eq!(ids_seen(&client, &alias, 1).await, vec![], "no duplicates");
    assert_eq!(count(&client, &deadletter).await, 2, "no dead letter twice");
    let log = dir.filebeat_log();
    let warnings = log.matches("Cannot index event").count();
    eprintln!("shipping: Filebeat logged {warnings} refused events (2 lines refused)");
}

/// Issue 17: the collector's identity, a user with exactly the role body the operator
/// renders, may create documents through the write alias and in its dead-letter index
/// (it must, for dead letters), and nothing else: every read, an overwrite, a delete, a
/// write to another index and a write that would create an index are refused with 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_writes_through_the_alias_and_its_dead_letters_and_is_refused_the_rest() {
    let es = elasticsearch::get();
    let admin = es.client();
    let alias = unique("who");
    let Configured {
        first_index,
        collector,
        role,
    } = configure(&admin, &alias).await;
    let deadletter = Names::new(&alias).deadletter_index();
    // What the rendered role says: create documents in the alias and `<alias>-*` (the
    // backing indices and the dead-letter index), no cluster privilege, nothing else.
    assert_eq!(role["cluster"], json!([]), "{role}");
    assert_eq!(
        role["indices"],
        json!([{ "names": [alias, format!("{alias}-*")], "privileges": ["create_doc"] }]),
        "{role}"
    );
    let other = unique("other");
    admin
        .put("test", &format!("/{other}"), &json!({}))
        .await
        .expect("another index");

    let mut config = es.client_config();
    config.credentials = Some(collector.clone());
    let me = EsClient::new(config).expect("collector client");
    let doc = json!({ "timestamp": "2026-11-30T10:00:00Z", "app": { "msg": "who am I" } });

    // Allowed: creating documents in the alias and the dead-letter index.
    let created = me
        .post("test", &format!("/{alias}/_doc"), &doc)
        .await
        .expect("create through the alias");
    assert_eq!(created["_index"], json!(first_index), "{created}");
    let id = created["_id"].as_str().expect("id").to_string();
    me.put("test", &format!("/{alias}/_create/fixed-id"), &doc)
        .await
        .expect("create with an id through the alias");
    me.post(
        "test",
        &format!("/{deadletter}/_doc"),
        &json!({ "timestamp": "2026-11-30T10:00:00Z", "tag": "t", "record": doc.to_string() }),
    )
    .await
    .expect("a dead letter");

    // Refused: reads, an overwrite, a delete, other indices, creating an index.
    let forbidden = |what: &str, r: Result<Value, EsError>| match r {
        Err(e) => assert_eq!(e.status(), Some(403), "{what}: {e}"),
        Ok(v) => panic!("{what} was allowed: {v}"),
    };
    let get = |path: String| {
        let me = me.clone();
        async move { me.get("test", &path).await.map(Option::unwrap_or_default) }
    };
    let all = json!({ "query": { "match_all": {} } });
    forbidden(
        "search the alias",
        me.post("test", &format!("/{alias}/_search"), &all).await,
    );
    forbidden("count the alias", get(format!("/{alias}/_count")).await);
    forbidden(
        "read a document",
        get(format!("/{first_index}/_doc/{id}")).await,
    );
    forbidden(
        "search the dead letters",
        me.post("test", &format!("/{deadletter}/_search"), &all)
            .await,
    );
    forbidden(
        "search another index",
        me.post("test", &format!("/{other}/_search"), &all).await,
    );
    forbidden(
        "overwrite a document",
        me.put("test", &format!("/{alias}/_doc/fixed-id"), &doc)
            .await,
    );
    forbidden(
        "delete a document",
        me.delete("test", &format!("/{first_index}/_doc/{id}"))
            .await
            .map(|b| json!(b)),
    );
    forbidden(
        "write another index",
        me.post("test", &format!("/{other}/_doc"), &doc).await,
    );
    forbidden(
        "create an index by writing to it",
        me.post("test", &format!("/{alias}-000099/_doc"), &doc)
            .await,
    );
    forbidden(
        "create an index",
        me.put("test", &format!("/{alias}-new"), &json!({})).await,
    );
    forbidden(
        "read the alias' settings",
        get(format!("/{alias}/_settings")).await,
    );
    assert!(
        !admin
            .delete("test", &format!("/{alias}-000099"))
            .await
            .unwrap_or(false),
        "no index was created"
    );
    assert_eq!(count(&admin, &alias).await, 2);
    assert_eq!(count(&admin, &deadletter).await, 1);
    admin
        .delete("test", &format!("/{other}"))
        .await
        .expect("remove the other index");
}

/// The kubelet's CRI time of now (RFC 3339, nanoseconds).
fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

/// Issue 17 with issue 13's `LogsFlowing`: the operator in external mode (API server, the
/// real node, the resource's Secrets) configures the alias; Filebeat, with the password of
/// the collector Secret the operator generated, ships lines logged now; the condition goes
/// True from them (`LogsArriving`, the node counted), and once Filebeat stops, False
/// (`NoRecentLogs`, the node listed as silent) after the threshold (`1m`, the least the
/// schema allows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_sees_shipped_logs_flow_and_stop() {
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{Api, PostParams};
    use meshlogging_operator::api::{MeshLogging, MeshLoggingStatus};
    use meshlogging_operator::controller::ServiceEndpoint;

    let node = elasticsearch::get();
    let kit::Setup {
        server,
        client: kube,
        ns,
    } = kit::Setup::new("ship").await;
    let index = unique("flow");
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
    ml.spec.index.name = index.clone();
    ml.spec.index.logs_flowing_threshold = Some("1m".to_string());
    ml.spec.snapshots = None;
    if let Some(external) = &mut ml.spec.elasticsearch.external {
        external.url = node.url.clone();
    }
    let mls: Api<MeshLogging> = Api::namespaced(kube.clone(), &ns);
    mls.create(&PostParams::default(), &ml)
        .await
        .expect("create");
    let name = ml.metadata.name.clone().expect("name");
    let operator = kit::operator::start_with(
        server,
        kit::operator::settings(&ns),
        std::sync::Arc::new(ServiceEndpoint),
        "ship",
    )
    .await;
    let logs_flowing = |s: &MeshLoggingStatus| {
        let c = kit::condition(s, "LogsFlowing");
        (c.status, c.reason, c.message)
    };
    let wait_status = |what: &'static str, timeout: Duration, want: &'static str| {
        let mls = mls.clone();
        let name = name.clone();
        async move {
            kit::wait_for(timeout, what, || async {
                let s = mls.get(&name).await.ok()?.status?;
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "LogsFlowing" && c.reason == want)
                    .then_some(s)
            })
            .await
        }
    };
    let status = wait_status(
        "the alias, no log yet",
        Duration::from_secs(60),
        "AwaitingLogs",
    )
    .await;
    assert_eq!(
        status.applied.as_ref().and_then(|a| a.write_index.clone()),
        Some(format!("{index}-000001"))
    );

    // The collector's password is the one the operator generated in the collector Secret.
    let secret = secrets
        .get(&meshlogging_operator::naming::collector_user_secret(&name))
        .await
        .expect("the generated collector Secret");
    let password = secret
        .data
        .as_ref()
        .and_then(|d| d.get(meshlogging_operator::naming::PASSWORD_KEY))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .expect("a password");
    let desired = desired(&ml.spec, &format!("{ns}/{name}"));
    let (collector, _) = collector_user(&desired, &index, &password).await;
    let proxy = kit::es_proxy::start(node).await;
    let out = output(&proxy, &collector, &index);
    let dir = ShipperDir::new();
    let file = container_log_file("registry-0", "mesh", "registry");

    // A line logged now: the condition goes True from it.
    let started = Instant::now();
    let filebeat = Filebeat::start(&dir, &out);
    dir.append(&file, &[app_line(&now(), "req-0", json!({}))]);
    let flowing = wait_status("LogsFlowing True", Duration::from_secs(60), "LogsArriving").await;
    eprintln!(
        "shipping: LogsFlowing True {:.1}s after the first line was written (Filebeat started with it)",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        logs_flowing(&flowing).0,
        "True",
        "{:?}",
        logs_flowing(&flowing)
    );
    let logs = flowing.logs.clone().expect("status.logs");
    assert_eq!(logs.nodes, Some(1), "{logs:?}");
    assert!(logs.recent.is_some_and(|n| n >= 1), "{logs:?}");
    // Nine more, a second apart; then shipping stops.
    for i in 1..10 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        dir.append(&file, &[app_line(&now(), &format!("req-{i}"), json!({}))]);
    }
    wait_for_count(&node.client(), &index, 10, &dir, Duration::from_secs(60)).await;
    let since = Instant::now();

    // Shipping stops: False once the newest log is older than the threshold.
    filebeat.stop();
    let stopped = wait_status(
        "LogsFlowing False",
        Duration::from_secs(120),
        "NoRecentLogs",
    )
    .await;
    let (status, _, message) = logs_flowing(&stopped);
    assert_eq!(status, "False", "{message}");
    assert!(message.contains("threshold 1m"), "{message}");
    let logs = stopped.logs.clone().expect("status.logs");
    assert_eq!(logs.silent_nodes, vec!["node-a".to_string()], "{logs:?}");
    assert_eq!(logs.recent, Some(0), "{logs:?}");
    eprintln!(
        "shipping: LogsFlowing False (NoRecentLogs) {:.1}s after the last line arrived (threshold 1m)",
        since.elapsed().as_secs_f64()
    );
    operator.stop().await;
}
