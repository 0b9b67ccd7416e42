//! Helpers shared by the integration tests: recogniser words with synthetic times, and the
//! invariants every output must keep.
#![allow(dead_code)]

use std::sync::LazyLock;

use speechbatch_textfmt::{format_words, transcript, RecognitionParams, Word};

/// Words split on whitespace, each 0.3 s long with 0.1 s gaps, confidence falling slowly so
/// that merged tokens show which confidence they took.
pub fn words(text: &str) -> Vec<Word> {
    text.split_whitespace()
        .enumerate()
        .map(|(k, t)| Word {
            text: t.to_string(),
            start: 0.5 + 0.4 * k as f64,
            end: 0.8 + 0.4 * k as f64,
            confidence: 0.99 - 0.01 * k as f32,
        })
        .collect()
}

/// The options with smart formatting, redaction and the profanity filter as given, resolved as
/// the service resolves them (redaction turns smart formatting on).
pub fn options(
    smart_formatting: bool,
    redaction: bool,
    profanity_filter: bool,
) -> RecognitionParams {
    RecognitionParams {
        smart_formatting,
        redaction,
        profanity_filter,
        ..RecognitionParams::default()
    }
    .resolved()
}

pub static DEFAULT: LazyLock<RecognitionParams> = LazyLock::new(RecognitionParams::default);
pub static SMART: LazyLock<RecognitionParams> = LazyLock::new(|| options(true, false, true));
pub static REDACT: LazyLock<RecognitionParams> = LazyLock::new(|| options(false, true, true));

/// Formats `text` (as recogniser words), checks the invariants, returns the transcript
/// without its trailing space.
pub fn fmt(text: &str, opts: RecognitionParams) -> String {
    let input = words(text);
    let out = format_words(&input, &opts);
    check_invariants(&input, &out);
    transcript(&out).trim_end().to_string()
}

/// The invariants of `format_words`: tokens are the transcript's tokens, non-empty and
/// without whitespace; spans are ordered, inside the input's time range, and every token
/// starts and ends within the span of input words; confidences come from the input.
pub fn check_invariants(input: &[Word], out: &[Word]) {
    let t = transcript(out);
    if out.is_empty() {
        assert_eq!(t, "");
    } else {
        assert!(t.ends_with(' ') && !t.ends_with("  "), "{t:?}");
        let tokens: Vec<&str> = t.split(' ').filter(|s| !s.is_empty()).collect();
        let texts: Vec<&str> = out.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(
            tokens, texts,
            "timestamps words must be the transcript's tokens"
        );
    }
    let eps = 1e-9;
    let (lo, hi) = match (input.first(), input.last()) {
        (Some(f), Some(l)) => (f.start, l.end),
        _ => return,
    };
    let min_conf = input
        .iter()
        .map(|w| w.confidence)
        .fold(f32::INFINITY, f32::min);
    let mut prev_end = lo;
    for w in out {
        assert!(
            !w.text.is_empty() && !w.text.contains(char::is_whitespace),
            "{w:?}"
        );
        assert!(w.start <= w.end + eps, "span reversed: {w:?}");
        assert!(
            w.start + eps >= prev_end,
            "spans overlap or go back: {w:?} after {prev_end}"
        );
        assert!(
            w.start + eps >= lo && w.end <= hi + eps,
            "span outside the input: {w:?}"
        );
        assert!(w.confidence >= min_conf && w.confidence <= 1.0, "{w:?}");
        prev_end = w.end;
    }
}

/// One row of the test data's clip manifest.
#[derive(Debug, Clone)]
pub struct Row {
    pub file: String,
    pub reference: String,
    pub formatted: String,
}

/// The rows of the checked-in `testdata/asr/manifest.tsv`.
pub fn manifest() -> Vec<Row> {
    speechbatch_testkit::read_manifest(&speechbatch_testkit::testdata("asr/manifest.tsv"))
        .into_iter()
        .map(|row| Row {
            file: row["file"].clone(),
            reference: row["reference"].clone(),
            formatted: row["formatted"].clone(),
        })
        .collect()
}
