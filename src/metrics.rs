//! Prometheus metrics of the operator (served on `/metrics` by `server.rs`).
//!
//! Every label comes from a bounded set: result and reason categories, Elasticsearch API
//! names, HTTP status codes, phases, and the namespace/name of MeshLogging resources.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::api::{MeshLoggingStatus, Phase};
use crate::reason::Reason;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EsRequestLabels {
    api: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SyncFailureLabels {
    kind: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConditionLabels {
    namespace: String,
    name: String,
    condition: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabels {
    namespace: String,
    name: String,
}

impl ResourceLabels {
    fn of(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PolicyLabels {
    namespace: String,
    name: String,
    policy: String,
}

/// The operator's metrics.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabels, Counter>,
    reconcile_duration: Histogram,
    es_requests: Family<EsRequestLabels, Counter>,
    sync_failures: Family<SyncFailureLabels, Counter>,
    resources: Family<PhaseLabels, Gauge>,
    conditions: Family<ConditionLabels, Gauge>,
    in_flight: Gauge,
    es_queued: Gauge,
    es_running: Gauge,
    first_wait: Histogram,
    newest_log_age: Family<ResourceLabels, Gauge<f64, AtomicU64>>,
    ilm_errors: Family<ResourceLabels, Gauge>,
    snapshot_last_success: Family<PolicyLabels, Gauge>,
    snapshot_failing: Family<PolicyLabels, Gauge>,
    /// The SLM policies each resource has series for (to forget them).
    snapshot_policies: Mutex<BTreeMap<(String, String), BTreeSet<String>>>,
    phases: Mutex<BTreeMap<(String, String), Phase>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("meshlogging");
        let reconciles = Family::<ResultLabels, Counter>::default();
        registry.register(
            "reconciliations",
            "Reconciles by result (success, error)",
            reconciles.clone(),
        );
        let reconcile_duration =
            Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]);
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one reconcile",
            reconcile_duration.clone(),
        );
        let es_requests = Family::<EsRequestLabels, Counter>::default();
        registry.register(
            "elasticsearch_requests",
            "Elasticsearch REST requests by API and HTTP status (none: no answer)",
            es_requests.clone(),
        );
        let sync_failures = Family::<SyncFailureLabels, Counter>::default();
        registry.register(
            "elasticsearch_sync_failures",
            "Elasticsearch objects that could not be applied, by kind and reason",
            sync_failures.clone(),
        );
        let resources = Family::<PhaseLabels, Gauge>::default();
        registry.register(
            "resources",
            "MeshLogging resources by phase",
            resources.clone(),
        );
        let conditions = Family::<ConditionLabels, Gauge>::default();
        registry.register(
            "condition",
            "1 when the condition of a MeshLogging is True, else 0",
            conditions.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "reconciles_in_flight",
            "Reconciles running now (at most --concurrency)",
            in_flight.clone(),
        );
        let es_queued = Gauge::default();
        registry.register(
            "elasticsearch_passes_queued",
            "Elasticsearch passes waiting for a worker (the queue's depth)",
            es_queued.clone(),
        );
        let es_running = Gauge::default();
        registry.register(
            "elasticsearch_passes_running",
            "Elasticsearch passes running now (at most --es-concurrency)",
            es_running.clone(),
        );
        let first_wait = Histogram::new([0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0]);
        registry.register(
            "first_reconcile_wait_seconds",
            "Time from a resource's creation to the start of its first reconcile by this process",
            first_wait.clone(),
        );
        let newest_log_age = Family::<ResourceLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "newest_log_age_seconds",
            "Age of the newest log in a MeshLogging's write alias when last read (every resync); absent before the first read and while the alias holds no log",
            newest_log_age.clone(),
        );
        let ilm_errors = Family::<ResourceLabels, Gauge>::default();
        registry.register(
            "ilm_errors",
            "Backing indices of a MeshLogging's write alias in ILM's ERROR step, when last read (every resync)",
            ilm_errors.clone(),
        );
        let snapshot_last_success = Family::<PolicyLabels, Gauge>::default();
        registry.register(
            "snapshot_last_success_timestamp_seconds",
            "When an SLM policy of a MeshLogging last took a snapshot successfully (Unix seconds), as last read (every resync); absent until its first success",
            snapshot_last_success.clone(),
        );
        let snapshot_failing = Family::<PolicyLabels, Gauge>::default();
        registry.register(
            "snapshot_failing",
            "1 when an SLM policy's last run failed (a failure and no success since), else 0, as last read (every resync)",
            snapshot_failing.clone(),
        );
        Self {
            registry,
            newest_log_age,
            ilm_errors,
            snapshot_last_success,
            snapshot_failing,
            snapshot_policies: Mutex::default(),
            in_flight,
            es_queued,
            es_running,
            first_wait,
            reconciles,
            reconcile_duration,
            es_requests,
            sync_failures,
            resources,
            conditions,
            phases: Mutex::default(),
        }
    }
}

impl Metrics {
    /// Starts timing a reconcile; the guard records the duration when dropped.
    pub fn reconcile_timer(&self) -> ReconcileTimer<'_> {
        self.in_flight.inc();
        ReconcileTimer {
            metrics: self,
            start: Instant::now(),
        }
    }

    /// An Elasticsearch pass joined the queue.
    pub fn es_pass_queued(&self) {
        self.es_queued.inc();
    }

    /// A queued Elasticsearch pass got a worker.
    pub fn es_pass_started(&self) {
        self.es_queued.dec();
        self.es_running.inc();
    }

    /// A running Elasticsearch pass finished.
    pub fn es_pass_finished(&self) {
        self.es_running.dec();
    }

    /// Records how long a new resource waited for its first reconcile.
    pub fn first_reconcile_wait(&self, seconds: f64) {
        self.first_wait.observe(seconds);
    }

    /// Counts a finished reconcile.
    pub fn reconciled(&self, result: &'static str) {
        self.reconciles
            .get_or_create(&ResultLabels {
                result: result.to_string(),
            })
            .inc();
    }

    /// Counts one Elasticsearch request.
    pub fn es_request(&self, api: &'static str, status: Option<u16>) {
        let status = status.map_or_else(|| "none".to_string(), |s| s.to_string());
        self.es_requests
            .get_or_create(&EsRequestLabels {
                api: api.to_string(),
                status,
            })
            .inc();
    }

    /// Counts an object that failed to apply.
    pub fn sync_failure(&self, kind: &'static str, reason: Reason) {
        self.sync_failures
            .get_or_create(&SyncFailureLabels {
                kind: kind.to_string(),
                reason: reason.as_str().to_string(),
            })
            .inc();
    }

    /// Records the phase and conditions of a resource.
    pub fn observe_status(&self, namespace: &str, name: &str, status: &MeshLoggingStatus) {
        for c in &status.conditions {
            self.conditions
                .get_or_create(&ConditionLabels {
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                    condition: c.type_.clone(),
                })
                .set(i64::from(c.status == "True"));
        }
        let Ok(mut phases) = self.phases.lock() else {
            return;
        };
        match status.phase {
            Some(p) => phases.insert((namespace.to_string(), name.to_string()), p),
            None => phases.remove(&(namespace.to_string(), name.to_string())),
        };
        self.publish_phases(&phases);
    }

    /// Records the age of the newest log of `namespace/name` (`None`: no log, or not read).
    pub fn newest_log_age(&self, namespace: &str, name: &str, age: Option<Duration>) {
        let labels = ResourceLabels::of(namespace, name);
        match age {
            Some(age) => {
                self.newest_log_age
                    .get_or_create(&labels)
                    .set(age.as_secs_f64());
            }
            None => {
                self.newest_log_age.remove(&labels);
            }
        }
    }

    /// Records how many indices of `namespace/name` are in ILM's `ERROR` step (`None`:
    /// not read).
    pub fn ilm_errors(&self, namespace: &str, name: &str, count: Option<usize>) {
        let labels = ResourceLabels::of(namespace, name);
        match count {
            Some(n) => {
                self.ilm_errors
                    .get_or_create(&labels)
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
            None => {
                self.ilm_errors.remove(&labels);
            }
        }
    }

    /// Records the SLM policy `policy` of `namespace/name`: when it last succeeded (`None`:
    /// never, the series is absent) and whether its last run failed.
    pub fn snapshot_policy(
        &self,
        namespace: &str,
        name: &str,
        policy: &str,
        last_success: Option<k8s_openapi::jiff::Timestamp>,
        failing: bool,
    ) {
        let labels = PolicyLabels {
            namespace: namespace.to_string(),
            name: name.to_string(),
            policy: policy.to_string(),
        };
        match last_success {
            Some(t) => {
                self.snapshot_last_success
                    .get_or_create(&labels)
                    .set(t.as_second());
            }
            None => {
                self.snapshot_last_success.remove(&labels);
            }
        }
        self.snapshot_failing
            .get_or_create(&labels)
            .set(i64::from(failing));
        if let Ok(mut known) = self.snapshot_policies.lock() {
            known
                .entry((namespace.to_string(), name.to_string()))
                .or_default()
                .insert(policy.to_string());
        }
    }

    /// Forgets the SLM policies of `namespace/name` that are not in `policies` (removed
    /// from its spec).
    pub fn retain_snapshot_policies(&self, namespace: &str, name: &str, policies: &[&str]) {
        let gone: Vec<String> = match self.snapshot_policies.lock() {
            Ok(mut known) => {
                let key = (namespace.to_string(), name.to_string());
                let Some(set) = known.get_mut(&key) else {
                    return;
                };
                let gone = set
                    .iter()
                    .filter(|p| !policies.contains(&p.as_str()))
                    .cloned()
                    .collect();
                set.retain(|p| policies.contains(&p.as_str()));
                gone
            }
            Err(_) => return,
        };
        self.remove_policies(namespace, name, gone);
    }

    /// Removes the snapshot series of `policies` of one resource.
    fn remove_policies(
        &self,
        namespace: &str,
        name: &str,
        policies: impl IntoIterator<Item = String>,
    ) {
        for policy in policies {
            let labels = PolicyLabels {
                namespace: namespace.to_string(),
                name: name.to_string(),
                policy,
            };
            self.snapshot_last_success.remove(&labels);
            self.snapshot_failing.remove(&labels);
        }
    }

    /// Forgets a deleted resource.
    pub fn forget(&self, namespace: &str, name: &str) {
        self.newest_log_age(namespace, name, None);
        self.ilm_errors(namespace, name, None);
        let policies = self
            .snapshot_policies
            .lock()
            .ok()
            .and_then(|mut k| k.remove(&(namespace.to_string(), name.to_string())))
            .unwrap_or_default();
        self.remove_policies(namespace, name, policies);
        for condition in crate::api::condition::ALL {
            self.conditions.remove(&ConditionLabels {
                namespace: namespace.to_string(),
                name: name.to_string(),
                condition: condition.to_string(),
            });
        }
        let Ok(mut phases) = self.phases.lock() else {
            return;
        };
        phases.remove(&(namespace.to_string(), name.to_string()));
        self.publish_phases(&phases);
    }

    fn publish_phases(&self, phases: &BTreeMap<(String, String), Phase>) {
        for phase in [
            Phase::Pending,
            Phase::Provisioning,
            Phase::Configuring,
            Phase::Ready,
            Phase::Degraded,
            Phase::Scaling,
            Phase::Upgrading,
            Phase::Restarting,
        ] {
            let n = phases.values().filter(|p| **p == phase).count();
            self.resources
                .get_or_create(&PhaseLabels {
                    phase: phase.as_str().to_string(),
                })
                .set(n as i64);
        }
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Records a reconcile's duration when dropped.
pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    start: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics.in_flight.dec();
        self.metrics
            .reconcile_duration
            .observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_in_prometheus_text_format() {
        let m = Metrics::default();
        m.reconciled("success");
        m.es_request("ilm", Some(200));
        m.es_request("ilm", None);
        {
            let _t = m.reconcile_timer();
            assert!(m.render().contains("meshlogging_reconciles_in_flight 1"));
        }
        m.es_pass_queued();
        m.es_pass_queued();
        m.es_pass_started();
        let text = m.render();
        assert!(
            text.contains("meshlogging_elasticsearch_passes_queued 1"),
            "{text}"
        );
        assert!(
            text.contains("meshlogging_elasticsearch_passes_running 1"),
            "{text}"
        );
        m.es_pass_finished();
        assert!(
            m.render()
                .contains("meshlogging_elasticsearch_passes_running 0")
        );
        m.first_reconcile_wait(42.0);
        let text = m.render();
        assert!(
            text.contains("meshlogging_reconciles_in_flight 0"),
            "{text}"
        );
        assert!(
            text.contains("meshlogging_first_reconcile_wait_seconds_count 1"),
            "{text}"
        );
        assert!(
            text.contains("meshlogging_reconciliations_total{result=\"success\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "meshlogging_elasticsearch_requests_total{api=\"ilm\",status=\"none\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("meshlogging_reconcile_duration_seconds_count 1"),
            "{text}"
        );
    }
}
