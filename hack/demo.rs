//! `make demo`: the whole MeshLogging flow on a fresh machine, locally and throwaway.
//!
//! A LOCAL DEMO: it starts its own kube-apiserver + etcd (the test harness, no kubelet),
//! the Elasticsearch API stand-in and the Kibana stand-in, installs the CRD with kubectl,
//! runs the operator,
//! applies examples/minimal.yaml pointed at the stand-in (external mode), plays the
//! kubelet's part for readiness, and prints what a user would look at. Nothing touches a
//! real cluster; everything stops at the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use meshlogging_operator::controller::{EsEndpoint, ServiceEndpoint, Settings};
use meshlogging_operator::elastic::{ClientConfig, Credentials};
use meshlogging_operator::validate::Validated;
use meshlogging_testkit::apiserver::{self, ApiServer};
use meshlogging_testkit::{Kubelet, kubectl as kubectl_run, operator, sim, wait_for};

const NS: &str = "demo";
const PASSWORD: &str = "demo-elastic-password";

/// Elasticsearch as the resource says (the stand-in's URL, external mode); Kibana at the
/// Kibana stand-in instead of the Kibana Service nothing runs behind.
struct DemoEndpoint {
    kibana: String,
}

impl EsEndpoint for DemoEndpoint {
    fn client_config(
        &self,
        v: &Validated,
        admin: Option<Credentials>,
        ca_pem: Option<Vec<u8>>,
    ) -> ClientConfig {
        ServiceEndpoint.client_config(v, admin, ca_pem)
    }

    fn kibana_config(&self, _: &Validated, user: Option<Credentials>) -> Option<ClientConfig> {
        let mut config = ClientConfig::new(self.kibana.clone());
        config.credentials = user;
        Some(config)
    }
}

fn step(text: &str) {
    println!("\n\x1b[1m==> {text}\x1b[0m");
}

/// `kubectl args...` (with `stdin` on its input), its output; the demo stops if it fails.
fn kubectl(server: &ApiServer, args: &[&str], stdin: Option<&str>) -> String {
    match stdin {
        Some(input) => kubectl_run::run_with_input(server, args, input),
        None => kubectl_run::run(server, args),
    }
}

#[tokio::main]
async fn main() {
    let start = Instant::now();
    println!("\x1b[1mMeshLogging operator — LOCAL DEMO\x1b[0m");
    println!(
        "A throwaway kube-apiserver + etcd and an Elasticsearch API stand-in, on this machine only."
    );
    println!(
        "For a real cluster: `kubectl apply -k manifests/` (or `make run` against your kubeconfig)."
    );

    step(
        "Starting a throwaway kube-apiserver + etcd (built once, cached under ~/.cache/meshlogging)",
    );
    let server = apiserver::get();
    println!("API server at {}", server.url);

    step("Starting the Elasticsearch API stand-in (TLS, basic auth)");
    let sim = sim::green(PASSWORD).await;
    println!("Elasticsearch stand-in at {}", sim.url());
    let kibana = kibana_sim::KibanaSim::start().await;
    println!("Kibana stand-in at {}", kibana.url());

    step("Installing the CRD: kubectl apply --server-side -f crds/meshlogging.yaml");
    let crd = format!("{}/crds/meshlogging.yaml", env!("CARGO_MANIFEST_DIR"));
    print!(
        "{}",
        kubectl(server, &["apply", "--server-side", "-f", &crd], None)
    );
    kubectl(
        server,
        &[
            "wait",
            "--for=condition=Established",
            "crd/meshloggings.logging.mcp-mesh.io",
            "--timeout=30s",
        ],
        None,
    );

    step("Running the operator");
    let client = server.client().await;
    let settings = Settings {
        resync_ready: Duration::from_secs(5),
        resync_pending: Duration::from_secs(1),
        ..Settings::default()
    };
    let running = operator::run_as(
        client.clone(),
        operator::options("demo", settings, None),
        Arc::new(DemoEndpoint {
            kibana: kibana.url(),
        }),
    );

    step("Applying examples/minimal.yaml, pointed at the stand-in (spec.elasticsearch.external)");
    kubectl(server, &["create", "namespace", NS], None);
    kubectl(
        server,
        &[
            "create",
            "secret",
            "generic",
            "es-admin",
            "-n",
            NS,
            "--from-literal=username=elastic",
            &format!("--from-literal=password={PASSWORD}"),
        ],
        None,
    );
    let ca_file = server.dir.join("es-ca.crt");
    std::fs::write(&ca_file, sim.ca_pem().expect("ca")).expect("write ca");
    kubectl(
        server,
        &[
            "create",
            "secret",
            "generic",
            "es-ca",
            "-n",
            NS,
            &format!("--from-file=ca.crt={}", ca_file.display()),
        ],
        None,
    );
    let minimal = std::fs::read_to_string(format!(
        "{}/examples/minimal.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("minimal.yaml");
    let pointed = format!(
        "{minimal}  elasticsearch:\n    external:\n      url: {}\n      credentialsSecretRef: {{name: es-admin}}\n      caSecretRef: {{name: es-ca}}\n",
        sim.url()
    );
    print!(
        "{}",
        kubectl(server, &["apply", "-n", NS, "-f", "-"], Some(&pointed))
    );

    step("Playing the kubelet: the Kibana and collector pods report ready");
    // The Kibana Deployment and the collector DaemonSet (external mode: no StatefulSet).
    let kubelet = Kubelet::new(&client, NS).collector_nodes(3);
    wait_for(
        Duration::from_secs(60),
        "the operator to create the workloads",
        || async { (kubelet.mark_ready("mesh-logs").await >= 2).then_some(()) },
    )
    .await;
    kubectl(
        server,
        &[
            "wait",
            "meshlogging/mesh-logs",
            "-n",
            NS,
            "--for=condition=Ready",
            "--timeout=60s",
        ],
        None,
    );

    step("kubectl get meshlogging -o wide");
    print!(
        "{}",
        kubectl(
            server,
            &["get", "meshlogging", "-n", NS, "-o", "wide"],
            None
        )
    );

    step("kubectl get deploy,ds,svc,configmap,secret -n demo");
    print!(
        "{}",
        kubectl(
            server,
            &["get", "deploy,ds,svc,configmap,secret", "-n", NS],
            None
        )
    );

    step("What the operator applied in Elasticsearch");
    sim.with_state(|s| {
        for (name, p) in &s.ilm_policies {
            println!("ILM policy          {name}: {}", ilm_phases(&p.policy));
        }
        for name in s.component_templates.keys() {
            println!("component template  {name}");
        }
        for (name, t) in &s.index_templates {
            let priority = t
                .priority
                .map(|p| format!(", priority {p}"))
                .unwrap_or_default();
            let parts = if t.composed_of.is_empty() {
                "its own settings and mappings".to_string()
            } else {
                format!("built from {}", t.composed_of.join(" + "))
            };
            println!(
                "index template      {name}: indices {}, {parts}{priority}",
                t.index_patterns.join(", "),
            );
        }
        for (name, i) in &s.indices {
            let aliases: Vec<String> = i
                .aliases
                .iter()
                .map(|(a, m)| {
                    let write = if m.is_write_index == Some(true) {
                        " (write alias)"
                    } else {
                        ""
                    };
                    format!("{a}{write}")
                })
                .collect();
            if aliases.is_empty() {
                println!("index               {name} (records Elasticsearch refused)");
            } else {
                println!("index               {name}, alias {}", aliases.join(", "));
            }
        }
        for (name, r) in &s.roles {
            for grant in &r.indices {
                println!(
                    "role                {name}: may {} on {}",
                    grant.privileges.join(", "),
                    grant.names.join(", ")
                );
            }
            for app in &r.applications {
                let list = |k: &str| -> Vec<String> {
                    app[k]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p.as_str().map(str::to_string))
                        .collect()
                };
                println!(
                    "role                {name}: Kibana {} on {}",
                    list("privileges").join(", "),
                    list("resources").join(", ")
                );
            }
        }
        for (name, u) in s
            .users
            .iter()
            .filter(|(_, u)| u.metadata.get("managed_by").is_some())
        {
            println!(
                "user                {name}, with role {}",
                u.roles.join(", ")
            );
        }
    });
    let writes = sim.write_requests().len();
    println!(
        "\nElasticsearch requests so far: {} ({writes} writes)",
        sim.requests().len()
    );

    step("What the operator keeps in Kibana (saved objects API)");
    wait_for(
        Duration::from_secs(60),
        "the dashboards in Kibana",
        || async {
            kibana
                .with_state(|s| s.objects.keys().any(|(t, _)| t == "dashboard"))
                .then_some(())
        },
    )
    .await;
    kibana.with_state(|s| {
        for ((kind, id), o) in &s.objects {
            let title = o.attributes["title"]
                .as_str()
                .or_else(|| o.attributes["name"].as_str())
                .unwrap_or_default();
            println!("{kind:<19} {title}  ({id})");
        }
    });
    println!(
        "\nKibana requests so far: {} ({} writes)",
        kibana.requests().len(),
        kibana.writes()
    );

    running.stop().await;
    println!(
        "\n\x1b[1mLocal demo finished in {:.1?}; the API server, etcd and the stand-ins stop now.\x1b[0m",
        start.elapsed()
    );
}

/// An ILM policy's phases as a user writes them: "hot: rollover at 1d or 50gb -> warm after 2d
/// -> cold after 7d -> delete after 30d".
fn ilm_phases(policy: &serde_json::Value) -> String {
    let phases = &policy["phases"];
    ["hot", "warm", "cold", "frozen", "delete"]
        .iter()
        .filter_map(|name| {
            let phase = phases.get(*name)?;
            let mut text = name.to_string();
            match phase["min_age"].as_str() {
                None | Some("0ms") | Some("0") | Some("0s") | Some("0d") => {}
                Some(age) => text.push_str(&format!(" after {age}")),
            }
            let actions = &phase["actions"];
            let mut what = Vec::new();
            if let Some(rollover) = actions.get("rollover") {
                let at: Vec<String> = [
                    ("max_age", ""),
                    ("max_primary_shard_size", " per primary shard"),
                    ("max_size", ""),
                    ("max_docs", " documents"),
                    ("max_primary_shard_docs", " documents per primary shard"),
                ]
                .iter()
                .filter_map(|(key, unit)| {
                    let value = &rollover[*key];
                    let value = value
                        .as_str()
                        .map(str::to_string)
                        .or_else(|| value.as_u64().map(|n| n.to_string()))?;
                    Some(format!("{value}{unit}"))
                })
                .collect();
                what.push(format!("rollover at {}", at.join(" or ")));
            }
            if let Some(n) = actions["shrink"]["number_of_shards"].as_u64() {
                what.push(format!(
                    "shrink to {n} shard{}",
                    if n == 1 { "" } else { "s" }
                ));
            }
            if let Some(n) = actions["forcemerge"]["max_num_segments"].as_u64() {
                what.push(format!(
                    "force-merge to {n} segment{}",
                    if n == 1 { "" } else { "s" }
                ));
            }
            if let Some(n) = actions["allocate"]["number_of_replicas"].as_u64() {
                what.push(format!("{n} replica{}", if n == 1 { "" } else { "s" }));
            }
            if actions.get("readonly").is_some() {
                what.push("read-only".to_string());
            }
            if !what.is_empty() {
                text.push_str(&format!(": {}", what.join(", ")));
            }
            Some(text)
        })
        .collect::<Vec<_>>()
        .join(" -> ")
}
