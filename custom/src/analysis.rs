//! Corpus analysis: how many words a corpus holds and which of them the base vocabulary does not
//! know (its out-of-vocabulary words, which become the model's custom words).

use std::collections::{BTreeMap, HashMap};

use crate::{lexicon, text};

/// What analysing one corpus found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorpusAnalysis {
    /// Every word of the corpus, known or not.
    pub total_words: u64,
    /// Each out-of-vocabulary word, spelt as the corpus spells it most often, with how often it
    /// occurs in any casing.
    pub oov: BTreeMap<String, u64>,
}

/// One out-of-vocabulary word while counting: its spellings and how often each occurs.
#[derive(Default)]
struct Spellings {
    /// In order of first appearance, so that a tie goes to the spelling seen first.
    seen: Vec<(String, u64)>,
}

impl Spellings {
    fn add(&mut self, spelling: &str) {
        match self.seen.iter_mut().find(|(s, _)| s == spelling) {
            Some((_, n)) => *n += 1,
            None => self.seen.push((spelling.to_string(), 1)),
        }
    }

    fn total(&self) -> u64 {
        self.seen.iter().map(|(_, n)| n).sum()
    }

    fn most_common(&self) -> &str {
        let mut best = &self.seen[0];
        for s in &self.seen[1..] {
            if s.1 > best.1 {
                best = s;
            }
        }
        &best.0
    }
}

/// Counts the words of `text` ([`text::words`]) and collects the out-of-vocabulary ones
/// ([`lexicon::is_known`]).
///
/// Casings of one word count together (`Quorbit`, `QUORBIT`), under the spelling used most
/// often. A possessive of an unknown word counts as the word itself (`MyVeltrix's` adds to
/// `MyVeltrix`): the custom word to teach is the name, and the base model knows the ending.
pub fn analyze(text: &str) -> CorpusAnalysis {
    // Lowercase word -> its spellings when out of vocabulary, `None` when known: each distinct
    // word is looked up once, and a repeated word costs one hash look-up and no allocation.
    let mut seen: HashMap<String, Option<Spellings>> = HashMap::new();
    let mut key = String::new();
    let mut total_words = 0u64;
    for word in text::words(text) {
        total_words += 1;
        key.clear();
        key.extend(word.chars().flat_map(char::to_lowercase));
        if let Some(entry) = seen.get_mut(key.as_str()) {
            if let Some(spellings) = entry {
                spellings.add(strip_possessive(word));
            }
            continue;
        }
        let entry = if lexicon::is_known(word) {
            None
        } else {
            let mut spellings = Spellings::default();
            spellings.add(strip_possessive(word));
            Some(spellings)
        };
        seen.insert(key.clone(), entry);
    }
    // Possessive and plain forms were keyed apart above; merge them under the plain form.
    let mut merged: HashMap<String, Spellings> = HashMap::new();
    for spellings in seen.into_values().flatten() {
        let lower = spellings.seen[0].0.to_lowercase();
        let into = merged.entry(lower).or_default();
        for (s, n) in spellings.seen {
            match into.seen.iter_mut().find(|(t, _)| *t == s) {
                Some((_, m)) => *m += n,
                None => into.seen.push((s, n)),
            }
        }
    }
    let oov = merged
        .into_values()
        .map(|s| (s.most_common().to_string(), s.total()))
        .collect();
    CorpusAnalysis { total_words, oov }
}

/// `word` without a trailing `'s` / `’s`, unless nothing would be left.
pub(crate) fn strip_possessive(word: &str) -> &str {
    for suffix in ["'s", "\u{2019}s", "'S", "\u{2019}S"] {
        if let Some(stem) = word.strip_suffix(suffix) {
            if stem.chars().any(char::is_alphanumeric) {
                return stem;
            }
        }
    }
    word
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines of the development corpus of a (fictional) wireless carrier's call centre.
    const CALL_CENTRE: &str = "\
Thank you for calling Veltrix Wireless, my name is Dana, how can I help you today?
I see that your Zentraphone X9 is still under warranty until next March.
Please restart the Quorbit router by holding the reset button for ten seconds.
Let me check the Kalvani fiber node that serves your street.
Did you install the latest Nimbra firmware on the Zentraphone?
You can track the replacement device in the MyVeltrix app.
Our Orlessa protection plan covers accidental damage and screen cracks.
Please confirm the last four digits of the account holder's SSN.
Your eSIM profile for the Zentraphone can be downloaded over Wi-Fi.
Toggle airplane mode and then re-seat the SIM tray.
Switch the Quorbit to the two point four gigahertz band for the smart thermostat.
Your Zentraphone X9 trade-in value is one hundred eighty dollars.
The Kalvani fiber upgrade will raise your speed to one gigabit.
";

    #[test]
    fn product_names_are_out_of_vocabulary_and_ordinary_words_are_not() {
        let a = analyze(CALL_CENTRE);
        let oov: Vec<(&str, u64)> = a.oov.iter().map(|(w, n)| (w.as_str(), *n)).collect();
        assert_eq!(
            oov,
            [
                ("Kalvani", 2),
                ("MyVeltrix", 1),
                ("Nimbra", 1),
                ("Orlessa", 1),
                ("Quorbit", 2),
                ("Veltrix", 1),
                ("Zentraphone", 4),
                ("eSIM", 1),
            ]
        );
        assert_eq!(a.total_words, text::words(CALL_CENTRE).count() as u64);
        assert_eq!(a.total_words, 149);
    }

    #[test]
    fn casings_count_together_under_the_most_common_spelling() {
        let a = analyze("Quorbit QUORBIT quorbit Quorbit. The quorbit's light; QUORBIT QUORBIT");
        assert_eq!(a.oov.len(), 1, "{:?}", a.oov);
        // QUORBIT 3, Quorbit 2, quorbit 2 (one of them possessive).
        assert_eq!(a.oov.get("QUORBIT"), Some(&7));
        assert_eq!(a.total_words, 9);

        let tie = analyze("Nimbra nimbra");
        assert_eq!(
            tie.oov.get("Nimbra"),
            Some(&2),
            "a tie goes to the first spelling"
        );
    }

    #[test]
    fn a_possessive_counts_as_its_word() {
        let a = analyze("MyVeltrix's portal. The MyVeltrix app. MyVeltrix’s");
        assert_eq!(a.oov.len(), 1, "{:?}", a.oov);
        assert_eq!(a.oov.get("MyVeltrix"), Some(&3));
        assert_eq!(strip_possessive("'s"), "'s");
    }

    #[test]
    fn empty_and_known_only_texts() {
        assert_eq!(analyze(""), CorpusAnalysis::default());
        let a = analyze("The router is fine.\nThe modem too!");
        assert_eq!(a.total_words, 7);
        assert!(a.oov.is_empty());
    }
}
