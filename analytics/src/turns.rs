//! Speaker turns out of a recognised file's JSON: the words of every result in order, each with
//! its speaker (the label embedded in its `timestamps` entry, else the `speaker_labels` entry of
//! the same index), cut wherever the speaker changes.

use serde_json::Value;

/// One word of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    /// The word as the transcript shows it.
    pub text: String,
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
    /// The speaker label's integer (0 when the file has no labels).
    pub speaker: i64,
    /// The confidence of the result the word belongs to.
    pub confidence: f64,
}

/// A continuous stretch of one speaker.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// The speaker.
    pub speaker: i64,
    /// Its words, in order (never empty).
    pub words: Vec<Word>,
}

impl Turn {
    /// The turn's words separated by spaces.
    pub fn transcript(&self) -> String {
        let words: Vec<&str> = self.words.iter().map(|w| w.text.as_str()).collect();
        words.join(" ")
    }

    /// Start of the first word.
    pub fn from(&self) -> f64 {
        self.words.first().map_or(0.0, |w| w.start)
    }

    /// End of the last word.
    pub fn to(&self) -> f64 {
        self.words.last().map_or(0.0, |w| w.end)
    }

    /// The mean confidence of its words' results.
    pub fn confidence(&self) -> f64 {
        let n = self.words.len().max(1) as f64;
        self.words.iter().map(|w| w.confidence).sum::<f64>() / n
    }
}

/// Every word of a result JSON, in order. Entries that are not `[word, start, end, ...]` are
/// skipped (a file written by this service always has them).
pub fn words(result: &Value) -> Vec<Word> {
    let labels = result["speaker_labels"].as_array();
    let mut out = Vec::new();
    let mut index = 0usize;
    for r in result["results"].as_array().into_iter().flatten() {
        let alt = &r["alternatives"][0];
        let confidence = alt["confidence"].as_f64().unwrap_or(1.0);
        for t in alt["timestamps"].as_array().into_iter().flatten() {
            let (Some(text), Some(start), Some(end)) =
                (t[0].as_str(), t[1].as_f64(), t[2].as_f64())
            else {
                continue;
            };
            let speaker = t[3]["speaker"]
                .as_i64()
                .or_else(|| {
                    labels
                        .and_then(|l| l.get(index))
                        .and_then(|l| l["speaker"].as_i64())
                })
                .unwrap_or(0);
            index += 1;
            out.push(Word {
                text: text.to_owned(),
                start,
                end,
                speaker,
                confidence,
            });
        }
    }
    out
}

/// The speaker turns of a result JSON.
pub fn turns(result: &Value) -> Vec<Turn> {
    let mut turns: Vec<Turn> = Vec::new();
    for w in words(result) {
        match turns.last_mut() {
            Some(t) if t.speaker == w.speaker => t.words.push(w),
            _ => turns.push(Turn {
                speaker: w.speaker,
                words: vec![w],
            }),
        }
    }
    turns
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn label(speaker: i64, from: f64, to: f64) -> Value {
        json!({"from": from, "to": to, "speaker": speaker, "confidence": 0.9, "final": false})
    }

    #[test]
    fn turns_follow_the_speaker_labels_across_results() {
        let result = json!({
            "result_index": 0,
            "speaker_labels": [label(0, 0.5, 0.9), label(0, 0.9, 1.2), label(1, 1.6, 2.0), label(1, 2.0, 2.4), label(0, 3.0, 3.5)],
            "results": [
                {"final": true, "alternatives": [{"transcript": "hello there hi ", "confidence": 0.9,
                  "timestamps": [["hello", 0.5, 0.9, label(0, 0.5, 0.9)], ["there", 0.9, 1.2, label(0, 0.9, 1.2)], ["hi", 1.6, 2.0, label(1, 1.6, 2.0)]]}]},
                {"final": true, "alternatives": [{"transcript": "again bye ", "confidence": 0.8,
                  "timestamps": [["again", 2.0, 2.4, label(1, 2.0, 2.4)], ["bye", 3.0, 3.5, label(0, 3.0, 3.5)]]}]}
            ]
        });
        let t = turns(&result);
        assert_eq!(t.len(), 3);
        assert_eq!(
            (t[0].speaker, t[0].transcript().as_str()),
            (0, "hello there")
        );
        assert_eq!((t[1].speaker, t[1].transcript().as_str()), (1, "hi again"));
        assert_eq!((t[1].from(), t[1].to()), (1.6, 2.4));
        assert!((t[1].confidence() - 0.85).abs() < 1e-9);
        assert_eq!(t[2].transcript(), "bye");
    }

    #[test]
    fn labels_by_index_when_timestamps_carry_none() {
        let result = json!({
            "speaker_labels": [label(2, 0.0, 1.0), label(3, 1.0, 2.0)],
            "results": [{"alternatives": [{"confidence": 1.0,
                "timestamps": [["a", 0.0, 1.0], ["b", 1.0, 2.0]]}]}]
        });
        let t = turns(&result);
        assert_eq!(t.iter().map(|t| t.speaker).collect::<Vec<_>>(), [2, 3]);
        assert!(turns(&json!({})).is_empty(), "no results, no turns");
    }
}
