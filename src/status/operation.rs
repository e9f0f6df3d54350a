//! The day-2 operation of a managed cluster (pure): what the volume expansion and the
//! scale-down observed, judged into the `Progressing` condition and, for a refusal, into
//! `Ready`.

use super::Verdict;
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
}

impl Operation {
    /// An operation in progress.
    pub fn in_progress(reason: Reason, message: String) -> Self {
        Self {
            reason,
            message,
            refused: false,
        }
    }

    /// A refused change.
    pub fn refused(reason: Reason, message: String) -> Self {
        Self {
            reason,
            message,
            refused: true,
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
