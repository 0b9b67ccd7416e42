//! The bucket flags every binary that reaches buckets flattens into its own (`speechbatch`,
//! `speechbatch-operator`, `speechbatch-shard`).

use crate::bucket::{StorageConfig, DEFAULT_IAM_TOKEN_URL};

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
