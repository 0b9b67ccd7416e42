//! Word error rate: how many words of a reference a transcript gets wrong.
//!
//! Both texts are normalised the same way first ([`normalize_words`]), so that the count is
//! about words, not about capitals, punctuation or the spelling of a filler. The references of
//! the test data are spoken forms ("three hundred forty nine dollars"); the engine's default
//! style writes spoken forms too, so no number reading is done here: a transcript with digits
//! ("$349") counts them as errors, which is what a test of the default style wants.

use std::ops::{Add, AddAssign};

/// Hesitations and fillers, dropped from both sides: the references never contain them, and
/// whether a recogniser writes one is not a word error.
const FILLERS: &[&str] = &[
    "hesitation",
    "um",
    "umm",
    "uh",
    "uhm",
    "er",
    "erm",
    "mm",
    "hmm",
];

/// Abbreviations read as the word they stand for.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("mr", "mister"),
    ("mrs", "missus"),
    ("dr", "doctor"),
    ("ok", "okay"),
];

/// Number words after which "am" and "pm" are the time of day, spelled out as letters the
/// way the references say them ("five thirty p m").
const NUMBER_WORDS: &[&str] = &[
    "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "hundred", "thousand",
];

/// The words of `text` as compared for WER: lowercased, accents removed from Latin letters,
/// hyphens, dashes and slashes taken as spaces, other punctuation removed (apostrophes inside a
/// word kept: "patel's"), fillers dropped, "mr"/"dr"/"mrs"/"ok" spelled out, and "am"/"pm"
/// after a number word split into letters.
pub fn normalize_words(text: &str) -> Vec<String> {
    let spaced: String = text
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            '-' | '\u{2010}'..='\u{2015}' | '/' => ' ',
            '\u{2018}' | '\u{2019}' | '`' => '\'',
            c => fold_accent(c),
        })
        .collect();
    let mut out: Vec<String> = Vec::new();
    for token in spaced.split_whitespace() {
        let kept: String = token
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '\'')
            .collect();
        let word = kept.trim_matches('\'');
        if word.is_empty() || FILLERS.contains(&word) {
            continue;
        }
        if (word == "am" || word == "pm") && out.last().is_some_and(|w| is_number_word(w)) {
            out.push(word[..1].to_string());
            out.push("m".to_string());
            continue;
        }
        let word = ABBREVIATIONS
            .iter()
            .find(|(short, _)| *short == word)
            .map_or(word, |(_, long)| long);
        out.push(word.to_string());
    }
    out
}

fn is_number_word(w: &str) -> bool {
    NUMBER_WORDS.contains(&w)
        || w.ends_with("teen")
        || w.ends_with("ty")
        || (!w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()))
}

/// The unaccented letter for the accented Latin letters names in the test data could carry
/// ("González"); anything else is returned as is.
fn fold_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ý' | 'ÿ' => 'y',
        c => c,
    }
}

/// The edits that turn a reference into a hypothesis, with the reference's length: what a
/// WER is made of. Add them up over clips for a corpus-level rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WordErrors {
    /// Reference words replaced by another word.
    pub substitutions: usize,
    /// Reference words missing from the hypothesis.
    pub deletions: usize,
    /// Hypothesis words not in the reference.
    pub insertions: usize,
    /// Words in the reference.
    pub reference_words: usize,
}

impl WordErrors {
    /// All edits.
    pub fn errors(&self) -> usize {
        self.substitutions + self.deletions + self.insertions
    }

    /// Edits per reference word (0 for an empty reference with no insertions; an empty
    /// reference counts as one word so that insertions into silence still show).
    pub fn rate(&self) -> f64 {
        self.errors() as f64 / self.reference_words.max(1) as f64
    }
}

impl Add for WordErrors {
    type Output = WordErrors;

    fn add(self, other: WordErrors) -> WordErrors {
        WordErrors {
            substitutions: self.substitutions + other.substitutions,
            deletions: self.deletions + other.deletions,
            insertions: self.insertions + other.insertions,
            reference_words: self.reference_words + other.reference_words,
        }
    }
}

impl AddAssign for WordErrors {
    fn add_assign(&mut self, other: WordErrors) {
        *self = *self + other;
    }
}

/// The word errors of `hypothesis` against `reference`, both normalised with
/// [`normalize_words`]: a minimum-edit (Levenshtein) alignment over words. When several
/// alignments need as few edits, the one that substitutes before it deletes, and deletes
/// before it inserts, is counted.
pub fn word_errors(reference: &str, hypothesis: &str) -> WordErrors {
    let r = normalize_words(reference);
    let h = normalize_words(hypothesis);
    // One row of the edit table at a time; each cell keeps its edit count and how the edits
    // split into substitutions, deletions and insertions.
    #[derive(Clone, Copy)]
    struct Cell {
        cost: usize,
        subs: usize,
        dels: usize,
        ins: usize,
    }
    let mut prev: Vec<Cell> = (0..=h.len())
        .map(|j| Cell {
            cost: j,
            subs: 0,
            dels: 0,
            ins: j,
        })
        .collect();
    for (i, rw) in r.iter().enumerate() {
        let mut row = Vec::with_capacity(h.len() + 1);
        row.push(Cell {
            cost: i + 1,
            subs: 0,
            dels: i + 1,
            ins: 0,
        });
        for (j, hw) in h.iter().enumerate() {
            let diag = prev[j];
            let mut best = if rw == hw {
                diag
            } else {
                Cell {
                    cost: diag.cost + 1,
                    subs: diag.subs + 1,
                    ..diag
                }
            };
            let up = prev[j + 1];
            if up.cost + 1 < best.cost {
                best = Cell {
                    cost: up.cost + 1,
                    dels: up.dels + 1,
                    ..up
                };
            }
            let left = row[j];
            if left.cost + 1 < best.cost {
                best = Cell {
                    cost: left.cost + 1,
                    ins: left.ins + 1,
                    ..left
                };
            }
            row.push(best);
        }
        prev = row;
    }
    let last = prev[h.len()];
    WordErrors {
        substitutions: last.subs,
        deletions: last.dels,
        insertions: last.ins,
        reference_words: r.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_punctuation_and_fillers_are_not_word_errors() {
        assert_eq!(
            normalize_words("Please call Dr. Patel’s office, um, before 5:30 PM!"),
            ["please", "call", "doctor", "patel's", "office", "before", "530", "p", "m"]
        );
        assert_eq!(
            normalize_words("an ill-disposed %HESITATION young man — 'really'"),
            ["an", "ill", "disposed", "young", "man", "really"]
        );
        assert_eq!(normalize_words("María González"), ["maria", "gonzalez"]);
    }

    #[test]
    fn am_and_pm_after_a_number_are_read_as_letters() {
        assert_eq!(
            normalize_words("before five thirty PM"),
            ["before", "five", "thirty", "p", "m"]
        );
        assert_eq!(normalize_words("at nine a.m."), ["at", "nine", "a", "m"]);
        // "am" as a verb stays a word.
        assert_eq!(normalize_words("I am here"), ["i", "am", "here"]);
    }

    #[test]
    fn identical_texts_have_no_errors() {
        let e = word_errors(
            "He was not an ill disposed young man",
            "he was not an ill-disposed young man.",
        );
        assert_eq!(e.errors(), 0);
        assert_eq!(e.reference_words, 8);
        assert_eq!(e.rate(), 0.0);
    }

    #[test]
    fn substitutions_deletions_and_insertions_are_counted_apart() {
        let e = word_errors("the cat sat on the mat", "a the bat sat on mat");
        assert_eq!(
            (
                e.substitutions,
                e.deletions,
                e.insertions,
                e.reference_words
            ),
            (1, 1, 1, 6)
        );
        assert!((e.rate() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn the_count_is_the_minimum_number_of_word_edits() {
        // Brute force over every way to pair the words in order, for small random texts.
        fn brute(r: &[&str], h: &[&str]) -> usize {
            match (r.split_first(), h.split_first()) {
                (None, _) => h.len(),
                (_, None) => r.len(),
                (Some((a, rr)), Some((b, hh))) => {
                    let diag = brute(rr, hh) + usize::from(a != b);
                    diag.min(brute(rr, h) + 1).min(brute(r, hh) + 1)
                }
            }
        }
        let vocabulary = ["a", "b", "c"];
        let mut state = 0x2545_F491u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for _ in 0..300 {
            let r: Vec<&str> = (0..next() % 6)
                .map(|_| vocabulary[(next() % 3) as usize])
                .collect();
            let h: Vec<&str> = (0..next() % 6)
                .map(|_| vocabulary[(next() % 3) as usize])
                .collect();
            let e = word_errors(&r.join(" "), &h.join(" "));
            assert_eq!(e.errors(), brute(&r, &h), "{r:?} vs {h:?}");
            assert_eq!(e.reference_words, r.len());
        }
    }

    #[test]
    fn an_empty_hypothesis_deletes_every_word_and_errors_add_up() {
        let a = word_errors("one two three", "");
        assert_eq!((a.deletions, a.rate()), (3, 1.0));
        let b = word_errors("", "noise");
        assert_eq!((b.insertions, b.reference_words, b.rate()), (1, 0, 1.0));
        let total = a + b;
        assert_eq!((total.errors(), total.reference_words), (4, 3));
    }
}
