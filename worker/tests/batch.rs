//! The worker on a real S3 server (the embedded s3s-fs) with a fake recognizer: what a user
//! finds in the output bucket, and the counts (audio included), for good files, bad files, a
//! recognizer that panics, a resumed shard and a stop before the end. No models: these run in
//! milliseconds.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crds::{
    BatchId, ErrorBody, FileOutcome, FinishedFile, RecognitionParams, ShardCounts, ShardRange,
};
use speechbatch_storage::testing::{EmbeddedTestS3, ACCESS_KEY, SECRET_KEY};
use speechbatch_storage::{Bucket, Credentials, HmacCredentials, StorageConfig};
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
    let s3 = EmbeddedTestS3::start().await;
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
