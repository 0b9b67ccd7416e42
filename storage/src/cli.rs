//! The bucket flags every binary that reaches buckets flattens into its own (`speechbatch`,
//! `speechbatch-operator`, `speechbatch-shard`): one home for the end point policy and the
//! retry window, so that the three follow the same rules.

use std::path::PathBuf;
use std::time::Duration;

use crate::bucket::{Bucket, StorageConfig, DEFAULT_IAM_TOKEN_URL};
use crate::credentials::Credentials;
use crate::endpoint::{AllowEntry, EndpointPolicy, ALLOW_ENV, DENY_PRIVATE_ENV};
use crate::retry::{self, RetryPolicy};

/// How buckets are reached.
#[derive(Debug, Clone, clap::Args)]
pub struct StorageArgs {
    /// IAM token endpoint for credentials files in the IBM Cloud (apikey) format.
    #[arg(long, env = "SPEECHBATCH_IAM_TOKEN_URL", default_value = DEFAULT_IAM_TOKEN_URL)]
    pub iam_token_url: String,
    /// Storage end points that credentials files may name although the end point policy
    /// refuses them (link-local and metadata addresses, and with --endpoint-deny-private
    /// loopback, private and this host's addresses): address ranges (`10.0.0.0/8`, `::1`),
    /// addresses with a port (`127.0.0.1:9000`, `[::1]:9000`; `0.0.0.0:9000` is every address
    /// of this host at 9000) or host names with a port (`minio.internal:9000`). Repeat the flag
    /// or separate entries with commas. The service's own REST address stays refused.
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
    /// Seconds a bucket may keep failing with errors that may pass (endpoint unreachable,
    /// timeout, server errors) before the work fails, counted from the first failure; a retry
    /// that finishes files starts the count again. It covers the embedded backend's scans and
    /// shards, the operator's scans of input buckets, and the shard and analytics pods of
    /// Kubernetes Jobs (the operator passes its window on to them; a pod still failing at the
    /// end exits for the Job to retry the index). Permanent errors (credentials rejected,
    /// bucket missing) fail at once. 0 retries nothing.
    #[arg(long, env = retry::WINDOW_ENV, default_value_t = retry::DEFAULT_WINDOW.as_secs())]
    pub storage_retry_window_s: u64,
    /// Milliseconds before the first such retry; each later one waits twice as long, at most
    /// 30 s. (The operator's scans are retried at each reconcile, at most 15 s apart.)
    #[arg(
        long,
        env = retry::DELAY_ENV,
        default_value_t = retry::DEFAULT_FIRST_DELAY.as_millis() as u64
    )]
    pub storage_retry_delay_ms: u64,
}

impl Default for StorageArgs {
    fn default() -> Self {
        Self {
            iam_token_url: DEFAULT_IAM_TOKEN_URL.to_owned(),
            endpoint_allow: Vec::new(),
            endpoint_deny_private: false,
            storage_retry_window_s: retry::DEFAULT_WINDOW.as_secs(),
            storage_retry_delay_ms: retry::DEFAULT_FIRST_DELAY.as_millis() as u64,
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

    /// The retry window and first delay these flags give.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            window: Duration::from_secs(self.storage_retry_window_s),
            first_delay: Duration::from_millis(self.storage_retry_delay_ms),
        }
    }

    /// The environment that gives a process started for this one (a shard pod) the same end
    /// point policy and retry window through its own [`StorageArgs`]: the allow-list joined
    /// with commas (only when it has entries), `SPEECHBATCH_ENDPOINT_DENY_PRIVATE=true` (only
    /// when set), and the retry window and first delay. Not the IAM token endpoint: the shard
    /// contract carries that (`crds::shard::ShardEnv`).
    pub fn child_env(&self) -> Vec<(&'static str, String)> {
        let mut vars = Vec::new();
        if !self.endpoint_allow.is_empty() {
            let entries: Vec<String> = self.endpoint_allow.iter().map(|e| e.to_string()).collect();
            vars.push((ALLOW_ENV, entries.join(",")));
        }
        if self.endpoint_deny_private {
            vars.push((DENY_PRIVATE_ENV, "true".to_owned()));
        }
        vars.push((retry::WINDOW_ENV, self.storage_retry_window_s.to_string()));
        vars.push((retry::DELAY_ENV, self.storage_retry_delay_ms.to_string()));
        vars
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

    /// The flags that [`child_env_gives_a_child_the_same_rules`] turns into a child's
    /// environment.
    const CHILD_FLAGS: [&str; 9] = [
        "x",
        "--endpoint-allow",
        "127.0.0.1:9000,10.0.0.0/8,[::1]:9000,fd00::/8",
        "--endpoint-allow=MinIO.internal.:9000",
        "--endpoint-deny-private",
        "--storage-retry-window-s",
        "7",
        "--storage-retry-delay-ms",
        "50",
    ];

    /// Run in a child process by `endpoint_env_vars_build_the_policy` and
    /// `child_env_gives_a_child_the_same_rules`: the environment is the process's, and other
    /// tests run beside this one.
    #[test]
    #[ignore = "run by the tests of the environment, in a child process"]
    fn endpoint_env_child() {
        let Some(case) = std::env::var_os("SPEECHBATCH_STORAGE_ENV_CHILD") else {
            return;
        };
        let cli = Cli::try_parse_from(["x"]).unwrap();
        if case == "child_env" {
            let want = Cli::try_parse_from(CHILD_FLAGS).unwrap().storage;
            assert_eq!(cli.storage.endpoint_policy(), want.endpoint_policy());
            assert_eq!(cli.storage.retry_policy(), want.retry_policy());
            return;
        }
        let want = EndpointPolicy::default()
            .allow("127.0.0.1:9000".parse().unwrap())
            .allow("10.0.0.0/8".parse().unwrap())
            .deny_private(true);
        assert_eq!(cli.storage.endpoint_policy(), want);
        assert_eq!(cli.storage.retry_policy(), RetryPolicy::default());
    }

    /// Runs [`endpoint_env_child`] with `vars` and case `case`.
    fn run_child(case: &str, vars: &[(&str, String)]) {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "cli::tests::endpoint_env_child",
                "--ignored",
                "--test-threads=1",
            ])
            .env("SPEECHBATCH_STORAGE_ENV_CHILD", case)
            .env_remove(ALLOW_ENV)
            .env_remove(DENY_PRIVATE_ENV)
            .env_remove(retry::WINDOW_ENV)
            .env_remove(retry::DELAY_ENV)
            .envs(vars.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("1 passed"),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn endpoint_env_vars_build_the_policy() {
        run_child(
            "policy",
            &[
                (ALLOW_ENV, "127.0.0.1:9000, 10.0.0.0/8".into()),
                (DENY_PRIVATE_ENV, "1".into()),
            ],
        );
    }

    #[test]
    fn child_env_gives_a_child_the_same_rules() {
        let args = Cli::try_parse_from(CHILD_FLAGS).unwrap().storage;
        assert_eq!(
            args.retry_policy(),
            RetryPolicy {
                window: Duration::from_secs(7),
                first_delay: Duration::from_millis(50),
            }
        );
        let vars = args.child_env();
        assert_eq!(
            vars,
            [
                (
                    ALLOW_ENV,
                    "127.0.0.1:9000,10.0.0.0/8,[::1]:9000,fd00::/8,minio.internal:9000".to_owned()
                ),
                (DENY_PRIVATE_ENV, "true".to_owned()),
                (retry::WINDOW_ENV, "7".to_owned()),
                (retry::DELAY_ENV, "50".to_owned()),
            ]
        );
        run_child("child_env", &vars);
        // Without flags: no policy variables, the default window and delay.
        let none = StorageArgs::default().child_env();
        assert_eq!(
            none,
            [
                (retry::WINDOW_ENV, "300".to_owned()),
                (retry::DELAY_ENV, "2000".to_owned()),
            ]
        );
    }
}
