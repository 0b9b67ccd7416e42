//! The embedded backend without models: a fake recognizer (a small JSON body, a `.notice` for
//! `bad*` files, a panic for `*panic*` files, and a gate that holds files "in flight") and a
//! real S3 server in-process (s3s-fs on a temporary folder). Queue order and limits, cancel and
//! delete in every status, failures, and resuming after a shutdown or a crash with exact counts.
//!
//! Nothing here sleeps: tests wait on the backend's change notifications, on the fake's, or on
//! the proxy's, each with a deadline. (`speechbatch_testkit::wait_until` polls; everything here
//! announces its changes, so `until` waits for the announcement instead.) The proxy in front of
//! the S3 server holds, cuts or answers connections for the scan, outage and revocation tests.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use api_shim::backend::{Backend, BucketRequest, CreateBatch};
use api_shim::embedded::{Embedded, EmbeddedConfig, RetryPolicy};
use crds::{BatchJob, BatchStatus, ErrorBody, RecognitionParams};
use speechbatch_storage::testing::{EmbeddedTestS3, ACCESS_KEY, LOCATION, SECRET_KEY};
use speechbatch_storage::{Credentials, HmacCredentials, StorageConfig};
use speechbatch_worker::{Recognized, Recognizer};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How long any one wait may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(15);

/// Waits until `check` gives a value, re-checking after each change `changes` announces.
async fn until<W, T>(
    changes: watch::Receiver<W>,
    what: &str,
    check: impl AsyncFnMut() -> Option<T>,
) -> T {
    match try_until(changes, check).await {
        Ok(v) => v,
        Err(why) => panic!("waiting for {what}: {why}"),
    }
}

/// As [`until`], but says why it gave up instead of panicking.
async fn try_until<W, T>(
    mut changes: watch::Receiver<W>,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> Result<T, String> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        // Marked seen before the check, so that a change during the check is not missed.
        changes.borrow_and_update();
        if let Some(v) = check().await {
            return Ok(v);
        }
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err("the notifier is gone".into()),
            Err(_) => return Err(format!("timed out after {DEADLINE:?}")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The fake recognizer.

/// The length of every file the fake recognizes.
const FAKE_AUDIO_SECONDS: f64 = 12.345;

#[derive(Default)]
struct FakeState {
    /// When set, calls wait for a permit (or for the gate to open).
    held: bool,
    permits: usize,
    /// Keys in the order their calls began.
    started: Vec<String>,
    /// Calls that returned (or panicked), per key.
    finished: BTreeMap<String, usize>,
    in_flight: usize,
    max_in_flight: usize,
}

/// Returns `{"results": []}`-like JSON as [`FAKE_AUDIO_SECONDS`] of audio, an error body for
/// `bad*` files, and panics for files with `panic` in their name.
struct Fake {
    state: Mutex<FakeState>,
    wake: Condvar,
    changes: watch::Sender<u64>,
}

impl Fake {
    fn new() -> Arc<Fake> {
        Arc::new(Fake {
            state: Mutex::default(),
            wake: Condvar::new(),
            changes: watch::channel(0).0,
        })
    }

    fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
        self.wake.notify_all();
    }

    /// Calls from now on wait at the gate.
    fn hold(&self) {
        self.state().held = true;
    }

    /// Lets `n` waiting (or future) calls through.
    fn release(&self, n: usize) {
        self.state().permits += n;
        self.changed();
    }

    /// Lets every call through, now and later.
    fn open(&self) {
        self.state().held = false;
        self.changed();
    }

    fn started(&self) -> Vec<String> {
        self.state().started.clone()
    }

    fn finished(&self) -> BTreeMap<String, usize> {
        self.state().finished.clone()
    }

    /// Waits until the fake's state satisfies `check`.
    async fn until(&self, what: &str, check: impl Fn(&FakeState) -> bool) {
        let changes = self.changes.subscribe();
        until(changes, what, async || check(&self.state()).then_some(())).await
    }
}

impl Recognizer for Fake {
    fn recognize(
        &self,
        _audio: Vec<u8>,
        name: &str,
        _params: &RecognitionParams,
        _vocabulary: Option<&crds::customization::Vocabulary>,
    ) -> Result<Recognized, ErrorBody> {
        let mut s = self.state();
        s.started.push(name.to_owned());
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        self.changed();
        while s.held && s.permits == 0 {
            s = self.wake.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        if s.held {
            s.permits -= 1;
        }
        s.in_flight -= 1;
        *s.finished.entry(name.to_owned()).or_default() += 1;
        drop(s);
        self.changed();
        if name.contains("panic") {
            panic!("the fake engine panics on {name}");
        }
        if name.starts_with("bad") {
            return Err(ErrorBody::new(415, format!("{name} is not audio")));
        }
        Ok(Recognized {
            json: format!(r#"{{"results":[],"file":"{name}"}}"#).into_bytes(),
            audio_seconds: FAKE_AUDIO_SECONDS,
        })
    }
}

/// Opens a fake's gate when dropped: a failing test must not leave calls blocked, or the
/// runtime's shutdown would wait for them forever.
struct OpenOnDrop(Arc<Fake>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

// ---------------------------------------------------------------------------------------------
// A proxy in front of the S3 server: it can hold connections (a scan that stays `initializing`
// as long as a test needs) or cut them (an outage of the bucket's server).

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// New connections wait until the mode changes.
    Hold,
    /// Connections are forwarded to the S3 server.
    Pass,
    /// Open connections are cut; the next `n` new ones are closed at once, then it passes.
    Outage(u64),
    /// Open connections are cut; every request is answered as a server answers an access key
    /// it no longer knows (a key revoked while its job runs).
    Revoked,
}

/// Reads a request head (and whatever of a body came with it) and answers it as an S3 server
/// answers a request signed with an access key it does not know, then closes.
async fn answer_revoked(mut client: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let _ = client.write_all(REVOKED.as_bytes()).await;
    let _ = client.shutdown().await;
}

/// The S3 error answer to a request signed with an unknown access key.
const REVOKED: &str = "HTTP/1.1 403 Forbidden\r\ncontent-type: application/xml\r\ncontent-length: 133\r\nconnection: close\r\n\r\n<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InvalidAccessKeyId</Code><Message>The access key does not exist.</Message></Error>";

struct Proxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    accepted: watch::Sender<u64>,
    /// New connections an outage closed at once (open ones it cut are not counted: whether
    /// the client had one open is up to its pool).
    refused: watch::Sender<u64>,
    /// Connections being forwarded now.
    forwarding: watch::Sender<u64>,
}

impl Proxy {
    async fn start(upstream: SocketAddr, mode: Mode) -> Arc<Proxy> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Arc::new(Proxy {
            addr: listener.local_addr().unwrap(),
            mode: watch::channel(mode).0,
            accepted: watch::channel(0).0,
            refused: watch::channel(0).0,
            forwarding: watch::channel(0).0,
        });
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                p.accepted.send_modify(|n| *n += 1);
                tokio::spawn(p.clone().serve(client, upstream));
            }
        });
        proxy
    }

    async fn serve(self: Arc<Self>, mut client: tokio::net::TcpStream, upstream: SocketAddr) {
        let mut mode = self.mode.subscribe();
        let Ok(now) = mode.wait_for(|m| *m != Mode::Hold).await.map(|m| *m) else {
            return;
        };
        match now {
            Mode::Hold | Mode::Pass => {}
            Mode::Outage(_) => {
                // One of the connections the outage closes; after the last it passes.
                self.mode.send_modify(|m| {
                    if let Mode::Outage(n) = *m {
                        *m = if n > 1 {
                            Mode::Outage(n - 1)
                        } else {
                            Mode::Pass
                        };
                    }
                });
                self.refused.send_modify(|c| *c += 1);
                return;
            }
            Mode::Revoked => return answer_revoked(client).await,
        }
        let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
            return;
        };
        self.forwarding.send_modify(|n| *n += 1);
        let switched = tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => None,
            m = mode.wait_for(|m| matches!(m, Mode::Outage(_) | Mode::Revoked)) => m.ok().map(|m| *m),
        };
        drop(server);
        self.forwarding.send_modify(|n| *n -= 1);
        // The client may still send a request on an idle connection it holds: after a
        // revocation that one is answered as the server would, not cut.
        if switched == Some(Mode::Revoked) {
            answer_revoked(client).await;
        }
    }

    /// Changes the mode and waits until no connection is forwarded any more (after an outage
    /// begins, the client's open connections are closed; after a revocation, answered).
    async fn switch_and_cut(&self, mode: Mode) {
        self.mode.send_replace(mode);
        let forwarding = self.forwarding.subscribe();
        until(forwarding.clone(), "open connections cut", async || {
            (*forwarding.borrow() == 0).then_some(())
        })
        .await
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn until_accepted(&self, n: u64) {
        let accepted = self.accepted.subscribe();
        until(accepted.clone(), "connections to the proxy", async || {
            (*accepted.borrow() >= n).then_some(())
        })
        .await
    }

    /// Waits until the outage has closed every connection it was to close.
    async fn until_outage_over(&self) {
        let mode = self.mode.subscribe();
        until(mode.clone(), "the end of the outage", async || {
            (*mode.borrow() == Mode::Pass).then_some(())
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------------
// The service under test.

struct Service {
    s3: EmbeddedTestS3,
    data: tempfile::TempDir,
    cfg: EmbeddedConfig,
    fake: Arc<Fake>,
    shutdown: CancellationToken,
    backend: Embedded,
}

impl Service {
    async fn start(max_running_jobs: usize, workers: usize, max_shards: usize) -> Service {
        // 20, 40, 80, 160 ms... within 1.5 s.
        let retry = RetryPolicy {
            window: Duration::from_millis(1500),
            first_delay: Duration::from_millis(20),
        };
        Service::start_with_retry(max_running_jobs, workers, max_shards, retry).await
    }

    async fn start_with_retry(
        max_running_jobs: usize,
        workers: usize,
        max_shards: usize,
        retry: RetryPolicy,
    ) -> Service {
        let s3 = EmbeddedTestS3::start().await;
        let data = tempfile::tempdir().unwrap();
        let cfg = EmbeddedConfig {
            data_dir: data.path().to_owned(),
            max_running_jobs,
            workers,
            max_shards,
            // The SDK's own retries off: each connection a proxy cuts is one failed operation,
            // so that the tests see the backend's retries.
            storage: StorageConfig {
                max_attempts: 1,
                ..StorageConfig::default()
            },
            retry,
            analyzer: None,
        };
        let fake = Fake::new();
        let shutdown = CancellationToken::new();
        let backend = Embedded::start(cfg.clone(), fake.clone(), shutdown.clone()).unwrap();
        Service {
            s3,
            data,
            cfg,
            fake,
            shutdown,
            backend,
        }
    }

    /// Stops the backend as SIGTERM does (files in flight finish) and starts a new one on the
    /// same data directory with a new fake recognizer; returns the old fake.
    async fn restart(&mut self) -> Arc<Fake> {
        self.shutdown.cancel();
        self.backend.drain().await;
        self.start_again()
    }

    /// Starts a new backend on the same data directory (the old one must be stopped).
    fn start_again(&mut self) -> Arc<Fake> {
        let old = std::mem::replace(&mut self.fake, Fake::new());
        self.shutdown = CancellationToken::new();
        self.backend =
            Embedded::start(self.cfg.clone(), self.fake.clone(), self.shutdown.clone()).unwrap();
        old
    }

    fn credentials(&self) -> Credentials {
        self.credentials_at(&self.s3.endpoint())
    }

    fn credentials_at(&self, endpoint: &str) -> Credentials {
        Credentials::Hmac(HmacCredentials {
            end_point: endpoint.to_owned(),
            access_key: ACCESS_KEY.into(),
            secret_key: SECRET_KEY.into(),
        })
    }

    /// A bucket holding `keys` (a few bytes each: the fake does not read them).
    fn bucket(&self, name: &str, keys: &[&str]) {
        let dir = self.s3.root.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for key in keys {
            std::fs::write(dir.join(key), b"not really audio").unwrap();
        }
    }

    fn output(&self, bucket: &str, name: &str) -> PathBuf {
        self.s3.root.path().join(bucket).join(name)
    }

    fn record_file(&self, id: &str) -> PathBuf {
        self.data.path().join("jobs").join(format!("{id}.json"))
    }

    async fn create(&self, bucket: &str) -> String {
        self.create_with(self.credentials(), bucket).await
    }

    async fn create_with(&self, credentials: Credentials, bucket: &str) -> String {
        let request = CreateBatch {
            input: BucketRequest {
                name: bucket.into(),
                location: LOCATION.into(),
                credentials,
            },
            output: None,
            params: RecognitionParams::default(),
            language_customization_id: None,
        };
        let job = self.backend.create(request).await.unwrap();
        assert_eq!(job.status, BatchStatus::Initializing);
        job.batch_id
    }

    async fn job(&self, id: &str) -> BatchJob {
        self.backend.get(id).await.unwrap()
    }

    /// A job on bucket `calls` holding `keys`, reached through a proxy that passes for now;
    /// returned once the first key (in listing order) is in flight, held by the fake.
    async fn job_through_proxy(&self, keys: &[&str]) -> (Arc<Proxy>, String) {
        self.bucket("calls", keys);
        let proxy = Proxy::start(self.s3.server.addr(), Mode::Pass).await;
        self.fake.hold();
        let id = self
            .create_with(self.credentials_at(&proxy.endpoint()), "calls")
            .await;
        let first = keys.iter().min().expect("at least one key").to_string();
        self.fake
            .until("the first file in flight", |s| {
                s.started == [first.as_str()]
            })
            .await;
        (proxy, id)
    }

    /// Waits until job `id` satisfies `check`; returns it.
    async fn until(&self, id: &str, what: &str, check: impl Fn(&BatchJob) -> bool) -> BatchJob {
        let waited = try_until(self.backend.changes(), async || {
            let job = self.backend.get(id).await.ok()?;
            check(&job).then_some(job)
        })
        .await;
        match waited {
            Ok(job) => job,
            Err(why) => panic!(
                "waiting for {what} ({id}): {why}; the job is {:?}",
                self.backend.get(id).await
            ),
        }
    }

    async fn until_status(&self, id: &str, status: BatchStatus) -> BatchJob {
        self.until(id, &format!("status {status}"), |j| j.status == status)
            .await
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.fake.open();
    }
}

fn exact(job: &BatchJob) -> bool {
    job.successful_count + job.failed_count == job.total_count
}

fn is_404<T: std::fmt::Debug>(result: Result<T, api_shim::error::ApiError>) -> bool {
    matches!(result, Err(e) if e.status == 404)
}

// ---------------------------------------------------------------------------------------------
// Queue and limits.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_jobs_start_first_come_first_served_one_at_a_time_under_a_limit_of_one() {
    // Two shards per job, so that both files of a running job are in flight together.
    let svc = Service::start(1, 4, 2).await;
    svc.bucket("blocker", &["x.wav"]);
    // Bucket names and ids do not sort in creation order: only `seq` gives it.
    let order = ["q3", "q1", "q4", "q2"];
    for q in order {
        svc.bucket(
            &format!("queue-{q}"),
            &[&format!("{q}-a.wav"), &format!("{q}-b.wav")],
        );
    }
    svc.fake.hold();
    let blocker = svc.create("blocker").await;
    svc.fake
        .until("the blocker's file in flight", |s| s.started == ["x.wav"])
        .await;
    let mut ids = Vec::new();
    for q in order {
        ids.push(svc.create(&format!("queue-{q}")).await);
    }
    for id in &ids {
        svc.until_status(id, BatchStatus::Waiting).await;
    }
    assert_eq!(svc.job(&blocker).await.status, BatchStatus::Running);
    svc.fake.release(1);
    svc.until_status(&blocker, BatchStatus::Completed).await;
    for (n, (q, id)) in order.iter().zip(&ids).enumerate() {
        let keys = [format!("{q}-a.wav"), format!("{q}-b.wav")];
        svc.fake
            .until(&format!("both files of {q} in flight"), |s| {
                keys.iter().all(|k| s.started.contains(k))
            })
            .await;
        assert_eq!(svc.job(id).await.status, BatchStatus::Running);
        for later in &ids[n + 1..] {
            assert_eq!(
                svc.job(later).await.status,
                BatchStatus::Waiting,
                "{q} runs, so the jobs created after it wait"
            );
        }
        assert_eq!(
            svc.fake.started().len(),
            1 + 2 * (n + 1),
            "only {q}'s files began"
        );
        svc.fake.release(2);
        let done = svc.until_status(id, BatchStatus::Completed).await;
        assert!(exact(&done) && done.total_count == 2, "{done:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_files_than_workers_are_in_flight_across_jobs_and_shards() {
    let svc = Service::start(2, 2, 3).await;
    svc.bucket("left", &["l1.wav", "l2.wav", "l3.wav"]);
    svc.bucket("right", &["r1.wav", "r2.wav", "r3.wav"]);
    svc.fake.hold();
    let ids = [svc.create("left").await, svc.create("right").await];
    svc.fake
        .until("two files in flight", |s| s.in_flight == 2)
        .await;
    for finished in 1..=6 {
        svc.fake.release(1);
        svc.fake
            .until(&format!("{finished} files finished"), |s| {
                s.finished.len() == finished
            })
            .await;
    }
    for id in &ids {
        let job = svc.until_status(id, BatchStatus::Completed).await;
        assert_eq!((job.total_count, job.successful_count), (3, 3), "{job:?}");
    }
    assert_eq!(
        svc.fake.state().max_in_flight,
        2,
        "the pool of two workers was used fully and never exceeded"
    );
}

// ---------------------------------------------------------------------------------------------
// Cancel and delete in every status.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canceling_or_deleting_an_initializing_job_drops_its_scan_and_no_file_is_ever_processed() {
    let svc = Service::start(2, 2, 4).await;
    svc.bucket("calls", &["init-a.wav", "init-b.wav"]);
    svc.bucket("sentinel", &["s.wav"]);
    let proxy = Proxy::start(svc.s3.server.addr(), Mode::Hold).await;
    let held = svc.credentials_at(&proxy.endpoint());
    let canceled = svc.create_with(held.clone(), "calls").await;
    let deleted = svc.create_with(held, "calls").await;
    proxy.until_accepted(2).await;
    for id in [&canceled, &deleted] {
        assert_eq!(svc.job(id).await.status, BatchStatus::Initializing);
    }
    let answer = svc.backend.cancel(&canceled).await.unwrap();
    assert_eq!(answer.status, BatchStatus::Canceled);
    assert_eq!((answer.total_count, answer.progress), (0, 0.0));
    assert!(answer.updated >= answer.created && answer.finished.is_none());
    svc.backend.delete(&deleted).await.unwrap();
    assert!(is_404(svc.backend.get(&deleted).await));
    assert!(!svc.record_file(&deleted).exists());

    // Let the held scans through, then run a later job to its end.
    proxy.mode.send_replace(Mode::Pass);
    let sentinel = svc.create("sentinel").await;
    svc.until_status(&sentinel, BatchStatus::Completed).await;
    assert_eq!(
        svc.job(&canceled).await,
        answer,
        "a canceled job stays as it was"
    );
    assert!(is_404(svc.backend.get(&deleted).await));
    assert!(
        !svc.record_file(&deleted).exists(),
        "a late scan saved it again"
    );
    assert_eq!(svc.fake.started(), ["s.wav"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canceling_or_deleting_a_waiting_job_means_none_of_its_files_is_ever_processed() {
    let svc = Service::start(1, 2, 4).await;
    svc.bucket("blocker", &["x.wav"]);
    svc.bucket("wait-1", &["w1-a.wav", "w1-b.wav"]);
    svc.bucket("wait-2", &["w2-a.wav"]);
    svc.bucket("later", &["later.wav"]);
    svc.fake.hold();
    let blocker = svc.create("blocker").await;
    // Running first, so that the others queue behind it.
    svc.fake
        .until("the blocker's file in flight", |s| s.started == ["x.wav"])
        .await;
    let w1 = svc.create("wait-1").await;
    let w2 = svc.create("wait-2").await;
    for id in [&w1, &w2] {
        svc.until_status(id, BatchStatus::Waiting).await;
    }
    let answer = svc.backend.cancel(&w1).await.unwrap();
    assert_eq!(answer.status, BatchStatus::Canceled);
    assert_eq!((answer.total_count, answer.progress), (2, 0.0));
    svc.backend.delete(&w2).await.unwrap();
    assert!(is_404(svc.backend.get(&w2).await));

    svc.fake.open();
    svc.until_status(&blocker, BatchStatus::Completed).await;
    // Created last, so it runs after anything still queued.
    let later = svc.create("later").await;
    svc.until_status(&later, BatchStatus::Completed).await;
    assert_eq!(svc.job(&w1).await, answer);
    assert!(!svc.record_file(&w2).exists());
    assert_eq!(svc.fake.started(), ["x.wav", "later.wav"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canceling_a_running_job_lets_its_file_in_flight_finish_and_starts_no_other() {
    let svc = Service::start(1, 1, 1).await;
    svc.bucket(
        "long",
        &["long-1.wav", "long-2.wav", "long-3.wav", "long-4.wav"],
    );
    svc.bucket("next", &["next-1.wav", "next-2.wav"]);
    svc.fake.hold();
    let long = svc.create("long").await;
    svc.fake
        .until("the first file in flight", |s| s.started == ["long-1.wav"])
        .await;
    let answer = svc.backend.cancel(&long).await.unwrap();
    assert_eq!(answer.status, BatchStatus::Canceled);
    assert_eq!(answer.total_count, 4);
    // The next job competes for the one worker with anything the canceled job might start.
    let next = svc.create("next").await;
    svc.fake.open();
    svc.until_status(&next, BatchStatus::Completed).await;
    svc.shutdown.cancel();
    svc.backend.drain().await;
    let long_files: Vec<String> = svc
        .fake
        .started()
        .into_iter()
        .filter(|k| k.starts_with("long"))
        .collect();
    assert_eq!(long_files, ["long-1.wav"]);
    assert!(
        svc.output("long", "long-1.wav.json").exists(),
        "the file in flight finished and its output stays"
    );
    assert_eq!(
        svc.job(&long).await,
        answer,
        "the canceled record is what the client was told"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_running_job_removes_its_record_for_good_and_keeps_its_outputs() {
    let svc = Service::start(1, 1, 1).await;
    svc.bucket("long", &["long-1.wav", "long-2.wav", "long-3.wav"]);
    svc.bucket("next", &["next-1.wav", "next-2.wav"]);
    svc.fake.hold();
    let long = svc.create("long").await;
    svc.fake
        .until("the first file in flight", |s| s.started == ["long-1.wav"])
        .await;
    svc.backend.delete(&long).await.unwrap();
    assert!(is_404(svc.backend.get(&long).await));
    assert!(is_404(svc.backend.delete(&long).await));
    let next = svc.create("next").await;
    svc.fake.open();
    svc.until_status(&next, BatchStatus::Completed).await;
    svc.shutdown.cancel();
    svc.backend.drain().await;
    assert!(svc.output("long", "long-1.wav.json").exists());
    assert!(!svc.output("long", "long-2.wav.json").exists());
    assert!(
        !svc.record_file(&long).exists(),
        "the finished file saved it again"
    );
    let left: Vec<String> = std::fs::read_dir(svc.data.path().join("credentials"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&long))
        .collect();
    assert!(left.is_empty(), "credentials left: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canceling_a_finished_job_changes_nothing_and_deleting_it_keeps_its_outputs() {
    let svc = Service::start(2, 2, 4).await;
    svc.bucket("done", &["done.wav"]);
    svc.bucket("stopped", &["stopped-1.wav", "stopped-2.wav"]);
    let completed = svc.create("done").await;
    let failed = svc.create("missing").await;
    svc.until_status(&completed, BatchStatus::Completed).await;
    svc.until_status(&failed, BatchStatus::Failed).await;
    svc.fake.hold();
    let canceled = svc.create("stopped").await;
    svc.fake
        .until("a file in flight", |s| s.in_flight >= 1)
        .await;
    svc.backend.cancel(&canceled).await.unwrap();
    svc.fake.open();

    for id in [&completed, &failed, &canceled] {
        let before = svc.job(id).await;
        let answer = svc.backend.cancel(id).await.unwrap();
        assert_eq!(answer, before, "cancel changed a {} job", before.status);
        assert_eq!(svc.job(id).await, before);
    }
    for id in [&completed, &failed, &canceled] {
        svc.backend.delete(id).await.unwrap();
        assert!(is_404(svc.backend.get(id).await));
        assert!(!svc.record_file(id).exists());
    }
    assert!(svc.output("done", "done.wav.json").exists());
    assert!(svc.backend.list().await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Files and buckets that go wrong.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_recognizer_gives_that_file_a_notice_and_later_files_still_succeed() {
    let svc = Service::start(1, 1, 1).await;
    svc.bucket("calls", &["1.wav", "2-panic.wav", "3.wav", "bad4.wav"]);
    let id = svc.create("calls").await;
    let job = svc.until_status(&id, BatchStatus::Completed).await;
    assert_eq!(
        (job.total_count, job.successful_count, job.failed_count),
        (4, 2, 2),
        "{job:?}"
    );
    assert_eq!(job.progress, 1.0);
    assert!(job.finished.is_some() && job.error_message.is_none());
    let notice = std::fs::read(svc.output("calls", "2-panic.wav.notice")).unwrap();
    let notice: serde_json::Value = serde_json::from_slice(&notice).unwrap();
    assert_eq!(notice["code"], 500, "{notice}");
    assert!(svc.output("calls", "3.wav.json").exists());
    assert!(svc.output("calls", "bad4.wav.notice").exists());
    assert!(!svc.output("calls", "bad4.wav.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn details_add_up_the_audio_of_the_recognised_files_and_survive_a_restart() {
    let mut svc = Service::start(1, 1, 2).await;
    svc.bucket("calls", &["1.wav", "2.wav", "3-panic.wav", "bad4.wav"]);
    let id = svc.create("calls").await;
    let job = svc.until_status(&id, BatchStatus::Completed).await;
    let details = svc.backend.details(&id).await.unwrap();
    assert_eq!(details.job, job);
    // Two files recognised; a notice (a refused or a panicking file) adds no audio.
    assert!(
        (details.audio_seconds - 2.0 * FAKE_AUDIO_SECONDS).abs() < 1e-9,
        "{}",
        details.audio_seconds
    );
    assert_eq!(details.language_customization_id, None);
    assert_eq!(details.analytics, None, "a job without speech_analytics");
    assert_eq!(details.params, RecognitionParams::default());
    svc.restart().await;
    let again = svc.backend.details(&id).await.unwrap();
    assert_eq!(again.audio_seconds, details.audio_seconds);
    assert!(is_404(svc.backend.details("no-such-job").await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_bucket_completes_at_once() {
    let svc = Service::start(1, 1, 4).await;
    svc.bucket("empty", &[]);
    let id = svc.create("empty").await;
    let job = svc
        .until(&id, "a final status", |j| j.status.is_final())
        .await;
    assert_eq!(job.status, BatchStatus::Completed);
    assert_eq!((job.total_count, job.progress), (0, 1.0));
    assert!(job.finished.is_some());
    assert!(svc.fake.started().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_fails_the_job_with_a_message_that_names_it() {
    let svc = Service::start(1, 1, 4).await;
    let id = svc.create("no-such-bucket").await;
    let job = svc
        .until(&id, "a final status", |j| j.status.is_final())
        .await;
    assert_eq!(job.status, BatchStatus::Failed);
    let message = job.error_message.clone().unwrap_or_default();
    assert!(message.contains("no-such-bucket"), "{message}");
    assert!(job.finished.is_none());
    assert!(!message.contains(SECRET_KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_listed_newest_first_and_none_is_accepted_during_shutdown() {
    let svc = Service::start(1, 1, 4).await;
    svc.bucket("empty", &[]);
    let first = svc.create("empty").await;
    let second = svc.create("empty").await;
    let listed: Vec<String> = svc
        .backend
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.batch_id)
        .collect();
    assert_eq!(listed, [second, first]);
    svc.shutdown.cancel();
    let refused = svc
        .backend
        .create(CreateBatch {
            input: BucketRequest {
                name: "empty".into(),
                location: LOCATION.into(),
                credentials: svc.credentials(),
            },
            output: None,
            params: RecognitionParams::default(),
            language_customization_id: None,
        })
        .await;
    assert!(matches!(refused, Err(e) if e.status == 503));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_of_the_bucket_server_that_passes_is_retried_and_the_job_completes_with_exact_counts(
) {
    let svc = Service::start(1, 1, 1).await;
    let (proxy, id) = svc
        .job_through_proxy(&["a1.wav", "a2.wav", "bad3.wav"])
        .await;
    // The server goes away while the file is recognized: its output cannot be written, and
    // the first retry cannot list the shard. The second retry finds the server back.
    proxy.switch_and_cut(Mode::Outage(2)).await;
    svc.fake.open();
    let job = svc.until_status(&id, BatchStatus::Completed).await;
    proxy.until_outage_over().await;
    assert_eq!(
        (job.total_count, job.successful_count, job.failed_count),
        (3, 2, 1),
        "{job:?}"
    );
    assert!(job.error_message.is_none(), "{job:?}");
    let calls = svc.fake.finished();
    assert_eq!(calls["a1.wav"], 2, "its output was lost, so it ran again");
    assert_eq!((calls["a2.wav"], calls["bad3.wav"]), (1, 1));
    for output in ["a1.wav.json", "a2.wav.json", "bad3.wav.notice"] {
        assert!(svc.output("calls", output).exists(), "{output}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_that_outlasts_the_retry_window_fails_the_job_saying_so() {
    let svc = Service::start(1, 1, 1).await;
    let (proxy, id) = svc.job_through_proxy(&["o1.wav", "o2.wav"]).await;
    proxy.switch_and_cut(Mode::Outage(u64::MAX)).await;
    svc.fake.open();
    let job = svc.until_status(&id, BatchStatus::Failed).await;
    let message = job.error_message.clone().unwrap_or_default();
    assert!(
        message.contains("still failing after retrying for 1 s"),
        "{message}"
    );
    assert!(!message.contains(SECRET_KEY), "{message}");
    // Each retry met the outage on a new connection (the first try may have used one the
    // client held open, which the outage closed).
    assert!(*proxy.refused.borrow() >= 3, "{message}");
    assert_eq!(svc.fake.started(), ["o1.wav"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_revoked_while_a_job_runs_fail_it_at_once_without_retrying() {
    // A retry would wait an hour: the job can only fail in time if none is made.
    let retry = RetryPolicy {
        window: Duration::from_secs(7200),
        first_delay: Duration::from_secs(3600),
    };
    let svc = Service::start_with_retry(1, 1, 1, retry).await;
    let (proxy, id) = svc.job_through_proxy(&["r1.wav", "r2.wav"]).await;
    // Switched before the worker writes its output, so that its request meets the revocation.
    proxy.switch_and_cut(Mode::Revoked).await;
    svc.fake.open();
    let job = svc.until_status(&id, BatchStatus::Failed).await;
    let message = job.error_message.clone().unwrap_or_default();
    assert!(message.contains("calls"), "{message}");
    assert!(!message.contains("retrying"), "{message}");
    assert!(!message.contains(SECRET_KEY), "{message}");
    assert_eq!(svc.fake.started(), ["r1.wav"]);
}

// ---------------------------------------------------------------------------------------------
// Restarts.

/// Four inputs: two shards of two (`a1 a2 | bad3 c4`) where a test plans two.
const FOUR: [&str; 4] = ["a1.wav", "a2.wav", "bad3.wav", "c4.wav"];

/// A runtime shut down without waiting when dropped: every task of it is dropped at once, and
/// dropping it inside the test's runtime (also when the test fails) does not block.
struct Detached(Option<tokio::runtime::Runtime>);

impl Detached {
    fn handle(&self) -> &tokio::runtime::Handle {
        self.0.as_ref().expect("running").handle()
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Every input was recognized exactly once over all the fakes.
fn once_each(fakes: &[&Fake]) {
    let mut calls: BTreeMap<String, usize> = BTreeMap::new();
    for fake in fakes {
        for (key, n) in fake.finished() {
            *calls.entry(key).or_default() += n;
        }
    }
    let expected: BTreeMap<String, usize> = FOUR.iter().map(|k| (k.to_string(), 1)).collect();
    assert_eq!(calls, expected, "calls per file over all runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_stopped_by_shutdown_resumes_at_the_next_start_with_exact_counts() {
    let mut svc = Service::start(1, 1, 2).await;
    svc.bucket("calls", &FOUR);
    svc.fake.hold();
    let id = svc.create("calls").await;
    svc.fake.release(1);
    svc.fake
        .until("the second file in flight", |s| {
            s.started.len() == 2 && s.in_flight == 1
        })
        .await;
    svc.shutdown.cancel();
    svc.fake.release(1);
    let first = svc.restart().await;
    // Shards take their turns in no set order; either way one shard ran to its end.
    let done: Vec<String> = first.finished().into_keys().collect();
    assert!(
        done == ["a1.wav", "a2.wav"] || done == ["bad3.wav", "c4.wav"],
        "shutdown let the file in flight finish and started no other: {done:?}"
    );
    let job = svc.until_status(&id, BatchStatus::Completed).await;
    assert_eq!(
        (job.total_count, job.successful_count, job.failed_count),
        (4, 3, 1),
        "{job:?}"
    );
    assert!(exact(&job));
    once_each(&[&first, &svc.fake]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_interrupted_by_a_crash_resumes_with_exact_counts_and_no_file_recognized_twice() {
    // One shard, so that the crash leaves a started shard holding a .json and a .notice.
    let mut svc = Service::start(1, 1, 1).await;
    svc.bucket("calls", &FOUR);
    svc.shutdown.cancel();
    svc.backend.drain().await;
    // The first backend runs on a runtime of its own, so that shutting that runtime down drops
    // every task of it at once, as SIGKILL would, while the S3 server (on the test's) stays.
    let crashing = Detached(Some(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap(),
    ));
    let fake = Fake::new();
    let _open = OpenOnDrop(fake.clone());
    fake.hold();
    let (cfg, f, token) = (svc.cfg.clone(), fake.clone(), CancellationToken::new());
    let backend = crashing
        .handle()
        .spawn(async move { Embedded::start(cfg, f, token) })
        .await
        .unwrap()
        .unwrap();
    let request = CreateBatch {
        input: BucketRequest {
            name: "calls".into(),
            location: LOCATION.into(),
            credentials: svc.credentials(),
        },
        output: None,
        params: RecognitionParams::default(),
        language_customization_id: None,
    };
    let b = backend.clone();
    let id = crashing
        .handle()
        .spawn(async move { b.create(request).await })
        .await
        .unwrap()
        .unwrap()
        .batch_id;
    fake.release(3);
    fake.until("the fourth file in flight", |s| {
        s.started.len() == 4 && s.finished.len() == 3
    })
    .await;
    let before = backend.get(&id).await.unwrap();
    assert_eq!((before.successful_count, before.failed_count), (2, 1));
    drop(crashing);
    drop(backend);

    // As if the crash came before any count of the shard was saved, its outputs written.
    let path = svc.record_file(&id);
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(record["job"]["status"], "running");
    assert_eq!(record["shards"][0]["started"], true);
    assert_eq!(record["shards"][0]["done"], false);
    for (at, field) in [
        ("/shards/0/successful", 2),
        ("/shards/0/failed", 1),
        ("/job/successful_count", 2),
        ("/job/failed_count", 1),
    ] {
        let count = record.pointer_mut(at).unwrap();
        assert_eq!(*count, field, "{at}");
        *count = 0.into();
    }
    std::fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();

    svc.start_again();
    let job = svc.until_status(&id, BatchStatus::Completed).await;
    assert_eq!(
        (job.total_count, job.successful_count, job.failed_count),
        (4, 3, 1),
        "{job:?}"
    );
    // The file in flight at the crash never returned there; it was recognized once, here.
    once_each(&[&fake, &svc.fake]);
    assert_eq!(svc.fake.started(), ["c4.wav"]);
    fake.open();
    let outputs: BTreeSet<String> = std::fs::read_dir(svc.s3.root.path().join("calls"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") || n.ends_with(".notice"))
        .collect();
    assert_eq!(
        outputs,
        BTreeSet::from(
            [
                "a1.wav.json",
                "a2.wav.json",
                "bad3.wav.notice",
                "c4.wav.json"
            ]
            .map(String::from)
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_added_or_removed_after_the_scan_are_counted_as_the_shards_find_them() {
    let svc = Service::start(1, 1, 2).await;
    let _open = OpenOnDrop(svc.fake.clone());
    svc.bucket("calls", &["a1.wav", "a2.wav", "b1.wav", "b2.wav"]);
    svc.fake.hold();
    let id = svc.create("calls").await;
    // One shard is running (one file at a time); the other has not listed its range yet.
    svc.fake
        .until("a file in flight", |s| !s.started.is_empty())
        .await;
    assert_eq!(svc.job(&id).await.total_count, 4);
    let first_shard_is_a = svc.fake.started()[0].starts_with('a');
    // In the other shard's range: one input added, one removed.
    let (added, removed, expected) = if first_shard_is_a {
        ("b0.wav", "b2.wav", ["a1.wav", "a2.wav", "b0.wav", "b1.wav"])
    } else {
        ("a0.wav", "a2.wav", ["a0.wav", "a1.wav", "b1.wav", "b2.wav"])
    };
    svc.bucket("calls", &[added]);
    std::fs::remove_file(svc.output("calls", removed)).unwrap();
    svc.fake.open();
    let job = svc.until_status(&id, BatchStatus::Completed).await;
    assert_eq!(
        (job.total_count, job.successful_count, job.failed_count),
        (4, 4, 0),
        "{job:?}"
    );
    assert_eq!(job.progress, 1.0);
    let mut started = svc.fake.started();
    started.sort();
    assert_eq!(started, expected);
    for input in expected {
        assert!(
            svc.output("calls", &format!("{input}.json")).exists(),
            "{input}"
        );
    }
    assert!(!svc.output("calls", &format!("{removed}.json")).exists());
}
