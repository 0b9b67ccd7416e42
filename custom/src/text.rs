//! Corpus tokenisation: plain text into the words a corpus counts.
//!
//! A corpus is prose (one sentence a line is ideal), so words are what whitespace and a few
//! separators (`/`, `|`, `\`, dashes used as punctuation, ellipses) delimit, with the
//! punctuation around them removed. What is inside a word stays as written, because it is part
//! of how the word is spelt and shown: apostrophes (`holder's`), hyphens (`trade-in`), periods
//! of acronyms (`U.S.`, kept whole even at the end of a sentence), and case (`eSIM`,
//! `MyVeltrix`). Tokens with neither letters nor digits (a lone `-` or `...`) are not words.

/// Characters that separate words besides whitespace: a slash in `and/or` or a dash used as
/// punctuation joins no single spoken word.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '/' | '\\' | '|' | '\u{2014}' | '\u{2013}' | '\u{2026}')
}

/// The words of `text`, in order, as slices of it (see the module docs).
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(is_separator)
        // A double hyphen is the typewriter spelling of a dash: punctuation, not a compound.
        .flat_map(|t| t.split("--"))
        .filter_map(trim_word)
}

/// `token` without the punctuation around it, or `None` when nothing word-like is left.
fn trim_word(token: &str) -> Option<&str> {
    let start = token.find(char::is_alphanumeric)?;
    let last = token
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_alphanumeric())
        .map(|(i, c)| i + c.len_utf8())?;
    let word = &token[start..last];
    // "U.S." keeps its final period: the letters with periods between them are an acronym,
    // and the period is part of its spelling, not the end of the sentence.
    if token[last..].starts_with('.') && is_dotted_acronym(word) {
        return Some(&token[start..=last]);
    }
    Some(word)
}

/// `U.S`, `a.m`: single letters joined by periods (the final period already cut off).
fn is_dotted_acronym(word: &str) -> bool {
    word.contains('.')
        && word.split('.').all(|part| {
            let mut chars = part.chars();
            matches!((chars.next(), chars.next()), (Some(c), None) if c.is_alphabetic())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<&str> {
        words(text).collect()
    }

    #[test]
    fn punctuation_around_words_goes_case_and_inner_marks_stay() {
        assert_eq!(
            all("Thank you for calling Veltrix Wireless, my name is Dana, how can I help?"),
            [
                "Thank", "you", "for", "calling", "Veltrix", "Wireless", "my", "name", "is",
                "Dana", "how", "can", "I", "help"
            ]
        );
        assert_eq!(
            all("Your eSIM profile (for the \"Zentraphone\") can be downloaded over Wi-Fi."),
            [
                "Your",
                "eSIM",
                "profile",
                "for",
                "the",
                "Zentraphone",
                "can",
                "be",
                "downloaded",
                "over",
                "Wi-Fi"
            ]
        );
        assert_eq!(
            all("the account holder's SSN; 'quoted' [MyVeltrix]!"),
            ["the", "account", "holder's", "SSN", "quoted", "MyVeltrix"]
        );
    }

    #[test]
    fn acronym_periods_decimals_and_numbers() {
        assert_eq!(
            all("Made in the U.S. by I.B.M. at 2.4 GHz, 10% off... $5."),
            ["Made", "in", "the", "U.S.", "by", "I.B.M.", "at", "2.4", "GHz", "10", "off", "5"]
        );
        assert_eq!(all("It ended."), ["It", "ended"]);
        assert_eq!(all("e.g."), ["e.g."]);
    }

    #[test]
    fn separators_and_tokens_without_letters_or_digits() {
        assert_eq!(
            all("and/or - yes -- no \u{2014} maybe...   ...  \t\n ok|fine"),
            ["and", "or", "yes", "no", "maybe", "ok", "fine"]
        );
        assert_eq!(
            all("re-seat the SIM--then wait"),
            ["re-seat", "the", "SIM", "then", "wait"]
        );
        assert!(all("  \n\t ... !!! ").is_empty());
        assert_eq!(all("café naïve"), ["café", "naïve"]);
    }
}
