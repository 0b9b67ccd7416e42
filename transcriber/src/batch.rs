//! The shard worker shared by both ways of running a batch: the embedded service's in-process
//! workers and the `transcriber shard` processes of a Kubernetes Job. It reads inputs from the
//! input bucket, recognises them, and writes `<key>.json` or `<key>.notice` to the output bucket,
//! tagged with the batch id so that a retried shard can tell what it already finished.

use std::sync::Arc;

use crds::{ErrorBody, RecognitionParams};
use futures::StreamExt;
use speechbatch_audio::MAX_BYTES;
use speechbatch_storage::{output_key, Bucket, OutputKind, StorageError, StorageErrorKind};
use speechbatch_textfmt::FormatOptions;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::{Engine, RecognizeOptions};

/// How one input file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOutcome {
    /// A `.json` result was written.
    Succeeded,
    /// A `.notice` was written.
    Failed,
}

/// Files finished by a shard (or part of one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Files with a `.json` written by this batch.
    pub successful: u64,
    /// Files with a `.notice` written by this batch.
    pub failed: u64,
}

impl Tally {
    /// Counts one outcome.
    pub fn add(&mut self, outcome: FileOutcome) {
        match outcome {
            FileOutcome::Succeeded => self.successful += 1,
            FileOutcome::Failed => self.failed += 1,
        }
    }

    /// Files finished.
    pub fn done(&self) -> u64 {
        self.successful + self.failed
    }
}

/// What a batch's workers need to process its files.
#[derive(Clone)]
pub struct BatchFiles {
    /// The batch id written into every output's metadata.
    pub batch_id: String,
    /// Where inputs are read (never written).
    pub input: Bucket,
    /// Where outputs are written; the input bucket when the request named no output bucket.
    pub output: Bucket,
    /// The recognition parameters of the request.
    pub params: RecognitionParams,
}

/// The engine options for a request's parameters.
pub fn recognize_options(params: &RecognitionParams) -> RecognizeOptions {
    RecognizeOptions {
        model: params.model,
        word_confidence: params.word_confidence,
        format: FormatOptions {
            smart_formatting: params.smart_formatting,
            redaction: params.redaction,
            profanity_filter: params.profanity_filter,
        },
    }
}

impl BatchFiles {
    /// What this batch already wrote for `key`, judged by the batch id in the outputs' metadata:
    /// a `.notice` counts as failed (the interface writes nothing after one), else a `.json` as
    /// succeeded. Outputs of other batches do not count.
    pub async fn finished(&self, key: &str) -> Result<Option<FileOutcome>, StorageError> {
        let notice = output_key(key, OutputKind::Notice);
        if self.output.output_batch_id(&notice).await?.as_deref() == Some(&self.batch_id) {
            return Ok(Some(FileOutcome::Failed));
        }
        let json = output_key(key, OutputKind::Json);
        if self.output.output_batch_id(&json).await?.as_deref() == Some(&self.batch_id) {
            return Ok(Some(FileOutcome::Succeeded));
        }
        Ok(None)
    }

    /// Processes one input: reads it, recognises it on a blocking thread, writes its `.json` or
    /// `.notice`. A problem with the file itself becomes a `.notice`; an error returned here is
    /// a problem with the buckets (the output cannot be written, the endpoint went away), which
    /// concerns the whole batch.
    pub async fn process(
        &self,
        engine: &Arc<Engine>,
        key: &str,
    ) -> Result<FileOutcome, StorageError> {
        let bytes = match self.input.get(key, MAX_BYTES as u64).await {
            Ok(b) => b,
            Err(e) => match e.kind {
                // The storage error already says how large the object is and what the limit
                // is; the engine rejects oversized audio with 400 too.
                StorageErrorKind::TooLarge => {
                    return self
                        .write_notice(key, &ErrorBody::new(400, e.message))
                        .await;
                }
                StorageErrorKind::NotFound => {
                    let body = ErrorBody::new(
                        404,
                        format!("The input object {key} was removed before it could be read"),
                    );
                    return self.write_notice(key, &body).await;
                }
                _ => return Err(e),
            },
        };
        let engine = engine.clone();
        let opts = recognize_options(&self.params);
        let name = key.to_string();
        let result =
            tokio::task::spawn_blocking(move || engine.recognize(bytes, Some(&name), &opts)).await;
        match result {
            Ok(Ok(results)) => {
                let json = serde_json::to_vec_pretty(&results)
                    .expect("recognition results always serialize");
                self.output
                    .put_output(&output_key(key, OutputKind::Json), json, &self.batch_id)
                    .await?;
                Ok(FileOutcome::Succeeded)
            }
            Ok(Err(e)) => self.write_notice(key, &e.to_error_body()).await,
            Err(join) => {
                // A panic inside the engine is a bug, but it concerns this file only: the
                // service stays up and the user gets a notice instead of a missing output.
                tracing::error!(key, error = %join, "engine panicked");
                let body = ErrorBody::new(500, "The engine failed on this file (internal error)");
                self.write_notice(key, &body).await
            }
        }
    }

    async fn write_notice(&self, key: &str, body: &ErrorBody) -> Result<FileOutcome, StorageError> {
        self.output
            .put_output(
                &output_key(key, OutputKind::Notice),
                body.to_json_pretty().into_bytes(),
                &self.batch_id,
            )
            .await?;
        Ok(FileOutcome::Failed)
    }
}

/// One shard: the inputs after `start_after` up to `last` (inclusive).
#[derive(Debug, Clone, Default)]
pub struct ShardRange {
    /// Exclusive lower bound (None: from the first key).
    pub start_after: Option<String>,
    /// Inclusive upper bound (None: to the last key).
    pub last: Option<String>,
}

/// How a shard run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardEnd {
    /// Every input of the range is finished.
    Complete,
    /// Stopped before the end (cancel or shutdown); the tally covers what was finished.
    Stopped,
}

/// Runs one shard. Files are processed one after another, each holding a permit of `slots`
/// (the process-wide bound on files in flight) while it runs. When `resume` is set (a retry, or a
/// restart after a crash) files this batch already finished are counted, not redone, so counts
/// stay exact. `stop` is checked before each file: a file in flight always finishes. `on_file`
/// is told of every finished file (for progress).
pub async fn run_shard(
    engine: &Arc<Engine>,
    files: &BatchFiles,
    range: &ShardRange,
    resume: bool,
    slots: &Semaphore,
    stop: &CancellationToken,
    mut on_file: impl FnMut(&str, FileOutcome),
) -> Result<(Tally, ShardEnd), StorageError> {
    let mut tally = Tally::default();
    let mut inputs = files
        .input
        .list_inputs(range.start_after.clone(), range.last.clone());
    while let Some(input) = inputs.next().await {
        let input = input?;
        if stop.is_cancelled() {
            return Ok((tally, ShardEnd::Stopped));
        }
        if resume {
            if let Some(outcome) = files.finished(&input.key).await? {
                tally.add(outcome);
                on_file(&input.key, outcome);
                continue;
            }
        }
        let _permit = tokio::select! {
            permit = slots.acquire() => permit.expect("the file-slot semaphore is never closed"),
            _ = stop.cancelled() => return Ok((tally, ShardEnd::Stopped)),
        };
        let outcome = files.process(engine, &input.key).await?;
        tally.add(outcome);
        on_file(&input.key, outcome);
    }
    Ok((tally, ShardEnd::Complete))
}
