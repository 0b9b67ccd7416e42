//! `speechbatch-shard` as a Kubernetes Job's pod runs it: configured by the environment the
//! operator writes (`crds::shard::ShardEnv`), reading and writing a real S3 endpoint (the
//! project's embedded s3s-fs), reporting its counts in the termination message, exact on a
//! retry, and exiting with `ShardExit::Permanent` on a request error retrying cannot fix; the
//! analytics stage reporting the batch's summary there. On SeaweedFS (a second, independent
//! server that can be stopped and started again): a bucket server that goes away is waited out
//! in the process, within the storage retry window, and one that stays away past it ends the
//! shard with `ShardExit::Transient`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crds::customization::{Vocabulary, VocabularyWord};
use crds::shard::{env, ShardBucket, ShardEnv, ShardExit, ShardVocabulary};
use crds::{BatchId, RecognitionParams};
use speechbatch_storage::embedded_s3::EmbeddedS3;
use speechbatch_storage::testing::SeaweedFs;
use speechbatch_storage::{plan_shards, Bucket, Credentials, HmacCredentials, StorageConfig};
use speechbatch_testkit::testdata;

const ACCESS: &str = "shard-test-access";
const SECRET: &str = "shard-test-secret-key-0123456789";

struct Shard {
    bounds: Vec<String>,
    creds: PathBuf,
    dir: tempfile::TempDir,
    /// The key of the batch's vocabulary in the model store (bucket `models`), if any.
    vocabulary: Option<String>,
}

/// The embedded S3 server over `root` (each folder a bucket), and its credentials, also written
/// as a credentials file in `dir` (as the shard reads them from a mounted Secret).
async fn serve(root: &Path, dir: &Path) -> (EmbeddedS3, Credentials, PathBuf) {
    let s3 = EmbeddedS3::start(
        root.to_path_buf(),
        "127.0.0.1:0".parse().unwrap(),
        Some((ACCESS, SECRET)),
    )
    .await
    .unwrap();
    let creds = Credentials::Hmac(HmacCredentials {
        end_point: s3.endpoint(),
        access_key: ACCESS.into(),
        secret_key: SECRET.into(),
    });
    let creds_path = dir.join("credentials.json");
    std::fs::write(&creds_path, creds.to_json()).unwrap();
    (s3, creds, creds_path)
}

impl Shard {
    fn run(&self, index: usize, batch: &str) -> (i32, serde_json::Value) {
        self.run_with(index, batch, &[])
    }

    /// [`Shard::run`] with more variables (`SPEECHBATCH_STAGE`).
    fn run_with(
        &self,
        index: usize,
        batch: &str,
        vars: &[(&str, &str)],
    ) -> (i32, serde_json::Value) {
        let (mut command, log) = self.command(index, batch, vars);
        let status = command.status().expect("speechbatch-shard runs");
        (status.code().unwrap_or(-1), termination_message(&log))
    }

    /// The command of a shard pod with the operator's environment and `vars`, and where its
    /// termination message goes.
    fn command(&self, index: usize, batch: &str, vars: &[(&str, &str)]) -> (Command, PathBuf) {
        let log = self.dir.path().join(format!("termination-{index}-{batch}"));
        let bucket = ShardBucket {
            name: "calls".into(),
            location: "us-geo".into(),
            credentials_path: self.creds.display().to_string(),
        };
        let shard_env = ShardEnv {
            batch_id: BatchId::parse(batch).unwrap(),
            bounds: self.bounds.clone(),
            params: RecognitionParams {
                smart_formatting: true,
                ..Default::default()
            },
            input: bucket.clone(),
            output: bucket,
            iam_token_url: None,
            vocabulary: self.vocabulary.as_ref().map(|object| ShardVocabulary {
                store: ShardBucket {
                    name: "models".into(),
                    location: "us-geo".into(),
                    credentials_path: self.creds.display().to_string(),
                },
                object: object.clone(),
            }),
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_speechbatch-shard"));
        command
            .envs(shard_env.to_vars())
            .env(env::COMPLETION_INDEX, index.to_string())
            .env(env::TERMINATION_LOG, &log)
            .env("SPEECHBATCH_THREADS", "2")
            .envs(vars.iter().copied());
        (command, log)
    }
}

/// The termination message a shard left at `log`.
fn termination_message(log: &Path) -> serde_json::Value {
    let report = std::fs::read_to_string(log).expect("a termination message");
    assert!(
        report.len() <= crds::shard::TERMINATION_MESSAGE_MAX_BYTES,
        "{report}"
    );
    serde_json::from_str(&report).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn shards_cover_the_bucket_once_report_exact_tallies_and_skip_finished_files_on_retry() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s3");
    let bucket_dir = root.join("calls/day1");
    std::fs::create_dir_all(&bucket_dir).unwrap();
    for clip in ["clip01.flac", "clip02.flac"] {
        std::fs::copy(testdata(&format!("asr/{clip}")), bucket_dir.join(clip)).unwrap();
    }
    std::fs::copy(testdata("bad/notes.mp3"), root.join("calls/notes.mp3")).unwrap();
    let (s3, creds, creds_path) = serve(&root, dir.path()).await;
    let bucket = Bucket::connect(&creds, "calls", "us-geo", &StorageConfig::default())
        .await
        .unwrap();
    let plan = plan_shards(&bucket, 2).await.unwrap();
    assert_eq!((plan.total, plan.len()), (3, 2));

    let shard = Shard {
        bounds: plan.bounds.clone(),
        creds: creds_path.clone(),
        dir,
        vocabulary: None,
    };
    let mut succeeded = 0;
    let mut failed = 0;
    let mut audio_ms = 0;
    for i in 0..plan.len() {
        let (code, report) = tokio::task::block_in_place(|| shard.run(i, "batch-a"));
        assert_eq!(code, 0, "{report}");
        assert_eq!(report["index"], i);
        succeeded += report["successful"].as_u64().unwrap();
        failed += report["failed"].as_u64().unwrap();
        audio_ms += report["audio_ms"].as_u64().unwrap_or(0);
    }
    assert_eq!((succeeded, failed), (2, 1), "two clips and one bad file");
    assert!(audio_ms > 2000, "two clips of speech: {audio_ms} ms");
    assert!(root.join("calls/day1/clip01.flac.json").exists());
    assert!(root.join("calls/notes.mp3.notice").exists());
    let json_time = std::fs::metadata(root.join("calls/day1/clip01.flac.json"))
        .unwrap()
        .modified()
        .unwrap();

    // A retried index of the same batch counts what it finished instead of redoing it.
    let last = plan.len() - 1;
    let (code, again) = tokio::task::block_in_place(|| shard.run(last, "batch-a"));
    assert_eq!(code, 0);
    let (c0, first) = tokio::task::block_in_place(|| shard.run(0, "batch-a"));
    assert_eq!(c0, 0);
    assert_eq!(
        again["successful"].as_u64().unwrap() + first["successful"].as_u64().unwrap(),
        2
    );
    // Files counted from their outputs are not measured again: no audio.
    assert!(again.get("audio_ms").is_none() && first.get("audio_ms").is_none());
    assert_eq!(
        std::fs::metadata(root.join("calls/day1/clip01.flac.json"))
            .unwrap()
            .modified()
            .unwrap(),
        json_time,
        "a finished file is not processed again"
    );

    // A wrong secret is a permanent error: exit 3 with a message and no secret in it.
    let mut wrong = creds.to_json();
    let text = String::from_utf8(wrong.clone())
        .unwrap()
        .replace(SECRET, "not-the-secret-0000");
    wrong = text.into_bytes();
    std::fs::write(&creds_path, wrong).unwrap();
    let (code, report) = tokio::task::block_in_place(|| shard.run(0, "batch-b"));
    assert_eq!(code, i32::from(ShardExit::Permanent.code()), "{report}");
    let message = report["error"].as_str().unwrap();
    assert!(
        !message.contains("not-the-secret") && !message.contains(SECRET),
        "{message}"
    );
    drop(s3);
}

/// A batch naming a custom language model: the shard reads its frozen vocabulary from the model
/// store and writes the model's word; a vocabulary it cannot read fails the shard permanently,
/// naming the object.
#[tokio::test(flavor = "multi_thread")]
async fn a_shard_recognises_with_the_batchs_vocabulary_from_the_model_store() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s3");
    std::fs::create_dir_all(root.join("calls")).unwrap();
    std::fs::create_dir_all(root.join("models/batches/batch-v")).unwrap();
    std::fs::copy(testdata("custom/dev04.flac"), root.join("calls/dev04.flac")).unwrap();
    let vocabulary = Vocabulary {
        customization_id: "products".into(),
        trained: crds::Timestamp::now(),
        base_model_name: crds::ModelName::Broadband,
        customization_weight: Some(0.5),
        words: vec![VocabularyWord {
            display_as: "Nimbra".into(),
            spellings: vec!["Nimbra".into(), "nim bra".into()],
            count: 3,
        }],
    };
    std::fs::write(
        root.join("models/batches/batch-v/vocabulary.json"),
        serde_json::to_vec(&vocabulary).unwrap(),
    )
    .unwrap();
    let (_s3, _, creds_path) = serve(&root, dir.path()).await;

    let missing = Shard {
        bounds: vec!["dev04.flac".into()],
        creds: creds_path.clone(),
        dir: tempfile::tempdir().unwrap(),
        vocabulary: Some("batches/other/vocabulary.json".into()),
    };
    let (code, report) = tokio::task::block_in_place(|| missing.run(0, "batch-v"));
    assert_eq!(code, i32::from(ShardExit::Permanent.code()), "{report}");
    let error = report["error"].as_str().unwrap();
    assert!(
        error.contains("custom language model") && error.contains("batches/other/vocabulary.json"),
        "{error}"
    );
    assert!(!root.join("calls/dev04.flac.json").exists(), "no file ran");

    let shard = Shard {
        bounds: vec!["dev04.flac".into()],
        creds: creds_path,
        dir,
        vocabulary: Some("batches/batch-v/vocabulary.json".into()),
    };
    let (code, report) = tokio::task::block_in_place(|| shard.run(0, "batch-v"));
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["successful"], 1, "{report}");
    let result = std::fs::read_to_string(root.join("calls/dev04.flac.json")).unwrap();
    assert!(result.contains("Nimbra"), "{result}");
}

/// The analytics stage as the operator's analytics Job runs it: zero counts, and the batch's
/// analytics in brief in the termination message.
#[tokio::test(flavor = "multi_thread")]
async fn the_analytics_stage_reports_the_batchs_summary_in_its_termination_message() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s3");
    std::fs::create_dir_all(root.join("calls")).unwrap();
    let (s3, creds, creds_path) = serve(&root, dir.path()).await;
    let bucket = Bucket::connect(&creds, "calls", "us-geo", &StorageConfig::default())
        .await
        .unwrap();
    // Two recognised calls of two turns each, as recognition writes them.
    for (key, turns) in [
        (
            "a.wav.json",
            [
                "good morning Lakeside pharmacy how can I help",
                "I need to refill my blood pressure prescription",
            ],
        ),
        (
            "b.wav.json",
            [
                "Lakeside pharmacy this is Ben",
                "my insurance no longer covers my prescription",
            ],
        ),
    ] {
        bucket
            .put_output(key, result(&turns), "batch-s")
            .await
            .unwrap();
    }
    let shard = Shard {
        bounds: vec!["b.wav".into()],
        creds: creds_path,
        dir,
        vocabulary: None,
    };
    let (code, report) = tokio::task::block_in_place(|| {
        shard.run_with(0, "batch-s", &[(env::STAGE, crds::shard::STAGE_ANALYTICS)])
    });
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        (&report["successful"], &report["failed"]),
        (&0.into(), &0.into())
    );
    let message: crds::shard::TerminationMessage = serde_json::from_value(report.clone()).unwrap();
    let crds::shard::TerminationMessage::Finished {
        analytics: Some(summary),
        ..
    } = message
    else {
        panic!("no summary: {report}");
    };
    assert_eq!((summary.files, summary.turns), (2, 4), "{report}");
    assert_eq!(summary.topics.iter().map(|t| t.files).sum::<u64>(), 2);
    drop(s3);
}

/// A result JSON as recognition writes it: one turn per text, speakers alternating.
fn result(turns: &[&str]) -> Vec<u8> {
    let mut labels = Vec::new();
    let mut results = Vec::new();
    let mut t = 0.5;
    for (i, text) in turns.iter().enumerate() {
        let speaker = i % 2;
        let mut stamps = Vec::new();
        for w in text.split_whitespace() {
            let label = serde_json::json!({"from": t, "to": t + 0.3, "speaker": speaker, "confidence": 0.9, "final": false});
            stamps.push(serde_json::json!([w, t, t + 0.3, label.clone()]));
            labels.push(label);
            t += 0.35;
        }
        t += 0.6;
        results.push(serde_json::json!({"final": true, "alternatives": [{"transcript": format!("{text} "), "confidence": 0.93, "timestamps": stamps}]}));
    }
    serde_json::to_vec(
        &serde_json::json!({"result_index": 0, "speaker_labels": labels, "results": results}),
    )
    .unwrap()
}

/// Unusual objects in the embedded server's folder do not fail the shard: a clip at a key of
/// over 300 bytes is recognised and gets its `.json` (with the batch id) beside it; a file
/// whose `.notice` would have a name over 255 bytes fails with a notice at a shorter, hashed
/// key; a file with a control character and a link to a folder outside are left out of the
/// listing. The counts are exact, and stay so when the index is retried.
#[tokio::test(flavor = "multi_thread")]
async fn unusual_objects_neither_fail_the_shard_nor_escape_the_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s3");
    let calls = root.join("calls");
    let long_key = format!("{}/clip01.flac", ["recordings"; 30].join("/"));
    assert!(long_key.len() > 300);
    let long_name = format!("f/{}.flac", "n".repeat(245));
    std::fs::create_dir_all(calls.join(&long_key).parent().unwrap()).unwrap();
    std::fs::create_dir_all(calls.join("f")).unwrap();
    std::fs::copy(testdata("asr/clip01.flac"), calls.join(&long_key)).unwrap();
    std::fs::copy(testdata("asr/clip02.flac"), calls.join(&long_name)).unwrap();
    std::fs::copy(testdata("asr/clip02.flac"), calls.join("ctl\u{1}.flac")).unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::copy(testdata("asr/clip02.flac"), outside.path().join("x.flac")).unwrap();
    std::os::unix::fs::symlink(outside.path(), calls.join("linked")).unwrap();
    let (s3, creds, creds_path) = serve(&root, dir.path()).await;
    let config = StorageConfig {
        endpoint_policy: speechbatch_storage::EndpointPolicy::default()
            .allow("127.0.0.0/8".parse().unwrap()),
        ..StorageConfig::default()
    };
    let bucket = Bucket::connect(&creds, "calls", "us-geo", &config)
        .await
        .unwrap();
    let plan = plan_shards(&bucket, 1).await.unwrap();
    assert_eq!(
        plan.total, 2,
        "the control character and the link are left out"
    );
    let shard = Shard {
        bounds: plan.bounds.clone(),
        creds: creds_path,
        dir,
        vocabulary: None,
    };
    let allow = [("SPEECHBATCH_ENDPOINT_ALLOW", "127.0.0.0/8")];
    let (code, report) = tokio::task::block_in_place(|| shard.run_with(0, "batch-a", &allow));
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        (report["successful"].as_u64(), report["failed"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );
    let json_key = format!("{long_key}.json");
    let result: serde_json::Value =
        serde_json::from_slice(&bucket.get(&json_key, 1 << 20).await.unwrap()).unwrap();
    assert!(
        !result["results"].as_array().unwrap().is_empty(),
        "{result}"
    );
    assert_eq!(
        bucket.output_batch_id(&json_key).await.unwrap().as_deref(),
        Some("batch-a")
    );
    let notice =
        speechbatch_storage::output_key(&long_name, speechbatch_storage::OutputKind::Notice);
    assert!(
        notice.starts_with("f/nnn") && notice.contains('~'),
        "{notice}"
    );
    let body: crds::ErrorBody =
        serde_json::from_slice(&bucket.get(&notice, 10_000).await.unwrap()).unwrap();
    assert!(body.error.contains("255 bytes"), "{}", body.error);
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        1,
        "nothing written through the link"
    );
    let json_time = std::fs::metadata(calls.join(&json_key))
        .unwrap()
        .modified()
        .unwrap();

    // A retried index counts both files from their outputs and recognises nothing again.
    let (code, again) = tokio::task::block_in_place(|| shard.run_with(0, "batch-a", &allow));
    assert_eq!(code, 0, "{again}");
    assert_eq!(
        (again["successful"].as_u64(), again["failed"].as_u64()),
        (Some(1), Some(1)),
        "{again}"
    );
    assert_eq!(
        std::fs::metadata(calls.join(&json_key))
            .unwrap()
            .modified()
            .unwrap(),
        json_time
    );
    drop(s3);
}

/// A SeaweedFS bucket `calls` holding `clips` of the test clips at `day1/clipNN.flac`, and a
/// credentials file for it in `dir`.
async fn seaweed_bucket(clips: usize, dir: &Path) -> (SeaweedFs, Credentials, PathBuf) {
    let weed = SeaweedFs::start(ACCESS, SECRET).await;
    let client = weed.client();
    client.create_bucket().bucket("calls").send().await.unwrap();
    for i in 1..=clips {
        let clip = format!("clip{i:02}.flac");
        client
            .put_object()
            .bucket("calls")
            .key(format!("day1/{clip}"))
            .body(
                std::fs::read(testdata(&format!("asr/{clip}")))
                    .unwrap()
                    .into(),
            )
            .send()
            .await
            .unwrap();
    }
    let creds = Credentials::Hmac(HmacCredentials {
        end_point: weed.endpoint(),
        access_key: ACCESS.into(),
        secret_key: SECRET.into(),
    });
    let creds_path = dir.join("credentials.json");
    std::fs::write(&creds_path, creds.to_json()).unwrap();
    (weed, creds, creds_path)
}

/// The bucket server goes away after the shard finished its first file and comes back: the
/// shard retries in its process (no exit, so the Job spends none of its retries), finishes the
/// range with one output per input, never recognises a file twice, and reports exact counts.
#[tokio::test(flavor = "multi_thread")]
async fn a_shard_waits_out_a_bucket_server_that_goes_away_and_finishes_with_exact_counts() {
    const CLIPS: usize = 6;
    let dir = tempfile::tempdir().unwrap();
    let (mut weed, creds, creds_path) = seaweed_bucket(CLIPS, dir.path()).await;
    let bucket = Bucket::connect(&creds, "calls", "us-geo", &StorageConfig::default())
        .await
        .unwrap();
    let plan = plan_shards(&bucket, 1).await.unwrap();
    assert_eq!(plan.total, CLIPS as u64);
    let shard = Shard {
        bounds: plan.bounds.clone(),
        creds: creds_path,
        dir,
        vocabulary: None,
    };
    let log = shard.dir.path().join("shard.log");
    // Retries from 100 ms on, for up to two minutes: the outage is a few seconds.
    let (mut command, termination) = shard.command(
        0,
        "batch-o",
        &[
            ("SPEECHBATCH_STORAGE_RETRY_WINDOW_S", "120"),
            ("SPEECHBATCH_STORAGE_RETRY_DELAY_MS", "100"),
            ("RUST_LOG", "info"),
        ],
    );
    let mut child = command
        .stderr(std::fs::File::create(&log).unwrap())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("speechbatch-shard runs");
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    // Down once the first file is done, with files still to go.
    speechbatch_testkit::wait_until(
        "the shard to finish a file",
        Duration::from_secs(300),
        async || log_text().contains("file finished"),
    )
    .await;
    weed.stop();
    speechbatch_testkit::wait_until("the shard to retry", Duration::from_secs(120), async || {
        log_text().contains("may pass; retrying")
    })
    .await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the shard waits in its process:\n{}",
        log_text()
    );
    weed.restart().await;
    let status =
        speechbatch_testkit::wait_for("the shard to exit", Duration::from_secs(300), async || {
            child.try_wait().unwrap()
        })
        .await;
    let report = termination_message(&termination);
    assert_eq!(status.code(), Some(0), "{report}\n{}", log_text());
    assert_eq!(
        (report["successful"].as_u64(), report["failed"].as_u64()),
        (Some(CLIPS as u64), Some(0)),
        "{report}"
    );
    // The audio of the files finished before the outage counts too.
    assert!(report["audio_ms"].as_u64().unwrap_or(0) > 0, "{report}");
    // No file was recognised twice (a file counted from its output logs no "file finished").
    let mut recognised: Vec<String> = log_text()
        .lines()
        .filter(|l| l.contains("file finished"))
        .filter_map(|l| l.split("key=").nth(1))
        .map(|rest| rest.split(['}', ' ', ':']).next().unwrap().to_owned())
        .collect();
    let all = recognised.len();
    recognised.sort();
    recognised.dedup();
    assert_eq!(
        recognised.len(),
        all,
        "a file recognised twice: {recognised:?}"
    );
    // One output per input, this batch's.
    for i in 1..=CLIPS {
        let json = format!("day1/clip{i:02}.flac.json");
        assert_eq!(
            bucket.output_batch_id(&json).await.unwrap().as_deref(),
            Some("batch-o"),
            "{json}"
        );
    }
    let outputs = weed
        .client()
        .list_objects_v2()
        .bucket("calls")
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter(|o| {
            o.key()
                .is_some_and(|k| k.ends_with(".json") || k.ends_with(".notice"))
        })
        .count();
    assert_eq!(outputs, CLIPS);
}

/// A bucket that stays unreachable past the window (2 s here): the shard gives up and exits
/// with the transient code, for the Job to retry the index, its message saying how long it
/// retried.
#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_unreachable_past_the_window_ends_the_shard_as_transient_saying_it_retried() {
    let dir = tempfile::tempdir().unwrap();
    let closed = speechbatch_storage::testing::closed_addr();
    let creds = Credentials::Hmac(HmacCredentials {
        end_point: format!("http://{closed}"),
        access_key: ACCESS.into(),
        secret_key: SECRET.into(),
    });
    let creds_path = dir.path().join("credentials.json");
    std::fs::write(&creds_path, creds.to_json()).unwrap();
    let shard = Shard {
        bounds: vec!["day1/clip01.flac".into()],
        creds: creds_path,
        dir,
        vocabulary: None,
    };
    let (code, report) = tokio::task::block_in_place(|| {
        shard.run_with(
            0,
            "batch-u",
            &[
                ("SPEECHBATCH_STORAGE_RETRY_WINDOW_S", "2"),
                ("SPEECHBATCH_STORAGE_RETRY_DELAY_MS", "100"),
            ],
        )
    });
    assert_eq!(code, i32::from(ShardExit::Transient.code()), "{report}");
    let error = report["error"].as_str().unwrap();
    assert!(error.contains(&closed.to_string()), "{error}");
    // The window, or a little more: the attempt that ends it may itself take a moment (the
    // S3 client's own attempts).
    let retried_s: u64 = error
        .strip_suffix(" s)")
        .and_then(|e| e.rsplit_once("(still failing after retrying for "))
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or_else(|| panic!("no retry time in: {error}"));
    assert!((2..60).contains(&retried_s), "{error}");
}
