//! Faults of the world around the service, on the real `speechbatch` binary and real servers:
//! the bucket's server going away and coming back. RELIABILITY.md lists what each test shows.

mod common;

use std::time::Duration;

use common::{short_clips, Opts, Seaweed, Service};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_server_that_goes_away_and_comes_back_costs_the_job_nothing() {
    let mut weed = Seaweed::start().await;
    let target = weed.target.clone();
    let svc = Service::start(Opts {
        max_shards: 2,
        // Retries every 100 ms at first (the harness's delay), for up to two minutes.
        args: vec!["--storage-retry-window-s".into(), "120".into()],
        ..Opts::default()
    })
    .await;
    let clips: Vec<(String, Vec<u8>)> = short_clips()
        .into_iter()
        .take(6)
        .map(|(name, audio)| (format!("{name}.flac"), audio))
        .collect();
    target.fill("outage", clips.clone()).await;
    let inputs = target.input_hashes("outage").await;
    let id = svc
        .create_id(
            "function=recognize",
            common::form(&target.creds_file(), "outage", None),
        )
        .await;
    // Down once the first file is done, with files still to go.
    svc.wait_for(&id, Duration::from_secs(300), |job| {
        job["successful_count"].as_u64().unwrap_or(0) >= 1
    })
    .await;
    weed.weed.stop();
    // The job meets the outage and waits it out, still running.
    speechbatch_testkit::wait_until(
        "the service to retry",
        Duration::from_secs(120),
        async || svc.log().contains("may pass; retrying"),
    )
    .await;
    assert_eq!(svc.get(&id).await["status"], "running", "{}", svc.log());
    weed.weed.restart().await;
    let (job, _) = svc.wait_final(&id, Duration::from_secs(300)).await;
    assert_eq!(job["status"], "completed", "{job}\n{}", svc.log());
    assert_eq!(job["total_count"], 6);
    assert_eq!(
        job["successful_count"].as_u64().unwrap() + job["failed_count"].as_u64().unwrap(),
        6,
        "{job}"
    );
    // One output per input, of this job; no input changed.
    let outputs = target.outputs("outage").await;
    assert_eq!(outputs.len(), 6, "{outputs:?}");
    assert!(outputs.values().all(|b| b.as_deref() == Some(id.as_str())));
    assert_eq!(target.input_hashes("outage").await, inputs);
}
