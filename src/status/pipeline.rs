//! The conditions of the pipeline itself (pure), from what the Elasticsearch pass read
//! after the sync (`elastic::pipeline`): `LogsFlowing`, `IndexLifecycleHealthy`,
//! `DiskHealthy`, and `status.logs` / `status.lifecycleErrors`. `LogsFlowing` is also
//! False (`NodesSilent`) when logs arrive but not from a node whose collector pod is Ready. Each is judged at the time
//! of its read, so the status does not change between reads.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::{EsObservation, Verdict};
use crate::api::{IndexLifecycleError, LogsStatus};
use crate::elastic::pipeline::{IlmError, LogFlow};
use crate::reason::Reason;

/// Most nodes listed in `status.logs.silentNodes`, and indices in `status.lifecycleErrors`.
const MAX_LISTED: usize = 20;

/// A duration as Elasticsearch writes it, in the largest whole unit (`10m`, `90s`).
fn time_value(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{}ms", d.as_millis()),
        _ if s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        _ if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ if s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

/// The LogsFlowing condition, judged at the time of the read (so that it does not change
/// between reads): blocked indices first (logs cannot arrive), then the newest log's age;
/// without any log, `Unknown` within the threshold of the alias' creation.
pub(super) fn logs_condition(es: &EsObservation, silent: &[String]) -> Verdict {
    let flow = match &es.logs {
        None => {
            return Verdict::unknown(
                Reason::WaitingForElasticsearch,
                "the flow of logs is read once Elasticsearch answers and is configured".to_string(),
            );
        }
        Some(Err(why)) => {
            return Verdict::unknown(
                Reason::ElasticsearchError,
                format!("could not read the flow of logs: {why}"),
            );
        }
        Some(Ok(flow)) => flow,
    };
    let threshold = time_value(flow.threshold);
    if !flow.blocked.is_empty() {
        return Verdict::new(
            false,
            Reason::WriteIndexBlocked,
            format!(
                "{} refuse writes (index.blocks.read_only_allow_delete, set when a node passes the flood-stage disk watermark, or index.blocks.write): the collectors' logs are rejected",
                flow.blocked.join(", ")
            ),
        );
    }
    match (flow.newest, flow.newest_age()) {
        (Some(_), Some(age)) if age <= flow.threshold && !silent.is_empty() => Verdict::new(
            false,
            Reason::NodesSilent,
            format!(
                "logs arrive, but none within the last {threshold} from {} {}, whose collector pod is Ready",
                if silent.len() == 1 { "node" } else { "nodes" },
                listed(silent)
            ),
        ),
        (Some(_), Some(age)) if age <= flow.threshold => Verdict::new(
            true,
            Reason::LogsArriving,
            format!("logs arrived within the last {threshold}"),
        ),
        (Some(newest), _) => Verdict::new(
            false,
            Reason::NoRecentLogs,
            format!(
                "no log arrived since {} (threshold {threshold})",
                Time(newest).0
            ),
        ),
        (None, _) => match flow.created {
            Some(created)
                if flow.checked_at.as_millisecond() - created.as_millisecond()
                    > i64::try_from(flow.threshold.as_millis()).unwrap_or(i64::MAX) =>
            {
                Verdict::new(
                    false,
                    Reason::NoRecentLogs,
                    format!(
                        "no log arrived since the write alias was created at {created} (threshold {threshold})"
                    ),
                )
            }
            _ => Verdict::unknown(
                Reason::AwaitingLogs,
                format!("no log has arrived yet; the write alias is younger than {threshold}"),
            ),
        },
    }
}

/// The IndexLifecycleHealthy condition: the first index in ILM's `ERROR` step, quoting
/// Elasticsearch; `Unknown` when not read (a cluster without ILM says so).
pub(super) fn lifecycle_condition(es: &EsObservation) -> Verdict {
    match &es.ilm {
        None if es.logs.is_some() => Verdict::unknown(
            Reason::NotSupportedByCluster,
            "the cluster has no index lifecycle management (ILM)".to_string(),
        ),
        None => Verdict::unknown(
            Reason::WaitingForElasticsearch,
            "ILM is read once Elasticsearch answers and is configured".to_string(),
        ),
        Some(Err((reason, message))) => Verdict::unknown(
            *reason,
            format!("could not read the ILM state of the indices: {message}"),
        ),
        Some(Ok(errors)) => match errors.first() {
            None => Verdict::new(
                true,
                Reason::NoLifecycleErrors,
                "no index is in an ILM error step".to_string(),
            ),
            Some(e) => {
                let more = match errors.len() {
                    1 => String::new(),
                    n => format!(" (and {} more)", n - 1),
                };
                let step = e.failed_step.as_deref().unwrap_or("a step");
                Verdict::new(
                    false,
                    Reason::IlmStepFailed,
                    format!("index {} failed {step}: {}{more}", e.index, e.reason),
                )
            }
        },
    }
}

/// The DiskHealthy condition: Elasticsearch's own disk indicator, quoted.
pub(super) fn disk_condition(es: &EsObservation) -> Verdict {
    match &es.disk {
        None => Verdict::unknown(
            Reason::WaitingForElasticsearch,
            "the disk health is read once Elasticsearch answers and is configured".to_string(),
        ),
        Some(Err((reason, message))) => Verdict::unknown(
            *reason,
            format!("could not read the disk health: {message}"),
        ),
        Some(Ok(None)) => Verdict::unknown(
            Reason::NotSupportedByCluster,
            "the cluster has no health report (GET /_health_report/disk, 8.7+)".to_string(),
        ),
        Some(Ok(Some(d))) => match d.status.as_str() {
            "green" => Verdict::new(true, Reason::Green, d.symptom.clone()),
            "unknown" => Verdict::unknown(
                Reason::ElasticsearchError,
                format!("Elasticsearch does not know its disk health: {}", d.symptom),
            ),
            colour => Verdict::new(
                false,
                Reason::DiskPressure,
                format!("Elasticsearch reports disk health {colour}: {}", d.symptom),
            ),
        },
    }
}

/// At most [`MAX_LISTED`] names, joined, with how many more there are.
fn listed(names: &[String]) -> String {
    let mut text = names
        .iter()
        .take(MAX_LISTED)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > MAX_LISTED {
        text.push_str(&format!(" (and {} more)", names.len() - MAX_LISTED));
    }
    text
}

/// The nodes whose collector pod has been Ready for longer than the threshold at the time
/// of the read but that sent no log within the threshold (a pod Ready for less has had no
/// time to send one), sorted.
pub(super) fn silent_collector_nodes(flow: &LogFlow, ready: &[(String, Timestamp)]) -> Vec<String> {
    let threshold = i64::try_from(flow.threshold.as_millis()).unwrap_or(i64::MAX);
    let cutoff = flow.checked_at.as_millisecond().saturating_sub(threshold);
    let mut silent: Vec<String> = ready
        .iter()
        .filter(|(_, since)| since.as_millisecond() <= cutoff)
        .filter(|(node, _)| {
            !flow
                .nodes
                .iter()
                .any(|(n, newest)| n == node && newest.as_millisecond() >= cutoff)
        })
        .map(|(node, _)| node.clone())
        .collect();
    silent.sort();
    silent.dedup();
    silent
}

/// `status.logs` from a read, with the silent nodes whose collector pod is Ready.
pub(super) fn logs_status(flow: &LogFlow, ready_silent: &[String]) -> LogsStatus {
    let mut silent: Vec<&str> = flow.silent_nodes();
    let sending = flow.nodes.len() - silent.len();
    silent.extend(ready_silent.iter().map(String::as_str));
    silent.sort_unstable();
    silent.dedup();
    LogsStatus {
        // Whole seconds: what a metav1.Time keeps, so the status read back compares equal.
        newest_timestamp: flow
            .newest
            .and_then(|t| k8s_openapi::jiff::Timestamp::from_second(t.as_second()).ok())
            .map(Time),
        recent: Some(i64::try_from(flow.recent).unwrap_or(i64::MAX)),
        nodes: Some(i32::try_from(sending).unwrap_or(i32::MAX)),
        silent_nodes: silent
            .into_iter()
            .take(MAX_LISTED)
            .map(str::to_string)
            .collect(),
        blocked_indices: flow.blocked.clone(),
    }
}

/// `status.lifecycleErrors` from a read.
pub(super) fn lifecycle_errors(errors: &[IlmError]) -> Vec<IndexLifecycleError> {
    errors
        .iter()
        .take(MAX_LISTED)
        .map(|e| IndexLifecycleError {
            index: e.index.clone(),
            failed_step: e.failed_step.clone(),
            reason: e.reason.clone(),
        })
        .collect()
}
