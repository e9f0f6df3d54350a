//! The `DashboardsReady` condition, `status.applied.savedObjects` and `status.dashboards`,
//! judged purely from what the Elasticsearch pass's Kibana step saw and did. Not part of
//! `Ready` and not of the phase: a Kibana that is down or starting never holds up the rest
//! of the stack.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::Verdict;
use crate::api::{DashboardsStatus, condition};
use crate::kibana::KibanaReport;
use crate::kibana::sync::ObjectRef;
use crate::reason::Reason;

/// What the Kibana step of the last Elasticsearch pass saw and did.
#[derive(Clone, Debug, PartialEq)]
pub enum DashboardsObservation {
    /// Dashboards are off, and nothing of the resource is left in Kibana.
    Disabled,
    /// Not tried yet (condition `Unknown`): why, as (reason, message).
    Waiting(Reason, String),
    /// Kibana could not be asked, or refused the request: (reason, message). Stable from
    /// one pass to the next (the raw error is in the logs).
    Failed(Reason, String),
    /// The objects were synced: the report, and the objects now in place (`<type>/<id>`).
    Synced {
        /// What the sync did.
        report: KibanaReport,
        /// The desired objects Kibana holds as desired after the pass.
        objects: Vec<String>,
    },
    /// Dashboards were turned off and the resource's objects removed.
    Removed(KibanaReport),
}

impl DashboardsObservation {
    /// Whether Kibana was unavailable (retried with a backoff of its own).
    pub fn unavailable(&self) -> bool {
        matches!(self, Self::Failed(Reason::KibanaUnavailable, _))
    }

    /// Whether something is left to do: a failure, or objects Kibana refused.
    pub fn failed(&self) -> bool {
        match self {
            Self::Failed(..) => true,
            Self::Synced { report, .. } => !report.is_ok(),
            Self::Removed(_) | Self::Disabled | Self::Waiting(..) => false,
        }
    }
}

const DISABLED: &str = "dashboards are disabled (spec.dashboards.enabled: false)";

/// The condition. Without an observation (no pass reached Kibana since the operator
/// started, or Elasticsearch did not answer this time) the previous condition stands.
pub(super) fn dashboards_condition(
    wanted: bool,
    obs: Option<&DashboardsObservation>,
    previous: &[Condition],
) -> Verdict {
    let Some(obs) = obs else {
        if !wanted {
            return Verdict::new(true, Reason::Disabled, DISABLED.to_string());
        }
        let before = previous
            .iter()
            .find(|c| c.type_ == condition::DASHBOARDS_READY)
            .and_then(|c| Some((c, Reason::parse(&c.reason)?)));
        return match before {
            Some((c, reason)) if reason != Reason::Disabled => Verdict {
                ok: c.status == "True",
                unknown: c.status == "Unknown",
                reason,
                message: c.message.clone(),
            },
            _ => Verdict::unknown(
                Reason::WaitingForElasticsearch,
                "waiting for Elasticsearch, where the operator's Kibana user is created"
                    .to_string(),
            ),
        };
    };
    match obs {
        DashboardsObservation::Disabled | DashboardsObservation::Removed(_) => {
            Verdict::new(true, Reason::Disabled, DISABLED.to_string())
        }
        DashboardsObservation::Waiting(reason, message) => {
            Verdict::unknown(*reason, message.clone())
        }
        DashboardsObservation::Failed(reason, message) => {
            Verdict::new(false, *reason, message.clone())
        }
        DashboardsObservation::Synced { report, objects } => synced(report, objects.len()),
    }
}

fn name(o: &ObjectRef) -> String {
    if o.title.is_empty() {
        format!("{} {}", o.kind, o.id)
    } else {
        format!("{} {} ({:?})", o.kind, o.id, o.title)
    }
}

fn synced(report: &KibanaReport, in_place: usize) -> Verdict {
    if !report.failed.is_empty() {
        let each: Vec<String> = report
            .failed
            .iter()
            .map(|f| format!("{}: {}", name(&f.object), f.error))
            .collect();
        return Verdict::new(
            false,
            Reason::Rejected,
            format!(
                "Kibana refused {} saved object{}: {}",
                each.len(),
                if each.len() == 1 { "" } else { "s" },
                each.join("; ")
            ),
        );
    }
    if !report.not_owned.is_empty() {
        let each: Vec<String> = report.not_owned.iter().map(name).collect();
        return Verdict::new(
            false,
            Reason::Conflict,
            format!(
                "not overwriting {}: saved objects at this resource's ids without its tag or marker are someone else's (delete them to let the operator create its own)",
                each.join(", ")
            ),
        );
    }
    Verdict::new(
        true,
        Reason::Applied,
        format!(
            "{in_place} saved objects in Kibana: the data view, saved searches, Lens charts and the dashboards \"MCP Mesh Log Analysis\" and \"MCP Mesh Security Audit\""
        ),
    )
}

/// `status.applied.savedObjects`: what the pass left in place, or (no pass, a failure) what
/// was there before.
pub(super) fn saved_objects(
    obs: Option<&DashboardsObservation>,
    previous: &[String],
) -> Vec<String> {
    match obs {
        Some(DashboardsObservation::Synced { objects, .. }) => objects.clone(),
        Some(DashboardsObservation::Removed(_) | DashboardsObservation::Disabled) => Vec::new(),
        Some(DashboardsObservation::Failed(..) | DashboardsObservation::Waiting(..)) | None => {
            previous.to_vec()
        }
    }
}

/// `status.dashboards`: the dashboard's URL, when there is one.
pub(super) fn dashboards_status(url: Option<&str>) -> Option<DashboardsStatus> {
    url.map(|u| DashboardsStatus {
        url: Some(u.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kibana::sync::Failure;

    fn object(kind: &str, id: &str, title: &str) -> ObjectRef {
        ObjectRef {
            kind: kind.into(),
            id: id.into(),
            title: title.into(),
        }
    }

    fn verdict(wanted: bool, obs: Option<&DashboardsObservation>) -> (bool, bool, Reason) {
        let v = dashboards_condition(wanted, obs, &[]);
        (v.ok, v.unknown, v.reason)
    }

    #[test]
    fn each_outcome_has_its_condition() {
        assert_eq!(verdict(false, None), (true, false, Reason::Disabled));
        assert_eq!(
            verdict(true, None),
            (false, true, Reason::WaitingForElasticsearch)
        );
        let waiting =
            DashboardsObservation::Waiting(Reason::KibanaUnavailable, "no replica".into());
        assert_eq!(
            verdict(true, Some(&waiting)),
            (false, true, Reason::KibanaUnavailable),
            "not tried yet: Unknown, so no Warning event"
        );
        let down = DashboardsObservation::Failed(Reason::KibanaUnavailable, "503".into());
        assert_eq!(
            verdict(true, Some(&down)),
            (false, false, Reason::KibanaUnavailable)
        );
        assert!(down.unavailable() && down.failed());
        let synced = DashboardsObservation::Synced {
            report: KibanaReport::default(),
            objects: vec!["tag/t".into()],
        };
        assert_eq!(verdict(true, Some(&synced)), (true, false, Reason::Applied));
        assert!(!synced.failed());
        let removed = DashboardsObservation::Removed(KibanaReport::default());
        assert_eq!(
            verdict(false, Some(&removed)),
            (true, false, Reason::Disabled)
        );
    }

    #[test]
    fn a_partly_refused_import_names_each_object_and_kibanas_error() {
        let report = KibanaReport {
            failed: vec![
                Failure {
                    object: object("search", "s1", "Errors"),
                    error: "unknown: bad query".into(),
                },
                Failure {
                    object: object("lens", "l1", ""),
                    error: "missing_references: index-pattern/dv".into(),
                },
            ],
            ..Default::default()
        };
        let obs = DashboardsObservation::Synced {
            report,
            objects: vec![],
        };
        let v = dashboards_condition(true, Some(&obs), &[]);
        assert_eq!((v.ok, v.reason), (false, Reason::Rejected));
        assert_eq!(
            v.message,
            "Kibana refused 2 saved objects: search s1 (\"Errors\"): unknown: bad query; lens l1: missing_references: index-pattern/dv"
        );
        assert!(obs.failed());
    }

    #[test]
    fn without_a_new_observation_the_previous_condition_stands() {
        let previous = Condition {
            type_: condition::DASHBOARDS_READY.into(),
            status: "False".into(),
            reason: "KibanaUnavailable".into(),
            message: "Kibana at x is unavailable".into(),
            observed_generation: Some(1),
            last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ),
        };
        let v = dashboards_condition(true, None, std::slice::from_ref(&previous));
        assert_eq!(
            (v.ok, v.unknown, v.reason, v.message.as_str()),
            (
                false,
                false,
                Reason::KibanaUnavailable,
                previous.message.as_str()
            )
        );
    }

    #[test]
    fn saved_objects_follow_the_last_outcome() {
        let before = vec!["tag/t".to_string(), "dashboard/d".to_string()];
        let down = DashboardsObservation::Failed(Reason::KibanaUnavailable, "x".into());
        assert_eq!(saved_objects(Some(&down), &before), before);
        assert_eq!(saved_objects(None, &before), before);
        let removed = DashboardsObservation::Removed(KibanaReport::default());
        assert!(saved_objects(Some(&removed), &before).is_empty());
        let synced = DashboardsObservation::Synced {
            report: KibanaReport::default(),
            objects: vec!["tag/t".into()],
        };
        assert_eq!(saved_objects(Some(&synced), &before), ["tag/t"]);
    }
}
