//! End to end on Kubernetes, as close as this machine allows: REST → SpeechBatch → operator →
//! Indexed Job → `speechbatch-shard` processes → S3 outputs → status, with the real
//! `speechbatch --backend kubernetes`, the real operator and the real shard worker.
//!
//! The cluster is kube-sim: a real apiextensions-apiserver on etcd stores the SpeechBatch
//! resources, and stand-in CRDs behind a path-mapping proxy store Secrets, Pods and Jobs; a test
//! Job controller and kubelet run one `speechbatch-shard` process per pod, and a test garbage
//! collector follows owner references (see kube-sim/src/lib.rs for what is and is not real).

mod common;

use std::time::Duration;

use common::cluster::{MODEL_STORE_BUCKET, NAMESPACE, OPERATOR_IDENTITY};
use common::*;
use crds::resource::SpeechBatch;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::api::events::v1::Event;
use kube::api::{ListParams, PostParams};
use kube::{Api, ResourceExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(600);

/// The order statuses may be seen in, for a job that is not canceled.
fn in_lifecycle_order(seen: &[String]) -> bool {
    let rank = |s: &str| {
        ["initializing", "waiting", "running", "completed", "failed"]
            .iter()
            .position(|x| *x == s)
            .unwrap_or(usize::MAX)
    };
    seen.windows(2).all(|w| rank(&w[0]) < rank(&w[1]))
}

fn as_u64(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_run_as_shard_jobs_from_rest_and_from_kubectl_apply() {
    let svc = Service::start(Opts {
        backend: Backend::Kubernetes,
        max_shards: 3,
        workers: 2,
        ..Default::default()
    })
    .await;
    let stack = svc.kube.as_ref().unwrap();
    let client = stack.client().await;
    let s3 = svc.embedded_s3();

    // --- A batch over REST: 5 clips in nested folders and 2 bad files, 3 shards, 2 at a time.
    let mut inputs: Vec<(String, Vec<u8>)> = short_clips()
        .into_iter()
        .take(5)
        .enumerate()
        .map(|(i, (name, bytes))| (format!("calls/day{}/{name}.flac", i % 2), bytes))
        .collect();
    for bad in ["empty.wav", "truncated.flac"] {
        inputs.push((
            format!("calls/bad/{bad}"),
            read_testdata(&format!("bad/{bad}")),
        ));
    }
    s3.fill("e2e-in", inputs.clone()).await;
    let before = s3.input_hashes("e2e-in").await;
    let job = svc
        .create(
            "function=recognize&model=en-US_BroadbandModel&timestamps=true",
            form(&s3.creds_file(), "e2e-in", None),
        )
        .await;
    let id = job["batch_id"].as_str().unwrap().to_string();
    let (job, seen) = svc.wait_final(&id, TIMEOUT).await;
    assert_eq!(
        job["status"],
        "completed",
        "{job}\n{}",
        tail(&svc.log(), 80)
    );
    assert!(in_lifecycle_order(&seen), "statuses out of order: {seen:?}");
    assert!(
        seen.iter().any(|s| s == "running"),
        "never seen running: {seen:?}"
    );
    assert_eq!(as_u64(&job["total_count"]), 7, "{job}");
    assert_eq!(as_u64(&job["successful_count"]), 5, "{job}");
    assert_eq!(as_u64(&job["failed_count"]), 2, "{job}");
    assert_eq!(job["progress"].as_f64(), Some(1.0), "{job}");
    assert!(job["finished"].is_string(), "{job}");
    check_job(&job);

    // Every input has its output beside it, tagged with the batch; inputs are unchanged.
    assert_eq!(s3.outputs_of("e2e-in", &id).await, (5, 2));
    for (key, _) in &inputs {
        let out = if key.contains("/bad/") {
            format!("{key}.notice")
        } else {
            format!("{key}.json")
        };
        let body: Value = serde_json::from_slice(&s3.read("e2e-in", &out).await).unwrap();
        if key.contains("/bad/") {
            assert_eq!(body["code"], 400, "{out}: {body}");
        } else {
            let words = body["results"][0]["alternatives"][0]["timestamps"].as_array();
            assert!(words.is_some_and(|w| !w.is_empty()), "{out}: {body}");
        }
    }
    assert_eq!(s3.input_hashes("e2e-in").await, before, "an input changed");

    // The resources behind it.
    let batches: Api<SpeechBatch> = Api::namespaced(client.clone(), NAMESPACE);
    let jobs: Api<Job> = Api::namespaced(client.clone(), NAMESPACE);
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
    let batch = batches.get(&id).await.unwrap();
    let uid = batch.uid().unwrap();
    let status = batch.status.clone().unwrap();
    assert_eq!(status.observed_generation, batch.metadata.generation);
    let shards = status.plan.as_ref().unwrap().bounds.len();
    assert!((2..=3).contains(&shards), "{shards} shards for 7 files");
    let spec_text = serde_json::to_string(&batch.spec).unwrap();
    assert!(
        !spec_text.contains(TEST_SECRET_KEY) && !spec_text.contains(TEST_ACCESS_KEY),
        "credentials in the spec: {spec_text}"
    );
    let job_name = status.job_name.clone().unwrap();
    let k8s_job = jobs.get(&job_name).await.unwrap();
    let owner = &k8s_job.owner_references()[0];
    assert_eq!(
        (owner.uid.as_str(), owner.controller),
        (uid.as_str(), Some(true))
    );
    let spec = k8s_job.spec.clone().unwrap();
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!(spec.completions, Some(shards as i32));
    assert_eq!(spec.parallelism, Some(2));
    let job_text = serde_json::to_string(&k8s_job).unwrap();
    assert!(!job_text.contains(TEST_SECRET_KEY), "a secret in the Job");
    let done = pods
        .list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job_name}")))
        .await
        .unwrap();
    let succeeded = done
        .items
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded"))
        .count();
    assert_eq!(succeeded, shards, "one succeeded pod per shard");
    let owned: Vec<Secret> = secrets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|s| s.owner_references().iter().any(|o| o.uid == uid))
        .collect();
    assert_eq!(owned.len(), 1, "one credentials Secret owned by the batch");

    // Events for the batch, by the operator; the Lease is the operator's.
    let events: Api<Event> = Api::namespaced(client.clone(), NAMESPACE);
    let mine: Vec<Event> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.uid.as_deref()) == Some(uid.as_str()))
        .collect();
    assert!(!mine.is_empty(), "no Event about the batch");
    for e in &mine {
        let text = serde_json::to_string(e).unwrap();
        assert!(!text.contains(TEST_SECRET_KEY), "a secret in an Event");
    }
    let leases: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
    let lease = leases.get("speechbatch-operator").await.unwrap();
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity).as_deref(),
        Some(OPERATOR_IDENTITY)
    );

    // --- Delete: the record goes after the operator's finalizer; the Job, its pods and the
    // Secret follow by owner reference; the outputs stay.
    svc.delete(&id).await;
    wait_until("the batch's objects are gone", || async {
        batches.get_opt(&id).await.unwrap().is_none()
            && jobs.get_opt(&job_name).await.unwrap().is_none()
            && secrets
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .iter()
                .all(|s| s.owner_references().iter().all(|o| o.uid != uid))
    })
    .await;
    assert_eq!(
        s3.outputs_of("e2e-in", &id).await,
        (5, 2),
        "outputs deleted"
    );

    // --- Cancel while running: no new file starts, the Job goes, counts stop short. Shards
    // report their counts when they end, so "running" plus a first output in the bucket is what
    // shows that work is under way; 60 files make 3 shards of about 8 s each.
    let many = copies_of_clips("long", 4);
    let total = many.len() as u64;
    s3.fill("e2e-cancel", many).await;
    let cid = start_batch(&svc, &s3, "e2e-cancel", 1).await;
    assert_eq!(svc.get(&cid).await["status"], "running");
    let canceled = svc.cancel(&cid).await;
    assert_eq!(canceled["status"], "canceled", "{canceled}");
    let (job, _) = svc.wait_final(&cid, TIMEOUT).await;
    assert_eq!(job["status"], "canceled", "{job}");
    let cancel_job = job_of(&batches, &cid).await;
    wait_until("the canceled batch's Job is gone", || async {
        jobs.get_opt(&cancel_job).await.unwrap().is_none()
    })
    .await;
    // Shard processes stop after their file in flight: the outputs stop growing short of all.
    let settled = wait_until_stable(|| async {
        let (j, n) = s3.outputs_of("e2e-cancel", &cid).await;
        j + n
    })
    .await;
    assert!(settled < total, "all {total} files ran after cancel");
    let after = svc.get(&cid).await;
    assert_eq!(after["status"], "canceled", "{after}");

    // --- Delete while running: 404 at once; the finalizer holds the record until the Job and
    // its pods are gone; shard processes stop; the outputs written so far stay.
    s3.fill("e2e-delete", copies_of_clips("del", 4)).await;
    let did = start_batch(&svc, &s3, "e2e-delete", 1).await;
    let delete_job = job_of(&batches, &did).await;
    svc.delete(&did).await;
    wait_until(
        "the deleted running batch, its Job and pods are gone",
        || async {
            batches.get_opt(&did).await.unwrap().is_none()
                && jobs.get_opt(&delete_job).await.unwrap().is_none()
                && pods
                    .list(
                        &ListParams::default()
                            .labels(&format!("batch.kubernetes.io/job-name={delete_job}")),
                    )
                    .await
                    .unwrap()
                    .items
                    .is_empty()
        },
    )
    .await;
    let written = wait_until_stable(|| async {
        let (j, n) = s3.outputs_of("e2e-delete", &did).await;
        j + n
    })
    .await;
    assert!((1..60).contains(&written), "{written} outputs after delete");

    // --- Bad credentials: the batch fails with a message that says what to fix; no Job.
    let wrong = hmac_file(&s3.endpoint, &s3.access_key, "not-the-secret-key");
    let job = svc
        .create("function=recognize", form(&wrong, "e2e-in", None))
        .await;
    let fid = job["batch_id"].as_str().unwrap().to_string();
    let (job, _) = svc.wait_final(&fid, TIMEOUT).await;
    assert_eq!(job["status"], "failed", "{job}");
    let message = job["error_message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        message.contains("credential") || message.contains("access") || message.contains("secret"),
        "unhelpful error_message: {job}"
    );
    assert!(
        !message.contains("not-the-secret-key"),
        "the secret in the message"
    );
    let fail_jobs = jobs
        .list(&ListParams::default().labels(&format!("speechbatch.io/batch={fid}")))
        .await
        .unwrap();
    assert!(fail_jobs.items.is_empty(), "a Job for a failed scan");

    // --- A shard pod killed mid-run (an OOM kill, a lost node) is retried: its index runs
    // again, skips the files it already finished, and the counts come out exact.
    let thirty = copies_of_clips("retry", 2);
    s3.fill("e2e-retry", thirty).await;
    let rid = start_batch(&svc, &s3, "e2e-retry", 2).await;
    let retry_job = job_of(&batches, &rid).await;
    let victim = pods
        .list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={retry_job}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .expect("a running shard pod");
    let index = victim.annotations()["batch.kubernetes.io/job-completion-index"].clone();
    assert!(stack
        .cluster
        .kill_pod_process(NAMESPACE, &victim.name_any()));
    let (job, _) = svc.wait_final(&rid, TIMEOUT).await;
    assert_eq!(
        job["status"],
        "completed",
        "{job}\n{}",
        tail(&svc.log(), 60)
    );
    assert_eq!(
        (
            as_u64(&job["total_count"]),
            as_u64(&job["successful_count"]),
            as_u64(&job["failed_count"])
        ),
        (30, 30, 0),
        "{job}"
    );
    assert_eq!(s3.outputs_of("e2e-retry", &rid).await, (30, 0));
    let attempts: Vec<String> = pods
        .list(&ListParams::default().labels(&format!(
            "batch.kubernetes.io/job-name={retry_job},batch.kubernetes.io/job-completion-index={index}"
        )))
        .await
        .unwrap()
        .items
        .iter()
        .map(|p| p.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default())
        .collect();
    assert_eq!(attempts.len(), 2, "index {index} ran twice: {attempts:?}");
    assert!(attempts.contains(&"Failed".to_string()), "{attempts:?}");

    // --- Credentials revoked mid-batch: the next shard exits with the permanent-error code,
    // the Job's podFailurePolicy fails it at once (no retries), and the batch fails saying why.
    let rotating: Secret = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "rotating-cos"},
        "stringData": {"credentials.json": String::from_utf8(s3.creds_file()).unwrap()},
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &rotating)
        .await
        .unwrap();
    s3.fill("e2e-revoked", copies_of_clips("revoked", 2)).await;
    let manifest = format!(
        "apiVersion: speechbatch.io/v1alpha1\nkind: SpeechBatch\nmetadata:\n  name: revoked\nspec:\n  input:\n    name: e2e-revoked\n    location: {LOCATION}\n    credentialsSecret:\n      name: rotating-cos\n  parallelism: 1\n"
    );
    batches
        .create(
            &PostParams::default(),
            &serde_yaml::from_str(&manifest).unwrap(),
        )
        .await
        .unwrap();
    wait_until(
        "a first output of the batch whose credentials are revoked",
        || async { s3.outputs_of("e2e-revoked", "revoked").await.0 >= 1 },
    )
    .await;
    let revoked = hmac_file(&s3.endpoint, &s3.access_key, "revoked-secret-key");
    let patch = serde_json::json!({"stringData": {"credentials.json": String::from_utf8(revoked).unwrap()}, "kind": "Secret"});
    secrets
        .patch(
            "rotating-cos",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();
    let (job, _) = svc.wait_final("revoked", TIMEOUT).await;
    assert_eq!(job["status"], "failed", "{job}\n{}", tail(&svc.log(), 60));
    let message = job["error_message"].as_str().unwrap_or_default();
    assert!(
        message.contains("secret_key"),
        "unhelpful error_message: {job}"
    );
    assert!(
        !message.contains("revoked-secret-key"),
        "the secret in the message"
    );
    let revoked_job = job_of(&batches, "revoked").await;
    let failed_pods = pods
        .list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={revoked_job}")))
        .await
        .unwrap()
        .items
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed"))
        .count();
    assert_eq!(failed_pods, 1, "a permanent error is not retried");

    // --- GitOps: a Secret and a SpeechBatch applied without the REST API (as in
    // examples/speechbatch.yaml) run the same way.
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "gitops-cos"},
        "type": "Opaque",
        "stringData": {"credentials.json": String::from_utf8(s3.creds_file()).unwrap()},
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    s3.fill(
        "e2e-gitops",
        short_clips()
            .into_iter()
            .take(2)
            .map(|(n, b)| (format!("{n}.flac"), b))
            .collect(),
    )
    .await;
    let manifest = format!(
        "apiVersion: speechbatch.io/v1alpha1\nkind: SpeechBatch\nmetadata:\n  name: nightly-calls\nspec:\n  input:\n    name: e2e-gitops\n    location: {LOCATION}\n    credentialsSecret:\n      name: gitops-cos\n  recognition:\n    model: en-US_BroadbandModel\n    smartFormatting: true\n"
    );
    let applied: SpeechBatch = serde_yaml::from_str(&manifest).unwrap();
    batches
        .create(&PostParams::default(), &applied)
        .await
        .unwrap();
    let (job, _) = svc.wait_final("nightly-calls", TIMEOUT).await;
    assert_eq!(
        job["status"],
        "completed",
        "{job}\n{}",
        tail(&svc.log(), 60)
    );
    assert_eq!(as_u64(&job["successful_count"]), 2, "{job}");
    assert_eq!(s3.outputs_of("e2e-gitops", "nightly-calls").await, (2, 0));
    assert!(
        svc.list()
            .await
            .iter()
            .any(|j| j["batch_id"] == "nightly-calls"),
        "the applied batch is not in the REST list"
    );

    // No secret in any log line: the service's, the operator's and every shard's.
    let log = svc.log();
    for secret in [TEST_SECRET_KEY, "not-the-secret-key", "revoked-secret-key"] {
        assert!(!log.contains(secret), "a secret in a log line");
    }
}

/// With a Kueue queue the operator creates each Job suspended and labelled for the queue: the
/// batch is `waiting` while Kueue holds the Job, then runs once it is admitted (the test admits it
/// the way Kueue does, by setting `suspend: false`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_waits_until_kueue_admits_its_job() {
    let svc = Service::start(Opts {
        backend: Backend::Kubernetes,
        kueue_queue: Some("asr-queue".into()),
        max_shards: 2,
        workers: 2,
        ..Default::default()
    })
    .await;
    let client = svc.kube.as_ref().unwrap().client().await;
    let s3 = svc.embedded_s3();
    s3.fill(
        "kueue-in",
        copies_of_clips("q", 1).into_iter().take(4).collect(),
    )
    .await;
    let job = svc
        .create(
            "function=recognize",
            form(&s3.creds_file(), "kueue-in", None),
        )
        .await;
    let id = job["batch_id"].as_str().unwrap().to_string();
    svc.wait_for(&id, TIMEOUT, |j| j["status"] == "waiting")
        .await;

    let jobs: Api<Job> = Api::namespaced(client.clone(), NAMESPACE);
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    // The status says waiting as soon as the plan is recorded; the Job follows.
    let selector = ListParams::default().labels(&format!("speechbatch.io/batch={id}"));
    wait_until("the batch's Job", || async {
        !jobs.list(&selector).await.unwrap().items.is_empty()
    })
    .await;
    let held = jobs.list(&selector).await.unwrap().items.remove(0);
    let name = held.name_any();
    assert_eq!(held.spec.as_ref().unwrap().suspend, Some(true));
    assert_eq!(
        held.labels()
            .get("kueue.x-k8s.io/queue-name")
            .map(String::as_str),
        Some("asr-queue")
    );
    // While Kueue holds the Job no pod starts and the batch keeps waiting; the operator and
    // kube-sim's Job controller act within a second when they act at all.
    speechbatch_testkit::assert_stays(
        "no pod runs and the batch waits before admission",
        Duration::from_secs(3),
        async || {
            pods.list(&ListParams::default())
                .await
                .unwrap()
                .items
                .is_empty()
                && svc.get(&id).await["status"] == "waiting"
        },
    )
    .await;

    let admit = serde_json::json!({"spec": {"suspend": false}});
    jobs.patch(
        &name,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&admit),
    )
    .await
    .unwrap();
    let (job, seen) = svc.wait_final(&id, TIMEOUT).await;
    assert_eq!(
        job["status"],
        "completed",
        "{job}\n{}",
        tail(&svc.log(), 60)
    );
    assert!(seen.iter().any(|s| s == "running"), "{seen:?}");
    assert_eq!(as_u64(&job["successful_count"]), 4, "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_model_made_over_rest_lives_in_a_resource_and_teaches_shards_its_words() {
    let svc = Service::start(Opts {
        backend: Backend::Kubernetes,
        max_shards: 1,
        workers: 1,
        ..Default::default()
    })
    .await;
    let stack = svc.kube.as_ref().unwrap();
    let client = stack.client().await;
    let s3 = svc.embedded_s3();
    let models: Api<crds::language_model::LanguageModel> =
        Api::namespaced(client.clone(), NAMESPACE);

    // --- Create, corpus, words: each answer as on the embedded backend.
    let (st, v) = rest(
        &svc,
        Method::POST,
        "/v1/customizations",
        Some(json!({"name": "products", "base_model_name": "en-US_BroadbandModel"})),
        "CustomizationId",
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["customization_id"].as_str().unwrap().to_string();
    let path = |rest: &str| format!("/v1/customizations/{id}{rest}");
    let (_, m) = rest(&svc, Method::GET, &path(""), None, "LanguageModel").await;
    assert_eq!(m["status"], "pending", "{m}");
    assert_eq!(m["base_model_name"], "en-US_BroadbandModel", "{m}");

    let corpus = read_testdata("custom/corpus.txt");
    let r = svc
        .authed(svc.http.post(svc.url(&path("/corpora/catalog"))))
        .header("content-type", "text/plain")
        .body(corpus.clone())
        .send()
        .await
        .unwrap();
    let (st, v) = checked_as(r, "Empty").await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let analysed = wait_for_value("the corpus is analysed", async || {
        let (_, c) = rest(&svc, Method::GET, &path("/corpora/catalog"), None, "Corpus").await;
        (c["status"] != "being_processed").then_some(c)
    })
    .await;
    assert_eq!(analysed["status"], "analyzed", "{analysed}");
    assert!(
        as_u64(&analysed["out_of_vocabulary_words"]) > 0,
        "{analysed}"
    );

    // The corpus is in the model store; the resource only refers to it.
    let lm = models.get(&id).await.unwrap();
    let reference = &lm.spec.corpora[0];
    assert_eq!(s3.read(MODEL_STORE_BUCKET, &reference.object).await, corpus);
    let resource = serde_json::to_string(&lm).unwrap();
    let first_line = String::from_utf8_lossy(&corpus)
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert!(
        !resource.contains(&first_line),
        "corpus text in etcd: {resource}"
    );

    let words: Value = serde_json::from_slice(&read_testdata("custom/words.json")).unwrap();
    let (st, v) = rest(
        &svc,
        Method::POST,
        &path("/words"),
        Some(words.clone()),
        "Empty",
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let user_words = words["words"].as_array().unwrap().len();
    let (_, listed) = rest(
        &svc,
        Method::GET,
        &path("/words?word_type=user"),
        None,
        "Words",
    )
    .await;
    assert_eq!(
        listed["words"].as_array().unwrap().len(),
        user_words,
        "{listed}"
    );
    // The words are in the spec, as a model applied with kubectl has them.
    assert_eq!(models.get(&id).await.unwrap().spec.words.len(), user_words);

    // A word only the corpus gave, deleted: gone from the model, kept out of the corpus's list.
    let (_, corpora_words) = rest(
        &svc,
        Method::GET,
        &path("/words?word_type=corpora"),
        None,
        "Words",
    )
    .await;
    let only_corpus = corpora_words["words"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["source"] == json!(["catalog"]))
        .expect("a word only the corpus has")["word"]
        .as_str()
        .unwrap()
        .to_string();
    let word_path = path(&format!("/words/{only_corpus}"));
    let (st, v) = rest(&svc, Method::DELETE, &word_path, None, "Empty").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, _) = rest(&svc, Method::GET, &word_path, None, "Word").await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // --- Train: `training` at once, a second request refused, then `available`.
    let (st, v) = rest(&svc, Method::POST, &path("/train"), None, "Empty").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, m) = rest(&svc, Method::GET, &path(""), None, "LanguageModel").await;
    assert_eq!(m["status"], "training", "{m}");
    let (st, v) = rest(&svc, Method::POST, &path("/train"), None, "Empty").await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    let m = wait_for_value("the model is trained", async || {
        let (_, m) = rest(&svc, Method::GET, &path(""), None, "LanguageModel").await;
        matches!(m["status"].as_str(), Some("available" | "failed")).then_some(m)
    })
    .await;
    assert_eq!(
        m["status"],
        "available",
        "{m}\n{}",
        tail(&stack.operator_log(), 40)
    );
    let (_, list) = rest(
        &svc,
        Method::GET,
        "/v1/customizations",
        None,
        "LanguageModels",
    )
    .await;
    assert_eq!(list["customizations"][0]["customization_id"], id.as_str());

    // --- A batch naming it, on another base model: refused, naming the problem.
    s3.fill(
        "e2e-custom",
        vec![("dev04.flac".into(), read_testdata("custom/dev04.flac"))],
    )
    .await;
    let (st, v) = svc
        .create_raw(
            &format!(
                "function=recognize&model=en-US_NarrowbandModel&language_customization_id={id}"
            ),
            form(&s3.creds_file(), "e2e-custom", None),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("base model"), "{v}");

    // --- A batch using it: the shard recognises the customer's word.
    let job = svc
        .create(
            &format!("function=recognize&language_customization_id={id}"),
            form(&s3.creds_file(), "e2e-custom", None),
        )
        .await;
    let batch = job["batch_id"].as_str().unwrap().to_string();
    let batches: Api<SpeechBatch> = Api::namespaced(client.clone(), NAMESPACE);
    let frozen = batches
        .get(&batch)
        .await
        .unwrap()
        .spec
        .language_model
        .unwrap();
    assert_eq!(frozen.customization_id, id);
    let copy: Value =
        serde_json::from_slice(&s3.read(MODEL_STORE_BUCKET, &frozen.vocabulary_object).await)
            .unwrap();
    assert_eq!(
        copy["customization_weight"], 0.3,
        "the default weight is frozen in"
    );
    let (job, _) = svc.wait_final(&batch, TIMEOUT).await;
    assert_eq!(
        job["status"],
        "completed",
        "{job}\n{}",
        tail(&svc.log(), 40)
    );
    let out: Value =
        serde_json::from_slice(&s3.read("e2e-custom", "dev04.flac.json").await).unwrap();
    let transcript = out["results"][0]["alternatives"][0]["transcript"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(transcript.contains("Nimbra"), "{transcript}");
    let details = svc.console_json(&format!("batches/{batch}")).await;
    assert_eq!(
        details["language_customization_id"], id,
        "the console names the job's model: {details}"
    );

    // --- Deleted: 404 at once; the operator removes its store objects; the batch keeps its copy.
    let (st, v) = rest(&svc, Method::DELETE, &path(""), None, "Empty").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, _) = rest(&svc, Method::GET, &path(""), None, "LanguageModel").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let prefix = crds::language_model::model_prefix(&id);
    wait_until("the model's store objects are deleted", || async {
        !s3.keys(MODEL_STORE_BUCKET)
            .await
            .iter()
            .any(|k| k.starts_with(&prefix))
    })
    .await;
    assert!(s3
        .keys(MODEL_STORE_BUCKET)
        .await
        .contains(&frozen.vocabulary_object));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_analytics_runs_as_a_final_job_once_every_shard_is_done() {
    let svc = Service::start(Opts {
        backend: Backend::Kubernetes,
        max_shards: 2,
        workers: 2,
        ..Default::default()
    })
    .await;
    let stack = svc.kube.as_ref().unwrap();
    let client = stack.client().await;
    let s3 = svc.embedded_s3();
    let calls = ["dev_call01", "dev_call02", "dev_call05"];
    s3.fill(
        "e2e-analytics",
        calls
            .iter()
            .map(|c| {
                (
                    format!("{c}.flac"),
                    read_testdata(&format!("analytics/{c}.flac")),
                )
            })
            .collect(),
    )
    .await;
    let job = svc
        .create(
            "function=recognize&speech_analytics=true",
            form(&s3.creds_file(), "e2e-analytics", None),
        )
        .await;
    let id = job["batch_id"].as_str().unwrap().to_string();
    let (job, _) = svc.wait_final(&id, TIMEOUT).await;
    assert_eq!(
        job["status"],
        "completed",
        "{job}\n{}",
        tail(&stack.operator_log(), 40)
    );
    assert_eq!(as_u64(&job["successful_count"]), 3, "{job}");
    assert_eq!(as_u64(&job["failed_count"]), 0, "{job}");

    // The analytics ran as its own Job after the shards, and the status says so.
    let batches: Api<SpeechBatch> = Api::namespaced(client.clone(), NAMESPACE);
    let batch = batches.get(&id).await.unwrap();
    let analyzed = batch
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == "Analyzed")
        .cloned()
        .expect("an Analyzed condition");
    assert_eq!(analyzed.status, "True", "{analyzed:?}");
    let jobs: Api<Job> = Api::namespaced(client.clone(), NAMESPACE);
    let analytics_job = crds::BatchId::parse(&id).unwrap().analytics_job_name();
    assert!(jobs.get_opt(&analytics_job).await.unwrap().is_some());

    let mut topics = Vec::new();
    for c in calls {
        let out: Value =
            serde_json::from_slice(&s3.read("e2e-analytics", &format!("{c}.flac.json")).await)
                .unwrap();
        let turns = out["speaker_turn_speech_analytics"].as_array().unwrap();
        assert!(!turns.is_empty(), "{c}: {out}");
        topics.push(out["conversation_speech_analytics"]["topics"][0]["cluster_id"].clone());
    }
    assert_eq!(
        topics[0], topics[1],
        "the pharmacy calls share a topic: {topics:?}"
    );
    assert_ne!(topics[0], topics[2], "the hotel call does not: {topics:?}");
    let keys = s3.keys("e2e-analytics").await;
    for z in ["Conversation.zip", "Speaker.zip"] {
        assert!(keys.contains(&z.to_string()), "{keys:?}");
    }

    // The admin console on this backend: its table is GET /v1/batches, and the job's page has
    // the summary the analytics Job reported and the audio the shards measured.
    let overview = svc.console_json("overview").await;
    assert_eq!(overview["jobs"], serde_json::json!(svc.list().await));
    assert!(
        overview["service"]["audio_hours"].as_f64().unwrap() > 0.0,
        "{overview}"
    );
    let details = svc.console_json(&format!("batches/{id}")).await;
    assert_eq!(details["params"]["speechAnalytics"], true, "{details}");
    let summary = &details["analytics"];
    assert_eq!(summary["files"], 3, "{details}");
    let named: Vec<&str> = summary["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["topic_name"].as_str().unwrap())
        .collect();
    assert_eq!(named.len(), 2, "two topics over three calls: {summary}");
    assert!(
        details["audio_seconds"].as_f64().unwrap() > 30.0,
        "{details}"
    );
}

/// An authenticated request to the service; the status and the body, checked against `schema`
/// (or the error body).
async fn rest(
    svc: &Service,
    method: Method,
    path: &str,
    body: Option<Value>,
    schema: &str,
) -> (StatusCode, Value) {
    let rb = svc.authed(svc.http.request(method, svc.url(path)));
    let rb = match body {
        Some(b) => rb.json(&b),
        None => rb,
    };
    checked_as(rb.send().await.unwrap(), schema).await
}

/// Polls `read` until it gives a value.
async fn wait_for_value(what: &str, read: impl AsyncFnMut() -> Option<Value>) -> Value {
    speechbatch_testkit::wait_for(what.to_string(), Duration::from_secs(120), read).await
}

/// Creates a batch over `bucket` through the REST API and waits until `outputs` of its `.json`
/// outputs exist (shards report counts only when they end: outputs show work under way).
async fn start_batch(svc: &Service, s3: &S3Target, bucket: &str, outputs: u64) -> String {
    let job = svc
        .create("function=recognize", form(&s3.creds_file(), bucket, None))
        .await;
    let id = job["batch_id"].as_str().unwrap().to_string();
    wait_until("the batch's first outputs", || async {
        s3.outputs_of(bucket, &id).await.0 >= outputs
    })
    .await;
    id
}

/// The Job the operator recorded for a batch.
async fn job_of(batches: &Api<SpeechBatch>, id: &str) -> String {
    let status = batches.get(id).await.unwrap().status;
    status
        .and_then(|s| s.job_name)
        .expect("a Job name in the status")
}

/// The 15 asr clips of the test data `copies` times over, under `prefix/<copy>/`.
fn copies_of_clips(prefix: &str, copies: usize) -> Vec<(String, Vec<u8>)> {
    (0..copies)
        .flat_map(|copy| {
            short_clips()
                .into_iter()
                .map(move |(name, bytes)| (format!("{prefix}/{copy}/{name}.flac"), bytes))
        })
        .collect()
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls until the value is the same for 5 s in a row; returns it.
async fn wait_until_stable<F, Fut>(mut read: F) -> u64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u64>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    let mut last = read().await;
    let mut since = std::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = read().await;
        if now != last {
            last = now;
            since = std::time::Instant::now();
        } else if since.elapsed() >= Duration::from_secs(5) {
            return last;
        }
        assert!(std::time::Instant::now() < deadline, "never settled");
    }
}
