//! `speechbatch`: the /v1/batches REST API over one of two backends: the embedded default (job
//! store on disk, in-process workers, an embedded S3 endpoint; feature `embedded`) or Kubernetes
//! (SpeechBatch resources reconciled by `speechbatch-operator`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use api_shim::auth::ApiKey;
use api_shim::backend::Backend;
use api_shim::customization::LanguageModels;
use clap::Parser;
use tokio_util::sync::CancellationToken;

#[cfg(feature = "embedded")]
mod embedded_main;

/// Runs the SpeechBatch service: the /v1/batches API over the embedded backend (local job
/// records, in-process workers, embedded S3) or over SpeechBatch resources on Kubernetes.
#[derive(Parser)]
#[command(version)]
struct Config {
    /// Where jobs run: `embedded` (this process: job store on disk, in-process workers, embedded
    /// S3) or `kubernetes` (SpeechBatch resources reconciled by the operator).
    #[arg(long, env = "SPEECHBATCH_BACKEND", value_enum, default_value_t = BackendKind::default())]
    backend: BackendKind,
    /// Namespace of the SpeechBatch resources (kubernetes backend).
    #[arg(long, env = "SPEECHBATCH_NAMESPACE", default_value = "default")]
    namespace: String,
    /// Address of the REST API.
    #[arg(long, env = "SPEECHBATCH_LISTEN", default_value = "127.0.0.1:1080")]
    listen: SocketAddr,
    /// File holding the API key for basic authentication as `apikey:{key}` (the key may also
    /// come in the environment variable SPEECHBATCH_API_KEY). Default: DATA_DIR/api-key,
    /// created with a random key at first start. There is no flag for the key itself: every
    /// local user can read a process's arguments.
    #[arg(long, env = "SPEECHBATCH_API_KEY_FILE")]
    api_key_file: Option<PathBuf>,
    /// Refused: see --api-key-file.
    #[arg(long, hide = true)]
    api_key: Option<String>,
    /// The API key file and (embedded backend) job records, credentials and the embedded S3
    /// folder.
    #[arg(long, env = "SPEECHBATCH_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// The HTTP server: TLS, timeouts, connection limits.
    #[command(flatten)]
    http: api_shim::server::HttpArgs,
    /// How buckets are reached, and how long errors that may pass are retried (the embedded
    /// backend's scans and shards).
    #[command(flatten)]
    storage: speechbatch_storage::StorageArgs,
    /// Kubernetes backend: where custom language models keep their corpora and trained
    /// vocabularies (the operator's model store). Without it `/v1/customizations` answers 501.
    #[command(flatten)]
    model_store: speechbatch_storage::ModelStoreArgs,
    /// The embedded backend's settings.
    #[cfg(feature = "embedded")]
    #[command(flatten)]
    embedded: embedded_main::EmbeddedArgs,
    /// Logging.
    #[command(flatten)]
    log: speechbatch_telemetry::LogArgs,
}

/// The backends the service can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum BackendKind {
    /// One machine: local job store, in-process workers, embedded S3.
    Embedded,
    /// SpeechBatch custom resources reconciled by speechbatch-operator.
    Kubernetes,
}

impl Default for BackendKind {
    /// The embedded backend where the binary has it, else Kubernetes.
    fn default() -> Self {
        if cfg!(feature = "embedded") {
            Self::Embedded
        } else {
            Self::Kubernetes
        }
    }
}

/// What runs beside the REST server until shutdown.
enum Running {
    /// Nothing to drain: the operator does the work.
    Kubernetes,
    /// The embedded backend, drained at shutdown within the grace period.
    #[cfg(feature = "embedded")]
    Embedded(api_shim::embedded::Embedded, Duration),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cfg = Config::parse();
    speechbatch_telemetry::init(&cfg.log)?;
    anyhow::ensure!(
        cfg.api_key.is_none(),
        "--api-key would show the key to every local user in the process list: put it in a \
         file only the service's user can read and pass --api-key-file, or set SPEECHBATCH_API_KEY"
    );
    api_shim::private_dir(&cfg.data_dir)
        .with_context(|| format!("cannot create {} (mode 0700)", cfg.data_dir.display()))?;
    let (key, key_source) = api_key(&cfg)?;

    // Credentials files may never point the service at itself.
    let mut storage = cfg.storage.config();
    storage.endpoint_policy = storage.endpoint_policy.deny_listener(cfg.listen);
    let shutdown = CancellationToken::new();
    let (backend, language_models, running): (Arc<dyn Backend>, Arc<dyn LanguageModels>, Running) =
        match cfg.backend {
            BackendKind::Kubernetes => {
                let client = kube::Client::try_default()
                    .await
                    .context("cannot reach the Kubernetes API")?;
                tracing::info!(namespace = %cfg.namespace, "Kubernetes backend");
                let store = cfg
                    .model_store
                    .connect(&storage)
                    .await
                    .map_err(|e| anyhow::anyhow!("the model store: {e}"))?;
                let models = store.map(|store| {
                    Arc::new(
                        api_shim::kubernetes::language_models::LanguageModelResources::new(
                            client.clone(),
                            &cfg.namespace,
                            store,
                        ),
                    )
                });
                let language_models: Arc<dyn LanguageModels> = match &models {
                    Some(m) => m.clone(),
                    None => {
                        tracing::info!("no model store (--model-store-bucket, --model-store-credentials-file): custom language models are not served");
                        Arc::new(api_shim::customization::backend::NotServed)
                    }
                };
                let k8s = api_shim::kubernetes::Kubernetes::new(client, &cfg.namespace, models);
                (Arc::new(k8s), language_models, Running::Kubernetes)
            }
            #[cfg(feature = "embedded")]
            BackendKind::Embedded => {
                let e = embedded_main::start(
                    &cfg.embedded,
                    storage,
                    cfg.storage.retry_policy(),
                    &cfg.data_dir,
                    shutdown.clone(),
                )
                .await?;
                let grace = Duration::from_secs(cfg.embedded.shutdown_grace_s);
                let models = e.language_models();
                (Arc::new(e.clone()), models, Running::Embedded(e, grace))
            }
            #[cfg(not(feature = "embedded"))]
            BackendKind::Embedded => {
                anyhow::bail!(
                    "this build of speechbatch has no embedded backend: use --backend kubernetes"
                )
            }
        };
    let routes = api_shim::filters::api(backend, language_models, ApiKey::new(&key));
    let server = api_shim::server::serve(
        warp::service(routes),
        cfg.listen,
        &cfg.http,
        shutdown.clone(),
    )
    .await?;
    tracing::info!(
        "REST API on {}://{}/v1/batches (user apikey, key {key_source})",
        cfg.http.scheme(),
        server.addr
    );
    let server = server.task;

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
    match running {
        Running::Kubernetes => {}
        #[cfg(feature = "embedded")]
        Running::Embedded(embedded, grace) => {
            if tokio::time::timeout(grace, embedded.drain()).await.is_err() {
                tracing::warn!(
                    "files still in flight after the grace period: they rerun at the next start"
                );
            }
        }
    }
    tracing::info!("stopped");
    Ok(())
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

/// The API key and where it came from: --api-key-file, SPEECHBATCH_API_KEY, or DATA_DIR/api-key
/// (made at first start).
fn api_key(cfg: &Config) -> anyhow::Result<(String, String)> {
    if let Some(path) = &cfg.api_key_file {
        let key = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the API key file {}", path.display()))?;
        let key = key.trim().to_string();
        anyhow::ensure!(
            !key.is_empty(),
            "the API key file {} is empty",
            path.display()
        );
        return Ok((key, format!("from {}", path.display())));
    }
    if let Ok(key) = std::env::var("SPEECHBATCH_API_KEY") {
        let key = key.trim().to_string();
        anyhow::ensure!(!key.is_empty(), "SPEECHBATCH_API_KEY is empty");
        return Ok((key, "from SPEECHBATCH_API_KEY".to_string()));
    }
    let path = cfg.data_dir.join("api-key");
    let key = secret_file(&path, || uuid::Uuid::new_v4().simple().to_string())?;
    Ok((key, format!("in {}", path.display())))
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

/// Writes a file only the service's user can read.
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
