//! The one applier of the operator (I/O): server-side apply with one field manager and
//! `force`, sent only when the live object lacks something the operator wants.
//!
//! Force policy: the operator owns the fields it renders and takes them back from anyone
//! who changed them (a hand-scaled StatefulSet is restored). Fields it does not render are
//! never sent, so other managers keep theirs.
//!
//! Zero writes when nothing changed: the live object is read first and compared with the
//! desired one as a *subset* ([`contains`]): every field the operator sets must be there
//! with the same value; what the API server defaulted or other managers added is ignored.
//! Only a difference leads to a PATCH.
//!
//! Never a takeover: an object that exists without this resource's ownership marker (the
//! controller owner reference of a namespaced child; the owner-uid annotation of a
//! cluster-scoped one) is left exactly as it is and reported as [`Outcome::NotOwned`].
//! The check uses the object the applier reads anyway (no extra request). An object created
//! by someone else between that read and the PATCH would still be adopted; the window is
//! one round trip.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt::Debug;

use crate::api::units::quantity_value;
pub use crate::render::collector::OWNER_UID_ANNOTATION;

/// The field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "meshlogging-operator";

/// What applying one object did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The object did not exist and was created.
    Created,
    /// The live object differed and was patched.
    Updated,
    /// The live object already had everything; nothing was sent.
    Unchanged,
    /// An object with this name exists and belongs to someone else: nothing was sent.
    NotOwned,
    /// The live object is being deleted (a StatefulSet recreated for a new volume claim
    /// template): nothing was sent; once it is gone, a later pass creates it anew.
    Deleting,
}

/// Applies `desired` through `api` if the live object lacks any of its fields. The live
/// object is `cached` (from a reflector store) when given, else read; an object missing
/// from the cache is always read, so one made a moment ago by someone else is seen.
pub async fn apply<K>(
    api: Api<K>,
    desired: &K,
    cached: Option<K>,
) -> Result<(Outcome, K), kube::Error>
where
    K: Resource + Clone + Debug + Serialize + DeserializeOwned,
    K::DynamicType: Default,
{
    let name = desired.name_any();
    let body = with_type_meta(desired)?;
    let live = match cached {
        Some(live) => Some(live),
        None => api.get_opt(&name).await?,
    };
    if let Some(live) = &live {
        if !owned_by_the_same(live.meta(), desired.meta()) {
            return Ok((Outcome::NotOwned, live.clone()));
        }
        // A patch would land on the object being deleted (and fail on what cannot change).
        if live.meta().deletion_timestamp.is_some() {
            return Ok((Outcome::Deleting, live.clone()));
        }
        let live_value = serde_json::to_value(live).map_err(kube::Error::SerdeError)?;
        if contains(&live_value, &body) {
            return Ok((Outcome::Unchanged, live.clone()));
        }
    }
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let applied = api.patch(&name, &params, &Patch::Apply(&body)).await?;
    let outcome = if live.is_some() {
        Outcome::Updated
    } else {
        Outcome::Created
    };
    Ok((outcome, applied))
}

/// Whether `live` carries the ownership marker `desired` is rendered with: the controller
/// owner reference (same uid) and the [`OWNER_UID_ANNOTATION`]. A desired object with
/// neither marker claims nothing, so the check cannot refuse it.
pub fn owned_by_the_same(live: &ObjectMeta, desired: &ObjectMeta) -> bool {
    let controller = desired
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true));
    let by_reference = controller.is_none_or(|want| {
        live.owner_references
            .iter()
            .flatten()
            .any(|o| o.uid == want.uid && o.controller == Some(true))
    });
    let annotation = |meta: &ObjectMeta| {
        meta.annotations
            .as_ref()
            .and_then(|a| a.get(OWNER_UID_ANNOTATION))
            .cloned()
    };
    let by_annotation = annotation(desired).is_none_or(|want| annotation(live) == Some(want));
    by_reference && by_annotation
}

/// The object as JSON with `apiVersion` and `kind` set from its type.
pub fn with_type_meta<K>(obj: &K) -> Result<Value, kube::Error>
where
    K: Resource + Serialize,
    K::DynamicType: Default,
{
    let mut value = serde_json::to_value(obj).map_err(kube::Error::SerdeError)?;
    let dt = K::DynamicType::default();
    if let Some(map) = value.as_object_mut() {
        map.insert("apiVersion".into(), K::api_version(&dt).into());
        map.insert("kind".into(), K::kind(&dt).into());
        // Never apply server-owned metadata.
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            for key in [
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "managedFields",
                "generation",
            ] {
                meta.remove(key);
            }
        }
        map.remove("status");
    }
    Ok(value)
}

/// Whether `live` has every field of `desired` with the same value.
///
/// Objects: every key of `desired` must match (zero values, empty objects and lists in
/// `desired` match an absent key: the API server drops them). Lists of objects: every desired
/// element must match a live element with the same key (`mountPath`, `name`, `port`, ...,
/// else the same position); extra live elements belong to other managers. Lists of
/// scalars are atomic: equal. Strings that are both Kubernetes quantities compare by value
/// (`1000m` = `1`).
pub fn contains(live: &Value, desired: &Value) -> bool {
    match (live, desired) {
        (_, Value::Null) => true,
        (Value::Object(l), Value::Object(d)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => contains(lv, dv),
            None => is_empty(dv),
        }),
        (Value::Array(l), Value::Array(d)) => {
            if d.iter().all(|v| !v.is_object()) {
                return l == d;
            }
            d.iter().enumerate().all(|(i, dv)| match element_key(dv) {
                Some(key) => l
                    .iter()
                    .any(|lv| element_key(lv) == Some(key.clone()) && contains(lv, dv)),
                None => l.get(i).is_some_and(|lv| contains(lv, dv)),
            })
        }
        (Value::String(l), Value::String(d)) => l == d || quantity_eq(l, d),
        (Value::Number(l), Value::Number(d)) => l.as_f64() == d.as_f64(),
        (Value::String(l), Value::Number(d)) | (Value::Number(d), Value::String(l)) => {
            // Quantities sent as numbers come back as strings.
            quantity_eq(l, &d.to_string())
        }
        (l, d) => l == d,
    }
}

/// Values the API server omits when serialising (Go's `omitempty`): an absent key in the
/// live object means the same.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
    }
}

/// The merge key of a list element, as Kubernetes uses for the lists the operator renders.
fn element_key(v: &Value) -> Option<(String, String)> {
    let obj = v.as_object()?;
    for key in [
        "mountPath",
        "devicePath",
        "name",
        "containerPort",
        "port",
        "key",
        "ip",
    ] {
        if let Some(value) = obj.get(key) {
            return Some((key.to_string(), value.to_string()));
        }
    }
    None
}

/// Compares two Kubernetes quantities by value (`1` = `1000m`, `1Gi` = `1024Mi`).
pub fn quantity_eq(a: &str, b: &str) -> bool {
    match (quantity_value(a), quantity_value(b)) {
        (Some(x), Some(y)) => (x - y).abs() <= f64::EPSILON * x.abs().max(y.abs()).max(1.0),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_other_managers_fields_are_not_drift() {
        let desired = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [
            {"name": "es", "image": "es:8", "resources": {"limits": {"cpu": "2", "memory": "4Gi"}}}
        ]}}}});
        let live = json!({"spec": {"replicas": 3, "revisionHistoryLimit": 10, "template": {"spec": {
        "containers": [
            {"name": "sidecar", "image": "x"},
            {"name": "es", "image": "es:8", "terminationMessagePath": "/dev/termination-log",
             "resources": {"limits": {"cpu": "2000m", "memory": "4096Mi"}}}
        ]}}}});
        assert!(contains(&live, &desired));
    }

    #[test]
    fn a_hand_scaled_statefulset_is_drift() {
        let desired = json!({"spec": {"replicas": 3}});
        assert!(!contains(&json!({"spec": {"replicas": 5}}), &desired));
    }

    #[test]
    fn removed_labels_and_changed_args_are_drift() {
        let desired = json!({"metadata": {"labels": {"a": "1"}}, "args": ["x", "y"]});
        assert!(!contains(
            &json!({"metadata": {"labels": {}}, "args": ["x", "y"]}),
            &desired
        ));
        assert!(!contains(
            &json!({"metadata": {"labels": {"a": "1"}}, "args": ["x"]}),
            &desired
        ));
        assert!(contains(
            &json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "args": ["x", "y"]}),
            &desired
        ));
    }

    #[test]
    fn volume_mounts_match_by_path_not_name() {
        let desired = json!([{"name": "config", "mountPath": "/a", "subPath": "a"}, {"name": "config", "mountPath": "/b", "subPath": "b"}]);
        let live = json!([{"name": "config", "mountPath": "/b", "subPath": "b"}, {"name": "config", "mountPath": "/a", "subPath": "a"}]);
        assert!(contains(&live, &desired));
        let changed = json!([{"name": "config", "mountPath": "/a", "subPath": "a"}, {"name": "config", "mountPath": "/b", "subPath": "c"}]);
        assert!(!contains(&changed, &desired));
    }

    fn meta(value: serde_json::Value) -> ObjectMeta {
        serde_json::from_value(value).expect("meta")
    }

    #[test]
    fn only_objects_with_the_owner_marker_are_owned() {
        let desired = meta(
            json!({"name": "x", "ownerReferences": [{"apiVersion": "a/v1",
            "kind": "MeshLogging", "name": "logs", "uid": "u1", "controller": true}]}),
        );
        let ours = meta(
            json!({"name": "x", "ownerReferences": [{"apiVersion": "a/v1",
            "kind": "MeshLogging", "name": "logs", "uid": "u1", "controller": true}]}),
        );
        let same_name_other_uid = meta(json!({"name": "x", "ownerReferences": [{"apiVersion":
            "a/v1", "kind": "MeshLogging", "name": "logs", "uid": "u0", "controller": true}]}));
        assert!(owned_by_the_same(&ours, &desired));
        assert!(!owned_by_the_same(&meta(json!({"name": "x"})), &desired));
        assert!(!owned_by_the_same(&same_name_other_uid, &desired));

        let binding = meta(json!({"name": "b", "annotations": {OWNER_UID_ANNOTATION: "u1"}}));
        assert!(owned_by_the_same(&binding, &binding));
        assert!(!owned_by_the_same(&meta(json!({"name": "b"})), &binding));
        assert!(!owned_by_the_same(
            &meta(json!({"name": "b", "annotations": {OWNER_UID_ANNOTATION: "u2"}})),
            &binding
        ));
    }

    #[test]
    fn quantities_compare_by_value() {
        assert!(quantity_eq("1", "1000m"));
        assert!(quantity_eq("0.5", "500m"));
        assert!(quantity_eq("1Gi", "1024Mi"));
        assert!(!quantity_eq("1Gi", "1G"));
        assert!(!quantity_eq("abc", "abc2"));
    }
}
