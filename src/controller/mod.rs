//! The controller: watches MeshLogging resources and their children and reconciles.
//!
//! ```text
//! reconcile = finalizer(apply | cleanup)
//! apply:   validate ─► secrets (sources generated once, derived ones kept consistent)
//!          ─► render ─► apply children (SSA, only what differs, never someone else's
//!          object; prune the rest) ─► Elasticsearch health ─► (yellow/green) sync
//!          ─► status (written only when changed) ─► requeue (Elasticsearch drift cannot
//!          be watched)
//! cleanup: Elasticsearch objects (bounded) ─► ClusterRoleBinding (when it is this
//!          resource's) ─► PVCs (Delete policy)
//! ```
//!
//! Reconciles are triggered by spec changes (generation) and finalizer changes of the
//! MeshLogging, by changes of its children (label-selected watches), and by the periodic
//! requeue; never by the operator's own status writes.

pub mod apply;
pub mod children;
pub mod secrets;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{
    ConfigMap, ObjectReference, PersistentVolumeClaim, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Predicate, WatchStreamExt, predicates, reflector, watcher};
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::{Instrument, info, warn};

use crate::api::{DeletionPolicy, MeshLogging, MeshLoggingStatus, condition};
use crate::elastic::sync::{Passwords, SyncInput, cleanup as es_cleanup};
use crate::elastic::{ClientConfig, Credentials, EsClient, RetryPolicy, desired, sync};
use crate::error::{Error, Result};
use crate::fingerprint::fnv1a64;
use crate::metrics::Metrics;
use crate::reason::Reason;
use crate::render::{RenderContext, labels, names, render};
use crate::status::{self, EsObservation, Observations};
use crate::validate::{Validated, validate};

use crate::render::collector::OWNER_ANNOTATION;
use apply::{FIELD_MANAGER, OWNER_UID_ANNOTATION};

/// The finalizer the operator puts on every MeshLogging.
pub const FINALIZER: &str = "logging.mcp-mesh.io/cleanup";

/// Tunables of the controller.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Requeue of a Ready resource (Elasticsearch drift is only seen by re-checking).
    pub resync_ready: Duration,
    /// Requeue of a resource that is not Ready yet.
    pub resync_pending: Duration,
    /// Upper bound of the Elasticsearch cleanup on deletion.
    pub cleanup_timeout: Duration,
    /// Timeout of one Elasticsearch request.
    pub es_request_timeout: Duration,
    /// Retries of Elasticsearch requests.
    pub es_retry: RetryPolicy,
    /// First delay after a failed reconcile (doubling per failure).
    pub error_backoff: Duration,
    /// Longest delay after failed reconciles.
    pub error_backoff_max: Duration,
    /// ClusterRole the collector is bound to.
    pub collector_cluster_role: String,
    /// Watch only this namespace (all namespaces when `None`).
    pub namespace: Option<String>,
    /// Reconciles running at once (never two on one resource). Bounded, because each
    /// pass holds Elasticsearch listings in memory.
    pub concurrency: u16,
    /// Least time between two Warning events with the same reason for one resource, when
    /// the message changes (an unchanged message adds to the same event's count).
    pub warning_interval: Duration,
    /// A new resource that waited longer than this for its first reconcile gets a Warning
    /// event (`ReconcileDelayed`): the operator is behind.
    pub first_reconcile_warning: Duration,
    /// The administrator's allow-lists (collector images, Ingress annotation keys).
    pub admission: crate::validate::AdmissionPolicy,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            resync_ready: Duration::from_secs(300),
            resync_pending: Duration::from_secs(15),
            cleanup_timeout: Duration::from_secs(60),
            es_request_timeout: Duration::from_secs(10),
            es_retry: RetryPolicy::default(),
            error_backoff: Duration::from_secs(5),
            error_backoff_max: Duration::from_secs(300),
            collector_cluster_role: names::DEFAULT_COLLECTOR_CLUSTER_ROLE.to_string(),
            namespace: None,
            concurrency: 4,
            warning_interval: Duration::from_secs(60),
            first_reconcile_warning: Duration::from_secs(30),
            admission: crate::validate::AdmissionPolicy::default(),
        }
    }
}

/// How the operator reaches Elasticsearch for a resource. Replaceable so tests can point a
/// managed-mode resource at the Elasticsearch stand-in.
pub trait EsEndpoint: Send + Sync + 'static {
    /// The client configuration for `v`, given the operator's login and the CA to trust.
    fn client_config(
        &self,
        v: &Validated,
        admin: Option<Credentials>,
        ca_pem: Option<Vec<u8>>,
    ) -> ClientConfig;
}

/// The real thing: the managed cluster's HTTP Service, or the external URL.
pub struct ServiceEndpoint;

impl EsEndpoint for ServiceEndpoint {
    fn client_config(
        &self,
        v: &Validated,
        admin: Option<Credentials>,
        ca_pem: Option<Vec<u8>>,
    ) -> ClientConfig {
        let mut config = ClientConfig::new(v.es_url());
        config.credentials = admin;
        config.ca_pem = ca_pem;
        config
    }
}

/// An Elasticsearch pass, kept so that reconciles caused by child status changes (a
/// collector rollout, a Kibana restart) do not repeat it.
#[derive(Clone)]
struct LastSync {
    /// Fingerprint of what the pass depended on: the spec's generation, the credentials,
    /// the repositories' Secrets and the Elasticsearch pods' readiness.
    inputs: String,
    at: Instant,
    health: String,
    report: crate::elastic::SyncReport,
}

impl LastSync {
    /// Still good for a reconcile with `inputs` under `settings`: same inputs, within the
    /// resync interval (the pending one after anything but a clean pass).
    fn reusable(&self, inputs: &str, settings: &Settings) -> bool {
        let clean = self.report.aborted.is_none()
            && self.report.kinds.values().all(|k| k.failed.is_empty());
        let interval = if clean {
            settings.resync_ready
        } else {
            settings.resync_pending
        };
        self.inputs == inputs && self.at.elapsed() < interval
    }
}

/// Shared state of the reconciles.
pub struct Context {
    /// Kubernetes client.
    pub client: kube::Client,
    /// Publishes Kubernetes Events.
    pub recorder: Recorder,
    /// Reaches Elasticsearch.
    pub endpoint: Arc<dyn EsEndpoint>,
    /// Tunables.
    pub settings: Settings,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    failures: Mutex<HashMap<ObjectRef<MeshLogging>, u32>>,
    /// When each (resource, reason) last got a Warning event with a new message.
    warned: Mutex<HashMap<(String, String), Instant>>,
    /// The last Elasticsearch pass of each resource (by uid), reused while nothing it
    /// depends on changed and its interval has not passed.
    synced: Mutex<HashMap<String, LastSync>>,
    /// Resources (uid) this process has reconciled at least once.
    seen: Mutex<std::collections::HashSet<String>>,
    realms: secrets::VerifiedRealms,
}

impl Context {
    /// A context with `settings`, reaching Elasticsearch through `endpoint`.
    pub fn new(
        client: kube::Client,
        settings: Settings,
        endpoint: Arc<dyn EsEndpoint>,
        metrics: Arc<Metrics>,
        instance: Option<String>,
    ) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.to_string(),
            instance,
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            endpoint,
            settings,
            metrics,
            failures: Mutex::default(),
            warned: Mutex::default(),
            synced: Mutex::default(),
            seen: Mutex::default(),
            realms: secrets::VerifiedRealms::default(),
        }
    }

    fn client_config(
        &self,
        v: &Validated,
        admin: Option<Credentials>,
        ca: Option<Vec<u8>>,
    ) -> ClientConfig {
        let mut config = self.endpoint.client_config(v, admin, ca);
        config.request_timeout = self.settings.es_request_timeout;
        config.retry = self.settings.es_retry;
        config
    }

    fn es_client(&self, config: ClientConfig) -> Result<EsClient> {
        let metrics = self.metrics.clone();
        Ok(EsClient::new(config)?
            .with_observer(Arc::new(move |api, status| metrics.es_request(api, status))))
    }

    async fn publish(
        &self,
        reference: &ObjectReference,
        type_: EventType,
        reason: &str,
        note: String,
    ) {
        let note = truncate(note, 1000);
        // The recorder adds an event with the same type, reason and action to the earlier
        // one's count, keeping the earlier note: a Warning whose message changed gets an
        // action of its own, so users see the new message, at most once per interval.
        let action = match type_ {
            EventType::Warning => {
                let key = (
                    format!(
                        "{}/{}",
                        reference.namespace.as_deref().unwrap_or_default(),
                        reference.name.as_deref().unwrap_or_default()
                    ),
                    reason.to_string(),
                );
                let now = Instant::now();
                let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
                if warned
                    .get(&key)
                    .is_some_and(|t| now.duration_since(*t) < self.settings.warning_interval)
                {
                    info!(reason, "Warning event suppressed (rate limit); see status");
                    return;
                }
                warned.insert(key, now);
                format!("Reconcile-{:08x}", fnv1a64(note.as_bytes()) as u32)
            }
            EventType::Normal => "Reconcile".to_string(),
        };
        let event = Event {
            type_,
            reason: reason.to_string(),
            note: Some(note),
            action,
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, reference).await {
            warn!(error = %e, "cannot publish event");
        }
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// Runs the controller until `shutdown` completes.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let ns = ctx.settings.namespace.clone();
    let main: Api<MeshLogging> = match &ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let children = watcher::Config::default().labels(&format!(
        "{}={}",
        labels::MANAGED_BY,
        labels::MANAGED_BY_VALUE
    ));
    let (reader, writer) = reflector::store();
    let resources = watcher(main, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(
            predicates::generation.combine(predicates::finalizers),
            Default::default(),
        );

    macro_rules! owned_api {
        ($k:ty) => {
            match &ns {
                Some(ns) => Api::<$k>::namespaced(client.clone(), ns),
                None => Api::<$k>::all(client.clone()),
            }
        };
    }
    Controller::for_stream(resources, reader)
        .with_config(kube::runtime::Config::default().concurrency(ctx.settings.concurrency))
        .owns(owned_api!(StatefulSet), children.clone())
        .owns(owned_api!(Deployment), children.clone())
        .owns(owned_api!(DaemonSet), children.clone())
        .owns(owned_api!(Service), children.clone())
        .owns(owned_api!(ConfigMap), children.clone())
        .owns(owned_api!(Secret), children.clone())
        .owns(owned_api!(PodDisruptionBudget), children.clone())
        .owns(owned_api!(ServiceAccount), children.clone())
        .owns(owned_api!(Ingress), children)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile stream");
            }
        })
        .await;
}

/// One reconcile: the finalizer dispatches to [`apply`] or [`cleanup`].
pub async fn reconcile(ml: Arc<MeshLogging>, ctx: Arc<Context>) -> Result<Action> {
    let ns = ml.namespace().unwrap_or_default();
    let name = ml.name_any();
    let span = tracing::info_span!("reconcile", namespace = %ns, name = %name);
    async {
        let _timer = ctx.metrics.reconcile_timer();
        first_reconcile(&ml, &ctx).await;
        let api: Api<MeshLogging> = Api::namespaced(ctx.client.clone(), &ns);
        let result = finalizer(&api, FINALIZER, ml.clone(), |event| async {
            match event {
                Finalizer::Apply(ml) => apply(ml, &ctx).await,
                Finalizer::Cleanup(ml) => cleanup(ml, &ctx).await,
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)));
        match &result {
            Ok(_) => {
                ctx.metrics.reconciled("success");
                if let Ok(mut f) = ctx.failures.lock() {
                    f.remove(&ObjectRef::from_obj(&*ml));
                }
            }
            Err(_) => ctx.metrics.reconciled("error"),
        }
        result
    }
    .instrument(span)
    .await
}

/// The first reconcile of a resource that has no status yet (it is new): how long it waited
/// since its creation, as a metric, and a Warning when that is too long.
async fn first_reconcile(ml: &MeshLogging, ctx: &Context) {
    // A resource being deleted is forgotten by cleanup: never remembered again.
    if ml.metadata.deletion_timestamp.is_some() {
        return;
    }
    let uid = ml.uid().unwrap_or_default();
    let first = ctx
        .seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(uid);
    if !first || ml.status.is_some() {
        return;
    }
    let Some(created) = &ml.metadata.creation_timestamp else {
        return;
    };
    let waited = k8s_openapi::jiff::Timestamp::now().duration_since(created.0);
    let seconds = waited.as_secs_f64().max(0.0);
    ctx.metrics.first_reconcile_wait(seconds);
    if seconds > ctx.settings.first_reconcile_warning.as_secs_f64() {
        warn!(seconds, "resource waited long for its first reconcile");
        ctx.publish(
            &ml.object_ref(&()),
            EventType::Warning,
            Reason::ReconcileDelayed.as_str(),
            format!(
                "the operator started on this resource {seconds:.0}s after it was created (at most {} reconciles run at once); see meshlogging_reconciles_in_flight",
                ctx.settings.concurrency
            ),
        )
        .await;
    }
}

/// After a failed reconcile: capped exponential backoff with jitter, per resource.
pub fn error_policy(ml: Arc<MeshLogging>, error: &Error, ctx: Arc<Context>) -> Action {
    let attempts = ctx
        .failures
        .lock()
        .map(|mut f| {
            let n = f.entry(ObjectRef::from_obj(&*ml)).or_insert(0);
            *n += 1;
            *n
        })
        .unwrap_or(1);
    let s = &ctx.settings;
    let exp = s
        .error_backoff
        .saturating_mul(1u32 << (attempts - 1).min(16));
    let capped = exp.min(s.error_backoff_max);
    let delay = capped.mul_f64(0.5 + rand::random::<f64>() / 2.0);
    warn!(
        namespace = %ml.namespace().unwrap_or_default(),
        name = %ml.name_any(),
        category = %error.category(),
        error = %error,
        attempts,
        ?delay,
        "reconcile failed"
    );
    Action::requeue(delay)
}

async fn apply(ml: Arc<MeshLogging>, ctx: &Context) -> Result<Action> {
    let client = &ctx.client;
    let ns = ml.namespace().unwrap_or_default();
    let name = ml.name_any();
    let api: Api<MeshLogging> = Api::namespaced(client.clone(), &ns);
    let reference = ml.object_ref(&());
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let previous = ml.status.clone();
    let generation = ml.metadata.generation;

    let v = match crate::validate::validate_with(&ml, &ctx.settings.admission) {
        Ok(v) => v,
        Err(errors) => {
            let obs = Observations {
                generation,
                invalid: Some(errors.to_string()),
                ..Default::default()
            };
            let status = status::compute(previous.as_ref(), &obs, &now);
            ctx.metrics.observe_status(&ns, &name, &status);
            if status::changed(previous.as_ref(), &status) {
                ctx.publish(
                    &reference,
                    EventType::Warning,
                    Reason::InvalidSpec.as_str(),
                    errors.to_string(),
                )
                .await;
                write_status(&api, &name, &status).await?;
            }
            return Ok(Action::await_change());
        }
    };
    let owner = labels::owner_reference(&v);

    // Credentials: generated once, or read from the Secrets the spec names.
    let mut es = EsObservation {
        endpoint: Some(v.es_url()),
        ..Default::default()
    };
    let secrets = match secrets::ensure(client, &v, &owner, &ctx.realms).await {
        Ok(s) => Some(s),
        Err(Error::CredentialsMissing(why)) => {
            es.unavailable = Some((Reason::CredentialsMissing, why));
            None
        }
        Err(e) => return Err(e),
    };
    let repositories = v.spec.snapshots.clone().unwrap_or_default().repositories;
    let missing_credentials =
        secrets::missing_repository_credentials(client, &ns, &repositories).await?;

    // Workloads.
    let render_ctx = RenderContext {
        es_bootstrapped: previous
            .as_ref()
            .and_then(|s| s.elasticsearch.as_ref())
            .is_some_and(|e| e.version.is_some()),
        collector_cluster_role: ctx.settings.collector_cluster_role.clone(),
        es_endpoint: v.es_url(),
        annotations: Default::default(),
    };
    let mut rendered = render(&v, &render_ctx);
    if let Some(s) = &secrets {
        children::annotate(&mut rendered, &v, &s.fingerprints);
    }
    let applied = children::apply_all(client, &v, &rendered).await?;
    if !applied.changes.is_empty() {
        info!(changes = ?applied.changes, "applied children");
        ctx.publish(
            &reference,
            EventType::Normal,
            Reason::Applied.as_str(),
            applied.changes.join(", "),
        )
        .await;
    }
    es.nodes = applied.workloads.elasticsearch;
    let mut conflicts = applied.conflicts;
    conflicts.extend(secrets.iter().flat_map(|s| s.conflicts.iter().cloned()));
    if !conflicts.is_empty() {
        warn!(objects = ?conflicts, "not taking over objects this resource does not own");
    }

    // Elasticsearch: health, then (yellow or green) the configuration. Only on a change
    // it depends on, or when its interval is up: a child's status change (a DaemonSet
    // rollout) is no reason to talk to Elasticsearch again.
    let mut report = None;
    let uid = ml.uid().unwrap_or_default();
    let inputs = crate::fingerprint::of_parts([
        generation.unwrap_or_default().to_string().as_str(),
        &format!("{:?}", secrets.as_ref().map(|s| &s.fingerprints)),
        &format!("{missing_credentials:?}"),
        &format!("{:?}", es.nodes),
    ]);
    let cached = ctx
        .synced
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&uid)
        .filter(|last| last.reusable(&inputs, &ctx.settings))
        .cloned();
    if let Some(last) = cached {
        es.health = Some(last.health);
        es.version = last.report.version.map(|v| v.to_string());
        report = Some(last.report);
    } else if let Some(secrets) = &secrets {
        let config = ctx.client_config(&v, secrets.admin.clone(), secrets.es_ca_pem.clone());
        match ctx.es_client(config) {
            Err(e) => es.unavailable = Some((e.category(), e.to_string())),
            Ok(es_client) => match es_client.health().await {
                Err(e) => es.unavailable = Some((e.category(), e.to_string())),
                Ok(health) => {
                    let healthy = health != "red";
                    es.health = Some(health);
                    if healthy {
                        let wanted = desired(&v.spec, &v.owner());
                        let passwords = Passwords {
                            collector: secrets.collector_password.clone(),
                            kibana: secrets.kibana_password.clone(),
                        };
                        let previously = previous
                            .as_ref()
                            .and_then(|s| s.applied.clone())
                            .unwrap_or_default();
                        let r = sync(
                            &es_client,
                            &wanted,
                            SyncInput {
                                passwords: &passwords,
                                previously_applied: &previously,
                                missing_credentials: &missing_credentials,
                            },
                        )
                        .await;
                        es.version = r.version.map(|v| v.to_string());
                        if let Some(a) = &r.aborted {
                            es.unavailable = Some((a.reason, a.message.clone()));
                        }
                        report_sync(ctx, &reference, &r).await;
                        ctx.synced.lock().unwrap_or_else(|e| e.into_inner()).insert(
                            uid.clone(),
                            LastSync {
                                inputs: inputs.clone(),
                                at: Instant::now(),
                                health: es.health.clone().unwrap_or_default(),
                                report: r.clone(),
                            },
                        );
                        report = Some(r);
                    }
                }
            },
        }
    }

    // Status, written only when it changed.
    let obs = Observations {
        generation,
        invalid: None,
        rejected: applied.rejected,
        conflicts,
        elasticsearch: es,
        kibana: applied.workloads.kibana,
        collector: applied.workloads.collector,
        sync: report,
        missing_credentials: missing_credentials.into_iter().collect(),
        snapshots_wanted: v
            .spec
            .snapshots
            .as_ref()
            .is_some_and(|s| !s.repositories.is_empty() || !s.policies.is_empty()),
        alias: v.spec.index.name.clone(),
    };
    let status = status::compute(previous.as_ref(), &obs, &now);
    ctx.metrics.observe_status(&ns, &name, &status);
    if status::changed(previous.as_ref(), &status) {
        announce_transitions(ctx, &reference, previous.as_ref(), &status).await;
        write_status(&api, &name, &status).await?;
    }
    let ready = status
        .conditions
        .iter()
        .any(|c| c.type_ == condition::READY && c.status == "True");
    Ok(Action::requeue(if ready {
        ctx.settings.resync_ready
    } else {
        ctx.settings.resync_pending
    }))
}

/// Events for what the sync changed (the failures are announced with the conditions).
async fn report_sync(
    ctx: &Context,
    reference: &ObjectReference,
    report: &crate::elastic::SyncReport,
) {
    let mut changes = Vec::new();
    for (kind, r) in &report.kinds {
        for (verb, names) in [
            ("created", &r.created),
            ("updated", &r.updated),
            ("deleted", &r.deleted),
        ] {
            for n in names {
                changes.push(format!("{verb} {kind} {n}"));
            }
        }
        for f in &r.failed {
            ctx.metrics.sync_failure(kind.as_str(), f.reason);
        }
    }
    if !changes.is_empty() {
        info!(changes = ?changes, "configured Elasticsearch");
        ctx.publish(
            reference,
            EventType::Normal,
            Reason::ElasticsearchConfigured.as_str(),
            changes.join(", "),
        )
        .await;
    }
}

/// Events for conditions that turned False (Warning, with the reason) and for becoming
/// Ready (Normal).
async fn announce_transitions(
    ctx: &Context,
    reference: &ObjectReference,
    previous: Option<&MeshLoggingStatus>,
    status: &MeshLoggingStatus,
) {
    for c in &status.conditions {
        let before = previous.and_then(|p| p.conditions.iter().find(|o| o.type_ == c.type_));
        let same = before.is_some_and(|b| {
            b.status == c.status && b.reason == c.reason && b.message == c.message
        });
        if same {
            continue;
        }
        if c.status == "False"
            && c.type_ != condition::READY
            && c.reason != Reason::WaitingForElasticsearch.as_str()
            && c.reason != Reason::Progressing.as_str()
        {
            ctx.publish(
                reference,
                EventType::Warning,
                &c.reason,
                format!("{}: {}", c.type_, c.message),
            )
            .await;
        }
        if c.type_ == condition::READY
            && c.status == "True"
            && before.is_none_or(|b| b.status != "True")
        {
            ctx.publish(
                reference,
                EventType::Normal,
                Reason::Ready.as_str(),
                c.message.clone(),
            )
            .await;
        }
    }
}

/// Writes the status by server-side apply (fields the operator no longer reports are
/// removed; the spec is never written).
async fn write_status(
    api: &Api<MeshLogging>,
    name: &str,
    status: &MeshLoggingStatus,
) -> Result<()> {
    let body = json!({
        "apiVersion": MeshLogging::api_version(&()),
        "kind": MeshLogging::kind(&()),
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(())
}

/// Whether a collector ClusterRoleBinding is this resource's: its uid annotation names it.
/// A binding of the legacy name predates that annotation: its `<namespace>/<name>`
/// annotation must name this resource (and a uid annotation, if any, must agree).
fn binding_is_ours(binding: &ClusterRoleBinding, uid: &str, owner: &str, legacy: bool) -> bool {
    let annotation = |key: &str| {
        binding
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map(String::as_str)
    };
    let by_uid = annotation(OWNER_UID_ANNOTATION);
    if legacy {
        annotation(OWNER_ANNOTATION) == Some(owner) && by_uid.is_none_or(|u| u == uid)
    } else {
        !uid.is_empty() && by_uid == Some(uid)
    }
}

/// Deletion: the Elasticsearch objects this resource owns (bounded in time), the
/// cluster-scoped ClusterRoleBinding, and the PVCs when `deletionPolicy: Delete`.
async fn cleanup(ml: Arc<MeshLogging>, ctx: &Context) -> Result<Action> {
    let client = &ctx.client;
    let ns = ml.namespace().unwrap_or_default();
    let name = ml.name_any();
    let reference = ml.object_ref(&());
    let delete_data = ml.spec.deletion_policy == DeletionPolicy::Delete;
    let uid = ml.uid().unwrap_or_default();
    ctx.synced
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&uid);
    ctx.seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&uid);

    match validate(&ml) {
        Ok(v) => {
            let bound = ctx.settings.cleanup_timeout;
            let previously = ml
                .status
                .as_ref()
                .and_then(|s| s.applied.clone())
                .unwrap_or_default();
            let outcome = tokio::time::timeout(bound, async {
                let Some((admin, ca)) = secrets::admin(client, &v).await? else {
                    return Ok::<_, Error>(Err("its credentials are gone".to_string()));
                };
                let es = ctx.es_client(ctx.client_config(&v, Some(admin), ca))?;
                let report = es_cleanup(
                    &es,
                    &v.owner(),
                    &v.spec.index.name,
                    &previously,
                    delete_data,
                )
                .await;
                Ok(match report.aborted {
                    Some(a) => Err(a.message),
                    None => Ok(report),
                })
            })
            .await;
            match outcome {
                Ok(Ok(Ok(report))) => {
                    let deleted: usize = report.kinds.values().map(|r| r.deleted.len()).sum();
                    let kept: Vec<String> = report
                        .kinds
                        .values()
                        .flat_map(|r| r.retained.iter().map(|(n, why)| format!("{n} ({why})")))
                        .collect();
                    let mut note = format!("deleted {deleted} Elasticsearch objects");
                    if !kept.is_empty() {
                        note.push_str(&format!("; kept {}", kept.join(", ")));
                    }
                    if !report.unsupported.is_empty() {
                        let kinds: Vec<&str> =
                            report.unsupported.keys().map(|k| k.as_str()).collect();
                        note.push_str(&format!(
                            "; this cluster does not serve: {}",
                            kinds.join(", ")
                        ));
                    }
                    ctx.publish(
                        &reference,
                        EventType::Normal,
                        Reason::ElasticsearchCleanedUp.as_str(),
                        note,
                    )
                    .await;
                }
                Ok(Ok(Err(why))) => {
                    ctx.publish(
                        &reference,
                        EventType::Warning,
                        Reason::CleanupIncomplete.as_str(),
                        format!("Elasticsearch objects were not removed: {why}"),
                    )
                    .await;
                }
                Ok(Err(e)) => {
                    ctx.publish(
                        &reference,
                        EventType::Warning,
                        Reason::CleanupIncomplete.as_str(),
                        format!("Elasticsearch objects were not removed: {e}"),
                    )
                    .await;
                }
                Err(_) => {
                    ctx.publish(
                        &reference,
                        EventType::Warning,
                        Reason::CleanupIncomplete.as_str(),
                        format!("Elasticsearch did not answer within {bound:?}; its objects were left in place"),
                    )
                    .await;
                }
            }
        }
        Err(e) => {
            ctx.publish(
                &reference,
                EventType::Warning,
                Reason::CleanupIncomplete.as_str(),
                format!("invalid spec, Elasticsearch objects were not removed: {e}"),
            )
            .await;
        }
    }

    // Cluster-scoped children: a namespaced owner cannot own them. The binding is deleted
    // only when its annotations say it is this resource's (uid), and the delete is
    // conditional on the object read; the binding of the name used before the name became
    // unambiguous only when its owner annotation names this resource.
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    let uid = ml.uid().unwrap_or_default();
    let owner = format!("{ns}/{name}");
    for (binding, legacy) in [
        (names::collector_cluster_role_binding(&name, &ns), false),
        (
            names::legacy_collector_cluster_role_binding(&name, &ns),
            true,
        ),
    ] {
        let Some(existing) = bindings.get_opt(&binding).await? else {
            continue;
        };
        if !binding_is_ours(&existing, &uid, &owner, legacy) {
            info!(
                binding,
                "ClusterRoleBinding is not this resource's; left in place"
            );
            continue;
        }
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: existing.metadata.uid.clone(),
                resource_version: existing.metadata.resource_version.clone(),
            }),
            ..DeleteParams::default()
        };
        match bindings.delete(&binding, &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }

    if delete_data {
        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
        let selector = format!(
            "{}={},{}={}",
            labels::INSTANCE,
            name,
            labels::NAME,
            labels::App::Elasticsearch.name()
        );
        let list = pvcs
            .list_metadata(&ListParams::default().labels(&selector))
            .await?;
        let mut deleted = Vec::new();
        for pvc in list.items {
            let pvc_name = pvc.metadata.name.unwrap_or_default();
            match pvcs.delete(&pvc_name, &DeleteParams::default()).await {
                Ok(_) => deleted.push(pvc_name),
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        if !deleted.is_empty() {
            ctx.publish(
                &reference,
                EventType::Normal,
                Reason::DataDeleted.as_str(),
                format!(
                    "deletionPolicy Delete: deleted PersistentVolumeClaims {}",
                    deleted.join(", ")
                ),
            )
            .await;
        }
    }
    ctx.metrics.forget(&ns, &name);
    ctx.realms.forget(&format!("{ns}/{name}"));
    info!("cleaned up");
    Ok(Action::await_change())
}
