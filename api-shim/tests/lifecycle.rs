//! Job lifecycle of the real `speechbatch` binary, against the binary's embedded s3s-fs and
//! against SeaweedFS: status transitions, waiting behind a running job, cancel and delete in every
//! status, outputs beside the inputs or mirrored into a separate bucket, inputs never modified,
//! reruns over buckets holding outputs, request-level failures (credentials, bucket, endpoint,
//! IAM), and malformed files becoming notices.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use serde_json::Value;
use speechbatch_testkit::{assert_stays, wait_until};

const ORDER: [&str; 4] = ["initializing", "waiting", "running", "completed"];

fn id_of(job: &Value) -> String {
    job["batch_id"].as_str().unwrap().to_string()
}

/// The statuses seen follow the lifecycle order, starting at initializing.
fn assert_forward(seen: &[String], what: &str) {
    let idx: Vec<usize> = seen
        .iter()
        .map(|s| {
            ORDER
                .iter()
                .position(|o| o == s)
                .unwrap_or_else(|| panic!("{what}: unexpected {s} in {seen:?}"))
        })
        .collect();
    assert_eq!(idx.first(), Some(&0), "{what}: {seen:?}");
    assert!(
        idx.windows(2).all(|w| w[0] < w[1]),
        "{what}: not forward: {seen:?}"
    );
}

/// Creates a job and follows it to a final status; the statuses seen include the create reply's.
async fn run(svc: &Service, query: &str, f: reqwest::multipart::Form) -> (Value, Vec<String>) {
    let job = svc.create(query, f).await;
    let (done, seen) = svc.wait_final(&id_of(&job), Duration::from_secs(120)).await;
    let mut all = vec!["initializing".to_string()];
    all.extend(seen.into_iter().filter(|s| s != "initializing"));
    (done, all)
}

fn clip(name: &str) -> Vec<u8> {
    read_testdata(&format!("asr/{name}.flac"))
}

/// Same bucket, separate mirrored bucket, byte-identical inputs, reruns; then request-level
/// failures. Works against any S3 server.
async fn outputs_and_failures(svc: &Service, s3: &S3Target) {
    let tag = s3.name;
    let creds = s3.creds_file();
    // No key has a character below '/' after a shared folder prefix, so that folder-by-folder
    // listings (SeaweedFS) are in byte order too.
    let inputs = vec![
        ("top.flac".to_string(), clip("clip02")),
        ("a/b/c.flac".to_string(), clip("clip14")),
        ("a/x1.flac".to_string(), clip("clip13")),
    ];
    let input_keys: BTreeSet<String> = inputs.iter().map(|(k, _)| k.clone()).collect();
    let json_keys: BTreeSet<String> = input_keys.iter().map(|k| format!("{k}.json")).collect();
    s3.fill("same", inputs).await;
    s3.fill("mirror", vec![]).await;
    let hashes = s3.input_hashes("same").await;
    assert_eq!(hashes.len(), 3);

    // 1. Results beside the inputs.
    let (job1, seen) = run(svc, "function=recognize", form(&creds, "same", None)).await;
    eprintln!("[{tag}] same bucket: {seen:?}");
    assert_forward(&seen, tag);
    assert_eq!(job1["status"], "completed", "[{tag}] {job1}");
    assert_eq!(
        (
            job1["total_count"].as_u64(),
            job1["successful_count"].as_u64(),
            job1["failed_count"].as_u64()
        ),
        (Some(3), Some(3), Some(0)),
        "[{tag}] {job1}"
    );
    let id1 = id_of(&job1);
    let keys: BTreeSet<String> = s3.keys("same").await.into_iter().collect();
    assert_eq!(
        keys,
        input_keys.union(&json_keys).cloned().collect(),
        "[{tag}] outputs beside the inputs"
    );
    for k in &json_keys {
        assert_eq!(
            s3.batch_of("same", k).await.as_deref(),
            Some(id1.as_str()),
            "[{tag}] {k}"
        );
        let v: Value = serde_json::from_slice(&s3.read("same", k).await).unwrap();
        assert!(
            v["results"].as_array().is_some_and(|r| !r.is_empty()),
            "[{tag}] {k}: {v}"
        );
    }
    assert_eq!(s3.outputs_of("same", &id1).await, (3, 0));
    assert_eq!(
        s3.input_hashes("same").await,
        hashes,
        "[{tag}] inputs modified"
    );

    // 2. A rerun over the bucket that now holds outputs: the same total, outputs overwritten.
    let (job2, _) = run(
        svc,
        "function=recognize&word_confidence=true",
        form(&creds, "same", None),
    )
    .await;
    let id2 = id_of(&job2);
    assert_eq!(job2["status"], "completed", "[{tag}] {job2}");
    assert_eq!(
        job2["total_count"], 3,
        "[{tag}] outputs counted as inputs: {job2}"
    );
    assert_eq!(job2["successful_count"], 3, "[{tag}] {job2}");
    let keys: BTreeSet<String> = s3.keys("same").await.into_iter().collect();
    assert_eq!(
        keys,
        input_keys.union(&json_keys).cloned().collect(),
        "[{tag}] outputs treated as inputs"
    );
    assert_eq!(
        s3.outputs_of("same", &id2).await,
        (3, 0),
        "[{tag}] not overwritten"
    );
    assert_eq!(s3.outputs_of("same", &id1).await, (0, 0));
    let v: Value = serde_json::from_slice(&s3.read("same", "top.flac.json").await).unwrap();
    assert!(
        v["results"][0]["alternatives"][0]["word_confidence"].is_array(),
        "[{tag}] the rerun's parameters: {v}"
    );
    assert_eq!(
        s3.input_hashes("same").await,
        hashes,
        "[{tag}] inputs modified"
    );

    // 3. A separate output bucket mirrors the folders; the input bucket is untouched.
    let (job3, _) = run(
        svc,
        "function=recognize",
        form(&creds, "same", Some((&creds, "mirror"))),
    )
    .await;
    let id3 = id_of(&job3);
    assert_eq!(job3["status"], "completed", "[{tag}] {job3}");
    assert_eq!(job3["output_bucket_name"], "mirror");
    assert_eq!(job3["total_count"], 3);
    let mirrored: BTreeSet<String> = s3.keys("mirror").await.into_iter().collect();
    assert_eq!(
        mirrored, json_keys,
        "[{tag}] a/b/c.flac -> a/b/c.flac.json in the output bucket"
    );
    assert_eq!(s3.outputs_of("mirror", &id3).await, (3, 0));
    assert_eq!(
        s3.outputs_of("same", &id2).await,
        (3, 0),
        "[{tag}] the input bucket was written"
    );
    assert_eq!(
        s3.input_hashes("same").await,
        hashes,
        "[{tag}] inputs modified"
    );

    // 4. Request-level failures: failed, with an error_message that says what to fix.
    let wrong = hmac_file(
        &s3.endpoint,
        &s3.access_key,
        "Wrong/Secret+Key0123456789abcdefghij",
    );
    let unknown_key = hmac_file(&s3.endpoint, "no-such-access-key", &s3.secret_key);
    let cases: Vec<(reqwest::multipart::Form, Vec<&str>, &str)> = vec![
        (
            form(&wrong, "same", None),
            vec!["same", "secret_key"],
            "wrong secret",
        ),
        (
            form(&unknown_key, "same", None),
            vec!["same", "access_key"],
            "unknown access key",
        ),
        (
            form(&creds, "no-such-bucket", None),
            vec!["no-such-bucket"],
            "missing bucket",
        ),
        (
            form(&creds, "same", Some((&creds, "no-such-output"))),
            vec!["no-such-output"],
            "missing output bucket",
        ),
        (
            form(&creds, "same", Some((&wrong, "mirror"))),
            vec!["mirror", "secret_key"],
            "wrong secret for the output",
        ),
    ];
    for (f, mentions, what) in cases {
        let (job, seen) = run(svc, "function=recognize", f).await;
        assert_eq!(job["status"], "failed", "[{tag}] {what}: {job}");
        let m = job["error_message"].as_str().unwrap();
        for want in mentions {
            assert!(
                m.contains(want),
                "[{tag}] {what}: error_message should mention {want:?}: {m}"
            );
        }
        assert!(
            !m.contains("Wrong/Secret") && !m.contains(&s3.secret_key),
            "[{tag}] secret in {m}"
        );
        assert_eq!(
            (
                job["successful_count"].as_u64(),
                job["failed_count"].as_u64()
            ),
            (Some(0), Some(0))
        );
        assert!(
            seen.iter().all(|s| s == "initializing" || s == "failed"),
            "[{tag}] {what}: {seen:?}"
        );
    }
    assert_eq!(s3.outputs_of("mirror", &id3).await, (3, 0));
    assert_eq!(s3.input_hashes("same").await, hashes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_on_seaweedfs_write_their_outputs_and_report_failures() {
    let weed = Seaweed::start().await;
    let svc = Service::start(Opts {
        workers: 1,
        max_shards: 3,
        ..Opts::default()
    })
    .await;
    outputs_and_failures(&svc, &weed.target).await;
    bad_files_become_notices(&svc, &weed.target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_on_the_embedded_s3_go_through_every_status_cancel_and_delete() {
    let iam = iam::Iam::start().await;
    let svc = Service::start(Opts {
        max_running_jobs: 1,
        workers: 1,
        max_shards: 4,
        iam_token_url: Some(iam.token_url.clone()),
        ..Opts::default()
    })
    .await;
    let s3 = svc.embedded_s3();
    let creds = s3.creds_file();
    outputs_and_failures(&svc, &s3).await;

    // --- An endpoint where nothing listens: failed, naming the end point.
    let closed = hmac_file(
        &format!("http://{}", closed_addr()),
        &s3.access_key,
        &s3.secret_key,
    );
    let (job, _) = run(&svc, "function=recognize", form(&closed, "same", None)).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["error_message"].as_str().unwrap().contains("end_point"),
        "{job}"
    );
    let failed = job;

    // --- waiting: one job runs at a time; later ones wait, first come first served.
    s3.fill(
        "long",
        vec![
            (
                "conv01.flac".into(),
                read_testdata("conversations/conv01.flac"),
            ),
            (
                "conv02.flac".into(),
                read_testdata("conversations/conv02.flac"),
            ),
        ],
    )
    .await;
    for (b, c) in [
        ("short1", "clip02"),
        ("short2", "clip13"),
        ("short3", "clip14"),
    ] {
        s3.fill(b, vec![(format!("{c}.flac"), clip(c))]).await;
    }
    let long = svc
        .create("function=recognize", form(&creds, "long", None))
        .await;
    let long_id = id_of(&long);
    svc.wait_for(&long_id, Duration::from_secs(30), |j| {
        j["status"] == "running"
    })
    .await;
    let w1 = id_of(
        &svc.create("function=recognize", form(&creds, "short1", None))
            .await,
    );
    let w2 = id_of(
        &svc.create("function=recognize", form(&creds, "short2", None))
            .await,
    );
    let w3 = id_of(
        &svc.create("function=recognize", form(&creds, "short3", None))
            .await,
    );
    let mut w2_seen = Vec::new();
    for w in [&w1, &w2, &w3] {
        let (j, seen) = svc
            .wait_for(w, Duration::from_secs(20), |j| {
                j["status"] != "initializing"
            })
            .await;
        assert_eq!(j["status"], "waiting", "a second job while one runs: {j}");
        assert_eq!(j["total_count"], 1, "scanned before waiting: {j}");
        assert_eq!(j["progress"], 0.0);
        if w == &w2 {
            w2_seen = seen;
        }
    }
    assert_eq!(
        svc.get(&long_id).await["status"],
        "running",
        "the long job finished too early to test waiting"
    );
    // Cancel in waiting: canceled at once, never processes a file.
    let c = svc.cancel(&w1).await;
    assert_eq!(c["status"], "canceled", "{c}");
    // Delete in waiting: gone, never processes a file.
    svc.delete(&w3).await;
    let (long_done, long_seen) = svc.wait_final(&long_id, Duration::from_secs(120)).await;
    assert_eq!(long_done["status"], "completed", "{long_done}");
    assert!(long_seen.contains(&"running".to_string()), "{long_seen:?}");
    assert_eq!(long_done["successful_count"], 2);
    let (w2_done, seen) = svc.wait_final(&w2, Duration::from_secs(60)).await;
    w2_seen.extend(seen);
    w2_seen.dedup();
    let mut all = vec!["initializing".to_string()];
    all.extend(w2_seen.into_iter().filter(|s| s != "initializing"));
    eprintln!("waiting job: {all:?}");
    assert_eq!(w2_done["status"], "completed", "{w2_done}");
    assert_forward(&all, "waiting job");
    assert!(all.contains(&"waiting".to_string()), "{all:?}");
    // The scheduler has moved past the canceled and the deleted job; had it admitted one of
    // them, its one short clip would have an output within a couple of seconds.
    assert_stays(
        "the jobs canceled and deleted while waiting stay without outputs",
        Duration::from_secs(2),
        async || {
            let w1_now = svc.get(&w1).await;
            w1_now["status"] == "canceled"
                && w1_now["successful_count"] == 0
                && w1_now["failed_count"] == 0
                && s3.outputs("short1").await.is_empty()
                && s3.outputs("short3").await.is_empty()
        },
    )
    .await;
    assert_eq!(s3.outputs_of("short2", &w2).await, (1, 0));

    // --- Cancel and delete while running: no new file starts; outputs stay.
    let eight: Vec<(String, Vec<u8>)> = short_clips()
        .into_iter()
        .take(8)
        .map(|(n, b)| (format!("{n}.flac"), b))
        .collect();
    s3.fill("eight", eight.clone()).await;
    s3.fill("eight-del", eight).await;
    for (bucket, delete) in [("eight", false), ("eight-del", true)] {
        let id = id_of(
            &svc.create("function=recognize", form(&creds, bucket, None))
                .await,
        );
        wait_until(
            format!("the first output of {bucket}"),
            Duration::from_secs(60),
            async || s3.outputs_of(bucket, &id).await.0 > 0,
        )
        .await;
        let before: BTreeSet<String> = s3.outputs(bucket).await.into_keys().collect();
        if delete {
            svc.delete(&id).await;
        } else {
            let j = svc.cancel(&id).await;
            assert_eq!(j["status"], "canceled", "canceled at once: {j}");
        }
        let what = if delete { "delete" } else { "cancel" };
        // The file in flight may still finish; no other may start. Three seconds is several
        // short clips' worth of work for a job that kept running.
        assert_stays(
            format!("{what}: outputs are kept and at most the file in flight is added"),
            Duration::from_secs(3),
            async || {
                let now: BTreeSet<String> = s3.outputs(bucket).await.into_keys().collect();
                before.is_subset(&now) && now.len() <= before.len() + 1
            },
        )
        .await;
        let after: BTreeSet<String> = s3.outputs(bucket).await.into_keys().collect();
        eprintln!(
            "{what} while running: {} outputs, then {} after 3 s",
            before.len(),
            after.len()
        );
        assert!(after.len() < 8, "{what}: the job ran to the end");
        if !delete {
            let j = svc.get(&id).await;
            assert_eq!(j["status"], "canceled", "{j}");
            assert!(
                j["successful_count"].as_u64().unwrap() <= after.len() as u64,
                "{j}"
            );
        }
    }

    // --- initializing: an endpoint that accepts connections and never answers.
    let hole = hmac_file(
        &format!("http://{}", black_hole()),
        &s3.access_key,
        &s3.secret_key,
    );
    let init_cancel = id_of(
        &svc.create("function=recognize", form(&hole, "same", None))
            .await,
    );
    let init_delete = id_of(
        &svc.create("function=recognize", form(&hole, "same", None))
            .await,
    );
    // The scan's requests go unanswered: both jobs stay initializing.
    assert_stays(
        "jobs scanning an endpoint that never answers stay initializing",
        Duration::from_millis(1500),
        async || {
            svc.get(&init_cancel).await["status"] == "initializing"
                && svc.get(&init_delete).await["status"] == "initializing"
        },
    )
    .await;
    let j = svc.cancel(&init_cancel).await;
    assert_eq!(j["status"], "canceled", "{j}");
    svc.delete(&init_delete).await;
    // A scan that ended after the cancel must not revive the job or count files into it.
    assert_stays(
        "the job canceled while initializing stays canceled with nothing counted",
        Duration::from_secs(1),
        async || {
            let j = svc.get(&init_cancel).await;
            j["status"] == "canceled"
                && j["total_count"] == 0
                && j["successful_count"] == 0
                && j["failed_count"] == 0
        },
    )
    .await;
    assert_eq!(s3.outputs_of("same", &init_cancel).await, (0, 0));

    // --- Cancel of finished jobs leaves them unchanged.
    let canceled = svc.get(&w1).await;
    for j in [&long_done, &canceled, &failed] {
        let id = id_of(j);
        let before = svc.get(&id).await;
        let after = svc.cancel(&id).await;
        assert_eq!(after, before, "cancel changed a {} job", before["status"]);
        assert_eq!(svc.get(&id).await, before);
    }
    // Delete in every final status: 404 afterwards, outputs stay.
    let long_outputs = s3.outputs("long").await;
    for j in [&long_done, &canceled, &failed, &w2_done] {
        svc.delete(&id_of(j)).await;
    }
    assert_eq!(
        s3.outputs("long").await,
        long_outputs,
        "delete touched the outputs"
    );
    assert_eq!(long_outputs.len(), 2);

    // --- IAM credentials: token endpoint + bearer-checking proxy in front of s3s-fs.
    let cos = iam.root.path().join("cos-bucket/calls");
    std::fs::create_dir_all(&cos).unwrap();
    std::fs::write(cos.join("a.flac"), clip("clip02")).unwrap();
    std::fs::write(cos.join("b.flac"), clip("clip13")).unwrap();
    let good = iam.creds_file(iam::APIKEY);
    let (j, _) = run(&svc, "function=recognize", form(&good, "cos-bucket", None)).await;
    assert_eq!(j["status"], "completed", "IAM: {j}");
    assert_eq!(j["successful_count"], 2, "{j}");
    assert!(cos.join("a.flac.json").is_file() && cos.join("b.flac.json").is_file());
    {
        let st = iam.state.lock().unwrap();
        assert!(st.exchanges >= 1 && st.forwarded > 0, "IAM not used");
        assert!(st.refused.is_empty(), "the proxy refused: {:?}", st.refused);
    }
    let rejected_key = "rejected-apikey-0123456789abcdef";
    let (j, _) = run(
        &svc,
        "function=recognize",
        form(&iam.creds_file(rejected_key), "cos-bucket", None),
    )
    .await;
    assert_eq!(j["status"], "failed", "{j}");
    let m = j["error_message"].as_str().unwrap();
    assert!(m.contains("apikey") && !m.contains(rejected_key), "{m}");

    bad_files_become_notices(&svc, &s3).await;
}

/// Every malformed file of the test data becomes a `.notice` with an error body; the job
/// completes.
async fn bad_files_become_notices(svc: &Service, s3: &S3Target) {
    let creds = s3.creds_file();
    let mut bad = Vec::new();
    for e in std::fs::read_dir(speechbatch_testkit::testdata("bad")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        if name != "manifest.tsv" {
            bad.push((format!("bad/{name}"), std::fs::read(&p).unwrap()));
        }
    }
    let n = bad.len() as u64;
    let bad_keys: Vec<String> = bad.iter().map(|(k, _)| k.clone()).collect();
    s3.fill("bad", bad).await;
    let (j, _) = run(svc, "function=recognize", form(&creds, "bad", None)).await;
    eprintln!("bad files: {j}");
    assert_eq!(j["status"], "completed", "{j}");
    assert_eq!(j["total_count"], n);
    assert_eq!(j["failed_count"], n, "every bad file failed: {j}");
    assert_eq!(j["successful_count"], 0, "{j}");
    let id = id_of(&j);
    let outputs = s3.outputs("bad").await;
    for k in &bad_keys {
        assert_eq!(
            outputs.get(&format!("{k}.notice")),
            Some(&Some(id.clone())),
            "{k}: no .notice"
        );
        assert!(
            !outputs.contains_key(&format!("{k}.json")),
            "{k}: a .json for a bad file"
        );
        let body: Value =
            serde_json::from_slice(&s3.read("bad", &format!("{k}.notice")).await).unwrap();
        validate(
            Op::Job,
            reqwest::StatusCode::from_u16(body["code"].as_u64().unwrap() as u16).unwrap(),
            &body,
        );
        eprintln!("{k}: {}", body["error"]);
    }
    assert_eq!(s3.outputs_of("bad", &id).await, (0, n));
}
