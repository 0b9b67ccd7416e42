//! The interface's recognition result JSON (`<file>.json`).

use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};
pub use speechbatch_diarize::SpeakerLabel;

/// A whole `<file>.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RecognitionResults {
    /// Always 0 for a batch file: the results are complete.
    pub result_index: u32,
    /// The speaker of every word, in order: the same objects as the fourth element of each
    /// `timestamps` entry.
    pub speaker_labels: Vec<SpeakerLabel>,
    /// The recognised utterances, split at pauses.
    pub results: Vec<SpeechResult>,
    /// Length of the audio in seconds (not part of the JSON; for logs and throughput).
    #[serde(skip)]
    pub audio_seconds: f64,
    /// Seconds spent on diarization (not part of the JSON; for the throughput report).
    #[serde(skip)]
    pub diarize_seconds: f64,
}

/// One utterance.
#[derive(Debug, Clone, Serialize)]
pub struct SpeechResult {
    /// Always true in batch output.
    #[serde(rename = "final")]
    pub final_: bool,
    /// The best hypothesis (the batch interface returns one).
    pub alternatives: Vec<Alternative>,
}

/// A hypothesis for one utterance.
#[derive(Debug, Clone, Serialize)]
pub struct Alternative {
    /// The words, separated by spaces, with a trailing space.
    pub transcript: String,
    /// Confidence in the hypothesis, 0 to 1.
    pub confidence: f64,
    /// `[word, start, end]` for each word of the transcript, in seconds.
    pub timestamps: Vec<WordTime>,
    /// `[word, confidence]` for each word, when requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub word_confidence: Option<Vec<WordConfidence>>,
}

/// `[word, start, end, speaker label]`: batch output embeds a copy of the word's speaker label.
#[derive(Debug, Clone, PartialEq)]
pub struct WordTime {
    /// The word.
    pub word: String,
    /// Start in seconds.
    pub start: f64,
    /// End in seconds.
    pub end: f64,
    /// The word's entry of `speaker_labels`.
    pub speaker: Option<SpeakerLabel>,
}

impl Serialize for WordTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(3 + usize::from(self.speaker.is_some())))?;
        seq.serialize_element(&self.word)?;
        seq.serialize_element(&round(self.start, 2))?;
        seq.serialize_element(&round(self.end, 2))?;
        if let Some(label) = &self.speaker {
            seq.serialize_element(label)?;
        }
        seq.end()
    }
}

/// `[word, confidence]`.
#[derive(Debug, Clone, PartialEq)]
pub struct WordConfidence {
    /// The word.
    pub word: String,
    /// Confidence, 0 to 1.
    pub confidence: f64,
}

impl Serialize for WordConfidence {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(2))?;
        seq.serialize_element(&self.word)?;
        seq.serialize_element(&round(self.confidence, 3))?;
        seq.end()
    }
}

/// Rounds to `digits` decimals, as the interface prints times (2) and confidences (3).
pub fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}
