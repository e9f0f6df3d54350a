//! Manual benchmark: `cargo bench -p es-sim --bench throughput`.
//!
//! Prints the start-up time of the stand-in (plain and TLS) and the throughput
//! of small requests on ONE core: the server and a keep-alive client share a
//! single-threaded tokio runtime. Bounded in count and time; loopback only.

use std::time::{Duration, Instant};

use es_sim::{EsSim, SimConfig};

const STARTS: usize = 50;
const REQUESTS: usize = 20_000;
const CONCURRENCY: usize = 8;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Time from `start_with` until the first `GET /` has been answered.
async fn startup(tls: bool) -> (Duration, Duration) {
    let mut times = Vec::new();
    for _ in 0..STARTS {
        let t = Instant::now();
        let sim = EsSim::start_with(SimConfig {
            tls,
            ..SimConfig::default()
        })
        .await;
        let mut b = reqwest::Client::builder();
        if let Some(pem) = sim.ca_pem() {
            b = b.add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).expect("ca"));
        }
        let client = b.build().expect("client");
        let resp = client.get(sim.url()).send().await.expect("first request");
        assert!(resp.status().is_success());
        times.push(t.elapsed());
        sim.stop().await;
    }
    let max = times.iter().copied().max().unwrap_or_default();
    (median(times), max)
}

async fn throughput(path: &str, method: reqwest::Method, body: Option<&'static str>) -> f64 {
    let sim = EsSim::start().await;
    let base = sim.url();
    if body.is_some() {
        let c = reqwest::Client::new();
        let _ = c.put(format!("{base}/bench")).send().await;
    }
    let url = format!("{base}{path}");
    let per_task = REQUESTS / CONCURRENCY;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .expect("client");
        let url = url.clone();
        let method = method.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_task {
                let mut r = client.request(method.clone(), &url);
                if let Some(b) = body {
                    r = r.header("content-type", "application/json").body(b);
                }
                let resp = r.send().await.expect("request");
                assert!(resp.status().is_success(), "{}", resp.status());
                let _ = resp.bytes().await.expect("body");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let elapsed = t.elapsed();
    sim.stop().await;
    (per_task * CONCURRENCY) as f64 / elapsed.as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (med, max) = startup(false).await;
        println!("startup to first answer (plain):  median {:.2} ms, max {:.2} ms over {STARTS} starts", med.as_secs_f64() * 1e3, max.as_secs_f64() * 1e3);
        let (med, max) = startup(true).await;
        println!("startup to first answer (TLS):   median {:.2} ms, max {:.2} ms over {STARTS} starts", med.as_secs_f64() * 1e3, max.as_secs_f64() * 1e3);
        let rps = throughput("/", reqwest::Method::GET, None).await;
        println!("GET /                      {rps:>9.0} req/s (1 core, {CONCURRENCY} keep-alive connections, {REQUESTS} requests)");
        let rps = throughput("/_cluster/health", reqwest::Method::GET, None).await;
        println!("GET /_cluster/health       {rps:>9.0} req/s");
        let rps = throughput("/bench/_doc", reqwest::Method::POST, Some("{\"msg\":\"hello\",\"n\":1}")).await;
        println!("POST /bench/_doc (1 doc)   {rps:>9.0} req/s");
    });
}
