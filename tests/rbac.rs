//! Least privilege, proven: the operator runs as its ServiceAccount with exactly the RBAC of
//! `manifests/` against an RBAC-enforcing API server with the
//! `OwnerReferencesPermissionEnforcement` admission plugin (as on OpenShift); a full create ->
//! ready -> rotate a Secret -> expand the volumes -> delete cycle works, and what it must not
//! do is refused.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Secret};
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use meshlogging_operator::api::MeshLogging;
use meshlogging_operator::controller::Settings;
use meshlogging_testkit::operator::{self, client_from};
use meshlogging_testkit::sim::{self, ELASTIC_PASSWORD, SimEndpoint};
use meshlogging_testkit::{Setup, example, kubectl, resource, wait_for};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

#[tokio::test]
async fn the_operator_works_with_exactly_its_manifests_rbac_and_nothing_more() {
    // Install as a user would (the CRD too).
    let Setup {
        server,
        client: admin,
        ns,
    } = Setup::builder("rbac").crd(false).build().await;
    let manifests = meshlogging_testkit::repo("manifests");
    kubectl::run(
        server,
        &[
            "apply",
            "--server-side",
            "-k",
            &manifests.display().to_string(),
        ],
    );
    kubectl::wait_crd_established(server).await;

    // The operator's identity: a token of its ServiceAccount.
    let token = kubectl::token(server, "meshlogging-operator", "meshlogging-system");
    let kubeconfig = server.kubeconfig_for_token("operator", &token);
    let operator_client = client_from(&kubeconfig, "rbac-operator").await;

    // Run it as deployed: all namespaces, leader election on.
    let sim = sim::green(ELASTIC_PASSWORD).await;
    let settings = Settings {
        resync_ready: Duration::from_secs(2),
        resync_pending: Duration::from_millis(500),
        error_backoff: Duration::from_millis(200),
        error_backoff_max: Duration::from_secs(2),
        ..Settings::default()
    };
    let options = operator::options("rbac-operator", settings, Some("meshlogging-system"));
    let running = operator::run_as(
        operator_client.clone(),
        options,
        Arc::new(SimEndpoint::new(&sim)),
    );

    // A full cycle: create -> ready -> delete.
    let api: Api<MeshLogging> = Api::namespaced(admin.clone(), &ns);
    api.create(&PostParams::default(), &example("minimal.yaml"))
        .await
        .expect("create");
    let name = "mesh-logs";
    resource::wait_ready(&admin, &ns, name, "Ready=True as the ServiceAccount").await;

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

    expand_volumes(&admin, &ns, name).await;

    resource::delete_and_wait(
        &admin,
        &ns,
        name,
        "deleted (finalizer removed by the ServiceAccount)",
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

    // The collector's pods are watched (list/watch, across the namespaces it watches),
    // never read one by one, changed or deleted.
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::all(operator_client.clone());
    pods.list(
        &kube::api::ListParams::default()
            .labels(&meshlogging_operator::controller::collector_pods::selector()),
    )
    .await
    .expect("the collector pods can be listed");
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(operator_client.clone(), &ns);
    let e = pods
        .get("anything")
        .await
        .expect_err("GET of a pod refused");
    assert_eq!(status_code(&e), Some(403), "{e}");
    // Deleting a pod is allowed: the rolling restart deletes the Elasticsearch pods one
    // at a time (the StatefulSet is OnDelete); absent here, so 404, not 403.
    let e = pods
        .delete("anything", &DeleteParams::default())
        .await
        .expect_err("no such pod");
    assert_eq!(status_code(&e), Some(404), "{e}");

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

    running.stop().await;
}

/// A volume expansion as the ServiceAccount: it reads the StorageClass, patches each bound
/// claim and deletes the StatefulSet orphaning its pods (the tests play the volume binder
/// and the garbage collector; see tests/day2.rs).
async fn expand_volumes(admin: &kube::Client, ns: &str, name: &str) {
    let class = format!("{ns}-grow");
    let sc: StorageClass = serde_json::from_value(json!({"metadata": {"name": class},
        "provisioner": "example.com/none", "allowVolumeExpansion": true}))
    .expect("class");
    Api::<StorageClass>::all(admin.clone())
        .create(&PostParams::default(), &sc)
        .await
        .expect("class");
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(admin.clone(), ns);
    let sts_name = format!("{name}-es");
    for ordinal in 0..3 {
        let claim = format!("data-{sts_name}-{ordinal}");
        let pvc: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {"name": claim},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": class,
                "resources": {"requests": {"storage": "10Gi"}}}}))
        .expect("pvc");
        pvcs.create(&PostParams::default(), &pvc)
            .await
            .expect("pvc");
        pvcs.patch_status(
            &claim,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Bound", "capacity": {"storage": "10Gi"}}})),
        )
        .await
        .expect("bind");
    }
    Api::<MeshLogging>::namespaced(admin.clone(), ns)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"elasticsearch": {"storage": {"size": "20Gi"}}}})),
        )
        .await
        .expect("a larger size");
    let stss: Api<StatefulSet> = Api::namespaced(admin.clone(), ns);
    wait_for(
        WAIT,
        "the StatefulSet deleted with Orphan by the ServiceAccount",
        || async {
            let sts = stss.get_opt(&sts_name).await.ok()??;
            sts.metadata.deletion_timestamp.is_some().then_some(())
        },
    )
    .await;
    let list = pvcs.list(&Default::default()).await.expect("claims");
    for pvc in &list.items {
        let size = pvc
            .spec
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref())
            .map(|r| r["storage"].0.clone());
        assert_eq!(size.as_deref(), Some("20Gi"), "{:?}", pvc.metadata.name);
    }
    stss.patch(
        &sts_name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("the garbage collector's part");
    resource::wait_ready(admin, ns, name, "Ready again with the new StatefulSet").await;
}
