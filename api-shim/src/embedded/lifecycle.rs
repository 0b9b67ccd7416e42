//! What may happen to a job record, as pure functions: no I/O, no clock (the time comes in as
//! `now`). The table applies one of them to a copy of a record and saves and publishes the copy
//! only when it returns `Ok`, so a refused change leaves no trace.
//!
//! Every status change goes through [`set_status`], which checks
//! [`BatchStatus::can_become`]; progress (a shard starting, a file finishing, a shard ending)
//! is recorded only while the job is `running`. A final record is frozen: what a client was
//! told about a finished job stays true. The one addition a final record takes is
//! [`analysed`]'s summary for a canceled job, whose analytics stage runs after the cancel: no
//! field of the job a client sees changes.

use crds::analytics::AnalyticsSummary;
use crds::{progress, BatchId, BatchJob, BatchStatus, FinishedFile, ShardPlan, Timestamp};

use super::store::{JobRecord, ShardProgress};
use crate::backend::CreateBatch;

/// Why a change was not applied. Not an error of the service: a job that was canceled while a
/// scan or a file finished refuses what came too late.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The state machine forbids the change.
    #[error("a {from} job cannot become {to}")]
    Status {
        /// The job's status.
        from: BatchStatus,
        /// The status asked for.
        to: BatchStatus,
    },
    /// Progress is recorded only for running jobs.
    #[error("a {0} job records no progress")]
    NotRunning(BatchStatus),
    /// The shard index is outside the plan.
    #[error("the job has no shard {0}")]
    NoShard(usize),
    /// Completion needs every shard finished.
    #[error("{0} shards of the job are unfinished")]
    Unfinished(usize),
}

/// A new job's record, `initializing`.
pub fn created(id: &BatchId, request: &CreateBatch, seq: u64, now: Timestamp) -> JobRecord {
    let output = request.output.as_ref().unwrap_or(&request.input);
    JobRecord {
        job: BatchJob {
            function: "recognize".into(),
            input_bucket_location: request.input.location.clone(),
            input_bucket_name: request.input.name.clone(),
            output_bucket_location: output.location.clone(),
            output_bucket_name: output.name.clone(),
            batch_id: id.to_string(),
            total_count: 0,
            successful_count: 0,
            failed_count: 0,
            status: BatchStatus::Initializing,
            progress: 0.0,
            created: now,
            updated: now,
            finished: None,
            error_message: None,
        },
        seq,
        params: request.params,
        separate_output: request.output.is_some(),
        plan: None,
        shards: Vec::new(),
        language_customization_id: request.language_customization_id.clone(),
        analytics: None,
    }
}

/// The one place a job's status changes: refused unless the state machine allows it. Moves
/// `updated`, derives `progress` and, on completion, sets `finished`.
fn set_status(r: &mut JobRecord, next: BatchStatus, now: Timestamp) -> Result<(), Refused> {
    let from = r.job.status;
    if !from.can_become(next) {
        return Err(Refused::Status { from, to: next });
    }
    r.job.status = next;
    r.job.updated = now;
    r.job.progress = progress(next, r.counts().done(), r.job.total_count);
    if next == BatchStatus::Completed {
        r.job.finished = Some(now);
    }
    Ok(())
}

/// The input bucket was scanned into `plan`: the job waits its turn, or is complete at once
/// when the bucket holds no input.
pub fn scanned(r: &mut JobRecord, plan: ShardPlan, now: Timestamp) -> Result<(), Refused> {
    // Only a job being initialized has a scan to finish (a running job may also complete).
    if r.job.status != BatchStatus::Initializing {
        let to = if plan.is_empty() {
            BatchStatus::Completed
        } else {
            BatchStatus::Waiting
        };
        return Err(Refused::Status {
            from: r.job.status,
            to,
        });
    }
    r.job.total_count = plan.total;
    r.shards = vec![ShardProgress::default(); plan.len()];
    r.recount();
    let next = if plan.is_empty() {
        BatchStatus::Completed
    } else {
        BatchStatus::Waiting
    };
    r.plan = Some(plan);
    set_status(r, next, now)
}

/// The scheduler gave the job its turn.
pub fn admitted(r: &mut JobRecord, now: Timestamp) -> Result<(), Refused> {
    set_status(r, BatchStatus::Running, now)
}

/// Work on shard `i` begins. Returns whether it began before (a restart): its files are then
/// recounted from the outputs, so its counts start again from zero.
pub fn shard_started(r: &mut JobRecord, i: usize, now: Timestamp) -> Result<bool, Refused> {
    let shard = running_shard(r, i)?;
    let resume = shard.started;
    if resume {
        *shard = ShardProgress::default();
    }
    shard.started = true;
    record_progress(r, now);
    Ok(resume)
}

/// One file of shard `i` finished (with the audio recognised in it).
pub fn file_finished(
    r: &mut JobRecord,
    i: usize,
    file: FinishedFile,
    now: Timestamp,
) -> Result<(), Refused> {
    running_shard(r, i)?.counts.add_file(file);
    record_progress(r, now);
    Ok(())
}

/// Every file of shard `i` is finished.
pub fn shard_done(r: &mut JobRecord, i: usize, now: Timestamp) -> Result<(), Refused> {
    running_shard(r, i)?.done = true;
    record_progress(r, now);
    Ok(())
}

/// The job's analytics stage ran: its summary, for the admin console. Taken by a running job
/// (the stage runs before completion) and by a canceled one (the stage analyses what it
/// finished, after the cancel); `updated` does not move, as no field of the job changes. A
/// stage run again (after a restart) replaces the summary: it analysed the same files.
pub fn analysed(r: &mut JobRecord, summary: AnalyticsSummary) -> Result<(), Refused> {
    match r.job.status {
        BatchStatus::Running | BatchStatus::Canceled => {
            r.analytics = Some(summary);
            Ok(())
        }
        other => Err(Refused::NotRunning(other)),
    }
}

/// Every shard is done: the job is complete.
pub fn completed(r: &mut JobRecord, now: Timestamp) -> Result<(), Refused> {
    if r.job.status != BatchStatus::Running {
        return Err(Refused::NotRunning(r.job.status));
    }
    let left = r.shards.iter().filter(|s| !s.done).count();
    if left > 0 {
        return Err(Refused::Unfinished(left));
    }
    set_status(r, BatchStatus::Completed, now)
}

/// The user canceled the job. Refused for a finished job, which stays as it is.
pub fn canceled(r: &mut JobRecord, now: Timestamp) -> Result<(), Refused> {
    set_status(r, r.job.status.after_cancel(), now)
}

/// The request as a whole cannot be carried out; `message` says what to fix.
pub fn failed(r: &mut JobRecord, message: String, now: Timestamp) -> Result<(), Refused> {
    set_status(r, BatchStatus::Failed, now)?;
    r.job.error_message = Some(message);
    Ok(())
}

/// Shard `i` of a running job.
fn running_shard(r: &mut JobRecord, i: usize) -> Result<&mut ShardProgress, Refused> {
    if r.job.status != BatchStatus::Running {
        return Err(Refused::NotRunning(r.job.status));
    }
    r.shards.get_mut(i).ok_or(Refused::NoShard(i))
}

fn record_progress(r: &mut JobRecord, now: Timestamp) {
    r.recount();
    if let Some(plan) = &r.plan {
        let shards: Vec<(u64, bool)> = r.shards.iter().map(|s| (s.counts.done(), s.done)).collect();
        r.job.total_count = plan.total_after(&shards);
    }
    r.job.progress = progress(r.job.status, r.counts().done(), r.job.total_count);
    r.job.updated = now;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::BucketRequest;
    use crds::{FileOutcome, RecognitionParams, ShardCounts};
    use speechbatch_storage::Credentials;
    use BatchStatus::*;

    /// A fixed time, `ms` milliseconds into a second.
    fn at(ms: u32) -> Timestamp {
        Timestamp::parse(&format!("2027-01-15T08:00:00.{ms:03}+0000")).unwrap()
    }

    fn request() -> CreateBatch {
        let credentials = Credentials::from_json(
            br#"{"end_point":"http://127.0.0.1:9","access_key":"a","secret_key":"s"}"#,
        )
        .unwrap();
        CreateBatch {
            input: BucketRequest {
                name: "calls".into(),
                location: "us-geo".into(),
                credentials,
            },
            output: None,
            params: RecognitionParams::default(),
            language_customization_id: None,
        }
    }

    fn plan(sizes: &[u64]) -> ShardPlan {
        ShardPlan {
            total: sizes.iter().sum(),
            bounds: (0..sizes.len()).map(|i| format!("k{i}")).collect(),
            sizes: sizes.to_vec(),
        }
    }

    /// A file that ended with `outcome`, without audio.
    fn done(outcome: FileOutcome) -> FinishedFile {
        FinishedFile::counted(outcome)
    }

    fn new_job() -> JobRecord {
        created(&BatchId::parse("job-1").unwrap(), &request(), 3, at(0))
    }

    /// A record in `status` as the service would have it: planned (two shards of two files,
    /// one file of the first finished) unless initializing.
    fn in_status(status: BatchStatus) -> JobRecord {
        let mut r = new_job();
        if status == Initializing {
            return r;
        }
        scanned(&mut r, plan(&[2, 2]), at(1)).unwrap();
        if status == Waiting {
            return r;
        }
        admitted(&mut r, at(2)).unwrap();
        shard_started(&mut r, 0, at(3)).unwrap();
        file_finished(&mut r, 0, done(FileOutcome::Succeeded), at(4)).unwrap();
        match status {
            Running => {}
            Completed => {
                for i in 0..2 {
                    shard_done(&mut r, i, at(5)).unwrap();
                }
                completed(&mut r, at(6)).unwrap();
            }
            Canceled => canceled(&mut r, at(6)).unwrap(),
            Failed => failed(&mut r, "bucket gone".into(), at(6)).unwrap(),
            Initializing | Waiting => unreachable!(),
        }
        r
    }

    type Change = fn(&mut JobRecord) -> Result<(), Refused>;

    /// Every change, with the status it moves to (`None` for progress).
    fn changes() -> Vec<(&'static str, Option<BatchStatus>, Change)> {
        vec![
            ("scanned", Some(Waiting), |r| scanned(r, plan(&[1]), at(9))),
            ("scanned empty", Some(Completed), |r| {
                scanned(r, plan(&[]), at(9))
            }),
            ("admitted", Some(Running), |r| admitted(r, at(9))),
            ("completed", Some(Completed), |r| completed(r, at(9))),
            ("canceled", Some(Canceled), |r| canceled(r, at(9))),
            ("failed", Some(Failed), |r| failed(r, "why".into(), at(9))),
            ("shard started", None, |r| {
                shard_started(r, 1, at(9)).map(drop)
            }),
            ("file finished", None, |r| {
                file_finished(r, 0, done(FileOutcome::Failed), at(9))
            }),
            ("shard done", None, |r| shard_done(r, 0, at(9))),
        ]
    }

    #[test]
    fn every_change_is_applied_exactly_where_the_state_machine_allows_it_and_refused_without_a_trace_elsewhere(
    ) {
        for from in BatchStatus::ALL {
            for (name, to, change) in changes() {
                let mut before = in_status(from);
                if name == "completed" {
                    // As the runner leaves it once every shard ran to its end.
                    for s in &mut before.shards {
                        s.done = true;
                    }
                }
                let mut after = before.clone();
                let result = change(&mut after);
                let allowed = match (name, to) {
                    // A scan finishes only for a job being initialized (running → completed is
                    // allowed, but not by a scan).
                    ("scanned" | "scanned empty", Some(to)) => {
                        from == Initializing && from.can_become(to)
                    }
                    // Completion needs a plan whose shards are all done: only running jobs.
                    ("completed", Some(to)) => from == Running && from.can_become(to),
                    (_, Some(to)) => from.can_become(to),
                    (_, None) => from == Running,
                };
                assert_eq!(
                    result.is_ok(),
                    allowed,
                    "{name} on a {from} job: {result:?}"
                );
                if let Some(to) = to.filter(|_| allowed) {
                    assert_eq!(after.job.status, to, "{name} on a {from} job");
                }
                if allowed {
                    assert_eq!(after.job.updated, at(9), "{name} on a {from} job");
                } else {
                    assert_eq!(after, before, "a refused {name} changed a {from} job");
                }
            }
        }
    }

    #[test]
    fn a_final_job_refuses_every_change() {
        for from in BatchStatus::ALL.into_iter().filter(|s| s.is_final()) {
            for (name, _, change) in changes() {
                let mut r = in_status(from);
                assert!(change(&mut r).is_err(), "{name} changed a {from} job");
            }
        }
    }

    #[test]
    fn a_new_job_is_initializing_with_no_counts_and_its_buckets_as_requested() {
        let r = new_job();
        assert_eq!(r.job.status, Initializing);
        assert_eq!(r.job.batch_id, "job-1");
        assert_eq!(
            (
                r.job.total_count,
                r.job.successful_count,
                r.job.failed_count
            ),
            (0, 0, 0)
        );
        assert_eq!(
            r.job.output_bucket_name, "calls",
            "outputs go beside inputs"
        );
        assert!(!r.separate_output);
        assert_eq!((r.job.created, r.job.updated), (at(0), at(0)));
        assert_eq!(r.seq, 3);
        assert!(r.plan.is_none() && r.shards.is_empty());
    }

    #[test]
    fn a_scan_sets_the_total_and_one_progress_entry_per_shard() {
        let mut r = new_job();
        scanned(&mut r, plan(&[3, 2]), at(1)).unwrap();
        assert_eq!(r.job.status, Waiting);
        assert_eq!(r.job.total_count, 5);
        assert_eq!(r.shards, vec![ShardProgress::default(); 2]);
        assert_eq!(r.job.progress, 0.0);
        assert!(r.job.finished.is_none());
    }

    #[test]
    fn an_empty_bucket_completes_the_job_at_once() {
        let mut r = new_job();
        scanned(&mut r, plan(&[]), at(1)).unwrap();
        assert_eq!(r.job.status, Completed);
        assert_eq!(r.job.progress, 1.0);
        assert_eq!(r.job.finished, Some(at(1)));
        assert_eq!(r.job.total_count, 0);
    }

    #[test]
    fn finished_files_update_the_counts_and_a_progress_below_one() {
        let mut r = in_status(Waiting);
        admitted(&mut r, at(2)).unwrap();
        assert!(!shard_started(&mut r, 1, at(3)).unwrap());
        for outcome in [
            FileOutcome::Succeeded,
            FileOutcome::Failed,
            FileOutcome::Succeeded,
        ] {
            file_finished(&mut r, 1, done(outcome), at(4)).unwrap();
        }
        assert_eq!((r.job.successful_count, r.job.failed_count), (2, 1));
        // Shard 1 was planned with 2 files and has finished 3 (one added since the scan): the
        // total counts what it did, 2 + 3 (`ShardPlan::total_after`).
        assert_eq!(r.job.total_count, 5);
        assert_eq!(r.job.progress, 0.6);
        file_finished(&mut r, 0, done(FileOutcome::Succeeded), at(5)).unwrap();
        assert!(r.job.progress < 1.0, "never 1.0 before completed");
        assert_eq!(
            file_finished(&mut r, 2, done(FileOutcome::Succeeded), at(5)),
            Err(Refused::NoShard(2))
        );
    }

    #[test]
    fn a_shard_started_again_after_a_restart_is_recounted_from_zero() {
        let mut r = in_status(Running);
        assert_eq!(r.shards[0].counts.successful, 1);
        assert!(shard_started(&mut r, 0, at(7)).unwrap(), "started before");
        assert_eq!(
            r.shards[0],
            ShardProgress {
                counts: ShardCounts::default(),
                done: false,
                started: true
            }
        );
        assert_eq!(r.job.successful_count, 0);
    }

    #[test]
    fn a_job_completes_only_once_every_shard_is_done() {
        let mut r = in_status(Running);
        shard_done(&mut r, 0, at(5)).unwrap();
        assert_eq!(completed(&mut r, at(6)), Err(Refused::Unfinished(1)));
        shard_done(&mut r, 1, at(7)).unwrap();
        completed(&mut r, at(8)).unwrap();
        assert_eq!(r.job.status, Completed);
        assert_eq!((r.job.progress, r.job.finished), (1.0, Some(at(8))));
    }

    #[test]
    fn a_canceled_job_keeps_its_counts_and_progress_and_has_no_finished_time() {
        let mut r = in_status(Running);
        let progress = r.job.progress;
        canceled(&mut r, at(9)).unwrap();
        assert_eq!(r.job.status, Canceled);
        assert_eq!(r.job.successful_count, 1);
        assert_eq!(r.job.progress, progress);
        assert!(r.job.finished.is_none() && r.job.error_message.is_none());
    }

    #[test]
    fn a_failed_job_says_why_and_has_no_finished_time() {
        let mut r = in_status(Initializing);
        failed(&mut r, "The bucket calls does not exist".into(), at(9)).unwrap();
        assert_eq!(r.job.status, Failed);
        assert_eq!(
            r.job.error_message.as_deref(),
            Some("The bucket calls does not exist")
        );
        assert!(r.job.finished.is_none());
    }

    #[test]
    fn a_new_job_keeps_the_custom_model_it_names() {
        let mut req = request();
        req.language_customization_id = Some("74f4807e-b5ff-4866-824e-6bba1a84fe96".into());
        let r = created(&BatchId::parse("job-2").unwrap(), &req, 4, at(0));
        assert_eq!(
            r.language_customization_id.as_deref(),
            Some("74f4807e-b5ff-4866-824e-6bba1a84fe96")
        );
        assert_eq!(new_job().language_customization_id, None);
        assert_eq!(new_job().analytics, None);
    }

    #[test]
    fn audio_of_finished_files_adds_up_per_shard_and_a_restarted_shard_starts_again() {
        let mut r = in_status(Waiting);
        admitted(&mut r, at(2)).unwrap();
        shard_started(&mut r, 0, at(3)).unwrap();
        shard_started(&mut r, 1, at(3)).unwrap();
        file_finished(&mut r, 0, FinishedFile::succeeded(61.5), at(4)).unwrap();
        file_finished(&mut r, 1, FinishedFile::succeeded(20.25), at(4)).unwrap();
        file_finished(&mut r, 1, FinishedFile::failed(), at(4)).unwrap();
        assert_eq!(r.counts().audio_ms, 81_750);
        assert_eq!(r.shards[1].counts.audio_ms, 20_250);
        // Restarted: recounted from zero; files found finished add no audio.
        assert!(shard_started(&mut r, 1, at(5)).unwrap());
        file_finished(&mut r, 1, done(FileOutcome::Succeeded), at(6)).unwrap();
        assert_eq!(r.counts().audio_ms, 61_500);
        assert_eq!(r.job.successful_count, 2);
    }

    #[test]
    fn an_analytics_summary_is_kept_for_running_and_canceled_jobs_only() {
        let summary = AnalyticsSummary {
            files: 1,
            turns: 4,
            ..Default::default()
        };
        for from in BatchStatus::ALL {
            let before = in_status(from);
            let mut r = before.clone();
            let result = analysed(&mut r, summary.clone());
            if matches!(from, Running | Canceled) {
                assert_eq!(result, Ok(()), "{from}");
                assert_eq!(r.analytics.as_ref(), Some(&summary), "{from}");
                assert_eq!(r.job, before.job, "no field of the job moves ({from})");
            } else {
                assert_eq!(result, Err(Refused::NotRunning(from)), "{from}");
                assert_eq!(r, before, "{from}");
            }
        }
    }
}
