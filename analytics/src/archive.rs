//! `Conversation.zip` and `Speaker.zip`: the batch's analytics as files, at conversation and at
//! speaker-turn (utterance) level. The interface fixes the top-level files; the four topic-model
//! folders are ours (README, "Speech analytics"):
//!
//! - `<data>.topic_model/model.json`: the clusters (id, name, size, cohesion, key n-grams with
//!   weights, members) and the clustering's settings;
//! - `<data>.topic_predict/predictions.json`: each conversation's (or utterance's) topic;
//! - `<data>.topic_word_mapping_sentences/mapping.json`: per turn, the cluster's key words it
//!   contains;
//! - `<data>.topic_ngram_mapping_sentences/mapping.json`: per turn, the cluster's key n-grams
//!   (two words) it contains.

use std::collections::BTreeMap;
use std::io::Write;

use crds::analytics::{SentimentLabel, SpeakerTurn, ToneId, Topic};
use serde_json::{json, Map, Value};
use zip::write::SimpleFileOptions;

use crate::topics::{self, TopicModel};
use crate::BatchAnalytics;

pub use crds::analytics::{CONVERSATION_ZIP, SPEAKER_ZIP};

/// One bucket of a distribution: the ids in it, how many, and their mean score.
#[derive(Default)]
struct Bucket {
    set: Vec<Value>,
    scores: Vec<f64>,
}

impl Bucket {
    fn add(&mut self, id: Value, score: f64) {
        self.set.push(id);
        self.scores.push(score);
    }

    fn to_json(&self) -> Value {
        let n = self.scores.len();
        let score = if n == 0 {
            0.0
        } else {
            self.scores.iter().sum::<f64>() / n as f64
        };
        json!({"set": self.set, "count": n, "score": (score * 1000.0).round() / 1000.0})
    }
}

/// One item of a distribution: its id, sentiment and tones (with their scores).
struct Item {
    id: Value,
    sentiment: (SentimentLabel, f64),
    tones: Vec<(&'static str, f64)>,
}

fn distributions(items: &[&Item]) -> (Value, Value) {
    let mut sentiments: BTreeMap<&str, Bucket> = BTreeMap::new();
    for l in ["positive", "neutral", "negative"] {
        sentiments.insert(l, Bucket::default());
    }
    let mut tones: BTreeMap<&str, Bucket> = BTreeMap::new();
    for t in ToneId::ALL {
        tones.insert(t.name(), Bucket::default());
    }
    tones.insert("None", Bucket::default());
    for it in items {
        sentiments
            .get_mut(it.sentiment.0.as_str())
            .expect("every label")
            .add(it.id.clone(), it.sentiment.1);
        for (name, score) in &it.tones {
            tones
                .get_mut(name)
                .expect("every tone")
                .add(it.id.clone(), *score);
        }
    }
    let obj = |m: BTreeMap<&str, Bucket>| {
        Value::Object(
            m.into_iter()
                .map(|(k, b)| (k.to_owned(), b.to_json()))
                .collect(),
        )
    };
    (obj(sentiments), obj(tones))
}

/// The aggregated insights: distributions overall and per topic, with per-topic keywords.
fn insights(module: &str, items: &[Item], topic_of: &[Topic], keywords: &[Vec<String>]) -> Value {
    let all: Vec<&Item> = items.iter().collect();
    let (sentiments, tones) = distributions(&all);
    let mut by_topic: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, t) in topic_of.iter().enumerate() {
        by_topic.entry(t.topic_name.clone()).or_default().push(i);
    }
    let total = items.len().max(1) as f64;
    let topics: Vec<Value> = by_topic
        .iter()
        .map(|(name, members)| {
            let its: Vec<&Item> = members.iter().map(|&i| &items[i]).collect();
            let (s, t) = distributions(&its);
            let mut kw: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
            for &i in members {
                for k in &keywords[i] {
                    kw.entry(k.as_str()).or_default().push(i);
                }
            }
            let mut kw: Vec<(&str, Vec<usize>)> = kw.into_iter().collect();
            kw.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
            kw.truncate(20);
            let keywords: Vec<Value> = kw
                .into_iter()
                .map(|(k, ids)| {
                    let its: Vec<&Item> = ids.iter().map(|&i| &items[i]).collect();
                    let (s, t) = distributions(&its);
                    json!({"name": k, "total_number": ids.len(), "sentiments": s, "tones": t})
                })
                .collect();
            json!({
                "topic_id": name,
                "topic_size": ((members.len() as f64 / total) * 1000.0).round() / 1000.0,
                "topic_cohesion": 0.0,
                "total_number": members.len(),
                "sentiments": s,
                "tones": t,
                "keywords": keywords,
            })
        })
        .collect();
    json!({"Product Snapshot": {
        "analysis_time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "module": module,
        "insights": {
            "total_number": items.len(),
            "sentiments": sentiments,
            "tones": tones,
            "topics": topics,
        }
    }})
}

/// Writes the cohesion of each cluster into its topic entry (insights are built per topic
/// name; the model knows the cohesion).
fn with_cohesion(mut insights: Value, model: &TopicModel) -> Value {
    if let Some(topics) = insights["Product Snapshot"]["insights"]["topics"].as_array_mut() {
        for t in topics {
            if let Some(c) = model
                .clusters
                .iter()
                .find(|c| Some(c.topic.topic_name.as_str()) == t["topic_id"].as_str())
            {
                t["topic_cohesion"] = json!((f64::from(c.cohesion) * 1000.0).round() / 1000.0);
            }
        }
    }
    insights
}

fn turn_json(t: &SpeakerTurn) -> Value {
    serde_json::to_value(t).expect("serializes")
}

fn conversation_item(id: &str, turns: &[SpeakerTurn]) -> Item {
    let n = turns.len().max(1) as f64;
    let score = turns
        .iter()
        .map(|t| t.speech_analytics.sentiment.score)
        .sum::<f64>()
        / n;
    let mut tones: BTreeMap<&'static str, f64> = BTreeMap::new();
    for t in turns {
        for s in t.speech_analytics.tone.tones.iter().flatten() {
            let e = tones.entry(s.tone_id.name()).or_default();
            *e = e.max(s.score);
        }
    }
    let tones: Vec<(&'static str, f64)> = if tones.is_empty() {
        vec![("None", 0.0)]
    } else {
        tones.into_iter().collect()
    };
    Item {
        id: json!(id),
        sentiment: (crate::sentiment::label(score), score),
        tones,
    }
}

fn turn_item(t: &SpeakerTurn) -> Item {
    let tones = t
        .speech_analytics
        .tone
        .tones
        .iter()
        .flatten()
        .map(|s| (s.tone_id.name(), s.score))
        .collect::<Vec<_>>();
    Item {
        id: json!(t.speaker_turn_id),
        sentiment: (
            t.speech_analytics.sentiment.label,
            t.speech_analytics.sentiment.score,
        ),
        tones: if tones.is_empty() {
            vec![("None", 0.0)]
        } else {
            tones
        },
    }
}

fn summary_model(model: &TopicModel, documents: usize) -> Value {
    json!({
        "numberOfDocuments": documents,
        "documentFrequencies": model.document_frequencies,
        "minNgramSize": 1,
        "maxNgramSize": 2,
        "maxNgrams": topics::KEY_NGRAMS,
        "conversationDocumentProcessor": {
            "stopWordSet": "English function words and conversational formulas (speechbatch_analytics::stopwords)",
            "freqWordSet": [],
            "minWordsPerUtterance": topics::MIN_TURN_WORDS,
            "channelIdentifiersToIgnore": [],
            "numTurnsToRemove": 0,
        },
        "conversationNGramProcessor": {
            "beginningRatio": 0.0,
            "beginningWeightingFactor": 1.0,
            "beginningMinCount": 1,
            "restWeightingFactor": 1.0,
            "restMinCount": 1,
        },
    })
}

fn model_json(model: &TopicModel, ids: &[String]) -> Value {
    json!({
        "model_id": topics::MODEL_ID,
        "method": "average-linkage agglomerative clustering of all-MiniLM-L6-v2 conversation embeddings (cosine)",
        "merge_similarity": topics::MERGE_SIMILARITY,
        "min_conversation_words": topics::MIN_CONVERSATION_WORDS,
        "clusters": model.clusters.iter().map(|c| json!({
            "cluster_id": c.topic.cluster_id,
            "topic_name": c.topic.topic_name,
            "size": c.members.len(),
            "cohesion": (f64::from(c.cohesion) * 1000.0).round() / 1000.0,
            "key_ngrams": c.key_ngrams.iter().map(|(g, w)| json!({"ngram": g, "weight": (w * 1000.0).round() / 1000.0})).collect::<Vec<_>>(),
            "members": c.members.iter().map(|&m| ids[m].clone()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// The key words and n-grams of `topic` found in `text`.
fn mapping(model: &TopicModel, topic: &Topic, text: &str) -> (Vec<String>, Vec<String>) {
    let Some(c) = model.clusters.iter().find(|c| &c.topic == topic) else {
        return (Vec::new(), Vec::new());
    };
    let grams = topics::ngrams(text);
    let mut words = Vec::new();
    let mut pairs = Vec::new();
    for (g, _) in &c.key_ngrams {
        if grams.contains_key(g) {
            if g.contains(' ') {
                pairs.push(g.clone());
            } else {
                words.push(g.clone());
            }
        }
    }
    (words, pairs)
}

/// A zip of `(name, bytes)` entries.
fn zip(entries: Vec<(String, Vec<u8>)>) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        w.start_file(name, opts)
            .expect("an in-memory zip accepts entries");
        w.write_all(&bytes).expect("writes to memory");
    }
    w.finish().expect("an in-memory zip finishes").into_inner()
}

fn pretty(v: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(v).expect("serializes")
}

/// The four topic-model folders of an archive whose data file is `data`.
fn topic_folders(
    data: &str,
    model: &TopicModel,
    ids: &[String],
    predictions: Value,
    sentences: Vec<(Value, &str, Topic)>,
) -> Vec<(String, Vec<u8>)> {
    let mut words = Vec::new();
    let mut ngrams = Vec::new();
    for (id, text, topic) in sentences {
        let (w, n) = mapping(model, &topic, text);
        words.push(json!({"id": id, "sentence": text, "topic_name": topic.topic_name, "words": w}));
        ngrams
            .push(json!({"id": id, "sentence": text, "topic_name": topic.topic_name, "ngrams": n}));
    }
    vec![
        (
            format!("{data}.topic_model/model.json"),
            pretty(&model_json(model, ids)),
        ),
        (
            format!("{data}.topic_predict/predictions.json"),
            pretty(&predictions),
        ),
        (
            format!("{data}.topic_word_mapping_sentences/mapping.json"),
            pretty(&Value::Array(words)),
        ),
        (
            format!("{data}.topic_ngram_mapping_sentences/mapping.json"),
            pretty(&Value::Array(ngrams)),
        ),
    ]
}

/// What an archive collects, one entry per conversation (or utterance), before it is written.
#[derive(Default)]
struct Collected<'a> {
    /// The data file's bytes (`conversation_data.json` lines, `utterance_data.csv` rows).
    data: Vec<u8>,
    /// The transcripts file's elements.
    transcripts: Vec<Value>,
    /// Sentiment and tones, for the insights.
    items: Vec<Item>,
    /// Topics, for the insights.
    topic_of: Vec<Topic>,
    /// Keywords, for the insights.
    keywords: Vec<Vec<String>>,
    /// Each one's topic, for `topic_predict`.
    predictions: Map<String, Value>,
    /// Each turn, for the mapping folders.
    sentences: Vec<(Value, &'a str, Topic)>,
}

impl Collected<'_> {
    /// The archive: `data` and its summary model, `<level>_aggregated_insights.json`,
    /// `<level>_transcripts.json`, and the topic-model folders.
    fn into_zip(self, data: &str, level: &str, batch: &BatchAnalytics) -> Vec<u8> {
        let insights = with_cohesion(
            insights(level, &self.items, &self.topic_of, &self.keywords),
            &batch.model,
        );
        let mut entries = vec![
            (data.to_owned(), self.data),
            (
                format!("{data}.summary_model.json"),
                pretty(&summary_model(&batch.model, batch.ids.len())),
            ),
            (
                format!("{level}_aggregated_insights.json"),
                pretty(&insights),
            ),
            (
                format!("{level}_transcripts.json"),
                pretty(&Value::Array(self.transcripts)),
            ),
        ];
        entries.extend(topic_folders(
            data,
            &batch.model,
            &batch.ids,
            Value::Object(self.predictions),
            self.sentences,
        ));
        zip(entries)
    }
}

/// `Conversation.zip`.
pub fn conversation_zip(batch: &BatchAnalytics) -> Vec<u8> {
    const DATA: &str = "conversation_data.json";
    let mut c = Collected::default();
    for (id, f) in batch.ids.iter().zip(&batch.files) {
        let utterances: Vec<Value> = f
            .turns
            .iter()
            .zip(&f.confidences)
            .map(|(t, confidence)| {
                json!({
                    "utteranceStartTime": (t.from * 1000.0).round() as i64,
                    "utterance": t.transcript,
                    "channel": t.speaker.to_string(),
                    "confidence": (confidence * 1000.0).round() / 1000.0,
                })
            })
            .collect();
        let line = json!({"documentId": id, "utterances": utterances});
        c.data
            .extend(serde_json::to_vec(&line).expect("serializes"));
        c.data.push(b'\n');
        let item = conversation_item(id, &f.turns);
        let topic = f.conversation.topics[0].clone();
        c.transcripts.push(json!({
            "id": id,
            "transcript": f.turns.iter().map(|t| t.transcript.clone()).collect::<Vec<_>>(),
            "topic": topic.topic_name,
            "tone": item.tones.iter().filter(|(n, _)| *n != "None").map(|(n, s)| json!({"score": format!("{s:.3}"), "tone_name": n})).collect::<Vec<_>>(),
            "sentiment": [{"label": item.sentiment.0.as_str(), "score": format!("{:.3}", item.sentiment.1)}],
            "content": f.turns.iter().map(turn_json).collect::<Vec<_>>(),
        }));
        c.predictions.insert(
            id.clone(),
            serde_json::to_value(&topic).expect("serializes"),
        );
        for t in &f.turns {
            c.sentences.push((
                json!(t.speaker_turn_id),
                t.transcript.as_str(),
                topic.clone(),
            ));
        }
        c.keywords.push(
            f.turns
                .iter()
                .flat_map(|t| t.speech_analytics.keywords.iter().map(|k| k.text.clone()))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
        );
        c.topic_of.push(topic);
        c.items.push(item);
    }
    c.into_zip(DATA, "conversation", batch)
}

/// Quotes a CSV cell (RFC 4180).
fn csv_cell(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// `Speaker.zip`.
pub fn speaker_zip(batch: &BatchAnalytics) -> Vec<u8> {
    const DATA: &str = "utterance_data.csv";
    let mut csv = String::from("utterance_id,sentiment,tone,keywords\n");
    let mut c = Collected::default();
    for (id, f) in batch.ids.iter().zip(&batch.files) {
        for t in &f.turns {
            let a = &t.speech_analytics;
            let cell = |v: Value| csv_cell(&v.to_string());
            csv.push_str(&format!(
                "{},{},{},{}\n",
                t.speaker_turn_id,
                cell(serde_json::to_value(&a.sentiment).expect("serializes")),
                cell(serde_json::to_value(&a.tone).expect("serializes")),
                cell(serde_json::to_value(&a.keywords).expect("serializes")),
            ));
            c.transcripts.push(json!({
                "id": t.speaker_turn_id,
                "transcript": t.transcript,
                "content": [turn_json(t)],
            }));
            let topic = a.topics.first().cloned().unwrap_or_else(Topic::unknown);
            c.predictions.insert(
                t.speaker_turn_id.to_string(),
                json!({"conversation": id, "topic": topic}),
            );
            c.sentences.push((
                json!(t.speaker_turn_id),
                t.transcript.as_str(),
                topic.clone(),
            ));
            c.keywords
                .push(a.keywords.iter().map(|k| k.text.clone()).collect());
            c.topic_of.push(topic);
            c.items.push(turn_item(t));
        }
    }
    c.data = csv.into_bytes();
    c.into_zip(DATA, "utterance", batch)
}
