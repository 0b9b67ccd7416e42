//! Benchmark: scanning a bucket of N objects into a shard plan (what a job's `initializing`
//! phase does), on SeaweedFS started on loopback. Prints the fill time, the scan time and this
//! process's peak RSS. `cargo run --release -p speechbatch-storage --example scan_bench -- 100000`

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use futures::StreamExt;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let server = support::TestServer::seaweedfs().await;
    let admin = server.admin();
    admin.create_bucket().bucket("scan").send().await.unwrap();
    let started = Instant::now();
    // Keys shaped like a call-centre archive: day / agent / call.
    futures::stream::iter(0..n)
        .map(|i| {
            let admin = admin.clone();
            async move {
                let key = format!(
                    "calls/2026/11/{:02}/agent-{:04}/call-{:06}.wav",
                    1 + i % 28,
                    i % 500,
                    i
                );
                admin
                    .put_object()
                    .bucket("scan")
                    .key(key)
                    .body(vec![0u8; 16].into())
                    .send()
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<()>>()
        .await;
    let fill_s = started.elapsed().as_secs_f64();
    let rss_before = peak_rss_mb();
    let bucket = server.bucket("scan").await;
    let started = Instant::now();
    let plan = speechbatch_storage::plan_shards(&bucket, 64).await.unwrap();
    let scan_s = started.elapsed().as_secs_f64();
    assert_eq!(plan.total as usize, n);
    println!(
        "objects {n} fill_s {fill_s:.1} scan_s {scan_s:.2} objects_per_s {:.0} shards {} peak_rss_mb_before_scan {rss_before:.1} peak_rss_mb {:.1}",
        n as f64 / scan_s,
        plan.len(),
        peak_rss_mb()
    );
}
