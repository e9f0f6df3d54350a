//! The last step of every pass, the invalid-spec one included: the status computed from
//! what the pass observed, the metrics, events for the transitions, and the status written
//! only when it changed. Also the pass's identity ([`Pass`]) the steps share.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde_json::json;

use std::time::Duration;

use super::apply::FIELD_MANAGER;
use super::children::Applied;
use super::dereference::Dereferenced;
use super::elasticsearch::EsPass;
use super::{Context, Settings};
use crate::api::{MeshLogging, MeshLoggingStatus, condition};
use crate::error::Result;
use crate::reason::Reason;
use crate::render::RenderContext;
use crate::status::{self, Observations};
use crate::validate::{Validated, ValidationErrors};

/// One reconcile of one resource: what every step may need to know about it.
pub struct Pass {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// Where events go.
    pub reference: ObjectReference,
    /// The status before this pass.
    pub previous: Option<MeshLoggingStatus>,
    /// The time of this pass (stamps real transitions).
    pub now: Time,
}

impl Pass {
    /// The pass over `ml`, now.
    pub fn new(ml: &MeshLogging) -> Self {
        Self {
            name: ml.name_any(),
            namespace: ml.namespace().unwrap_or_default(),
            uid: ml.uid().unwrap_or_default(),
            generation: ml.metadata.generation,
            reference: ml.object_ref(&()),
            previous: ml.status.clone(),
            now: Time(k8s_openapi::jiff::Timestamp::now()),
        }
    }

    /// What rendering needs from this pass: whether the cluster formed once (it reported
    /// a version), the operator's settings, and the Secrets' fingerprints once read.
    pub fn render_context(
        &self,
        ctx: &Context,
        v: &Validated,
        refs: &Dereferenced,
    ) -> RenderContext {
        RenderContext {
            es_bootstrapped: self
                .previous
                .as_ref()
                .and_then(|s| s.elasticsearch.as_ref())
                .is_some_and(|e| e.version.is_some()),
            collector_cluster_role: ctx.settings.collector_cluster_role.clone(),
            es_endpoint: v.es_url(),
            annotations: Default::default(),
            secrets: refs.secrets.as_ref().map(|s| s.fingerprints.clone()),
        }
    }
}

/// What a pass over a spec that did not validate observed.
pub fn invalid(generation: Option<i64>, errors: ValidationErrors) -> Observations {
    Observations {
        generation,
        invalid: Some(errors.to_string()),
        ..Default::default()
    }
}

/// What a pass over a valid spec observed, from the steps' outputs.
pub fn observations(
    pass: &Pass,
    v: &Validated,
    refs: Dereferenced,
    applied: Applied,
    es: EsPass,
) -> Observations {
    Observations {
        generation: pass.generation,
        invalid: None,
        rejected: applied.rejected,
        conflicts: applied.conflicts,
        elasticsearch: es.observation,
        kibana: applied.workloads.kibana,
        collector: applied.workloads.collector,
        collector_nodes: Vec::new(),
        sync: es.report,
        missing_credentials: refs.missing_repository_credentials.into_iter().collect(),
        snapshots_wanted: v.snapshots_wanted(),
        alias: v.index().name.clone(),
        dashboards_wanted: v.dashboards_enabled(),
        dashboards: es.dashboards,
        dashboard_url: v.dashboard_url(&crate::kibana::log_dashboard_id(v)),
        operations: Vec::new(),
    }
}

/// The step: computes the status, records it in the metrics, and — when it changed —
/// announces the transitions and writes it.
pub async fn finish(ctx: &Context, pass: &Pass, obs: &Observations) -> Result<MeshLoggingStatus> {
    let previous = pass.previous.as_ref();
    let status = status::compute(previous, obs, &pass.now);
    ctx.metrics
        .observe_status(&pass.namespace, &pass.name, &status);
    if status::changed(previous, &status) {
        for t in transitions(previous, &status) {
            let (type_, reason, note) = match t {
                Transition::Failed { reason, note } => (EventType::Warning, reason, note),
                Transition::Ready { note } => (EventType::Normal, Reason::Ready, note),
            };
            ctx.publish(&pass.reference, type_, reason, note).await;
        }
        write_status(ctx, pass, &status).await?;
    }
    Ok(status)
}

/// When to look again. Changes of the resource and of its children are watched, and the
/// Elasticsearch queue triggers a reconcile when a pass finishes or is due: what is left
/// is what nothing watches — Secrets the user references (credentials that are missing
/// now), objects of a child's name that are someone else's (they may be removed), children
/// the API server refused — looked at every [`Settings::resync_pending`]; otherwise the
/// resync interval (drift in Elasticsearch).
pub fn requeue(settings: &Settings, observed: &Observations) -> Duration {
    let unwatched = observed
        .elasticsearch
        .unavailable
        .as_ref()
        .is_some_and(|(r, _)| *r == Reason::CredentialsMissing)
        || !observed.missing_credentials.is_empty()
        || !observed.conflicts.is_empty()
        || !observed.rejected.is_empty()
        // A StorageClass is not watched; an operation's next step may not change a child.
        || !observed.operations.is_empty();
    if unwatched {
        settings.resync_pending
    } else {
        settings.resync_ready
    }
}

/// A change of status worth an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    /// A condition turned False, or changed its reason or message while False (a Warning
    /// with the condition's reason).
    Failed {
        /// The condition's reason.
        reason: Reason,
        /// The condition and its message.
        note: String,
    },
    /// The resource became Ready (a Normal event).
    Ready {
        /// Ready's message.
        note: String,
    },
}

/// The events a change from `previous` to `status` calls for. Ready's own failure is the
/// sum of the others' and not announced again — unless nothing else explains it: a spec
/// that does not validate. Waiting (for Elasticsearch, for a rollout) is no failure.
pub fn transitions(
    previous: Option<&MeshLoggingStatus>,
    status: &MeshLoggingStatus,
) -> Vec<Transition> {
    let mut out = Vec::new();
    for c in &status.conditions {
        let before = previous.and_then(|p| p.conditions.iter().find(|o| o.type_ == c.type_));
        let same = before.is_some_and(|b| {
            b.status == c.status && b.reason == c.reason && b.message == c.message
        });
        if same {
            continue;
        }
        let ready = c.type_ == condition::READY;
        if c.status == "False" {
            // Every condition reason is a Reason (status.rs writes nothing else).
            let Some(reason) = Reason::parse(&c.reason) else {
                continue;
            };
            let waiting = matches!(
                reason,
                Reason::WaitingForElasticsearch | Reason::Progressing | Reason::Idle
            );
            if ready && reason == Reason::InvalidSpec {
                out.push(Transition::Failed {
                    reason,
                    note: c.message.clone(),
                });
            } else if !ready && !waiting {
                out.push(Transition::Failed {
                    reason,
                    note: format!("{}: {}", c.type_, c.message),
                });
            }
        } else if ready && c.status == "True" && before.is_none_or(|b| b.status != "True") {
            out.push(Transition::Ready {
                note: c.message.clone(),
            });
        }
    }
    out
}

/// Writes the status by server-side apply (fields the operator no longer reports are
/// removed; the spec is never written).
async fn write_status(ctx: &Context, pass: &Pass, status: &MeshLoggingStatus) -> Result<()> {
    let api: Api<MeshLogging> = Api::namespaced(ctx.client.clone(), &pass.namespace);
    let body = json!({
        "apiVersion": MeshLogging::api_version(&()),
        "kind": MeshLogging::kind(&()),
        "status": status,
    });
    api.patch_status(
        &pass.name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

    fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            observed_generation: Some(1),
            last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        }
    }

    fn with(conditions: Vec<Condition>) -> MeshLoggingStatus {
        MeshLoggingStatus {
            conditions,
            ..Default::default()
        }
    }

    #[test]
    fn a_condition_turning_false_is_a_warning_with_its_reason() {
        let before = with(vec![condition(
            "ElasticsearchReady",
            "True",
            "Green",
            "green",
        )]);
        let after = with(vec![condition(
            "ElasticsearchReady",
            "False",
            "ElasticsearchUnreachable",
            "timed out",
        )]);
        assert_eq!(
            transitions(Some(&before), &after),
            vec![Transition::Failed {
                reason: Reason::ElasticsearchUnreachable,
                note: "ElasticsearchReady: timed out".into()
            }]
        );
        // Unchanged: nothing to say; a new message while False: said again.
        assert!(transitions(Some(&after), &after).is_empty());
        let other = with(vec![condition(
            "ElasticsearchReady",
            "False",
            "ElasticsearchUnreachable",
            "refused",
        )]);
        assert_eq!(transitions(Some(&after), &other).len(), 1);
    }

    #[test]
    fn waiting_and_ready_false_are_not_failures_but_an_invalid_spec_is() {
        let waiting = with(vec![
            condition(
                "ElasticsearchReady",
                "False",
                "WaitingForElasticsearch",
                "0/3 nodes",
            ),
            condition("CollectorReady", "False", "Progressing", "0/2 pods"),
            condition(condition::READY, "False", "Progressing", "waiting"),
        ]);
        assert!(transitions(None, &waiting).is_empty());
        let invalid = with(vec![condition(
            condition::READY,
            "False",
            "InvalidSpec",
            "spec.x: bad",
        )]);
        assert_eq!(
            transitions(Some(&waiting), &invalid),
            vec![Transition::Failed {
                reason: Reason::InvalidSpec,
                note: "spec.x: bad".into()
            }]
        );
    }

    #[test]
    fn only_what_nothing_watches_is_polled() {
        let s = Settings::default();
        let watched = Observations::default();
        assert_eq!(requeue(&s, &watched), s.resync_ready);
        let mut missing = Observations::default();
        missing.elasticsearch.unavailable = Some((Reason::CredentialsMissing, "x".into()));
        assert_eq!(requeue(&s, &missing), s.resync_pending);
        let mut unreachable = Observations::default();
        unreachable.elasticsearch.unavailable =
            Some((Reason::ElasticsearchUnreachable, "x".into()));
        assert_eq!(
            requeue(&s, &unreachable),
            s.resync_ready,
            "the Elasticsearch queue probes it"
        );
        for observed in [
            Observations {
                conflicts: vec!["Service/x".into()],
                ..Default::default()
            },
            Observations {
                rejected: vec!["StatefulSet/x: immutable".into()],
                ..Default::default()
            },
            Observations {
                missing_credentials: vec![("s3".into(), "no Secret".into())],
                ..Default::default()
            },
        ] {
            assert_eq!(requeue(&s, &observed), s.resync_pending, "{observed:?}");
        }
    }

    #[test]
    fn becoming_ready_is_announced_once() {
        let ready = with(vec![condition(
            condition::READY,
            "True",
            "Ready",
            "all good",
        )]);
        assert_eq!(
            transitions(None, &ready),
            vec![Transition::Ready {
                note: "all good".into()
            }]
        );
        let reworded = with(vec![condition(
            condition::READY,
            "True",
            "Ready",
            "still good",
        )]);
        assert!(transitions(Some(&ready), &reworded).is_empty());
    }
}
