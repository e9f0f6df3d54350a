//! Leader election with two operator processes (the real binary) against the real API
//! server: only the Lease holder writes; when it dies, the other takes over within the
//! lease duration.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams, PostParams};
use meshlogging_operator::api::MeshLogging;
use serde_json::json;
use support::apiserver::ApiServer;
use support::wait_for;

const LEASE_SECS: u64 = 4;

/// An operator process, killed when dropped (also when the test fails).
struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(server: &ApiServer, identity: &str, ns: &str, lease_ns: &str) -> Operator {
    let log = std::fs::File::create(server.dir.join(format!("{identity}.log"))).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_meshlogging-operator"))
        .args([
            "run",
            "--namespace",
            ns,
            "--lease-namespace",
            lease_ns,
            "--identity",
            identity,
        ])
        .args([
            "--lease-duration-secs",
            &LEASE_SECS.to_string(),
            "--resync-secs",
            "2",
        ])
        .args(["--metrics-addr", "127.0.0.1:0"])
        .env("KUBECONFIG", &server.kubeconfig)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn operator");
    Operator(child)
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt("meshlogging-operator")
        .await
        .ok()??
        .spec?
        .holder_identity
}

/// Writes of `identity` other than its Lease renewals.
fn writes(server: &ApiServer, identity: &str) -> Vec<String> {
    support::operator::writes(server, identity)
        .into_iter()
        .filter(|w| !w.contains("leases/"))
        .collect()
}

#[tokio::test]
async fn only_the_leader_reconciles_and_a_standby_takes_over_within_the_lease() {
    let server = support::apiserver::get();
    let client = server.client().await;
    support::install_crd(&client).await;
    let ns = support::namespace(&client, "leader").await;
    let lease_ns = support::namespace(&client, "lease").await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), &lease_ns);
    let (a, b) = (format!("{ns}-a"), format!("{ns}-b"));

    let op_a = spawn(server, &a, &ns, &lease_ns);
    wait_for(Duration::from_secs(60), "a to lead", || async {
        (holder(&leases).await.as_deref() == Some(a.as_str())).then_some(())
    })
    .await;
    let op_b = spawn(server, &b, &ns, &lease_ns);

    let ml = support::example("minimal.yaml");
    let api: Api<MeshLogging> = Api::namespaced(client.clone(), &ns);
    api.create(&PostParams::default(), &ml)
        .await
        .expect("create");
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    wait_for(Duration::from_secs(60), "children", || async {
        sts.get_opt("mesh-logs-es").await.ok()?
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    assert!(!writes(server, &a).is_empty(), "the leader wrote");
    assert_eq!(
        writes(server, &b),
        Vec::<String>::new(),
        "the standby wrote"
    );
    assert_eq!(holder(&leases).await.as_deref(), Some(a.as_str()));

    // The leader dies without releasing the Lease.
    drop(op_a);
    let died = Instant::now();
    wait_for(Duration::from_secs(30), "b to lead", || async {
        (holder(&leases).await.as_deref() == Some(b.as_str())).then_some(())
    })
    .await;
    let takeover = died.elapsed();
    eprintln!("takeover after {takeover:?} (lease {LEASE_SECS}s)");
    assert!(
        takeover <= Duration::from_secs(LEASE_SECS + 2),
        "takeover took {takeover:?}, lease is {LEASE_SECS}s"
    );

    // The new leader reconciles: a spec change reaches the children.
    api.patch(
        "mesh-logs",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"kibana": {"replicas": 2}}})),
    )
    .await
    .expect("patch");
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    wait_for(
        Duration::from_secs(60),
        "Kibana scaled by the new leader",
        || async {
            (deploys.get("mesh-logs-kibana").await.ok()?.spec?.replicas == Some(2)).then_some(())
        },
    )
    .await;
    assert!(!writes(server, &b).is_empty(), "the new leader wrote");
    drop(op_b);
}
