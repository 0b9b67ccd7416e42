//! Status conditions and the pure derivation of the interface's status string from them.
//!
//! The conditions are the record of what happened; `status.status`, the counts and `progress`
//! are computed from them (and the shard results) by [`derive_status`], so that the two can
//! never disagree.

use crds::BatchStatus;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The input bucket was scanned and planned into shards (`False` on a request-level error,
/// `Unknown` while a transient error is being retried).
pub const SCANNED: &str = "Scanned";
/// The Job is admitted: it exists and is not suspended (`False` while Kueue holds it).
pub const ADMITTED: &str = "Admitted";
/// Shard pods have started (once `True`, stays `True`: a job only moves forward).
pub const RUNNING: &str = "Running";
/// The batch's speech analytics (`speech_analytics=true`): `Unknown` while its Job runs,
/// `True` once every file's analytics and the archives are written.
pub const ANALYZED: &str = "Analyzed";
/// Every shard finished (and, with speech analytics, the analytics too).
pub const COMPLETE: &str = "Complete";
/// `spec.cancel` was honoured.
pub const CANCELED: &str = "Canceled";
/// The request as a whole could not be carried out; the message says what to fix.
pub const FAILED: &str = "Failed";

/// Every condition type, in lifecycle order.
pub const ALL: [&str; 7] = [
    SCANNED, ADMITTED, RUNNING, ANALYZED, COMPLETE, CANCELED, FAILED,
];

/// `True`, `False` or `Unknown`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == "True")
}

/// The condition of `type_`, if set.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Sets a condition: `lastTransitionTime` moves only when `status` changes; reason, message and
/// observedGeneration always take the new values. Conditions stay in [`ALL`] order.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: impl Into<String>,
    now: &Time,
    generation: Option<i64>,
) {
    let message = message.into();
    if let Some(c) = conditions.iter_mut().find(|c| c.type_ == type_) {
        if c.status != status {
            c.last_transition_time = now.clone();
            c.status = status.to_owned();
        }
        c.reason = reason.to_owned();
        c.message = message;
        c.observed_generation = generation;
        return;
    }
    conditions.push(Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message,
        last_transition_time: now.clone(),
        observed_generation: generation,
    });
    let rank = |t: &str| ALL.iter().position(|a| *a == t).unwrap_or(ALL.len());
    conditions.sort_by_key(|c| rank(&c.type_));
}

/// The interface's status string for a set of conditions. A final condition wins (the operator
/// sets at most one: once final, nothing changes); else the furthest step reached.
pub fn derive_status(conditions: &[Condition]) -> BatchStatus {
    if is_true(conditions, FAILED) {
        BatchStatus::Failed
    } else if is_true(conditions, CANCELED) {
        BatchStatus::Canceled
    } else if is_true(conditions, COMPLETE) {
        BatchStatus::Completed
    } else if is_true(conditions, RUNNING) {
        BatchStatus::Running
    } else if is_true(conditions, SCANNED) {
        // Planned; the Job is missing, suspended (queued in Kueue) or has no pod yet.
        BatchStatus::Waiting
    } else {
        BatchStatus::Initializing
    }
}
