//! `running`: a job's unfinished shards run `workers` at a time, each file holding one of the
//! service's `workers` file slots while it is processed. Counts are saved as each file
//! finishes; a shard started before a restart is recounted from the outputs' batch-id metadata
//! ([`speechbatch_worker::run_shard`] with `resume`), so every input is counted exactly once.
//!
//! A problem with one file is a `.notice` (the worker's business). A bucket error that may pass
//! stops the shard, which runs again after the [`super::RetryPolicy`]'s delay (recounting
//! what it finished); a permanent one, spent retries, a panicking shard or a record that
//! cannot be saved fail the job.

use std::sync::{Arc, Mutex, PoisonError};

use crds::{BatchId, FinishedFile, ShardRange, Timestamp};
use speechbatch_storage::{Retryable, StorageError};
use speechbatch_worker::{run_shard, BatchFiles, ShardEnd};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::table::{TableError, UpdateError};
use super::{buckets, lifecycle, Inner};

/// Why a shard stopped early, failing its job.
#[derive(Debug, thiserror::Error)]
enum ShardError {
    /// A bucket operation failed (not a file's problem).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The job's progress could not be saved.
    #[error("cannot save the job's progress: {0}")]
    Save(#[from] TableError),
    /// The job's progress could still not be saved when the retry window was spent.
    #[error("{}", speechbatch_storage::retry::gave_up_message(&format!("cannot save the job's progress: {error}"), *failing_for))]
    SaveGaveUp {
        /// The last attempt's error.
        error: TableError,
        /// How long saving had been failing.
        failing_for: std::time::Duration,
    },
}

impl ShardError {
    /// The job's `error_message` for this error: the log line keeps the full error, with the
    /// data directory's paths; the message does not.
    fn job_message(&self) -> String {
        match self {
            Self::Storage(e) => e.to_string(),
            Self::Save(e) => format!("cannot save the job's progress: {}", e.job_message()),
            Self::SaveGaveUp { error, failing_for } => speechbatch_storage::retry::gave_up_message(
                &format!("cannot save the job's progress: {}", error.job_message()),
                *failing_for,
            ),
        }
    }

    /// Logs the full error and returns the job's message.
    fn report(&self, id: &BatchId) -> String {
        let message = self.job_message();
        if !matches!(self, Self::Storage(_)) {
            tracing::error!(batch_id = %id, error = %self, "a shard stopped");
        }
        message
    }
}

impl Retryable for ShardError {
    fn storage_error(&mut self) -> Option<&mut StorageError> {
        match self {
            Self::Storage(e) => Some(e),
            _ => None,
        }
    }

    /// A count the data directory would not take (full, read-only) may be saved later: the
    /// shard stops and runs again, recounting from its outputs, within the retry window.
    fn may_pass_otherwise(&self) -> bool {
        matches!(self, Self::Save(TableError::Store(_)))
    }

    fn gave_up_otherwise(self, failing_for: std::time::Duration) -> Self {
        match self {
            Self::Save(error) => Self::SaveGaveUp { error, failing_for },
            other => other,
        }
    }
}

/// Runs the job's unfinished shards, then completes the job (unless it was stopped).
pub(super) async fn run_job(inner: Arc<Inner>, id: BatchId) {
    let (Some(stop), Some(record)) = (inner.stop_token(&id), inner.table.get(&id)) else {
        return;
    };
    let buckets = match buckets::connect(&inner.store, &id, &record, &inner.cfg.storage).await {
        Ok(b) => b,
        Err(error) => return inner.fail(&id, error.to_string()).await,
    };
    let Some(plan) = record.plan.clone() else {
        let message = "the job has no shard plan (internal error)".to_string();
        return inner.fail(&id, message).await;
    };
    // The job's own copy of its custom language model, frozen at creation: retraining or
    // deleting the model meanwhile changes nothing here.
    let store = inner.store.clone();
    let loaded = {
        let id = id.clone();
        tokio::task::spawn_blocking(move || store.load_vocabulary(&id)).await
    };
    let vocabulary = match loaded {
        Ok(Ok(v)) => v.map(Arc::new),
        Ok(Err(error)) => return inner.fail(&id, error.to_string()).await,
        Err(e) => {
            let message =
                format!("cannot read the job's custom language model (internal error: {e})");
            return inner.fail(&id, message).await;
        }
    };
    let files = Arc::new(BatchFiles {
        batch_id: id.clone(),
        input: buckets.input,
        output: buckets.output,
        params: record.params,
        vocabulary,
    });
    let parallel = Arc::new(Semaphore::new(inner.cfg.workers.max(1)));
    let mut shards = JoinSet::new();
    for i in (0..plan.len()).filter(|&i| record.shards.get(i).is_none_or(|s| !s.done)) {
        shards.spawn(run_one_shard(
            inner.clone(),
            files.clone(),
            i,
            plan.shard_range(i),
            stop.clone(),
            parallel.clone(),
        ));
    }
    while let Some(joined) = shards.join_next().await {
        let message = match joined {
            Ok(Ok(())) => continue,
            Ok(Err(error)) => error.report(&id),
            Err(e) if e.is_panic() => "a worker failed unexpectedly (internal error)".to_string(),
            Err(_) => continue,
        };
        shards.abort_all();
        return inner.fail(&id, message).await;
    }
    // Speech analytics over the files the job finished, also when it was canceled (its
    // archives cover what it did); not when it was deleted, nor at shutdown (the job runs
    // again at the next start, and so does this stage).
    let deleted = inner.table.get(&id).is_none();
    if files.params.speech_analytics && !deleted && !inner.shutdown.is_cancelled() {
        let ran = inner
            .cfg
            .retry
            .run(
                "speech analytics",
                &id,
                &inner.shutdown,
                || 0,
                || async {
                    speechbatch_worker::analytics::run_analytics(
                        &files,
                        inner.cfg.analyzer.as_ref(),
                    )
                    .await
                    .map_err(ShardError::from)
                },
            )
            .await;
        let summary = match ran {
            Ok(Some(report)) => report.summary,
            Ok(None) => return,
            Err(error) => return inner.fail(&id, error.report(&id)).await,
        };
        // The summary for the admin console, kept also by a job canceled meanwhile. Not saving
        // it fails nothing: the outputs are written, and completion saves the record next.
        if let Some(summary) = summary {
            match inner
                .table
                .update(&id, move |r| lifecycle::analysed(r, summary))
                .await
            {
                Ok(_) | Err(UpdateError::Gone | UpdateError::Refused(_)) => {}
                Err(UpdateError::Table(error)) => {
                    tracing::error!(batch_id = %id, %error, "cannot save the speech analytics summary of a job")
                }
            }
        }
    }
    // A stopped job (cancel, delete, shutdown) has unfinished shards: completion is refused.
    match inner
        .table
        .update(&id, |r| lifecycle::completed(r, Timestamp::now()))
        .await
    {
        Ok((_, r)) => tracing::info!(
            batch_id = %id,
            successful = r.job.successful_count,
            failed = r.job.failed_count,
            "job completed"
        ),
        Err(UpdateError::Table(error)) => {
            tracing::error!(batch_id = %id, %error, "cannot save the completion of a job")
        }
        Err(error) => tracing::debug!(batch_id = %id, %error, "job not completed"),
    }
    inner.wake.notify_one();
}

/// Runs shard `i` once a turn among the job's `workers` parallel shards is free.
async fn run_one_shard(
    inner: Arc<Inner>,
    files: Arc<BatchFiles>,
    i: usize,
    range: ShardRange,
    stop: CancellationToken,
    parallel: Arc<Semaphore>,
) -> Result<(), ShardError> {
    let id = files.batch_id.clone();
    let _turn = tokio::select! {
        biased;
        _ = stop.cancelled() => return Ok(()),
        turn = parallel.acquire_owned() => match turn {
            Ok(turn) => turn,
            Err(_closed) => return Ok(()),
        },
    };
    let what = format!("shard {i}");
    // Files the shard finished: a retry that finished more starts a new retry window.
    let finished = || {
        inner
            .table
            .get(&id)
            .and_then(|r| r.shards.get(i).map(|s| s.counts.done()))
            .unwrap_or(0)
    };
    inner
        .cfg
        .retry
        .run(&what, &id, &stop, finished, || {
            run_attempt(&inner, &files, i, &range, &stop)
        })
        .await
        .map(drop)
}

/// One run of shard `i` from its start: files finished by an earlier run (before a restart or
/// a retry) are recounted from their outputs, not recognized again.
async fn run_attempt(
    inner: &Arc<Inner>,
    files: &Arc<BatchFiles>,
    i: usize,
    range: &ShardRange,
    stop: &CancellationToken,
) -> Result<(), ShardError> {
    let id = files.batch_id.clone();
    // Saved before the first file, so that a restart knows to recount the shard.
    let resume = match inner
        .table
        .update(&id, move |r| {
            lifecycle::shard_started(r, i, Timestamp::now())
        })
        .await
    {
        Ok((resume, _)) => resume,
        Err(UpdateError::Table(e)) => return Err(e.into()),
        // Canceled, failed or deleted meanwhile.
        Err(UpdateError::Gone | UpdateError::Refused(_)) => return Ok(()),
    };
    // A count that cannot be saved stops the shard: going on would lose it.
    let save_error = Arc::new(Mutex::new(None));
    let shard_stop = stop.child_token();
    let on_file = {
        let (table, id, save_error, stop) = (
            inner.table.clone(),
            id.clone(),
            save_error.clone(),
            shard_stop.clone(),
        );
        move |_key: String, file: FinishedFile| {
            let (table, id, save_error, stop) =
                (table.clone(), id.clone(), save_error.clone(), stop.clone());
            async move {
                // The file's audio goes into the shard's counts with it (none for a file a
                // restarted shard finds finished: see `run_shard`).
                let change =
                    move |r: &mut _| lifecycle::file_finished(r, i, file, Timestamp::now());
                match table.update(&id, change).await {
                    // Refused: the job was canceled or failed while the file was in flight; a
                    // final record keeps what the client was told.
                    Ok(_) | Err(UpdateError::Gone | UpdateError::Refused(_)) => {}
                    Err(UpdateError::Table(e)) => {
                        *save_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                        stop.cancel();
                    }
                }
            }
        }
    };
    let ran = run_shard(
        &inner.recognizer,
        files,
        range,
        resume,
        &inner.slots,
        &shard_stop,
        on_file,
    )
    .await;
    if let Some(e) = save_error
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    {
        return Err(e.into());
    }
    let (_, end) = ran?;
    if end == ShardEnd::Complete {
        match inner
            .table
            .update(&id, move |r| lifecycle::shard_done(r, i, Timestamp::now()))
            .await
        {
            Ok(_) | Err(UpdateError::Gone | UpdateError::Refused(_)) => {}
            Err(UpdateError::Table(e)) => return Err(e.into()),
        }
    }
    Ok(())
}
