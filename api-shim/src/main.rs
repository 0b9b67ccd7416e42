//! `speechbatch`: the batch service on one machine (embedded default): the REST API, the job
//! store, in-process workers and an embedded S3 endpoint.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use api_shim::auth::ApiKey;
use api_shim::embedded::{Embedded, EmbeddedConfig};
use clap::Parser;
use speechbatch_storage::{Credentials, HmacCredentials, StorageConfig};
use tokio_util::sync::CancellationToken;
use transcriber::{Engine, ModelName};

/// Runs the SpeechBatch service: the /v1/batches API with local job records, in-process
/// workers and an embedded S3 endpoint.
#[derive(Parser)]
#[command(version)]
struct Config {
    /// Where jobs run: `embedded` (this process: job store on disk, in-process workers, embedded
    /// S3) or `kubernetes` (SpeechBatch resources reconciled by the operator).
    #[arg(
        long,
        env = "SPEECHBATCH_BACKEND",
        value_enum,
        default_value = "embedded"
    )]
    backend: BackendKind,
    /// Namespace of the SpeechBatch resources (kubernetes backend).
    #[arg(long, env = "SPEECHBATCH_NAMESPACE", default_value = "default")]
    namespace: String,
    /// Address of the REST API.
    #[arg(long, env = "SPEECHBATCH_LISTEN", default_value = "127.0.0.1:1080")]
    listen: SocketAddr,
    /// API key for basic authentication as `apikey:{key}`. Default: the key in
    /// DATA_DIR/api-key, created at first start.
    #[arg(long, env = "SPEECHBATCH_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Job records, credentials, and the embedded S3 folder.
    #[arg(long, env = "SPEECHBATCH_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Jobs that run at once; later jobs wait their turn.
    #[arg(long, env = "SPEECHBATCH_MAX_RUNNING_JOBS", default_value_t = 2)]
    max_running_jobs: usize,
    /// Files processed at once across all jobs.
    #[arg(long, env = "SPEECHBATCH_WORKERS", default_value_t = 1)]
    workers: usize,
    /// ONNX Runtime intra-op threads per model.
    #[arg(long, env = "SPEECHBATCH_THREADS", default_value_t = default_threads())]
    threads: usize,
    /// Upper bound on shards per job.
    #[arg(long, env = "SPEECHBATCH_MAX_SHARDS", default_value_t = 64)]
    max_shards: usize,
    /// Folder of the converted models (default: set-up's cache).
    #[arg(long, env = "SPEECHBATCH_MODELS")]
    models: Option<PathBuf>,
    /// IAM token endpoint for credentials files in the IBM Cloud (apikey) format.
    #[arg(
        long,
        env = "SPEECHBATCH_IAM_TOKEN_URL",
        default_value = "https://iam.cloud.ibm.com/identity/token"
    )]
    iam_token_url: String,
    /// Address of the embedded S3 endpoint; `off` disables it.
    #[arg(long, env = "SPEECHBATCH_S3_LISTEN", default_value = "127.0.0.1:9000")]
    s3_listen: String,
    /// Folder the embedded S3 endpoint serves: each subfolder is a bucket (default:
    /// DATA_DIR/buckets).
    #[arg(long, env = "SPEECHBATCH_S3_ROOT")]
    s3_root: Option<PathBuf>,
    /// Seconds to wait for files in flight at SIGTERM before exiting anyway (they are redone at
    /// the next start).
    #[arg(long, env = "SPEECHBATCH_SHUTDOWN_GRACE_S", default_value_t = 300)]
    shutdown_grace_s: u64,
}

/// The backends the service can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum BackendKind {
    /// One machine: local job store, in-process workers, embedded S3.
    Embedded,
    /// SpeechBatch custom resources reconciled by speechbatch-operator.
    Kubernetes,
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                "info,warp=warn,aws_config=warn,aws_smithy_runtime=warn".into()
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let cfg = Config::parse();
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create {}", cfg.data_dir.display()))?;
    let key = match &cfg.api_key {
        Some(k) => k.clone(),
        None => secret_file(&cfg.data_dir.join("api-key"), || {
            uuid::Uuid::new_v4().simple().to_string()
        })?,
    };

    let shutdown = CancellationToken::new();
    let (backend, embedded): (Arc<dyn api_shim::backend::Backend>, Option<Embedded>) =
        match cfg.backend {
            BackendKind::Kubernetes => {
                let client = kube::Client::try_default()
                    .await
                    .context("cannot reach the Kubernetes API")?;
                tracing::info!(namespace = %cfg.namespace, "Kubernetes backend");
                let k8s = api_shim::kubernetes::Kubernetes::new(client, &cfg.namespace);
                (Arc::new(k8s), None)
            }
            BackendKind::Embedded => {
                let e = start_embedded(&cfg, shutdown.clone()).await?;
                (Arc::new(e.clone()), Some(e))
            }
        };
    let routes = api_shim::filters::api(backend, ApiKey::new(&key));
    let (addr, server) = warp::serve(routes)
        .try_bind_with_graceful_shutdown(cfg.listen, {
            let shutdown = shutdown.clone();
            async move { shutdown.cancelled().await }
        })
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    tracing::info!(
        "REST API on http://{addr}/v1/batches (user apikey, key {})",
        if cfg.api_key.is_some() {
            "from --api-key".to_string()
        } else {
            format!("in {}", cfg.data_dir.join("api-key").display())
        }
    );
    let server = tokio::spawn(server);

    wait_for_signal().await;
    tracing::info!("shutting down: no new files start; waiting for files in flight");
    shutdown.cancel();
    // Graceful shutdown waits for open connections; a client that keeps one busy must not keep
    // the process alive (seen in tests under load), so the wait is bounded.
    if tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open after 10 s: closing them");
    }
    if let Some(embedded) = embedded {
        if tokio::time::timeout(Duration::from_secs(cfg.shutdown_grace_s), embedded.drain())
            .await
            .is_err()
        {
            tracing::warn!(
                "files still in flight after the grace period: they rerun at the next start"
            );
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// The embedded backend: the models, the embedded S3 endpoint and the job store.
async fn start_embedded(cfg: &Config, shutdown: CancellationToken) -> anyhow::Result<Embedded> {
    let s3 = if cfg.s3_listen != "off" {
        Some(start_embedded_s3(cfg).await?)
    } else {
        None
    };

    let models = cfg
        .models
        .clone()
        .unwrap_or_else(transcriber::runtime::models_dir);
    let started = std::time::Instant::now();
    let engine = tokio::task::spawn_blocking({
        let threads = cfg.threads;
        move || Engine::load(&models, &ModelName::ALL, threads)
    })
    .await?
    .context("cannot load the models: run scripts/setup")?;
    tracing::info!(seconds = started.elapsed().as_secs_f32(), "models loaded");

    let backend = Embedded::start(
        EmbeddedConfig {
            data_dir: cfg.data_dir.clone(),
            max_running_jobs: cfg.max_running_jobs,
            workers: cfg.workers,
            max_shards: cfg.max_shards,
            storage: StorageConfig {
                iam_token_url: cfg.iam_token_url.clone(),
                ..StorageConfig::default()
            },
        },
        Arc::new(engine),
        shutdown.clone(),
    )
    .context("cannot open the job store")?;

    // Dropping the handle detaches the task: the endpoint serves as long as the process runs.
    drop(s3);
    Ok(backend)
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Serves DATA_DIR/buckets (or --s3-root) over S3, with a key pair kept in
/// DATA_DIR/s3-credentials.json: a credentials file in the interface's format, ready to pass as
/// `input_credentials_file`.
async fn start_embedded_s3(cfg: &Config) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let root = cfg
        .s3_root
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("buckets"));
    std::fs::create_dir_all(&root)?;
    let addr: SocketAddr = cfg
        .s3_listen
        .parse()
        .with_context(|| format!("--s3-listen {} is not an address", cfg.s3_listen))?;
    let path = cfg.data_dir.join("s3-credentials.json");
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
    write_secret(&path, &creds.to_json())?;
    let (bound, handle) = speechbatch_storage::embedded_s3::serve(
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
    Ok(handle)
}

/// Reads a secret from a 0600 file, creating it with `make` the first time.
fn secret_file(path: &Path, make: impl FnOnce() -> String) -> anyhow::Result<String> {
    if let Ok(s) = std::fs::read_to_string(path) {
        return Ok(s.trim().to_string());
    }
    let s = make();
    write_secret(path, s.as_bytes())?;
    Ok(s)
}

fn write_secret(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(bytes)?;
    Ok(())
}
