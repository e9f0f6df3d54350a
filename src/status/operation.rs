//! The day-2 operation of a managed cluster (pure): what the volume expansion and the
//! scale-down observed, judged into the `Progressing` condition and, for a refusal, into
//! `Ready`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::Verdict;
use crate::api::OperationStatus;
use crate::reason::Reason;

/// A day-2 operation this pass saw in progress, or refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// `ScalingDown`, `ExpandingVolumes`; or, refused, `ScaleDownRefused`,
    /// `VolumeExpansionNotAllowed`.
    pub reason: Reason,
    /// What is happening (nodes, shards, volumes), or why it is refused, naming the field.
    pub message: String,
    /// The spec asks for something the operator will not do: nothing was touched.
    pub refused: bool,
    /// The step it is at (`status.operation.step`; its start time moves only when it
    /// changes). `None`: the reason is the step.
    pub step: Option<String>,
}

impl Operation {
    /// An operation in progress.
    pub fn in_progress(reason: Reason, message: String) -> Self {
        Self {
            reason,
            message,
            refused: false,
            step: None,
        }
    }

    /// A refused change.
    pub fn refused(reason: Reason, message: String) -> Self {
        Self {
            reason,
            message,
            refused: true,
            step: None,
        }
    }
}

/// The `Progressing` condition: True while an operation runs, False (with its reason)
/// when one is refused, False `Idle` otherwise. A refusal comes first: the spec is not
/// what runs.
pub(super) fn progressing_condition(operations: &[Operation]) -> Verdict {
    let refused = operations.iter().find(|o| o.refused);
    let running = operations.iter().find(|o| !o.refused);
    match (refused, running) {
        (Some(o), _) => Verdict::new(false, o.reason, o.message.clone()),
        (None, Some(o)) => Verdict::new(true, o.reason, o.message.clone()),
        (None, None) => Verdict::new(
            false,
            Reason::Idle,
            "no day-2 operation in progress".to_string(),
        ),
    }
}

/// What a refusal makes of `Ready`: False with the refusal's reason and message.
pub(super) fn refusal(operations: &[Operation]) -> Verdict {
    match operations.iter().find(|o| o.refused) {
        Some(o) => Verdict::new(false, o.reason, o.message.clone()),
        None => Verdict::new(true, Reason::Ready, String::new()),
    }
}

/// `status.operation`: the operation in progress (not a refusal), its step and when that
/// step started — kept from `previous` while the type and step are the same, so a pass
/// that sees the same step writes nothing. `None` when idle.
pub(super) fn operation_status(
    operations: &[Operation],
    previous: Option<&OperationStatus>,
    now: &Time,
) -> Option<OperationStatus> {
    let o = operations.iter().find(|o| !o.refused)?;
    let type_ = o.reason.as_str().to_string();
    let step = o.step.clone().unwrap_or_else(|| type_.clone());
    let since = previous
        .filter(|p| p.type_ == type_ && p.step == step)
        .map(|p| p.step_start_time.clone())
        .unwrap_or_else(|| now.clone());
    Some(OperationStatus {
        type_,
        message: o.message.clone(),
        step,
        step_start_time: since,
    })
}
