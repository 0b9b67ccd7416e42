//! Turn keywords: YAKE keyphrases (one to three words), with a relevance in 0–1 and how often
//! each occurs in the turn.

use std::sync::LazyLock;

use crds::analytics::Keyword;
use yake_rust::{Config, StopWords};

/// Most keywords given for one turn.
pub const MAX_KEYWORDS: usize = 5;

static STOP_WORDS: LazyLock<StopWords> =
    LazyLock::new(|| StopWords::predefined("en").expect("YAKE ships English stop words"));

/// The keywords of a turn, most relevant first.
pub fn keywords(text: &str) -> Vec<Keyword> {
    let config = Config {
        ngrams: 3,
        ..Config::default()
    };
    let lower = text.to_lowercase();
    yake_rust::get_n_best(MAX_KEYWORDS, &lower, &STOP_WORDS, &config)
        .into_iter()
        .filter(|k| k.keyword.chars().any(char::is_alphabetic))
        .map(|k| Keyword {
            count: occurrences(&lower, &k.keyword).max(1),
            // YAKE's score is 0 for the most important phrase and grows without bound.
            relevance: (1000.0 / (1.0 + k.score)).round() / 1000.0,
            text: k.keyword,
        })
        .collect()
}

/// How often `phrase` occurs in `text` as whole words.
fn occurrences(text: &str, phrase: &str) -> u32 {
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .collect();
    let want: Vec<&str> = phrase.split_whitespace().collect();
    if want.is_empty() || want.len() > words.len() {
        return 0;
    }
    words
        .windows(want.len())
        .filter(|w| *w == want.as_slice())
        .count() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyphrases_of_a_turn_with_relevance_and_count() {
        let k = keywords(
            "there's a transaction on my debit card from a store in Miami I've never been to Miami",
        );
        assert!(!k.is_empty() && k.len() <= MAX_KEYWORDS);
        assert!(k.iter().any(|k| k.text.contains("debit card")), "{k:?}");
        assert!(k.iter().all(|k| (0.0..=1.0).contains(&k.relevance)));
        let miami = k.iter().find(|k| k.text == "miami");
        assert!(miami.is_none_or(|m| m.count == 2), "{k:?}");
        assert!(k.windows(2).all(|w| w[0].relevance >= w[1].relevance));
    }

    #[test]
    fn counts_whole_words_only() {
        assert_eq!(occurrences("card cards card", "card"), 2);
        assert_eq!(occurrences("debit card and debit card", "debit card"), 2);
        assert_eq!(occurrences("a", "a b"), 0);
    }
}
