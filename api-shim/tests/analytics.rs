//! Speech analytics through the real `speechbatch` binary (embedded backend): a batch with
//! `speech_analytics=true` over service calls writes each `.json` with the conversation's topic
//! and every speaker turn's tones, sentiment, keywords and topic, in the interface's shapes;
//! calls about the same matter share a topic and calls about different matters do not; the
//! counts are those of recognition; `Conversation.zip` and `Speaker.zip` hold their files; a
//! batch without the option gets none of it; and `POST /v1/recognize` refuses the option.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::time::Duration;

use common::*;
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(600);
const TONES: [&str; 7] = [
    "excited",
    "frustrated",
    "impolite",
    "polite",
    "sad",
    "satisfied",
    "sympathetic",
];

/// The files of a zip, by name.
fn unzip(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).unwrap();
        out.insert(f.name().to_string(), buf);
    }
    out
}

fn check_topic(t: &Value) {
    for f in ["cluster_id", "model_id", "topic_name"] {
        assert!(t[f].is_string(), "{f}: {t}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_speech_analytics_gets_turns_topics_and_archives() {
    let svc = Service::start(Opts {
        workers: 2,
        ..Default::default()
    })
    .await;
    let s3 = svc.embedded_s3();
    let calls = ["dev_call01", "dev_call02", "dev_call05", "dev_call06"];
    let mut inputs: Vec<(String, Vec<u8>)> = calls
        .iter()
        .map(|c| {
            (
                format!("calls/{c}.flac"),
                read_testdata(&format!("analytics/{c}.flac")),
            )
        })
        .collect();
    inputs.push((
        "calls/broken.flac".into(),
        read_testdata("bad/truncated.flac"),
    ));
    s3.fill("analytics-in", inputs).await;

    let job = svc
        .create(
            "function=recognize&speech_analytics=true",
            form(&s3.creds_file(), "analytics-in", None),
        )
        .await;
    let id = job["batch_id"].as_str().unwrap().to_string();
    let (job, _) = svc.wait_final(&id, TIMEOUT).await;
    assert_eq!(
        job["status"],
        "completed",
        "{job}\n{}",
        tail(&svc.log(), 40)
    );
    // Analytics changes no count: four recognised, one notice.
    assert_eq!(job["total_count"], 5, "{job}");
    assert_eq!(job["successful_count"], 4, "{job}");
    assert_eq!(job["failed_count"], 1, "{job}");

    let mut turn_ids = BTreeSet::new();
    let mut topic_of: BTreeMap<&str, String> = BTreeMap::new();
    let mut turns_total = 0;
    for c in calls {
        let out: Value = serde_json::from_slice(
            &s3.read("analytics-in", &format!("calls/{c}.flac.json"))
                .await,
        )
        .unwrap();
        assert!(
            out["results"].as_array().is_some_and(|r| !r.is_empty()),
            "{c}: transcript kept"
        );
        let conv = &out["conversation_speech_analytics"]["topics"][0];
        check_topic(conv);
        assert_ne!(
            conv["cluster_id"], "unknown",
            "{c}: a 25-second call has a topic"
        );
        topic_of.insert(c, format!("{}/{}", conv["cluster_id"], conv["model_id"]));
        let turns = out["speaker_turn_speech_analytics"].as_array().unwrap();
        assert!(
            turns.len() >= 4,
            "{c}: a two-sided call has turns: {turns:?}"
        );
        let mut speakers = BTreeSet::new();
        for t in turns {
            turns_total += 1;
            assert!(
                turn_ids.insert(t["speaker_turn_id"].as_u64().unwrap()),
                "ids unique in the batch"
            );
            speakers.insert(t["speaker"].as_i64().unwrap());
            let (from, to) = (t["from"].as_f64().unwrap(), t["to"].as_f64().unwrap());
            assert!(from <= to, "{t}");
            assert!(!t["transcript"].as_str().unwrap().is_empty());
            let a = &t["speech_analytics"];
            let tone = &a["tone"];
            assert_eq!(tone["utterance_id"], t["speaker_turn_id"]);
            for x in tone["tones"].as_array().unwrap() {
                let s = x["score"].as_f64().unwrap();
                assert!((0.5..=1.0).contains(&s), "only tones of 0.5 or more: {x}");
                assert!(TONES.contains(&x["tone_id"].as_str().unwrap()), "{x}");
            }
            let score = a["sentiment"]["score"].as_f64().unwrap();
            let label = a["sentiment"]["label"].as_str().unwrap();
            assert!((-1.0..=1.0).contains(&score));
            let want = if score >= 0.05 {
                "positive"
            } else if score <= -0.05 {
                "negative"
            } else {
                "neutral"
            };
            assert_eq!(label, want, "{t}");
            for k in a["keywords"].as_array().unwrap() {
                assert!(
                    (0.0..=1.0).contains(&k["relevance"].as_f64().unwrap()),
                    "{k}"
                );
                assert!(k["count"].as_u64().unwrap() >= 1, "{k}");
            }
            check_topic(&a["topics"][0]);
        }
        assert_eq!(speakers.len(), 2, "{c}: both parties have turns");
    }
    // Calls about the same matter share a topic; calls about different matters do not.
    assert_eq!(
        topic_of["dev_call01"], topic_of["dev_call02"],
        "{topic_of:?}"
    );
    assert_eq!(
        topic_of["dev_call05"], topic_of["dev_call06"],
        "{topic_of:?}"
    );
    assert_ne!(
        topic_of["dev_call01"], topic_of["dev_call05"],
        "{topic_of:?}"
    );

    // The archives at the root of the output bucket, tagged with the batch.
    let keys = s3.keys("analytics-in").await;
    for z in ["Conversation.zip", "Speaker.zip"] {
        assert!(keys.contains(&z.to_string()), "{keys:?}");
        assert_eq!(
            s3.batch_of("analytics-in", z).await.as_deref(),
            Some(id.as_str())
        );
    }
    let conv = unzip(&s3.read("analytics-in", "Conversation.zip").await);
    for f in [
        "conversation_data.json",
        "conversation_data.json.summary_model.json",
        "conversation_aggregated_insights.json",
        "conversation_transcripts.json",
    ] {
        assert!(conv.contains_key(f), "{f}: {:?}", conv.keys());
    }
    for folder in [
        "topic_model",
        "topic_predict",
        "topic_word_mapping_sentences",
        "topic_ngram_mapping_sentences",
    ] {
        let prefix = format!("conversation_data.json.{folder}/");
        assert!(conv.keys().any(|k| k.starts_with(&prefix)), "{prefix}");
    }
    let lines: Vec<Value> = String::from_utf8(conv["conversation_data.json"].clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "one line per recognised call");
    assert!(lines
        .iter()
        .all(|l| l["documentId"].is_string() && l["utterances"][0]["utteranceStartTime"].is_i64()));
    let insights: Value =
        serde_json::from_slice(&conv["conversation_aggregated_insights.json"]).unwrap();
    let i = &insights["Product Snapshot"]["insights"];
    assert_eq!(i["total_number"], 4);
    let sentiment_total: u64 = ["positive", "neutral", "negative"]
        .iter()
        .map(|l| i["sentiments"][l]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        sentiment_total, 4,
        "every conversation in one sentiment bucket"
    );
    assert_eq!(
        i["topics"].as_array().unwrap().len(),
        2,
        "two matters: {}",
        i["topics"]
    );
    let transcripts: Value =
        serde_json::from_slice(&conv["conversation_transcripts.json"]).unwrap();
    assert_eq!(transcripts.as_array().unwrap().len(), 4);

    let speaker = unzip(&s3.read("analytics-in", "Speaker.zip").await);
    for f in [
        "utterance_data.csv",
        "utterance_data.csv.summary_model.json",
        "utterance_aggregated_insights.json",
        "utterance_transcripts.json",
    ] {
        assert!(speaker.contains_key(f), "{f}: {:?}", speaker.keys());
    }
    let csv = String::from_utf8(speaker["utterance_data.csv"].clone()).unwrap();
    assert_eq!(
        csv.lines().next(),
        Some("utterance_id,sentiment,tone,keywords")
    );
    assert_eq!(csv.lines().count(), 1 + turns_total, "one row per turn");

    // The job record keeps, for the admin console, the analytics in brief (what the archives
    // hold) and the audio recognised: the four calls' 109.18 s, nothing for the broken file.
    let record: Value =
        serde_json::from_slice(&std::fs::read(svc.record_path(&id)).unwrap()).unwrap();
    let summary = &record["analytics"];
    assert_eq!(summary["files"], 4, "{summary}");
    assert_eq!(
        summary["turns"].as_u64(),
        Some(turns_total as u64),
        "{summary}"
    );
    let topic_files: Vec<u64> = summary["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["files"].as_u64().unwrap())
        .collect();
    assert_eq!(
        topic_files,
        [2, 2],
        "two matters, two calls each: {summary}"
    );
    assert_eq!(
        summary["sentiment"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum::<u64>(),
        turns_total as u64,
        "{summary}"
    );
    assert!(
        !summary["keywords"].as_array().unwrap().is_empty(),
        "{summary}"
    );
    let audio_ms: u64 = record["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["audio_ms"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        (108_900..=109_500).contains(&audio_ms),
        "{audio_ms} ms: {record}"
    );

    // Without the option: the same JSON as ever, no archives.
    s3.fill(
        "plain-in",
        vec![(
            "call.flac".into(),
            read_testdata("analytics/dev_call05.flac"),
        )],
    )
    .await;
    let job = svc
        .create(
            "function=recognize",
            form(&s3.creds_file(), "plain-in", None),
        )
        .await;
    let id = job["batch_id"].as_str().unwrap().to_string();
    let (job, _) = svc.wait_final(&id, TIMEOUT).await;
    assert_eq!(job["status"], "completed", "{job}");
    let out: Value = serde_json::from_slice(&s3.read("plain-in", "call.flac.json").await).unwrap();
    assert!(out.get("speaker_turn_speech_analytics").is_none());
    assert!(out.get("conversation_speech_analytics").is_none());
    assert_eq!(
        s3.keys("plain-in").await.len(),
        2,
        "the input and its .json only"
    );

    // One file has no batch to find topics across: refused, saying what to do.
    let r = svc
        .authed(
            svc.http
                .post(svc.url("/v1/recognize?speech_analytics=true")),
        )
        .body(read_testdata("analytics/dev_call05.flac"))
        .send()
        .await
        .unwrap();
    let (st, body) = checked_as(r, "ErrorBody").await;
    assert_eq!(st.as_u16(), 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("batch"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canceled_batch_gets_analytics_for_the_files_it_finished() {
    let svc = Service::start(Opts {
        workers: 1,
        ..Default::default()
    })
    .await;
    let s3 = svc.embedded_s3();
    let inputs: Vec<(String, Vec<u8>)> = (0..4)
        .flat_map(|copy| {
            ["dev_call01", "dev_call05", "dev_call06"].map(|c| {
                (
                    format!("{copy}/{c}.flac"),
                    read_testdata(&format!("analytics/{c}.flac")),
                )
            })
        })
        .collect();
    s3.fill("cancel-in", inputs).await;
    let job = svc
        .create(
            "function=recognize&speech_analytics=true",
            form(&s3.creds_file(), "cancel-in", None),
        )
        .await;
    let id = job["batch_id"].as_str().unwrap().to_string();
    speechbatch_testkit::wait_for("a first file recognised", TIMEOUT, async || {
        (s3.outputs_of("cancel-in", &id).await.0 >= 1).then_some(())
    })
    .await;
    let canceled = svc.cancel(&id).await;
    assert_eq!(canceled["status"], "canceled", "{canceled}");
    // The archives come once the files in flight are done, and cover exactly those finished.
    let conversation = speechbatch_testkit::wait_for("the archives", TIMEOUT, async || {
        let keys = s3.keys("cancel-in").await;
        if !keys.iter().any(|k| k == "Speaker.zip") {
            return None;
        }
        Some(s3.read("cancel-in", "Conversation.zip").await)
    })
    .await;
    let (finished, _) = s3.outputs_of("cancel-in", &id).await;
    assert!(finished < 12, "canceled before the end: {finished} of 12");
    let conv = unzip(&conversation);
    let lines = String::from_utf8(conv["conversation_data.json"].clone())
        .unwrap()
        .lines()
        .count() as u64;
    assert_eq!(lines, finished, "one conversation per finished file");
    // The canceled job's record gets the summary of what was analysed, saved just after the
    // archives are written.
    let summary = speechbatch_testkit::wait_for("the analytics summary", TIMEOUT, async || {
        let record: Value =
            serde_json::from_slice(&std::fs::read(svc.record_path(&id)).ok()?).ok()?;
        record.get("analytics").cloned()
    })
    .await;
    assert_eq!(summary["files"].as_u64(), Some(finished), "{summary}");
    let job = svc.get(&id).await;
    assert_eq!(job["status"], "canceled", "{job}");
}
