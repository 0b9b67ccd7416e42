//! Crash and shutdown of the real `speechbatch` binary mid-job: after SIGKILL the job resumes at
//! the next start and every input is counted exactly once; SIGTERM lets files in flight finish,
//! exits 0, leaves the record `running`, and the next start completes the job with exact counts.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use speechbatch_testkit::wait_until;

const FILES: usize = 12;

async fn fill_twelve(s3: &S3Target, bucket: &str) -> Vec<String> {
    let clips = short_clips();
    let objects: Vec<(String, Vec<u8>)> = clips
        .into_iter()
        .take(FILES)
        .enumerate()
        .map(|(i, (name, bytes))| (format!("part{}/{name}.flac", i % 3), bytes))
        .collect();
    let keys = objects.iter().map(|(k, _)| k.clone()).collect();
    s3.fill(bucket, objects).await;
    keys
}

/// Waits until the batch has at least `n` outputs; returns how many.
async fn wait_outputs(svc: &Service, s3: &S3Target, bucket: &str, id: &str, n: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (j, no) = s3.outputs_of(bucket, id).await;
        if j + no >= n {
            return j + no;
        }
        assert!(
            Instant::now() < deadline,
            "no {n} outputs in time:\n{}",
            tail(&svc.log(), 30)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The job is completed with exact counts: every input has its output from this batch, and the
/// counts equal the outputs carrying the batch id.
async fn assert_exact(s3: &S3Target, bucket: &str, keys: &[String], job: &Value) {
    let id = job["batch_id"].as_str().unwrap();
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["total_count"], FILES as u64, "{job}");
    let (s, f) = (
        job["successful_count"].as_u64().unwrap(),
        job["failed_count"].as_u64().unwrap(),
    );
    assert_eq!(
        s + f,
        FILES as u64,
        "every input counted exactly once: {job}"
    );
    let outputs = s3.outputs(bucket).await;
    for k in keys {
        let mine = |suffix: &str| {
            outputs
                .get(&format!("{k}.{suffix}"))
                .is_some_and(|b| b.as_deref() == Some(id))
        };
        assert!(
            mine("json") || mine("notice"),
            "{k} has no output of {id}: {outputs:?}"
        );
    }
    let (jn, nn) = s3.outputs_of(bucket, id).await;
    assert_eq!(
        (s, f),
        (jn, nn),
        "counts equal the outputs carrying the batch id: {job}"
    );
}

fn record(svc: &Service, id: &str) -> Value {
    serde_json::from_slice(&std::fs::read(svc.record_path(id)).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_completes_with_exact_counts_after_a_crash_or_a_shutdown_mid_job() {
    let mut svc = Service::start(Opts {
        workers: 1,
        max_shards: 4,
        shutdown_grace_s: 60,
        ..Opts::default()
    })
    .await;
    // The buckets live in an S3 server of the test's own, which stays up while the service is
    // killed and restarted.
    let server = TestS3::start_recording().await;
    let s3 = server.target.clone();

    // --- SIGKILL after some but not all outputs exist.
    let keys = fill_twelve(&s3, "crash").await;
    let job = svc
        .create("function=recognize", form(&s3.creds_file(), "crash", None))
        .await;
    let id = job["batch_id"].as_str().unwrap().to_string();
    let before = wait_outputs(&svc, &s3, "crash", &id, 3).await;
    svc.kill();
    let at_kill = s3.outputs_of("crash", &id).await;
    let written = at_kill.0 + at_kill.1;
    eprintln!("SIGKILL with {written} of {FILES} outputs written");
    assert!(
        written >= before && written < FILES as u64,
        "killed too late to test anything: {written}"
    );
    assert_eq!(record(&svc, &id)["job"]["status"], "running");
    svc.spawn().await;
    let (job, seen) = svc.wait_final(&id, Duration::from_secs(180)).await;
    eprintln!("after restart: {seen:?}");
    assert_exact(&s3, "crash", &keys, &job).await;

    // --- SIGTERM: files in flight finish, exit 0, the record stays running. One shard, so the
    // files run in key order: two short clips, then a 46 s conversation that is surely in flight
    // when the signal comes, then short clips that must not start.
    svc.kill();
    svc.opts.max_shards = 1;
    svc.spawn().await;
    let mut objects: Vec<(String, Vec<u8>)> = short_clips()
        .into_iter()
        .take(FILES - 1)
        .map(|(_, b)| b)
        .enumerate()
        .map(|(i, b)| (format!("f{:02}.flac", if i < 2 { i } else { i + 1 }), b))
        .collect();
    objects.push((
        "f02.flac".into(),
        read_testdata("conversations/conv01.flac"),
    ));
    let keys: Vec<String> = objects.iter().map(|(k, _)| k.clone()).collect();
    s3.fill("term", objects).await;
    let job = svc
        .create("function=recognize", form(&s3.creds_file(), "term", None))
        .await;
    let id = job["batch_id"].as_str().unwrap().to_string();
    let n0 = wait_outputs(&svc, &s3, "term", &id, 2).await;
    assert_eq!(n0, 2);
    // The signal must come while the conversation is in flight: once the worker has read it.
    wait_until(
        "the worker has read the conversation f02.flac",
        Duration::from_secs(30),
        async || server.was_read("term", "f02.flac"),
    )
    .await;
    let outs = s3.outputs("term").await;
    assert!(
        !outs.contains_key("f02.flac.json"),
        "the conversation finished too fast to test SIGTERM"
    );
    let (status, took) = svc.terminate(Duration::from_secs(70));
    assert!(
        status.success(),
        "exit status after SIGTERM: {status}\n{}",
        tail(&svc.log(), 20)
    );
    assert!(
        took < Duration::from_secs(60),
        "exit took {took:?}, more than the grace"
    );
    let outs = s3.outputs("term").await;
    let n1 = outs.len() as u64;
    eprintln!("SIGTERM with {n0} outputs: exited in {took:?} with {n1}");
    assert!(
        outs.get("f02.flac.json")
            .is_some_and(|b| b.as_deref() == Some(id.as_str())),
        "the file in flight at SIGTERM did not finish: {outs:?}"
    );
    assert_eq!(n1, 3, "new files started after SIGTERM: {outs:?}");
    let rec = record(&svc, &id);
    assert_eq!(rec["job"]["status"], "running", "{rec}");
    let counted = rec["job"]["successful_count"].as_u64().unwrap()
        + rec["job"]["failed_count"].as_u64().unwrap();
    assert_eq!(
        counted, n1,
        "every finished file was counted before exit: {rec}"
    );
    let log = svc.log();
    assert!(log.contains("shutting down"), "{}", tail(&log, 10));
    svc.spawn().await;
    let (job, seen) = svc.wait_final(&id, Duration::from_secs(180)).await;
    eprintln!("after restart: {seen:?}");
    assert_exact(&s3, "term", &keys, &job).await;
    // The crashed job's record survived both restarts unchanged.
    let crash_job = svc.list().await;
    assert_eq!(crash_job.len(), 2);
}
