//! Test support for the `speechbatch` integration tests: the real binary as a child process (with
//! its stderr captured), an HTTP client for /v1/batches, an S3 client for fixtures and for
//! counting outputs, the checked-in OpenAPI schemas, SeaweedFS, and an IAM token endpoint with a
//! bearer-checking proxy (both from `speechbatch_storage::testing`, shared with storage/tests).

#![allow(dead_code)] // each test binary uses a part of it

pub mod browser;
pub mod cluster;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};

pub const LOCATION: &str = "us-geo";
pub const API_KEY: &str = "test-api-key-5f0c2a9e81d7";
/// The batch-id metadata of outputs (speechbatch_storage::BATCH_ID_METADATA).
pub const BATCH_META: &str = speechbatch_storage::BATCH_ID_METADATA;
/// The checked-in OpenAPI document.
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

// ---------------------------------------------------------------------------------------------
// The service

/// Which backend the service runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Backend {
    /// The default: local job store, in-process workers, embedded S3.
    Embedded,
    /// SpeechBatch resources on a kube-sim cluster, reconciled by the real operator.
    Kubernetes,
}

/// Options of one `speechbatch` process.
#[derive(Clone, Debug)]
pub struct Opts {
    pub backend: Backend,
    /// Kubernetes backend: the operator's --kueue-queue.
    pub kueue_queue: Option<String>,
    pub max_running_jobs: usize,
    pub workers: usize,
    pub max_shards: usize,
    pub threads: usize,
    pub iam_token_url: Option<String>,
    pub shutdown_grace_s: u64,
    /// `--auth-failures-per-minute`: off (0) unless a test sets it, since the contract tests
    /// send wrong keys to every route on purpose (the throttle has tests of its own).
    pub auth_failures_per_minute: u32,
    /// `--storage-retry-window-s`: a few seconds, so that an unreachable bucket fails its job
    /// within a test's patience (the retries themselves start 100 ms apart).
    pub storage_retry_window_s: u64,
    /// More flags of `speechbatch` (the HTTP server's limits, TLS, ...).
    pub args: Vec<String>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            backend: Backend::Embedded,
            kueue_queue: None,
            max_running_jobs: 2,
            workers: 1,
            max_shards: 8,
            threads: 2,
            iam_token_url: None,
            shutdown_grace_s: 60,
            auth_failures_per_minute: 0,
            storage_retry_window_s: 2,
            args: Vec::new(),
        }
    }
}

/// A running `speechbatch` on loopback ports, with a temporary data directory; killed on drop.
pub struct Service {
    child: Option<Child>,
    pub opts: Opts,
    pub api_port: u16,
    pub s3_port: u16,
    pub data: tempfile::TempDir,
    log_dir: tempfile::TempDir,
    starts: usize,
    pub http: reqwest::Client,
    /// The cluster, operator and S3 endpoint of the Kubernetes backend.
    pub kube: Option<cluster::KubeStack>,
}

impl Service {
    pub async fn start(opts: Opts) -> Service {
        let p = free_ports(2);
        let log_dir = tempfile::tempdir().unwrap();
        let kube = match opts.backend {
            Backend::Embedded => None,
            Backend::Kubernetes => Some(cluster::KubeStack::start(log_dir.path(), &opts).await),
        };
        let mut s = Service {
            child: None,
            opts,
            api_port: p[0],
            s3_port: p[1],
            data: tempfile::tempdir().unwrap(),
            log_dir,
            starts: 0,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            kube,
        };
        s.spawn().await;
        s
    }

    /// Starts the process (again) on the same data directory and ports, and waits for /healthz.
    pub async fn spawn(&mut self) {
        assert!(self.child.is_none(), "already running");
        self.starts += 1;
        let log = std::fs::File::create(self.log_path(self.starts)).unwrap();
        let o = &self.opts;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_speechbatch"));
        match &self.kube {
            None => cmd
                .arg("--s3-listen")
                .arg(format!("127.0.0.1:{}", self.s3_port)),
            Some(k) => cmd
                .args(["--backend", "kubernetes", "--namespace", cluster::NAMESPACE])
                .args(k.model_store_args())
                .env("KUBECONFIG", k.cluster.kubeconfig()),
        };
        cmd.arg("--listen")
            .arg(format!("127.0.0.1:{}", self.api_port))
            .arg("--data-dir")
            .arg(self.data.path())
            .env("SPEECHBATCH_API_KEY", API_KEY)
            .arg("--max-running-jobs")
            .arg(o.max_running_jobs.to_string())
            .arg("--workers")
            .arg(o.workers.to_string())
            .arg("--max-shards")
            .arg(o.max_shards.to_string())
            .arg("--threads")
            .arg(o.threads.to_string())
            .arg("--shutdown-grace-s")
            .arg(o.shutdown_grace_s.to_string())
            // Storage errors that may pass are retried as in production, only sooner.
            .arg("--storage-retry-delay-ms")
            .arg("100")
            .env_remove("SPEECHBATCH_IAM_TOKEN_URL")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some(url) = &o.iam_token_url {
            cmd.arg("--iam-token-url").arg(url);
        }
        cmd.arg("--auth-failures-per-minute")
            .arg(o.auth_failures_per_minute.to_string())
            .arg("--storage-retry-window-s")
            .arg(o.storage_retry_window_s.to_string())
            .args(&o.args);
        let child = cmd.spawn().expect("cannot start speechbatch");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("speechbatch exited at start ({st}):\n{}", self.log());
            }
            if self.healthy().await {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "speechbatch not ready in 90 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether /healthz answers 200: over HTTPS with curl (trusting the service's own
    /// self-signed certificate) when the service runs with `--tls-cert`.
    async fn healthy(&self) -> bool {
        let cert = self.opts.args.iter().position(|a| a == "--tls-cert");
        match cert {
            None => matches!(
                self.http.get(self.url("/healthz")).send().await,
                Ok(r) if r.status() == 200
            ),
            Some(i) => Command::new("curl")
                .args(["-sf", "-o", "/dev/null", "--cacert", &self.opts.args[i + 1]])
                .arg(format!("https://localhost:{}/healthz", self.api_port))
                .status()
                .is_ok_and(|s| s.success()),
        }
    }

    fn log_path(&self, n: usize) -> PathBuf {
        self.log_dir.path().join(format!("stderr.{n}.log"))
    }

    /// Everything the process (every start of it) wrote to stdout and stderr; with the
    /// Kubernetes backend also the operator's and every shard pod's output.
    pub fn log(&self) -> String {
        let mut log = (1..=self.starts)
            .map(|n| std::fs::read_to_string(self.log_path(n)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        if let Some(k) = &self.kube {
            log.push_str("\n--- operator ---\n");
            log.push_str(&k.operator_log());
            log.push_str("\n--- shard pods ---\n");
            log.push_str(&k.cluster.pod_logs());
        }
        log
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILL, as a crash.
    pub fn kill(&mut self) {
        let mut c = self.child.take().expect("running");
        c.kill().unwrap();
        c.wait().unwrap();
    }

    /// SIGTERM, then waits up to `within` for the exit.
    pub fn terminate(&mut self, within: Duration) -> (ExitStatus, Duration) {
        let mut c = self.child.take().expect("running");
        let t = Instant::now();
        let st = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status()
            .unwrap();
        assert!(st.success());
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return (st, t.elapsed());
            }
            if t.elapsed() > within {
                if let Ok(o) = Command::new("gdb")
                    .args([
                        "-p",
                        &c.id().to_string(),
                        "-batch",
                        "-ex",
                        "thread apply all bt 25",
                    ])
                    .output()
                {
                    let _ = std::fs::write("/tmp/speechbatch-hang-bt.txt", &o.stdout);
                }
                let _ = c.kill();
                let _ = c.wait();
                let log: Vec<String> = self
                    .log()
                    .lines()
                    .filter(|l| !l.contains("warp::filters::trace"))
                    .map(str::to_string)
                    .collect();
                panic!(
                    "speechbatch did not exit within {within:?} of SIGTERM:\n{}",
                    tail(&log.join("\n"), 40)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.api_port)
    }

    pub fn s3_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// The embedded S3's credentials file (DATA_DIR/s3-credentials.json), as the binary wrote it.
    pub fn s3_credentials(&self) -> Value {
        let bytes = std::fs::read(self.data.path().join("s3-credentials.json")).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    /// An S3 target for the embedded server (with the Kubernetes backend: the test's own).
    pub fn embedded_s3(&self) -> S3Target {
        if let Some(k) = &self.kube {
            return k.s3.target.clone();
        }
        let c = self.s3_credentials();
        S3Target {
            name: "embedded s3s-fs",
            endpoint: c["end_point"].as_str().unwrap().to_string(),
            access_key: c["access_key"].as_str().unwrap().to_string(),
            secret_key: c["secret_key"].as_str().unwrap().to_string(),
        }
    }

    /// The job record file of the embedded backend.
    pub fn record_path(&self, id: &str) -> PathBuf {
        self.data.path().join("jobs").join(format!("{id}.json"))
    }

    // --- the REST API ---

    pub fn authed(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        rb.basic_auth("apikey", Some(API_KEY))
    }

    /// POST /v1/batches?{query} with `form`; the status and the JSON body (schema-checked).
    pub async fn create_raw(&self, query: &str, form: Form) -> (StatusCode, Value) {
        let r = self
            .authed(self.http.post(self.url(&format!("/v1/batches?{query}"))))
            .multipart(form)
            .send()
            .await
            .unwrap();
        checked(r, Op::Create).await
    }

    /// Creates a job; panics unless 200. Returns the job.
    pub async fn create(&self, query: &str, form: Form) -> Value {
        let (st, body) = self.create_raw(query, form).await;
        assert_eq!(st, 200, "create failed: {body}");
        assert_eq!(body["status"], "initializing", "{body}");
        body
    }

    /// Creates a job; panics unless 200. Returns its id.
    pub async fn create_id(&self, query: &str, form: Form) -> String {
        self.create(query, form).await["batch_id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// `GET /console/api/{path}` with the key as basic auth; panics unless 200.
    pub async fn console_json(&self, path: &str) -> Value {
        let r = self
            .authed(self.http.get(self.url(&format!("/console/api/{path}"))))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "GET /console/api/{path}");
        r.json().await.unwrap()
    }

    pub async fn get(&self, id: &str) -> Value {
        let r = self
            .authed(self.http.get(self.url(&format!("/v1/batches/{id}"))))
            .send()
            .await
            .unwrap();
        let (st, body) = checked(r, Op::Job).await;
        assert_eq!(st, 200, "GET {id}: {body}");
        body
    }

    pub async fn get_status(&self, id: &str) -> StatusCode {
        let r = self
            .authed(self.http.get(self.url(&format!("/v1/batches/{id}"))))
            .send()
            .await
            .unwrap();
        checked(r, Op::Job).await.0
    }

    pub async fn list(&self) -> Vec<Value> {
        let r = self
            .authed(self.http.get(self.url("/v1/batches")))
            .send()
            .await
            .unwrap();
        let (st, body) = checked(r, Op::List).await;
        assert_eq!(st, 200, "{body}");
        body["jobs"].as_array().unwrap().clone()
    }

    pub async fn cancel(&self, id: &str) -> Value {
        let r = self
            .authed(
                self.http
                    .put(self.url(&format!("/v1/batches/{id}?action=cancel"))),
            )
            .send()
            .await
            .unwrap();
        let (st, body) = checked(r, Op::Job).await;
        assert_eq!(st, 200, "cancel {id}: {body}");
        body
    }

    pub async fn delete(&self, id: &str) {
        let r = self
            .authed(self.http.delete(self.url(&format!("/v1/batches/{id}"))))
            .send()
            .await
            .unwrap();
        let (st, body) = checked(r, Op::Delete).await;
        assert_eq!(st, 204, "delete {id}: {body}");
        assert_eq!(
            self.get_status(id).await,
            404,
            "deleted job {id} still answers"
        );
    }

    /// Polls the job until `done(job)` holds; returns the job and every status seen, in order
    /// (consecutive repeats collapsed).
    pub async fn wait_for(
        &self,
        id: &str,
        timeout: Duration,
        mut done: impl FnMut(&Value) -> bool,
    ) -> (Value, Vec<String>) {
        let deadline = Instant::now() + timeout;
        let mut seen: Vec<String> = Vec::new();
        loop {
            let job = self.get(id).await;
            let st = job["status"].as_str().unwrap().to_string();
            if seen.last() != Some(&st) {
                seen.push(st);
            }
            if done(&job) {
                return (job, seen);
            }
            assert!(
                Instant::now() < deadline,
                "job {id} not there in {timeout:?}: last {job}, statuses {seen:?}\n--- log ---\n{}",
                tail(&self.log(), 40)
            );
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }

    /// Waits for a final status (completed, canceled, failed).
    pub async fn wait_final(&self, id: &str, timeout: Duration) -> (Value, Vec<String>) {
        self.wait_for(id, timeout, |j| {
            matches!(
                j["status"].as_str(),
                Some("completed" | "canceled" | "failed")
            )
        })
        .await
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[allow(unused_imports)] // each test binary uses a part of it
pub use speechbatch_storage::testing::{closed_addr, free_ports};

/// A listener that accepts connections and never answers (holds them open). Runs until the
/// process exits.
pub fn black_hole() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming() {
            match s {
                Ok(s) => held.push(s),
                Err(_) => break,
            }
        }
    });
    addr
}

// ---------------------------------------------------------------------------------------------
// Forms

/// An HMAC credentials file.
pub fn hmac_file(endpoint: &str, access_key: &str, secret_key: &str) -> Vec<u8> {
    serde_json::to_vec_pretty(&json!({
        "end_point": endpoint,
        "access_key": access_key,
        "secret_key": secret_key,
    }))
    .unwrap()
}

pub fn file_part(bytes: Vec<u8>) -> Part {
    Part::bytes(bytes)
        .file_name("my_cos_credentials.json")
        .mime_str("application/json")
        .unwrap()
}

/// A form over `input` (same bucket for results) and optionally a separate `output` bucket.
pub fn form(creds: &[u8], input: &str, output: Option<(&[u8], &str)>) -> Form {
    let mut f = Form::new()
        .part("input_credentials_file", file_part(creds.to_vec()))
        .text("input_bucket_location", LOCATION)
        .text("input_bucket_name", input.to_string());
    if let Some((oc, ob)) = output {
        f = f
            .part("output_credentials_file", file_part(oc.to_vec()))
            .text("output_bucket_location", LOCATION)
            .text("output_bucket_name", ob.to_string());
    }
    f
}

// ---------------------------------------------------------------------------------------------
// Schemas

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    Create,
    List,
    Job,
    Delete,
    Models,
    Model,
    Recognize,
}

struct Schemas {
    job: jsonschema::Validator,
    list: jsonschema::Validator,
    error: jsonschema::Validator,
    models: jsonschema::Validator,
    model: jsonschema::Validator,
    results: jsonschema::Validator,
}

fn schema_for(components: &Value, name: &str) -> jsonschema::Validator {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": components,
        "$ref": format!("#/components/schemas/{name}"),
    });
    jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("schema {name}: {e}"))
}

fn schemas() -> &'static Schemas {
    static S: OnceLock<Schemas> = OnceLock::new();
    S.get_or_init(|| {
        let doc: Value = serde_yaml::from_str(OPENAPI_YAML).unwrap();
        let c = &doc["components"];
        Schemas {
            job: schema_for(c, "BatchJob"),
            list: schema_for(c, "JobList"),
            error: schema_for(c, "ErrorBody"),
            models: schema_for(c, "ModelList"),
            model: schema_for(c, "Model"),
            results: schema_for(c, "RecognitionResults"),
        }
    })
}

/// Every HTTP response body seen, for the secrets check.
pub fn responses_seen() -> &'static Mutex<Vec<String>> {
    static R: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// Validates `body` against the schema for `op` and `status`, plus what JSON Schema cannot say
/// (timestamps parse, `finished` only for completed jobs and never before `created`).
pub fn validate(op: Op, status: StatusCode, body: &Value) {
    let s = schemas();
    let (v, what) = match (op, status.as_u16()) {
        (Op::Create | Op::Job, 200) => (&s.job, "BatchJob"),
        (Op::List, 200) => (&s.list, "JobList"),
        (Op::Delete, 204) => return,
        (Op::Models, 200) => (&s.models, "ModelList"),
        (Op::Model, 200) => (&s.model, "Model"),
        (Op::Recognize, 200) => (&s.results, "RecognitionResults"),
        (_, code) => {
            assert!(code >= 400, "unexpected status {status} for {op:?}: {body}");
            (&s.error, "ErrorBody")
        }
    };
    let errors: Vec<String> = v
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} ({op:?}, {status}) does not match openapi.yaml: {errors:?}\n{body}"
    );
    match what {
        "BatchJob" => check_job(body),
        "JobList" => body["jobs"].as_array().unwrap().iter().for_each(check_job),
        "ModelList" | "Model" | "RecognitionResults" => {}
        _ => {
            assert_eq!(body["code"], status.as_u16(), "{body}");
            assert_eq!(
                body["code_description"],
                status.canonical_reason().unwrap(),
                "{body}"
            );
        }
    }
}

/// Validates `body` against the schema `name` of openapi.yaml's components (any of them; each
/// compiled once).
pub fn validate_component(name: &str, body: &Value) {
    static V: OnceLock<Mutex<BTreeMap<String, &'static jsonschema::Validator>>> = OnceLock::new();
    let v = *V
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(name.to_string())
        .or_insert_with(|| {
            let doc: Value = serde_yaml::from_str(OPENAPI_YAML).unwrap();
            Box::leak(Box::new(schema_for(&doc["components"], name)))
        });
    let errors: Vec<String> = v
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{name} does not match openapi.yaml: {errors:?}\n{body}"
    );
}

/// Reads a response whose success body is the component schema `schema` (an error body
/// otherwise, with its code): the status and the JSON body, validated.
pub async fn checked_as(r: reqwest::Response, schema: &str) -> (StatusCode, Value) {
    let st = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let text = r.text().await.unwrap();
    responses_seen().lock().unwrap().push(text.clone());
    assert_eq!(ct.as_deref(), Some("application/json"), "{st}: {text}");
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{st}: not JSON ({e}): {text}"));
    if st.is_success() {
        validate_component(schema, &body);
    } else {
        validate_component("ErrorBody", &body);
        assert_eq!(body["code"], st.as_u16(), "{body}");
        assert_eq!(
            body["code_description"],
            st.canonical_reason().unwrap(),
            "{body}"
        );
    }
    (st, body)
}

/// Checks a job's timestamps and status-dependent fields.
pub fn check_job(job: &Value) {
    for f in ["created", "updated"] {
        assert!(is_timestamp(job[f].as_str().unwrap()), "{f}: {job}");
    }
    let status = job["status"].as_str().unwrap();
    assert_eq!(
        job.get("finished").is_some(),
        status == "completed",
        "finished only when completed: {job}"
    );
    assert_eq!(
        job.get("error_message").is_some(),
        status == "failed",
        "error_message only when failed: {job}"
    );
    if let Some(f) = job.get("finished") {
        assert!(is_timestamp(f.as_str().unwrap()), "{job}");
        assert!(
            f.as_str().unwrap() >= job["created"].as_str().unwrap(),
            "{job}"
        );
    }
    assert!(
        job["updated"].as_str().unwrap() >= job["created"].as_str().unwrap(),
        "{job}"
    );
    let p = job["progress"].as_f64().unwrap();
    match status {
        "completed" => assert_eq!(p, 1.0, "{job}"),
        "initializing" | "waiting" => assert_eq!(p, 0.0, "{job}"),
        _ => assert!((0.0..=1.0).contains(&p), "{job}"),
    }
    if status != "completed" {
        assert!(p < 1.0, "progress 1.0 before completed: {job}");
    }
    let (t, s, f) = (
        job["total_count"].as_u64().unwrap(),
        job["successful_count"].as_u64().unwrap(),
        job["failed_count"].as_u64().unwrap(),
    );
    assert!(s + f <= t, "more files counted than found: {job}");
    if status == "completed" {
        assert_eq!(s + f, t, "completed with files uncounted: {job}");
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmm+0000`.
pub fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let shape = "dddd-dd-ddTdd:dd:dd.ddd+0000";
    b.len() == shape.len()
        && shape.bytes().zip(b).all(|(p, c)| match p {
            b'd' => c.is_ascii_digit(),
            p => p == *c,
        })
        && {
            let month: u32 = s[5..7].parse().unwrap();
            let day: u32 = s[8..10].parse().unwrap();
            let hour: u32 = s[11..13].parse().unwrap();
            (1..=12).contains(&month) && (1..=31).contains(&day) && hour < 24
        }
}

/// Reads a response: its status and JSON body (null for an empty body), validated.
pub async fn checked(r: reqwest::Response, op: Op) -> (StatusCode, Value) {
    let st = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let text = r.text().await.unwrap();
    responses_seen().lock().unwrap().push(text.clone());
    let body = if text.is_empty() {
        Value::Null
    } else {
        assert_eq!(ct.as_deref(), Some("application/json"), "{st}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{st}: not JSON ({e}): {text}"))
    };
    validate(op, st, &body);
    (st, body)
}

// ---------------------------------------------------------------------------------------------
// S3

/// An S3 server and one key pair.
#[derive(Clone, Debug)]
pub struct S3Target {
    pub name: &'static str,
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
}

impl S3Target {
    pub fn creds_file(&self) -> Vec<u8> {
        hmac_file(&self.endpoint, &self.access_key, &self.secret_key)
    }

    pub fn client(&self) -> aws_sdk_s3::Client {
        speechbatch_storage::testing::s3_client(&self.endpoint, &self.access_key, &self.secret_key)
    }

    /// Creates `bucket` and writes `objects` into it, 16 at a time.
    pub async fn fill(&self, bucket: &str, objects: Vec<(String, Vec<u8>)>) {
        let c = self.client();
        c.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "create bucket {bucket}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            });
        self.put_all(bucket, objects).await;
    }

    pub async fn put_all(&self, bucket: &str, objects: Vec<(String, Vec<u8>)>) {
        let c = self.client();
        futures::stream::iter(objects)
            .map(|(k, v)| {
                let c = c.clone();
                async move {
                    c.put_object()
                        .bucket(bucket)
                        .key(&k)
                        .body(v.into())
                        .send()
                        .await
                        .unwrap_or_else(|e| {
                            panic!("put {k}: {}", aws_sdk_s3::error::DisplayErrorContext(&e))
                        });
                }
            })
            .buffer_unordered(16)
            .collect::<Vec<()>>()
            .await;
    }

    /// Every key of the bucket, sorted.
    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        let c = self.client();
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let r = c
                .list_objects_v2()
                .bucket(bucket)
                .set_continuation_token(token)
                .send()
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "list {bucket}: {}",
                        aws_sdk_s3::error::DisplayErrorContext(&e)
                    )
                });
            out.extend(
                r.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            token = r.next_continuation_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        out.sort();
        out
    }

    pub async fn read(&self, bucket: &str, key: &str) -> Vec<u8> {
        let r = self
            .client()
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!("get {key}: {}", aws_sdk_s3::error::DisplayErrorContext(&e))
            });
        r.body.collect().await.unwrap().into_bytes().to_vec()
    }

    /// The batch id recorded in an object's metadata.
    pub async fn batch_of(&self, bucket: &str, key: &str) -> Option<String> {
        let r = self
            .client()
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!("head {key}: {}", aws_sdk_s3::error::DisplayErrorContext(&e))
            });
        r.metadata().and_then(|m| m.get(BATCH_META)).cloned()
    }

    /// Outputs (`.json`/`.notice` keys) and the batch id each carries.
    pub async fn outputs(&self, bucket: &str) -> BTreeMap<String, Option<String>> {
        let keys: Vec<String> = self
            .keys(bucket)
            .await
            .into_iter()
            .filter(|k| k.ends_with(".json") || k.ends_with(".notice"))
            .collect();
        let got: Vec<(String, Option<String>)> = futures::stream::iter(keys)
            .map(|k| async move {
                let b = self.batch_of(bucket, &k).await;
                (k, b)
            })
            .buffer_unordered(16)
            .collect()
            .await;
        got.into_iter().collect()
    }

    /// Outputs carrying `batch_id`: (.json count, .notice count).
    pub async fn outputs_of(&self, bucket: &str, batch_id: &str) -> (u64, u64) {
        let all = self.outputs(bucket).await;
        let mine = all.iter().filter(|(_, b)| b.as_deref() == Some(batch_id));
        let (mut j, mut n) = (0, 0);
        for (k, _) in mine {
            if k.ends_with(".json") {
                j += 1
            } else {
                n += 1
            }
        }
        (j, n)
    }

    /// sha256 of every non-output object.
    pub async fn input_hashes(&self, bucket: &str) -> BTreeMap<String, Vec<u8>> {
        use sha2::Digest;
        let mut out = BTreeMap::new();
        for k in self.keys(bucket).await {
            if k.ends_with(".json") || k.ends_with(".notice") {
                continue;
            }
            let bytes = self.read(bucket, &k).await;
            out.insert(k, sha2::Sha256::digest(&bytes).to_vec());
        }
        out
    }
}

/// An s3s-fs server run by the test itself (it outlives restarts of the service), with its own
/// key pair; stops on drop.
/// The embedded s3s-fs server in a temporary folder (storage's test support), as an S3 target.
pub struct TestS3 {
    pub target: S3Target,
    pub server: speechbatch_storage::testing::EmbeddedTestS3,
}

pub use speechbatch_storage::testing::{
    ACCESS_KEY as TEST_ACCESS_KEY, SECRET_KEY as TEST_SECRET_KEY,
};

impl TestS3 {
    pub async fn start() -> TestS3 {
        TestS3::with(speechbatch_storage::testing::EmbeddedTestS3::start().await)
    }

    /// Behind a proxy that records every request, so that a test can see when the service
    /// reads an input ([`TestS3::was_read`]).
    pub async fn start_recording() -> TestS3 {
        TestS3::with(speechbatch_storage::testing::EmbeddedTestS3::start_recording().await)
    }

    fn with(server: speechbatch_storage::testing::EmbeddedTestS3) -> TestS3 {
        TestS3 {
            target: S3Target {
                name: "test s3s-fs",
                endpoint: server.endpoint(),
                access_key: TEST_ACCESS_KEY.into(),
                secret_key: TEST_SECRET_KEY.into(),
            },
            server,
        }
    }

    /// Whether the service has read `key` of `bucket` (it has started on that input). Only
    /// with [`TestS3::start_recording`].
    pub fn was_read(&self, bucket: &str, key: &str) -> bool {
        self.server.was_read(bucket, key)
    }
}

// ---------------------------------------------------------------------------------------------
// Audio

/// The bytes of a file of the repository's testdata/ folder.
pub use speechbatch_testkit::read_testdata;

/// asr clips, shortest first.
pub fn short_clips() -> Vec<(&'static str, Vec<u8>)> {
    [
        "clip02", "clip14", "clip13", "clip06", "clip03", "clip08", "clip15", "clip11", "clip07",
        "clip10", "clip09", "clip12", "clip05", "clip01", "clip04",
    ]
    .into_iter()
    .map(|c| (c, read_testdata(&format!("asr/{c}.flac"))))
    .collect()
}

/// A 16 kHz mono 16-bit WAV of `samples` samples, silence or quiet noise (a fixed sequence per
/// seed, so that files differ from each other).
pub fn wav(samples: usize, noise_seed: Option<u32>) -> Vec<u8> {
    let mut x = noise_seed
        .unwrap_or(0)
        .wrapping_mul(2654435761)
        .wrapping_add(1);
    let pcm: Vec<i16> = (0..samples)
        .map(|_| match noise_seed {
            None => 0,
            Some(_) => {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                ((x % 64) as i16) - 32
            }
        })
        .collect();
    speechbatch_testkit::wav(16_000, 1, &pcm)
}

// ---------------------------------------------------------------------------------------------
// SeaweedFS

pub const WEED_ACCESS_KEY: &str = "speechbatch-weed-ak";
pub const WEED_SECRET_KEY: &str = "WeedSecretKey/With+Chars0123456789abc";

/// `weed mini` on loopback ports with one identity (other key pairs are rejected); killed on drop.
pub struct Seaweed {
    pub target: S3Target,
    /// The server, to stop and restart.
    pub weed: speechbatch_storage::testing::SeaweedFs,
}

impl Seaweed {
    /// Starts SeaweedFS with the key pair above and waits until it takes writes.
    pub async fn start() -> Seaweed {
        let weed =
            speechbatch_storage::testing::SeaweedFs::start(WEED_ACCESS_KEY, WEED_SECRET_KEY).await;
        Seaweed {
            target: S3Target {
                name: "seaweedfs",
                endpoint: weed.endpoint(),
                access_key: WEED_ACCESS_KEY.into(),
                secret_key: WEED_SECRET_KEY.into(),
            },
            weed,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// IAM: a token endpoint and a bearer-checking proxy in front of an s3s-fs without SigV4

#[allow(unused_imports)] // lifecycle.rs uses it
pub use speechbatch_storage::testing::iam;
