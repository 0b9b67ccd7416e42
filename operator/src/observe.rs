//! What the operator reads back from the cluster, reduced to the few facts the decision needs.
//! Pure functions of `Job` and `Pod` objects: tested with objects built in the tests.

use crds::analytics::AnalyticsSummary;
use crds::shard::{self, TerminationMessage};
use crds::ShardCounts;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;

/// The annotation (and label) Kubernetes puts on the pods of an Indexed Job.
pub const COMPLETION_INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";

/// The facts about the batch's Job.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobObservation {
    /// The Job's name.
    pub name: String,
    /// `spec.suspend` (Kueue keeps a Job suspended until it admits it).
    pub suspended: bool,
    /// Pods running now.
    pub active: i32,
    /// Whether any index finished (succeeded or failed): shards have run.
    pub any_finished: bool,
    /// The `Complete` condition is `True`.
    pub complete: bool,
    /// The message of the `Failed` condition when it is `True`.
    pub failed: Option<String>,
    /// The Job is being deleted.
    pub deleting: bool,
}

impl JobObservation {
    /// Reads a Job.
    pub fn from_job(job: &Job) -> Self {
        let status = job.status.clone().unwrap_or_default();
        let cond = |t: &str| {
            status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == t && c.status == "True")
        };
        let failed = cond("Failed").map(|c| {
            c.message
                .clone()
                .filter(|m| !m.is_empty())
                .or_else(|| c.reason.clone())
                .unwrap_or_else(|| "The Job failed".to_owned())
        });
        JobObservation {
            name: job.metadata.name.clone().unwrap_or_default(),
            suspended: job.spec.as_ref().and_then(|s| s.suspend).unwrap_or(false),
            active: status.active.unwrap_or(0),
            any_finished: status.succeeded.unwrap_or(0) > 0
                || status.failed.unwrap_or(0) > 0
                || status
                    .completed_indexes
                    .as_deref()
                    .is_some_and(|s| !s.is_empty())
                || status
                    .failed_indexes
                    .as_deref()
                    .is_some_and(|s| !s.is_empty()),
            complete: cond("Complete").is_some(),
            failed,
            deleting: job.metadata.deletion_timestamp.is_some(),
        }
    }
}

/// What a shard pod (or the analytics Job's pod) tells: its index and, when it ended, its
/// termination message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodReport {
    /// The completion index.
    pub index: u32,
    /// How it ended (or that it did not yet).
    pub outcome: PodOutcome,
}

/// The end of a shard pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodOutcome {
    /// Pending or running.
    Active,
    /// Exit 0 with what its termination message says.
    Succeeded {
        /// The counts of its range (zero from the analytics Job's pod).
        counts: ShardCounts,
        /// The batch's analytics in brief (only from the analytics Job's pod).
        analytics: Option<AnalyticsSummary>,
    },
    /// Succeeded, but the termination message could not be read (counted as nothing).
    SucceededWithoutTally,
    /// Failed: exit code and the `{"error"}` message, when the shard wrote one.
    Failed {
        /// The shard container's exit code.
        exit_code: Option<i32>,
        /// The user-facing error.
        error: Option<String>,
    },
}

/// Reads a shard pod. `None` for pods that are not shard pods of an Indexed Job.
pub fn pod_report(pod: &Pod) -> Option<PodReport> {
    let index: u32 = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(COMPLETION_INDEX_ANNOTATION))
        .or_else(|| {
            pod.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(COMPLETION_INDEX_ANNOTATION))
        })?
        .parse()
        .ok()?;
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
    let terminated = status
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.name == shard::CONTAINER))
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.terminated.as_ref());
    let message = terminated
        .and_then(|t| t.message.as_deref())
        .and_then(|m| serde_json::from_str::<TerminationMessage>(m.trim()).ok());
    let outcome = match phase {
        "Succeeded" => match message {
            // Counts for another index are not this pod's: ignore them rather than misattribute.
            Some(TerminationMessage::Finished {
                index: i,
                counts,
                analytics,
            }) if i == index => PodOutcome::Succeeded { counts, analytics },
            _ => PodOutcome::SucceededWithoutTally,
        },
        "Failed" => PodOutcome::Failed {
            exit_code: terminated.map(|t| t.exit_code),
            error: match message {
                Some(TerminationMessage::Failed { error }) if !error.is_empty() => Some(error),
                _ => None,
            },
        },
        _ => PodOutcome::Active,
    };
    Some(PodReport { index, outcome })
}

/// The analytics summary the analytics Job's pods reported: that of a succeeded pod (there is
/// one once the Job is complete; retried pods that failed report none).
pub fn analytics_summary(pods: &[PodReport]) -> Option<AnalyticsSummary> {
    pods.iter().find_map(|p| match &p.outcome {
        PodOutcome::Succeeded {
            analytics: Some(summary),
            ..
        } => Some(summary.clone()),
        _ => None,
    })
}
