//! Faults of the world around the service, on the real `speechbatch` binary and real servers:
//! the bucket's server going away and coming back. RELIABILITY.md lists what each test shows.

mod common;

use std::time::Duration;

use common::{short_clips, Opts, Seaweed, Service};

/// Six short speech clips as `clipNN.flac` objects.
fn six_clips() -> Vec<(String, Vec<u8>)> {
    short_clips()
        .into_iter()
        .take(6)
        .map(|(name, audio)| (format!("{name}.flac"), audio))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_server_that_goes_away_and_comes_back_costs_the_job_nothing() {
    let mut weed = Seaweed::start().await;
    let target = weed.target.clone();
    let svc = Service::start(Opts {
        max_shards: 2,
        // Retries every 100 ms at first (the harness's delay), for up to two minutes.
        storage_retry_window_s: 120,
        ..Opts::default()
    })
    .await;
    target.fill("outage", six_clips()).await;
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

/// A small tmpfs mounted over a folder, unmounted when dropped; `None` where this machine does
/// not let the test mount one (not root, no CAP_SYS_ADMIN).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &std::path::Path, size: &str) -> Option<Tmpfs> {
        let ok = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// A job over six clips on a service whose data directory is a tmpfs, once its first file is
/// done: what the full and read-only disk tests start from. The bucket lives outside the tmpfs.
/// A test binds every field, so that the tmpfs and the bucket last until its end (it kills the
/// service before then).
struct TmpfsJob {
    svc: Service,
    id: String,
    target: common::S3Target,
    _tmpfs: Tmpfs,
    _buckets: tempfile::TempDir,
}

impl TmpfsJob {
    /// `None` (the test is skipped, saying so) where the machine does not let the test mount a
    /// tmpfs of `size`.
    async fn start(size: &str, bucket: &str, retry_window_s: u64) -> Option<TmpfsJob> {
        let buckets = tempfile::tempdir().unwrap();
        let mut svc = Service::start(Opts {
            max_shards: 2,
            storage_retry_window_s: retry_window_s,
            args: vec!["--s3-root".into(), buckets.path().display().to_string()],
            ..Opts::default()
        })
        .await;
        svc.kill();
        let Some(tmpfs) = Tmpfs::mount(svc.data.path(), size) else {
            eprintln!("skipped: this machine does not let the test mount a tmpfs");
            return None;
        };
        svc.spawn().await;
        let target = svc.embedded_s3();
        target.fill(bucket, six_clips()).await;
        let id = svc
            .create_id(
                "function=recognize",
                common::form(&target.creds_file(), bucket, None),
            )
            .await;
        svc.wait_for(&id, Duration::from_secs(300), |job| {
            job["successful_count"].as_u64().unwrap_or(0) >= 1
        })
        .await;
        Some(TmpfsJob {
            svc,
            id,
            target,
            _tmpfs: tmpfs,
            _buckets: buckets,
        })
    }
}

/// Fills the file system of `dir` with one file; returns it.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_data_directory_pauses_a_job_that_then_completes_and_leaves_nothing_behind() {
    let Some(TmpfsJob {
        mut svc,
        id,
        target,
        _tmpfs,
        _buckets,
    }) = TmpfsJob::start("8m", "full", 120).await
    else {
        return;
    };
    let filler = fill(svc.data.path());
    speechbatch_testkit::wait_until(
        "the job to meet the full disk",
        Duration::from_secs(120),
        async || svc.log().contains("may pass; retrying"),
    )
    .await;
    // What clients see is what the disk holds; nothing half-written is left.
    assert_eq!(svc.get(&id).await["status"], "running");
    let leftovers: Vec<_> = std::fs::read_dir(svc.data.path().join("jobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    std::fs::remove_file(filler).unwrap();
    let (job, _) = svc.wait_final(&id, Duration::from_secs(300)).await;
    assert_eq!(job["status"], "completed", "{job}\n{}", svc.log());
    assert_eq!(
        (
            job["total_count"].as_u64(),
            job["successful_count"].as_u64()
        ),
        (Some(6), Some(6)),
        "{job}"
    );
    assert_eq!(target.outputs("full").await.len(), 6);
    svc.kill();
}

/// Remounts the tmpfs at `dir` read-only or read-write; false where the machine refuses.
fn remount(dir: &std::path::Path, mode: &str) -> bool {
    std::process::Command::new("mount")
        .args(["-o", &format!("remount,{mode}")])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

/// Issue #15, defect 3: a job that failed while the data directory was read-only used to come
/// back `running` after a restart and complete, though the API had said `failed`. Here the disk
/// turns read-only under a running job for longer than the retry window, so the job fails, and
/// that failure cannot be saved either: it is reported only once it is on disk, and then it
/// stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_on_a_read_only_data_directory_is_reported_once_saved_and_survives_a_restart() {
    let Some(TmpfsJob {
        mut svc,
        id,
        target: _,
        _tmpfs,
        _buckets,
    }) = TmpfsJob::start("64m", "readonly", 3).await
    else {
        return;
    };
    assert!(remount(svc.data.path(), "ro"), "cannot remount read-only");
    speechbatch_testkit::wait_until(
        "the job's failure to meet the read-only disk",
        Duration::from_secs(300),
        async || svc.log().contains("cannot save the failure of a job"),
    )
    .await;
    assert_eq!(
        svc.get(&id).await["status"],
        "running",
        "a failure was reported before it was saved"
    );
    assert!(remount(svc.data.path(), "rw"), "cannot remount read-write");
    let (job, _) = svc.wait_final(&id, Duration::from_secs(120)).await;
    assert_eq!(job["status"], "failed", "{job}\n{}", svc.log());
    let message = job["error_message"].as_str().unwrap_or_default().to_owned();
    assert!(
        message.contains("cannot save the job's progress")
            && message.contains("Read-only file system")
            && message.contains("retrying for"),
        "{message}"
    );
    // The server's paths are the operator's business: in the log, never in the job.
    let data_dir = svc.data.path().to_string_lossy().into_owned();
    assert!(
        !message.contains(&data_dir) && !message.contains("jobs/"),
        "the job names a server path: {message}"
    );
    assert!(
        svc.log().contains(&format!("{data_dir}/jobs/{id}")),
        "the log should name the record's path"
    );
    // What was reported is what the disk holds: a restart changes nothing.
    svc.kill();
    svc.spawn().await;
    let again = svc.get(&id).await;
    assert_eq!(again["status"], "failed", "{again}");
    assert_eq!(again["error_message"], job["error_message"], "{again}");
    assert_eq!(again["successful_count"], job["successful_count"]);
    svc.kill();
}

/// A key of about `len` bytes in folders of 100 bytes (no file or folder name passes the
/// 255 bytes a disk allows), ending in `.flac`.
fn long_key(len: usize) -> String {
    let mut key = String::new();
    while len - key.len() > 105 {
        key.push_str(&"f".repeat(99));
        key.push('/');
    }
    key.push_str(&"k".repeat(len - key.len() - 5));
    key.push_str(".flac");
    key
}

/// Every path under `dir`, relative, sorted (links not followed).
fn tree(dir: &std::path::Path) -> Vec<String> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
            if std::fs::symlink_metadata(&path).unwrap().is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Runs a recognition job over `bucket` (results beside the inputs) and waits until it has
/// completed: its id and (total, successful, failed) counts.
async fn completed_job(
    svc: &Service,
    target: &common::S3Target,
    bucket: &str,
) -> (String, (u64, u64, u64)) {
    let id = svc
        .create_id(
            "function=recognize",
            common::form(&target.creds_file(), bucket, None),
        )
        .await;
    let (job, _) = svc.wait_final(&id, Duration::from_secs(300)).await;
    assert_eq!(job["status"], "completed", "{job}\n{}", svc.log());
    let count = |k: &str| job[k].as_u64().unwrap_or_else(|| panic!("no {k} in {job}"));
    let counts = (
        count("total_count"),
        count("successful_count"),
        count("failed_count"),
    );
    (id, counts)
}

/// Issue #15, defect 5, through the whole service on its own S3 end point: one unusual object
/// used to fail the whole batch, on every new job. Here a bucket holds a key of 700 bytes, a
/// bad file, and what a user may leave in the served folder (a name with a control character,
/// a link to a folder outside); keys with dot segments are refused at upload. The job completes
/// with exact counts over what can be served, nothing is written through the link, and the
/// odd files are left as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusual_objects_on_the_embedded_s3_cost_the_batch_nothing_but_themselves() {
    let svc = Service::start(Opts::default()).await;
    let target = svc.embedded_s3();
    let clip = short_clips()[0].1.clone();
    let long = long_key(700);
    target
        .fill(
            "unusual",
            vec![
                ("good.flac".to_string(), clip.clone()),
                (long.clone(), clip.clone()),
                ("bad.wav".to_string(), b"RIFF not really a wave".to_vec()),
            ],
        )
        .await;
    // Dot segments are refused at upload, and the server goes on serving.
    for key in ["../escape.wav", "a/../../escape.wav", "a/./b.wav", ".."] {
        let put = target
            .client()
            .put_object()
            .bucket("unusual")
            .key(key)
            .body(clip.clone().into())
            .send()
            .await;
        assert!(put.is_err(), "{key} was stored");
    }
    let folder = svc.data.path().join("buckets").join("unusual");
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("outside.flac"), &clip).unwrap();
    std::fs::write(folder.join("ctl\u{1}.flac"), &clip).unwrap();
    std::os::unix::fs::symlink(outside.path(), folder.join("linked")).unwrap();
    let inputs = target.input_hashes("unusual").await;
    assert_eq!(inputs.len(), 3, "{:?}", inputs.keys());

    let (id, counts) = completed_job(&svc, &target, "unusual").await;
    assert_eq!(counts, (3, 2, 1));
    let outputs = target.outputs("unusual").await;
    let mut want = vec![
        "bad.wav.notice".to_string(),
        "good.flac.json".to_string(),
        format!("{long}.json"),
    ];
    want.sort();
    assert_eq!(outputs.keys().cloned().collect::<Vec<_>>(), want);
    assert!(outputs.values().all(|b| b.as_deref() == Some(id.as_str())));
    let transcript: serde_json::Value =
        serde_json::from_slice(&target.read("unusual", &format!("{long}.json")).await).unwrap();
    assert!(
        transcript.to_string().contains("transcript"),
        "{transcript}"
    );
    // Inputs unchanged; nothing written through the link or beside the odd name.
    assert_eq!(target.input_hashes("unusual").await, inputs);
    assert_eq!(tree(outside.path()), ["outside.flac"]);
    assert_eq!(std::fs::read(folder.join("ctl\u{1}.flac")).unwrap(), clip);
    assert!(!tree(&folder)
        .iter()
        .any(|p| p.starts_with("ctl\u{1}.flac.")));
}

/// The same rules on another S3 server, which stores keys with control characters: such an
/// input fails with a `.notice` at its key with the character escaped, the rest of the batch
/// is recognised, and the counts are exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_with_control_characters_on_seaweedfs_fail_alone_with_a_notice_at_a_safe_key() {
    let weed = Seaweed::start().await;
    let target = weed.target.clone();
    let svc = Service::start(Opts::default()).await;
    let clip = short_clips()[0].1.clone();
    let long = long_key(900);
    let keys = [
        "good.flac",
        "x/ctl\u{1}.flac",
        "y/cr\r.flac",
        "z/del\u{7f}.flac",
    ];
    let mut objects: Vec<(String, Vec<u8>)> =
        keys.iter().map(|k| (k.to_string(), clip.clone())).collect();
    objects.push((long.clone(), clip.clone()));
    target.fill("ctl", objects).await;
    let inputs = target.keys("ctl").await;
    assert_eq!(inputs.len(), 5, "{inputs:?}");
    let (id, counts) = completed_job(&svc, &target, "ctl").await;
    assert_eq!(counts, (5, 2, 3));
    let outputs = target.outputs("ctl").await;
    let mut want = vec![
        "good.flac.json".to_string(),
        format!("{long}.json"),
        "x/ctl%01.flac.notice".to_string(),
        "y/cr%0D.flac.notice".to_string(),
        "z/del%7F.flac.notice".to_string(),
    ];
    want.sort();
    assert_eq!(outputs.keys().cloned().collect::<Vec<_>>(), want);
    assert!(outputs.values().all(|b| b.as_deref() == Some(id.as_str())));
    for notice in want.iter().filter(|k| k.ends_with(".notice")) {
        let body: serde_json::Value =
            serde_json::from_slice(&target.read("ctl", notice).await).unwrap();
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("control character")),
            "{notice}: {body}"
        );
    }
    // The inputs are still there, and nothing but one output per input was added.
    let mut all = inputs.clone();
    all.extend(want);
    all.sort();
    assert_eq!(target.keys("ctl").await, all);
    assert_eq!(target.read("ctl", "good.flac").await, clip);
}
