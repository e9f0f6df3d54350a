//! `cargo bench --bench operator`: the operator (the real binary, as its own process)
//! against the real API server and the Elasticsearch stand-in, with 1, 10 and 100
//! MeshLogging resources. Prints figures; asserts nothing about time.
//!
//! Reports: time from apply to all children created and to all Ready; API writes and
//! Elasticsearch writes while idle (target 0); Elasticsearch requests per sync; the
//! operator's resident memory idle and after each batch.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, PostParams};
use meshlogging_operator::api::MeshLogging;
use meshlogging_testkit::apiserver::{self, ApiServer};
use meshlogging_testkit::operator::OperatorProcess;
use meshlogging_testkit::{Kubelet, audit, is_ready, kubectl, setup, sim};
use serde_json::json;

const NS: &str = "bench";
const PASSWORD: &str = "bench-elastic-password";
const RESYNC_SECS: u64 = 5;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn operator_writes(server: &ApiServer) -> usize {
    audit::operator_writes(server).len()
}

fn resource(i: usize, url: &str) -> MeshLogging {
    serde_json::from_value(json!({
        "apiVersion": "logging.mcp-mesh.io/v1alpha1",
        "kind": "MeshLogging",
        "metadata": {"name": format!("bench-{i}")},
        "spec": {
            "version": "8.15.3",
            "index": {"name": format!("bench-{i}-logs")},
            "elasticsearch": {"external": {
                "url": url,
                "credentialsSecretRef": {"name": "es-admin"},
                "caSecretRef": {"name": "es-ca"}
            }}
        }
    }))
    .expect("resource")
}

/// How many resources of the namespace are Ready.
async fn ready(client: &kube::Client) -> usize {
    let api: Api<MeshLogging> = Api::namespaced(client.clone(), NS);
    let list = api.list(&ListParams::default()).await.expect("list");
    list.items.iter().filter(|ml| is_ready(ml)).count()
}

#[tokio::main]
async fn main() {
    let server = apiserver::get();
    let client = server.client().await;
    let sim = sim::green(PASSWORD).await;
    setup::install_crd(&client).await;
    kubectl::run(server, &["create", "namespace", NS]);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    for (name, data) in [
        (
            "es-admin",
            json!({"username": "elastic", "password": PASSWORD}),
        ),
        ("es-ca", json!({"ca.crt": sim.ca_pem().expect("ca")})),
    ] {
        let secret: Secret =
            serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data}))
                .expect("secret");
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("secret");
    }

    let operator = OperatorProcess::builder(env!("CARGO_BIN_EXE_meshlogging-operator"), server)
        .args(["--leader-election=false"])
        .args(["--resync-secs", &RESYNC_SECS.to_string()])
        .spawn();
    let pid = operator.id();
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("operator RSS with no resources: {} KiB", rss_kib(pid));

    let api: Api<MeshLogging> = Api::namespaced(client.clone(), NS);
    let kubelet = Kubelet::new(&client, NS).collector_nodes(1);
    let mut created = 0;
    for batch in [1usize, 9, 90] {
        let total = created + batch;
        sim.clear_requests();
        let start = Instant::now();
        for i in created..total {
            api.create(&PostParams::default(), &resource(i, &sim.url()))
                .await
                .expect("create");
        }
        // Children: every resource has its collector DaemonSet.
        let ds: Api<DaemonSet> = Api::namespaced(client.clone(), NS);
        loop {
            let n = ds
                .list(&ListParams::default())
                .await
                .expect("list")
                .items
                .len();
            if n >= total {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let children = start.elapsed();
        loop {
            kubelet.mark_all_ready().await;
            if ready(&client).await >= total {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(600),
                "not Ready after 10 minutes"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let ready = start.elapsed();
        let from_empty = sim.requests().len() as f64 / batch as f64;
        created = total;

        // Idle: two resync periods with nothing to change.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let writes_before = operator_writes(server);
        sim.clear_requests();
        tokio::time::sleep(Duration::from_secs(2 * RESYNC_SECS)).await;
        let idle_api_writes = operator_writes(server) - writes_before;
        let idle_es = sim.requests().len();
        let idle_es_writes = sim.write_requests().len();
        println!(
            "{total:>3} resources: +{batch} children in {children:.2?}, Ready in {ready:.2?}; \
             ES requests per from-empty sync ≈ {from_empty:.1}; idle {}s: {idle_api_writes} API writes, \
             {idle_es_writes} ES writes, {idle_es} ES reads (≈{:.1} per resource per resync); RSS {} KiB",
            2 * RESYNC_SECS,
            idle_es as f64 / total as f64 / 2.0,
            rss_kib(pid)
        );
    }
}
