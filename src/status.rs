//! Status, computed purely from what one reconcile observed, then compared with the
//! current status so that nothing is written when nothing changed (`lastTransitionTime`
//! only moves on a real transition, so an unchanged pass computes an equal status).
//!
//! `pipeline.rs` judges the pipeline's own conditions (`LogsFlowing`,
//! `IndexLifecycleHealthy`, `DiskHealthy`) from the Elasticsearch pass's reads, and
//! `snapshots.rs` `SnapshotsHealthy`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::{
    AppliedStatus, ElasticsearchStatus, MeshLoggingStatus, Phase, WorkloadStatus, condition,
};
use crate::elastic::pipeline::{DiskIndicator, IlmError, LogFlow};
use crate::elastic::snapshots::SnapshotHealth;
use crate::elastic::sync::{Failure, Kind, SyncReport};
use crate::reason::Reason;
pub use dashboards::DashboardsObservation;
use dashboards::{dashboards_condition, dashboards_status, saved_objects};
use pipeline::{
    disk_condition, lifecycle_condition, lifecycle_errors, logs_condition, logs_status,
    silent_collector_nodes,
};
use snapshots::{snapshots_condition, snapshots_status};

mod dashboards;
mod operation;
mod pipeline;
mod snapshots;

pub use operation::Operation;

/// How Elasticsearch looked this pass.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EsObservation {
    /// Managed mode: nodes desired and ready (from the StatefulSet).
    pub nodes: Option<(i32, i32)>,
    /// Health colour, when it answered.
    pub health: Option<String>,
    /// Why it could not be asked or did not answer: (reason, message).
    pub unavailable: Option<(Reason, String)>,
    /// The REST endpoint.
    pub endpoint: Option<String>,
    /// Version it reported.
    pub version: Option<String>,
    /// Primary shards assigned to no node, when the cluster reports it.
    pub unassigned_primaries: Option<u64>,
    /// The flow of logs into the write alias, when it was read (or why it could not be).
    pub logs: Option<Result<LogFlow, String>>,
    /// The backing indices in ILM's `ERROR` step, when read (not where the cluster has no
    /// ILM), or why they could not be: (reason, message).
    pub ilm: Option<Result<Vec<IlmError>, (Reason, String)>>,
    /// Elasticsearch's disk health indicator, when read (`None` inside when the cluster
    /// does not serve it), or why it could not be: (reason, message).
    pub disk: Option<Result<Option<DiskIndicator>, (Reason, String)>>,
    /// The SLM policies and repository verifications, when read (only where the spec asks
    /// for snapshots), or why they could not be: (reason, message).
    pub snapshots: Option<Result<SnapshotHealth, (Reason, String)>>,
    /// The fingerprint of the keystore content every node reloaded in this pass (managed
    /// mode): kept in the status so that it is not sent again.
    pub secure_settings_reloaded: Option<String>,
}

/// Everything one reconcile observed.
#[derive(Clone, Debug, Default)]
pub struct Observations {
    /// `metadata.generation` of the resource.
    pub generation: Option<i64>,
    /// Validation errors of the spec, if any.
    pub invalid: Option<String>,
    /// Children the API server refused (`Kind/name: message`).
    pub rejected: Vec<String>,
    /// Objects with a child's or generated Secret's name that belong to someone else
    /// (`Kind/name`): left alone, never taken over.
    pub conflicts: Vec<String>,
    /// Elasticsearch.
    pub elasticsearch: EsObservation,
    /// Kibana replicas (desired, ready); `None` when disabled.
    pub kibana: Option<(i32, i32)>,
    /// Collector pods (desired, ready).
    pub collector: (i32, i32),
    /// The nodes whose collector pod is Ready, with when it became Ready (from the pods'
    /// cache; empty when unknown).
    pub collector_nodes: Vec<(String, k8s_openapi::jiff::Timestamp)>,
    /// The sync report, when sync ran.
    pub sync: Option<SyncReport>,
    /// Repositories whose credentials are missing: (repository, why).
    pub missing_credentials: Vec<(String, String)>,
    /// Whether the spec wants snapshots at all.
    pub snapshots_wanted: bool,
    /// The write alias name.
    pub alias: String,
    /// Whether the spec wants the dashboards in Kibana.
    pub dashboards_wanted: bool,
    /// What the Kibana step of the last Elasticsearch pass saw and did, when one ran.
    pub dashboards: Option<DashboardsObservation>,
    /// The log dashboard's URL for people (Ingress host), when there is one.
    pub dashboard_url: Option<String>,
    /// Day-2 operations of the managed cluster in progress or refused (volume
    /// expansion, scale-down).
    pub operations: Vec<Operation>,
}

/// Computes the status. `previous` supplies `lastTransitionTime` of unchanged conditions
/// and the applied objects when sync did not run; `now` stamps real transitions.
pub fn compute(
    previous: Option<&MeshLoggingStatus>,
    obs: &Observations,
    now: &Time,
) -> MeshLoggingStatus {
    let prev_conditions = previous.map(|s| s.conditions.as_slice()).unwrap_or(&[]);
    let generation = obs.generation;
    let cond = |type_: &str, v: Verdict| {
        let status = match (v.unknown, v.ok) {
            (true, _) => "Unknown",
            (false, true) => "True",
            (false, false) => "False",
        };
        let last = prev_conditions
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| now.clone());
        Condition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: v.reason.as_str().to_string(),
            message: v.message,
            observed_generation: generation,
            last_transition_time: last,
        }
    };

    if let Some(errors) = &obs.invalid {
        let mut status = previous.cloned().unwrap_or_default();
        status.observed_generation = generation;
        status.phase = Some(Phase::Degraded);
        let ready = cond(
            condition::READY,
            Verdict::new(false, Reason::InvalidSpec, errors.clone()),
        );
        status.conditions.retain(|c| c.type_ != condition::READY);
        status.conditions.push(ready);
        return status;
    }

    let es = &obs.elasticsearch;
    let es_ready = elasticsearch_condition(es);
    let kibana = match obs.kibana {
        None => Verdict::new(true, Reason::Disabled, "Kibana is disabled".to_string()),
        Some((desired, ready)) => workload("Kibana", desired, ready),
    };
    let collector = workload("collector", obs.collector.0, obs.collector.1);
    let indices = sync_condition(obs, false);
    let snapshots = if !obs.snapshots_wanted {
        Verdict::new(
            true,
            Reason::NoneRequested,
            "no snapshot repositories or policies requested".to_string(),
        )
    } else if let Some((repo, why)) = obs.missing_credentials.first() {
        Verdict::new(
            false,
            Reason::CredentialsMissing,
            format!("snapshot repository {repo}: {why}"),
        )
    } else {
        sync_condition(obs, true)
    };

    let rejected = Verdict::new(
        obs.rejected.is_empty(),
        Reason::ApplyRejected,
        format!("the API server refused {}", obs.rejected.join("; ")),
    );
    let conflicts = Verdict::new(
        obs.conflicts.is_empty(),
        Reason::Conflict,
        format!(
            "not taking over {}: it exists without this MeshLogging's owner reference (delete or rename it)",
            obs.conflicts.join(", ")
        ),
    );
    let refused = operation::refusal(&obs.operations);
    // Ready is the first of these that fails.
    let ready = [
        &conflicts, &rejected, &refused, &es_ready, &indices, &snapshots, &kibana, &collector,
    ]
    .into_iter()
    .find(|v| !v.ok)
    .cloned()
    .unwrap_or_else(|| {
        Verdict::new(
            true,
            Reason::Ready,
            "the logging stack is ready".to_string(),
        )
    });
    let hard_failure = [indices.reason, snapshots.reason].iter().any(|r| {
        !matches!(
            r,
            Reason::Applied | Reason::NoneRequested | Reason::WaitingForElasticsearch
        )
    });

    let silent = match &es.logs {
        Some(Ok(flow)) => silent_collector_nodes(flow, &obs.collector_nodes),
        _ => Vec::new(),
    };
    let logs = logs_condition(es, &silent);
    let lifecycle = lifecycle_condition(es);
    let disk = disk_condition(es);
    let snapshots_health = snapshots_condition(es, obs.snapshots_wanted);
    let dashboards = dashboards_condition(
        obs.dashboards_wanted,
        obs.dashboards.as_ref(),
        prev_conditions,
    );
    let was = previous.and_then(|s| s.phase);
    // A rolling restart takes a node away at a time: ElasticsearchReady goes False while
    // it does, and the phase says why.
    let rolling = obs
        .operations
        .iter()
        .filter(|o| !o.refused)
        .find_map(|o| match o.reason {
            Reason::Upgrading => Some(Phase::Upgrading),
            Reason::Restarting => Some(Phase::Restarting),
            _ => None,
        });
    let phase = if let Some(p) =
        rolling.filter(|_| obs.rejected.is_empty() && obs.conflicts.is_empty() && refused.ok)
    {
        p
    } else if ready.ok
        && [&logs, &lifecycle, &disk, &snapshots_health]
            .iter()
            .any(|v| !v.ok && !v.unknown)
    {
        // The stack exists but does not do its job.
        Phase::Degraded
    } else if ready.ok
        && obs
            .operations
            .iter()
            .any(|o| !o.refused && o.reason != Reason::ReloadingSecureSettings)
    {
        Phase::Scaling
    } else if ready.ok {
        Phase::Ready
    } else if !obs.rejected.is_empty() || !obs.conflicts.is_empty() || !refused.ok {
        Phase::Degraded
    } else if !es_ready.ok {
        match was {
            Some(Phase::Ready | Phase::Degraded | Phase::Configuring) => Phase::Degraded,
            _ => Phase::Provisioning,
        }
    } else if hard_failure && !(indices.ok && snapshots.ok) {
        Phase::Degraded
    } else if !(indices.ok && snapshots.ok) {
        Phase::Configuring
    } else {
        Phase::Provisioning
    };

    let conditions = vec![
        cond(condition::READY, ready),
        cond(condition::ELASTICSEARCH_READY, es_ready),
        cond(condition::KIBANA_READY, kibana),
        cond(condition::COLLECTOR_READY, collector),
        cond(condition::INDEX_MANAGEMENT_APPLIED, indices),
        cond(condition::SNAPSHOTS_CONFIGURED, snapshots),
        cond(condition::LOGS_FLOWING, logs),
        cond(condition::INDEX_LIFECYCLE_HEALTHY, lifecycle),
        cond(condition::DISK_HEALTHY, disk),
        cond(condition::SNAPSHOTS_HEALTHY, snapshots_health),
        cond(condition::DASHBOARDS_READY, dashboards),
        cond(
            condition::PROGRESSING,
            operation::progressing_condition(&obs.operations),
        ),
    ];

    let applied = match &obs.sync {
        Some(report) => Some(report.applied(
            &obs.alias,
            &previous.and_then(|s| s.applied.clone()).unwrap_or_default(),
        )),
        None => previous.and_then(|s| s.applied.clone()),
    }
    .map(|mut a| {
        a.saved_objects = saved_objects(obs.dashboards.as_ref(), &a.saved_objects);
        a
    })
    .or_else(|| {
        let objects = saved_objects(obs.dashboards.as_ref(), &[]);
        (!objects.is_empty()).then(|| AppliedStatus {
            saved_objects: objects,
            ..Default::default()
        })
    })
    .filter(|a| *a != AppliedStatus::default());

    MeshLoggingStatus {
        observed_generation: generation,
        phase: Some(phase),
        operation: operation::operation_status(
            &obs.operations,
            previous.and_then(|s| s.operation.as_ref()),
            now,
        ),
        conditions,
        elasticsearch: Some(ElasticsearchStatus {
            health: Some(es.health.clone().unwrap_or_else(|| "unknown".to_string())),
            ready: es.nodes.map(|(d, r)| format!("{r}/{d}")),
            ready_replicas: es.nodes.map(|(_, r)| r),
            replicas: es.nodes.map(|(d, _)| d),
            endpoint: es.endpoint.clone(),
            // The version last reported: a cluster that formed once keeps it while it
            // does not answer (rendering reads it: a formed cluster is never bootstrapped
            // again).
            version: es.version.clone().or_else(|| {
                previous
                    .and_then(|s| s.elasticsearch.as_ref())
                    .and_then(|e| e.version.clone())
            }),
            secure_settings_reloaded: es.secure_settings_reloaded.clone().or_else(|| {
                previous
                    .and_then(|s| s.elasticsearch.as_ref())
                    .and_then(|e| e.secure_settings_reloaded.clone())
            }),
        }),
        kibana: obs.kibana.map(|(d, r)| workload_status(d, r)),
        collector: Some(workload_status(obs.collector.0, obs.collector.1)),
        applied,
        logs: match &es.logs {
            Some(Ok(flow)) => Some(logs_status(flow, &silent)),
            _ => previous.and_then(|s| s.logs.clone()),
        },
        lifecycle_errors: match &es.ilm {
            Some(Ok(errors)) => lifecycle_errors(errors),
            _ => previous
                .map(|s| s.lifecycle_errors.clone())
                .unwrap_or_default(),
        },
        snapshots: match &es.snapshots {
            Some(Ok(h)) => snapshots_status(h),
            _ if !obs.snapshots_wanted => Vec::new(),
            _ => previous.map(|s| s.snapshots.clone()).unwrap_or_default(),
        },
        dashboards: dashboards_status(obs.dashboard_url.as_deref()),
    }
}

/// Whether `new` differs from `old` in anything but transition timestamps.
pub fn changed(old: Option<&MeshLoggingStatus>, new: &MeshLoggingStatus) -> bool {
    let strip = |s: &MeshLoggingStatus| {
        let mut s = s.clone();
        for c in &mut s.conditions {
            c.last_transition_time = Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
        }
        s.conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
        s
    };
    match old {
        None => true,
        Some(old) => strip(old) != strip(new),
    }
}

fn workload_status(desired: i32, ready: i32) -> WorkloadStatus {
    WorkloadStatus {
        ready: Some(format!("{ready}/{desired}")),
        ready_replicas: Some(ready),
        replicas: Some(desired),
    }
}

/// One condition before it is stamped with its type, generation and transition time.
#[derive(Clone, Debug)]
struct Verdict {
    ok: bool,
    /// Status `Unknown`: not observed (yet); `ok` is false.
    unknown: bool,
    reason: Reason,
    message: String,
}

impl Verdict {
    fn new(ok: bool, reason: Reason, message: String) -> Self {
        Self {
            ok,
            unknown: false,
            reason,
            message,
        }
    }

    fn unknown(reason: Reason, message: String) -> Self {
        Self {
            ok: false,
            unknown: true,
            reason,
            message,
        }
    }
}

fn workload(what: &str, desired: i32, ready: i32) -> Verdict {
    let ok = ready >= desired;
    let reason = if ok {
        Reason::Available
    } else {
        Reason::Progressing
    };
    Verdict::new(ok, reason, format!("{what}: {ready}/{desired} ready"))
}

/// The ElasticsearchReady condition. Over `http://` (admitted only with
/// `external.insecure: true`) a healthy cluster reads `InsecureTransport`, and every
/// message says that credentials travel in cleartext.
fn elasticsearch_condition(es: &EsObservation) -> Verdict {
    let health = elasticsearch_health(es);
    if !es
        .endpoint
        .as_deref()
        .is_some_and(|e| e.starts_with("http://"))
    {
        return health;
    }
    let warning = "the connection is plain http:// (spec.elasticsearch.external.insecure): credentials and generated passwords travel in cleartext";
    let reason = if health.ok {
        Reason::InsecureTransport
    } else {
        health.reason
    };
    let message = format!("{}; {warning}", health.message);
    Verdict::new(health.ok, reason, message)
}

fn elasticsearch_health(es: &EsObservation) -> Verdict {
    if let Some((reason, message)) = &es.unavailable {
        let reason = match reason {
            Reason::ElasticsearchUnreachable
            | Reason::Unauthorized
            | Reason::CredentialsMissing
            | Reason::UnsupportedVersion => *reason,
            _ => Reason::ElasticsearchError,
        };
        return Verdict::new(false, reason, message.clone());
    }
    if let Some((desired, ready)) = es.nodes
        && ready < desired
    {
        return Verdict::new(
            false,
            Reason::NodesNotReady,
            format!("Elasticsearch: {ready}/{desired} nodes ready"),
        );
    }
    let (ok, reason, message) = match es.health.as_deref() {
        Some("green") => (true, Reason::Green, "cluster health is green"),
        Some("yellow") => (
            true,
            Reason::Yellow,
            "cluster health is yellow: all primaries assigned, some replicas are not",
        ),
        Some("red") => (
            false,
            Reason::Red,
            "cluster health is red: some primary shards are unassigned",
        ),
        _ => (
            false,
            Reason::WaitingForElasticsearch,
            "Elasticsearch has not answered yet",
        ),
    };
    if let (Reason::Red, Some(n @ 1..)) = (reason, es.unassigned_primaries) {
        let message = format!(
            "cluster health is red: {n} primary shard{} unassigned (their indices take no writes)",
            if n == 1 { " is" } else { "s are" }
        );
        return Verdict::new(ok, reason, message);
    }
    Verdict::new(ok, reason, message.to_string())
}

/// The condition of the index management (`snapshots == false`) or snapshot kinds.
fn sync_condition(obs: &Observations, snapshots: bool) -> Verdict {
    let Some(report) = &obs.sync else {
        let (reason, message) = match &obs.elasticsearch.unavailable {
            Some((reason, message)) => (*reason, message.clone()),
            None => (
                Reason::WaitingForElasticsearch,
                "waiting for Elasticsearch to report health yellow or green".to_string(),
            ),
        };
        return Verdict::new(false, reason, message);
    };
    if let Some(aborted) = &report.aborted {
        return Verdict::new(false, aborted.reason, aborted.message.clone());
    }
    let failures: Vec<(Kind, Failure)> = report.failures(|k| k.is_snapshot() == snapshots);
    if let Some((kind, f)) = failures.first() {
        let more = if failures.len() > 1 {
            format!(" (and {} more)", failures.len() - 1)
        } else {
            String::new()
        };
        return Verdict::new(
            false,
            f.reason,
            format!("{kind} {}: {}{more}", f.name, f.message),
        );
    }
    // Not aborted (that is a failure above), so the report alone says what is owned.
    let applied = report.applied(&obs.alias, &AppliedStatus::default());
    let message = if snapshots {
        format!(
            "repositories [{}], SLM policies [{}]",
            applied.snapshot_repositories.join(", "),
            applied.slm_policies.join(", ")
        )
    } else {
        format!(
            "ILM policy [{}], index template [{}], write alias {} -> {}",
            applied.ilm_policies.join(", "),
            applied.index_templates.join(", "),
            applied.write_alias.as_deref().unwrap_or("-"),
            applied.write_index.as_deref().unwrap_or("-"),
        )
    };
    Verdict::new(true, Reason::Applied, message)
}

#[cfg(test)]
mod tests;
