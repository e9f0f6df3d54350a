//! Step 4 of a pass: applying the rendered children (I/O), each through the one applier,
//! pruning children the spec no longer asks for, and reading back the workloads'
//! readiness. An object of a child's name that is not this resource's is never changed or
//! deleted: it is reported as a conflict and the other children are applied.
//!
//! The per-kind tables (apply, prune, watch) are generated from the one list of kinds,
//! [`crate::render::child_kinds!`]: a kind cannot be applied but forgotten by the pruning
//! or the watches.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;

use futures::Stream;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::api::{Api, DeleteParams, ListParams};
use kube::core::NamespaceResourceScope;
use kube::runtime::Controller;
use kube::runtime::events::EventType;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{info, warn};

use super::Context;
use super::apply::{Live, Outcome, Trim, Verified, apply};
use super::dereference::Dereferenced;
use super::finish::Pass;
use crate::api::MeshLogging;
use crate::error::Result;
use crate::reason::Reason;
use crate::render::collector::OWNER_ANNOTATION;
use crate::render::{Child, child_kinds, labels};
use crate::validate::Validated;

/// Readiness of the workloads: (desired, ready).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Workloads {
    /// Elasticsearch nodes (managed mode).
    pub elasticsearch: Option<(i32, i32)>,
    /// Kibana replicas (when enabled).
    pub kibana: Option<(i32, i32)>,
    /// Collector pods.
    pub collector: (i32, i32),
    /// Every Elasticsearch pod runs the StatefulSet's current template (its status
    /// observed the current generation and counts every replica as updated): what the pod
    /// template makes the nodes load at start — the file realm — is loaded.
    pub elasticsearch_updated: bool,
}

/// What applying the children did.
#[derive(Debug, Default)]
pub struct Applied {
    /// `Kind/name` of every child created, updated or deleted.
    pub changes: Vec<String>,
    /// Children the API server refused: `Kind/name: its message`.
    pub rejected: Vec<String>,
    /// Objects with a child's (or a generated Secret's) name that belong to someone else
    /// (`Kind/name`): left alone.
    pub conflicts: Vec<String>,
    /// Readiness read from the applied workloads.
    pub workloads: Workloads,
}

/// The step: applies the children, announces what changed, and reports the objects it
/// would not take over (children and generated Secrets alike).
pub async fn apply_children(
    ctx: &Context,
    pass: &Pass,
    v: &Validated,
    rendered: &[Child],
    refs: &Dereferenced,
) -> Result<Applied> {
    let mut applied = apply_all(&ctx.client, ctx.caches(), v, rendered).await?;
    if !applied.changes.is_empty() {
        info!(changes = ?applied.changes, "applied children");
        ctx.publish(
            &pass.reference,
            EventType::Normal,
            Reason::Applied,
            applied.changes.join(", "),
        )
        .await;
    }
    let secrets = refs
        .secrets
        .iter()
        .flat_map(|s| s.conflicts.iter().cloned());
    applied.conflicts.extend(secrets);
    if !applied.conflicts.is_empty() {
        warn!(objects = ?applied.conflicts, "not taking over objects this resource does not own");
    }
    Ok(applied)
}

/// Applies every child, then deletes children of this resource that were not rendered.
pub async fn apply_all(
    client: &kube::Client,
    caches: &Caches,
    v: &Validated,
    children: &[Child],
) -> Result<Applied> {
    let mut applied = Applied::default();
    let mut wanted: BTreeSet<(&'static str, String)> = BTreeSet::new();
    let owner = format!("{}/{}", v.namespace, v.name);
    for child in children {
        let (kind, name) = (child.kind(), child.name().to_string());
        let cached = caches.live(child);
        match apply_child(client, child, cached, &caches.verified, &owner).await {
            // Not ours: not applied, and not in `wanted` either (prune only ever deletes
            // objects carrying this resource's owner reference anyway).
            Ok((Outcome::NotOwned, _)) => {
                applied.workloads.observe(child, None);
                applied.conflicts.push(format!("{kind}/{name}"));
            }
            Ok((outcome, live)) => {
                applied.workloads.observe(child, Some(&live));
                if !matches!(outcome, Outcome::Unchanged | Outcome::Deleting) {
                    let verb = if outcome == Outcome::Created {
                        "created"
                    } else {
                        "updated"
                    };
                    applied.changes.push(format!("{verb} {kind}/{name}"));
                }
                wanted.insert((kind, name));
            }
            // The API server refuses the object (for example a changed volume claim
            // template of a StatefulSet, which is immutable): report it, keep going, and
            // never prune what could not be applied.
            Err(kube::Error::Api(e)) if e.code == 422 => {
                applied
                    .rejected
                    .push(format!("{kind}/{name}: {}", e.message));
                wanted.insert((kind, name));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let prune = Prune {
        client,
        caches,
        namespace: &v.namespace,
        instance: &v.name,
        selector: format!(
            "{}={},{}={}",
            labels::INSTANCE,
            v.name,
            labels::MANAGED_BY,
            labels::MANAGED_BY_VALUE
        ),
        owner_uid: &v.uid,
        wanted: &wanted,
    };
    prune.all(&mut applied.changes).await?;
    Ok(applied)
}

impl Workloads {
    /// Reads the readiness of a workload from its live object (`None`: the object of its
    /// name is someone else's, which says nothing about this stack: nothing is ready).
    fn observe(&mut self, desired: &Child, live: Option<&Child>) {
        // (desired, ready); someone else's workload: none of it is ready.
        let replicas = |spec: Option<i32>, ready: Option<i32>, ours: bool| {
            (spec.unwrap_or(1), ready.filter(|_| ours).unwrap_or(0))
        };
        let ours = live.is_some();
        match (desired, live) {
            (Child::StatefulSet(d), live) => {
                let o = match live {
                    Some(Child::StatefulSet(o)) => o,
                    _ => d,
                };
                let spec = o.spec.as_ref().and_then(|s| s.replicas);
                let ready = o.status.as_ref().and_then(|s| s.ready_replicas);
                self.elasticsearch = Some(replicas(spec, ready, ours));
                self.elasticsearch_updated = ours
                    && o.status.as_ref().is_some_and(|s| {
                        s.observed_generation >= o.metadata.generation
                            && s.updated_replicas.unwrap_or(0) >= spec.unwrap_or(1)
                    });
            }
            (Child::Deployment(d), live) => {
                let o = match live {
                    Some(Child::Deployment(o)) => o,
                    _ => d,
                };
                let spec = o.spec.as_ref().and_then(|s| s.replicas);
                let ready = o.status.as_ref().and_then(|s| s.ready_replicas);
                self.kibana = Some(replicas(spec, ready, ours));
            }
            (Child::DaemonSet(_), Some(Child::DaemonSet(o))) => {
                let status = o.status.clone().unwrap_or_default();
                self.collector = (status.desired_number_scheduled, status.number_ready);
            }
            // Other kinds have no readiness; a collector that is not ours keeps (0, 0).
            _ => {}
        }
    }
}

/// The API of `K` in `namespace`, or in every namespace.
pub fn scoped_api<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The key of the object `meta` names in a store of `K`.
fn store_key<K: Resource<DynamicType = ()>>(meta: &ObjectMeta) -> ObjectRef<K> {
    let name = meta.name.clone().unwrap_or_default();
    match &meta.namespace {
        Some(ns) => ObjectRef::new(&name).within(ns),
        None => ObjectRef::new(&name),
    }
}

/// A label-selected watch of `K` through a reflector: its store and its stream.
fn cached_watch<K>(
    client: &kube::Client,
    namespace: Option<&str>,
    config: &watcher::Config,
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Trim
        + Clone
        + Debug
        + DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    // managedFields are never compared (the applier sends only what it renders) and are
    // often the larger half of an object: the stores keep objects without them, and
    // without the large parts the applier verifies once per version ([`Trim`]).
    let stream = watcher(scoped_api::<K>(client, namespace), config.clone())
        .default_backoff()
        .modify(lean)
        .reflect(writer)
        .touched_objects();
    (reader, stream)
}

/// What a store keeps of an object: no `managedFields`, and what [`Trim`] keeps.
fn lean<K: Resource + Trim>(o: &mut K) {
    o.meta_mut().managed_fields = None;
    o.trim();
}

/// A label-selected watch of the cluster-scoped `K` through a reflector (the stores keep
/// what [`lean`] keeps).
fn cluster_watch<K>(
    client: &kube::Client,
    config: &watcher::Config,
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource<Scope = kube::core::ClusterResourceScope, DynamicType = ()>
        + Trim
        + Clone
        + Debug
        + DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(Api::<K>::all(client.clone()), config.clone())
        .default_backoff()
        .modify(lean)
        .reflect(writer)
        .touched_objects();
    (reader, stream)
}

/// The MeshLogging a cluster-scoped child belongs to: its owner annotation
/// (`<namespace>/<name>`).
fn owner_of(meta: &ObjectMeta) -> Option<ObjectRef<MeshLogging>> {
    let owner = meta.annotations.as_ref()?.get(OWNER_ANNOTATION)?;
    let (namespace, name) = owner.split_once('/')?;
    Some(ObjectRef::new(name).within(namespace))
}

/// The API a child is applied through: its namespace's, or the cluster's.
macro_rules! child_api {
    (namespaced, $ty:ty, $client:expr, $o:expr) => {
        Api::<$ty>::namespaced(
            $client.clone(),
            $o.metadata.namespace.as_deref().unwrap_or_default(),
        )
    };
    (cluster, $ty:ty, $client:expr, $o:expr) => {
        Api::<$ty>::all($client.clone())
    };
}

/// Pruning and watching: namespaced kinds only (a cluster-scoped child carries no owner
/// reference; the cleanup removes it).
macro_rules! if_namespaced {
    (namespaced, $($then:tt)*) => { $($then)* };
    (cluster, $($then:tt)*) => {};
}

/// The cluster-scoped kinds' watches (no owner reference: mapped to their owner by its
/// annotation).
macro_rules! if_cluster {
    (namespaced, $($then:tt)*) => {};
    (cluster, $($then:tt)*) => { $($then)* };
}

/// What the pruning of one pass deletes: this resource's children (label selector and
/// owner uid) that were not applied this pass.
struct Prune<'a> {
    client: &'a kube::Client,
    caches: &'a Caches,
    namespace: &'a str,
    instance: &'a str,
    selector: String,
    owner_uid: &'a str,
    wanted: &'a BTreeSet<(&'static str, String)>,
}

macro_rules! child_tables {
    ($($scope:ident $variant:ident($ty:ty) $field:ident $doc:literal;)*) => {
        /// Applies one child, comparing with its cached live object when there is one;
        /// returns what it did and the live object.
        async fn apply_child(
            client: &kube::Client,
            child: &Child,
            cached: Option<Child>,
            verified: &Verified,
            owner: &str,
        ) -> Result<(Outcome, Child), kube::Error> {
            Ok(match (child, cached) {
                $((Child::$variant(o), cached) => {
                    let live = match cached {
                        Some(Child::$variant(live)) => Live::Cached(live, verified, owner),
                        _ => Live::Read,
                    };
                    let api = child_api!($scope, $ty, client, o);
                    let (outcome, live) = apply(api, o, live).await?;
                    (outcome, Child::$variant(live))
                })*
            })
        }

        impl Prune<'_> {
            /// Prunes every namespaced kind; the deleted children go to `changes`.
            async fn all(&self, changes: &mut Vec<String>) -> Result<()> {
                $(if_namespaced!($scope,
                    let cached = self.caches.$field.as_ref();
                    self.kind::<$ty>(stringify!($variant), cached, changes).await?;
                );)*
                Ok(())
            }
        }

        /// Reflector stores of the children and the generated Secrets, filled by the
        /// controller's watches: live children are read from here, not from the API
        /// server. A kind without a store (`None`), or a name missing from one, is read
        /// by a GET.
        #[derive(Clone, Default)]
        pub struct Caches {
            $(#[doc = $doc] pub $field: Option<Store<$ty>>,)*
            /// The generated Secrets.
            pub secrets: Option<Store<Secret>>,
            /// The collector's pods (`collector_pods`), trimmed to node and readiness.
            pub collector_pods: Option<Store<k8s_openapi::api::core::v1::Pod>>,
            /// What the applier verified of the parts the stores do not keep.
            pub verified: Arc<Verified>,
        }

        impl Caches {
            /// The cached `child`, if its kind is cached and the store holds it.
            fn live(&self, child: &Child) -> Option<Child> {
                match child {
                    $(Child::$variant(o) => self
                        .$field
                        .as_ref()?
                        .get(&store_key::<$ty>(&o.metadata))
                        .map(|live| Child::$variant((*live).clone())),)*
                }
            }
        }

        /// Adds to `controller` a watch of every namespaced child kind and of the
        /// generated Secrets (label-selected by `config`), each through a reflector whose
        /// store the returned [`Caches`] hold.
        pub fn watch(
            controller: Controller<MeshLogging>,
            client: &kube::Client,
            namespace: Option<&str>,
            config: &watcher::Config,
        ) -> (Controller<MeshLogging>, Caches) {
            let mut caches = Caches::default();
            $(if_namespaced!($scope,
                let (store, stream) = cached_watch::<$ty>(client, namespace, config);
                caches.$field = Some(store);
                let controller = controller.owns_stream(stream);
            );)*
            $(if_cluster!($scope,
                let (store, stream) = cluster_watch::<$ty>(client, config);
                caches.$field = Some(store);
                let controller = controller.watches_stream(stream, |o: $ty| owner_of(&o.metadata));
            );)*
            let (store, stream) = cached_watch::<Secret>(client, namespace, config);
            caches.secrets = Some(store);
            (controller.owns_stream(stream), caches)
        }
    };
}
child_kinds!(child_tables);

impl Caches {
    /// The StatefulSet `name` in `namespace` as its store holds it (without its pod
    /// template, see [`Trim`]); `None` without a store or when the store lacks it.
    pub fn stateful_set(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<k8s_openapi::api::apps::v1::StatefulSet> {
        let store = self.stateful_sets.as_ref()?;
        let live = store.get(&ObjectRef::new(name).within(namespace))?;
        Some((*live).clone())
    }
}

impl Prune<'_> {
    /// Whether `meta` carries this resource's labels (what the selector selects).
    fn selects(&self, meta: &ObjectMeta) -> bool {
        let labels = meta.labels.as_ref();
        let label = |key: &str| labels.and_then(|l| l.get(key)).map(String::as_str);
        label(labels::INSTANCE) == Some(self.instance)
            && label(labels::MANAGED_BY) == Some(labels::MANAGED_BY_VALUE)
    }

    /// Deletes objects of kind `K` labelled as this resource's and owned by it (uid) that
    /// were not applied this pass (Kibana disabled, Ingress removed, managed -> external).
    async fn kind<K>(
        &self,
        kind: &'static str,
        cached: Option<&Store<K>>,
        changes: &mut Vec<String>,
    ) -> Result<()>
    where
        K: Resource<Scope = NamespaceResourceScope> + Clone + Debug + Serialize + DeserializeOwned,
        K::DynamicType: Default + Eq + std::hash::Hash + Clone,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), self.namespace);
        let metas: Vec<ObjectMeta> = match cached {
            Some(store) => store
                .state()
                .iter()
                .map(|o| o.meta().clone())
                .filter(|m| m.namespace.as_deref() == Some(self.namespace) && self.selects(m))
                .collect(),
            None => api
                .list_metadata(&ListParams::default().labels(&self.selector))
                .await?
                .items
                .into_iter()
                .map(|o| o.metadata)
                .collect(),
        };
        for meta in metas {
            let name = meta.name.clone().unwrap_or_default();
            let owned = meta
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == self.owner_uid);
            // Already being deleted: a second delete could change how (an orphaning
            // delete of the StatefulSet must keep its pods).
            if !owned
                || meta.deletion_timestamp.is_some()
                || self.wanted.contains(&(kind, name.clone()))
            {
                continue;
            }
            match api.delete(&name, &DeleteParams::background()).await {
                Ok(_) => changes.push(format!("deleted {kind}/{name}")),
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
