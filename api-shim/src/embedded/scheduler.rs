//! `waiting` → `running`: jobs are admitted first come, first served (by creation order, the
//! record's `seq`) while fewer than `max_running_jobs` run. The scheduler is the only task that
//! admits jobs, so the running count it sees can only be too high (a job just ended), never too
//! low; every end of a job wakes it again.

use std::sync::Arc;

use crds::{BatchId, BatchStatus, Timestamp};

use super::store::JobRecord;
use super::table::UpdateError;
use super::{lifecycle, runner, Inner};

/// The waiting jobs to admit now, oldest first, so that at most `max_running` run.
pub fn to_admit(records: &[(BatchId, Arc<JobRecord>)], max_running: usize) -> Vec<BatchId> {
    let running = records
        .iter()
        .filter(|(_, r)| r.job.status == BatchStatus::Running)
        .count();
    let mut waiting: Vec<(u64, &BatchId)> = records
        .iter()
        .filter(|(_, r)| r.job.status == BatchStatus::Waiting)
        .map(|(id, r)| (r.seq, id))
        .collect();
    waiting.sort();
    waiting
        .into_iter()
        .take(max_running.max(1).saturating_sub(running))
        .map(|(_, id)| id.clone())
        .collect()
}

/// Admits jobs whenever woken, until shutdown.
pub(super) async fn run(inner: Arc<Inner>) {
    loop {
        if inner.shutdown.is_cancelled() {
            return;
        }
        for id in to_admit(&inner.table.records(), inner.cfg.max_running_jobs) {
            match inner
                .table
                .update(&id, |r| lifecycle::admitted(r, Timestamp::now()))
                .await
            {
                Ok(_) => {
                    tracing::info!(batch_id = %id, "job admitted");
                    inner.tasks.spawn(runner::run_job(inner.clone(), id));
                }
                // Canceled or deleted since the snapshot.
                Err(UpdateError::Gone | UpdateError::Refused(_)) => {}
                Err(UpdateError::Table(error)) => {
                    tracing::error!(batch_id = %id, %error, "cannot save the admission of a job")
                }
            }
        }
        tokio::select! {
            _ = inner.wake.notified() => {}
            _ = inner.shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::store::JobRecord;

    fn job(name: &str, seq: u64, status: BatchStatus) -> (BatchId, Arc<JobRecord>) {
        let mut r: JobRecord = serde_json::from_value(serde_json::json!({
            "job": {
                "function": "recognize", "input_bucket_location": "us-geo",
                "input_bucket_name": "in", "output_bucket_location": "us-geo",
                "output_bucket_name": "in", "batch_id": name, "total_count": 1,
                "successful_count": 0, "failed_count": 0, "status": "waiting",
                "progress": 0.0, "created": "2027-01-15T08:00:00.000+0000",
                "updated": "2027-01-15T08:00:00.000+0000"
            },
            "seq": seq, "params": {}, "separate_output": false
        }))
        .unwrap();
        r.job.status = status;
        (BatchId::parse(name).unwrap(), Arc::new(r))
    }

    fn ids(ids: Vec<BatchId>) -> Vec<String> {
        ids.into_iter().map(String::from).collect()
    }

    #[test]
    fn waiting_jobs_are_admitted_oldest_first_up_to_the_limit() {
        use BatchStatus::*;
        let records = vec![
            job("d", 4, Waiting),
            job("b", 2, Waiting),
            job("z", 0, Completed),
            job("c", 3, Waiting),
            job("a", 1, Canceled),
            job("e", 5, Initializing),
        ];
        assert_eq!(ids(to_admit(&records, 2)), ["b", "c"]);
        assert_eq!(ids(to_admit(&records, 10)), ["b", "c", "d"]);
    }

    #[test]
    fn running_jobs_count_against_the_limit() {
        use BatchStatus::*;
        let mut records = vec![
            job("r", 0, Running),
            job("w1", 1, Waiting),
            job("w2", 2, Waiting),
        ];
        assert_eq!(ids(to_admit(&records, 2)), ["w1"]);
        assert!(to_admit(&records, 1).is_empty());
        records.push(job("r2", 3, Running));
        assert!(to_admit(&records, 2).is_empty(), "already at the limit");
        assert!(
            to_admit(&records, 1).is_empty(),
            "above the limit (a restart)"
        );
    }

    #[test]
    fn a_limit_of_zero_still_runs_one_job() {
        let records = vec![job("w", 0, BatchStatus::Waiting)];
        assert_eq!(ids(to_admit(&records, 0)), ["w"]);
    }
}
