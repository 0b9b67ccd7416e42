//! `speechbatch-shard`: runs one completion index of a SpeechBatch's Indexed Job.
//!
//! The operator passes everything through the environment ([`crds::shard::ShardEnv`];
//! credentials only as paths of files mounted from Secrets, never as values). The shard lists its
//! key range, recognises each file, writes `.json`/`.notice` outputs tagged with the batch id,
//! and always runs in resume mode: a retried index counts what this batch already finished
//! instead of redoing it, so its counts are exact. The counts go to the termination message,
//! where the operator reads them (no API access, so the shard's service account needs no RBAC).
//! Exit codes are [`ShardExit`]'s.
//!
//! A bucket error that may pass (endpoint unreachable, timeout: not
//! [`StorageError::is_permanent`]) is retried in the process first, as the embedded backend
//! does, within the window of `--storage-retry-window-s`
//! ([`speechbatch_storage::RetryPolicy`]; the operator passes its own window on to the pod): a
//! retry runs the range again in resume mode, so files already finished are counted from their
//! outputs, never redone or counted twice, and a retry that finishes files starts the window
//! again. Only once the window is spent does the pod exit with [`ShardExit::Transient`], its
//! message saying how long it retried, for the Job to retry the index.
//!
//! The same binary runs the batch's speech analytics Job (`SPEECHBATCH_STAGE=analytics`): one
//! pod that analyses every file the batch recognised, once all shards are done
//! ([`crate::analytics`]); its termination message carries the analytics in brief, which the
//! operator keeps in the batch's status.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crds::analytics::AnalyticsSummary;
use crds::customization::Vocabulary;
use crds::shard::{
    env, ShardBucket, ShardEnv, ShardEnvError, ShardExit, ShardVocabulary, TerminationMessage,
};
use crds::{FinishedFile, ShardCounts, ShardRange};
use speechbatch_storage::{
    Bucket, Credentials, RetryPolicy, Retryable, StorageArgs, StorageConfig, StorageError,
};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use transcriber::cli::EngineArgs;

use crate::batch::{run_shard, BatchFiles, ShardEnd};
use crate::recognizer::Recognizer;

/// Flags of `speechbatch-shard`; the batch itself comes from the environment the operator sets.
#[derive(clap::Parser, Debug)]
#[command(version, about = "Runs one shard of a SpeechBatch's Kubernetes Job")]
pub struct ShardArgs {
    /// This shard's completion index (set by Kubernetes for Indexed Jobs).
    #[arg(long, env = env::COMPLETION_INDEX)]
    pub index: usize,
    /// Where the termination message goes.
    #[arg(long, env = env::TERMINATION_LOG, default_value = crds::shard::TERMINATION_MESSAGE_PATH)]
    pub termination_log: PathBuf,
    /// The models and threads.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// How buckets are reached (the IAM endpoint; the operator may also set it in the batch's
    /// environment, which wins), the end point policy and the retry window (the operator sets
    /// its own in the pod's environment).
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Logging.
    #[command(flatten)]
    pub log: speechbatch_telemetry::LogArgs,
}

/// Why a shard stopped before the end of its range.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// The environment does not describe a shard.
    #[error(transparent)]
    Env(#[from] ShardEnvError),
    /// A credentials file is missing or not in either format.
    #[error("cannot use the credentials file {path}: {reason}")]
    Credentials {
        /// The mounted file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The models could not be loaded.
    #[error("cannot load the models: {0}")]
    Engine(String),
    /// A bucket operation failed for the whole shard.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The batch's custom language model cannot be read or is not a vocabulary.
    #[error("cannot use the batch's custom language model (object '{object}' of the model store): {reason}")]
    Vocabulary {
        /// The vocabulary's key in the model store.
        object: String,
        /// Why.
        reason: String,
    },
    /// SIGTERM arrived before the end of the range.
    #[error("stopped by SIGTERM before the end of the shard")]
    Stopped,
}

impl ShardError {
    /// How the process exits: the podFailurePolicy fails the Job on [`ShardExit::Permanent`].
    pub fn exit(&self) -> ShardExit {
        match self {
            Self::Env(_) => ShardExit::Usage,
            Self::Credentials { .. } | Self::Engine(_) | Self::Vocabulary { .. } => {
                ShardExit::Permanent
            }
            Self::Storage(e) if e.is_permanent() => ShardExit::Permanent,
            Self::Storage(_) | Self::Stopped => ShardExit::Transient,
        }
    }
}

/// Only bucket errors are retried in the process; the others are the invocation's (a missing
/// credentials file, models that do not load) and fail as they did.
impl Retryable for ShardError {
    fn storage_error(&mut self) -> Option<&mut StorageError> {
        match self {
            Self::Storage(e) => Some(e),
            _ => None,
        }
    }
}

/// Runs the shard described by the process environment and returns its exit.
pub fn run(args: ShardArgs) -> ShardExit {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    let env = ShardEnv::from_lookup(|name| std::env::var(name).ok());
    let analytics_stage =
        std::env::var(env::STAGE).ok().as_deref() == Some(crds::shard::STAGE_ANALYTICS);
    let outcome = runtime.block_on(async {
        let env = env?;
        if analytics_stage {
            analytics(&args, &env).await
        } else {
            shard(&args, &env).await
        }
    });
    let (message, exit) = match outcome {
        Ok(Finished { counts, analytics }) => {
            tracing::info!(
                successful = counts.successful,
                failed = counts.failed,
                audio_ms = counts.audio_ms,
                "shard finished"
            );
            (
                TerminationMessage::Finished {
                    index: args.index as u32,
                    counts,
                    analytics,
                },
                ShardExit::Finished,
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "shard failed");
            let exit = e.exit();
            (
                TerminationMessage::Failed {
                    error: e.to_string(),
                },
                exit,
            )
        }
    };
    write_termination(&args.termination_log, &message);
    exit
}

/// What a pod that finished reports.
struct Finished {
    /// The counts of its range (zero for the analytics stage).
    counts: ShardCounts,
    /// The batch's analytics in brief (only from the analytics stage).
    analytics: Option<AnalyticsSummary>,
}

fn write_termination(path: &Path, message: &TerminationMessage) {
    // Bounded: Kubernetes keeps 4096 bytes of the message, and a cut one is no JSON.
    let text = message.to_json();
    if let Err(e) = std::fs::write(path, text) {
        tracing::error!(path = %path.display(), error = %e, "cannot write the termination message");
    }
}

async fn connect(bucket: &ShardBucket, storage: &StorageConfig) -> Result<Bucket, ShardError> {
    let bytes = std::fs::read(&bucket.credentials_path).map_err(|e| ShardError::Credentials {
        path: bucket.credentials_path.clone(),
        reason: e.to_string(),
    })?;
    let creds = Credentials::from_json(&bytes).map_err(|e| ShardError::Credentials {
        path: bucket.credentials_path.clone(),
        reason: e.to_string(),
    })?;
    Ok(Bucket::connect(&creds, &bucket.name, &bucket.location, storage).await?)
}

/// Most bytes a vocabulary object may have (a 90,000-word model is a few MB).
const MAX_VOCABULARY_BYTES: u64 = 64 << 20;

/// Reads the batch's frozen vocabulary from the model store. A store error that may pass is
/// retried within the window; any failure left (missing object, unreadable store, the window
/// spent, not a vocabulary) fails the shard permanently: recognising without the model the
/// user asked for would give transcripts that silently lack its words.
async fn load_vocabulary(
    v: &ShardVocabulary,
    storage: &StorageConfig,
    retry: &Retry<'_>,
) -> Result<Vocabulary, ShardError> {
    let fail = |reason: String| ShardError::Vocabulary {
        object: v.object.clone(),
        reason,
    };
    let read = || async {
        let store = connect(&v.store, storage).await?;
        Ok::<_, ShardError>(store.get(&v.object, MAX_VOCABULARY_BYTES).await?)
    };
    let bytes = retry
        .run("reading the custom language model", || 0, read)
        .await
        .map_err(|e| match e {
            ShardError::Stopped => e,
            e => fail(e.to_string()),
        })?;
    serde_json::from_slice(&bytes).map_err(|e| fail(format!("not a trained vocabulary: {e}")))
}

/// The retry window of this pod, with what it needs to log and to stop.
struct Retry<'a> {
    /// The window and delays.
    policy: RetryPolicy,
    /// The batch, for the log.
    batch_id: &'a crds::BatchId,
    /// SIGTERM: no retry waits past it.
    stop: &'a CancellationToken,
}

impl<'a> Retry<'a> {
    /// The pod's window (its flags) for the batch of `env`, ending waits at `stop`.
    fn new(args: &ShardArgs, env: &'a ShardEnv, stop: &'a CancellationToken) -> Self {
        Retry {
            policy: args.storage.retry_policy(),
            batch_id: &env.batch_id,
            stop,
        }
    }

    /// The input and output buckets, connecting again within the window.
    async fn connect_buckets(
        &self,
        env: &ShardEnv,
        storage: &StorageConfig,
    ) -> Result<(Bucket, Bucket), ShardError> {
        self.run(
            "connecting to the buckets",
            || 0,
            || connect_buckets(env, storage),
        )
        .await
    }

    /// Runs `step` as [`RetryPolicy::run`] does; a stop while waiting to retry is
    /// [`ShardError::Stopped`].
    async fn run<T, Fut: std::future::Future<Output = Result<T, ShardError>>>(
        &self,
        what: &str,
        progress: impl FnMut() -> u64,
        step: impl FnMut() -> Fut,
    ) -> Result<T, ShardError> {
        self.policy
            .run(what, self.batch_id, self.stop, progress, step)
            .await?
            .ok_or(ShardError::Stopped)
    }
}

/// A token cancelled at SIGTERM (pod deletion, Job canceled): no new file starts and no retry
/// waits; the file in flight finishes within the pod's grace period, and the Job's retry (if
/// any) counts it from its output. Installed before the buckets are reached, so that a
/// SIGTERM while the models load ends the shard with its message too.
fn stop_at_sigterm() -> CancellationToken {
    let stop = CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            if let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                term.recv().await;
                stop.cancel();
            }
        }
    });
    stop
}

/// The storage settings of the pod: its flags, with the IAM endpoint of the batch's
/// environment when the operator set one.
fn storage_config(args: &ShardArgs, env: &ShardEnv) -> StorageConfig {
    let mut storage = args.storage.config();
    if let Some(url) = &env.iam_token_url {
        storage.iam_token_url = url.clone();
    }
    storage
}

/// The input and output buckets (the same client when they are the same bucket).
async fn connect_buckets(
    env: &ShardEnv,
    storage: &StorageConfig,
) -> Result<(Bucket, Bucket), ShardError> {
    let input = connect(&env.input, storage).await?;
    let output = if env.output == env.input {
        input.clone()
    } else {
        connect(&env.output, storage).await?
    };
    Ok((input, output))
}

/// The batch's speech analytics stage. Its counts are zero: analytics changes no count (a file
/// whose analytics failed gets a `.notice` beside its `.json` and stays counted once). It
/// reports the analytics in brief, which the operator keeps in the batch's status.
async fn analytics(args: &ShardArgs, env: &ShardEnv) -> Result<Finished, ShardError> {
    let storage = storage_config(args, env);
    // No SIGTERM handler here: the stage checks no stop signal, so SIGTERM keeps its default
    // action and ends the pod at once, retry waits included (the Job runs the stage again).
    let never = CancellationToken::new();
    let retry = Retry::new(args, env, &never);
    let (input, output) = retry.connect_buckets(env, &storage).await?;
    let threads = args.engine.threads.max(1);
    let analyzer =
        tokio::task::spawn_blocking(move || speechbatch_analytics::Analyzer::load_default(threads))
            .await
            .map_err(|e| ShardError::Engine(format!("loading panicked: {e}")))?
            .map_err(|e| ShardError::Engine(e.to_string()))?;
    let files = BatchFiles {
        batch_id: env.batch_id.clone(),
        input,
        output,
        params: env.params,
        vocabulary: None,
    };
    let analyzer = Arc::new(analyzer);
    // The stage is run again from its start: it writes each file's analytics anew.
    let report = retry
        .run(
            "speech analytics",
            || 0,
            || async { Ok(crate::analytics::run_analytics(&files, Some(&analyzer)).await?) },
        )
        .await?;
    tracing::info!(
        analysed = report.analysed,
        failed = report.failed,
        "speech analytics finished"
    );
    Ok(Finished {
        counts: ShardCounts::default(),
        analytics: report.summary,
    })
}

async fn shard(args: &ShardArgs, env: &ShardEnv) -> Result<Finished, ShardError> {
    let range = env.range(args.index)?;
    let storage = storage_config(args, env);
    let stop = stop_at_sigterm();
    let retry = Retry::new(args, env, &stop);
    let (input, output) = retry.connect_buckets(env, &storage).await?;
    let vocabulary = match &env.vocabulary {
        Some(v) => Some(Arc::new(load_vocabulary(v, &storage, &retry).await?)),
        None => None,
    };
    let files = BatchFiles {
        batch_id: env.batch_id.clone(),
        input,
        output,
        params: env.params,
        vocabulary,
    };
    let engine_args = args.engine.clone();
    let model = env.params.model;
    let engine = tokio::task::spawn_blocking(move || engine_args.load(&[model]))
        .await
        .map_err(|e| ShardError::Engine(format!("loading panicked: {e}")))?
        .map_err(|e| ShardError::Engine(e.to_string()))?;
    let recognizer: Arc<dyn Recognizer> = Arc::new(engine);

    let tally = Tally::default();
    let (mut counts, end) = retry
        .run(
            "shard",
            || tally.furthest.load(Ordering::Relaxed),
            || attempt(&recognizer, &files, &range, &stop, &tally),
        )
        .await?;
    // The last run counted the files earlier runs finished without their audio (see
    // `FinishedFile::counted`); this process measured them, so their audio counts.
    counts.audio_ms = tally.audio_ms.load(Ordering::Relaxed);
    match end {
        ShardEnd::Complete => Ok(Finished {
            counts,
            analytics: None,
        }),
        ShardEnd::Stopped => Err(ShardError::Stopped),
    }
}

/// What the runs of the range in this process finished, across retries.
#[derive(Default)]
struct Tally {
    /// The most files one run has finished (counted or processed): a retry that gets further
    /// than every run before it made progress, and starts the retry window again. Each run
    /// starts from the beginning of the range, so files a run counts from their outputs do not
    /// make it look like progress.
    furthest: AtomicU64,
    /// Milliseconds of audio recognised by this process's runs: each file is processed by one
    /// run only (later runs count it from its output, without audio).
    audio_ms: AtomicU64,
}

/// One run of the range from its start, in resume mode: files finished by an earlier run (of
/// this pod or of an earlier one) are counted from their outputs, not recognised again.
async fn attempt(
    recognizer: &Arc<dyn Recognizer>,
    files: &BatchFiles,
    range: &ShardRange,
    stop: &CancellationToken,
    tally: &Tally,
) -> Result<(ShardCounts, ShardEnd), ShardError> {
    let finished = AtomicU64::new(0);
    let on_file = |_: String, file: FinishedFile| {
        let n = finished.fetch_add(1, Ordering::Relaxed) + 1;
        tally.furthest.fetch_max(n, Ordering::Relaxed);
        tally.audio_ms.fetch_add(file.audio_ms, Ordering::Relaxed);
        async {}
    };
    let slots = Semaphore::new(1);
    Ok(run_shard(recognizer, files, range, true, &slots, stop, on_file).await?)
}
