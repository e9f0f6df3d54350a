//! The `SnapshotsHealthy` condition and `status.snapshots` (pure), from what the
//! Elasticsearch pass read (`elastic::snapshots`): a failing policy first (quoting
//! Elasticsearch), then a repository that does not verify, then a policy that has produced
//! no snapshot within twice its schedule's interval. Judged at the time of the read, so
//! the status does not change between reads.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::{EsObservation, Verdict};
use crate::api::SnapshotPolicyStatus;
use crate::elastic::snapshots::{SlmPolicyState, SnapshotHealth};
use crate::reason::Reason;

/// A timestamp in whole seconds: what a metav1.Time keeps, so that the status read back
/// compares equal.
fn seconds(t: Timestamp) -> Time {
    Time(Timestamp::from_second(t.as_second()).unwrap_or(t))
}

fn more(n: usize) -> String {
    match n {
        0 | 1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        _ if s >= 86_400 && s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        _ if s >= 3600 && s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ if s >= 60 && s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

/// Why `p` has gone without a snapshot for longer than twice its interval at `now`, if it
/// has: since its last success, or since it was written when it never succeeded.
fn overdue(p: &SlmPolicyState, now: Timestamp) -> Option<String> {
    let allowed = p.interval? * 2;
    let since = p.last_success.or(p.modified)?;
    let age = now.as_millisecond().saturating_sub(since.as_millisecond());
    if u128::try_from(age).unwrap_or(0) <= allowed.as_millis() {
        return None;
    }
    let allowed = human(allowed);
    Some(match p.last_success {
        Some(t) => format!(
            "SLM policy {}: no snapshot since {} (more than twice its interval, {allowed})",
            p.name,
            seconds(t).0
        ),
        None => format!(
            "SLM policy {}: no snapshot since it was set at {} (more than twice its interval, {allowed})",
            p.name,
            seconds(since).0
        ),
    })
}

/// The verdict over what was read.
fn judge(h: &SnapshotHealth) -> Verdict {
    let policies = h.policies.as_deref().unwrap_or_default();
    let failing: Vec<&SlmPolicyState> = policies.iter().filter(|p| p.failing()).collect();
    if let Some(p) = failing.first() {
        let when = p.last_failure.map(|t| seconds(t).0.to_string());
        return Verdict::new(
            false,
            Reason::SnapshotFailed,
            format!(
                "SLM policy {} failed at {}: {}{}",
                p.name,
                when.as_deref().unwrap_or("an unknown time"),
                p.last_failure_reason
                    .as_deref()
                    .unwrap_or("no reason given"),
                more(failing.len())
            ),
        );
    }
    let unverified: Vec<_> = h
        .repositories
        .iter()
        .filter_map(|r| Some((&r.name, r.error.as_ref()?)))
        .collect();
    if let Some((name, error)) = unverified.first() {
        return Verdict::new(
            false,
            Reason::RepositoryUnverified,
            format!(
                "snapshot repository {name} does not verify: {error}{}",
                more(unverified.len())
            ),
        );
    }
    let overdue: Vec<String> = policies
        .iter()
        .filter_map(|p| overdue(p, h.checked_at))
        .collect();
    if let Some(first) = overdue.first() {
        return Verdict::new(
            false,
            Reason::NeverSucceeded,
            format!("{first}{}", more(overdue.len())),
        );
    }
    let message = match &h.policies {
        None if h.repositories.is_empty() => "nothing to check".to_string(),
        None => format!(
            "repositories [{}] verify; the cluster has no SLM, so no policy is read",
            names(h.repositories.iter().map(|r| r.name.as_str()))
        ),
        Some(p) => format!(
            "SLM policies [{}] succeed; repositories [{}] verify",
            names(p.iter().map(|p| p.name.as_str())),
            names(h.repositories.iter().map(|r| r.name.as_str()))
        ),
    };
    Verdict::new(true, Reason::SnapshotsSucceeding, message)
}

fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    it.collect::<Vec<_>>().join(", ")
}

/// The SnapshotsHealthy condition: `True` (`NoneRequested`) when the spec asks for no
/// snapshots; `Unknown` until read.
pub(super) fn snapshots_condition(es: &EsObservation, wanted: bool) -> Verdict {
    if !wanted {
        return Verdict::new(
            true,
            Reason::NoneRequested,
            "no snapshot repositories or policies requested".to_string(),
        );
    }
    match &es.snapshots {
        None => Verdict::unknown(
            Reason::WaitingForElasticsearch,
            "snapshots are checked once Elasticsearch answers and is configured".to_string(),
        ),
        Some(Err((reason, message))) => Verdict::unknown(
            *reason,
            format!("could not read the SLM policies: {message}"),
        ),
        Some(Ok(h)) => judge(h),
    }
}

/// `status.snapshots` from a read.
pub(super) fn snapshots_status(h: &SnapshotHealth) -> Vec<SnapshotPolicyStatus> {
    h.policies
        .iter()
        .flatten()
        .map(|p| SnapshotPolicyStatus {
            policy: p.name.clone(),
            last_success: p.last_success.map(seconds),
            last_failure: p.last_failure.map(seconds),
            last_failure_reason: p.last_failure_reason.clone(),
            next_run: p.next_run.map(seconds),
            snapshots_taken: Some(i64::try_from(p.taken).unwrap_or(i64::MAX)),
            snapshots_failed: Some(i64::try_from(p.failed).unwrap_or(i64::MAX)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elastic::snapshots::RepositoryVerification;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    const DAY: Duration = Duration::from_secs(86_400);

    fn policy(success: Option<&str>, failure: Option<&str>) -> SlmPolicyState {
        SlmPolicyState {
            name: "nightly".into(),
            modified: Some(at("2026-01-01T00:00:00Z")),
            last_success: success.map(at),
            last_failure: failure.map(at),
            last_failure_reason: failure.map(|_| "[backups:n-1] disk full".into()),
            interval: Some(DAY),
            ..SlmPolicyState::default()
        }
    }

    fn health(now: &str, p: SlmPolicyState, repo_error: Option<&str>) -> SnapshotHealth {
        SnapshotHealth {
            checked_at: at(now),
            policies: Some(vec![p]),
            repositories: vec![RepositoryVerification {
                name: "backups".into(),
                at: at(now),
                error: repo_error.map(str::to_string),
            }],
        }
    }

    fn verdict(h: &SnapshotHealth) -> (bool, Reason, String) {
        let v = judge(h);
        (v.ok, v.reason, v.message)
    }

    #[test]
    fn a_failure_after_the_last_success_quotes_elasticsearch() {
        let h = health(
            "2026-01-03T02:00:00Z",
            policy(Some("2026-01-02T01:30:00Z"), Some("2026-01-03T01:30:00Z")),
            Some("unreachable"),
        );
        let (ok, reason, message) = verdict(&h);
        assert_eq!((ok, reason), (false, Reason::SnapshotFailed));
        assert_eq!(
            message,
            "SLM policy nightly failed at 2026-01-03T01:30:00Z: [backups:n-1] disk full"
        );
    }

    #[test]
    fn an_unverified_repository_then_an_overdue_policy() {
        let fresh = policy(Some("2026-01-02T01:30:00Z"), Some("2026-01-01T01:30:00Z"));
        let h = health("2026-01-02T02:00:00Z", fresh.clone(), Some("no access"));
        let (ok, reason, message) = verdict(&h);
        assert_eq!((ok, reason), (false, Reason::RepositoryUnverified));
        assert_eq!(
            message,
            "snapshot repository backups does not verify: no access"
        );
        assert!(verdict(&health("2026-01-02T02:00:00Z", fresh.clone(), None)).0);
        // Two days and a bit after the last success.
        let (ok, reason, message) = verdict(&health("2026-01-04T02:00:00Z", fresh, None));
        assert_eq!((ok, reason), (false, Reason::NeverSucceeded));
        assert!(
            message.contains("no snapshot since 2026-01-02T01:30:00Z"),
            "{message}"
        );
    }

    #[test]
    fn a_policy_that_never_ran_counts_from_when_it_was_set() {
        let never = policy(None, None);
        assert!(verdict(&health("2026-01-02T23:00:00Z", never.clone(), None)).0);
        let (ok, reason, message) = verdict(&health("2026-01-03T01:00:00Z", never, None));
        assert_eq!((ok, reason), (false, Reason::NeverSucceeded));
        assert!(
            message.contains("since it was set at 2026-01-01T00:00:00Z") && message.contains("2d"),
            "{message}"
        );
    }

    #[test]
    fn not_wanted_is_true_and_unread_is_unknown() {
        let es = EsObservation::default();
        assert!(snapshots_condition(&es, false).ok);
        let v = snapshots_condition(&es, true);
        assert!(v.unknown && v.reason == Reason::WaitingForElasticsearch);
    }
}
