//! `cargo bench --bench bootstrap`: issue #12's race. N clusters are created at once while
//! none of them can answer (no kubelet here, so no Elasticsearch node ever runs: the state
//! of every new cluster in its first minutes), and the operator must still give every one
//! its workloads. Prints figures; asserts nothing about time.
//!
//! The operator runs as its own process (this profile's binary) on one API server; with
//! `ECK_OPERATOR=<path to ECK's operator binary>` (hack/eck.sh builds it) ECK runs after it
//! on the same server, one `Elasticsearch` of 3 nodes and one `Kibana` per instance, and
//! each figure is printed with ECK's beside it and the ratio.
//!
//! Batches reach the totals of `SIZES` (default `1,10,100,300`). Per batch: seconds until
//! 50/90/100 % of its resources have their workloads; then, after 10 s to settle, one idle
//! window of `IDLE_SECS` (default 60): CPU seconds, API reads and writes (from the API
//! server's audit log, by user agent), and the resident memory at its end.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use kube::api::{Api, ListParams, PostParams};
use meshlogging_operator::api::MeshLogging;
use meshlogging_testkit::apiserver::{self, ApiServer};
use meshlogging_testkit::operator::OperatorProcess;
use meshlogging_testkit::process::KillOnDrop;

/// One operator under test.
struct Subject {
    name: &'static str,
    namespace: &'static str,
    /// How its user agent starts, in the audit log.
    agent: String,
    pid: u32,
}

/// The growth curves: `subject,batch,seconds,with_workloads` per poll, for `hack/plot.py`.
struct Curves(Option<std::fs::File>);

impl Curves {
    /// Writes to `BENCH_CSV` (default `target/bench/bootstrap.csv`).
    fn create() -> Self {
        let path = std::env::var("BENCH_CSV").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/target/bench/bootstrap.csv").into()
        });
        let path = PathBuf::from(path);
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let file = std::fs::File::create(&path).ok();
        if file.is_some() {
            eprintln!("growth curves: {}", path.display());
        }
        let mut curves = Self(file);
        curves.row("subject,batch,seconds,with_workloads");
        curves
    }

    fn row(&mut self, line: &str) {
        use std::io::Write as _;
        if let Some(f) = &mut self.0 {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// The figures of one batch.
#[derive(Clone, Copy, Default)]
struct Figures {
    total: usize,
    p50: f64,
    p90: f64,
    p100: Option<f64>,
    cpu: f64,
    reads: usize,
    writes: usize,
    rss_mib: f64,
    writes_per_resource: f64,
}

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

fn proc_stat(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 14th field.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    (cpu, rss_kib / 1024.0)
}

/// Reads and writes audited for user agents starting with `agent`, from line `from` on, and
/// the writes by verb and resource (`patch meshloggings/status`), most frequent first.
fn audited(
    server: &ApiServer,
    agent: &str,
    from: usize,
) -> (usize, usize, usize, Vec<(String, usize)>) {
    let log = std::fs::read_to_string(&server.audit_log).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    let (mut reads, mut writes) = (0, 0);
    let mut by_kind = std::collections::BTreeMap::<String, usize>::new();
    for line in lines.iter().skip(from) {
        let Ok(e) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if !e["userAgent"]
            .as_str()
            .is_some_and(|a| a.starts_with(agent))
        {
            continue;
        }
        let verb = e["verb"].as_str().unwrap_or("");
        let stage = e["stage"].as_str().unwrap_or("");
        match (verb, stage) {
            ("get" | "list", "ResponseComplete") | ("watch", "ResponseStarted") => reads += 1,
            ("create" | "update" | "patch" | "delete" | "deletecollection", "ResponseComplete") => {
                writes += 1;
                let target = &e["objectRef"];
                let mut what = format!("{verb} {}", target["resource"].as_str().unwrap_or("?"));
                if let Some(sub) = target["subresource"].as_str() {
                    what = format!("{what}/{sub}");
                }
                *by_kind.entry(what).or_default() += 1;
            }
            _ => {}
        }
    }
    let mut by_kind: Vec<(String, usize)> = by_kind.into_iter().collect();
    by_kind.sort_by_key(|k| std::cmp::Reverse(k.1));
    (reads, writes, lines.len(), by_kind)
}

fn kubectl(server: &ApiServer, args: &[&str], stdin: Option<&str>) {
    let mut cmd = server.kubectl();
    cmd.args(args).stdout(Stdio::null());
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("kubectl");
    if let Some(text) = stdin {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write");
    }
    assert!(child.wait().expect("kubectl").success(), "kubectl {args:?}");
}

/// Names of the instances `from..to` that have all their workloads.
async fn with_workloads(client: &kube::Client, s: &Subject, from: usize, to: usize) -> usize {
    let names = |items: Vec<Option<String>>| -> std::collections::HashSet<String> {
        items.into_iter().flatten().collect()
    };
    let lp = ListParams::default();
    let sts = names(
        Api::<StatefulSet>::namespaced(client.clone(), s.namespace)
            .list_metadata(&lp)
            .await
            .map(|l| l.items.into_iter().map(|o| o.metadata.name).collect())
            .unwrap_or_default(),
    );
    let second = if s.name == "ECK" {
        Api::<Deployment>::namespaced(client.clone(), s.namespace)
            .list_metadata(&lp)
            .await
            .map(|l| l.items.into_iter().map(|o| o.metadata.name).collect())
            .unwrap_or_default()
    } else {
        Api::<DaemonSet>::namespaced(client.clone(), s.namespace)
            .list_metadata(&lp)
            .await
            .map(|l| l.items.into_iter().map(|o| o.metadata.name).collect())
            .unwrap_or_default()
    };
    let second = names(second);
    (from..to)
        .filter(|i| {
            if s.name == "ECK" {
                sts.contains(&format!("c{i}-es-default")) && second.contains(&format!("c{i}-kb"))
            } else {
                sts.contains(&format!("c{i}-es")) && second.contains(&format!("c{i}-collector"))
            }
        })
        .count()
}

async fn create_ours(client: &kube::Client, from: usize, to: usize) {
    let api: Api<MeshLogging> = Api::namespaced(client.clone(), "ours");
    for i in from..to {
        let mut ml = meshlogging_testkit::example("minimal.yaml");
        ml.metadata.name = Some(format!("c{i}"));
        api.create(&PostParams::default(), &ml)
            .await
            .expect("create");
    }
}

fn create_eck(server: &ApiServer, from: usize, to: usize) {
    let mut yaml = String::new();
    for i in from..to {
        yaml.push_str(&format!(
            "---\napiVersion: elasticsearch.k8s.elastic.co/v1\nkind: Elasticsearch\nmetadata: {{name: c{i}, namespace: eck}}\n\
             spec:\n  version: 8.15.3\n  nodeSets:\n  - name: default\n    count: 3\n    config: {{node.store.allow_mmap: false}}\n\
             ---\napiVersion: kibana.k8s.elastic.co/v1\nkind: Kibana\nmetadata: {{name: c{i}, namespace: eck}}\n\
             spec:\n  version: 8.15.3\n  count: 1\n  elasticsearchRef: {{name: c{i}}}\n"
        ));
    }
    kubectl(server, &["create", "-f", "-"], Some(&yaml));
}

async fn run(
    server: &ApiServer,
    client: &kube::Client,
    s: &Subject,
    sizes: &[usize],
    idle: Duration,
    curves: &mut Curves,
) -> Vec<Figures> {
    let mut out = Vec::new();
    let mut created = 0;
    for &total in sizes {
        let (_, writes_before, mark_before, _) = audited(server, &s.agent, 0);
        let (cpu_start, _) = proc_stat(s.pid);
        let start = Instant::now();
        if s.name == "ECK" {
            create_eck(server, created, total);
        } else {
            create_ours(client, created, total).await;
        }
        let batch = total - created;
        let mut f = Figures {
            total,
            ..Default::default()
        };
        let (mut p50, mut p90) = (None, None);
        while start.elapsed() < Duration::from_secs(300) {
            let done = with_workloads(client, s, created, total).await;
            let t = start.elapsed().as_secs_f64();
            curves.row(&format!("{},{total},{t:.2},{done}", s.name));
            if p50.is_none() && done * 2 >= batch {
                p50 = Some(t);
            }
            if p90.is_none() && done * 10 >= batch * 9 {
                p90 = Some(t);
            }
            if done == batch {
                f.p100 = Some(t);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        f.p50 = p50.unwrap_or(f64::NAN);
        f.p90 = p90.unwrap_or(f64::NAN);
        tokio::time::sleep(Duration::from_secs(10)).await;
        let (_, writes_after, mark, _) = audited(server, &s.agent, 0);
        let (_, _, _, batch_writes) = audited(server, &s.agent, mark_before);
        let list: Vec<String> = batch_writes
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        eprintln!(
            "  {} N={total}: writes of the batch: {}",
            s.name,
            list.join(", ")
        );
        f.writes_per_resource = (writes_after - writes_before) as f64 / batch as f64;
        let (cpu0, _) = proc_stat(s.pid);
        eprintln!(
            "  {} N={total}: CPU until settled (creation + 10 s): {:.2}s",
            s.name,
            cpu0 - cpu_start
        );
        tokio::time::sleep(idle).await;
        let (cpu1, rss) = proc_stat(s.pid);
        let (reads, writes, _, idle_writes) = audited(server, &s.agent, mark);
        f.cpu = cpu1 - cpu0;
        f.reads = reads;
        f.writes = writes;
        f.rss_mib = rss;
        eprintln!(
            "{} N={total}: 50% {:.2}s 90% {:.2}s 100% {:?}; idle {}s: CPU {:.2}s, {reads} reads, {writes} writes; RSS {:.0} MiB",
            s.name,
            f.p50,
            f.p90,
            f.p100,
            idle.as_secs(),
            f.cpu,
            f.rss_mib
        );
        if !idle_writes.is_empty() {
            let list: Vec<String> = idle_writes
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            eprintln!("  idle writes: {}", list.join(", "));
        }
        if let Some(copy) = std::env::var_os("AUDIT_COPY") {
            // For a closer look at what the writes were (status patches and events are
            // audited with their bodies when reads are audited).
            let _ = std::fs::copy(&server.audit_log, copy);
        }
        out.push(f);
        created = total;
    }
    out
}

fn eck_crds(binary: &Path) -> PathBuf {
    let version = std::env::var("ECK_VERSION").unwrap_or_else(|_| "v3.5.0".into());
    let gomodcache = Command::new("go")
        .args(["env", "GOMODCACHE"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let crds = PathBuf::from(gomodcache)
        .join(format!("github.com/elastic/cloud-on-k8s/v3@{version}"))
        .join("config/crds/v1/all-crds.yaml");
    assert!(
        crds.exists(),
        "ECK's CRDs at {} (binary {})",
        crds.display(),
        binary.display()
    );
    crds
}

fn cell(ours: f64, eck: Option<f64>, unit: &str) -> String {
    match eck {
        Some(e) if ours > 0.0 && e.is_finite() && ours.is_finite() => {
            format!("{ours:.2}{unit} ({e:.2}{unit}, ×{:.1})", e / ours)
        }
        Some(e) => format!("{ours:.2}{unit} ({e:.2}{unit})"),
        None => format!("{ours:.2}{unit}"),
    }
}

#[tokio::main]
async fn main() {
    let sizes = env_list("SIZES", &[1, 10, 100, 300]);
    let idle = Duration::from_secs(
        std::env::var("IDLE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60),
    );
    assert!(
        std::env::var_os("MESHLOGGING_AUDIT_READS").is_some(),
        "run with MESHLOGGING_AUDIT_READS=1 (the API server then audits reads too)"
    );
    let server = apiserver::get();
    let client = server.client().await;
    meshlogging_testkit::setup::install_crd(&client).await;
    kubectl(server, &["create", "namespace", "ours"], None);

    // The shipped build (`make bench` passes the release binary), else this profile's.
    let binary = std::env::var("MESHLOGGING_OPERATOR")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_meshlogging-operator").to_string());
    eprintln!("ours: {binary}");
    let ours = OperatorProcess::builder(&binary, server)
        .args(["--leader-election=false", "--namespace", "ours"])
        .spawn();
    let subject = Subject {
        name: "ours",
        namespace: "ours",
        agent: "meshlogging-operator/".into(),
        pid: ours.id(),
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut curves = Curves::create();
    let mine = run(server, &client, &subject, &sizes, idle, &mut curves).await;
    drop(ours);

    let theirs = match std::env::var_os("ECK_OPERATOR") {
        None => None,
        Some(binary) => {
            let binary = PathBuf::from(binary);
            let crds = eck_crds(&binary);
            kubectl(
                server,
                &["apply", "--server-side", "-f", &crds.display().to_string()],
                None,
            );
            kubectl(server, &["create", "namespace", "eck"], None);
            tokio::time::sleep(Duration::from_secs(3)).await;
            let child = Command::new(&binary)
                .args([
                    "manager",
                    "--enable-webhook=false",
                    "--manage-webhook-certs=false",
                    "--disable-telemetry",
                    "--enable-leader-election=false",
                    "--namespaces=eck",
                    "--operator-namespace=eck",
                    "--metrics-port=0",
                    "--log-verbosity=-1",
                ])
                .env("KUBECONFIG", &server.kubeconfig)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("ECK");
            let eck = KillOnDrop(child);
            let name = binary
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let subject = Subject {
                name: "ECK",
                namespace: "eck",
                agent: format!("{name}/"),
                pid: eck.id(),
            };
            tokio::time::sleep(Duration::from_secs(3)).await;
            Some(run(server, &client, &subject, &sizes, idle, &mut curves).await)
        }
    };

    println!(
        "\nours (ECK, ratio ECK/ours) — ES unreachable, managed mode, idle window {}s",
        idle.as_secs()
    );
    println!(
        "| N | 50 % | 90 % | 100 % | RSS | CPU idle | API reads idle | API writes idle | writes/resource |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (i, m) in mine.iter().enumerate() {
        let e = theirs.as_ref().and_then(|t| t.get(i)).copied();
        let p100 = |f: &Figures| f.p100.unwrap_or(f64::NAN);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            m.total,
            cell(m.p50, e.map(|e| e.p50), "s"),
            cell(m.p90, e.map(|e| e.p90), "s"),
            cell(p100(m), e.map(|e| p100(&e)), "s"),
            cell(m.rss_mib, e.map(|e| e.rss_mib), " MiB"),
            cell(m.cpu, e.map(|e| e.cpu), "s"),
            cell(m.reads as f64, e.map(|e| e.reads as f64), ""),
            cell(m.writes as f64, e.map(|e| e.writes as f64), ""),
            cell(m.writes_per_resource, e.map(|e| e.writes_per_resource), ""),
        );
    }
}
