//! The client-free core of a reconcile: from the SpeechBatch, what a scan found (when one ran),
//! the observed Job and its pods' reports to the desired status, the Job action and the events.
//! No I/O: tests feed it YAML and objects and look at what comes out.

use std::time::Duration;

use crds::resource::{SpeechBatch, SpeechBatchStatus};
use crds::{BatchStatus, ShardCounts, ShardExit, ShardPlan, Timestamp};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff;
use speechbatch_storage::retry::gave_up_message;

use crate::build::{build_analytics_job, build_job, merge_shards, JobSettings};
use crate::conditions::{self as cond, derive_status};
use crate::observe::{analytics_summary, JobObservation, PodOutcome, PodReport};

/// What a scan of the input bucket gave.
#[derive(Clone, Debug, PartialEq)]
pub enum ScanOutcome {
    /// The bucket was listed and planned.
    Planned(ShardPlan),
    /// It could not be; `permanent` errors (bad credentials, missing bucket, malformed
    /// credentials file) fail the batch at once, the others are retried for a while.
    Failed {
        /// Whether retrying cannot help.
        permanent: bool,
        /// What to fix, for users (never a secret).
        message: String,
    },
}

/// Everything one reconcile observed.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    /// The SpeechBatch as read.
    pub batch: &'a SpeechBatch,
    /// The result of a scan run in this reconcile (only when [`needs_scan`] said so).
    pub scan: Option<ScanOutcome>,
    /// The batch's Job, when it exists.
    pub job: Option<JobObservation>,
    /// The Job's pods.
    pub pods: Vec<PodReport>,
    /// The batch's speech analytics Job, when it exists.
    pub analytics: Option<JobObservation>,
    /// The analytics Job's pods (read when that Job exists, and for a final batch whose
    /// status has no analytics summary yet).
    pub analytics_pods: Vec<PodReport>,
    /// The time of this reconcile.
    pub now: Timestamp,
}

/// How long transient scan errors are retried, and how the Job is shaped.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// The Job's settings.
    pub job: JobSettings,
    /// The storage retry window (`--storage-retry-window-s`): transient scan errors
    /// (unreachable endpoint, timeouts, a Secret not there yet) are retried until this long
    /// after the first one, then fail the batch.
    pub retry_window: Duration,
}

/// What to do with the Job.
#[derive(Clone, Debug, PartialEq)]
pub enum JobAction {
    /// Nothing.
    None,
    /// Create it (an existing one of the same name counts as created).
    Create(Box<Job>),
    /// Delete it, pods in the background; outputs stay.
    Delete(String),
}

/// A Kubernetes Event to publish about the batch (never with a credential in it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// PascalCase reason: `Scanned`, `JobCreated`, `Completed`, `Failed`, `Canceled`.
    pub reason: &'static str,
    /// The human-readable note.
    pub message: String,
    /// A `Warning` rather than `Normal` event.
    pub warning: bool,
}

/// The outcome of [`decide`].
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The whole status the operator owns (applied with server-side apply).
    pub status: SpeechBatchStatus,
    /// What to do with the Job.
    pub job: JobAction,
    /// The speech analytics Job to create (an existing one of the same name counts as
    /// created).
    pub analytics_job: Option<Box<Job>>,
    /// Events to publish once the Job action succeeded.
    pub notes: Vec<Note>,
}

/// Whether this reconcile must scan the input bucket first: not final, not canceled, no plan.
pub fn needs_scan(batch: &SpeechBatch) -> bool {
    let status = batch.status.as_ref();
    let final_ = status
        .and_then(|s| s.status)
        .is_some_and(BatchStatus::is_final);
    !final_ && !batch.spec.cancel && status.and_then(|s| s.plan.as_ref()).is_none()
}

fn k8s_time(now: Timestamp) -> Time {
    // Conditions carry whole seconds on the wire; truncate so that what is read back compares
    // equal and an unchanged status is not written again.
    Time(jiff::Timestamp::from_second(now.0.timestamp()).unwrap_or(jiff::Timestamp::UNIX_EPOCH))
}

/// The core of a reconcile. A final status (completed, canceled, failed) is returned unchanged
/// but for `observedGeneration` and a missing analytics summary the analytics Job's pod
/// reports (that Job runs after the cancel of a canceled batch); otherwise the conditions
/// move forward from what was observed, and the interface's fields are derived from them.
pub fn decide(obs: &Observed<'_>, policy: &Policy) -> Decision {
    let batch = obs.batch;
    let generation = batch.metadata.generation;
    let prev = batch.status.clone().unwrap_or_default();
    // Kept once known: the analytics Job's pods may be gone later.
    let analytics = prev
        .analytics
        .clone()
        .or_else(|| analytics_summary(&obs.analytics_pods));
    if prev.status.is_some_and(BatchStatus::is_final) {
        return Decision {
            status: SpeechBatchStatus {
                observed_generation: generation,
                analytics,
                ..prev
            },
            job: JobAction::None,
            analytics_job: None,
            notes: Vec::new(),
        };
    }
    let wants_analytics = batch.spec.recognition.speech_analytics;
    let mut analytics_job = None;
    let now = k8s_time(obs.now);
    let mut conds = prev.conditions.clone();
    let mut plan = prev.plan.clone();
    let mut notes = Vec::new();
    let mut job_action = JobAction::None;
    let id = batch.batch_id();
    let job_name = prev
        .job_name
        .clone()
        .or_else(|| id.as_ref().ok().map(|id| id.job_name()))
        .unwrap_or_default();
    let mut set = |conds: &mut Vec<_>, t: &str, s: &str, r: &str, m: String| {
        cond::set(conds, t, s, r, m, &now, generation)
    };

    if batch.spec.cancel {
        set(
            &mut conds,
            cond::CANCELED,
            "True",
            "CanceledByUser",
            "spec.cancel is true: no new file starts; outputs written so far stay".into(),
        );
        if obs.job.as_ref().is_some_and(|j| !j.deleting) {
            job_action = JobAction::Delete(job_name.clone());
        }
        // A canceled batch still gets its analytics for the files it finished: the analytics
        // Job runs on its own after the status is final.
        if let (true, Some(p), Ok(id), None) = (wants_analytics, &plan, &id, &obs.analytics) {
            if obs.job.is_some() {
                analytics_job = Some(Box::new(build_analytics_job(id, batch, p, &policy.job)));
                notes.push(Note {
                    reason: "AnalyticsStarted",
                    message: format!(
                        "Speech analytics of the files finished before the cancel: Job {}",
                        id.analytics_job_name()
                    ),
                    warning: false,
                });
            }
        }
        notes.push(Note {
            reason: "Canceled",
            message: "Canceled by spec.cancel; the shard Job is deleted, outputs stay".into(),
            warning: false,
        });
    } else {
        if plan.is_none() {
            match &obs.scan {
                Some(ScanOutcome::Planned(p)) => {
                    let message = format!("{} input files in {} shards", p.total, p.len());
                    set(
                        &mut conds,
                        cond::SCANNED,
                        "True",
                        "Planned",
                        message.clone(),
                    );
                    notes.push(Note {
                        reason: "Scanned",
                        message,
                        warning: false,
                    });
                    if p.total == 0 {
                        set(
                            &mut conds,
                            cond::COMPLETE,
                            "True",
                            "NoInputFiles",
                            "The input bucket holds no audio files: nothing to do".into(),
                        );
                        notes.push(Note {
                            reason: "Completed",
                            message: "The input bucket holds no audio files".into(),
                            warning: false,
                        });
                    }
                    plan = Some(p.clone());
                }
                Some(ScanOutcome::Failed { permanent, message }) => {
                    let retrying_since = cond::find(&conds, cond::SCANNED)
                        .filter(|c| c.status == "Unknown")
                        .map(|c| c.last_transition_time.0);
                    let failing_for = retrying_since.map(|since| now.0.duration_since(since));
                    // A window of 0 retries nothing, as in the other backends.
                    let expired = policy.retry_window.is_zero()
                        || failing_for
                            .is_some_and(|d| d.as_secs_f64() >= policy.retry_window.as_secs_f64());
                    // The words of every backend once the window is spent.
                    let message = match failing_for.filter(|_| expired && !*permanent) {
                        Some(d) => gave_up_message(message, d.unsigned_abs()),
                        None => message.clone(),
                    };
                    let message = &message;
                    if *permanent || expired {
                        set(
                            &mut conds,
                            cond::SCANNED,
                            "False",
                            "ScanFailed",
                            message.clone(),
                        );
                        set(
                            &mut conds,
                            cond::FAILED,
                            "True",
                            "ScanFailed",
                            message.clone(),
                        );
                        notes.push(Note {
                            reason: "Failed",
                            message: message.clone(),
                            warning: true,
                        });
                    } else {
                        set(
                            &mut conds,
                            cond::SCANNED,
                            "Unknown",
                            "ScanRetrying",
                            format!(
                                "{message} (retrying for up to {} s)",
                                policy.retry_window.as_secs()
                            ),
                        );
                    }
                }
                None => {}
            }
        }
        let done = cond::is_true(&conds, cond::FAILED) || cond::is_true(&conds, cond::COMPLETE);
        if let (Some(p), false) = (&plan, done) {
            match &obs.job {
                None => match &id {
                    Ok(id) => {
                        job_action =
                            JobAction::Create(Box::new(build_job(id, batch, p, &policy.job)));
                        notes.push(Note {
                            reason: "JobCreated",
                            message: format!(
                                "Created Job {job_name} with {} shards",
                                p.bounds.len()
                            ),
                            warning: false,
                        });
                    }
                    Err(e) => {
                        let message = format!("metadata.name: {e}");
                        set(
                            &mut conds,
                            cond::FAILED,
                            "True",
                            "InvalidSpec",
                            message.clone(),
                        );
                        notes.push(Note {
                            reason: "Failed",
                            message,
                            warning: true,
                        });
                    }
                },
                Some(job) => {
                    let shards_done = observe_job(
                        job,
                        &obs.pods,
                        &mut conds,
                        &mut notes,
                        &mut set,
                        policy,
                        wants_analytics,
                    );
                    if let (true, Ok(id)) = (shards_done, &id) {
                        analytics_job = observe_analytics(
                            obs.analytics.as_ref(),
                            &mut conds,
                            &mut notes,
                            &mut set,
                            || Box::new(build_analytics_job(id, batch, p, &policy.job)),
                        );
                    }
                }
            }
        }
    }

    // Every condition was re-evaluated against this generation.
    for c in &mut conds {
        c.observed_generation = generation;
    }
    // Shard results: merged by index, so retries never double count.
    let shard_count = plan.as_ref().map_or(0, |p| p.bounds.len());
    let shards = merge_shards(&prev.shards, &obs.pods, shard_count);
    let state = derive_status(&conds);
    // A shard with a result has finished; the others count what the scan found.
    let total = plan.as_ref().map_or(0, |p| {
        let mut finished = vec![(0, false); p.len()];
        for s in &shards {
            if let Some(f) = finished.get_mut(s.index as usize) {
                *f = (s.counts.done(), true);
            }
        }
        p.total_after(&finished)
    });
    let ShardCounts {
        successful,
        failed,
        audio_ms,
    } = shards.iter().map(|s| s.counts).sum();
    let error_message = (state == BatchStatus::Failed)
        .then(|| cond::find(&conds, cond::FAILED).map(|c| c.message.clone()))
        .flatten();
    let changed = prev.status != Some(state)
        || prev.total_count != total
        || prev.successful_count != successful
        || prev.failed_count != failed
        || prev.error_message != error_message;
    let updated = if changed || prev.updated.is_none() {
        Some(obs.now.to_string())
    } else {
        prev.updated.clone()
    };
    let status = SpeechBatchStatus {
        status: Some(state),
        total_count: total,
        successful_count: successful,
        failed_count: failed,
        progress: crds::progress(state, successful + failed, total),
        updated,
        finished: (state == BatchStatus::Completed)
            .then(|| prev.finished.clone().unwrap_or_else(|| obs.now.to_string())),
        error_message,
        conditions: conds,
        observed_generation: generation,
        plan,
        shards,
        job_name: Some(job_name).filter(|_| shard_count > 0 || prev.job_name.is_some()),
        audio_ms,
        analytics,
    };
    Decision {
        status,
        job: job_action,
        analytics_job,
        notes,
    }
}

/// Once every shard finished, with speech analytics: the analytics Job is created (returned),
/// then watched; the batch is complete when it is, failed when it fails.
fn observe_analytics(
    analytics: Option<&JobObservation>,
    conds: &mut Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
    notes: &mut Vec<Note>,
    set: &mut impl FnMut(
        &mut Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
        &str,
        &str,
        &str,
        String,
    ),
    build: impl FnOnce() -> Box<Job>,
) -> Option<Box<Job>> {
    match analytics {
        None => {
            let job = build();
            let name = job.metadata.name.clone().unwrap_or_default();
            set(
                conds,
                cond::ANALYZED,
                "Unknown",
                "AnalyticsStarted",
                format!("Every shard finished; Job {name} analyses the batch's files"),
            );
            notes.push(Note {
                reason: "AnalyticsStarted",
                message: format!("Created Job {name} for the batch's speech analytics"),
                warning: false,
            });
            Some(job)
        }
        Some(a) if a.failed.is_some() => {
            let message = format!(
                "Speech analytics failed: {}",
                a.failed.clone().unwrap_or_default()
            );
            set(
                conds,
                cond::ANALYZED,
                "False",
                "AnalyticsFailed",
                message.clone(),
            );
            set(
                conds,
                cond::FAILED,
                "True",
                "AnalyticsFailed",
                message.clone(),
            );
            notes.push(Note {
                reason: "Failed",
                message,
                warning: true,
            });
            None
        }
        Some(a) if a.complete => {
            set(
                conds,
                cond::ANALYZED,
                "True",
                "AnalyticsWritten",
                format!(
                    "Job {} wrote every file's analytics and the archives",
                    a.name
                ),
            );
            set(
                conds,
                cond::COMPLETE,
                "True",
                "JobComplete",
                "Every shard finished and the speech analytics are written".into(),
            );
            notes.push(Note {
                reason: "Completed",
                message: format!("Job {} wrote the speech analytics", a.name),
                warning: false,
            });
            None
        }
        Some(a) => {
            set(
                conds,
                cond::ANALYZED,
                "Unknown",
                "AnalyticsRunning",
                format!("Job {} analyses the batch's files", a.name),
            );
            None
        }
    }
}

/// Moves the conditions forward from the Job: admitted when not suspended, running once a pod
/// is active or an index finished, complete or failed from the Job's own conditions. With
/// `analytics`, a complete Job does not complete the batch: returns true for
/// [`observe_analytics`] to take over.
fn observe_job(
    job: &JobObservation,
    pods: &[PodReport],
    conds: &mut Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
    notes: &mut Vec<Note>,
    set: &mut impl FnMut(
        &mut Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
        &str,
        &str,
        &str,
        String,
    ),
    policy: &Policy,
    analytics: bool,
) -> bool {
    if job.suspended {
        let message = match &policy.job.kueue_queue {
            Some(q) => format!("Job {} waits for admission by Kueue queue {q}", job.name),
            None => format!("Job {} is suspended", job.name),
        };
        set(conds, cond::ADMITTED, "False", "Suspended", message);
    } else {
        set(
            conds,
            cond::ADMITTED,
            "True",
            "JobAdmitted",
            format!("Job {} may start pods", job.name),
        );
    }
    let started = !job.suspended && (job.active > 0 || job.any_finished)
        || pods.iter().any(|p| p.outcome != PodOutcome::Active);
    if started || cond::is_true(conds, cond::RUNNING) {
        set(
            conds,
            cond::RUNNING,
            "True",
            "ShardsStarted",
            "Shard pods have started".into(),
        );
    }
    if let Some(job_message) = &job.failed {
        // The first permanent error a shard reported says what to fix; else the Job's reason.
        let shard_error = pods
            .iter()
            .filter_map(|p| match &p.outcome {
                PodOutcome::Failed {
                    exit_code,
                    error: Some(e),
                } => Some((*exit_code, e)),
                _ => None,
            })
            .min_by_key(|(code, _)| *code != Some(i32::from(ShardExit::Permanent.code())))
            .map(|(_, e)| e.clone());
        let message = shard_error.unwrap_or_else(|| job_message.clone());
        set(conds, cond::FAILED, "True", "JobFailed", message.clone());
        notes.push(Note {
            reason: "Failed",
            message,
            warning: true,
        });
    } else if job.complete && analytics {
        return true;
    } else if job.complete {
        set(
            conds,
            cond::COMPLETE,
            "True",
            "JobComplete",
            "Every shard finished".into(),
        );
        notes.push(Note {
            reason: "Completed",
            message: format!("Job {} finished every shard", job.name),
            warning: false,
        });
    }
    false
}
