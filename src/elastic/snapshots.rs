//! Whether snapshots succeed (I/O): the SLM policies' last success, last failure (with
//! Elasticsearch's reason) and next run, their counts, and the verification of the
//! snapshot repositories.
//!
//! ```text
//! GET  /_slm/policy                  last_success, last_failure.details, next_execution_millis
//! GET  /_slm/stats                   policy_stats: snapshots_taken, snapshots_failed
//! POST /_snapshot/<repo>/_verify     after the repository changed, after a failed
//!                                    verification, and daily; never on an idle pass
//! ```
//!
//! The two SLM reads run on every pass where the spec asks for snapshot policies and the
//! cluster has SLM (the integration-test distribution of Elasticsearch has no SLM module:
//! there, and in the tests, these reads are answered by the stand-in only). `_verify` is a
//! POST that makes every node write and delete a test blob in the repository: it leaves
//! nothing behind, but it is not a read either, so the operator sends it only when there
//! is something to verify (see [`verification_due`]) and an idle pass sends none.
//! Answers are parsed purely ([`parse_policies`], [`parse_stats`]).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use super::client::{EsClient, EsError};

/// What `GET /_slm/policy` and `GET /_slm/stats` say of one policy.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SlmPolicyState {
    /// The policy id.
    pub name: String,
    /// When the policy was last written (`modified_date_millis`): its runs count from here.
    pub modified: Option<Timestamp>,
    /// When its last successful snapshot was taken.
    pub last_success: Option<Timestamp>,
    /// When its last run failed.
    pub last_failure: Option<Timestamp>,
    /// Elasticsearch's reason for that failure (from `last_failure.details`).
    pub last_failure_reason: Option<String>,
    /// When it runs next (`next_execution_millis`).
    pub next_run: Option<Timestamp>,
    /// Snapshots taken (`_slm/stats`, since the master last started).
    pub taken: u64,
    /// Runs failed (`_slm/stats`).
    pub failed: u64,
    /// The interval of its schedule (from the spec's cron), when known.
    pub interval: Option<Duration>,
}

impl SlmPolicyState {
    /// Whether its last run failed: a failure and no success since.
    pub fn failing(&self) -> bool {
        match (self.last_failure, self.last_success) {
            (Some(f), Some(s)) => f > s,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

/// The verification of one repository, as last done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositoryVerification {
    /// The repository.
    pub name: String,
    /// When it was verified.
    pub at: Timestamp,
    /// Why it could not be verified (`None`: every node could write to it).
    pub error: Option<String>,
}

/// What the snapshot reads saw, at `checked_at`.
#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotHealth {
    /// When the SLM reads ran.
    pub checked_at: Timestamp,
    /// The spec's policies, in its order, as Elasticsearch reports them; `None` where the
    /// cluster has no SLM.
    pub policies: Option<Vec<SlmPolicyState>>,
    /// The spec's repositories' last verification (in the spec's order).
    pub repositories: Vec<RepositoryVerification>,
}

fn millis(v: Option<&Value>) -> Option<Timestamp> {
    Timestamp::from_millisecond(v?.as_i64()?).ok()
}

/// Elasticsearch's reason in `last_failure.details`: the exception as a JSON string
/// (`{"type": .., "reason": .., "caused_by": ..}`), its reason and the root cause's; the
/// text as given when it is not JSON.
pub fn failure_reason(details: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(details) else {
        return details.to_string();
    };
    let text = |v: &Value| {
        v.get("reason")
            .and_then(Value::as_str)
            .or_else(|| v.get("type").and_then(Value::as_str))
            .map(str::to_string)
    };
    let Some(reason) = text(&v) else {
        return details.to_string();
    };
    let mut cause = &v;
    while let Some(next) = cause.get("caused_by") {
        cause = next;
    }
    match text(cause) {
        Some(root) if !std::ptr::eq(cause, &v) && root != reason => {
            format!("{reason} (caused by: {root})")
        }
        _ => reason,
    }
}

/// The policies `wanted` (in that order) from a `GET /_slm/policy` answer; a wanted
/// policy Elasticsearch does not have is left out (the sync reports it).
pub fn parse_policies(body: &Value, wanted: &[&str]) -> Vec<SlmPolicyState> {
    wanted
        .iter()
        .filter_map(|name| {
            let p = body.get(*name)?;
            let failure = p.get("last_failure");
            Some(SlmPolicyState {
                name: (*name).to_string(),
                modified: millis(p.get("modified_date_millis")),
                last_success: millis(p.pointer("/last_success/time_millis"))
                    .or_else(|| millis(p.pointer("/last_success/time"))),
                last_failure: failure
                    .and_then(|f| millis(f.get("time_millis")).or_else(|| millis(f.get("time")))),
                last_failure_reason: failure.map(|f| {
                    f.get("details")
                        .and_then(Value::as_str)
                        .map_or_else(|| "no details given".to_string(), failure_reason)
                }),
                next_run: millis(p.get("next_execution_millis")),
                taken: p
                    .pointer("/stats/snapshots_taken")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                failed: p
                    .pointer("/stats/snapshots_failed")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                interval: None,
            })
        })
        .collect()
}

/// Per policy, `(snapshots_taken, snapshots_failed)` from a `GET /_slm/stats` answer.
pub fn parse_stats(body: &Value) -> BTreeMap<String, (u64, u64)> {
    body.get("policy_stats")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let count = |k| s.get(k).and_then(Value::as_u64).unwrap_or(0);
            Some((
                s.get("policy")?.as_str()?.to_string(),
                (count("snapshots_taken"), count("snapshots_failed")),
            ))
        })
        .collect()
}

/// Reads the SLM state of `policies` (name, schedule interval): `GET /_slm/policy` and
/// `GET /_slm/stats`, the counts from the latter.
pub async fn read_policies(
    client: &EsClient,
    policies: &[(&str, Option<Duration>)],
) -> Result<Vec<SlmPolicyState>, EsError> {
    let body = client
        .get("slm.get_lifecycle", "/_slm/policy")
        .await?
        .unwrap_or(Value::Null);
    let names: Vec<&str> = policies.iter().map(|(n, _)| *n).collect();
    let mut states = parse_policies(&body, &names);
    let stats = client
        .get("slm.get_stats", "/_slm/stats")
        .await?
        .map(|b| parse_stats(&b))
        .unwrap_or_default();
    for s in &mut states {
        if let Some((taken, failed)) = stats.get(&s.name) {
            (s.taken, s.failed) = (*taken, *failed);
        }
        s.interval = policies
            .iter()
            .find(|(n, _)| *n == s.name)
            .and_then(|(_, i)| *i);
    }
    Ok(states)
}

/// `POST /_snapshot/<repository>/_verify`: `None` when every node can use it, else
/// Elasticsearch's error (a stable message: the same failure reads the same each time).
pub async fn verify_repository(client: &EsClient, repository: &str) -> Option<String> {
    let path = format!("/_snapshot/{repository}/_verify");
    match client.post_empty("snapshot.verify_repository", &path).await {
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    }
}

/// Whether a repository is verified again: never verified, its definition changed since
/// (`fingerprint`), the sync just wrote it, the last verification failed, or it is older
/// than `interval` (daily by default).
pub fn verification_due(
    last: Option<(&str, &RepositoryVerification)>,
    fingerprint: &str,
    written: bool,
    now: Timestamp,
    interval: Duration,
) -> bool {
    let Some((last_fingerprint, last)) = last else {
        return true;
    };
    let age = now
        .as_millisecond()
        .saturating_sub(last.at.as_millisecond());
    written
        || last_fingerprint != fingerprint
        || last.error.is_some()
        || u128::try_from(age).unwrap_or(0) >= interval.as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn policies_are_read_in_the_wanted_order_with_the_failure_reason() {
        let details = json!({"type": "snapshot_exception", "reason": "[backups:nightly-1] failed",
            "caused_by": {"type": "i_o_exception", "reason": "disk full"}})
        .to_string();
        let body = json!({
            "other": {"version": 1},
            "nightly": {
                "version": 2, "modified_date_millis": 1000,
                "last_success": {"snapshot_name": "n-0", "start_time_millis": 1500, "time_millis": 2000},
                "last_failure": {"snapshot_name": "n-1", "time_millis": 3000, "details": details},
                "next_execution_millis": 86_400_000,
                "stats": {"snapshots_taken": 1, "snapshots_failed": 1}
            }
        });
        let got = parse_policies(&body, &["nightly", "missing"]);
        assert_eq!(got.len(), 1);
        let p = &got[0];
        assert_eq!(p.last_success, Timestamp::from_millisecond(2000).ok());
        assert_eq!(p.last_failure, Timestamp::from_millisecond(3000).ok());
        assert_eq!(
            p.last_failure_reason.as_deref(),
            Some("[backups:nightly-1] failed (caused by: disk full)")
        );
        assert_eq!(p.next_run, Timestamp::from_millisecond(86_400_000).ok());
        assert!(p.failing());
        assert_eq!(failure_reason("not json"), "not json");
    }

    #[test]
    fn stats_count_per_policy() {
        let body = json!({"policy_stats": [
            {"policy": "a", "snapshots_taken": 3, "snapshots_failed": 1}
        ]});
        assert_eq!(parse_stats(&body).get("a"), Some(&(3, 1)));
        assert!(parse_stats(&json!({})).is_empty());
    }

    #[test]
    fn verification_is_due_on_change_failure_or_after_a_day() {
        let day = Duration::from_secs(86_400);
        let ok = RepositoryVerification {
            name: "r".into(),
            at: at("2026-01-01T00:00:00Z"),
            error: None,
        };
        let soon = at("2026-01-01T12:00:00Z");
        assert!(verification_due(None, "f", false, soon, day));
        assert!(!verification_due(Some(("f", &ok)), "f", false, soon, day));
        assert!(verification_due(Some(("f", &ok)), "g", false, soon, day));
        assert!(verification_due(Some(("f", &ok)), "f", true, soon, day));
        let next_day = at("2026-01-02T00:00:00Z");
        assert!(verification_due(
            Some(("f", &ok)),
            "f",
            false,
            next_day,
            day
        ));
        let failed = RepositoryVerification {
            error: Some("no".into()),
            ..ok
        };
        assert!(verification_due(
            Some(("f", &failed)),
            "f",
            false,
            soon,
            day
        ));
    }
}
