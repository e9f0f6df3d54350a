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
//! Lean caches: the reflector stores keep the children without what is large and only
//! ever compared (the workloads' pod templates, the ConfigMaps' data, the specs of
//! Services, disruption budgets and Ingresses: [`Trim`]). Such a
//! part is compared once against the whole object (one GET) and then remembered as
//! verified for that object's generation ([`Verified`]; a ConfigMap's resourceVersion):
//! while neither the rendering nor the object changes, the cached rest is enough. Anyone
//! changing the object changes its generation, so the next pass reads it whole again.
//!
//! Never a takeover: an object that exists without this resource's ownership marker (the
//! controller owner reference of a namespaced child; the owner-uid annotation of a
//! cluster-scoped one) is left exactly as it is and reported as [`Outcome::NotOwned`].
//! The check uses the object the applier reads anyway (no extra request). An object created
//! by someone else between that read and the PATCH would still be adopted; the window is
//! one round trip.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt::Debug;

use crate::api::units::quantity_value;
use crate::fingerprint::fnv1a64;
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

/// What a reflector store keeps of an object: everything the operator reads from a live
/// child (metadata, replicas, status, claim templates), without the large parts it only
/// ever compares. Those are compared through [`Verified`].
pub trait Trim {
    /// Drops the parts the stores do not keep (default: none).
    fn trim(&mut self) {}
}

macro_rules! keep_whole {
    ($($ty:ty),*) => { $(impl Trim for $ty {})* };
}
keep_whole!(ServiceAccount, ClusterRoleBinding, Pod);

/// The generated Secrets are selected by their labels and never compared: the store keeps
/// them without (the secrets module puts them back before it updates one).
impl Trim for Secret {
    fn trim(&mut self) {
        self.metadata.labels = None;
    }
}

macro_rules! drop_spec {
    ($($ty:ty),*) => {$(
        impl Trim for $ty {
            fn trim(&mut self) {
                self.spec = None;
            }
        }
    )*};
}
drop_spec!(Service, PodDisruptionBudget, Ingress);

macro_rules! drop_pod_template {
    ($($ty:ty),*) => {$(
        impl Trim for $ty {
            fn trim(&mut self) {
                if let Some(spec) = self.spec.as_mut() {
                    spec.template = Default::default();
                }
            }
        }
    )*};
}
drop_pod_template!(StatefulSet, Deployment, DaemonSet);

impl Trim for ConfigMap {
    fn trim(&mut self) {
        self.data = None;
        self.binary_data = None;
    }
}

/// The trimmed parts of live children found to hold everything the operator renders:
/// per object (uid), the version it was seen at (its generation, or its resourceVersion
/// for kinds without one) and a hash of the rendered object. In memory only: after a
/// restart each trimmed child is read whole once, then no more. Every field is a 64-bit
/// hash (a few hundred resources keep thousands of entries: 32 bytes each, no heap
/// string); a false match needs the uid, version and rendering hashes to collide at once.
#[derive(Default)]
pub struct Verified(Mutex<HashMap<u64, Seen>>);

/// One object's verified state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seen {
    /// Hash of [`version_of`].
    version: u64,
    rendered: u64,
    /// Hash of the resource it was rendered for (`<namespace>/<name>`), for
    /// [`Verified::forget`].
    owner: u64,
}

/// The version a change of the object's content changes, hashed: its generation
/// (workloads: the API server bumps it for every spec change, not for status), else its
/// resourceVersion.
fn version_of(meta: &ObjectMeta) -> Option<u64> {
    match (meta.generation, &meta.resource_version) {
        (Some(g), _) => Some(fnv1a64(format!("g{g}").as_bytes())),
        (None, Some(rv)) => Some(fnv1a64(rv.as_bytes())),
        (None, None) => None,
    }
}

impl Verified {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Seen>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the object `meta` names, at its current version, was verified to hold the
    /// rendering hashed `rendered`.
    fn holds(&self, meta: &ObjectMeta, rendered: u64) -> bool {
        let (Some(uid), Some(version)) = (&meta.uid, version_of(meta)) else {
            return false;
        };
        self.map()
            .get(&fnv1a64(uid.as_bytes()))
            .is_some_and(|s| s.version == version && s.rendered == rendered)
    }

    /// Remembers that the object `meta` names holds the rendering hashed `rendered`.
    fn record(&self, meta: &ObjectMeta, rendered: u64, owner: &str) {
        if let (Some(uid), Some(version)) = (&meta.uid, version_of(meta)) {
            let seen = Seen {
                version,
                rendered,
                owner: fnv1a64(owner.as_bytes()),
            };
            self.map().insert(fnv1a64(uid.as_bytes()), seen);
        }
    }

    /// Forgets the children of the resource `owner` (`<namespace>/<name>`), deleted.
    pub fn forget(&self, owner: &str) {
        let owner = fnv1a64(owner.as_bytes());
        self.map().retain(|_, s| s.owner != owner);
    }

    /// How many objects are remembered.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.map().is_empty()
    }
}

/// Where the live object of an apply comes from.
pub enum Live<'a, K> {
    /// Read by a GET.
    Read,
    /// A reflector store's (trimmed, see [`Trim`]) copy, with the memory of what was
    /// verified of the trimmed parts and the resource the object is rendered for.
    Cached(K, &'a Verified, &'a str),
}

/// Applies `desired` through `api` if the live object lacks any of its fields. The live
/// object is cached (from a reflector store) when given, else read; an object missing
/// from the cache is always read, so one made a moment ago by someone else is seen. The
/// parts a store does not keep are compared against the object read whole, once per
/// version of it and of the rendering (see [`Verified`]).
pub async fn apply<K>(
    api: Api<K>,
    desired: &K,
    live: Live<'_, K>,
) -> Result<(Outcome, K), kube::Error>
where
    K: Resource + Trim + Clone + Debug + Serialize + DeserializeOwned,
    K::DynamicType: Default,
{
    let name = desired.name_any();
    let body = with_type_meta(desired)?;
    let (cached, memo) = match live {
        Live::Cached(object, verified, owner) => (Some(object), Some((verified, owner))),
        Live::Read => (None, None),
    };
    let rendered = fnv1a64(body.to_string().as_bytes());
    let live = match cached {
        Some(cached) => {
            let mut trimmed = desired.clone();
            trimmed.trim();
            let trimmed = with_type_meta(&trimmed)?;
            let verified = memo.is_some_and(|(v, _)| v.holds(cached.meta(), rendered));
            let cached_value = serde_json::to_value(&cached).map_err(kube::Error::SerdeError)?;
            // Ownership and deletion are read from the cached metadata (kept whole).
            if !owned_by_the_same(cached.meta(), desired.meta()) {
                return Ok((Outcome::NotOwned, cached));
            }
            if cached.meta().deletion_timestamp.is_some() {
                return Ok((Outcome::Deleting, cached));
            }
            match (
                contains(&cached_value, &trimmed),
                trimmed == body || verified,
            ) {
                (true, true) => return Ok((Outcome::Unchanged, cached)),
                // The kept parts match; the trimmed ones were not verified at this
                // version: compare the whole object.
                (true, false) => api.get_opt(&name).await?,
                // A kept part differs: no need to read more to know a patch is due.
                (false, _) => Some(cached),
            }
        }
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
            if let Some((verified, owner)) = memo {
                verified.record(live.meta(), rendered, owner);
            }
            return Ok((Outcome::Unchanged, live.clone()));
        }
    }
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let applied = api.patch(&name, &params, &Patch::Apply(&body)).await?;
    if let Some((verified, owner)) = memo {
        verified.record(applied.meta(), rendered, owner);
    }
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
