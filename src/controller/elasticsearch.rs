//! Step 5 of a pass: Elasticsearch, observed and configured — apart from the pass itself.
//!
//! ```text
//! reconcile ──plan──► known result (shown at once) ─► finish
//!              └─(due)─► EsQueue: bounded workers ─► health ─► (yellow/green) sync ─► logs, ILM, disk read
//!                          │                        ─► SLM read, repositories verified (when due), ILM retry (opt-in)
//!                          │                        └─► Kibana: dashboards
//!                          └─ result kept; a reconcile triggered to show it
//! ```
//!
//! A reconcile never waits for Elasticsearch: it shows the last known result and, when a
//! new pass is due, hands it to the queue, whose own bounded workers run it and then
//! trigger a reconcile of the resource. A pass is due when what it depends on changed (the
//! spec's generation, the credentials, the repositories' Secrets, the Elasticsearch pods'
//! readiness: a node becoming Ready probes at once; while no managed node is Ready there
//! is nothing to probe) or when its interval is up: the resync
//! interval after a clean pass, the pending one after failures, and for a cluster that did
//! not answer a per-resource exponential backoff. Kibana being ready is an input too (when
//! the pass loads dashboards), and a Kibana that did not answer is retried with a backoff
//! of its own (the pass's Elasticsearch reads come with it).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::Semaphore;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tracing::{debug, info};

use super::children::Applied;
use super::dashboards::{self, DashboardsInput};
use super::dereference::Dereferenced;
use super::finish::Pass;
use super::reload::{self, ReloadInput, ReloadState};
use super::rolling::{self, RollPlan, RollState};
use super::scale::{self, ScaleInput, ScaleState};
use super::secrets::StackSecrets;
use super::{Context, Settings};
use crate::api::{AppliedStatus, MeshLogging};
use crate::elastic::pipeline::{self, IlmError, LogFlow};
use crate::elastic::snapshots::{self, RepositoryVerification, SnapshotHealth};
use crate::elastic::sync::{Passwords, SyncInput};
use crate::elastic::{Credentials, EsClient, Kind, SyncReport, desired, sync};
use crate::reason::Reason;
use crate::status::{DashboardsObservation, EsObservation};
use crate::validate::Validated;

/// What a pass saw and did.
#[derive(Clone, Debug, Default)]
pub struct EsPass {
    /// Health, version, why it is unavailable.
    pub observation: EsObservation,
    /// The sync's report, when it ran.
    pub report: Option<SyncReport>,
    /// The Kibana step, when it ran (after a sync that was not aborted).
    pub dashboards: Option<DashboardsObservation>,
    /// Where a scale-down is (managed mode), when one runs or refused.
    pub scale: Option<ScaleState>,
    /// Where a rolling restart is (managed mode), when one runs.
    pub rolling: Option<RollState>,
    /// Where the reload of changed secure settings is (managed mode), when one was sent
    /// or is known.
    pub reload: Option<ReloadState>,
}

impl EsPass {
    /// Elasticsearch did not answer (or could not be asked): `reason`, `message`.
    fn unavailable(reason: Reason, message: String) -> Self {
        let mut pass = Self::default();
        pass.observation.unavailable = Some((reason, message));
        pass
    }

    /// Both passes did not get as far as the sync, and for the same reason: showing the
    /// second changes nothing (so it needs no reconcile, and writes nothing).
    fn same_failure(&self, other: &EsPass) -> bool {
        self.report.is_none()
            && other.report.is_none()
            && self.dashboards.is_none()
            && other.dashboards.is_none()
            && self.scale == other.scale
            && self.rolling == other.rolling
            && self.reload == other.reload
            && self.observation == other.observation
    }

    /// A clean pass: it answered, is not red, every object synced, and so did Kibana's.
    fn clean(&self) -> bool {
        self.es_clean() && self.dashboards.as_ref().is_none_or(|d| !d.failed())
    }

    /// Elasticsearch's part of the pass is clean.
    fn es_clean(&self) -> bool {
        let o = &self.observation;
        o.unavailable.is_none()
            && self.scale.is_none()
            && self.rolling.is_none()
            && !self.reload.as_ref().is_some_and(ReloadState::pending)
            && o.health.as_deref().is_some_and(|h| h != "red")
            && self.report.as_ref().is_some_and(|r| {
                r.aborted.is_none() && r.kinds.values().all(|k| k.failed.is_empty())
            })
    }
}

/// The last finished pass of a resource.
#[derive(Clone)]
struct LastSync {
    /// Fingerprint of what the pass depended on.
    inputs: String,
    /// When the next pass with the same inputs is due.
    due: Instant,
    result: EsPass,
}

/// What the queue knows of one resource.
#[derive(Default)]
struct EsState {
    last: Option<LastSync>,
    /// A pass is queued or running.
    running: bool,
    /// Passes in a row in which Elasticsearch did not answer.
    failures: u32,
    /// Passes in a row in which Kibana did not answer.
    kibana_failures: u32,
    /// Passes in a row in which a reload of the secure settings was not done yet.
    reload_waits: u32,
}

/// The Elasticsearch passes of every resource: queued apart from the reconciles, run by
/// their own bounded number of workers.
pub struct EsQueue {
    permits: Arc<Semaphore>,
    state: Mutex<HashMap<String, EsState>>,
    trigger: UnboundedSender<ObjectRef<MeshLogging>>,
    /// Per resource (uid), per repository: the fingerprint of its definition when last
    /// verified, and that verification.
    verified: Mutex<HashMap<String, Verified>>,
}

/// Per repository: the fingerprint of its definition when last verified, and that
/// verification.
type Verified = BTreeMap<String, (String, RepositoryVerification)>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl EsQueue {
    /// A queue running at most `concurrency` passes at once; the receiver yields the
    /// resources whose pass finished (to be reconciled).
    pub fn new(concurrency: u16) -> (Self, UnboundedReceiver<ObjectRef<MeshLogging>>) {
        let (trigger, triggered) = unbounded_channel();
        let queue = Self {
            permits: Arc::new(Semaphore::new(usize::from(concurrency.max(1)))),
            state: Mutex::default(),
            trigger,
            verified: Mutex::default(),
        };
        (queue, triggered)
    }

    /// The last known result of `uid`, and whether a new pass must start now (then it is
    /// marked as running).
    fn plan(&self, uid: &str, inputs: &str, now: Instant) -> (Option<EsPass>, bool) {
        let mut state = lock(&self.state);
        let s = state.entry(uid.to_string()).or_default();
        let known = s.last.as_ref().map(|l| l.result.clone());
        let fresh = s
            .last
            .as_ref()
            .is_some_and(|l| l.inputs == inputs && now < l.due);
        let start = !s.running && !fresh;
        s.running |= start;
        (known, start)
    }

    /// Records a finished pass of `uid`: when the next one is due, and whether the result
    /// shows anything new (a pass that answered, or a failure other than the last one). A
    /// resource forgotten meanwhile (deleted) stays forgotten.
    fn finished(
        &self,
        uid: &str,
        inputs: String,
        result: EsPass,
        settings: &Settings,
    ) -> (Instant, bool) {
        let now = Instant::now();
        let mut state = lock(&self.state);
        let Some(s) = state.get_mut(uid) else {
            return (now, false);
        };
        s.running = false;
        let answered = result.observation.unavailable.is_none();
        s.failures = if answered { 0 } else { s.failures + 1 };
        let kibana_down = result
            .dashboards
            .as_ref()
            .is_some_and(DashboardsObservation::unavailable);
        s.kibana_failures = if kibana_down {
            s.kibana_failures + 1
        } else {
            0
        };
        let reload_pending = result.reload.as_ref().is_some_and(ReloadState::pending);
        s.reload_waits = if reload_pending {
            s.reload_waits + 1
        } else {
            0
        };
        let due = now
            + if !answered {
                probe_backoff(settings, s.failures)
            } else if result.clean() {
                settings.resync_ready
            } else if reload_pending {
                // A node's sidecar rebuilds its keystore within seconds of seeing the
                // change (the kubelet refreshes the volume within about a minute).
                reload_backoff(s.reload_waits)
            } else if kibana_down && result.es_clean() {
                // Only Kibana is missing: its own backoff, not the pending interval.
                probe_backoff(settings, s.kibana_failures)
            } else {
                settings.resync_pending
            };
        let news = s
            .last
            .as_ref()
            .is_none_or(|l| !l.result.same_failure(&result));
        s.last = Some(LastSync {
            inputs,
            due,
            result,
        });
        (due, news)
    }

    /// Whether the retry of `uid`'s pass over `inputs` should run now (then it is marked as
    /// running): nothing else runs, the inputs are still the last pass's (a reconcile that
    /// saw new ones started its own pass), and the retry is due.
    fn retry(&self, uid: &str, inputs: &str, now: Instant) -> bool {
        let mut state = lock(&self.state);
        let Some(s) = state.get_mut(uid) else {
            return false;
        };
        let start = !s.running
            && s.last
                .as_ref()
                .is_some_and(|l| l.inputs == inputs && now >= l.due);
        s.running |= start;
        start
    }

    /// The last known result of `uid`, without planning a pass.
    pub fn known(&self, uid: &str) -> Option<EsPass> {
        lock(&self.state)
            .get(uid)
            .and_then(|s| s.last.as_ref().map(|l| l.result.clone()))
    }

    /// Forgets a deleted resource.
    pub fn forget(&self, uid: &str) {
        lock(&self.state).remove(uid);
        lock(&self.verified).remove(uid);
    }

    /// Reconciles `resource` now, or at `at`.
    fn trigger(&self, resource: ObjectRef<MeshLogging>, at: Option<Instant>) {
        let trigger = self.trigger.clone();
        match at {
            None => {
                let _ = trigger.send(resource);
            }
            Some(at) => {
                tokio::spawn(async move {
                    tokio::time::sleep_until(at.into()).await;
                    let _ = trigger.send(resource);
                });
            }
        }
    }
}

/// The delay before sending a reload again after `waits` passes that found some node's
/// keystore not rebuilt: 2 s doubling up to 30 s.
fn reload_backoff(waits: u32) -> Duration {
    Duration::from_secs(2)
        .saturating_mul(1u32 << waits.saturating_sub(1).min(4))
        .min(Duration::from_secs(30))
}

/// The delay before probing again a cluster that did not answer `failures` times in a
/// row: doubling from [`Settings::es_probe_backoff`] up to its maximum, with jitter (so
/// a hundred clusters created at once are not probed in lockstep).
fn probe_backoff(settings: &Settings, failures: u32) -> Duration {
    let exp = settings
        .es_probe_backoff
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    exp.min(settings.es_probe_backoff_max)
        .mul_f64(0.5 + rand::random::<f64>() / 2.0)
}

/// The step: the last known result (with this pass's view of the nodes), and a new pass
/// queued when one is due. Never waits for Elasticsearch, never fails the reconcile.
pub fn observe_and_sync(
    ctx: &Arc<Context>,
    pass: &Pass,
    v: &Validated,
    refs: &Dereferenced,
    applied: &Applied,
    scale: &ScaleInput,
    roll: &RollPlan,
) -> EsPass {
    let nodes = applied.workloads.elasticsearch;
    let previously = pass
        .previous
        .as_ref()
        .and_then(|s| s.applied.clone())
        .unwrap_or_default();
    let mut es = match &refs.secrets {
        None => {
            let why = refs.credentials_missing.clone().unwrap_or_default();
            EsPass::unavailable(Reason::CredentialsMissing, why)
        }
        // Managed, and no node is Ready: the Service has no endpoint, so there is no one
        // to ask (the status says how many nodes are ready). A node becoming Ready changes
        // the inputs below and is probed at once.
        Some(_) if matches!(nodes, Some((_, 0))) => EsPass::default(),
        Some(secrets) => {
            // Kibana becoming ready loads the dashboards at once (only where they are
            // loaded and Kibana can be reached: other passes do not depend on Kibana).
            let kibana_ready = applied.workloads.kibana.is_some_and(|(_, ready)| ready > 0);
            let kibana_input = ((v.dashboards_enabled()
                || dashboards::removal_pending(v, &previously.saved_objects))
                && ctx.endpoint.kibana_config(v, None).is_some())
            .then_some(kibana_ready);
            let inputs = crate::fingerprint::of_parts([
                pass.generation.unwrap_or_default().to_string().as_str(),
                &format!("{:?}", secrets.fingerprints),
                &format!("{:?}", refs.missing_repository_credentials),
                &format!("{nodes:?}"),
                &format!("{kibana_input:?}"),
                // Not read by any pod, so not among the fingerprints: a new password of the
                // operator's Kibana user (its Secret deleted) is set in Elasticsearch at once.
                &crate::fingerprint::of_parts(secrets.dashboards_password.as_deref()),
                // Nor is a rotated `elastic` password, or what a rotation still keeps.
                &crate::fingerprint::of_parts(secrets.elastic_rotated.as_deref()),
                &format!(
                    "{:?}",
                    (
                        secrets.admin_previous.is_some(),
                        secrets.ca_rotating.is_some(),
                        // During a rotation of the operator's password, the nodes having
                        // restarted with the new file realm makes the new one worth trying.
                        secrets.admin_previous.is_some() && applied.workloads.elasticsearch_updated,
                    )
                ),
                &format!("{scale:?}"),
                &format!("{roll:?}"),
            ]);
            let (known, start) = ctx.es.plan(&pass.uid, &inputs, Instant::now());
            // What the last pass said was upgraded from, for the message only (once the
            // last old node is away, the cluster no longer shows its version).
            let roll_versions = known
                .as_ref()
                .and_then(|k| k.rolling.as_ref())
                .and_then(|r| r.versions.clone());
            if start {
                let job = Job {
                    ctx: ctx.clone(),
                    uid: pass.uid.clone(),
                    resource: ObjectRef::new(&pass.name).within(&pass.namespace),
                    reference: pass.reference.clone(),
                    inputs,
                    v: v.clone(),
                    secrets: secrets.clone(),
                    missing_credentials: refs.missing_repository_credentials.clone(),
                    kibana_ready,
                    previously,
                    scale: scale.clone(),
                    roll: roll.clone(),
                    roll_versions,
                    nodes_updated: applied.workloads.elasticsearch_updated,
                    reloaded: pass
                        .previous
                        .as_ref()
                        .and_then(|s| s.elasticsearch.as_ref())
                        .and_then(|e| e.secure_settings_reloaded.clone()),
                    known_reload: known.as_ref().and_then(|k| k.reload.clone()),
                    nodes,
                };
                tokio::spawn(job.run());
            }
            known.unwrap_or_default()
        }
    };
    es.observation.endpoint = Some(v.es_url());
    es.observation.nodes = nodes;
    es
}

/// One queued pass, with everything it needs owned.
struct Job {
    ctx: Arc<Context>,
    uid: String,
    resource: ObjectRef<MeshLogging>,
    reference: ObjectReference,
    inputs: String,
    v: Validated,
    secrets: StackSecrets,
    missing_credentials: BTreeMap<String, String>,
    kibana_ready: bool,
    previously: AppliedStatus,
    scale: ScaleInput,
    roll: RollPlan,
    /// The last pass's (from, to) of an upgrade under way (display only).
    roll_versions: Option<(String, String)>,
    /// Every Elasticsearch pod runs the current template (managed mode).
    nodes_updated: bool,
    /// The fingerprint of the keystore content last reloaded on every node (status).
    reloaded: Option<String>,
    /// The last pass's reload, if any.
    known_reload: Option<ReloadState>,
    /// The StatefulSet's nodes (desired, ready), managed mode.
    nodes: Option<(i32, i32)>,
}

impl Job {
    /// Waits for a worker, runs the pass, keeps its result and — when it shows something
    /// new — triggers a reconcile to show it. A pass that is not clean is retried when due:
    /// one that did not reach the sync (no answer, red, no client) by this job itself, as
    /// long as nothing it depends on changed meanwhile (then a reconcile started a pass of
    /// its own), so a cluster that keeps not answering costs a probe per backoff and no
    /// reconcile; one that synced with failures by a reconcile, which plans afresh.
    async fn run(self) {
        let metrics = &self.ctx.metrics;
        loop {
            metrics.es_pass_queued();
            let result = {
                let _permit = self.ctx.es.permits.clone().acquire_owned().await;
                metrics.es_pass_started();
                let result = self.pass().await;
                metrics.es_pass_finished();
                result
            };
            let (clean, synced) = (result.clean(), result.report.is_some());
            let settings = &self.ctx.settings;
            let (due, news) =
                self.ctx
                    .es
                    .finished(&self.uid, self.inputs.clone(), result, settings);
            debug!(resource = %self.resource, clean, news, "Elasticsearch pass finished");
            if news {
                self.ctx.es.trigger(self.resource.clone(), None);
            }
            if clean {
                // Looked at again with the resync.
                return;
            }
            if synced {
                self.ctx.es.trigger(self.resource.clone(), Some(due));
                return;
            }
            tokio::time::sleep_until(due.into()).await;
            if !self.ctx.es.retry(&self.uid, &self.inputs, Instant::now()) {
                return;
            }
        }
    }

    /// Health, then (yellow or green) the configuration.
    async fn pass(&self) -> EsPass {
        let ca = self.secrets.es_ca_pem.clone();
        // During a rotation of the operator's password: the one that logs in, and the
        // other as the fallback of a request a node refuses (while the nodes restart one
        // by one, some hold the new file realm and some the old).
        let (admin, fallback) = match (&self.secrets.admin, &self.secrets.admin_previous) {
            (Some(current), Some(previous)) => {
                let chosen = self.login(current, previous).await;
                let other = if chosen == *current {
                    previous
                } else {
                    current
                };
                (Some(chosen), Some(other.clone()))
            }
            (admin, _) => (admin.clone(), None),
        };
        if let (Some(new_ca), Some(admin)) = (&self.secrets.ca_rotating, &admin) {
            self.check_new_ca(admin, new_ca).await;
        }
        let client = match self.ctx.es_client(&self.v, admin, ca) {
            Ok(client) => match fallback {
                Some(other) => client.with_fallback(other),
                None => client,
            },
            Err(e) => return EsPass::unavailable(e.category(), e.to_string()),
        };
        let (health, unassigned) = match client.cluster_health().await {
            Ok(h) => (h.status, h.unassigned_primary_shards),
            Err(e) => return EsPass::unavailable(e.category(), e.to_string()),
        };
        let mut es = EsPass::default();
        es.observation.health = Some(health.clone());
        es.observation.unassigned_primaries = unassigned;
        if health == "red" {
            return es;
        }
        if self.v.managed().is_some() {
            // One read of the cluster settings for both: the scale-down's allocation filter
            // and the rolling restart's allocation setting.
            let settings = crate::elastic::nodes::persistent_settings(&client).await;
            let (ctx, reference) = (&self.ctx, &self.reference);
            match &settings {
                // A scale-down first: no node restarts while shards move off others.
                Ok(_) if self.scale.plan.is_some() => {}
                Ok(s) => {
                    let input = rolling::StepInput {
                        plan: &self.roll,
                        settings: s,
                        health: &health,
                        last_versions: self.roll_versions.as_ref(),
                    };
                    es.rolling = rolling::step(ctx, reference, &client, &self.v, input).await;
                }
                Err(e) => {
                    if self.roll != RollPlan::Unknown {
                        es.rolling = Some(RollState::failed(e.category()));
                    }
                }
            }
            let settings = settings.ok();
            es.scale = scale::step(
                ctx,
                reference,
                &client,
                &self.v,
                &self.scale,
                settings.as_ref(),
            )
            .await;
        }
        let report = self.configure(&client).await;
        if let Some(m) = self.v.managed() {
            let input = ReloadInput {
                digest: self.secrets.keystore_digest.as_deref(),
                reloaded: self.reloaded.as_deref(),
                known: self.known_reload.as_ref(),
                nodes: self.nodes,
                roll: &self.roll,
                updated: self.nodes_updated,
                busy: es.rolling.is_some() || es.scale.is_some(),
                secrets: m.keystore.iter().map(|k| k.secret.clone()).collect(),
            };
            es.reload = reload::step(&self.ctx, &self.reference, &client, input).await;
            es.observation.secure_settings_reloaded = es
                .reload
                .as_ref()
                .and_then(|r| r.reloaded().map(str::to_string));
        }
        es.observation.version = report.version.map(|v| v.to_string());
        if let Some(a) = &report.aborted {
            es.observation.unavailable = Some((a.reason, a.message.clone()));
        } else {
            es.dashboards = Some(self.dashboards(&report).await);
            let write_index = report.write_index.as_deref();
            es.observation.logs = Some(self.read_logs(&client, write_index).await);
            if !report.unsupported.contains_key(&Kind::IlmPolicy) {
                es.observation.ilm = Some(self.read_ilm(&client).await);
            }
            let disk = pipeline::read_disk(&client).await;
            es.observation.disk = Some(disk.map_err(|e| (e.category(), e.to_string())));
            if self.v.snapshots_wanted() {
                es.observation.snapshots = Some(self.read_snapshots(&client, &report).await);
            }
            if self.v.index().retry_failed_lifecycle_steps
                && let Some(Ok(errors)) = &es.observation.ilm
            {
                self.retry_lifecycle_steps(&client, errors).await;
            }
        }
        es.report = Some(report);
        es
    }

    /// After a rotation of the operator's password: the password that logs in. While
    /// some node still runs the template from before the new file realm, the previous one
    /// (nothing asked: no refused request). Once every node runs it, the new one if it
    /// logs in (one `_security/_authenticate`): that is remembered, and a reconcile
    /// triggered, so that the next pass drops the previous one from its Secret.
    async fn login(&self, current: &Credentials, previous: &Credentials) -> Credentials {
        if !self.nodes_updated {
            return previous.clone();
        }
        let ca = self.secrets.es_ca_pem.clone();
        let works = match self.ctx.probe_client(&self.v, Some(current.clone()), ca) {
            Ok(client) => client.authenticates(current).await,
            Err(e) => {
                debug!(error = %e, "no client to check the new password");
                return previous.clone();
            }
        };
        match works {
            Ok(true) => {
                info!(resource = %self.resource, "the operator's new password logs in");
                self.ctx
                    .logins
                    .password_works(&self.v.owner(), &current.password);
                self.ctx.es.trigger(self.resource.clone(), None);
                current.clone()
            }
            Ok(false) => {
                debug!(resource = %self.resource, "the nodes do not know the new password yet: the previous one is used");
                previous.clone()
            }
            // Not an answer about the password: the pass reports the failure as it is.
            Err(_) => current.clone(),
        }
    }

    /// During a CA rotation: whether Elasticsearch is reached trusting the new CA alone
    /// (one health request); remembered, with a reconcile triggered, so that the next pass
    /// drops the previous CA from what every client trusts.
    async fn check_new_ca(&self, admin: &Credentials, new_ca: &str) {
        let ca = Some(new_ca.as_bytes().to_vec());
        let Ok(client) = self.ctx.probe_client(&self.v, Some(admin.clone()), ca) else {
            return;
        };
        match client.health().await {
            Ok(_) => {
                info!(resource = %self.resource, "Elasticsearch serves a certificate of the new CA");
                self.ctx.logins.ca_works(&self.v.owner(), new_ca);
                self.ctx.es.trigger(self.resource.clone(), None);
            }
            Err(e) => {
                debug!(resource = %self.resource, error = %e, "Elasticsearch does not serve the new CA's certificate yet");
            }
        }
    }

    /// The Kibana step: the resource's saved objects kept in Kibana, or removed.
    async fn dashboards(&self, report: &SyncReport) -> DashboardsObservation {
        let input = DashboardsInput {
            v: &self.v,
            password: self.secrets.dashboards_password.as_deref(),
            kibana_ready: self.kibana_ready,
            previously: &self.previously.saved_objects,
            reference: &self.reference,
        };
        dashboards::step(&self.ctx, input, report).await
    }

    /// Whether logs arrive (reads only, after the sync), with its metric.
    async fn read_logs(
        &self,
        client: &EsClient,
        write_index: Option<&str>,
    ) -> Result<LogFlow, String> {
        let (alias, threshold) = (&self.v.index().name, self.v.logs_flowing_threshold());
        let now = k8s_openapi::jiff::Timestamp::now();
        let flow = match pipeline::read_flow(client, alias, write_index, threshold, now).await {
            Ok(Some(flow)) => Ok(flow),
            Ok(None) => Err(format!("the write alias {alias} does not exist")),
            Err(e) => Err(e.to_string()),
        };
        let age = flow.as_ref().ok().and_then(LogFlow::newest_age);
        let metrics = &self.ctx.metrics;
        metrics.newest_log_age(&self.v.namespace, &self.v.name, age);
        flow
    }

    /// The backing indices in ILM's `ERROR` step (reads only), with their metric.
    async fn read_ilm(&self, client: &EsClient) -> Result<Vec<IlmError>, (Reason, String)> {
        let errors = pipeline::read_ilm_errors(client, &self.v.index().name)
            .await
            .map_err(|e| (e.category(), e.to_string()));
        let count = errors.as_ref().ok().map(Vec::len);
        let metrics = &self.ctx.metrics;
        metrics.ilm_errors(&self.v.namespace, &self.v.name, count);
        errors
    }

    /// The snapshot policies' state (two reads where the cluster has SLM) and the
    /// repositories' verification (a `_verify` only where one is due), with their metrics.
    async fn read_snapshots(
        &self,
        client: &EsClient,
        report: &SyncReport,
    ) -> Result<SnapshotHealth, (Reason, String)> {
        let now = k8s_openapi::jiff::Timestamp::now();
        let policies = if self.v.snapshot_policies().is_empty()
            || report.unsupported.contains_key(&Kind::SlmPolicy)
        {
            None
        } else {
            let now_ms = u64::try_from(now.as_millisecond()).unwrap_or(0);
            let wanted: Vec<(&str, Option<Duration>)> = self
                .v
                .snapshot_policies()
                .iter()
                .map(|p| {
                    let interval = crate::validate::schedule_interval(&p.schedule, now_ms);
                    (p.name.as_str(), interval)
                })
                .collect();
            let states = snapshots::read_policies(client, &wanted)
                .await
                .map_err(|e| (e.category(), e.to_string()))?;
            Some(states)
        };
        let repositories = self.verify_repositories(client, report, now).await;
        let (metrics, v) = (&self.ctx.metrics, &self.v);
        let names: Vec<&str> = policies.iter().flatten().map(|p| p.name.as_str()).collect();
        metrics.retain_snapshot_policies(&v.namespace, &v.name, &names);
        for p in policies.iter().flatten() {
            metrics.snapshot_policy(&v.namespace, &v.name, &p.name, p.last_success, p.failing());
        }
        Ok(SnapshotHealth {
            checked_at: now,
            policies,
            repositories,
        })
    }

    /// Verifies each repository of the spec whose verification is due (changed, written
    /// by this pass's sync, failed last time, or a day old); the others keep their last
    /// verification.
    async fn verify_repositories(
        &self,
        client: &EsClient,
        report: &SyncReport,
        now: k8s_openapi::jiff::Timestamp,
    ) -> Vec<RepositoryVerification> {
        let written = report.kind(Kind::SnapshotRepository);
        let interval = self.ctx.settings.repository_verification_interval;
        let mut last = lock(&self.ctx.es.verified)
            .get(&self.uid)
            .cloned()
            .unwrap_or_default();
        let mut out = Vec::new();
        for repo in self.v.repositories() {
            let fingerprint = format!("{repo:?}");
            let known = last.get(&repo.name).map(|(f, r)| (f.as_str(), r));
            let wrote =
                written.created.contains(&repo.name) || written.updated.contains(&repo.name);
            let verification =
                if snapshots::verification_due(known, &fingerprint, wrote, now, interval) {
                    let error = snapshots::verify_repository(client, &repo.name).await;
                    let verification = RepositoryVerification {
                        name: repo.name.clone(),
                        at: now,
                        error,
                    };
                    last.insert(repo.name.clone(), (fingerprint, verification.clone()));
                    verification
                } else {
                    known
                        .map(|(_, r)| r.clone())
                        .unwrap_or(RepositoryVerification {
                            name: repo.name.clone(),
                            at: now,
                            error: None,
                        })
                };
            out.push(verification);
        }
        last.retain(|name, _| self.v.repositories().iter().any(|r| &r.name == name));
        lock(&self.ctx.es.verified).insert(self.uid.clone(), last);
        out
    }

    /// `spec.index.retryFailedLifecycleSteps`: retries the failed step of each index in
    /// ILM's `ERROR` step (once per pass, that is per resync), a Normal event each time.
    async fn retry_lifecycle_steps(&self, client: &EsClient, errors: &[IlmError]) {
        for e in errors {
            let path = format!("/{}/_ilm/retry", e.index);
            let step = e.failed_step.as_deref().unwrap_or("its failed step");
            match client.post_empty("ilm.retry", &path).await {
                Ok(_) => {
                    info!(index = %e.index, step, "retried ILM step");
                    self.ctx
                        .publish(
                            &self.reference,
                            EventType::Normal,
                            Reason::RetriedLifecycleStep,
                            format!(
                                "retried ILM step {step} of index {} (it failed: {})",
                                e.index, e.reason
                            ),
                        )
                        .await;
                }
                Err(err) => {
                    info!(index = %e.index, step, error = %err, "ILM retry refused");
                }
            }
        }
    }

    /// Syncs the desired configuration and announces what changed.
    async fn configure(&self, client: &EsClient) -> SyncReport {
        let passwords = Passwords {
            collector: self.secrets.collector_password.clone(),
            kibana: self.secrets.kibana_password.clone(),
            dashboards: self.secrets.dashboards_password.clone(),
            elastic: self.secrets.elastic_rotated.clone(),
        };
        let mut wanted = desired(&self.v);
        if passwords.elastic.is_some() {
            wanted.add_elastic_password();
        }
        if dashboards::removal_pending(&self.v, &self.previously.saved_objects) {
            // Dashboards turned off: the operator removes their objects as its Kibana user,
            // which stays until they are gone.
            wanted.add_dashboards_identity(&self.v);
        }
        let report = sync(
            client,
            &wanted,
            SyncInput {
                passwords: &passwords,
                previously_applied: &self.previously,
                missing_credentials: &self.missing_credentials,
            },
        )
        .await;
        announce(&self.ctx, &self.reference, &report).await;
        report
    }
}

/// Events for what the sync changed, and metrics of its failures (the failures are
/// announced with the conditions).
async fn announce(ctx: &Context, reference: &ObjectReference, report: &SyncReport) {
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
            Reason::ElasticsearchConfigured,
            changes.join(", "),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            es_probe_backoff: Duration::from_secs(2),
            es_probe_backoff_max: Duration::from_secs(60),
            ..Settings::default()
        }
    }

    fn unreachable() -> EsPass {
        EsPass::unavailable(Reason::ElasticsearchUnreachable, "no answer".into())
    }

    #[test]
    fn the_probe_backs_off_exponentially_up_to_its_maximum() {
        let s = settings();
        for (failures, full) in [(1, 2), (2, 4), (3, 8), (5, 32), (6, 60), (30, 60)] {
            let d = probe_backoff(&s, failures);
            let full = Duration::from_secs(full);
            assert!(d <= full && d >= full / 2, "{failures}: {d:?}");
        }
    }

    #[tokio::test]
    async fn one_pass_at_a_time_then_backoff_unless_an_input_changes() {
        let (queue, _rx) = EsQueue::new(2);
        let s = settings();
        let now = Instant::now();
        assert!(matches!(queue.plan("a", "in-1", now), (None, true)));
        // Queued or running: not again, whatever the inputs.
        assert!(matches!(queue.plan("a", "in-2", now), (None, false)));
        let (due, news) = queue.finished("a", "in-1".into(), unreachable(), &s);
        assert!(news, "a first result is news");
        assert!(due > Instant::now());
        // Same inputs before it is due: the known result, no probe.
        let (known, start) = queue.plan("a", "in-1", Instant::now());
        assert!(!start);
        let known = known.expect("known result");
        assert_eq!(
            known.observation.unavailable.map(|u| u.0),
            Some(Reason::ElasticsearchUnreachable)
        );
        // A node became Ready (an input changed): probed at once.
        assert!(queue.plan("a", "in-2", Instant::now()).1);
        // Other resources are independent.
        assert!(queue.plan("b", "in-1", Instant::now()).1);
    }

    #[tokio::test]
    async fn a_second_failure_waits_longer_and_an_answer_resets_the_backoff() {
        let (queue, _rx) = EsQueue::new(1);
        let s = Settings {
            es_probe_backoff: Duration::from_secs(10),
            es_probe_backoff_max: Duration::from_secs(1000),
            ..settings()
        };
        queue.plan("a", "in", Instant::now());
        let first = queue.finished("a", "in".into(), unreachable(), &s).0 - Instant::now();
        queue.plan("a", "other", Instant::now());
        let second = queue.finished("a", "other".into(), unreachable(), &s).0 - Instant::now();
        // Jitter halves at most: 5..10 s, then 10..20 s.
        assert!(first <= Duration::from_secs(10) && second >= Duration::from_secs(9));
        queue.plan("a", "again", Instant::now());
        let answered = EsPass {
            observation: EsObservation {
                health: Some("red".into()),
                ..Default::default()
            },
            report: None,
            dashboards: None,
            scale: None,
            rolling: None,
            reload: None,
        };
        let due = queue.finished("a", "again".into(), answered, &s).0 - Instant::now();
        assert!(
            due <= s.resync_pending,
            "red is retried at the pending interval: {due:?}"
        );
    }

    #[tokio::test]
    async fn kibana_down_is_retried_with_its_own_backoff_and_a_clean_pass_resets_it() {
        let (queue, _rx) = EsQueue::new(1);
        let s = Settings {
            es_probe_backoff: Duration::from_secs(10),
            es_probe_backoff_max: Duration::from_secs(1000),
            resync_ready: Duration::from_secs(3000),
            resync_pending: Duration::from_secs(3000),
            ..settings()
        };
        // Elasticsearch configured and clean; only Kibana did not answer.
        let es_clean = |dashboards: DashboardsObservation| EsPass {
            observation: EsObservation {
                health: Some("green".into()),
                ..Default::default()
            },
            report: Some(SyncReport::default()),
            dashboards: Some(dashboards),
            scale: None,
            rolling: None,
            reload: None,
        };
        let down = || {
            es_clean(DashboardsObservation::Failed(
                Reason::KibanaUnavailable,
                "503".into(),
            ))
        };
        assert!(down().es_clean() && !down().clean());
        queue.plan("a", "in", Instant::now());
        let first = queue.finished("a", "in".into(), down(), &s).0 - Instant::now();
        queue.plan("a", "x", Instant::now());
        let second = queue.finished("a", "x".into(), down(), &s).0 - Instant::now();
        // Jitter halves at most: 5..10 s, then 10..20 s; never the 3000 s intervals.
        assert!(first <= Duration::from_secs(10), "{first:?}");
        assert!(
            second >= Duration::from_secs(9) && second <= Duration::from_secs(20),
            "{second:?}"
        );
        queue.plan("a", "y", Instant::now());
        let applied = es_clean(DashboardsObservation::Synced {
            report: Default::default(),
            objects: vec![],
        });
        let due = queue.finished("a", "y".into(), applied, &s).0 - Instant::now();
        assert!(
            due > Duration::from_secs(2000),
            "clean: the resync, {due:?}"
        );
        assert_eq!(lock(&queue.state)["a"].kibana_failures, 0);
    }

    #[tokio::test]
    async fn the_same_failure_again_is_no_news_and_is_retried_by_the_queue() {
        let (queue, _rx) = EsQueue::new(1);
        let s = Settings {
            es_probe_backoff: Duration::from_millis(1),
            es_probe_backoff_max: Duration::from_millis(1),
            ..settings()
        };
        queue.plan("a", "in", Instant::now());
        assert!(queue.finished("a", "in".into(), unreachable(), &s).1);
        std::thread::sleep(Duration::from_millis(5));
        // Due, same inputs, nothing running: the queue retries it itself.
        assert!(queue.retry("a", "in", Instant::now()));
        assert!(!queue.retry("a", "in", Instant::now()), "already running");
        let (_, news) = queue.finished("a", "in".into(), unreachable(), &s);
        assert!(!news, "the same failure shows nothing new");
        let refused = EsPass::unavailable(Reason::Unauthorized, "refused".into());
        queue.plan("a", "in", Instant::now() + Duration::from_secs(1));
        assert!(
            queue.finished("a", "in".into(), refused, &s).1,
            "a new failure is news"
        );
        // A reconcile saw new inputs and started its own pass: the old retry stands down.
        std::thread::sleep(Duration::from_millis(5));
        assert!(queue.plan("a", "new", Instant::now()).1);
        queue.finished("a", "new".into(), unreachable(), &s);
        std::thread::sleep(Duration::from_millis(5));
        assert!(!queue.retry("a", "in", Instant::now()));
        assert!(queue.retry("a", "new", Instant::now()));
    }

    #[tokio::test]
    async fn a_forgotten_resource_stays_forgotten() {
        let (queue, _rx) = EsQueue::new(1);
        queue.plan("gone", "in", Instant::now());
        queue.forget("gone");
        queue.finished("gone", "in".into(), unreachable(), &settings());
        assert!(lock(&queue.state).is_empty());
    }
}
