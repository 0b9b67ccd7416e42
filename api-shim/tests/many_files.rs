//! Scale: 1,000 small files in one bucket of the real `speechbatch` binary (900 short silent or
//! noise WAVs and 100 tiny invalid files) with up to 16 shards: the job completes with exact
//! counts, every input has its output, and the job record stays small (O(shards), not O(files)).

mod common;

use std::time::{Duration, Instant};

use common::*;

const GOOD: usize = 900;
const TINY: usize = 100;
const RECORD_LIMIT: u64 = 16 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_files_complete_with_exact_counts_and_a_small_record() {
    let svc = Service::start(Opts {
        workers: 2,
        max_shards: 16,
        threads: 1,
        ..Opts::default()
    })
    .await;
    let s3 = svc.embedded_s3();
    // The embedded S3 serves DATA_DIR/buckets: each subfolder is a bucket, files are objects.
    let root = svc.data.path().join("buckets/many");
    let mut keys = Vec::new();
    for i in 0..GOOD + TINY {
        let key = format!(
            "batch{:02}/rec{i:04}.{}",
            i % 37,
            if i < GOOD { "wav" } else { "flac" }
        );
        let bytes = if i < GOOD {
            // 0.25 s of silence or quiet noise.
            wav(4000, (i % 2 == 0).then_some(i as u32))
        } else {
            // Fewer than 100 bytes: never valid audio.
            vec![b'f'; i % 90 + 1]
        };
        let path = root.join(&key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
        keys.push(key);
    }

    let t = Instant::now();
    let job = svc
        .create("function=recognize", form(&s3.creds_file(), "many", None))
        .await;
    let id = job["batch_id"].as_str().unwrap().to_string();
    let record = svc.record_path(&id);
    let mut largest = 0;
    let (job, seen) = svc
        .wait_for(&id, Duration::from_secs(150), |j| {
            if let Ok(m) = std::fs::metadata(&record) {
                largest = largest.max(m.len());
            }
            j["status"] != "initializing" && j["status"] != "waiting" && j["status"] != "running"
        })
        .await;
    eprintln!(
        "1000 files: {seen:?} in {:?}; largest record {largest} bytes",
        t.elapsed()
    );
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["total_count"], (GOOD + TINY) as u64, "{job}");
    let (s, f) = (
        job["successful_count"].as_u64().unwrap(),
        job["failed_count"].as_u64().unwrap(),
    );
    assert_eq!(s + f, (GOOD + TINY) as u64, "{job}");

    // Every input has exactly its outputs, from this batch; tiny files have notices.
    let outputs = s3.outputs("many").await;
    let mut notices = 0;
    for (i, k) in keys.iter().enumerate() {
        let json = outputs.get(&format!("{k}.json"));
        let notice = outputs.get(&format!("{k}.notice"));
        assert!(json.is_some() || notice.is_some(), "{k} has no output");
        for b in [json, notice].into_iter().flatten() {
            assert_eq!(b.as_deref(), Some(id.as_str()), "{k}");
        }
        if i >= GOOD {
            assert!(notice.is_some(), "tiny file {k} has no .notice");
            assert!(json.is_none(), "tiny file {k} has a .json");
        }
        if notice.is_some() {
            notices += 1;
        }
    }
    assert!(notices >= TINY, "{notices}");
    assert_eq!(
        outputs.len(),
        GOOD + TINY,
        "one output per input, nothing else: {}",
        outputs.len()
    );
    let (jn, nn) = s3.outputs_of("many", &id).await;
    assert_eq!(
        (s, f),
        (jn, nn),
        "counts equal the outputs carrying the batch id"
    );
    let notice: serde_json::Value =
        serde_json::from_slice(&s3.read("many", &format!("{}.notice", keys[GOOD])).await).unwrap();
    assert!(
        notice["code"].is_u64() && notice["error"].is_string(),
        "{notice}"
    );

    // The record is O(shards): small, whatever the file count.
    let size = std::fs::metadata(&record).unwrap().len();
    largest = largest.max(size);
    assert!(
        largest < RECORD_LIMIT,
        "the job record grew to {largest} bytes for 1000 files"
    );
    let rec: serde_json::Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    let shards = rec["shards"].as_array().unwrap().len();
    assert!((2..=16).contains(&shards), "{shards} shards");
    assert!(
        !String::from_utf8_lossy(&std::fs::read(&record).unwrap()).contains("rec0500"),
        "the record lists files"
    );
}
