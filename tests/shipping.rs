//! Logs really arrive: a real shipper (Filebeat, `hack/filebeat.sh`) reads CRI container
//! log files and writes them to the write alias the operator configured on a real
//! Elasticsearch (`meshlogging_testkit::elasticsearch`), with a configuration derived from the
//! operator's collector contract (`meshlogging_testkit::filebeat`).
//!
//! Filebeat writes as the collector user, with exactly the role the operator renders
//! (`create_doc` on the alias and its backing indices, no cluster privilege); the native
//! realm does not work in this distribution, so user and role live in the file realm.
//!
//! The distribution lacks `rest-root`, whose `GET /` Filebeat reads first, and Filebeat
//! reads `GET /_license` (cluster privilege `monitor`, which the operator's collectors do
//! not need): Filebeat talks to the node through `meshlogging_testkit::es_proxy`, which answers those
//! two itself and forwards everything else unchanged.
//!
//! The figures (lines shipped, latency from the first line written to all lines
//! searchable) are printed, not asserted.

use std::time::{Duration, Instant};

use kit::desired;
use kit::elasticsearch;
use kit::filebeat::{Filebeat, Output, ShipperDir};
use meshlogging_operator::api::AppliedStatus;
use meshlogging_operator::elastic::{Credentials, EsClient};
use meshlogging_operator::naming::Names;
use meshlogging_testkit as kit;
use serde_json::{Value, json};

/// Applies the operator's configuration for a resource whose index is `index`; returns
/// the first backing index and the collector's credentials.
///
/// The native realm does not work in this distribution, so the collector user the
/// operator would create there is made in the file realm, with exactly the role body the
/// operator renders for it.
async fn configure(client: &EsClient, index: &str) -> (String, Credentials) {
    let es = elasticsearch::get();
    let mut spec = kit::example("minimal.yaml").spec;
    spec.index.name = index.to_string();
    let desired = desired(&spec, &format!("test/{index}"));
    let collector = Names::new(index).collector_user();
    let role = desired.roles.get(&collector).expect("the collector role");
    assert_eq!(desired.users[&collector].roles, vec![collector.clone()]);
    let credentials = Credentials {
        username: collector.clone(),
        password: format!("{:024x}", rand::random::<u128>()),
    };
    es.add_file_user(&collector, &credentials.password, &collector, role)
        .expect("file-realm collector");
    let (report, _) = kit::sync::pass(client, &desired, &AppliedStatus::default()).await;
    assert!(report.aborted.is_none(), "{:?}", report.aborted);
    let write_index = report.write_index.expect("the write alias is in place");

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
    (write_index, credentials)
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
    let alias = format!("ship-{:06x}", rand::random::<u32>() & 0xff_ffff);
    let (first_index, collector) = configure(&client, &alias).await;
    let proxy = kit::es_proxy::start(es).await;
    let out = Output {
        url: proxy.url.clone(),
        ca_pem: es.ca_pem.clone(),
        username: collector.username.clone(),
        password: collector.password.clone(),
        index: alias.clone(),
    };
    let dir = ShipperDir::new();

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
    dir.append("registry_mesh_registry-0.log", &lines);
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
        "registry_mesh_registry-0.log",
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
        "registry_mesh_registry-0.log",
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
        proxy.forwarded.load(std::sync::atomic::Ordering::Relaxed)
    );
}
