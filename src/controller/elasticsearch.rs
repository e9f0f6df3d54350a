//! Step 5 of a pass: Elasticsearch, observed and configured — apart from the pass itself.
//!
//! ```text
//! reconcile ──plan──► known result (shown at once) ─► finish
//!              └─(due)─► EsQueue: bounded workers ─► health ─► (yellow/green) sync ─► logs, ILM, disk read
//!                          └─ result kept; a reconcile triggered to show it
//! ```
//!
//! A reconcile never waits for Elasticsearch: it shows the last known result and, when a
//! new pass is due, hands it to the queue, whose own bounded workers run it and then
//! trigger a reconcile of the resource. A pass is due when what it depends on changed (the
//! spec's generation, the credentials, the repositories' Secrets, the Elasticsearch pods'
//! readiness: a node becoming Ready probes at once) or when its interval is up: the resync
//! interval after a clean pass, the pending one after failures, and for a cluster that did
//! not answer a per-resource exponential backoff.

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
use super::dereference::Dereferenced;
use super::finish::Pass;
use super::scale::{self, ScaleInput, ScaleState};
use super::secrets::StackSecrets;
use super::{Context, Settings};
use crate::api::{AppliedStatus, MeshLogging};
use crate::elastic::pipeline::{self, IlmError, LogFlow};
use crate::elastic::sync::{Passwords, SyncInput};
use crate::elastic::{EsClient, Kind, SyncReport, desired, sync};
use crate::reason::Reason;
use crate::status::EsObservation;
use crate::validate::Validated;

/// What a pass saw and did.
#[derive(Clone, Debug, Default)]
pub struct EsPass {
    /// Health, version, why it is unavailable.
    pub observation: EsObservation,
    /// The sync's report, when it ran.
    pub report: Option<SyncReport>,
    /// Where a scale-down is (managed mode), when one runs or refused.
    pub scale: Option<ScaleState>,
}

impl EsPass {
    /// Elasticsearch did not answer (or could not be asked): `reason`, `message`.
    fn unavailable(reason: Reason, message: String) -> Self {
        let mut pass = Self::default();
        pass.observation.unavailable = Some((reason, message));
        pass
    }

    /// A clean pass: it answered, is not red, and every object synced.
    fn clean(&self) -> bool {
        let o = &self.observation;
        o.unavailable.is_none()
            && self.scale.is_none()
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
}

/// The Elasticsearch passes of every resource: queued apart from the reconciles, run by
/// their own bounded number of workers.
pub struct EsQueue {
    permits: Arc<Semaphore>,
    state: Mutex<HashMap<String, EsState>>,
    trigger: UnboundedSender<ObjectRef<MeshLogging>>,
}

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

    /// Records a finished pass of `uid`; returns when the next one is due. A resource
    /// forgotten meanwhile (deleted) stays forgotten.
    fn finished(&self, uid: &str, inputs: String, result: EsPass, settings: &Settings) -> Instant {
        let now = Instant::now();
        let mut state = lock(&self.state);
        let Some(s) = state.get_mut(uid) else {
            return now;
        };
        s.running = false;
        let answered = result.observation.unavailable.is_none();
        s.failures = if answered { 0 } else { s.failures + 1 };
        let due = now
            + if !answered {
                probe_backoff(settings, s.failures)
            } else if result.clean() {
                settings.resync_ready
            } else {
                settings.resync_pending
            };
        s.last = Some(LastSync {
            inputs,
            due,
            result,
        });
        due
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
) -> EsPass {
    let nodes = applied.workloads.elasticsearch;
    let mut es = match &refs.secrets {
        None => {
            let why = refs.credentials_missing.clone().unwrap_or_default();
            EsPass::unavailable(Reason::CredentialsMissing, why)
        }
        Some(secrets) => {
            let inputs = crate::fingerprint::of_parts([
                pass.generation.unwrap_or_default().to_string().as_str(),
                &format!("{:?}", secrets.fingerprints),
                &format!("{:?}", refs.missing_repository_credentials),
                &format!("{nodes:?}"),
                &format!("{scale:?}"),
            ]);
            let (known, start) = ctx.es.plan(&pass.uid, &inputs, Instant::now());
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
                    previously: pass
                        .previous
                        .as_ref()
                        .and_then(|s| s.applied.clone())
                        .unwrap_or_default(),
                    scale: scale.clone(),
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
    previously: AppliedStatus,
    scale: ScaleInput,
}

impl Job {
    /// Waits for a worker, runs the pass, keeps its result and triggers a reconcile to
    /// show it (and, unless it was clean, another when the next pass is due).
    async fn run(self) {
        let metrics = &self.ctx.metrics;
        metrics.es_pass_queued();
        let result = {
            let _permit = self.ctx.es.permits.clone().acquire_owned().await;
            metrics.es_pass_started();
            let result = self.pass().await;
            metrics.es_pass_finished();
            result
        };
        let clean = result.clean();
        let settings = &self.ctx.settings;
        let due = self
            .ctx
            .es
            .finished(&self.uid, self.inputs, result, settings);
        debug!(resource = %self.resource, clean, "Elasticsearch pass finished");
        self.ctx.es.trigger(self.resource.clone(), None);
        // A clean pass is looked at again with the resync; anything else (no answer, red,
        // objects refused) when its retry is due.
        if !clean {
            self.ctx.es.trigger(self.resource, Some(due));
        }
    }

    /// Health, then (yellow or green) the configuration.
    async fn pass(&self) -> EsPass {
        let (admin, ca) = (self.secrets.admin.clone(), self.secrets.es_ca_pem.clone());
        let client = match self.ctx.es_client(&self.v, admin, ca) {
            Ok(client) => client,
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
            es.scale = scale::step(&self.ctx, &self.reference, &client, &self.v, &self.scale).await;
        }
        let report = self.configure(&client).await;
        es.observation.version = report.version.map(|v| v.to_string());
        if let Some(a) = &report.aborted {
            es.observation.unavailable = Some((a.reason, a.message.clone()));
        } else {
            let write_index = report.write_index.as_deref();
            es.observation.logs = Some(self.read_logs(&client, write_index).await);
            if !report.unsupported.contains_key(&Kind::IlmPolicy) {
                es.observation.ilm = Some(self.read_ilm(&client).await);
            }
            let disk = pipeline::read_disk(&client).await;
            es.observation.disk = Some(disk.map_err(|e| (e.category(), e.to_string())));
        }
        es.report = Some(report);
        es
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

    /// Syncs the desired configuration and announces what changed.
    async fn configure(&self, client: &EsClient) -> SyncReport {
        let passwords = Passwords {
            collector: self.secrets.collector_password.clone(),
            kibana: self.secrets.kibana_password.clone(),
        };
        let report = sync(
            client,
            &desired(&self.v),
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
        let due = queue.finished("a", "in-1".into(), unreachable(), &s);
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
        let first = queue.finished("a", "in".into(), unreachable(), &s) - Instant::now();
        queue.plan("a", "other", Instant::now());
        let second = queue.finished("a", "other".into(), unreachable(), &s) - Instant::now();
        // Jitter halves at most: 5..10 s, then 10..20 s.
        assert!(first <= Duration::from_secs(10) && second >= Duration::from_secs(9));
        queue.plan("a", "again", Instant::now());
        let answered = EsPass {
            observation: EsObservation {
                health: Some("red".into()),
                ..Default::default()
            },
            report: None,
            scale: None,
        };
        let due = queue.finished("a", "again".into(), answered, &s) - Instant::now();
        assert!(
            due <= s.resync_pending,
            "red is retried at the pending interval: {due:?}"
        );
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
