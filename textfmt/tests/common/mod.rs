//! Helpers shared by the integration tests: recogniser words with synthetic times, and the
//! invariants every output must keep.
#![allow(dead_code)]

use speechbatch_textfmt::{format_words, transcript, FormatOptions, Word};

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

pub const DEFAULT: FormatOptions = FormatOptions {
    smart_formatting: false,
    redaction: false,
    profanity_filter: true,
};
pub const SMART: FormatOptions = FormatOptions {
    smart_formatting: true,
    redaction: false,
    profanity_filter: true,
};
pub const REDACT: FormatOptions = FormatOptions {
    smart_formatting: false,
    redaction: true,
    profanity_filter: true,
};

/// Formats `text` (as recogniser words), checks the invariants, returns the transcript
/// without its trailing space.
pub fn fmt(text: &str, opts: FormatOptions) -> String {
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

/// One row of the dev set manifest.
#[derive(Debug, Clone)]
pub struct Row {
    pub file: String,
    pub reference: String,
    pub formatted: String,
}

/// The dev set manifest, read in place from the shared folder.
pub fn manifest() -> Vec<Row> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/devset/asr/manifest.tsv"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no {name} column"))
    };
    let (f, r, s) = (col("file"), col("reference"), col("formatted"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cells: Vec<&str> = l.split('\t').collect();
            Row {
                file: cells[f].to_string(),
                reference: cells[r].to_string(),
                formatted: cells[s].to_string(),
            }
        })
        .collect()
}
