//! The operator's command line. Every flag can also come from the environment.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use clap::Parser;
use k8s_openapi::api::core::v1::Toleration;

use crate::build::{JobSettings, ModelStoreRef};
use crate::decide::Policy;

/// `speechbatch-operator`: runs SpeechBatch custom resources as Indexed Jobs of shard workers.
#[derive(Parser, Clone, Debug)]
#[command(name = "speechbatch-operator", version, about)]
pub struct Config {
    /// Watch SpeechBatches in this namespace only (default: all namespaces).
    #[arg(long, env = "SPEECHBATCH_NAMESPACE")]
    pub namespace: Option<String>,
    /// Image of the shard worker (runs `speechbatch-shard`, crate `speechbatch-worker`).
    #[arg(
        long,
        env = "SPEECHBATCH_SHARD_IMAGE",
        default_value = "speechbatch/transcriber:latest"
    )]
    pub shard_image: String,
    /// imagePullPolicy of shard containers (Always, IfNotPresent, Never).
    #[arg(long, env = "SPEECHBATCH_SHARD_IMAGE_PULL_POLICY")]
    pub shard_image_pull_policy: Option<String>,
    /// Service account of shard pods (needs no RBAC rules).
    #[arg(
        long,
        env = "SPEECHBATCH_SHARD_SERVICE_ACCOUNT",
        default_value = "speechbatch-shard"
    )]
    pub shard_service_account: String,
    /// Shards processed at once when a SpeechBatch sets no spec.parallelism.
    #[arg(long, env = "SPEECHBATCH_DEFAULT_PARALLELISM", default_value_t = 4,
          value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub default_parallelism: i32,
    /// Retries of one shard (backoffLimitPerIndex) before its index fails.
    #[arg(long, env = "SPEECHBATCH_BACKOFF_LIMIT_PER_INDEX", default_value_t = 3,
          value_parser = clap::value_parser!(i32).range(0..=100))]
    pub backoff_limit_per_index: i32,
    /// At most this many shards (Job completions) per batch; the status grows with it
    /// (64 keeps a 1,000,000-file batch's status under 10 KB, plus at most 4 KB of speech
    /// analytics summary).
    #[arg(long, env = "SPEECHBATCH_MAX_SHARDS", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub max_shards: u32,
    /// Kueue LocalQueue for shard Jobs: they are created suspended and labelled for it.
    #[arg(long, env = "SPEECHBATCH_KUEUE_QUEUE")]
    pub kueue_queue: Option<String>,
    /// CPU request of a shard container.
    #[arg(long, env = "SPEECHBATCH_SHARD_CPU_REQUEST", default_value = "1")]
    pub shard_cpu_request: String,
    /// Memory request of a shard container.
    #[arg(long, env = "SPEECHBATCH_SHARD_MEMORY_REQUEST", default_value = "1Gi")]
    pub shard_memory_request: String,
    /// CPU limit of a shard container (none by default).
    #[arg(long, env = "SPEECHBATCH_SHARD_CPU_LIMIT")]
    pub shard_cpu_limit: Option<String>,
    /// Memory limit of a shard container.
    #[arg(long, env = "SPEECHBATCH_SHARD_MEMORY_LIMIT", default_value = "2Gi")]
    pub shard_memory_limit: Option<String>,
    /// Node selector of shard pods, as key=value pairs separated by commas.
    #[arg(long, env = "SPEECHBATCH_SHARD_NODE_SELECTOR", value_delimiter = ',')]
    pub shard_node_selector: Vec<String>,
    /// Tolerations of shard pods, as a JSON list of Kubernetes tolerations
    /// (`[{"key":"asr","operator":"Exists","effect":"NoSchedule"}]`).
    #[arg(long, env = "SPEECHBATCH_SHARD_TOLERATIONS", value_parser = parse_tolerations)]
    pub shard_tolerations: Option<ShardTolerations>,
    /// A PersistentVolumeClaim holding the converted models, mounted read-only into shard pods
    /// at --shard-models-path (instead of the models baked into the transcriber image).
    #[arg(long, env = "SPEECHBATCH_SHARD_MODELS_PVC")]
    pub shard_models_pvc: Option<String>,
    /// Where shard pods mount --shard-models-pvc; their SPEECHBATCH_MODELS points there.
    #[arg(long, env = "SPEECHBATCH_SHARD_MODELS_PATH", default_value = "/models")]
    pub shard_models_path: String,
    /// How buckets are reached (the IAM token endpoint, the end point policy) and how long
    /// errors that may pass are retried, for the operator's scans and the model store; shard and
    /// analytics pods get the same settings through their environment (the IAM endpoint only
    /// when it is not the default).
    #[command(flatten)]
    pub storage: speechbatch_storage::StorageArgs,
    /// The model store of custom language models (corpora, analyses, trained vocabularies).
    /// Without it LanguageModels are not reconciled and batches naming one fail.
    #[command(flatten)]
    pub model_store: speechbatch_storage::ModelStoreArgs,
    /// The Secret (in each batch's namespace) holding the model store's credentials file,
    /// mounted into shard pods of batches that use a custom language model.
    #[arg(long, env = "SPEECHBATCH_MODEL_STORE_SECRET")]
    pub model_store_secret: Option<String>,
    /// The key of the credentials file in --model-store-secret.
    #[arg(
        long,
        env = "SPEECHBATCH_MODEL_STORE_SECRET_KEY",
        default_value = "credentials.json"
    )]
    pub model_store_secret_key: String,
    /// Re-check active batches at least this often, in seconds (pods are watched too).
    #[arg(long, env = "SPEECHBATCH_RESYNC_SECONDS", default_value_t = 60)]
    pub resync_seconds: u64,
    /// Logging.
    #[command(flatten)]
    pub log: speechbatch_telemetry::LogArgs,
    /// Address of the HTTP server for /metrics, /healthz and /readyz.
    #[arg(
        long,
        env = "SPEECHBATCH_METRICS_ADDRESS",
        default_value = "0.0.0.0:8080"
    )]
    pub metrics_address: SocketAddr,
    /// Run the controller only while holding the leader Lease.
    #[arg(long, env = "SPEECHBATCH_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Name of the leader Lease.
    #[arg(
        long,
        env = "SPEECHBATCH_LEASE_NAME",
        default_value = "speechbatch-operator"
    )]
    pub lease_name: String,
    /// Namespace of the leader Lease (default: the pod's namespace, else `default`).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// Lease duration in seconds; the leader renews it every third of that.
    #[arg(long, env = "SPEECHBATCH_LEASE_DURATION_SECONDS", default_value_t = 15)]
    pub lease_duration_seconds: u32,
    /// This replica's identity in the Lease and in Events (default: the pod name or hostname).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
}

/// Shard pod tolerations from `--shard-tolerations`.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardTolerations(pub Vec<Toleration>);

fn parse_tolerations(s: &str) -> Result<ShardTolerations, String> {
    serde_json::from_str(s)
        .map(ShardTolerations)
        .map_err(|e| format!("not a JSON list of tolerations: {e}"))
}

impl Config {
    /// The Job settings and scan policy of the core.
    pub fn policy(&self) -> Policy {
        let mut requests = BTreeMap::from([
            ("cpu".to_owned(), self.shard_cpu_request.clone()),
            ("memory".to_owned(), self.shard_memory_request.clone()),
        ]);
        requests.retain(|_, v| !v.is_empty());
        let mut limits = BTreeMap::new();
        if let Some(c) = self.shard_cpu_limit.as_ref().filter(|v| !v.is_empty()) {
            limits.insert("cpu".to_owned(), c.clone());
        }
        if let Some(m) = self.shard_memory_limit.as_ref().filter(|v| !v.is_empty()) {
            limits.insert("memory".to_owned(), m.clone());
        }
        let node_selector = self
            .shard_node_selector
            .iter()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Policy {
            job: JobSettings {
                image: self.shard_image.clone(),
                image_pull_policy: self.shard_image_pull_policy.clone(),
                service_account: Some(self.shard_service_account.clone()).filter(|s| !s.is_empty()),
                default_parallelism: self.default_parallelism,
                backoff_limit_per_index: self.backoff_limit_per_index,
                kueue_queue: self.kueue_queue.clone().filter(|q| !q.is_empty()),
                requests,
                limits,
                node_selector,
                tolerations: self
                    .shard_tolerations
                    .clone()
                    .map(|t| t.0)
                    .unwrap_or_default(),
                models_pvc: self.shard_models_pvc.clone().filter(|p| !p.is_empty()),
                models_path: self.shard_models_path.clone(),
                iam_token_url: Some(self.storage.iam_token_url.clone())
                    .filter(|url| url != speechbatch_storage::DEFAULT_IAM_TOKEN_URL),
                storage_env: self
                    .storage
                    .child_env()
                    .into_iter()
                    .map(|(name, value)| (name.to_owned(), value))
                    .collect(),
                model_store: self.model_store_ref(),
            },
            retry_window: self.storage.retry_policy().window,
        }
    }

    /// How the operator reaches every bucket (the scans' and the model store's): the end point
    /// policy and IAM endpoint of its flags ([`speechbatch_storage::StorageArgs::config`]), and
    /// its own HTTP server refused, so that no credentials file can point a scan at it.
    pub fn storage_config(&self) -> speechbatch_storage::StorageConfig {
        let mut storage = self.storage.config();
        storage.endpoint_policy = storage.endpoint_policy.deny_listener(self.metrics_address);
        storage
    }

    /// The model store as shards reach it, when a bucket and a Secret are configured.
    pub fn model_store_ref(&self) -> Option<ModelStoreRef> {
        let bucket = self.model_store.bucket.clone().filter(|b| !b.is_empty())?;
        let secret_name = self.model_store_secret.clone().filter(|s| !s.is_empty())?;
        Some(ModelStoreRef {
            bucket,
            location: self.model_store.location.clone(),
            secret_name,
            secret_key: self.model_store_secret_key.clone(),
        })
    }

    /// The identity for the Lease and Events.
    pub fn identity(&self) -> String {
        self.identity
            .clone()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| format!("speechbatch-operator-{}", std::process::id()))
    }

    /// The defaults, as if run without flags or environment (for tests).
    pub fn defaults() -> Self {
        Config::parse_from(["speechbatch-operator"])
    }
}
