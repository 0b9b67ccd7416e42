//! The Kubernetes side of a `--backend kubernetes` service under test: a kube-sim cluster (a real
//! apiextensions-apiserver with stand-ins for Secrets, Pods and Jobs, and a test Job controller
//! and kubelet that run `speechbatch-shard` processes), the real operator binary, and an S3
//! endpoint (that backend serves none of its own).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crds::resource::SpeechBatch;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ApiResource, PostParams};
use kube::Api;
use kube_sim::{Cluster, ClusterOptions, KubeletConfig};

use super::{free_ports, tail, Opts, TestS3};

/// The namespace everything runs in.
pub const NAMESPACE: &str = "default";
/// The operator's identity in its Lease and Events.
pub const OPERATOR_IDENTITY: &str = "operator-under-test";
/// The model store's bucket (custom language models), on the test's S3 endpoint.
pub const MODEL_STORE_BUCKET: &str = "speechbatch-models";
/// The Secret holding the model store's credentials, mounted into shard pods.
pub const MODEL_STORE_SECRET: &str = "speechbatch-model-store";

/// A binary of another workspace package, from the folder `cargo test --workspace` builds into
/// (the test binary's own `target/<profile>`).
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let bin = dir.join(name);
    assert!(
        bin.is_file(),
        "{} is missing: run the tests with `cargo test --workspace` (it builds every package's binaries)",
        bin.display()
    );
    bin
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The cluster, the operator and the S3 endpoint.
pub struct KubeStack {
    pub cluster: Cluster,
    pub s3: TestS3,
    pub metrics_port: u16,
    /// The model store's credentials file, as the operator and the shim read it.
    pub model_store_credentials: PathBuf,
    operator: Option<Child>,
    operator_log: PathBuf,
}

impl KubeStack {
    /// Starts everything and waits for the operator's /readyz. `opts.workers` is the shard
    /// parallelism; `max_shards`, `iam_token_url` and `kueue_queue` go to the operator.
    pub async fn start(log_dir: &Path, opts: &Opts) -> KubeStack {
        let mut env: Vec<(String, String)> = ["SPEECHBATCH_MODELS", "ORT_DYLIB_PATH"]
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
            .collect();
        env.push(("SPEECHBATCH_THREADS".into(), "1".into()));
        env.push(("RUST_LOG".into(), "info".into()));
        let cluster = Cluster::start(ClusterOptions {
            crds: vec![
                repo().join("charts/speechbatch/crds/speechbatches.speechbatch.io.yaml"),
                repo().join("charts/speechbatch/crds/languagemodels.speechbatch.io.yaml"),
            ],
            owner_kinds: vec![ApiResource::erase::<SpeechBatch>(&())],
            kubelet: KubeletConfig {
                commands: BTreeMap::from([(
                    crds::shard::COMMAND.to_string(),
                    workspace_bin(crds::shard::COMMAND),
                )]),
                env,
                termination_log_env: crds::shard::env::TERMINATION_LOG.into(),
                root: PathBuf::new(),
                grace: Duration::from_secs(20),
                tick: Duration::from_millis(200),
            },
        })
        .await
        .expect("kube-sim cluster starts (needs setup/k8s.sh)");
        let s3 = TestS3::start().await;
        // The model store, as the chart sets it up: a bucket, its credentials file for the
        // operator and the shim, and a Secret of it for shard pods.
        s3.target.fill(MODEL_STORE_BUCKET, Vec::new()).await;
        let model_store_credentials = log_dir.join("model-store.json");
        std::fs::write(&model_store_credentials, s3.target.creds_file()).unwrap();
        let secrets: Api<Secret> = Api::namespaced(cluster.client().await.unwrap(), NAMESPACE);
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {"name": MODEL_STORE_SECRET},
            "stringData": {"credentials.json": String::from_utf8(s3.target.creds_file()).unwrap()},
        }))
        .unwrap();
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("the model store Secret");
        let metrics_port = free_ports(1)[0];
        let operator_log = log_dir.join("operator.log");
        let log = std::fs::File::create(&operator_log).unwrap();
        let mut operator = Command::new(workspace_bin("speechbatch-operator"));
        if let Some(url) = &opts.iam_token_url {
            operator.args(["--iam-token-url", url]);
        }
        if let Some(queue) = &opts.kueue_queue {
            operator.args(["--kueue-queue", queue]);
        }
        let operator = operator
            .args(["--namespace", NAMESPACE])
            .args(["--shard-image", "speechbatch/transcriber:test"])
            .args(["--default-parallelism", &opts.workers.to_string()])
            .args(["--max-shards", &opts.max_shards.to_string()])
            .args(["--metrics-address", &format!("127.0.0.1:{metrics_port}")])
            .args(["--lease-namespace", NAMESPACE])
            .args(["--identity", OPERATOR_IDENTITY])
            .args(["--resync-seconds", "5"])
            // Unreachable endpoints are retried this long before the batch fails (300 s by
            // default, for network blips in a cluster); the tests want the failure sooner.
            .args(["--storage-retry-window-s", "10"])
            .args(stack_model_store_args(&model_store_credentials))
            .args(["--model-store-secret", MODEL_STORE_SECRET])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KUBECONFIG", cluster.kubeconfig())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("cannot start speechbatch-operator");
        let mut stack = KubeStack {
            cluster,
            s3,
            metrics_port,
            model_store_credentials,
            operator: Some(operator),
            operator_log,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(st) = stack.operator.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "the operator exited at start ({st}):\n{}",
                    stack.operator_log()
                );
            }
            let url = format!("http://127.0.0.1:{metrics_port}/readyz");
            if let Ok(r) = http.get(&url).send().await {
                if r.status() == 200 {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the operator is not ready in 60 s:\n{}",
                tail(&stack.operator_log(), 40)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stack
    }

    /// The model store flags, shared by the operator and the shim.
    pub fn model_store_args(&self) -> Vec<String> {
        stack_model_store_args(&self.model_store_credentials)
    }

    /// Everything the operator wrote.
    pub fn operator_log(&self) -> String {
        std::fs::read_to_string(&self.operator_log).unwrap_or_default()
    }

    /// A client as the programs under test see the cluster.
    pub async fn client(&self) -> kube::Client {
        self.cluster.client().await.unwrap()
    }
}

impl Drop for KubeStack {
    fn drop(&mut self) {
        if let Some(mut c) = self.operator.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn stack_model_store_args(credentials: &Path) -> Vec<String> {
    vec![
        "--model-store-bucket".into(),
        MODEL_STORE_BUCKET.into(),
        "--model-store-location".into(),
        super::LOCATION.into(),
        "--model-store-credentials-file".into(),
        credentials.display().to_string(),
    ]
}
