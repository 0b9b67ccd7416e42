//! The text side of SpeechBatch's transcript options: recogniser words in, words in the
//! Watson Speech to Text house style out, with `smart_formatting`, `redaction` and
//! `profanity_filter` applied, and the `transcript`, `timestamps` and `word_confidence`
//! views of the result kept in step.
//!
//! Pipeline (one call per result):
//! 1. `spoken`: the default style. Whisper's written forms ("$349", "9:30", "3/12/2026",
//!    "Dr.") become the words a US speaker says, punctuation goes, hesitations become
//!    `%HESITATION`.
//! 2. `case`: sentence-initial capitals go, proper nouns keep theirs.
//! 3. `smart` (when `smart_formatting`, which redaction turns on): dates, times, numbers, phone numbers,
//!    currency, percentages, ordinals and addresses are written the service's way, read from
//!    the spoken words so that both styles agree.
//! 4. `redact` and [`profanity`]: digits of long numbers become `X`, profane words `*`.
//!
//! Every step keeps a time span per token: a token that replaces several words spans them, a
//! word that becomes several tokens shares its span. So the timestamps list is exactly the
//! transcript's tokens, in order. The service's own documentation says smart formatting does
//! not touch the timestamps; this crate keeps them equal to the transcript instead, so that a
//! client can align every transcript token with audio (see README.md).
//!
//! ```
//! use crds::RecognitionParams;
//! use speechbatch_textfmt::{format_words, transcript, Word};
//!
//! let words = vec![Word { text: "$349.".into(), start: 0.5, end: 1.7, confidence: 0.8 }];
//! let out = format_words(&words, &RecognitionParams::default());
//! assert_eq!(transcript(&out), "three hundred forty nine dollars ");
//! let smart = RecognitionParams { smart_formatting: true, ..RecognitionParams::default() };
//! let out = format_words(&words, &smart);
//! assert_eq!(transcript(&out), "$349 ");
//! assert_eq!((out[0].start, out[0].end), (0.5, 1.7));
//! ```

pub use crds::RecognitionParams;

mod case;
pub mod numbers;
pub mod profanity;
mod readings;
mod redact;
mod smart;
mod span;
mod spoken;

/// The service's token for a speech hesitation ("um", "uh", "hmm") in US English transcripts.
pub const HESITATION: &str = "%HESITATION";

/// One recognised word as the engine produces it (Whisper word, may carry punctuation,
/// digits, leading space stripped), or one output token.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    /// The text.
    pub text: String,
    /// Start time in seconds from the start of the audio.
    pub start: f64,
    /// End time in seconds.
    pub end: f64,
    /// Confidence from 0.0 to 1.0.
    pub confidence: f32,
}

/// Turns one result's recogniser words into the output words in the house style with the
/// options applied.
///
/// Output words are exactly the transcript's tokens in order (none is empty or contains
/// whitespace); a token that replaces several words spans their times (start of first, end
/// of last) and takes their minimum confidence; a word split into several (e.g. "$349" →
/// "three hundred forty nine dollars") shares its span in proportion to length.
///
/// The options are the batch's [`RecognitionParams`], already resolved
/// ([`RecognitionParams::resolved`]: redaction has turned smart formatting on).
pub fn format_words(words: &[Word], opts: &RecognitionParams) -> Vec<Word> {
    let mut toks = spoken::to_spoken(words);
    case::lowercase_sentence_starts(&mut toks);
    let mut out: Vec<Word> = if opts.smart_formatting {
        smart::format(&toks)
    } else {
        toks.into_iter().map(|t| t.word).collect()
    };
    for w in &mut out {
        if opts.redaction {
            w.text = redact::mask_digits(&w.text);
        }
        if opts.profanity_filter && profanity::is_profane(&w.text) {
            w.text = profanity::mask(&w.text);
        }
    }
    out
}

/// The transcript string for those words: tokens joined by single spaces, with a trailing
/// space (the interface's convention). No words give an empty string.
pub fn transcript(words: &[Word]) -> String {
    let mut s = String::new();
    for w in words {
        s.push_str(&w.text);
        s.push(' ');
    }
    s
}

/// The alternative's `timestamps` entries, `[word, start, end]`, aligned with [`transcript`].
pub fn timestamps(words: &[Word]) -> Vec<(String, f64, f64)> {
    words
        .iter()
        .map(|w| (w.text.clone(), w.start, w.end))
        .collect()
}

/// The alternative's `word_confidence` entries, `[word, confidence]` (asked for with
/// `word_confidence=true`), aligned with [`timestamps`] and [`transcript`].
pub fn word_confidence(words: &[Word]) -> Vec<(String, f64)> {
    words
        .iter()
        .map(|w| (w.text.clone(), f64::from(w.confidence)))
        .collect()
}
