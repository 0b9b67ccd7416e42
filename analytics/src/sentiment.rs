//! Turn sentiment: VADER's compound score (its lexicon and rules, as the original tool scores
//! them), with a few words of service calls added to the lexicon, and the interface's three
//! labels.
//!
//! VADER was built for social media text; transcripts of calls carry complaints in words its
//! lexicon treats as neutral ("charged", "overdraft", "broken"), and formulas whose words it
//! reads one by one: an agent's "I'm sorry" or "I understand your frustration" expresses
//! sympathy, not a negative view; "I'd like" is a request, not liking; "we look forward" is
//! warm though no word of it is. Words are added to the lexicon in [`SERVICE_WORDS`] (valence on
//! VADER's −4…4 scale); formulas are read as one token of their own valence ([`FORMULAS`]).

use std::collections::HashMap;
use std::sync::LazyLock;

use crds::analytics::{Sentiment, SentimentLabel};
use unicase::UniCase;
use vader_sentiment::SentimentIntensityAnalyzer;

/// Words of service calls and their valence, added to VADER's lexicon (which lacks them or
/// scores them as in social media).
pub const SERVICE_WORDS: &[(&str, f64)] = &[
    ("please", 0.0),
    ("overcharged", -2.0),
    ("charged", -0.8),
    ("overdraft", -1.2),
    ("broken", -1.8),
    ("outage", -1.5),
    ("overdue", -1.2),
    ("mess", -1.6),
    ("outrageous", -2.4),
    ("refund", -0.5),
    ("cancel", -0.6),
    ("waited", -0.8),
    ("relief", 1.8),
    ("convenient", 1.6),
    ("perfect", 2.2),
    ("upgrade", 0.8),
    ("resolved", 1.4),
    ("fixed", 1.2),
];

/// Formulas of service calls read as one token: `(words, token, valence)`.
pub const FORMULAS: &[(&str, &str, f64)] = &[
    ("i'd like", "formulawouldlike", 0.0),
    ("i would like", "formulawouldlike", 0.0),
    ("would like", "formulawouldlike", 0.0),
    ("look forward", "formulalookforward", 1.8),
    ("looking forward", "formulalookforward", 1.8),
    ("i'm so sorry", "formulasympathy", 0.0),
    ("i'm sorry", "formulasympathy", 0.0),
    ("i am sorry", "formulasympathy", 0.0),
    ("so sorry", "formulasympathy", 0.0),
    ("sorry for", "formulasympathy", 0.0),
    ("sorry about", "formulasympathy", 0.0),
    ("sorry to hear", "formulasympathy", 0.0),
    ("i apologize", "formulasympathy", 0.0),
    ("i understand", "formulasympathy", 0.0),
    ("your frustration", "formulasympathy", 0.0),
    ("you're right", "formulasympathy", 0.0),
    ("should not have happened", "formulasympathy", 0.0),
    ("shouldn't have happened", "formulasympathy", 0.0),
    ("no extra cost", "formulanocost", 1.5),
    ("no extra charge", "formulanocost", 1.5),
    ("free of charge", "formulanocost", 1.5),
    ("can't afford", "formulacantafford", -1.8),
    ("cannot afford", "formulacantafford", -1.8),
    ("makes no sense", "formulanosense", -1.8),
    // Names, not views: a department, a medical term.
    ("fraud department", "formulaname", 0.0),
    ("fraud team", "formulaname", 0.0),
    ("blood pressure", "formulaname", 0.0),
];

/// What is left of a negative score in a turn that expresses sympathy: its negative words name
/// the other's trouble ("sorry for the confusion"), not the speaker's view.
pub const SYMPATHY_DAMPING: f64 = 0.3;

/// A score within this distance of 0 is `neutral` (VADER's own threshold).
pub const NEUTRAL_BAND: f64 = 0.05;

static LEXICON: LazyLock<HashMap<UniCase<&'static str>, f64>> = LazyLock::new(|| {
    let mut lexicon = vader_sentiment::LEXICON.clone();
    for &(word, valence) in SERVICE_WORDS {
        lexicon.insert(UniCase::new(word), valence);
    }
    for &(_, token, valence) in FORMULAS {
        lexicon.insert(UniCase::new(token), valence);
    }
    lexicon
});

/// [`FORMULAS`] as word lists, the longest first (so "i'm so sorry" wins over "so sorry").
static FORMULAS_LONGEST_FIRST: LazyLock<Vec<(Vec<&'static str>, &'static str)>> =
    LazyLock::new(|| {
        let mut f: Vec<(Vec<&str>, &str)> = FORMULAS
            .iter()
            .map(|(words, token, _)| (words.split(' ').collect(), *token))
            .collect();
        f.sort_by_key(|(words, _)| std::cmp::Reverse(words.len()));
        f
    });

/// The text with each formula replaced by its token (lowercase; the longest formula first
/// where two start at one word).
fn with_formulas(text: &str) -> String {
    // Each word without the punctuation around it, once.
    let words: Vec<String> = text
        .to_lowercase()
        .replace('\u{2019}', "'")
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !(c.is_alphanumeric() || c == '\''))
                .to_owned()
        })
        .collect();
    let mut out: Vec<&str> = Vec::with_capacity(words.len());
    let mut i = 0;
    'words: while i < words.len() {
        for (parts, token) in FORMULAS_LONGEST_FIRST.iter() {
            if words
                .get(i..i + parts.len())
                .is_some_and(|w| w == parts.as_slice())
            {
                out.push(token);
                i += parts.len();
                continue 'words;
            }
        }
        out.push(&words[i]);
        i += 1;
    }
    out.join(" ")
}

/// The sentiment of a text.
pub fn sentiment(text: &str) -> Sentiment {
    let analyzer = SentimentIntensityAnalyzer::from_lexicon(&LEXICON);
    let read = with_formulas(text);
    let mut score = analyzer
        .polarity_scores(&read)
        .get("compound")
        .copied()
        .unwrap_or(0.0);
    if score < 0.0 && read.split(' ').any(|w| w == "formulasympathy") {
        score *= SYMPATHY_DAMPING;
    }
    let score = (score * 1000.0).round() / 1000.0;
    Sentiment {
        score,
        label: label(score),
    }
}

/// The label of a score.
pub fn label(score: f64) -> SentimentLabel {
    if score >= NEUTRAL_BAND {
        SentimentLabel::Positive
    } else if score <= -NEUTRAL_BAND {
        SentimentLabel::Negative
    } else {
        SentimentLabel::Neutral
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_score() {
        assert_eq!(
            sentiment("that's a huge relief thank you so much").label,
            SentimentLabel::Positive
        );
        assert_eq!(
            sentiment("you charged me an overdraft fee this is outrageous").label,
            SentimentLabel::Negative
        );
        assert_eq!(
            sentiment("it's the fourth of May nineteen sixty two").label,
            SentimentLabel::Neutral
        );
        assert_eq!(
            sentiment("I'm so sorry I'll send maintenance up right away").label,
            SentimentLabel::Neutral,
            "sympathy is not a negative view"
        );
        assert_eq!(
            sentiment("hi I'd like to refill my prescription please").label,
            SentimentLabel::Neutral,
            "a request is not liking"
        );
        let s = sentiment("I am not happy about this at all");
        assert!(s.score < 0.0 && (-1.0..=1.0).contains(&s.score), "{s:?}");
    }
}
