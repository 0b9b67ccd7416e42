//! The worker on a real S3 server (the embedded s3s-fs) with a fake recognizer: what a user
//! finds in the output bucket, and the counts (audio included), for good files, bad files, a
//! recognizer that panics, a resumed shard, a stop before the end, and inputs whose keys
//! cannot have outputs beside them (also on SeaweedFS). No models: these run in milliseconds.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crds::{
    BatchId, ErrorBody, FileOutcome, FinishedFile, RecognitionParams, ShardCounts, ShardRange,
};
use speechbatch_storage::testing::{EmbeddedTestS3, ACCESS_KEY, SECRET_KEY};
use speechbatch_storage::{
    output_key, Bucket, Credentials, HmacCredentials, OutputKind, StorageConfig,
};
use speechbatch_worker::{run_shard, BatchFiles, Recognized, Recognizer, ShardEnd};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Recognises `good*` keys (as a second of audio per byte of the object, so that lengths are
/// known), refuses `bad*` keys with a 400 and panics on `panic*` keys; counts its calls per key.
#[derive(Default)]
struct FakeRecognizer {
    calls: Mutex<BTreeMap<String, u32>>,
}

impl Recognizer for FakeRecognizer {
    fn recognize(
        &self,
        audio: Vec<u8>,
        name: &str,
        params: &RecognitionParams,
        _vocabulary: Option<&crds::customization::Vocabulary>,
    ) -> Result<Recognized, ErrorBody> {
        *self
            .calls
            .lock()
            .unwrap()
            .entry(name.to_owned())
            .or_default() += 1;
        let file = name.rsplit('/').next().unwrap_or(name);
        if file.starts_with("panic") {
            panic!("a bug in the engine on {name}");
        }
        if file.starts_with("bad") {
            return Err(ErrorBody::new(400, format!("{name} is not audio")));
        }
        Ok(Recognized {
            json: serde_json::to_vec(&serde_json::json!({
                "bytes": audio.len(),
                "model": params.model.as_str(),
            }))
            .unwrap(),
            audio_seconds: audio.len() as f64,
        })
    }
}

struct Fixture {
    s3: EmbeddedTestS3,
    bucket: Bucket,
    fake: Arc<FakeRecognizer>,
    recognizer: Arc<dyn Recognizer>,
}

async fn fixture(objects: &[&str]) -> Fixture {
    fixture_on(EmbeddedTestS3::start().await, objects).await
}

/// Writes each object of `objects` (key = path in the bucket's folder) into `s3`'s bucket
/// `calls`.
async fn fixture_on(s3: EmbeddedTestS3, objects: &[&str]) -> Fixture {
    let dir = s3.root.path().join("calls");
    for key in objects {
        let path = dir.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("audio of {key}")).unwrap();
    }
    let creds = Credentials::Hmac(HmacCredentials {
        end_point: s3.endpoint(),
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
    });
    let bucket = Bucket::connect(&creds, "calls", "us-geo", &StorageConfig::default())
        .await
        .unwrap();
    let fake = Arc::new(FakeRecognizer::default());
    let recognizer: Arc<dyn Recognizer> = fake.clone();
    Fixture {
        s3,
        bucket,
        fake,
        recognizer,
    }
}

impl Fixture {
    fn files(&self, batch: &str) -> BatchFiles {
        BatchFiles {
            batch_id: BatchId::parse(batch).unwrap(),
            input: self.bucket.clone(),
            output: self.bucket.clone(),
            params: RecognitionParams::default(),
            vocabulary: None,
        }
    }

    async fn run(
        &self,
        batch: &str,
        resume: bool,
    ) -> (ShardCounts, ShardEnd, Vec<(String, FinishedFile)>) {
        let mut seen = Vec::new();
        let (counts, end) = run_shard(
            &self.recognizer,
            &self.files(batch),
            &ShardRange::default(),
            resume,
            &Semaphore::new(1),
            &CancellationToken::new(),
            |key, file| {
                seen.push((key, file));
                async {}
            },
        )
        .await
        .unwrap();
        (counts, end, seen)
    }

    fn read(&self, key: &str) -> Option<String> {
        std::fs::read_to_string(self.s3.root.path().join("calls").join(key)).ok()
    }
}

#[tokio::test]
async fn each_input_gets_a_json_or_a_notice_and_a_panicking_file_does_not_stop_the_shard() {
    let f = fixture(&["a/good1.wav", "b/bad.mp3", "c/panic.flac", "d/good2.wav"]).await;
    let (counts, end, seen) = f.run("batch-1", false).await;
    assert_eq!(end, ShardEnd::Complete);
    assert_eq!((counts.successful, counts.failed), (2, 2));
    // "audio of a/good1.wav" and "audio of d/good2.wav": 20 bytes, 20 s each; failed files
    // add nothing.
    assert_eq!(counts.audio_ms, 40_000);
    assert_eq!(seen.len(), 4);
    assert_eq!(
        seen.iter()
            .map(|(key, file)| (key.as_str(), file.outcome, file.audio_ms))
            .collect::<Vec<_>>(),
        [
            ("a/good1.wav", FileOutcome::Succeeded, 20_000),
            ("b/bad.mp3", FileOutcome::Failed, 0),
            ("c/panic.flac", FileOutcome::Failed, 0),
            ("d/good2.wav", FileOutcome::Succeeded, 20_000),
        ]
    );
    let json: serde_json::Value =
        serde_json::from_str(&f.read("d/good2.wav.json").unwrap()).unwrap();
    assert_eq!(json["model"], "en-US_BroadbandModel");
    let bad: ErrorBody = serde_json::from_str(&f.read("b/bad.mp3.notice").unwrap()).unwrap();
    assert_eq!(
        (bad.code, bad.error.as_str()),
        (400, "b/bad.mp3 is not audio")
    );
    let panicked: ErrorBody =
        serde_json::from_str(&f.read("c/panic.flac.notice").unwrap()).unwrap();
    assert_eq!(panicked.code, 500);
    assert!(f.read("c/panic.flac.json").is_none());
    assert_eq!(
        f.read("a/good1.wav").as_deref(),
        Some("audio of a/good1.wav"),
        "inputs are never modified"
    );
}

#[tokio::test]
async fn a_resumed_shard_counts_what_its_batch_finished_without_redoing_it() {
    let f = fixture(&["good1.wav", "bad1.wav", "good2.wav"]).await;
    let (first, _, _) = f.run("batch-1", false).await;
    assert_eq!(first.audio_ms, 36_000);
    let (again, _, _) = f.run("batch-1", true).await;
    // The same files counted; their audio is not measured again, so it adds nothing.
    assert_eq!(
        again,
        ShardCounts {
            audio_ms: 0,
            ..first
        }
    );
    assert!(
        f.fake.calls.lock().unwrap().values().all(|&n| n == 1),
        "no file was recognised twice: {:?}",
        f.fake.calls.lock().unwrap()
    );
    // Another batch over the same bucket does not count the first batch's outputs.
    let (other, _, _) = f.run("batch-2", true).await;
    assert_eq!(other, first, "recognised again: its audio counts again");
    assert!(f.fake.calls.lock().unwrap().values().all(|&n| n == 2));
}

#[tokio::test]
async fn a_stopped_shard_starts_no_new_file() {
    let f = fixture(&["good1.wav", "good2.wav"]).await;
    let stop = CancellationToken::new();
    let mut seen = 0;
    let (counts, end) = run_shard(
        &f.recognizer,
        &f.files("batch-1"),
        &ShardRange::default(),
        false,
        &Semaphore::new(1),
        &stop,
        |_, file| {
            assert_eq!(file.outcome, FileOutcome::Succeeded);
            seen += 1;
            stop.cancel();
            async {}
        },
    )
    .await
    .unwrap();
    assert_eq!((end, counts.done(), seen), (ShardEnd::Stopped, 1, 1));
    assert!(f.read("good2.wav.json").is_none());
}

/// Every path under `dir`, relative, sorted (links not followed).
fn tree(dir: &std::path::Path) -> Vec<String> {
    fn walk(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            out.push(
                e.path()
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
            if e.file_type().unwrap().is_dir() {
                walk(base, &e.path(), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Inputs whose keys cannot have outputs beside them: `a/../b.wav` and `c/./d.wav` (listed by
/// a stand-in for S3 servers that store such keys; the embedded server and SeaweedFS refuse
/// them), a control character, a file name so long that its `.notice` would be over 255 bytes,
/// a key so long that its `.notice` would be over 1024 bytes; beside good files and a long key
/// that is fine. Each unsafe input fails with a notice at its escaped key, is never read,
/// nothing lands outside the bucket's folder, and a resumed shard counts them without redoing
/// them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_whose_keys_cannot_have_outputs_beside_them_fail_with_a_notice_at_a_safe_key() {
    let long_name = format!("f/{}.wav", "n".repeat(246));
    let long_key = format!("{}good-deep.wav", "d/".repeat(505));
    let long_ok = format!("{}/good-long.wav", "l".repeat(250));
    let s3 = EmbeddedTestS3::start_listing_as(&[
        ("a/.._/b.wav", "a/../b.wav"),
        ("c/._/d.wav", "c/./d.wav"),
        ("e/ctl!.wav", "e/ctl\u{1}.wav"),
    ])
    .await;
    let f = fixture_on(
        s3,
        &[
            "good1.wav",
            "a/.._/b.wav",
            "c/._/d.wav",
            "e/ctl!.wav",
            &long_name,
            &long_key,
            &long_ok,
        ],
    )
    .await;
    let (counts, end, seen) = f.run("batch-1", false).await;
    assert_eq!(end, ShardEnd::Complete);
    assert_eq!(
        (counts.successful, counts.failed, seen.len()),
        (2, 5, 7),
        "{seen:?}"
    );
    let unsafe_keys = [
        "a/../b.wav",
        "c/./d.wav",
        "e/ctl\u{1}.wav",
        &long_name,
        &long_key,
    ];
    for key in unsafe_keys {
        assert!(
            seen.iter()
                .any(|(k, file)| k == key && file.outcome == FileOutcome::Failed),
            "{key:?}: {seen:?}"
        );
    }
    // The notices, at the escaped keys (hashed for the keys too long to escape).
    let escaped = ["a/%2E%2E/b.wav", "c/%2E/d.wav", "e/ctl%01.wav"];
    for (key, at) in unsafe_keys.iter().zip(escaped) {
        assert_eq!(output_key(key, OutputKind::Notice), format!("{at}.notice"));
    }
    for key in unsafe_keys {
        let at = output_key(key, OutputKind::Notice);
        let body: ErrorBody = serde_json::from_str(
            &f.read(&at)
                .unwrap_or_else(|| panic!("no notice at {at:?} for {key:?}")),
        )
        .unwrap();
        assert_eq!(body.code, 400);
        assert!(
            body.error.contains(&format!("'{}'", key.escape_debug()))
                && body.error.contains(&format!("'{at}'")),
            "{}",
            body.error
        );
        assert_eq!(
            f.bucket.output_batch_id(&at).await.unwrap().as_deref(),
            Some("batch-1")
        );
    }
    let hashed = output_key(&long_key, OutputKind::Notice);
    assert!(hashed.len() <= 1024 && hashed.contains('~'), "{hashed}");
    assert!(f.read(&format!("{long_ok}.json")).is_some());
    assert!(f.read(&format!("{long_name}.notice")).is_none());
    assert!(f.read("good1.wav.json").is_some());
    // Unsafe inputs were neither recognised nor read.
    let recognised: Vec<String> = f.fake.calls.lock().unwrap().keys().cloned().collect();
    assert_eq!(recognised, ["good1.wav", long_ok.as_str()]);
    for key in unsafe_keys {
        assert!(
            !f.s3
                .requests()
                .iter()
                .any(|r| r.starts_with("GET /calls/") && r.contains(&key.replace('\u{1}', "%01"))),
            "{key:?} was read"
        );
    }
    // Nothing outside the bucket's folder but the server's own attribute files.
    let root = f.s3.root.path();
    for path in tree(root) {
        assert!(
            path == "calls"
                || path.starts_with("calls/")
                || path.starts_with(".bucket-")
                || path.starts_with(".speechbatch-long-keys"),
            "{path}"
        );
    }
    assert!(!root.join("calls/b.wav").exists() && !root.join("calls/b.wav.notice").exists());

    // A resumed shard counts every file from its output, recognising nothing again.
    let (again, _, _) = f.run("batch-1", true).await;
    assert_eq!(
        again,
        ShardCounts {
            audio_ms: 0,
            ..counts
        }
    );
    assert!(f.fake.calls.lock().unwrap().values().all(|&n| n == 1));
}

/// On SeaweedFS (another S3 server, which stores and lists such keys): keys with control
/// characters are listed exactly and fail with a notice at their escaped key; counts are exact
/// and stay so on a resumed shard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_with_control_characters_fail_with_a_notice_on_seaweedfs() {
    use speechbatch_storage::testing::{SeaweedFs, LOCATION};
    let weed = SeaweedFs::start(ACCESS_KEY, SECRET_KEY).await;
    let client = weed.client();
    client.create_bucket().bucket("calls").send().await.unwrap();
    let keys = ["good.wav", "x/ctl\u{1}.wav", "x/tab\t.wav", "y/cr\r.wav"];
    for key in keys {
        client
            .put_object()
            .bucket("calls")
            .key(key)
            .body(format!("audio of {key}").into_bytes().into())
            .send()
            .await
            .unwrap();
    }
    let creds = Credentials::Hmac(HmacCredentials {
        end_point: weed.endpoint(),
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
    });
    let bucket = Bucket::connect(&creds, "calls", LOCATION, &StorageConfig::default())
        .await
        .unwrap();
    let fake = Arc::new(FakeRecognizer::default());
    let recognizer: Arc<dyn Recognizer> = fake.clone();
    let files = BatchFiles {
        batch_id: BatchId::parse("batch-1").unwrap(),
        input: bucket.clone(),
        output: bucket.clone(),
        params: RecognitionParams::default(),
        vocabulary: None,
    };
    let run = |resume| {
        let (recognizer, files) = (recognizer.clone(), files.clone());
        async move {
            run_shard(
                &recognizer,
                &files,
                &ShardRange::default(),
                resume,
                &Semaphore::new(1),
                &CancellationToken::new(),
                |_, _| async {},
            )
            .await
            .unwrap()
        }
    };
    let (counts, end) = run(false).await;
    assert_eq!(end, ShardEnd::Complete);
    assert_eq!((counts.successful, counts.failed), (1, 3));
    for (key, at) in [
        ("x/ctl\u{1}.wav", "x/ctl%01.wav.notice"),
        ("x/tab\t.wav", "x/tab%09.wav.notice"),
        ("y/cr\r.wav", "y/cr%0D.wav.notice"),
    ] {
        assert_eq!(output_key(key, OutputKind::Notice), at);
        let body: ErrorBody =
            serde_json::from_slice(&bucket.get(at, 10_000).await.unwrap()).unwrap();
        assert!(body.error.contains("control character"), "{}", body.error);
    }
    let mut listed = bucket.list_keys("").await.unwrap();
    listed.sort();
    let mut want = [
        "good.wav",
        "good.wav.json",
        "x/ctl%01.wav.notice",
        "x/ctl\u{1}.wav",
        "x/tab%09.wav.notice",
        "x/tab\t.wav",
        "y/cr%0D.wav.notice",
        "y/cr\r.wav",
    ];
    want.sort();
    assert_eq!(listed, want);
    assert_eq!(
        fake.calls.lock().unwrap().keys().collect::<Vec<_>>(),
        ["good.wav"]
    );
    let (again, _) = run(true).await;
    assert_eq!((again.successful, again.failed, again.audio_ms), (1, 3, 0));
    assert_eq!(fake.calls.lock().unwrap()["good.wav"], 1);
}
