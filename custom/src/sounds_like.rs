//! Derived `sounds_like` spellings: how a custom word probably sounds, written as English
//! spellings, for words whose user gave none.
//!
//! A word is cut into pieces, and each piece is written the way it is said:
//!
//! 1. separators (`-`, `_`, `.`, spaces) and changes of case cut it (`MyVeltrix` → `My` +
//!    `Veltrix`, `eSIM` → `e` + `SIM`, `HHonors` → `H` + `Honors`), and so do digits (`X9`);
//! 2. a single letter is said as a letter (`e.`, `x.`);
//! 3. a run of 2–5 capitals is an acronym: said letter by letter (`i. b. m.`), and, when it
//!    can be pronounced as a word, also as that word (`sim`, `hi paa`), the word first if the
//!    base vocabulary knows it;
//! 4. a piece the base vocabulary knows stays as it is (`my`);
//! 5. any other piece is cut into syllable-like chunks: one per group of vowels, the consonants
//!    between two groups going to the second as far as they can begin an English syllable
//!    (maximal onset: `Zentraphone` → `zen tra phone`, `Nimbra` → `nim bra`), a final silent
//!    `e` staying with the syllable before it;
//! 6. digits are said as numbers (`nine`, `forty two`) and, for two or more, also digit by
//!    digit (`nine one one`) and, for years, in pairs (`nineteen ninety`).
//!
//! The first spelling joins every piece's first reading; each further one changes one piece to
//! its next reading (at most [`MAX_SOUNDS_LIKE`] in all). Spellings are lowercase, contain no
//! digits and at most [`MAX_SOUNDS_LIKE_CHARS`] characters besides spaces, as the interface
//! requires of a user's own.

use crds::customization::{MAX_SOUNDS_LIKE, MAX_SOUNDS_LIKE_CHARS};

use speechbatch_textfmt::numbers;

use crate::lexicon;

/// Derived `sounds_like` spellings of `word`, best first (see the module docs). Never empty.
pub fn derive_sounds_like(word: &str) -> Vec<String> {
    let word = word.trim();
    let lower = word.to_lowercase().replace('\u{2019}', "'");
    // A word the base vocabulary knows as it stands is said as it is written, unless it holds
    // an acronym (SSN and ATMs are known, but said as letters).
    let capitals_run = word
        .chars()
        .zip(word.chars().skip(1))
        .any(|(a, b)| a.is_uppercase() && b.is_uppercase());
    if !lower.is_empty()
        && !capitals_run
        && lower
            .chars()
            .all(|c| c.is_alphabetic() || c == '\'' || c == '-')
        && lexicon::is_known(&lower)
        && !lower.contains('-')
    {
        return vec![lower];
    }
    let pieces: Vec<Vec<String>> = pieces(word).iter().map(|p| p.readings()).collect();
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if fits(&s) && !out.contains(&s) && out.len() < MAX_SOUNDS_LIKE {
            out.push(s);
        }
    };
    let first: Vec<&str> = pieces.iter().map(|r| r[0].as_str()).collect();
    push(first.join(" "));
    for (i, readings) in pieces.iter().enumerate() {
        for other in &readings[1..] {
            let mut v = first.clone();
            v[i] = other;
            push(v.join(" "));
        }
    }
    if out.is_empty() {
        out.push(shortened(&first, &lower));
    }
    out
}

/// Whether `s` is a usable spelling: non-empty, no digits, within the length limit (which, as
/// in the interface, does not count spaces).
fn fits(s: &str) -> bool {
    !s.trim().is_empty()
        && !s.chars().any(|c| c.is_ascii_digit())
        && s.chars().filter(|c| !c.is_whitespace()).count() <= MAX_SOUNDS_LIKE_CHARS
}

/// A spelling that fits for a word whose readings are too long: the pieces without their
/// syllable breaks, cut at the limit. The word itself (minus digits) when nothing else is left.
fn shortened(first: &[&str], lower: &str) -> String {
    let joined = if first.is_empty() {
        lower.chars().filter(|c| !c.is_ascii_digit()).collect()
    } else {
        first.join(" ")
    };
    let mut out = String::new();
    let mut count = 0;
    for c in joined.chars() {
        if c.is_whitespace() {
            out.push(' ');
            continue;
        }
        if count == MAX_SOUNDS_LIKE_CHARS {
            break;
        }
        out.push(c);
        count += 1;
    }
    let out = out.trim().to_string();
    if out.is_empty() {
        // Unreachable for a valid custom word (it has a letter or a digit), but a spelling
        // must never be empty.
        "unknown".to_string()
    } else {
        out
    }
}

/// One piece of a word.
#[derive(Debug, PartialEq)]
enum Piece {
    /// Letters as written (case kept: it tells acronyms apart), possibly ending in `'s`.
    Letters(String),
    /// A run of digits, with the ordinal or plural ending written right after it (`21st`,
    /// `1990s`).
    Digits(String, Option<&'static str>),
    /// A decimal point between digits.
    Point,
    /// A symbol said as a word (`&` → `and`).
    Said(&'static str),
}

impl Piece {
    /// How the piece may be said, best first (never empty).
    fn readings(&self) -> Vec<String> {
        match self {
            Piece::Letters(s) => letter_readings(s),
            Piece::Digits(d, ending) => number_readings(d, *ending),
            Piece::Point => vec!["point".to_string()],
            Piece::Said(w) => vec![w.to_string()],
        }
    }
}

/// Cuts `word` into pieces at separators, digits, symbols and case changes.
fn pieces(word: &str) -> Vec<Piece> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphabetic() {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphabetic()
                    || (is_apostrophe(chars[i])
                        && chars.get(i + 1).is_some_and(|c| c.is_alphabetic())))
            {
                i += 1;
            }
            let run: String = chars[start..i].iter().collect();
            out.extend(split_case(&run).into_iter().map(Piece::Letters));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let digits: String = chars[start..i].iter().collect();
            let ending_len = chars[i..].iter().take_while(|c| c.is_alphabetic()).count();
            let ending: String = chars[i..i + ending_len].iter().collect();
            let ending = ["st", "nd", "rd", "th", "s"]
                .into_iter()
                .find(|e| *e == ending.to_lowercase());
            if ending.is_some() {
                i += ending_len;
            }
            out.push(Piece::Digits(digits, ending));
            let decimal = i + 1 < chars.len()
                && matches!(chars[i], '.' | ',')
                && chars[i + 1].is_ascii_digit();
            if decimal && chars[i] == '.' {
                out.push(Piece::Point);
            }
            if decimal {
                i += 1;
            }
        } else {
            if let Some(said) = symbol_word(c) {
                out.push(Piece::Said(said));
            }
            i += 1;
        }
    }
    out
}

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '\u{2019}'
}

/// Symbols that are said as a word inside names (`AT&T`, `C+`).
fn symbol_word(c: char) -> Option<&'static str> {
    Some(match c {
        '&' => "and",
        '+' => "plus",
        '@' => "at",
        '%' => "percent",
        '$' => "dollar",
        '=' => "equals",
        _ => return None,
    })
}

/// Cuts a run of letters where the case changes: before a capital that follows a small letter
/// (`my|Veltrix`, `e|SIM`), and before the last of several capitals when small letters follow
/// (`HTTP|Server`, `H|Honors`), except a final plural `s` (`SIMs` stays whole).
fn split_case(run: &str) -> Vec<String> {
    let c: Vec<char> = run.chars().collect();
    let n = c.len();
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..n {
        let lower_to_upper = c[i - 1].is_lowercase() && c[i].is_uppercase();
        let acronym_end = c[i - 1].is_uppercase()
            && c[i].is_uppercase()
            && i + 1 < n
            && c[i + 1].is_lowercase()
            && !(i + 2 == n && c[i + 1] == 's');
        if lower_to_upper || acronym_end {
            out.push(c[start..i].iter().collect());
            start = i;
        }
    }
    out.push(c[start..].iter().collect());
    out
}

/// 2–5 capitals (and nothing else): said as letters unless known as a word.
fn is_acronym(piece: &str) -> bool {
    let n = piece.chars().count();
    (2..=5).contains(&n) && piece.chars().all(|c| c.is_uppercase())
}

/// Readings of a run of letters (see the module docs, rules 2–5).
fn letter_readings(piece: &str) -> Vec<String> {
    let (stem, possessive) = match crate::analysis::strip_possessive(piece) {
        s if s.len() < piece.len() => (s, "'s"),
        s => (s, ""),
    };
    let (stem, plural) = match stem.strip_suffix('s') {
        Some(s) if possessive.is_empty() && is_acronym(s) => (s, true),
        _ => (stem, false),
    };
    let lower: String = stem
        .chars()
        .filter(|c| !is_apostrophe(*c))
        .flat_map(char::to_lowercase)
        .collect();
    let mut readings = if lower.chars().count() == 1 {
        vec![letters(&lower)]
    } else if is_acronym(stem) {
        let spelt = letters(&lower);
        let known = lexicon::is_known(&lower);
        // Two capitals are nearly always letters (US, IT, TV, OK).
        match (lower.chars().count() > 2 && pronounceable(&lower), known) {
            (true, true) => vec![lower.clone(), spelt],
            (true, false) => vec![spelt, syllables(&lower).join(" ")],
            (false, _) => vec![spelt],
        }
    } else if lexicon::is_known(&stem.replace('\u{2019}', "'")) {
        vec![stem.to_lowercase().replace('\u{2019}', "'")]
    } else {
        vec![syllables(&lower).join(" ")]
    };
    for r in &mut readings {
        if plural {
            // "SIMs": the word read as a word takes its plural; letters end with the "s" said.
            r.push_str(if r.ends_with('.') { " s" } else { "s" });
        }
        r.push_str(possessive);
    }
    readings
}

/// Letters said one by one: `ibm` → `i. b. m.`.
fn letters(lower: &str) -> String {
    lower
        .chars()
        .map(|c| format!("{c}."))
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_vowel_letter(c: char) -> bool {
    matches!(
        c,
        'a' | 'e'
            | 'i'
            | 'o'
            | 'u'
            | 'à'
            | 'á'
            | 'â'
            | 'ä'
            | 'è'
            | 'é'
            | 'ê'
            | 'ë'
            | 'ì'
            | 'í'
            | 'î'
            | 'ï'
            | 'ò'
            | 'ó'
            | 'ô'
            | 'ö'
            | 'ù'
            | 'ú'
            | 'û'
            | 'ü'
    )
}

/// Which letters of `w` (lowercase) are vowels as spoken: `u` after `q` is not (`qu` begins a
/// syllable); `y` and `w` are when they do not begin the word and no vowel follows (`my`,
/// `new`, but `kayak`, `yes`).
fn vowel_flags(w: &[char]) -> Vec<bool> {
    let mut flags = vec![false; w.len()];
    for i in 0..w.len() {
        let next_vowel = w.get(i + 1).copied().is_some_and(is_vowel_letter);
        flags[i] = match w[i] {
            'u' if i > 0 && w[i - 1] == 'q' => false,
            'y' => i > 0 && !next_vowel,
            'w' => i > 0 && flags[i - 1] && !next_vowel,
            c => is_vowel_letter(c),
        };
    }
    // A final silent "e" (phone, phones) is no syllable of its own, unless it makes one with
    // "l" after a consonant (nimble) or "es" follows a hissing sound (boxes).
    let n = w.len();
    let silent_at = if n >= 3 && w[n - 1] == 'e' {
        Some(n - 1)
    } else if n >= 4 && w[n - 2] == 'e' && w[n - 1] == 's' && !matches!(w[n - 3], 's' | 'x' | 'z') {
        Some(n - 2)
    } else {
        None
    };
    if let Some(e) = silent_at {
        let before = w[e - 1];
        let consonant_before = !flags[e - 1];
        let syllabic_le = before == 'l' && e >= 2 && !flags[e - 2];
        let other_vowel = flags[..e - 1].iter().any(|v| *v);
        if consonant_before && !syllabic_le && other_vowel {
            flags[e] = false;
        }
    }
    flags
}

/// Consonant clusters that can begin an English syllable (besides single consonants other than
/// `x`).
const ONSETS: [&str; 43] = [
    "bl", "br", "ch", "cl", "cr", "dr", "dw", "fl", "fr", "gl", "gr", "gw", "kl", "kn", "kr", "ph",
    "pl", "pr", "qu", "sc", "sh", "sk", "sl", "sm", "sn", "sp", "st", "sw", "th", "tr", "tw", "wh",
    "wr", "chr", "phr", "sch", "scr", "shr", "spl", "spr", "squ", "str", "thr",
];

/// Consonant clusters that can end an English syllable (besides single consonants and doubled
/// letters).
const CODAS: [&str; 44] = [
    "ch", "ck", "ct", "ft", "gh", "ld", "lf", "lk", "lm", "lp", "lt", "mb", "mp", "nd", "ng", "nk",
    "nt", "nx", "ps", "pt", "rb", "rc", "rd", "rf", "rg", "rk", "rl", "rm", "rn", "rp", "rs", "rt",
    "rv", "sh", "sk", "sp", "st", "th", "ts", "tz", "nch", "nth", "rst", "tch",
];

/// The longest cluster in [`ONSETS`] and [`CODAS`]. A longer run of consonants is neither, and
/// is not copied to find out: syllable breaking tries every split of the run between two vowels,
/// so copying made a word with thousands of consonants in a row take quadratic time (found by
/// fuzzing corpora).
const MAX_CLUSTER: usize = 3;

fn is_onset(c: &[char]) -> bool {
    match c {
        [] => true,
        [x] => *x != 'x',
        _ if c.len() > MAX_CLUSTER => false,
        _ => {
            let s: String = c.iter().collect();
            ONSETS.contains(&s.as_str())
        }
    }
}

fn is_coda(c: &[char]) -> bool {
    match c {
        [] | [_] => true,
        [a, b] if a == b => true,
        _ if c.len() > MAX_CLUSTER => false,
        _ => {
            let s: String = c.iter().collect();
            CODAS.contains(&s.as_str())
        }
    }
}

/// The vowel groups, as `(start, end)` index ranges of the word `flags` describes.
fn nuclei(flags: &[bool]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (i, &vowel) in flags.iter().enumerate() {
        if vowel {
            match out.last_mut() {
                Some((_, end)) if *end == i => *end = i + 1,
                _ => out.push((i, i + 1)),
            }
        }
    }
    out
}

/// Syllable-like chunks of `lower` (see the module docs, rule 5); the whole word when it has no
/// vowel.
fn syllables(lower: &str) -> Vec<String> {
    let w: Vec<char> = lower.chars().collect();
    let flags = vowel_flags(&w);
    let groups = nuclei(&flags);
    if groups.len() < 2 {
        return vec![lower.to_string()];
    }
    let mut out = Vec::new();
    let mut start = 0;
    for pair in groups.windows(2) {
        let (gap_start, gap_end) = (pair[0].1, pair[1].0);
        // The longest end of the gap that can begin a syllable starts the next chunk.
        let onset = (gap_start..=gap_end)
            .find(|&k| is_onset(&w[k..gap_end]))
            .unwrap_or(gap_end);
        out.push(w[start..onset].iter().collect());
        start = onset;
    }
    out.push(w[start..].iter().collect());
    out
}

/// Whether `lower` can be read as a word: it has a vowel, and its first and last consonant
/// clusters, and what each inner cluster leaves before the next syllable's onset, are English.
fn pronounceable(lower: &str) -> bool {
    let w: Vec<char> = lower.chars().collect();
    let flags = vowel_flags(&w);
    let groups = nuclei(&flags);
    let (Some(first), Some(last)) = (groups.first(), groups.last()) else {
        return false;
    };
    if !is_onset(&w[..first.0]) || !is_coda(&w[last.1..]) {
        return false;
    }
    groups.windows(2).all(|pair| {
        let (gap_start, gap_end) = (pair[0].1, pair[1].0);
        let onset = (gap_start..=gap_end)
            .find(|&k| is_onset(&w[k..gap_end]))
            .unwrap_or(gap_end);
        is_coda(&w[gap_start..onset])
    })
}

/// Readings of a run of digits (see the module docs, rule 6), with its written ending.
fn number_readings(d: &str, ending: Option<&str>) -> Vec<String> {
    let one_by_one = numbers::digits(d);
    let as_number = (d.len() <= 6 && (d.len() == 1 || !d.starts_with('0')))
        .then(|| d.parse::<u32>().ok())
        .flatten();
    let Some(n) = as_number else {
        return vec![one_by_one];
    };
    let mut out = Vec::new();
    // Four digits from 1100 are usually said in pairs (nineteen ninety, twenty twenty four,
    // fifteen hundred), except 2000-2009 (two thousand five).
    if d.len() == 4 && (1100..=2099).contains(&n) && !(2000..=2009).contains(&n) {
        out.push(numbers::year(u64::from(n)));
    }
    out.push(numbers::cardinal(u64::from(n)));
    match ending {
        Some(e) => out.iter().map(|r| with_ending(r, e)).collect(),
        None => {
            if d.len() >= 2 {
                out.push(one_by_one);
            }
            out
        }
    }
}

/// A number in words with a written ending: `twenty one` + `st` → `twenty first`, `ninety` +
/// `s` → `nineties`.
fn with_ending(words: &str, ending: &str) -> String {
    let (head, last) = match words.rsplit_once(' ') {
        Some((h, l)) => (format!("{h} "), l),
        None => (String::new(), words),
    };
    let last = if ending == "s" {
        match last.strip_suffix('y') {
            Some(stem) => format!("{stem}ies"),
            None if last.ends_with('x') => format!("{last}es"),
            None => format!("{last}s"),
        }
    } else {
        match last {
            "one" => "first".to_string(),
            "two" => "second".to_string(),
            "three" => "third".to_string(),
            "five" => "fifth".to_string(),
            "eight" => "eighth".to_string(),
            "nine" => "ninth".to_string(),
            "twelve" => "twelfth".to_string(),
            _ => match last.strip_suffix('y') {
                Some(stem) => format!("{stem}ieth"),
                None => format!("{last}th"),
            },
        }
    };
    format!("{head}{last}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(word: &str) -> String {
        derive_sounds_like(word).remove(0)
    }

    #[test]
    fn a_word_with_a_huge_consonant_run_between_vowels_still_gets_spellings_that_fit() {
        // Found by fuzzing: "ASWWW…WÌs" with thousands of W's took seconds, growing with the
        // square of the run. Unbounded, a corpus with one such word held its analysis for hours.
        let word = format!("as{}is", "w".repeat(200_000));
        let spellings = derive_sounds_like(&word);
        assert!(!spellings.is_empty());
        assert!(spellings.iter().all(|s| fits(s)), "{spellings:?}");
        assert!(!is_onset(&['s', 't', 'r', 'x']) && !is_coda(&['r', 's', 't', 's']));
    }

    #[test]
    fn unknown_names_split_into_syllables() {
        for (word, expected) in [
            ("Zentraphone", "zen tra phone"),
            ("Quorbit", "quor bit"),
            ("Kalvani", "kal va ni"),
            ("Nimbra", "nim bra"),
            ("Orlessa", "or les sa"),
            ("Veltrix", "vel trix"),
            ("myveltrix", "my vel trix"),
            ("Xeljanz", "xel janz"),
            ("Ozempic", "o zem pic"),
            ("Humira", "hu mi ra"),
            ("Keytruda", "key tru da"),
            ("Skyrizi", "sky ri zi"),
            ("Dupixent", "du pix ent"),
            ("Zentraphones", "zen tra phones"),
            ("Rinvoq", "rin voq"),
            ("Anthropic", "an thro pic"),
        ] {
            assert_eq!(first(word), expected, "{word}");
        }
    }

    #[test]
    fn case_changes_cut_words_and_known_parts_stay() {
        assert_eq!(first("MyVeltrix"), "my vel trix");
        assert_eq!(first("eSIM"), "e. sim");
        assert_eq!(derive_sounds_like("eSIM"), ["e. sim", "e. s. i. m."]);
        assert_eq!(first("HHonors"), "h. honors");
        assert_eq!(first("QuorbitMesh"), "quor bit mesh");
        assert_eq!(first("HTTPServer"), "h. t. t. p. server");
        assert_eq!(first("iPhone"), "iphone", "the dictionary lists it whole");
    }

    #[test]
    fn acronyms_are_said_as_letters_and_pronounceable_ones_also_as_words() {
        assert_eq!(derive_sounds_like("SSN"), ["s. s. n."]);
        assert_eq!(derive_sounds_like("IBM"), ["i. b. m."]);
        assert_eq!(derive_sounds_like("HIPAA"), ["h. i. p. a. a.", "hi paa"]);
        assert_eq!(derive_sounds_like("NASA"), ["nasa", "n. a. s. a."]);
        assert_eq!(derive_sounds_like("TV"), ["t. v."]);
        assert_eq!(derive_sounds_like("ATMs"), ["a. t. m. s"]);
        assert_eq!(derive_sounds_like("SIMs"), ["sims", "s. i. m. s"]);
        assert_eq!(first("McDonald's"), "mcdonald's");
        assert_eq!(first("AT&T"), "a. t. and t.");
        assert_eq!(first("U.S."), "u. s.");
        assert_eq!(
            first("VELTRIX"),
            "vel trix",
            "more than five capitals is a word"
        );
    }

    #[test]
    fn digits_are_said_as_numbers() {
        assert_eq!(derive_sounds_like("X9"), ["x. nine"]);
        assert_eq!(derive_sounds_like("Q7"), ["q. seven"]);
        assert_eq!(
            derive_sounds_like("911"),
            ["nine hundred eleven", "nine one one"]
        );
        assert_eq!(
            derive_sounds_like("Zentraphone2024"),
            [
                "zen tra phone twenty twenty four",
                "zen tra phone two thousand twenty four",
                "zen tra phone two zero two four"
            ]
        );
        assert_eq!(
            derive_sounds_like("1990s"),
            ["nineteen nineties", "one thousand nine hundred nineties"]
        );
        assert_eq!(first("21st"), "twenty first");
        assert_eq!(first("2nd"), "second");
        assert_eq!(first("100th"), "one hundredth");
        assert_eq!(first("Gen5s"), "gen fives");
        assert_eq!(first("2005"), "two thousand five");
        assert_eq!(first("1500"), "fifteen hundred");
        assert_eq!(first("v2.4"), "v. two point four");
        assert_eq!(first("007"), "zero zero seven");
        assert_eq!(first("A380"), "a. three hundred eighty");
        assert_eq!(first("12345678"), "one two three four five six seven eight");
    }

    #[test]
    fn possessives_hyphens_and_known_words() {
        assert_eq!(first("Kalvani's"), "kal va ni's");
        assert_eq!(first("router"), "router");
        assert_eq!(first("Wi-Fi"), "wi fi");
        assert_eq!(first("Quorbit-Mesh"), "quor bit mesh");
        assert_eq!(first("zentra_phone"), "zen tra phone");
    }

    #[test]
    fn every_spelling_is_lowercase_digit_free_and_within_the_limit() {
        for word in [
            "Zentraphone",
            "supercalifragilisticexpialidocious",
            "Pneumonoultramicroscopicsilicovolcanoconiosis",
            "ABCDEABCDEABCDEABCDEABCDE",
            "X9",
            "123456789012345678901234567890123456789012345678901234567890",
            "Ünïcødé",
            "&",
            "a",
            "Brrr",
            "Tschüss",
        ] {
            let all = derive_sounds_like(word);
            assert!(
                !all.is_empty() && all.len() <= MAX_SOUNDS_LIKE,
                "{word}: {all:?}"
            );
            for s in &all {
                assert!(fits(s), "{word}: {s:?}");
                assert_eq!(*s, s.to_lowercase(), "{word}");
            }
        }
        assert_eq!(first("Brrr"), "brrr");
        assert_eq!(first("a"), "a");
        assert_eq!(first("&"), "and");
    }
}
