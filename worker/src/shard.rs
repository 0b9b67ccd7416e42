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
//! The same binary runs the batch's speech analytics Job (`SPEECHBATCH_STAGE=analytics`): one
//! pod that analyses every file the batch recognised, once all shards are done
//! ([`crate::analytics`]); its termination message carries the analytics in brief, which the
//! operator keeps in the batch's status.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crds::analytics::AnalyticsSummary;
use crds::customization::Vocabulary;
use crds::shard::{
    env, ShardBucket, ShardEnv, ShardEnvError, ShardExit, ShardVocabulary, TerminationMessage,
};
use crds::ShardCounts;
use speechbatch_storage::{Bucket, Credentials, StorageArgs, StorageConfig, StorageError};
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
    /// environment, which wins).
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

/// Reads the batch's frozen vocabulary from the model store. Any failure (missing object,
/// unreadable store, not a vocabulary) fails the shard permanently: recognising without the
/// model the user asked for would give transcripts that silently lack its words.
async fn load_vocabulary(
    v: &ShardVocabulary,
    storage: &StorageConfig,
) -> Result<Vocabulary, ShardError> {
    let fail = |reason: String| ShardError::Vocabulary {
        object: v.object.clone(),
        reason,
    };
    let store = connect(&v.store, storage)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let bytes = store
        .get(&v.object, MAX_VOCABULARY_BYTES)
        .await
        .map_err(|e| fail(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| fail(format!("not a trained vocabulary: {e}")))
}

/// The batch's speech analytics stage. Its counts are zero: analytics changes no count (a file
/// whose analytics failed gets a `.notice` beside its `.json` and stays counted once). It
/// reports the analytics in brief, which the operator keeps in the batch's status.
async fn analytics(args: &ShardArgs, env: &ShardEnv) -> Result<Finished, ShardError> {
    let mut storage = args.storage.config();
    if let Some(url) = &env.iam_token_url {
        storage.iam_token_url = url.clone();
    }
    let output = connect(&env.output, &storage).await?;
    let input = if env.output == env.input {
        output.clone()
    } else {
        connect(&env.input, &storage).await?
    };
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
    let report = crate::analytics::run_analytics(&files, Some(&Arc::new(analyzer))).await?;
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
    let mut storage = args.storage.config();
    if let Some(url) = &env.iam_token_url {
        storage.iam_token_url = url.clone();
    }
    let input = connect(&env.input, &storage).await?;
    let output = if env.output == env.input {
        input.clone()
    } else {
        connect(&env.output, &storage).await?
    };
    let vocabulary = match &env.vocabulary {
        Some(v) => Some(Arc::new(load_vocabulary(v, &storage).await?)),
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

    // SIGTERM (pod deletion, Job canceled): no new file starts; the one in flight finishes
    // within the pod's grace period, and the retry (if any) counts it from its output.
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
    let slots = Semaphore::new(1);
    let (counts, end) = run_shard(
        &recognizer,
        &files,
        &range,
        true,
        &slots,
        &stop,
        |_, _| async {},
    )
    .await?;
    match end {
        ShardEnd::Complete => Ok(Finished {
            counts,
            analytics: None,
        }),
        ShardEnd::Stopped => Err(ShardError::Stopped),
    }
}
