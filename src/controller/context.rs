//! The state shared by the reconciles: clients, settings, metrics, and what the operator
//! remembers per resource between passes (failures, rate-limited warnings, the last
//! Elasticsearch pass, resources already seen). Publishes the events.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use tokio::sync::mpsc::UnboundedReceiver;
use tracing::{info, warn};

use super::apply::FIELD_MANAGER;
use super::children::Caches;
use super::elasticsearch::EsQueue;
use super::secrets::{Logins, VerifiedRealms};
use super::{EsEndpoint, Settings};
use crate::api::MeshLogging;
use crate::elastic::{ClientConfig, Credentials, EsClient};
use crate::error::Result;
use crate::fingerprint::fnv1a64;
use crate::metrics::Metrics;
use crate::reason::Reason;
use crate::validate::Validated;

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
    /// Failed reconciles in a row, per resource (for the backoff).
    failures: Mutex<HashMap<ObjectRef<MeshLogging>, u32>>,
    /// When each (resource, reason) last got a Warning event with a new message.
    warned: Mutex<HashMap<(String, String), Instant>>,
    /// The Elasticsearch passes, queued apart from the reconciles.
    pub(super) es: EsQueue,
    /// The resources whose Elasticsearch pass finished, for [`super::run`] to reconcile.
    pub(super) es_finished: Mutex<Option<UnboundedReceiver<ObjectRef<MeshLogging>>>>,
    /// Resources (uid) this process has reconciled at least once.
    seen: Mutex<HashSet<String>>,
    /// The reflector stores of the children and generated Secrets (set by [`super::run`];
    /// empty otherwise: every read goes to the API server).
    caches: OnceLock<Caches>,
    /// File realms already verified against their password.
    pub(super) realms: VerifiedRealms,
    /// Logins seen to work after a rotation (what it kept can then be dropped).
    pub(super) logins: Logins,
}

/// Locks `m`, also when a panicking holder poisoned it (the maps stay consistent: every
/// update is a single insert or remove).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
        let (es, es_finished) = EsQueue::new(settings.es_concurrency);
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
            es,
            es_finished: Mutex::new(Some(es_finished)),
            seen: Mutex::default(),
            realms: VerifiedRealms::default(),
            logins: Logins::default(),
            caches: OnceLock::new(),
        }
    }

    /// Uses `caches` for the reads of children and generated Secrets (once).
    pub(super) fn set_caches(&self, caches: Caches) {
        let _ = self.caches.set(caches);
    }

    /// The reflector stores of the children and generated Secrets.
    pub(super) fn caches(&self) -> &Caches {
        static EMPTY: OnceLock<Caches> = OnceLock::new();
        self.caches
            .get()
            .unwrap_or_else(|| EMPTY.get_or_init(Caches::default))
    }

    /// A client for a probe whose failure is an expected answer (during a rotation: does
    /// the new password log in, is the new CA served?): one attempt, not counted in the
    /// request metrics (a refusal there is not an error of the operator's).
    pub(super) fn probe_client(
        &self,
        v: &Validated,
        admin: Option<Credentials>,
        ca: Option<Vec<u8>>,
    ) -> Result<EsClient> {
        let mut config = self.client_config(v, admin, ca);
        config.retry.max_attempts = 1;
        Ok(EsClient::new(config)?)
    }

    /// The settings' client configuration for `v`'s Elasticsearch.
    fn client_config(
        &self,
        v: &Validated,
        admin: Option<Credentials>,
        ca: Option<Vec<u8>>,
    ) -> ClientConfig {
        let mut config: ClientConfig = self.endpoint.client_config(v, admin, ca);
        config.request_timeout = self.settings.es_request_timeout;
        config.retry = self.settings.es_retry;
        config
    }

    /// A client for `v`'s Elasticsearch, logging in with `admin` and trusting `ca`, with
    /// the settings' timeout and retries, counted in the metrics.
    pub(super) fn es_client(
        &self,
        v: &Validated,
        admin: Option<Credentials>,
        ca: Option<Vec<u8>>,
    ) -> Result<EsClient> {
        let config = self.client_config(v, admin, ca);
        let metrics = self.metrics.clone();
        Ok(EsClient::new(config)?
            .with_observer(Arc::new(move |api, status| metrics.es_request(api, status))))
    }

    /// Counts a failed reconcile of `resource`; returns how many failed in a row.
    pub(super) fn count_failure(&self, resource: ObjectRef<MeshLogging>) -> u32 {
        let mut failures = lock(&self.failures);
        let n = failures.entry(resource).or_insert(0);
        *n += 1;
        *n
    }

    /// Forgets the failures of `resource` (it reconciled).
    pub(super) fn forget_failures(&self, resource: &ObjectRef<MeshLogging>) {
        lock(&self.failures).remove(resource);
    }

    /// Whether this is the first time this process sees the resource `uid`.
    pub(super) fn first_sight(&self, uid: &str) -> bool {
        lock(&self.seen).insert(uid.to_string())
    }

    /// Forgets everything remembered of the resource `uid` (it is being deleted).
    pub(super) fn forget(&self, uid: &str) {
        self.es.forget(uid);
        lock(&self.seen).remove(uid);
    }

    /// Publishes an event on `reference`. Warnings with the same reason are rate-limited
    /// per resource to one per [`Settings::warning_interval`].
    pub async fn publish(
        &self,
        reference: &ObjectReference,
        type_: EventType,
        reason: Reason,
        note: String,
    ) {
        let note = truncate(note, 1000);
        // The recorder adds an event with the same type, reason and action to the earlier
        // one's count, keeping the earlier note: an event whose note changed gets an action
        // of its own, so users see the new note (a Warning at most once per interval).
        let action = match type_ {
            EventType::Warning => {
                let key = (
                    format!(
                        "{}/{}",
                        reference.namespace.as_deref().unwrap_or_default(),
                        reference.name.as_deref().unwrap_or_default()
                    ),
                    reason.as_str().to_string(),
                );
                let now = Instant::now();
                let mut warned = lock(&self.warned);
                if warned
                    .get(&key)
                    .is_some_and(|t| now.duration_since(*t) < self.settings.warning_interval)
                {
                    info!(%reason, "Warning event suppressed (rate limit); see status");
                    return;
                }
                warned.insert(key, now);
                format!("Reconcile-{:08x}", fnv1a64(note.as_bytes()) as u32)
            }
            // A Normal event with a new note (what a sync changed this time) is an event
            // of its own too; the same note again adds to its count.
            EventType::Normal => format!("Reconcile-{:08x}", fnv1a64(note.as_bytes()) as u32),
        };
        let event = Event {
            type_,
            reason: reason.as_str().to_string(),
            note: Some(note),
            action,
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, reference).await {
            warn!(error = %e, "cannot publish event");
        }
    }
}

/// `s` cut to at most `max` bytes (on a character boundary), with an ellipsis when cut.
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
