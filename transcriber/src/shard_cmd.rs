//! `transcriber shard`: runs one completion index of a SpeechBatch's Indexed Job.
//!
//! The operator passes everything through the environment (credentials only as paths of files
//! mounted from Secrets, never as values). The shard lists its key range, recognises each file,
//! writes `.json`/`.notice` outputs tagged with the batch id, and always runs in resume mode: a
//! retried index counts what this batch already finished instead of redoing it, so its tally is
//! exact. The tally goes to the termination message, where the operator reads it (no API access,
//! so the shard's service account needs no RBAC at all).
//!
//! Exit codes: 0 when the range is finished (bad audio files only make `.notice`s), 3 for a
//! permanent request-level error (the Job's podFailurePolicy fails the Job), 1 for a transient
//! one (the index is retried), 2 for a broken invocation.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use crds::RecognitionParams;
use speechbatch_storage::{Bucket, Credentials, StorageConfig, StorageErrorKind};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use transcriber::batch::{run_shard, BatchFiles, ShardEnd, ShardRange};
use transcriber::{Engine, ModelName};

/// Exit code for errors that retrying cannot fix.
const EXIT_PERMANENT: u8 = 3;
/// Exit code for errors that a retry may get past.
const EXIT_TRANSIENT: u8 = 1;

/// Flags of `transcriber shard` (each also read from the environment the operator sets).
#[derive(Args, Debug)]
pub struct ShardArgs {
    /// The batch id (the SpeechBatch's name), written into every output's metadata.
    #[arg(long, env = "SPEECHBATCH_BATCH_ID")]
    batch_id: String,
    /// This shard's completion index.
    #[arg(long, env = "JOB_COMPLETION_INDEX")]
    index: usize,
    /// JSON array of the plan's bounds: shard i covers the keys after bounds[i-1] up to and
    /// including bounds[i].
    #[arg(long, env = "SPEECHBATCH_SHARD_BOUNDS")]
    bounds: String,
    /// JSON of the recognition parameters.
    #[arg(long, env = "SPEECHBATCH_PARAMS", default_value = "{}")]
    params: String,
    /// Input bucket name.
    #[arg(long, env = "SPEECHBATCH_INPUT_BUCKET")]
    input_bucket: String,
    /// Input bucket location.
    #[arg(long, env = "SPEECHBATCH_INPUT_LOCATION")]
    input_location: String,
    /// Path of the input bucket's credentials file.
    #[arg(long, env = "SPEECHBATCH_INPUT_CREDENTIALS")]
    input_credentials: PathBuf,
    /// Output bucket name (default: the input bucket).
    #[arg(long, env = "SPEECHBATCH_OUTPUT_BUCKET")]
    output_bucket: Option<String>,
    /// Output bucket location.
    #[arg(long, env = "SPEECHBATCH_OUTPUT_LOCATION")]
    output_location: Option<String>,
    /// Path of the output bucket's credentials file (default: the input's).
    #[arg(long, env = "SPEECHBATCH_OUTPUT_CREDENTIALS")]
    output_credentials: Option<PathBuf>,
    /// IAM token endpoint for IBM Cloud credentials files.
    #[arg(
        long,
        env = "SPEECHBATCH_IAM_TOKEN_URL",
        default_value = "https://iam.cloud.ibm.com/identity/token"
    )]
    iam_token_url: String,
    /// Where the tally is written for the operator.
    #[arg(
        long,
        env = "SPEECHBATCH_TERMINATION_LOG",
        default_value = "/dev/termination-log"
    )]
    termination_log: PathBuf,
    /// Folder of the converted models.
    #[arg(long, env = "SPEECHBATCH_MODELS")]
    models: Option<PathBuf>,
    /// ONNX Runtime intra-op threads.
    #[arg(long, env = "SPEECHBATCH_THREADS", default_value_t = crate::default_threads())]
    threads: usize,
}

/// A shard failure and whether retrying might help.
struct Failure {
    message: String,
    permanent: bool,
}

impl Failure {
    fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: true,
        }
    }
}

impl From<speechbatch_storage::StorageError> for Failure {
    fn from(e: speechbatch_storage::StorageError) -> Self {
        let permanent = matches!(
            e.kind,
            StorageErrorKind::InvalidCredentials
                | StorageErrorKind::AccessDenied
                | StorageErrorKind::NoSuchBucket
        );
        Self {
            message: e.message,
            permanent,
        }
    }
}

/// Runs the shard and returns the process's exit code.
pub fn run(args: ShardArgs) -> ExitCode {
    let log = args.termination_log.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    match runtime.block_on(shard(args)) {
        Ok(report) => {
            write_termination(&log, &report);
            eprintln!("shard finished: {report}");
            ExitCode::SUCCESS
        }
        Err(f) => {
            let report = serde_json::json!({ "error": f.message }).to_string();
            write_termination(&log, &report);
            eprintln!("shard failed: {}", f.message);
            ExitCode::from(if f.permanent {
                EXIT_PERMANENT
            } else {
                EXIT_TRANSIENT
            })
        }
    }
}

fn write_termination(path: &std::path::Path, report: &str) {
    if let Err(e) = std::fs::write(path, report) {
        eprintln!(
            "cannot write the termination message to {}: {e}",
            path.display()
        );
    }
}

async fn shard(args: ShardArgs) -> Result<String, Failure> {
    let bounds: Vec<String> = serde_json::from_str(&args.bounds).map_err(|e| {
        Failure::permanent(format!(
            "SPEECHBATCH_SHARD_BOUNDS is not a JSON array of keys: {e}"
        ))
    })?;
    if args.index >= bounds.len() {
        return Err(Failure::permanent(format!(
            "completion index {} is outside the plan's {} shards",
            args.index,
            bounds.len()
        )));
    }
    let range = ShardRange {
        start_after: args.index.checked_sub(1).map(|i| bounds[i].clone()),
        last: Some(bounds[args.index].clone()),
    };
    let params: RecognitionParams = serde_json::from_str(&args.params)
        .map_err(|e| Failure::permanent(format!("SPEECHBATCH_PARAMS is not valid: {e}")))?;
    let storage = StorageConfig {
        iam_token_url: args.iam_token_url.clone(),
        ..StorageConfig::default()
    };
    let read_creds = |path: &PathBuf| -> Result<Credentials, Failure> {
        let bytes = std::fs::read(path).map_err(|e| {
            Failure::permanent(format!(
                "cannot read the credentials file {}: {e}",
                path.display()
            ))
        })?;
        Credentials::from_json(&bytes).map_err(|e| Failure::permanent(e.to_string()))
    };
    let input_creds = read_creds(&args.input_credentials)?;
    let input = Bucket::connect(
        &input_creds,
        &args.input_bucket,
        &args.input_location,
        &storage,
    )
    .await?;
    let output = match &args.output_bucket {
        Some(name) => {
            let creds = match &args.output_credentials {
                Some(p) => read_creds(p)?,
                None => input_creds.clone(),
            };
            let location = args
                .output_location
                .as_deref()
                .unwrap_or(&args.input_location);
            Bucket::connect(&creds, name, location, &storage).await?
        }
        None => input.clone(),
    };
    let files = BatchFiles {
        batch_id: args.batch_id.clone(),
        input,
        output,
        params,
    };

    let models = args
        .models
        .clone()
        .unwrap_or_else(transcriber::runtime::models_dir);
    let model = files.params.model;
    let threads = args.threads;
    let engine =
        tokio::task::spawn_blocking(move || Engine::load(&models, &[model as ModelName], threads))
            .await
            .map_err(|e| Failure::permanent(format!("loading the models panicked: {e}")))?
            .map_err(|e| Failure::permanent(format!("cannot load the models: {e}")))?;
    let engine = Arc::new(engine);

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
    let (tally, end) = run_shard(
        &engine,
        &files,
        &range,
        true,
        &slots,
        &stop,
        |key, outcome| {
            tracing::info!(key, ?outcome, "file finished");
        },
    )
    .await?;
    if end == ShardEnd::Stopped {
        return Err(Failure {
            message: "stopped by SIGTERM before the end of the shard".into(),
            permanent: false,
        });
    }
    Ok(serde_json::json!({
        "index": args.index,
        "successful": tally.successful,
        "failed": tally.failed,
    })
    .to_string())
}
