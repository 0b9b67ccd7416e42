//! The default house style: recogniser words in, spoken-form words out. Numbers, money, dates,
//! times, percentages, ordinals and phone numbers become the words a US speaker says,
//! punctuation goes (apostrophes inside words stay), hyphenated words split, and hesitations
//! become `%HESITATION`, as the service writes them for US English
//! (<https://cloud.ibm.com/docs/speech-to-text?topic=speech-to-text-basic-response#response-hesitation>).
//!
//! Each output token remembers whether punctuation stood before it (smart formatting does not
//! join numbers across it) and whether it starts a sentence (for src/case.rs).

use crate::numbers::classify;
use crate::readings::{self, Around};
use crate::{span, Word, HESITATION};

/// One spoken-form token with what the punctuation around it said.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tok {
    pub word: Word,
    /// Punctuation (comma, full stop, dash, ...) separated this token from the previous one.
    pub brk: bool,
    /// This token starts a sentence (or the result).
    pub sent: bool,
}

/// Fillers the service reports as `%HESITATION`.
const HESITATIONS: &[&str] = &[
    "um", "umm", "uh", "uhm", "uhh", "hmm", "hm", "mm", "mmm", "er", "erm",
];
/// Affirmations and exclamations that contain a filler but are words in their own right.
const NOT_HESITATIONS: &[&str] = &["uh-huh", "mm-hmm", "uh-oh", "mhm"];

/// Titles that Whisper abbreviates before names; the service's vocabulary has the words.
const TITLES: &[(&str, &str)] = &[
    ("dr", "doctor"),
    ("mr", "mister"),
    ("mrs", "missus"),
    ("ms", "miz"),
    ("prof", "professor"),
];
/// Other abbreviations and their spoken words.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("ok", "okay"),
    ("o.k", "okay"),
    ("jr", "junior"),
    ("sr", "senior"),
    ("vs", "versus"),
    ("etc", "et cetera"),
    ("e.g", "for example"),
    ("i.e", "that is"),
];
/// Symbols said as words when they stand alone.
const SYMBOLS: &[(&str, &str)] = &[
    ("&", "and"),
    ("+", "plus"),
    ("%", "percent"),
    ("=", "equals"),
    ("@", "at"),
];

const LEAD_STRIP: &[char] = &['"', '\'', '(', '[', '{', '<', '«', '¿', '¡', '_', '~', '`'];
const TRAIL_STRIP: &[char] = &[
    '"', '\'', ')', ']', '}', '>', '»', '.', ',', ';', ':', '!', '?', '…', '_', '~', '`', '-',
];
const BREAK_CHARS: &[char] = &[',', ';', ':', '.', '!', '?', '…'];

/// A recogniser word (or a whitespace-separated part of one) with its punctuation peeled off.
#[derive(Debug, Clone)]
struct Raw {
    lead: String,
    core: String,
    trail: String,
    word: Word,
}

impl Raw {
    fn new(word: Word) -> Raw {
        let text = word.text.as_str();
        let mut lead_end = 0;
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        for (k, (pos, c)) in chars.iter().enumerate() {
            let dash_not_sign =
                *c == '-' && !chars.get(k + 1).is_some_and(|(_, n)| n.is_ascii_digit());
            if LEAD_STRIP.contains(c) || dash_not_sign {
                lead_end = pos + c.len_utf8();
            } else {
                break;
            }
        }
        let rest = &text[lead_end..];
        let core_len = rest.trim_end_matches(TRAIL_STRIP).len();
        let (lead, core, trail) = (
            text[..lead_end].to_string(),
            rest[..core_len].to_string(),
            rest[core_len..].to_string(),
        );
        Raw {
            lead,
            core,
            trail,
            word,
        }
    }

    fn lower(&self) -> String {
        self.core.to_lowercase()
    }

    /// Whether punctuation after this token separates it from the next.
    fn breaks_after(&self) -> bool {
        self.trail.contains(BREAK_CHARS) || (self.core.is_empty() && !self.lead.is_empty())
    }
}

/// Replaces typographic punctuation with the ASCII the rules expect.
fn normalise(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{2018}' | '\u{2019}' | '\u{02bc}' => '\'',
            '\u{201c}' | '\u{201d}' => '"',
            '\u{2013}' | '\u{2014}' | '\u{2212}' => '-',
            _ => c,
        })
        .collect()
}

/// Splits recogniser words on whitespace (sharing each word's span) and peels punctuation.
fn explode(words: &[Word]) -> Vec<Raw> {
    let mut raws = Vec::new();
    for w in words {
        let text = normalise(&w.text);
        let parts: Vec<String> = text.split_whitespace().map(str::to_string).collect();
        if parts.is_empty() {
            continue;
        }
        for piece in span::split(parts, w.start, w.end, w.confidence) {
            raws.push(Raw::new(piece));
        }
    }
    raws
}

/// Whether a sentence ends after `raw`. Titles never end one; other abbreviations with dots
/// ("p.m.", "etc.") end one only when the next word is capitalised.
fn ends_sentence(raw: &Raw, next: Option<&Raw>) -> bool {
    if !raw.trail.contains(['.', '!', '?', '…']) {
        return false;
    }
    let lower = raw.lower();
    if TITLES.iter().any(|(t, _)| *t == lower) || lower == "no" || lower == "st" {
        return raw.trail.contains(['!', '?']);
    }
    let abbreviation = lower.contains('.') || ABBREVIATIONS.iter().any(|(a, _)| *a == lower);
    if abbreviation && !raw.trail.contains(['!', '?']) {
        return next.is_some_and(|n| n.core.starts_with(char::is_uppercase));
    }
    true
}

/// Whether the previous token reads as a number, so that "am"/"pm" after it is a time suffix.
fn number_like(prev: &str) -> bool {
    prev.chars().any(|c| c.is_ascii_digit()) || classify(prev).is_some() || prev == "o'clock"
}

fn is_hesitation(lower: &str) -> bool {
    HESITATIONS.contains(&lower)
}

fn words(s: &str) -> Vec<String> {
    s.split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Spoken words for the token at `i` and how many tokens they stand for.
fn convert(raws: &[Raw], i: usize) -> (Vec<String>, usize) {
    let r = &raws[i];
    let core = r.core.as_str();
    if core.is_empty() {
        return (Vec::new(), 1);
    }
    let lc = r.lower();
    let prev = i
        .checked_sub(1)
        .map(|j| raws[j].lower())
        .unwrap_or_default();
    let next = raws.get(i + 1).map(Raw::lower).unwrap_or_default();
    let around = Around {
        prev: &prev,
        next: &next,
    };
    if is_hesitation(&lc) {
        return (vec![HESITATION.to_string()], 1);
    }
    if let Some((_, w)) = SYMBOLS.iter().find(|(s, _)| *s == core) {
        return (vec![(*w).to_string()], 1);
    }
    // "a.m." is unambiguous; "am"/"PM" only after a number ("I am" stays).
    if let Some(m) = readings::meridiem(&lc) {
        if lc.contains('.') || number_like(&prev) {
            return (vec![m.to_string()], 1);
        }
    }
    // Letters said one by one: "five thirty P M".
    if (lc == "a" || lc == "p") && next == "m" && number_like(&prev) {
        return (vec![if lc == "a" { "AM" } else { "PM" }.to_string()], 2);
    }
    if let Some(w) = abbreviation(r, raws.get(i + 1)) {
        return (words(&w), 1);
    }
    // "No. 5" → "number five".
    if lc == "no" && r.trail.starts_with('.') && next.starts_with(|c: char| c.is_ascii_digit()) {
        return (vec!["number".to_string()], 1);
    }
    // "$4.2 million": the scale word moves before the currency name.
    if core.starts_with(['$', '€', '£', '¥']) && readings::is_scale_word(&next) {
        if let Some(w) = readings::money_words(core, Some(&next)) {
            return (words(&w), 2);
        }
    }
    // "(617) 555-0142": an area code in brackets is read digit by digit like the rest.
    if r.lead.contains('(') && core.len() == 3 && core.bytes().all(|b| b.is_ascii_digit()) {
        return (words(&crate::numbers::digits(core)), 1);
    }
    if let Some(w) = readings::context_time(&lc, around) {
        return (w, 1);
    }
    if let Some(w) = readings::internet_words(core) {
        return (w, 1);
    }
    (read_core(core, around), 1)
}

/// Title and abbreviation words; titles keep their capital ("Dr." → "Doctor").
fn abbreviation(r: &Raw, next: Option<&Raw>) -> Option<String> {
    let lower = r.lower();
    let acronym = r.core.len() > 1 && r.core.chars().all(|c| c.is_uppercase());
    if let Some((_, word)) = TITLES.iter().find(|(t, _)| *t == lower) {
        let before_name = next.is_some_and(|n| n.core.starts_with(char::is_uppercase));
        if acronym || !(r.trail.starts_with('.') || before_name) {
            return None;
        }
        return Some(if r.core.starts_with(char::is_uppercase) {
            capitalise(word)
        } else {
            (*word).to_string()
        });
    }
    ABBREVIATIONS
        .iter()
        .find(|(a, _)| *a == lower)
        .map(|(_, w)| (*w).to_string())
}

fn capitalise(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Reads a token's core: a written form, or a word split at hyphens and slashes.
fn read_core(core: &str, around: Around) -> Vec<String> {
    if let Some(w) = readings::read_piece(core, around) {
        return w;
    }
    let lower = core.to_lowercase();
    if lower == "e-mail" {
        return vec!["email".to_string()];
    }
    let keep_fillers = NOT_HESITATIONS.contains(&lower.as_str());
    let mut out = Vec::new();
    for part in core.split(['-', '/']).filter(|p| !p.is_empty()) {
        if let Some(w) = readings::read_piece(part, around) {
            out.extend(w);
            continue;
        }
        if !keep_fillers && is_hesitation(&part.to_lowercase()) {
            out.push(HESITATION.to_string());
            continue;
        }
        for (k, piece) in part.split('&').enumerate() {
            if k > 0 {
                out.push("and".to_string());
            }
            out.extend(plain_word(piece));
        }
    }
    out
}

/// A word with stray symbols removed; dotted initialisms close up ("U.S." → "US") and digits
/// left inside odd tokens are read one by one.
fn plain_word(piece: &str) -> Vec<String> {
    let segments: Vec<&str> = piece.split('.').collect();
    if segments.len() > 1 && segments.iter().all(|s| s.chars().count() <= 1) {
        let joined: String = segments.concat();
        return if joined.is_empty() {
            Vec::new()
        } else {
            vec![joined]
        };
    }
    let cleaned: String = piece
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '\'' || *c == '*')
        .collect();
    let cleaned = cleaned.trim_matches('\'');
    if cleaned.is_empty() {
        return Vec::new();
    }
    if !cleaned.chars().any(|c| c.is_ascii_digit()) {
        return vec![cleaned.to_string()];
    }
    let mut out = Vec::new();
    let mut letters = String::new();
    for c in cleaned.chars() {
        if let Some(d) = c.to_digit(10) {
            if !letters.is_empty() {
                out.push(std::mem::take(&mut letters));
            }
            out.push(crate::numbers::digits(&d.to_string()));
        } else {
            letters.push(c);
        }
    }
    if !letters.is_empty() {
        out.push(letters);
    }
    out
}

/// The default style for one result's words, before sentence-initial lowercasing.
pub(crate) fn to_spoken(words: &[Word]) -> Vec<Tok> {
    let raws = explode(words);
    let mut out = Vec::new();
    let (mut pending_brk, mut pending_sent) = (false, true);
    let mut i = 0;
    while i < raws.len() {
        let (texts, used) = convert(&raws, i);
        let group = &raws[i..i + used];
        if group[0].lead.contains(['(', '"', '[']) {
            pending_brk = true;
        }
        if !texts.is_empty() {
            let parts: Vec<Word> = group.iter().map(|r| r.word.clone()).collect();
            let whole = span::merge(String::new(), &parts);
            for (k, w) in span::split(texts, whole.start, whole.end, whole.confidence)
                .into_iter()
                .enumerate()
            {
                out.push(Tok {
                    word: w,
                    brk: k == 0 && pending_brk,
                    sent: k == 0 && pending_sent,
                });
            }
            pending_brk = false;
            pending_sent = false;
        }
        let last = &group[used - 1];
        pending_brk |= last.breaks_after();
        pending_sent |= ends_sentence(last, raws.get(i + used));
        i += used;
    }
    out
}
