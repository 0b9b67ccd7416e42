//! Time spans of output tokens. A token that replaces several words spans them all; a word
//! that becomes several tokens shares its span among them in proportion to their length, so
//! that the timestamps stay ordered and cover exactly the audio the recogniser reported.

use crate::Word;

/// Splits one span among `texts`, in proportion to their lengths in characters. Each piece
/// keeps the confidence of the whole; the last piece ends exactly where the span ended.
pub(crate) fn split(texts: Vec<String>, start: f64, end: f64, confidence: f32) -> Vec<Word> {
    let end = end.max(start);
    let weights: Vec<usize> = texts.iter().map(|t| t.chars().count().max(1)).collect();
    let total: usize = weights.iter().sum();
    let n = texts.len();
    let mut done = 0usize;
    let mut out = Vec::with_capacity(n);
    for (k, text) in texts.into_iter().enumerate() {
        let s = start + (end - start) * done as f64 / total as f64;
        done += weights[k];
        let e = if k + 1 == n {
            end
        } else {
            start + (end - start) * done as f64 / total as f64
        };
        out.push(Word {
            text,
            start: s,
            end: e,
            confidence,
        });
    }
    out
}

/// One token standing for `parts` (non-empty, in order): from the start of the first to the
/// end of the last, with the least confident part's confidence.
pub(crate) fn merge(text: String, parts: &[Word]) -> Word {
    let first = parts.first().expect("merge needs at least one part");
    let last = parts.last().expect("merge needs at least one part");
    Word {
        text,
        start: first.start,
        end: last.end.max(first.start),
        confidence: parts
            .iter()
            .map(|p| p.confidence)
            .fold(f32::INFINITY, f32::min),
    }
}
