//! The speech analytics stage on a real S3 server (the embedded s3s-fs) with the real sentence
//! encoder: it rewrites exactly this batch's `.json` files, gives a file it cannot read a
//! `.notice` beside its `.json`, writes both archives, and run again (a restart mid-stage, a
//! retried pod) writes the same files and clears the notice of a file it can now read.

use std::io::Read;
use std::sync::Arc;

use crds::{BatchId, RecognitionParams};
use serde_json::{json, Value};
use speechbatch_analytics::{Analyzer, SentenceEncoder};
use speechbatch_storage::testing::{EmbeddedTestS3, ACCESS_KEY, SECRET_KEY};
use speechbatch_storage::{Bucket, Credentials, HmacCredentials, StorageConfig};
use speechbatch_worker::analytics::run_analytics;
use speechbatch_worker::BatchFiles;

/// A result JSON as recognition writes it, for turns of `(speaker, words)`.
fn result(turns: &[(i64, &str)]) -> Vec<u8> {
    let mut labels = Vec::new();
    let mut results = Vec::new();
    let mut t = 0.5;
    for (speaker, text) in turns {
        let mut stamps = Vec::new();
        for w in text.split_whitespace() {
            let label = json!({"from": t, "to": t + 0.3, "speaker": speaker, "confidence": 0.9, "final": false});
            stamps.push(json!([w, t, t + 0.3, label.clone()]));
            labels.push(label);
            t += 0.35;
        }
        t += 0.6;
        results.push(json!({"final": true, "alternatives": [{"transcript": format!("{text} "), "confidence": 0.93, "timestamps": stamps}]}));
    }
    serde_json::to_vec(&json!({"result_index": 0, "speaker_labels": labels, "results": results}))
        .unwrap()
}

const PHARMACY: &[(i64, &str)] = &[
    (0, "good morning Lakeside pharmacy how can I help"),
    (
        1,
        "hi I need to refill my blood pressure prescription before the weekend",
    ),
    (
        0,
        "of course the pharmacist will have the refill ready this afternoon",
    ),
    (1, "perfect thank you so much"),
];
const PHARMACY_2: &[(i64, &str)] = &[
    (0, "Lakeside pharmacy this is Ben"),
    (
        1,
        "my insurance no longer covers my prescription at the pharmacy and that makes no sense",
    ),
    (
        0,
        "I'm sorry your doctor can ask the pharmacy for a covered prescription",
    ),
    (1, "fine I will call my doctor about the prescription"),
];

async fn bucket(s3: &EmbeddedTestS3) -> Bucket {
    std::fs::create_dir_all(s3.root.path().join("calls")).unwrap();
    let creds = Credentials::Hmac(HmacCredentials {
        end_point: s3.endpoint(),
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
    });
    Bucket::connect(&creds, "calls", "us-geo", &StorageConfig::default())
        .await
        .unwrap()
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

fn zip_entry(zip: &[u8], name: &str) -> Vec<u8> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut f = z.by_name(name).unwrap();
    let mut out = Vec::new();
    f.read_to_end(&mut out).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stage_analyses_this_batch_only_and_runs_again_to_the_same_files() {
    let s3 = EmbeddedTestS3::start().await;
    let bucket = bucket(&s3).await;
    let files = BatchFiles {
        batch_id: BatchId::parse("b1").unwrap(),
        input: bucket.clone(),
        output: bucket.clone(),
        params: RecognitionParams {
            speech_analytics: true,
            ..Default::default()
        },
        vocabulary: None,
    };
    bucket
        .put_output("a.wav.json", result(PHARMACY), "b1")
        .await
        .unwrap();
    bucket
        .put_output("b.wav.json", result(PHARMACY_2), "b1")
        .await
        .unwrap();
    bucket
        .put_output("broken.wav.json", b"{not json".to_vec(), "b1")
        .await
        .unwrap();
    // Another batch's result: not this batch's to rewrite.
    let other = result(PHARMACY);
    bucket
        .put_output("old.wav.json", other.clone(), "b0")
        .await
        .unwrap();
    let analyzer = Arc::new(
        Analyzer::new(SentenceEncoder::load(&SentenceEncoder::default_dir(), 1).unwrap()).unwrap(),
    );

    let report = run_analytics(&files, Some(&analyzer)).await.unwrap();
    assert_eq!((report.analysed, report.failed), (2, 1));
    // The summary counts what the files got: two calls of four turns, one shared topic.
    let summary = report
        .summary
        .clone()
        .expect("a summary of what was analysed");
    assert_eq!((summary.files, summary.turns), (2, 8));
    assert_eq!(summary.sentiment.values().sum::<u64>(), 8);
    assert_eq!(summary.topics.len(), 1, "{summary:?}");
    assert_eq!(summary.topics[0].files, 2);
    assert!(
        summary
            .keywords
            .iter()
            .any(|k| k.text.contains("prescription")),
        "{summary:?}"
    );
    let a = json_of(&bucket.get("a.wav.json", 1 << 20).await.unwrap());
    assert!(a["results"].is_array(), "the transcript stays");
    let turns = a["speaker_turn_speech_analytics"].as_array().unwrap();
    assert_eq!(turns.len(), 4);
    assert_eq!(turns[1]["speaker"], 1);
    let b = json_of(&bucket.get("b.wav.json", 1 << 20).await.unwrap());
    assert_eq!(
        a["conversation_speech_analytics"], b["conversation_speech_analytics"],
        "two calls to one pharmacy about prescriptions share a topic"
    );
    // Turn ids run across the batch.
    let last_a = turns.last().unwrap()["speaker_turn_id"].as_u64().unwrap();
    let first_b = b["speaker_turn_speech_analytics"][0]["speaker_turn_id"]
        .as_u64()
        .unwrap();
    assert_eq!(first_b, last_a + 1);
    let notice = json_of(&bucket.get("broken.wav.notice", 1 << 20).await.unwrap());
    assert!(
        notice["error"].as_str().unwrap().contains("analytics"),
        "{notice}"
    );
    assert_eq!(
        bucket
            .output_batch_id("broken.wav.notice")
            .await
            .unwrap()
            .as_deref(),
        Some("b1")
    );
    assert_eq!(bucket.get("old.wav.json", 1 << 20).await.unwrap(), other);
    let conversation = bucket.get("Conversation.zip", 1 << 24).await.unwrap();
    assert_eq!(
        bucket
            .output_batch_id("Conversation.zip")
            .await
            .unwrap()
            .as_deref(),
        Some("b1")
    );
    assert!(bucket.get("Speaker.zip", 1 << 24).await.is_ok());

    // Again, as after a restart: the same files (the archives' data too), nothing doubled.
    let a_bytes = bucket.get("a.wav.json", 1 << 20).await.unwrap();
    // The broken file now reads (a retried shard rewrote it): its notice goes.
    bucket
        .put_output("broken.wav.json", result(PHARMACY), "b1")
        .await
        .unwrap();
    let report = run_analytics(&files, Some(&analyzer)).await.unwrap();
    assert_eq!((report.analysed, report.failed), (3, 0));
    let summary = report.summary.expect("a summary");
    assert_eq!((summary.files, summary.turns), (3, 12));
    assert!(
        bucket.get("broken.wav.notice", 1 << 20).await.is_err(),
        "stale notice removed"
    );
    let a_again = json_of(&bucket.get("a.wav.json", 1 << 20).await.unwrap());
    assert_eq!(
        a_again["speaker_turn_speech_analytics"][0]["speech_analytics"],
        json_of(&a_bytes)["speaker_turn_speech_analytics"][0]["speech_analytics"]
    );
    assert!(
        a_again
            .get("speaker_turn_speech_analytics")
            .unwrap()
            .as_array()
            .unwrap()
            .len()
            == 4,
        "analytics replaced, not appended"
    );
    let lines = |zip: &[u8]| {
        String::from_utf8(zip_entry(zip, "conversation_data.json"))
            .unwrap()
            .lines()
            .count()
    };
    assert_eq!(lines(&conversation), 2);
    assert_eq!(
        lines(&bucket.get("Conversation.zip", 1 << 24).await.unwrap()),
        3
    );

    // Without the encoder: every file keeps its .json and gets a notice saying why.
    let report = run_analytics(&files, None).await.unwrap();
    assert_eq!((report.analysed, report.failed), (0, 3));
    assert_eq!(report.summary, None, "nothing was analysed");
    let notice = json_of(&bucket.get("a.wav.notice", 1 << 20).await.unwrap());
    assert!(
        notice["error"].as_str().unwrap().contains("scripts/setup"),
        "{notice}"
    );
    assert!(bucket.get("a.wav.json", 1 << 20).await.is_ok());
}
