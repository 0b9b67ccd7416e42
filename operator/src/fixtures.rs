//! Request-sequence tests of `reconcile`, as in kube-rs `controller-rs` `src/fixtures.rs`: a
//! tower-test mock stands in for the API server, and an [`ApiServerVerifier`] plays one
//! [`Scenario`] per test, checking each request the reconcile makes and answering it. Bucket
//! scans run for real against the project's embedded S3 server.

use std::sync::Arc;
use std::time::Duration;

use crds::resource::SpeechBatch;
use futures::future::BoxFuture;
use http::Method;
use k8s_openapi::api::batch::v1::Job;
use kube::runtime::controller::Action;
use kube::{Client, Resource, ResourceExt};
use serde_json::{json, Value};
use speechbatch_storage::embedded_s3::EmbeddedS3;
use speechbatch_storage::StorageConfig;
use speechbatch_testkit::kube_mock::{mock_client, ApiRequest, MockApiServer};

use crate::controller::{error_policy, reconcile, Context, Error, FINALIZER};
use crate::decide::ScanOutcome;
use crate::metrics::Metrics;
use crate::scan::{BucketScanner, Scanner};
use crate::tests::{batch, policy};

const BATCHES: &str = "/apis/speechbatch.io/v1alpha1/namespaces/default/speechbatches";
const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/default/events";

/// Plays the API server's side of one scenario.
pub struct ApiServerVerifier(MockApiServer);

/// What the API server sees in one test.
pub enum Scenario {
    /// A new SpeechBatch: the finalizer is added, nothing else.
    FinalizerCreation(SpeechBatch),
    /// Scan done: the Secret is read, the status patched `waiting` with the plan, the Job
    /// created, `Scanned` and `JobCreated` events published.
    ScanThenCreateJob {
        batch: SpeechBatch,
        secret: Value,
        total: u64,
    },
    /// The Secret is read and the scan fails: status `failed` with the message, a `Failed` event.
    ScanFails {
        batch: SpeechBatch,
        secret: Value,
        message_contains: &'static str,
    },
    /// A planned batch whose Job is missing: the Job is created, the status unchanged.
    RecreateMissingJob(SpeechBatch),
    /// `spec.cancel`: the Job and its pods are read, the Job deleted in the background, the
    /// status patched `canceled`, a `Canceled` event.
    Cancel(SpeechBatch),
    /// Deletion, first pass: the Job is deleted (foreground) and the finalizer kept.
    DeletionDeletesJob(SpeechBatch),
    /// Deletion, second pass: the Job is gone, the finalizer removed.
    DeletionRemovesFinalizer(SpeechBatch),
    /// A final status: no request at all.
    Nothing,
}

impl ApiServerVerifier {
    /// The next request, checked to be `method` on `path`: its body, its query string, and the
    /// request to answer.
    async fn expect(&mut self, method: Method, path: &str) -> (Value, String, ApiRequest) {
        let what = format!("{method} {path}");
        let request = tokio::time::timeout(Duration::from_secs(10), self.0.expect(method, path))
            .await
            .unwrap_or_else(|_| panic!("no request came; expected {what}"));
        (request.body.clone(), request.query.clone(), request)
    }

    async fn events(&mut self, reasons: &[&str]) {
        for reason in reasons {
            let (event, _, send) = self.expect(Method::POST, EVENTS).await;
            assert_eq!(event["reason"], *reason, "{event}");
            let text = event.to_string();
            assert!(
                !text.contains("SECRET-") && !text.contains("AKID-"),
                "credentials in an event: {text}"
            );
            send.reply(201, &event);
        }
    }

    async fn get_job(&mut self, b: &SpeechBatch, job: Option<Value>) {
        let (_, _, send) = self
            .expect(Method::GET, &format!("{JOBS}/{}", b.name_any()))
            .await;
        match job {
            Some(j) => send.reply(200, &j),
            None => send.not_found(),
        }
    }

    /// Runs the scenario; the handle comes back for the final "no more requests" check.
    pub fn run(mut self, scenario: Scenario) -> tokio::task::JoinHandle<Self> {
        tokio::spawn(async move {
            match scenario {
                Scenario::FinalizerCreation(b) => {
                    let (patch, _, send) = self
                        .expect(Method::PATCH, &format!("{BATCHES}/{}", b.name_any()))
                        .await;
                    assert_eq!(
                        patch[1],
                        json!({"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]})
                    );
                    let mut done = b.clone();
                    done.metadata.finalizers = Some(vec![FINALIZER.into()]);
                    send.reply(200, &serde_json::to_value(done).unwrap());
                }
                Scenario::ScanThenCreateJob {
                    batch: b,
                    secret,
                    total,
                } => {
                    let (_, _, send) = self
                        .expect(
                            Method::GET,
                            "/api/v1/namespaces/default/secrets/meeting-audio-credentials",
                        )
                        .await;
                    send.reply(200, &secret);
                    let (patch, uri, send) = self
                        .expect(Method::PATCH, &format!("{BATCHES}/{}/status", b.name_any()))
                        .await;
                    assert!(
                        uri.contains("fieldManager=speechbatch-operator")
                            && uri.contains("force=true"),
                        "{uri}"
                    );
                    assert_eq!(patch["kind"], "SpeechBatch");
                    assert_eq!(patch["status"]["status"], "waiting");
                    assert_eq!(patch["status"]["totalCount"], total);
                    assert_eq!(patch["status"]["plan"]["total"], total);
                    assert_eq!(patch["status"]["observedGeneration"], 1);
                    assert!(
                        !patch.to_string().contains("SECRET-"),
                        "credentials in the status"
                    );
                    send.reply(200, &with_status(&b, &patch));
                    let (job, _, send) = self.expect(Method::POST, JOBS).await;
                    assert_eq!(job["metadata"]["name"], b.name_any());
                    assert_eq!(job["spec"]["completionMode"], "Indexed");
                    assert!(
                        !job.to_string().contains("SECRET-"),
                        "credentials in the Job"
                    );
                    send.reply(201, &job);
                    self.events(&["Scanned", "JobCreated"]).await;
                }
                Scenario::ScanFails {
                    batch: b,
                    secret,
                    message_contains,
                } => {
                    let (_, _, send) = self
                        .expect(
                            Method::GET,
                            "/api/v1/namespaces/default/secrets/meeting-audio-credentials",
                        )
                        .await;
                    send.reply(200, &secret);
                    let (patch, _, send) = self
                        .expect(Method::PATCH, &format!("{BATCHES}/{}/status", b.name_any()))
                        .await;
                    assert_eq!(patch["status"]["status"], "failed", "{patch}");
                    let message = patch["status"]["errorMessage"].as_str().unwrap();
                    assert!(message.contains(message_contains), "{message}");
                    assert!(!message.contains("SECRET-"));
                    send.reply(200, &with_status(&b, &patch));
                    self.events(&["Failed"]).await;
                }
                Scenario::RecreateMissingJob(b) => {
                    self.get_job(&b, None).await;
                    let (job, _, send) = self.expect(Method::POST, JOBS).await;
                    assert_eq!(job["spec"]["completions"], 3);
                    send.reply(201, &job);
                    self.events(&["JobCreated"]).await;
                }
                Scenario::Cancel(b) => {
                    self.get_job(&b, Some(owned_job(&b, false))).await;
                    let (_, uri, send) = self
                        .expect(Method::GET, "/api/v1/namespaces/default/pods")
                        .await;
                    assert!(
                        uri.contains("labelSelector=batch.kubernetes.io%2Fjob-name%3D"),
                        "{uri}"
                    );
                    send.reply(200, &json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": []}));
                    let (opts, _, send) = self
                        .expect(Method::DELETE, &format!("{JOBS}/{}", b.name_any()))
                        .await;
                    assert_eq!(opts["propagationPolicy"], "Background");
                    send.reply(200, &owned_job(&b, true));
                    let (patch, _, send) = self
                        .expect(Method::PATCH, &format!("{BATCHES}/{}/status", b.name_any()))
                        .await;
                    assert_eq!(patch["status"]["status"], "canceled");
                    send.reply(200, &with_status(&b, &patch));
                    self.events(&["Canceled"]).await;
                }
                Scenario::DeletionDeletesJob(b) => {
                    self.get_job(&b, Some(owned_job(&b, false))).await;
                    let (opts, _, send) = self
                        .expect(Method::DELETE, &format!("{JOBS}/{}", b.name_any()))
                        .await;
                    assert_eq!(opts["propagationPolicy"], "Foreground");
                    send.reply(200, &owned_job(&b, true));
                }
                Scenario::DeletionRemovesFinalizer(b) => {
                    self.get_job(&b, None).await;
                    let (patch, _, send) = self
                        .expect(Method::PATCH, &format!("{BATCHES}/{}", b.name_any()))
                        .await;
                    assert_eq!(
                        patch[1],
                        json!({"op": "remove", "path": "/metadata/finalizers/0"})
                    );
                    let mut done = b.clone();
                    done.metadata.finalizers = None;
                    send.reply(200, &serde_json::to_value(done).unwrap());
                }
                Scenario::Nothing => {}
            }
            self
        })
    }
}

/// The batch as the API server returns it after a status apply.
fn with_status(b: &SpeechBatch, patch: &Value) -> Value {
    let mut v = serde_json::to_value(b).unwrap();
    v["status"] = patch["status"].clone();
    v
}

fn owned_job(b: &SpeechBatch, deleting: bool) -> Value {
    let mut job = Job::default();
    job.metadata.name = Some(b.name_any());
    job.metadata.namespace = Some("default".into());
    job.metadata.owner_references = b.controller_owner_ref(&()).map(|o| vec![o]);
    let mut v = serde_json::to_value(job).unwrap();
    v["apiVersion"] = json!("batch/v1");
    v["kind"] = json!("Job");
    v["spec"] = json!({"template": {}, "suspend": false});
    v["status"] = json!({"active": 2});
    if deleting {
        v["metadata"]["deletionTimestamp"] = json!("2026-11-26T10:00:00Z");
    }
    v
}

/// A scanner that answers without a bucket, for scenarios that are not about scanning.
struct FixedScan(ScanOutcome);

impl Scanner for FixedScan {
    fn scan<'a>(&'a self, _: &'a Client, _: &'a SpeechBatch) -> BoxFuture<'a, ScanOutcome> {
        Box::pin(async move { self.0.clone() })
    }
}

fn context(scanner: Arc<dyn Scanner>) -> (Arc<Context>, ApiServerVerifier) {
    let (client, server) = mock_client("default");
    let ctx = Context::new(
        client,
        policy(),
        scanner,
        Arc::new(Metrics::default()),
        None,
        Duration::from_secs(60),
    );
    (Arc::new(ctx), ApiServerVerifier(server))
}

fn no_scan() -> Arc<dyn Scanner> {
    Arc::new(FixedScan(ScanOutcome::Failed {
        permanent: true,
        message: "no scan expected".into(),
    }))
}

/// Runs one reconcile against a scenario and checks that no other request was made.
async fn reconcile_with(
    ctx: Arc<Context>,
    verifier: ApiServerVerifier,
    b: SpeechBatch,
    scenario: Scenario,
) -> Result<Action, Error> {
    let mocksrv = verifier.run(scenario);
    let result = reconcile(Arc::new(b), ctx.clone()).await;
    let mut verifier = match tokio::time::timeout(Duration::from_secs(10), mocksrv).await {
        Ok(v) => v.expect("scenario passed"),
        Err(_) => panic!("the scenario did not finish; reconcile returned {result:?}"),
    };
    drop(ctx);
    // Every client clone is gone with the context: the handle ends unless a request is queued.
    if let Ok(Some(req)) = tokio::time::timeout(Duration::from_secs(2), verifier.0.try_next()).await
    {
        panic!("unexpected request {} {}", req.method, req.path);
    }
    result
}

fn with_finalizer(mut b: SpeechBatch) -> SpeechBatch {
    b.metadata.finalizers = Some(vec![FINALIZER.into()]);
    b
}

/// A batch as it is after a successful scan: status `waiting` with a 3-shard plan.
fn planned_batch() -> SpeechBatch {
    let b = with_finalizer(batch());
    let mut planner = speechbatch_storage::ShardPlanner::new(3);
    for k in ["a.wav", "b.wav", "c.wav", "d.wav"] {
        planner.push(k);
    }
    let d = crate::decide::decide(
        &crate::decide::Observed {
            batch: &b,
            scan: Some(ScanOutcome::Planned(planner.finish())),
            job: None,
            pods: vec![],
            analytics: None,
            analytics_pods: vec![],
            now: crds::Timestamp::now(),
        },
        &policy(),
    );
    SpeechBatch {
        status: Some(d.status),
        ..b
    }
}

/// An embedded S3 server with bucket `meeting-audio` holding `files` inputs (and an output,
/// which is not counted), and the Secret naming it.
async fn bucket(dir: &std::path::Path, files: usize, secret_key: &str) -> (EmbeddedS3, Value) {
    let root = dir.join("s3");
    std::fs::create_dir_all(root.join("meeting-audio/2026")).unwrap();
    for i in 0..files {
        std::fs::write(
            root.join(format!("meeting-audio/2026/call-{i:03}.wav")),
            b"RIFF....",
        )
        .unwrap();
    }
    std::fs::write(root.join("meeting-audio/2026/call-000.wav.json"), b"{}").unwrap();
    let s3 = EmbeddedS3::start(
        root,
        "127.0.0.1:0".parse().unwrap(),
        Some(("AKID-OPERATOR", "SECRET-OPERATOR")),
    )
    .await
    .unwrap();
    let creds = json!({"end_point": s3.endpoint(), "access_key": "AKID-OPERATOR", "secret_key": secret_key});
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "meeting-audio-credentials", "namespace": "default"},
        "data": {"credentials.json": k8s_openapi::ByteString(serde_json::to_vec(&creds).unwrap())},
    });
    (s3, secret)
}

fn scanner() -> Arc<dyn Scanner> {
    let storage = StorageConfig {
        max_attempts: 1,
        connect_timeout: Duration::from_secs(2),
        ..StorageConfig::default()
    };
    BucketScanner::new(64, storage)
}

#[tokio::test]
async fn a_new_speechbatch_gets_the_finalizer_first() {
    let (ctx, verifier) = context(no_scan());
    let b = batch();
    let action = reconcile_with(ctx, verifier, b.clone(), Scenario::FinalizerCreation(b))
        .await
        .unwrap();
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn a_new_speechbatch_is_scanned_from_its_bucket_then_its_job_created_and_status_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let (_s3, secret) = bucket(dir.path(), 7, "SECRET-OPERATOR").await;
    let (ctx, verifier) = context(scanner());
    let b = with_finalizer(batch());
    let scenario = Scenario::ScanThenCreateJob {
        batch: b.clone(),
        secret,
        total: 7,
    };
    let action = reconcile_with(ctx, verifier, b, scenario).await.unwrap();
    assert_eq!(action, Action::requeue(Duration::from_secs(60)));
}

#[tokio::test]
async fn a_speechbatch_with_a_wrong_secret_key_fails_saying_the_credentials_were_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (_s3, secret) = bucket(dir.path(), 2, "SECRET-WRONG").await;
    let (ctx, verifier) = context(scanner());
    let b = with_finalizer(batch());
    let scenario = Scenario::ScanFails {
        batch: b.clone(),
        secret,
        message_contains: "meeting-audio",
    };
    let action = reconcile_with(ctx, verifier, b, scenario).await.unwrap();
    assert_eq!(action, Action::await_change());
}

/// A scanner reaching buckets as an operator with these flags does (one attempt, short
/// timeouts, as [`scanner`]).
fn scanner_with_flags(flags: &[&str]) -> Arc<dyn Scanner> {
    use clap::Parser as _;
    let config = crate::Config::try_parse_from(
        std::iter::once("speechbatch-operator").chain(flags.iter().copied()),
    )
    .unwrap();
    let storage = StorageConfig {
        max_attempts: 1,
        connect_timeout: Duration::from_secs(2),
        ..config.storage_config()
    };
    BucketScanner::new(64, storage)
}

#[tokio::test]
async fn a_scan_follows_the_end_point_policy_of_the_operators_flags() {
    let dir = tempfile::tempdir().unwrap();
    let (s3, secret) = bucket(dir.path(), 3, "SECRET-OPERATOR").await;
    // A loopback end point, refused with private addresses denied: the batch fails for good,
    // saying how an operator allows it.
    let (ctx, verifier) = context(scanner_with_flags(&["--endpoint-deny-private"]));
    let b = with_finalizer(batch());
    let scenario = Scenario::ScanFails {
        batch: b.clone(),
        secret: secret.clone(),
        message_contains: "--endpoint-allow",
    };
    let action = reconcile_with(ctx, verifier, b, scenario).await.unwrap();
    assert_eq!(action, Action::await_change());
    // Allowed by entry: scanned and planned.
    let entry = s3.addr().to_string();
    let (ctx, verifier) = context(scanner_with_flags(&[
        "--endpoint-deny-private",
        "--endpoint-allow",
        &entry,
    ]));
    let b = with_finalizer(batch());
    let scenario = Scenario::ScanThenCreateJob {
        batch: b.clone(),
        secret,
        total: 3,
    };
    reconcile_with(ctx, verifier, b, scenario).await.unwrap();
}

#[tokio::test]
async fn a_planned_speechbatch_whose_job_is_missing_gets_it_created() {
    let (ctx, verifier) = context(no_scan());
    let b = planned_batch();
    assert_eq!(
        b.status.as_ref().unwrap().status,
        Some(crds::BatchStatus::Waiting)
    );
    reconcile_with(ctx, verifier, b.clone(), Scenario::RecreateMissingJob(b))
        .await
        .unwrap();
}

#[tokio::test]
async fn spec_cancel_deletes_the_job_and_patches_status_canceled() {
    let (ctx, verifier) = context(no_scan());
    let mut b = planned_batch();
    b.spec.cancel = true;
    let action = reconcile_with(ctx, verifier, b.clone(), Scenario::Cancel(b))
        .await
        .unwrap();
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn deletion_deletes_the_job_then_removes_the_finalizer_once_it_is_gone() {
    let mut b = planned_batch();
    b.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::now(),
    ));
    let (ctx, verifier) = context(no_scan());
    let err = reconcile_with(
        ctx,
        verifier,
        b.clone(),
        Scenario::DeletionDeletesJob(b.clone()),
    )
    .await
    .unwrap_err();
    assert_eq!(err.metric_label(), "waiting", "{err}");
    let (ctx, _verifier) = context(no_scan());
    assert_eq!(
        error_policy(Arc::new(b.clone()), &err, ctx),
        Action::requeue(Duration::from_secs(2))
    );
    let (ctx, verifier) = context(no_scan());
    let action = reconcile_with(
        ctx,
        verifier,
        b.clone(),
        Scenario::DeletionRemovesFinalizer(b),
    )
    .await
    .unwrap();
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn a_finished_speechbatch_makes_no_request_at_all() {
    let (ctx, verifier) = context(no_scan());
    let mut b = planned_batch();
    let status = b.status.as_mut().unwrap();
    status.status = Some(crds::BatchStatus::Completed);
    let action = reconcile_with(ctx, verifier, b, Scenario::Nothing)
        .await
        .unwrap();
    assert_eq!(action, Action::await_change());
}
