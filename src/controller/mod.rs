//! The controller: watches MeshLogging resources and their children and reconciles.
//!
//! ```text
//! reconcile = finalizer(apply | cleanup)
//! apply:   validate ─► dereference (Secrets: generated once, derived ones kept consistent;
//!          referenced credentials) ─► render ─► apply children (SSA, only what differs,
//!          never someone else's object; prune the rest) ─► Elasticsearch (health, then
//!          yellow/green: a scale-down or rolling restart step, sync, then Kibana's saved
//!          objects) ─► finish (status written only
//!          when changed, events for transitions) ─► requeue (drift cannot be watched)
//! cleanup: Kibana saved objects (bounded) ─► Elasticsearch objects (bounded) ─►
//!          ClusterRoleBinding (when it is this resource's) ─► PVCs (Delete policy)
//! ```
//!
//! Each step is a function of its own module with a typed input and output; [`apply`] only
//! wires them. Reconciles are triggered by spec changes (generation) and finalizer changes
//! of the MeshLogging, by changes of its children (label-selected watches) and of its
//! collector pods (their nodes and readiness, for `LogsFlowing`), and by the
//! periodic requeue; never by the operator's own status writes.

pub mod apply;
pub mod children;
mod cleanup;
pub mod collector_pods;
mod context;
mod dashboards;
mod dereference;
mod elasticsearch;
mod finish;
mod reload;
mod rolling;
mod scale;
pub mod secrets;
mod volumes;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Predicate, WatchStreamExt, predicates, reflector, watcher};
use kube::{Resource, ResourceExt};
use tracing::{Instrument, warn};

use crate::api::MeshLogging;
use crate::elastic::{ClientConfig, Credentials, RetryPolicy};
use crate::error::{Error, Result};
use crate::naming as names;
use crate::reason::Reason;
use crate::render::{labels, render};
use crate::validate::Validated;

pub use context::Context;
use finish::{Pass, finish};

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
    /// Reconciles running at once (never two on one resource). They never wait for
    /// Elasticsearch: its passes run apart, [`Self::es_concurrency`] at once.
    pub concurrency: u16,
    /// Elasticsearch passes running at once (each holds Elasticsearch listings in memory).
    pub es_concurrency: u16,
    /// First delay before probing again a cluster that did not answer (doubling per
    /// failure, with jitter); a change it depends on (a node becoming Ready) probes at once.
    pub es_probe_backoff: Duration,
    /// Longest delay between probes of a cluster that does not answer.
    pub es_probe_backoff_max: Duration,
    /// Least time between two Warning events with the same reason for one resource, when
    /// the message changes (an unchanged message adds to the same event's count).
    pub warning_interval: Duration,
    /// A new resource that waited longer than this for its first reconcile gets a Warning
    /// event (`ReconcileDelayed`): the operator is behind.
    pub first_reconcile_warning: Duration,
    /// The administrator's allow-lists (collector images, Ingress annotation keys).
    pub admission: crate::validate::AdmissionPolicy,
    /// How often a snapshot repository is verified (`POST _snapshot/<repo>/_verify`)
    /// when nothing changed; also after every change and after a failed verification.
    pub repository_verification_interval: Duration,
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
            es_concurrency: 8,
            es_probe_backoff: Duration::from_secs(2),
            es_probe_backoff_max: Duration::from_secs(120),
            warning_interval: Duration::from_secs(60),
            first_reconcile_warning: Duration::from_secs(30),
            admission: crate::validate::AdmissionPolicy::default(),
            repository_verification_interval: Duration::from_secs(24 * 3600),
        }
    }
}

/// How the operator reaches Elasticsearch (and Kibana, for the dashboards) for a resource.
/// Replaceable so tests can point a managed-mode resource at the Elasticsearch stand-in and
/// the Kibana stand-in.
pub trait EsEndpoint: Send + Sync + 'static {
    /// The client configuration for `v`, given the operator's login and the CA to trust.
    fn client_config(
        &self,
        v: &Validated,
        admin: Option<Credentials>,
        ca_pem: Option<Vec<u8>>,
    ) -> ClientConfig;

    /// The client configuration of `v`'s Kibana, signing in as `user` (the operator's own
    /// Kibana user); `None` when this operator has no way to reach a Kibana (the
    /// dashboards are then not loaded and `DashboardsReady` says so). By default Kibana's
    /// Service, `http://<n>-kibana.<ns>.svc:5601`.
    fn kibana_config(&self, v: &Validated, user: Option<Credentials>) -> Option<ClientConfig> {
        let mut config = ClientConfig::new(names::kibana_url(&v.name, &v.namespace));
        config.credentials = user;
        Some(config)
    }
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

/// Runs the controller until `shutdown` completes.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let ns = ctx.settings.namespace.clone();
    let scoped = |client: kube::Client| match &ns {
        Some(ns) => Api::<MeshLogging>::namespaced(client, ns),
        None => Api::all(client),
    };
    let (reader, writer) = reflector::store();
    // The store keeps the resources without managedFields (never read; about as large as
    // the rest of a resource).
    let resources = watcher(scoped(client.clone()), watcher::Config::default())
        .default_backoff()
        .modify(|ml| ml.metadata.managed_fields = None)
        .reflect(writer)
        .applied_objects()
        .predicate_filter(
            predicates::generation
                .combine(predicates::finalizers)
                .combine(secrets::rotate::annotations_predicate),
            Default::default(),
        );
    let children = watcher::Config::default().labels(&format!(
        "{}={}",
        labels::MANAGED_BY,
        labels::MANAGED_BY_VALUE
    ));
    let controller = Controller::for_stream(resources, reader)
        .with_config(kube::runtime::Config::default().concurrency(ctx.settings.concurrency));
    // Every namespaced child kind, and the generated Secrets, through the caches the
    // reconciles read them from.
    let (controller, mut caches) = children::watch(controller, &client, ns.as_deref(), &children);
    // The collector's pods: which nodes should be sending logs.
    let (pods, pod_changes) = collector_pods::watch(&client, ns.as_deref());
    caches.collector_pods = Some(pods);
    let controller = controller.watches_stream(pod_changes, |pod| collector_pods::owner(&pod));
    ctx.set_caches(caches);
    // A finished Elasticsearch pass is shown by a reconcile of its resource.
    let finished = ctx
        .es_finished
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let controller = match finished {
        Some(rx) => controller.reconcile_on(futures::stream::unfold(rx, |mut rx| async {
            rx.recv().await.map(|resource| (resource, rx))
        })),
        None => controller,
    };
    controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile stream");
            }
        })
        .await;
}

/// One reconcile: the finalizer dispatches to [`apply`] or [`cleanup::cleanup`].
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
                Finalizer::Cleanup(ml) => cleanup::cleanup(ml, &ctx).await,
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)));
        match &result {
            Ok(_) => {
                ctx.metrics.reconciled("success");
                ctx.forget_failures(&ObjectRef::from_obj(&*ml));
            }
            Err(_) => ctx.metrics.reconciled("error"),
        }
        result
    }
    .instrument(span)
    .await
}

/// The steps of a reconcile of a resource that is not being deleted.
async fn apply(ml: Arc<MeshLogging>, ctx: &Arc<Context>) -> Result<Action> {
    let pass = Pass::new(&ml);
    let v = match crate::validate::validate_with(&ml, &ctx.settings.admission) {
        Ok(v) => v,
        Err(errors) => {
            finish(ctx, &pass, &finish::invalid(pass.generation, errors)).await?;
            return Ok(Action::await_change());
        }
    };
    let rotation = secrets::Rotation::of(&ml);
    let refs = dereference::dereference(ctx, &v, &rotation).await?;
    let mut rendered = render(&v, &pass.render_context(ctx, &v, &refs));
    let expansion = volumes::expand(ctx, &pass, &v, &mut rendered).await?;
    let known = ctx.es.known(&pass.uid).and_then(|k| k.scale);
    let (scaling, refused) = scale::hold(ctx, &v, &mut rendered, known.as_ref());
    let applied = children::apply_children(ctx, &pass, &v, &rendered, &refs).await?;
    let roll = rolling::plan(ctx, &v).await;
    let es = elasticsearch::observe_and_sync(ctx, &pass, &v, &refs, &applied, &scaling, &roll);
    let scaling = es.scale.as_ref().map(scale::ScaleState::operation);
    let restarting = es.rolling.as_ref().map(rolling::RollState::operation);
    let reloading = es.reload.as_ref().and_then(reload::ReloadState::operation);
    let mut observed = finish::observations(&pass, &v, refs, applied, es);
    observed.collector_nodes = collector_pods::ready_nodes_in(
        ctx.caches().collector_pods.as_ref(),
        &pass.namespace,
        &pass.name,
    );
    observed.operations.extend(expansion);
    observed.operations.extend(refused);
    observed.operations.extend(scaling);
    observed.operations.extend(restarting);
    observed.operations.extend(reloading);
    observed.operations.extend(
        rotation
            .invalid
            .iter()
            .map(|why| crate::status::Operation::refused(Reason::RotationRefused, why.clone())),
    );
    finish(ctx, &pass, &observed).await?;
    Ok(Action::requeue(finish::requeue(&ctx.settings, &observed)))
}

/// The first reconcile of a resource that has no status yet (it is new): how long it waited
/// since its creation, as a metric, and a Warning when that is too long.
async fn first_reconcile(ml: &MeshLogging, ctx: &Context) {
    // A resource being deleted is forgotten by cleanup: never remembered again.
    if ml.metadata.deletion_timestamp.is_some() {
        return;
    }
    if !ctx.first_sight(&ml.uid().unwrap_or_default()) || ml.status.is_some() {
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
            Reason::ReconcileDelayed,
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
    let attempts = ctx.count_failure(ObjectRef::from_obj(&*ml));
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
