//! A step of the Elasticsearch pass (managed mode, I/O): changed reloadable secure
//! settings are applied without a restart.
//!
//! ```text
//! pod:      keystore-watcher sidecar: mounted secure settings changed ─► keystore rebuilt in
//!           place, its password = digest of the new content
//! ES pass:  nodes all Ready, no rolling restart, digest ≠ the one last reloaded (status)
//!             ─► POST _nodes/reload_secure_settings {"secure_settings_password": digest}
//!                every node reloaded ─► status.elasticsearch.secureSettingsReloaded, event
//!                some node: wrong password (not rebuilt yet) ─► Progressing, retried soon
//!                another exception ─► SecureSettingsReloadFailed, not retried for this content
//! ```
//!
//! What was reloaded is kept in the status (a short fingerprint of the digest, not the
//! digest: that is a hash of secret material), so a restarted operator sends nothing
//! again; a steady pass sends no request.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::EventType;
use tracing::{info, warn};

use super::Context;
use super::rolling::RollPlan;
use crate::elastic::EsClient;
use crate::elastic::reload::reload_secure_settings;
use crate::reason::Reason;
use crate::status::Operation;

/// Where the reload of the current keystore content is, as the last pass saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReloadState {
    /// The fingerprint of the content (of its digest) it is about.
    pub fingerprint: String,
    /// What happened.
    pub outcome: ReloadOutcome,
}

/// What a reload came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// Every node reloaded it.
    Reloaded {
        /// The nodes that answered.
        nodes: usize,
    },
    /// Some nodes' keystores are not rebuilt yet (they refused the password).
    Waiting {
        /// Nodes that reloaded.
        rebuilt: usize,
        /// Nodes of the cluster.
        total: usize,
    },
    /// The request failed (its category): retried.
    RequestFailed(Reason),
    /// A node refused the keystore for another reason: not retried for this content.
    Failed {
        /// Which node, why (Elasticsearch's words name the setting), and the Secrets.
        message: String,
    },
}

impl ReloadState {
    /// The fingerprint reloaded on every node, when this is a success.
    pub fn reloaded(&self) -> Option<&str> {
        matches!(self.outcome, ReloadOutcome::Reloaded { .. }).then_some(self.fingerprint.as_str())
    }

    /// Not done: retried soon (with a backoff of its own).
    pub fn pending(&self) -> bool {
        matches!(
            self.outcome,
            ReloadOutcome::Waiting { .. } | ReloadOutcome::RequestFailed(_)
        )
    }

    /// The operation the status shows, if any.
    pub fn operation(&self) -> Option<Operation> {
        let op = match &self.outcome {
            ReloadOutcome::Reloaded { .. } => return None,
            ReloadOutcome::Waiting { rebuilt, total } => Operation::in_progress(
                Reason::ReloadingSecureSettings,
                format!("reloading secure settings: {rebuilt}/{total} nodes have the new keystore"),
            ),
            ReloadOutcome::RequestFailed(r) => Operation::in_progress(
                Reason::ReloadingSecureSettings,
                format!("reloading secure settings: the request failed ({r}); retrying"),
            ),
            ReloadOutcome::Failed { message } => {
                Operation::refused(Reason::SecureSettingsReloadFailed, message.clone())
            }
        };
        Some(op)
    }
}

/// What the step decides from.
pub struct ReloadInput<'a> {
    /// The keystore's password, the digest of its content (`None`: no secure settings).
    pub digest: Option<&'a str>,
    /// The fingerprint last reloaded on every node (from the status).
    pub reloaded: Option<&'a str>,
    /// The last pass's state (memory).
    pub known: Option<&'a ReloadState>,
    /// The StatefulSet's nodes (desired, ready).
    pub nodes: Option<(i32, i32)>,
    /// The rolling-restart plan.
    pub roll: &'a RollPlan,
    /// Every pod runs the StatefulSet's current template, as its status says (observed
    /// generation, updated replicas): no restart is pending.
    pub updated: bool,
    /// A rolling restart or a scale-down is under way.
    pub busy: bool,
    /// The Secrets the keystore is built from (for messages).
    pub secrets: Vec<String>,
}

/// The fingerprint of a digest: what the status and events may carry.
pub fn fingerprint(digest: &str) -> String {
    crate::fingerprint::of_parts([digest])
}

/// What the step does this pass.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// Nothing to do or to say.
    Nothing,
    /// What the last pass found stands (done but not in the status yet, or refused).
    Known(ReloadState),
    /// Send the reload.
    Send,
}

/// The pure half of [`step`]: send when the content differs from the one last reloaded,
/// it was not refused, and every node is Ready and none restarting (a restarting node
/// builds its keystore from the current content at start).
fn decide(input: &ReloadInput<'_>, fingerprint: &str) -> Decision {
    if input.reloaded == Some(fingerprint) {
        return Decision::Nothing;
    }
    if let Some(known) = input
        .known
        .filter(|k| k.fingerprint == fingerprint && !k.pending())
    {
        return Decision::Known(known.clone());
    }
    let all_ready = input.nodes.is_some_and(|(d, r)| d > 0 && r >= d);
    let restarting = !input.updated || matches!(input.roll, RollPlan::Rolling { .. });
    if input.busy || !all_ready || restarting {
        return Decision::Nothing;
    }
    Decision::Send
}

/// The step: a reload when the content changed since the last one and the nodes are all
/// Ready and not restarting; `None` when there is nothing to do (or nothing to say).
pub async fn step(
    ctx: &Context,
    reference: &ObjectReference,
    client: &EsClient,
    input: ReloadInput<'_>,
) -> Option<ReloadState> {
    let digest = input.digest?;
    let fingerprint = fingerprint(digest);
    match decide(&input, &fingerprint) {
        Decision::Nothing => return None,
        Decision::Known(known) => return Some(known),
        Decision::Send => {}
    }
    let desired = input
        .nodes
        .map_or(0, |(d, _)| usize::try_from(d).unwrap_or(0));
    let outcome = match reload_secure_settings(client, digest).await {
        Err(e) => {
            warn!(error = %e, "reloading the secure settings failed");
            ReloadOutcome::RequestFailed(e.category())
        }
        Ok(answer) => {
            if let Some((node, why)) = answer.failure() {
                let message = format!(
                    "node {node} refused the reloaded keystore: {why} (built from Secret(s) {})",
                    input.secrets.join(", ")
                );
                ReloadOutcome::Failed { message }
            } else if answer.waiting() > 0 || answer.reloaded() < desired {
                ReloadOutcome::Waiting {
                    rebuilt: answer.reloaded(),
                    total: answer.nodes.len().max(desired),
                }
            } else {
                ReloadOutcome::Reloaded {
                    nodes: answer.reloaded(),
                }
            }
        }
    };
    let state = ReloadState {
        fingerprint,
        outcome,
    };
    match &state.outcome {
        ReloadOutcome::Reloaded { nodes } => {
            info!(nodes, keystore = %state.fingerprint, "secure settings reloaded");
            // The first confirmation of what the nodes started with is no change.
            if input.reloaded.is_some() {
                let note = format!(
                    "reloaded the secure settings on {nodes} nodes without a restart (keystore {})",
                    state.fingerprint
                );
                ctx.publish(
                    reference,
                    EventType::Normal,
                    Reason::SecureSettingsReloaded,
                    note,
                )
                .await;
            }
        }
        ReloadOutcome::Failed { message } => {
            warn!(%message, "a node refused the reloaded secure settings");
            ctx.publish(
                reference,
                EventType::Warning,
                Reason::SecureSettingsReloadFailed,
                message.clone(),
            )
            .await;
        }
        ReloadOutcome::Waiting { rebuilt, total } => {
            info!(
                rebuilt,
                total, "secure settings: some nodes' keystores are not rebuilt yet"
            );
        }
        ReloadOutcome::RequestFailed(_) => {}
    }
    Some(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_shows_as_it_should() {
        let state = |outcome| ReloadState {
            fingerprint: "f".into(),
            outcome,
        };
        let waiting = state(ReloadOutcome::Waiting {
            rebuilt: 2,
            total: 3,
        });
        assert!(waiting.pending() && waiting.reloaded().is_none());
        let op = waiting.operation().expect("operation");
        assert_eq!(op.reason, Reason::ReloadingSecureSettings);
        assert_eq!(
            op.message,
            "reloading secure settings: 2/3 nodes have the new keystore"
        );
        assert!(!op.refused);
        let done = state(ReloadOutcome::Reloaded { nodes: 3 });
        assert_eq!(done.reloaded(), Some("f"));
        assert!(done.operation().is_none() && !done.pending());
        let failed = state(ReloadOutcome::Failed {
            message: "node es-0 refused".into(),
        });
        assert!(!failed.pending());
        assert!(failed.operation().is_some_and(|o| o.refused));
        assert_ne!(fingerprint("a"), fingerprint("b"));
    }

    #[test]
    fn a_reload_is_sent_only_for_new_content_with_every_node_ready_and_none_restarting() {
        let fp = fingerprint("digest-2");
        let steady = RollPlan::Steady { replicas: 3 };
        let input = |reloaded, known, nodes, roll, busy| ReloadInput {
            digest: Some("digest-2"),
            reloaded,
            known,
            nodes,
            roll,
            updated: true,
            busy,
            secrets: vec![],
        };
        let old = fingerprint("digest-1");
        let ready = Some((3, 3));
        assert_eq!(
            decide(&input(Some(&old), None, ready, &steady, false), &fp),
            Decision::Send
        );
        // Never reloaded (a new cluster, an operator that predates the field): once.
        assert_eq!(
            decide(&input(None, None, ready, &RollPlan::Unknown, false), &fp),
            Decision::Send
        );
        assert_eq!(
            decide(&input(Some(&fp), None, ready, &steady, false), &fp),
            Decision::Nothing
        );
        // A node not Ready, a rolling restart or a scale-down under way: later.
        assert_eq!(
            decide(&input(Some(&old), None, Some((3, 2)), &steady, false), &fp),
            Decision::Nothing
        );
        let rolling = RollPlan::Rolling {
            pods: vec![],
            replicas: 3,
        };
        assert_eq!(
            decide(&input(Some(&old), None, ready, &rolling, false), &fp),
            Decision::Nothing
        );
        assert_eq!(
            decide(&input(Some(&old), None, ready, &steady, true), &fp),
            Decision::Nothing
        );
        assert_eq!(
            decide(&input(Some(&old), None, None, &steady, false), &fp),
            Decision::Nothing
        );
        // A new template the StatefulSet controller has not rolled out yet: later.
        let pending = ReloadInput {
            updated: false,
            ..input(Some(&old), None, ready, &RollPlan::Unknown, false)
        };
        assert_eq!(decide(&pending, &fp), Decision::Nothing);
        // Refused for this content: not sent again; waiting nodes: sent again.
        let refused = ReloadState {
            fingerprint: fp.clone(),
            outcome: ReloadOutcome::Failed {
                message: "m".into(),
            },
        };
        assert_eq!(
            decide(
                &input(Some(&old), Some(&refused), ready, &steady, false),
                &fp
            ),
            Decision::Known(refused.clone())
        );
        let waiting = ReloadState {
            fingerprint: fp.clone(),
            outcome: ReloadOutcome::Waiting {
                rebuilt: 1,
                total: 3,
            },
        };
        assert_eq!(
            decide(
                &input(Some(&old), Some(&waiting), ready, &steady, false),
                &fp
            ),
            Decision::Send
        );
        // A refusal of older content does not hold new content.
        let older = ReloadState {
            fingerprint: old.clone(),
            ..refused.clone()
        };
        assert_eq!(
            decide(&input(Some(&old), Some(&older), ready, &steady, false), &fp),
            Decision::Send
        );
    }
}
