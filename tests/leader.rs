//! Leader election with two operator processes (the real binary) against the real API
//! server: only the Lease holder writes; when it dies, the other takes over within the
//! lease duration.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams, PostParams};
use meshlogging_operator::api::MeshLogging;
use meshlogging_testkit::apiserver::ApiServer;
use meshlogging_testkit::operator::OperatorProcess;
use meshlogging_testkit::{Setup, audit, example, setup, wait_for};
use serde_json::json;

const LEASE_SECS: u64 = 4;

fn spawn(server: &ApiServer, identity: &str, ns: &str, lease_ns: &str) -> OperatorProcess {
    OperatorProcess::builder(env!("CARGO_BIN_EXE_meshlogging-operator"), server)
        .args(["--namespace", ns, "--lease-namespace", lease_ns])
        .args(["--identity", identity])
        .args(["--lease-duration-secs", &LEASE_SECS.to_string()])
        .args(["--resync-secs", "2"])
        .log_level("info")
        .log_to(server.dir.join(format!("{identity}.log")))
        .spawn()
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
    audit::writes(server, identity)
        .into_iter()
        .filter(|w| !w.contains("leases/"))
        .collect()
}

#[tokio::test]
async fn only_the_leader_reconciles_and_a_standby_takes_over_within_the_lease() {
    let Setup { server, client, ns } = Setup::new("leader").await;
    let lease_ns = setup::namespace(&client, "lease").await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), &lease_ns);
    let (a, b) = (format!("{ns}-a"), format!("{ns}-b"));

    let op_a = spawn(server, &a, &ns, &lease_ns);
    wait_for(Duration::from_secs(60), "a to lead", || async {
        (holder(&leases).await.as_deref() == Some(a.as_str())).then_some(())
    })
    .await;
    let op_b = spawn(server, &b, &ns, &lease_ns);

    let ml = example("minimal.yaml");
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
