//! The bucket flags every binary that reaches buckets flattens into its own (`speechbatch`,
//! `speechbatch-operator`, `speechbatch-shard`).

use std::path::PathBuf;

use crate::bucket::{Bucket, StorageConfig, DEFAULT_IAM_TOKEN_URL};
use crate::credentials::Credentials;

/// How buckets are reached.
#[derive(Debug, Clone, clap::Args)]
pub struct StorageArgs {
    /// IAM token endpoint for credentials files in the IBM Cloud (apikey) format.
    #[arg(long, env = "SPEECHBATCH_IAM_TOKEN_URL", default_value = DEFAULT_IAM_TOKEN_URL)]
    pub iam_token_url: String,
}

impl Default for StorageArgs {
    fn default() -> Self {
        Self {
            iam_token_url: DEFAULT_IAM_TOKEN_URL.to_owned(),
        }
    }
}

impl StorageArgs {
    /// The storage settings these flags give (timeouts and retries at their defaults).
    pub fn config(&self) -> StorageConfig {
        StorageConfig {
            iam_token_url: self.iam_token_url.clone(),
            ..StorageConfig::default()
        }
    }
}

/// Where custom language models are kept on Kubernetes (corpus texts, their analyses, trained
/// vocabularies): one S3 bucket, shared by the operator and the REST shim.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ModelStoreArgs {
    /// The model store's bucket. Without it custom language models are not served.
    #[arg(long = "model-store-bucket", env = "SPEECHBATCH_MODEL_STORE_BUCKET")]
    pub bucket: Option<String>,
    /// The model store's location (also the signing region).
    #[arg(
        long = "model-store-location",
        env = "SPEECHBATCH_MODEL_STORE_LOCATION",
        default_value = ""
    )]
    pub location: String,
    /// The model store's credentials file (S3 HMAC or IBM Cloud IAM format), as mounted from
    /// its Secret.
    #[arg(
        long = "model-store-credentials-file",
        env = "SPEECHBATCH_MODEL_STORE_CREDENTIALS_FILE"
    )]
    pub credentials_file: Option<PathBuf>,
}

impl ModelStoreArgs {
    /// The model store's client; `None` when no bucket or credentials file is configured. Errs
    /// (naming the file, never its content) when the credentials file cannot be read.
    pub async fn connect(&self, cfg: &StorageConfig) -> Result<Option<Bucket>, String> {
        let (Some(bucket), Some(file)) = (&self.bucket, &self.credentials_file) else {
            return Ok(None);
        };
        if bucket.is_empty() {
            return Ok(None);
        }
        let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let creds =
            Credentials::from_json(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
        Bucket::connect(&creds, bucket, &self.location, cfg)
            .await
            .map(Some)
            .map_err(|e| e.to_string())
    }
}
