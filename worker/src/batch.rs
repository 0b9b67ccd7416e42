//! The shard worker shared by both ways of running a batch: the embedded service's in-process
//! workers and the `speechbatch-shard` processes of a Kubernetes Job. It reads inputs from the
//! input bucket, recognises them, and writes `<key>.json` or `<key>.notice` to the output bucket,
//! tagged with the batch id so that a retried shard can tell what it already finished.

use std::sync::Arc;

use crds::customization::Vocabulary;
use crds::{
    BatchId, ErrorBody, FileOutcome, FinishedFile, RecognitionParams, ShardCounts, ShardRange,
};
use futures::StreamExt;
use speechbatch_storage::{
    input_key_problem, key_problem, output_key, Bucket, KeyProblem, OutputKind, StorageError,
    StorageErrorKind,
};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::recognizer::Recognizer;

/// What a batch's workers need to process its files.
#[derive(Clone)]
pub struct BatchFiles {
    /// The batch id written into every output's metadata.
    pub batch_id: BatchId,
    /// Where inputs are read (never written).
    pub input: Bucket,
    /// Where outputs are written; the input bucket when the request named no output bucket.
    pub output: Bucket,
    /// The recognition options of the batch.
    pub params: RecognitionParams,
    /// The custom language model the batch recognises with, as it was trained when the job
    /// started (`language_customization_id`).
    pub vocabulary: Option<Arc<Vocabulary>>,
}

impl BatchFiles {
    /// What this batch already wrote for `key`, judged by the batch id in the outputs' metadata:
    /// a `.notice` counts as failed (the interface writes nothing after one), else a `.json` as
    /// succeeded. Outputs of other batches do not count. The keys come from
    /// [`output_key`], as they do when written, so an input whose notice was written at an
    /// escaped key is found there.
    pub async fn finished(&self, key: &str) -> Result<Option<FileOutcome>, StorageError> {
        let ours = Some(self.batch_id.as_str());
        let notice = output_key(key, OutputKind::Notice);
        if self.output.output_batch_id(&notice).await?.as_deref() == ours {
            return Ok(Some(FileOutcome::Failed));
        }
        let json = output_key(key, OutputKind::Json);
        if self.output.output_batch_id(&json).await?.as_deref() == ours {
            return Ok(Some(FileOutcome::Succeeded));
        }
        Ok(None)
    }

    /// Processes one input: reads it, recognises it on a blocking thread, writes its `.json` or
    /// `.notice`, and says how it ended and how much audio it held (0 for a `.notice`). A
    /// problem with the file itself becomes a `.notice`; an error returned here is a problem
    /// with the buckets (the output cannot be written, the endpoint went away), which concerns
    /// the whole batch.
    ///
    /// An input whose key cannot safely have outputs beside it ([`input_key_problem`]: a `.`
    /// or `..` segment, a control character, a backslash, a leading `/`, an output key over
    /// 1024 bytes or with a segment over 255) is not read: it fails with a `.notice` at the
    /// escaped key [`output_key`] gives, inside the output bucket like every output.
    pub async fn process(
        &self,
        recognizer: &Arc<dyn Recognizer>,
        key: &str,
    ) -> Result<FinishedFile, StorageError> {
        let span = tracing::info_span!("file", batch_id = %self.batch_id, key);
        async {
            let file = self.process_in_span(recognizer, key).await?;
            tracing::info!(outcome = ?file.outcome, audio_ms = file.audio_ms, "file finished");
            Ok(file)
        }
        .instrument(span)
        .await
    }

    async fn process_in_span(
        &self,
        recognizer: &Arc<dyn Recognizer>,
        key: &str,
    ) -> Result<FinishedFile, StorageError> {
        if let Some(problem) = input_key_problem(key) {
            tracing::warn!(?problem, "the input's key cannot have outputs beside it");
            return self
                .write_notice(key, &unsafe_key_notice(key, problem))
                .await;
        }
        let bytes = match self
            .input
            .get(key, transcriber::MAX_AUDIO_BYTES as u64)
            .await
        {
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
        let recognizer = recognizer.clone();
        let params = self.params;
        let vocabulary = self.vocabulary.clone();
        let name = key.to_string();
        let span = tracing::Span::current();
        let result = tokio::task::spawn_blocking(move || {
            span.in_scope(|| recognizer.recognize(bytes, &name, &params, vocabulary.as_deref()))
        })
        .await;
        match result {
            Ok(Ok(recognized)) => {
                self.output
                    .put_output(
                        &output_key(key, OutputKind::Json),
                        recognized.json,
                        self.batch_id.as_str(),
                    )
                    .await?;
                Ok(FinishedFile::succeeded(recognized.audio_seconds))
            }
            Ok(Err(body)) => self.write_notice(key, &body).await,
            Err(join) => {
                // A panic inside the engine is a bug, but it concerns this file only: the
                // service stays up and the user gets a notice instead of a missing output.
                tracing::error!(error = %join, "engine panicked");
                let body = ErrorBody::new(500, "The engine failed on this file (internal error)");
                self.write_notice(key, &body).await
            }
        }
    }

    /// Writes a `.notice`: a failed file, whose audio counts for nothing.
    async fn write_notice(
        &self,
        key: &str,
        body: &ErrorBody,
    ) -> Result<FinishedFile, StorageError> {
        self.output
            .put_output(
                &output_key(key, OutputKind::Notice),
                body.to_json_pretty().into_bytes(),
                self.batch_id.as_str(),
            )
            .await?;
        Ok(FinishedFile::failed())
    }
}

/// The `.notice` of an input whose key cannot have outputs beside it: says why, names the key
/// (control characters escaped) and where the notice is.
fn unsafe_key_notice(key: &str, problem: KeyProblem) -> ErrorBody {
    let why = if key_problem(key).is_some() {
        format!("its key {}", problem.describe())
    } else {
        // The key is fine, the `.notice` key beside it is not (too long).
        format!(
            "the key of its results beside it, '{}.notice', {}",
            key.escape_debug(),
            problem.describe()
        )
    };
    ErrorBody::new(
        400,
        format!(
            "The object '{}' was not transcribed: {why}. This notice is at '{}' instead; rename \
             the object to transcribe it",
            key.escape_debug(),
            output_key(key, OutputKind::Notice),
        ),
    )
}

/// How a shard run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardEnd {
    /// Every input of the range is finished.
    Complete,
    /// Stopped before the end (cancel or shutdown); the counts cover what was finished.
    Stopped,
}

/// Runs one shard. Files are processed one after another, each holding a permit of `slots`
/// (the process-wide bound on files in flight) while it runs. When `resume` is set (a retry, or a
/// restart after a crash) files this batch already finished are counted, not redone, so counts
/// stay exact; their audio is not (see below). `stop` is checked before each file: a file in
/// flight always finishes. `on_file` is told of every finished file (for progress) and awaited
/// before the next one starts, so a caller can save its count first. It takes the key by value:
/// a callback future that borrowed it would need a higher-ranked lifetime, which makes the
/// shard's future fail `Send` checks.
///
/// Audio: the counts' `audio_ms` adds the length of each file recognised here. A file a resumed
/// shard finds already finished adds 0: its length is in none of its outputs, and measuring it
/// again would mean downloading and decoding the audio, most of the cost of recognising it. So
/// after a retry or a restart the shard's audio total is a lower bound.
pub async fn run_shard<F: std::future::Future<Output = ()>>(
    recognizer: &Arc<dyn Recognizer>,
    files: &BatchFiles,
    range: &ShardRange,
    resume: bool,
    slots: &Semaphore,
    stop: &CancellationToken,
    mut on_file: impl FnMut(String, FinishedFile) -> F,
) -> Result<(ShardCounts, ShardEnd), StorageError> {
    let mut counts = ShardCounts::default();
    let mut inputs = files
        .input
        .list_inputs(range.start_after.clone(), range.last.clone());
    while let Some(input) = inputs.next().await {
        let input = input?;
        if stop.is_cancelled() {
            return Ok((counts, ShardEnd::Stopped));
        }
        if resume {
            if let Some(outcome) = files.finished(&input.key).await? {
                // Counted from its output: no audio (see above).
                let file = FinishedFile::counted(outcome);
                counts.add_file(file);
                on_file(input.key, file).await;
                continue;
            }
        }
        let _permit = tokio::select! {
            permit = slots.acquire() => permit.expect("the file-slot semaphore is never closed"),
            _ = stop.cancelled() => return Ok((counts, ShardEnd::Stopped)),
        };
        let file = files.process(recognizer, &input.key).await?;
        counts.add_file(file);
        on_file(input.key, file).await;
    }
    Ok((counts, ShardEnd::Complete))
}
