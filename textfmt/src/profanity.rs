//! The profanity filter. The service "obscures all profanity by replacing it with a series of
//! asterisks" in the transcript, word confidence and timestamps, and does so by default for
//! US English (`"****"` for a four-letter word in its example):
//! <https://cloud.ibm.com/docs/speech-to-text?topic=speech-to-text-formatting#profanity-filtering>.
//!
//! The word list is data, `data/profanity_en.txt`, where its sources and the reasons for what
//! it leaves out are written down. Matching is whole-token and case-insensitive, never by
//! substring, so "Scunthorpe", "cocktail" and "assessment" are safe.

use std::collections::HashSet;
use std::sync::OnceLock;

static LIST: &str = include_str!("../data/profanity_en.txt");

fn words() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| {
        LIST.lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(str::to_lowercase)
            .collect()
    })
}

/// Whether a transcript token is on the list, also with a possessive or contraction
/// ("fuck's", "shit'll").
pub fn is_profane(token: &str) -> bool {
    let lower = token.to_lowercase();
    let set = words();
    if set.contains(&lower) {
        return true;
    }
    lower
        .split_once('\'')
        .is_some_and(|(stem, rest)| !rest.contains('\'') && set.contains(stem))
}

/// The token with every character replaced by `*`.
pub fn mask(token: &str) -> String {
    "*".repeat(token.chars().count())
}
