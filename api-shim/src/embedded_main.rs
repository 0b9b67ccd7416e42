//! The embedded backend's part of `speechbatch`: its flags, the models, the embedded S3
//! endpoint and the job store.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use api_shim::embedded::{Embedded, EmbeddedConfig, RetryPolicy};
use speechbatch_storage::{Credentials, HmacCredentials, StorageConfig};
use speechbatch_worker::Recognizer;
use tokio_util::sync::CancellationToken;
use transcriber::cli::EngineArgs;
use transcriber::ModelName;

/// Flags of the embedded backend.
#[derive(clap::Args)]
pub struct EmbeddedArgs {
    /// Jobs that run at once; later jobs wait their turn.
    #[arg(long, env = "SPEECHBATCH_MAX_RUNNING_JOBS", default_value_t = 2)]
    pub max_running_jobs: usize,
    /// Files processed at once across all jobs.
    #[arg(long, env = "SPEECHBATCH_WORKERS", default_value_t = 1)]
    pub workers: usize,
    /// Upper bound on shards per job.
    #[arg(long, env = "SPEECHBATCH_MAX_SHARDS", default_value_t = 64)]
    pub max_shards: usize,
    /// The models and threads.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Address of the embedded S3 endpoint; `off` disables it.
    #[arg(long, env = "SPEECHBATCH_S3_LISTEN", default_value = "127.0.0.1:9000")]
    pub s3_listen: String,
    /// Folder the embedded S3 endpoint serves: each subfolder is a bucket (default:
    /// DATA_DIR/buckets).
    #[arg(long, env = "SPEECHBATCH_S3_ROOT")]
    pub s3_root: Option<PathBuf>,
    /// Seconds to wait for files in flight at SIGTERM before exiting anyway (they are redone at
    /// the next start).
    #[arg(long, env = "SPEECHBATCH_SHUTDOWN_GRACE_S", default_value_t = 300)]
    pub shutdown_grace_s: u64,
}

/// Starts the embedded backend: the S3 endpoint, the models and the job store. `retry` is the
/// window of `--storage-retry-window-s` (flags shared with the other binaries:
/// [`speechbatch_storage::StorageArgs`]).
pub async fn start(
    args: &EmbeddedArgs,
    mut storage: StorageConfig,
    retry: RetryPolicy,
    data_dir: &Path,
    shutdown: CancellationToken,
) -> anyhow::Result<Embedded> {
    if args.s3_listen != "off" {
        // The endpoint serves as long as the process runs; credentials files may name it
        // whatever the end point policy says of its address.
        let bound = start_embedded_s3(args, data_dir).await?;
        storage.endpoint_policy = storage.endpoint_policy.allow_listener(bound);
    }
    let started = std::time::Instant::now();
    let engine_args = args.engine.clone();
    let engine = tokio::task::spawn_blocking(move || engine_args.load(&ModelName::ALL))
        .await?
        .context("cannot load the models: run scripts/setup")?;
    let threads = args.engine.threads.max(1);
    let analyzer =
        tokio::task::spawn_blocking(move || speechbatch_analytics::Analyzer::load_default(threads))
            .await?
            .context("cannot load the speech analytics model: run scripts/setup")?;
    tracing::info!(seconds = started.elapsed().as_secs_f32(), "models loaded");
    let recognizer: Arc<dyn Recognizer> = Arc::new(engine);
    Embedded::start(
        EmbeddedConfig {
            data_dir: data_dir.to_path_buf(),
            max_running_jobs: args.max_running_jobs,
            workers: args.workers,
            max_shards: args.max_shards,
            storage,
            retry,
            analyzer: Some(Arc::new(analyzer)),
        },
        recognizer,
        shutdown,
    )
    .context("cannot open the job store")
}

/// Serves DATA_DIR/buckets (or --s3-root) over S3, with a key pair kept in
/// DATA_DIR/s3-credentials.json: a credentials file in the interface's format, ready to pass as
/// `input_credentials_file`.
async fn start_embedded_s3(args: &EmbeddedArgs, data_dir: &Path) -> anyhow::Result<SocketAddr> {
    let root = args
        .s3_root
        .clone()
        .unwrap_or_else(|| data_dir.join("buckets"));
    std::fs::create_dir_all(&root)?;
    let addr: SocketAddr = args
        .s3_listen
        .parse()
        .with_context(|| format!("--s3-listen {} is not an address", args.s3_listen))?;
    let path = data_dir.join("s3-credentials.json");
    let creds = match std::fs::read(&path) {
        Ok(bytes) => Credentials::from_json(&bytes)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        Err(_) => Credentials::Hmac(HmacCredentials {
            end_point: format!("http://{addr}"),
            access_key: uuid::Uuid::new_v4().simple().to_string(),
            secret_key: format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            ),
        }),
    };
    let Credentials::Hmac(mut hmac) = creds else {
        anyhow::bail!("{} must hold access_key and secret_key", path.display());
    };
    // The file is what users pass as a credentials file: keep its end point current.
    hmac.end_point = format!("http://{addr}");
    let creds = Credentials::Hmac(hmac.clone());
    crate::write_secret(&path, &creds.to_json())?;
    let (bound, _handle) = speechbatch_storage::embedded_s3::serve(
        root.clone(),
        addr,
        &hmac.access_key,
        &hmac.secret_key,
    )
    .await
    .with_context(|| format!("cannot serve S3 on {addr}"))?;
    tracing::info!(
        "embedded S3 on http://{bound} serving {} (credentials file {})",
        root.display(),
        path.display()
    );
    Ok(bound)
}
