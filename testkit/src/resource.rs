//! A MeshLogging resource's life in a test: Ready (with the kubelet played), and deleted
//! (the finalizer done).

use std::time::Duration;

use kube::api::{Api, DeleteParams};
use meshlogging_operator::api::MeshLogging;

use crate::kubelet::Kubelet;
use crate::process::wait_for;

/// How long a test waits for the operator to get somewhere.
pub const WAIT: Duration = Duration::from_secs(60);

/// Waits (up to [`WAIT`]) until the MeshLogging `name` in `ns` is `Ready=True`, marking its
/// workloads ready meanwhile; `what` names the wait in the failure.
pub async fn wait_ready(client: &kube::Client, ns: &str, name: &str, what: &str) -> MeshLogging {
    let api: Api<MeshLogging> = Api::namespaced(client.clone(), ns);
    let kubelet = Kubelet::new(client, ns);
    wait_for(WAIT, what, || async {
        kubelet.mark_ready(name).await;
        let ml = api.get(name).await.ok()?;
        crate::is_ready(&ml).then_some(ml)
    })
    .await
}

/// Deletes the MeshLogging `name` in `ns` and waits (up to [`WAIT`]) until it is gone, its
/// finalizer removed; `what` names the wait in the failure.
pub async fn delete_and_wait(client: &kube::Client, ns: &str, name: &str, what: &str) {
    let api: Api<MeshLogging> = Api::namespaced(client.clone(), ns);
    api.delete(name, &DeleteParams::default())
        .await
        .expect("delete");
    wait_for(WAIT, what, || async {
        api.get_opt(name).await.ok()?.is_none().then_some(())
    })
    .await;
}

/// Creates in `ns` the Secret `s3-credentials` that `examples/production.yaml`'s snapshot
/// repository names (example keys, not real ones).
pub async fn production_s3_secret(client: &kube::Client, ns: &str) {
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{ObjectMeta, PostParams};
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("s3-credentials".into()),
            ..Default::default()
        },
        data: Some(std::collections::BTreeMap::from([
            (
                "access_key".to_string(),
                ByteString(b"AKIAEXAMPLE".to_vec()),
            ),
            (
                "secret_key".to_string(),
                ByteString(b"wJalrEXAMPLEKEY".to_vec()),
            ),
        ])),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("s3 secret");
}

/// The notes of the events in `ns` with `reason` (events.k8s.io, as the operator publishes
/// them).
pub async fn event_notes(client: &kube::Client, ns: &str, reason: &str) -> Vec<String> {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), ns);
    let list = api.list(&Default::default()).await.expect("events");
    list.items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .map(|e| e.note.unwrap_or_default())
        .collect()
}
