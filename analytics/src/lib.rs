//! Speech analytics of a batch's recognised files (`speech_analytics=true`).
//!
//! Per file: [`turns`] cuts the result into speaker turns; each turn gets its [`sentiment`]
//! (VADER), [`keywords`] (YAKE), [`tone`] (our cue model) and a topic. Across the batch:
//! [`topics`] clusters the conversations by what they are about, with the [`encoder`]'s MiniLM
//! embeddings, and names each cluster by its key n-grams. [`archive`] writes the batch's
//! `Conversation.zip` and `Speaker.zip`; [`summary`] counts the batch's analytics in a few
//! numbers for the admin console.
//!
//! Everything here is a pure function of the batch's result JSON (and the encoder's weights),
//! so a stage that is interrupted and run again produces the same files.

#![warn(missing_docs)]

pub mod archive;
pub mod encoder;
pub mod keywords;
pub mod sentiment;
pub mod stopwords;
pub mod summary;
pub mod tone;
pub mod topics;
pub mod turns;

use crds::analytics::{ConversationAnalytics, SpeakerTurn, TurnAnalytics};
use serde_json::Value;

pub use encoder::{EncoderError, SentenceEncoder};
pub use topics::TopicModel;

/// The top-level fields analytics adds to a `<file>.json`.
pub const CONVERSATION_FIELD: &str = "conversation_speech_analytics";
/// The per-turn field.
pub const TURNS_FIELD: &str = "speaker_turn_speech_analytics";

/// One recognised file of the batch.
#[derive(Debug, Clone)]
pub struct Document {
    /// The input's key (the conversation's id in the archives).
    pub id: String,
    /// Its `<file>.json`, as recognition wrote it (analytics fields, if any, are ignored).
    pub result: Value,
}

/// A file's analytics.
#[derive(Debug, Clone, PartialEq)]
pub struct FileAnalytics {
    /// `conversation_speech_analytics`.
    pub conversation: ConversationAnalytics,
    /// `speaker_turn_speech_analytics`.
    pub turns: Vec<SpeakerTurn>,
    /// The confidence of each turn (for the archives' utterances).
    pub confidences: Vec<f64>,
}

/// The analytics of a whole batch.
#[derive(Debug, Clone)]
pub struct BatchAnalytics {
    /// The documents' ids, in the order of `files`.
    pub ids: Vec<String>,
    /// Each document's analytics.
    pub files: Vec<FileAnalytics>,
    /// The batch's topic model.
    pub model: TopicModel,
}

/// What every service call says whatever it is about: greetings, identification, thanks,
/// hold, goodbye. Their mean embedding is the direction removed from each turn's, so that
/// conversations are compared on what is particular to them.
pub const GENERIC_CALL: &[&str] = &[
    "thank you for calling how can I help you today",
    "good afternoon this is customer service",
    "can I have your name and date of birth please",
    "is there anything else I can help you with",
    "thank you so much have a nice day",
    "okay thank you bye",
    "hello hi how are you",
    "let me check that for you one moment please",
    "I understand I'm sorry about that",
    "yes that's right",
];

/// The analytics engine: the sentence encoder behind the topics (the rest needs no model).
pub struct Analyzer {
    encoder: SentenceEncoder,
    /// The unit direction of [`GENERIC_CALL`].
    generic: Vec<f32>,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer").finish_non_exhaustive()
    }
}

impl Analyzer {
    /// An analyzer over a loaded encoder.
    pub fn new(encoder: SentenceEncoder) -> Result<Self, EncoderError> {
        let e = encoder.encode(GENERIC_CALL)?;
        let mut mean = vec![0f32; encoder::DIM];
        for v in &e {
            mean.iter_mut().zip(v).for_each(|(m, x)| *m += x);
        }
        Ok(Self {
            encoder,
            generic: encoder::normalised(mean),
        })
    }

    /// The analyzer of the encoder set-up built (`$SPEECHBATCH_MODELS/minilm-l6-v2`), on
    /// `threads` threads.
    pub fn load_default(threads: usize) -> Result<Self, EncoderError> {
        Self::new(SentenceEncoder::load(
            &SentenceEncoder::default_dir(),
            threads.max(1),
        )?)
    }

    /// `e` without its component along the generic direction, unit length.
    fn specific(&self, mut e: Vec<f32>) -> Vec<f32> {
        let along = encoder::cosine(&e, &self.generic);
        e.iter_mut()
            .zip(&self.generic)
            .for_each(|(x, g)| *x -= along * g);
        encoder::normalised(e)
    }

    /// Analyses the batch's documents (in the order given; turn ids are numbered across them in
    /// that order, so give them in a stable order, e.g. by key).
    pub fn analyse(&self, documents: &[Document]) -> Result<BatchAnalytics, EncoderError> {
        let turns: Vec<Vec<turns::Turn>> =
            documents.iter().map(|d| turns::turns(&d.result)).collect();
        let texts: Vec<String> = turns
            .iter()
            .map(|ts| {
                ts.iter()
                    .map(turns::Turn::transcript)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        // Turn embeddings for turns long enough to be about something, without the generic
        // component of service calls.
        let turn_texts: Vec<String> = turns
            .iter()
            .flatten()
            .map(turns::Turn::transcript)
            .collect();
        let long: Vec<usize> = (0..turn_texts.len())
            .filter(|&i| topics::content_words(&turn_texts[i]).len() >= topics::MIN_TURN_WORDS)
            .collect();
        let long_refs: Vec<&str> = long.iter().map(|&i| turn_texts[i].as_str()).collect();
        let long_embeddings = self.encoder.encode(&long_refs)?;
        let mut turn_embedding: Vec<Option<Vec<f32>>> = vec![None; turn_texts.len()];
        for (i, e) in long.into_iter().zip(long_embeddings) {
            turn_embedding[i] = Some(self.specific(e));
        }
        // A conversation is the mean of its turns that are about something (of its whole text
        // when none is).
        let mut doc_embeddings = Vec::with_capacity(documents.len());
        let mut first = 0;
        for (ts, text) in turns.iter().zip(&texts) {
            let mine = &turn_embedding[first..first + ts.len()];
            first += ts.len();
            let mut sum = vec![0f32; encoder::DIM];
            let mut n = 0;
            for e in mine.iter().flatten() {
                sum.iter_mut().zip(e).for_each(|(s, x)| *s += x);
                n += 1;
            }
            doc_embeddings.push(if n > 0 {
                encoder::normalised(sum)
            } else {
                let whole = self.encoder.encode(&[text.as_str()])?.remove(0);
                self.specific(whole)
            });
        }
        let model = topics::build(&texts, &doc_embeddings);

        let mut next_id: u64 = 0;
        let mut files = Vec::with_capacity(documents.len());
        for (doc, doc_turns) in turns.iter().enumerate() {
            let mut out = Vec::with_capacity(doc_turns.len());
            let mut confidences = Vec::with_capacity(doc_turns.len());
            for t in doc_turns {
                let id = next_id;
                next_id += 1;
                let transcript = t.transcript();
                let sentiment = sentiment::sentiment(&transcript);
                let topic = match &turn_embedding[id as usize] {
                    Some(e) => model.topic_of_turn(e, topics::content_words(&transcript).len()),
                    None => crds::analytics::Topic::unknown(),
                };
                out.push(SpeakerTurn {
                    from: t.from(),
                    to: t.to(),
                    speaker: t.speaker,
                    speaker_turn_id: id,
                    speech_analytics: TurnAnalytics {
                        tone: tone::tone(&transcript, id, sentiment.score),
                        keywords: keywords::keywords(&transcript),
                        sentiment,
                        topics: vec![topic],
                    },
                    transcript,
                });
                confidences.push(t.confidence());
            }
            files.push(FileAnalytics {
                conversation: ConversationAnalytics {
                    topics: vec![model.topic_of(doc)],
                },
                turns: out,
                confidences,
            });
        }
        Ok(BatchAnalytics {
            ids: documents.iter().map(|d| d.id.clone()).collect(),
            files,
            model,
        })
    }
}

/// `result` without analytics fields (as recognition wrote it).
pub fn without_analytics(result: &Value) -> Value {
    let mut r = result.clone();
    if let Some(o) = r.as_object_mut() {
        o.remove(CONVERSATION_FIELD);
        o.remove(TURNS_FIELD);
    }
    r
}

/// `result` with a file's analytics: the two fields after `results`, replacing any earlier ones.
pub fn with_analytics(result: &Value, analytics: &FileAnalytics) -> Value {
    let mut r = without_analytics(result);
    if let Some(o) = r.as_object_mut() {
        o.insert(
            CONVERSATION_FIELD.to_owned(),
            serde_json::to_value(&analytics.conversation).expect("serializes"),
        );
        o.insert(
            TURNS_FIELD.to_owned(),
            serde_json::to_value(&analytics.turns).expect("serializes"),
        );
    }
    r
}
