//! Least privilege, proven: the operator runs as its ServiceAccount with exactly the RBAC of
//! `manifests/` against an RBAC-enforcing API server with the
//! `OwnerReferencesPermissionEnforcement` admission plugin (as on OpenShift); a full create ->
//! ready -> rotate a Secret -> delete cycle works, and what it must not do is refused.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use es_sim::{EsSim, Health, SimConfig, SimUser};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use meshlogging_operator::api::MeshLogging;
use meshlogging_operator::controller::Settings;
use meshlogging_operator::operator::{Options, run_with_endpoint};
use serde_json::json;
use support::operator::{ELASTIC_PASSWORD, SimEndpoint, client_from};
use support::wait_for;

const WAIT: Duration = Duration::from_secs(60);

fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

#[tokio::test]
async fn the_operator_works_with_exactly_its_manifests_rbac_and_nothing_more() {
    let server = support::apiserver::get();
    let admin = server.client().await;

    // Install as a user would.
    let out = server
        .kubectl()
        .args(["apply", "--server-side", "-k"])
        .arg(format!("{}/manifests", env!("CARGO_MANIFEST_DIR")))
        .output()
        .expect("kubectl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    support::wait_for(WAIT, "CRD established", || async {
        let out = server
            .kubectl()
            .args([
                "wait",
                "--for=condition=Established",
                "crd/meshloggings.logging.mcp-mesh.io",
                "--timeout=5s",
            ])
            .output()
            .ok()?;
        out.status.success().then_some(())
    })
    .await;

    // The operator's identity: a token of its ServiceAccount.
    let out = server
        .kubectl()
        .args([
            "create",
            "token",
            "meshlogging-operator",
            "-n",
            "meshlogging-system",
            "--duration=1h",
        ])
        .output()
        .expect("kubectl create token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout)
        .expect("token")
        .trim()
        .to_string();
    let kubeconfig = server.kubeconfig_for_token("operator", &token);
    let operator_client = client_from(&kubeconfig, "rbac-operator").await;

    // Run it as deployed: all namespaces, leader election on.
    let sim = EsSim::start_with(SimConfig {
        tls: true,
        users: vec![SimUser::elastic(ELASTIC_PASSWORD)],
        ..Default::default()
    })
    .await;
    sim.set_health(Health::Green);
    let options = Options {
        settings: Settings {
            resync_ready: Duration::from_secs(2),
            resync_pending: Duration::from_millis(500),
            error_backoff: Duration::from_millis(200),
            error_backoff_max: Duration::from_secs(2),
            ..Settings::default()
        },
        metrics_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        leader_election: true,
        lease_namespace: "meshlogging-system".into(),
        lease_name: "meshlogging-operator".into(),
        lease_duration: Duration::from_secs(5),
        identity: "rbac-operator".into(),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(run_with_endpoint(
        operator_client.clone(),
        options,
        Arc::new(SimEndpoint::new(&sim)),
        async move {
            let _ = stop_rx.await;
        },
    ));

    // A full cycle: create -> ready -> delete.
    let ns = support::namespace(&admin, "rbac").await;
    let ml = support::example("minimal.yaml");
    let api: Api<MeshLogging> = Api::namespaced(admin.clone(), &ns);
    api.create(&PostParams::default(), &ml)
        .await
        .expect("create");
    let name = "mesh-logs";
    wait_for(WAIT, "Ready=True as the ServiceAccount", || async {
        support::pods_ready(&admin, &ns, name).await;
        let ml = api.get(name).await.ok()?;
        let ready = ml
            .status?
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        ready.then_some(())
    })
    .await;

    // Rotation: a new operator password regenerates the file realm (an update of the
    // derived Secret, which the ServiceAccount may do).
    let secrets_admin: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let realm_before = secrets_admin
        .get("mesh-logs-es-file-realm")
        .await
        .expect("realm")
        .data;
    secrets_admin
        .delete("mesh-logs-es-operator-user", &DeleteParams::default())
        .await
        .expect("delete the password Secret");
    wait_for(
        WAIT,
        "the file realm regenerated as the ServiceAccount",
        || async {
            let text = |s: &Secret, key: &str| {
                String::from_utf8(s.data.as_ref()?.get(key)?.0.clone()).ok()
            };
            let user = secrets_admin
                .get_opt("mesh-logs-es-operator-user")
                .await
                .ok()??;
            let realm = secrets_admin
                .get_opt("mesh-logs-es-file-realm")
                .await
                .ok()??;
            if realm.data == realm_before {
                return None;
            }
            let password = text(&user, "password")?;
            let users = text(&realm, "users")?;
            let hash = users
                .trim()
                .strip_prefix("meshlogging-operator:")?
                .to_string();
            bcrypt::verify(password, &hash).ok()?.then_some(())
        },
    )
    .await;

    api.delete(name, &DeleteParams::default())
        .await
        .expect("delete");
    wait_for(
        WAIT,
        "deleted (finalizer removed by the ServiceAccount)",
        || async { api.get_opt(name).await.ok()?.is_none().then_some(()) },
    )
    .await;

    // What the ServiceAccount must not do.
    let roles: Api<ClusterRole> = Api::all(operator_client.clone());
    let role: ClusterRole =
        serde_json::from_value(json!({"metadata": {"name": "escalate"}, "rules": []}))
            .expect("role");
    let e = roles
        .create(&PostParams::default(), &role)
        .await
        .expect_err("create ClusterRole refused");
    assert_eq!(status_code(&e), Some(403), "{e}");

    let namespaces: Api<Namespace> = Api::all(operator_client.clone());
    let e = namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .expect_err("delete Namespace refused");
    assert_eq!(status_code(&e), Some(403), "{e}");

    let exec = http::Request::post(format!(
        "/api/v1/namespaces/{ns}/pods/anything/exec?command=sh&stdout=true"
    ))
    .body(Vec::new())
    .expect("request");
    let e = operator_client
        .request_text(exec)
        .await
        .expect_err("pods/exec refused");
    assert_eq!(status_code(&e), Some(403), "{e}");

    let secrets: Api<Secret> = Api::namespaced(operator_client.clone(), &ns);
    let e = secrets
        .patch(
            "mesh-logs-es-elastic-user",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {}})),
        )
        .await
        .expect_err("patching a Secret refused");
    assert_eq!(status_code(&e), Some(403), "{e}");

    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(20), running).await;
}
