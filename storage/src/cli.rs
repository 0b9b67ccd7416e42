//! The bucket flags every binary that reaches buckets flattens into its own (`speechbatch`,
//! `speechbatch-operator`, `speechbatch-shard`).

use std::path::PathBuf;

use crate::bucket::{Bucket, StorageConfig, DEFAULT_IAM_TOKEN_URL};
use crate::credentials::Credentials;
use crate::endpoint::{AllowEntry, EndpointPolicy};

/// How buckets are reached.
#[derive(Debug, Clone, clap::Args)]
pub struct StorageArgs {
    /// IAM token endpoint for credentials files in the IBM Cloud (apikey) format.
    #[arg(long, env = "SPEECHBATCH_IAM_TOKEN_URL", default_value = DEFAULT_IAM_TOKEN_URL)]
    pub iam_token_url: String,
    /// Storage end points that credentials files may name although the end point policy
    /// refuses them (link-local and metadata addresses, and with --endpoint-deny-private
    /// loopback, private and this host's addresses): address ranges (10.0.0.0/8, ::1), addresses with
    /// a port (127.0.0.1:9000, [::1]:9000; 0.0.0.0:9000 is every address of this host at 9000)
    /// or host names with a port (minio.internal:9000). Repeat the flag or separate entries
    /// with commas. The service's own REST address stays refused.
    #[arg(
        long = "endpoint-allow",
        env = "SPEECHBATCH_ENDPOINT_ALLOW",
        value_delimiter = ',',
        value_name = "ENTRY"
    )]
    pub endpoint_allow: Vec<AllowEntry>,
    /// Refuse end points on loopback, private (10/8, 172.16/12, 192.168/16, 100.64/10,
    /// fc00::/7...) and this host's addresses too, for deployments whose users must not reach
    /// the internal network; allow the internal object store with --endpoint-allow.
    #[arg(
        long = "endpoint-deny-private",
        env = "SPEECHBATCH_ENDPOINT_DENY_PRIVATE",
        value_parser = clap::builder::BoolishValueParser::new(),
        action = clap::ArgAction::SetTrue
    )]
    pub endpoint_deny_private: bool,
}

impl Default for StorageArgs {
    fn default() -> Self {
        Self {
            iam_token_url: DEFAULT_IAM_TOKEN_URL.to_owned(),
            endpoint_allow: Vec::new(),
            endpoint_deny_private: false,
        }
    }
}

impl StorageArgs {
    /// The storage settings these flags give (timeouts and retries at their defaults). The
    /// caller adds what only it knows to the end point policy: its own listening addresses
    /// ([`EndpointPolicy::deny_listener`]) and the embedded S3 endpoint's
    /// ([`EndpointPolicy::allow_listener`]).
    pub fn config(&self) -> StorageConfig {
        StorageConfig {
            iam_token_url: self.iam_token_url.clone(),
            endpoint_policy: self.endpoint_policy(),
            ..StorageConfig::default()
        }
    }

    /// The end point policy these flags give.
    pub fn endpoint_policy(&self) -> EndpointPolicy {
        self.endpoint_allow
            .iter()
            .cloned()
            .fold(EndpointPolicy::default(), EndpointPolicy::allow)
            .deny_private(self.endpoint_deny_private)
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
    /// (naming the file, never its content) when the credentials file cannot be read. The
    /// store's end point is the operator's choice, not a user's: the end point policy allows it
    /// ([`EndpointPolicy::allow_end_point`]; the service's own listeners stay refused).
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
        let cfg = StorageConfig {
            endpoint_policy: cfg
                .endpoint_policy
                .clone()
                .allow_end_point(creds.end_point()),
            ..cfg.clone()
        };
        Bucket::connect(&creds, bucket, &self.location, &cfg)
            .await
            .map(Some)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        storage: StorageArgs,
    }

    #[test]
    fn endpoint_flags_build_the_policy() {
        let cli = Cli::try_parse_from([
            "x",
            "--endpoint-allow",
            "127.0.0.1:9000,10.0.0.0/8",
            "--endpoint-allow=minio.internal:9000",
            "--endpoint-deny-private",
        ])
        .unwrap();
        let want = EndpointPolicy::default()
            .allow("127.0.0.1:9000".parse().unwrap())
            .allow("10.0.0.0/8".parse().unwrap())
            .allow("minio.internal:9000".parse().unwrap())
            .deny_private(true);
        assert_eq!(cli.storage.config().endpoint_policy, want);

        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(cli.storage.endpoint_policy(), EndpointPolicy::default());
        assert_eq!(
            StorageArgs::default().endpoint_policy(),
            EndpointPolicy::default()
        );

        let e = Cli::try_parse_from(["x", "--endpoint-allow", "minio"])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("allow-list entry"), "{e}");
    }

    /// Run in a child process by `endpoint_env_vars_build_the_policy`: the environment is the
    /// process's, and other tests run beside this one.
    #[test]
    #[ignore = "run by endpoint_env_vars_build_the_policy, in a child process"]
    fn endpoint_env_child() {
        if std::env::var_os("SPEECHBATCH_STORAGE_ENV_CHILD").is_none() {
            return;
        }
        let cli = Cli::try_parse_from(["x"]).unwrap();
        let want = EndpointPolicy::default()
            .allow("127.0.0.1:9000".parse().unwrap())
            .allow("10.0.0.0/8".parse().unwrap())
            .deny_private(true);
        assert_eq!(cli.storage.endpoint_policy(), want);
    }

    #[test]
    fn endpoint_env_vars_build_the_policy() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "cli::tests::endpoint_env_child",
                "--ignored",
                "--test-threads=1",
            ])
            .env("SPEECHBATCH_STORAGE_ENV_CHILD", "1")
            .env(crate::endpoint::ALLOW_ENV, "127.0.0.1:9000, 10.0.0.0/8")
            .env(crate::endpoint::DENY_PRIVATE_ENV, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("1 passed"),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
