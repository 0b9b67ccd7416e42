//! The base vocabulary: the words the base models know without customization.
//!
//! The list is the headwords of the CMU Pronouncing Dictionary (about 126,000 words, built by
//! `lexicon/build.py` from a pinned PyPI wheel), embedded gzip-compressed and unpacked once,
//! on first use, into one sorted string table searched by binary search (about 3 MB, against
//! some 10 MB for a hash set of owned strings).
//!
//! A word is known ([`is_known`]) when, compared without regard to case:
//!
//! - the dictionary lists it (`router`, `routers`, `don't`, `wi-fi`, `u.s.`);
//! - it has no letters (a number such as `42`, `2.4` or `10%`: numbers are spoken as number
//!   words, which the base model knows);
//! - it is a single letter;
//! - it is a possessive (`'s`, or `s'`) or a plural (`s`, `es`) of a known word;
//! - every part between hyphens is known (`re-seat`, `trade-in`);
//! - every part between periods is known (`i.b.m.`: spelt-out letters);
//! - it mixes letters and digits and every run of letters is known (`x9`, `4g`, `1990s`,
//!   `21st`): the digits are spoken as numbers, the letters as the words or letters they are;
//! - it is a metric prefix (`giga`, `mega`, `kilo`, ...) before a known word (`gigahertz`,
//!   `gigabit`), which the dictionary lacks although every recogniser knows them.
//!
//! Everything else is out of vocabulary, e.g. product names (`Zentraphone`, `MyVeltrix`) and
//! coined spellings (`eSIM`). Case changes inside a word are *not* split here: `eSIM` is one
//! word nobody says as "e" + "sim" without being taught.

use std::io::Read;
use std::sync::OnceLock;

/// The gzip-compressed word list, one lowercase word a line, sorted by byte order.
static WORDS_GZ: &[u8] = include_bytes!("../lexicon/cmudict-words.txt.gz");

/// Prefixes the dictionary does not compound but speech uses with any unit.
const METRIC_PREFIXES: [&str; 9] = [
    "giga", "mega", "kilo", "tera", "peta", "micro", "nano", "milli", "centi",
];

/// The unpacked word list: the text lives for the whole process (it is needed until exit), so
/// the sorted table can borrow from it.
fn table() -> &'static [&'static str] {
    static TABLE: OnceLock<Vec<&'static str>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut text = String::new();
        flate2::read::GzDecoder::new(WORDS_GZ)
            .read_to_string(&mut text)
            .expect("the embedded word list is valid gzip-compressed UTF-8");
        let text: &'static str = Box::leak(text.into_boxed_str());
        text.lines().filter(|l| !l.is_empty()).collect()
    })
}

/// Whether the dictionary lists `lower` (already lowercase) as it is.
fn listed(lower: &str) -> bool {
    table().binary_search(&lower).is_ok()
}

/// How many words the embedded dictionary lists.
pub fn len() -> usize {
    table().len()
}

/// Whether the base vocabulary knows `word` (see the module docs for the rules). Case does not
/// matter; a typographic apostrophe (`’`) counts as `'`. An empty word is not known.
pub fn is_known(word: &str) -> bool {
    let lower: String = word
        .trim()
        .chars()
        .map(|c| if c == '\u{2019}' { '\'' } else { c })
        .flat_map(char::to_lowercase)
        .collect();
    known_lower(&lower)
}

/// [`is_known`] for a word already lowercased, with `'` apostrophes.
fn known_lower(w: &str) -> bool {
    if w.is_empty() {
        return false;
    }
    if listed(w) {
        return true;
    }
    // Numbers and symbols: spoken as number words the base model has.
    if !w.chars().any(char::is_alphabetic) {
        return w.chars().any(|c| c.is_ascii_digit());
    }
    if w.chars().count() == 1 {
        return true;
    }
    if let Some(stem) = w.strip_suffix("'s").or_else(|| w.strip_suffix('\'')) {
        if !stem.is_empty() && known_lower(stem) {
            return true;
        }
    }
    if w.contains('-') {
        return all_parts_known(w, '-');
    }
    if w.contains('.') {
        return all_parts_known(w, '.');
    }
    if w.chars().any(|c| c.is_ascii_digit()) {
        return alphanumeric_known(w);
    }
    if plural_of_known(w) {
        return true;
    }
    METRIC_PREFIXES.iter().any(|p| {
        w.strip_prefix(p)
            .is_some_and(|rest| rest.len() >= 3 && (listed(rest) || plural_of_known(rest)))
    })
}

/// Whether every non-empty part of `w` between `sep`s is known (and there is one).
fn all_parts_known(w: &str, sep: char) -> bool {
    let mut parts = w.split(sep).filter(|p| !p.is_empty()).peekable();
    parts.peek().is_some() && parts.all(known_lower)
}

/// `routers` from `router`, `boxes` from `box`; the stem must be listed as it is, so that a
/// plural of an unknown name (`quorbits`) stays unknown.
fn plural_of_known(w: &str) -> bool {
    let Some(stem) = w.strip_suffix('s') else {
        return false;
    };
    stem.len() >= 2
        && (listed(stem)
            || w.strip_suffix("es")
                .is_some_and(|s| s.len() >= 2 && listed(s)))
}

/// Letters mixed with digits (`x9`, `4g`, `1990s`, `21st`): every run of letters must be known
/// on its own, or be an ordinal or plural ending right after digits.
fn alphanumeric_known(w: &str) -> bool {
    let mut after_digits = false;
    let mut rest = w;
    while !rest.is_empty() {
        let letters_len = rest
            .char_indices()
            .find(|(_, c)| !c.is_alphabetic() && *c != '\'')
            .map_or(rest.len(), |(i, _)| i);
        if letters_len > 0 {
            let run = rest[..letters_len].trim_matches('\'');
            let ending = after_digits && matches!(run, "st" | "nd" | "rd" | "th" | "s");
            if !run.is_empty() && !ending && !known_lower(run) {
                return false;
            }
            rest = &rest[letters_len..];
        }
        let other_len = rest
            .char_indices()
            .find(|(_, c)| c.is_alphabetic())
            .map_or(rest.len(), |(i, _)| i);
        after_digits = rest[..other_len].chars().any(|c| c.is_ascii_digit());
        rest = &rest[other_len..];
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_list_is_sorted_unique_lowercase_and_complete() {
        let t = table();
        assert!(t.len() > 120_000, "{}", t.len());
        assert!(t.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        assert!(t.iter().all(|w| !w.contains('(') && *w == w.to_lowercase()));
        assert_eq!(len(), t.len());
    }

    #[test]
    fn ordinary_words_are_known_in_any_case() {
        for w in [
            "the",
            "The",
            "THE",
            "router",
            "Routers",
            "warranty",
            "thermostat",
            "hotspot",
            "customer",
            "account",
            "technician",
            "downtime",
            "escalated",
            "Harmon",
            "Dana",
        ] {
            assert!(is_known(w), "{w}");
        }
    }

    #[test]
    fn apostrophes_hyphens_and_acronym_periods() {
        for w in [
            "don't",
            "customer's",
            "holder's",
            "customers'",
            "router's",
            "Quorbit's-free",
            "Wi-Fi",
            "re-seat",
            "trade-in",
            "U.S.",
            "I.B.M.",
            "a.m.",
            "can’t",
        ] {
            // "Quorbit's-free" is not known: every hyphen part must be.
            assert_eq!(is_known(w), w != "Quorbit's-free", "{w}");
        }
    }

    #[test]
    fn numbers_letters_and_mixed_tokens() {
        for w in [
            "42", "2.4", "10%", "1,000", "x", "Q", "X9", "Q7", "4G", "1990s", "21st",
        ] {
            assert!(is_known(w), "{w}");
        }
        assert!(!is_known("Covid19"), "the letters must be known");
        assert!(!is_known(""));
        assert!(!is_known("   "));
        assert!(!is_known("---"));
    }

    #[test]
    fn plurals_and_metric_prefixes_need_a_listed_stem() {
        for w in [
            "gigahertz",
            "gigabit",
            "gigabits",
            "megapixels",
            "boxes",
            "routers",
        ] {
            assert!(is_known(w), "{w}");
        }
        for w in ["Quorbits", "Zentraphones", "gigaquorbit", "Veltrix's"] {
            assert!(!is_known(w), "{w}");
        }
    }

    #[test]
    fn product_names_and_coined_spellings_are_not_known() {
        for w in [
            "Zentraphone",
            "Quorbit",
            "Veltrix",
            "MyVeltrix",
            "Kalvani",
            "Nimbra",
            "Orlessa",
            "eSIM",
            "HIPAA",
            "Xeljanz",
            "Ozempic",
        ] {
            assert!(!is_known(w), "{w}");
        }
    }
}
