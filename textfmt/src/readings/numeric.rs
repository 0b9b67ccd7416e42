//! Plain numbers, digit strings and number-like tokens as said aloud.

use super::money::grouped_integer;
use super::{all_digits, month_number, Around, UNIT_WORDS};
use crate::numbers::{cardinal, decimal, digits, ordinal, year};

/// A plain written number with optional sign, separators and decimals, read as a quantity.
pub(super) fn number_words(n: &str) -> Option<String> {
    if let Some(rest) = n.strip_prefix('-') {
        return Some(format!("minus {}", number_words(rest)?));
    }
    let (int, frac) = n.split_once('.').unwrap_or((n, ""));
    if frac.is_empty() && n.contains('.') {
        return None;
    }
    let int = grouped_integer(int)?;
    if frac.is_empty() {
        return Some(cardinal(int.parse().ok()?));
    }
    decimal(if n.starts_with('.') { "" } else { &int }, frac)
}

/// Phone numbers and other digit groups are read digit by digit: "617-555-0142",
/// "555-0142", "+1-617-555-0142".
pub(super) fn phone(piece: &str) -> Option<String> {
    let (plus, body) = match piece.strip_prefix('+') {
        Some(b) => (true, b),
        None => (false, piece),
    };
    let groups: Vec<&str> = body.split(['-', '.']).collect();
    if !groups.iter().all(|g| all_digits(g) && g.len() <= 4) {
        return None;
    }
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let total: usize = lens.iter().sum();
    let phone_like = (groups.len() >= 3 && total >= 7 && body.contains('-'))
        || lens == [3, 4]
        || (groups.len() >= 3 && total >= 10);
    if !phone_like {
        return None;
    }
    Some(format!(
        "{}{}",
        if plus { "plus " } else { "" },
        digits(body)
    ))
}

/// "5-10" → "five to ten"; "2019-2020" → "twenty nineteen to twenty twenty".
pub(super) fn range(piece: &str, around: Around) -> Option<String> {
    let (a, b) = piece.split_once('-')?;
    if !all_digits(a) || !all_digits(b) {
        return None;
    }
    let a_words = integer_words(
        a,
        Around {
            prev: around.prev,
            next: "",
        },
    )?;
    let b_words = integer_words(
        b,
        Around {
            prev: "",
            next: around.next,
        },
    )?;
    Some(format!("{a_words} to {b_words}"))
}

/// "4th" → "fourth", "21st" → "twenty first".
pub(super) fn ordinal_form(piece: &str) -> Option<String> {
    let lower = piece.to_ascii_lowercase();
    let n = ["st", "nd", "rd", "th"]
        .iter()
        .find_map(|s| lower.strip_suffix(s))?;
    if !n.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some(ordinal(grouped_integer(n)?.parse().ok()?))
}

/// "1990s" → "nineteen nineties", "90s" → "nineties".
pub(super) fn decade(piece: &str) -> Option<String> {
    let n = piece.strip_suffix('s')?;
    if !all_digits(n) || !(n.len() == 2 || n.len() == 4) || !n.ends_with('0') {
        return None;
    }
    let v: u64 = n.parse().ok()?;
    let words = if n.len() == 4 { year(v) } else { cardinal(v) };
    let (head, last) = words.rsplit_once(' ').unwrap_or(("", &words));
    let last = match last.strip_suffix('y') {
        Some(stem) => format!("{stem}ies"),
        None => format!("{last}s"),
    };
    Some(if head.is_empty() {
        last
    } else {
        format!("{head} {last}")
    })
}

/// "#1" → "number one".
pub(super) fn number_sign(piece: &str) -> Option<String> {
    let n = piece.strip_prefix('#')?;
    all_digits(n).then(|| format!("number {}", cardinal(n.parse().unwrap_or(0))))
}

pub(super) fn plain_number(piece: &str, around: Around) -> Option<String> {
    if all_digits(piece) {
        return integer_words(piece, around);
    }
    let unsigned = piece.strip_prefix('-').unwrap_or(piece);
    if unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && unsigned
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == '.')
    {
        return number_words(piece);
    }
    None
}

/// A bare integer in context: digit by digit for codes ("0142", five digits or more, "911"),
/// a year for 1100–2099 unless a unit follows, an ordinal after a month name ("March 12"),
/// military time before "hours" ("0700 hours"), otherwise a quantity.
pub(super) fn integer_words(s: &str, around: Around) -> Option<String> {
    let v: u64 = match s.parse() {
        Ok(v) => v,
        Err(_) => return Some(digits(s)),
    };
    if s == "911" {
        return Some(digits(s));
    }
    if month_number(around.prev).is_some() && (1..=31).contains(&v) {
        return Some(ordinal(v));
    }
    if around.next == "hours" && s.len() == 4 && v / 100 <= 23 && v % 100 <= 59 {
        let (h, m) = (v / 100, v % 100);
        let hour = if s.starts_with('0') {
            format!("oh {}", cardinal(h))
        } else {
            cardinal(h)
        };
        let minutes = match m {
            0 => "hundred".to_string(),
            1..=9 => format!("oh {}", cardinal(m)),
            _ => cardinal(m),
        };
        return Some(format!("{hour} {minutes}"));
    }
    if (s.len() > 1 && s.starts_with('0')) || s.len() >= 5 {
        return Some(digits(s));
    }
    if s.len() == 4 && (1100..=2099).contains(&v) && !UNIT_WORDS.contains(&around.next) {
        return Some(year(v));
    }
    Some(cardinal(v))
}

/// "MP3" → "MP three", "3D" → "three D": digit runs are read, letter runs kept.
pub(super) fn mixed_alphanumeric(piece: &str) -> Option<String> {
    let has_digit = piece.chars().any(|c| c.is_ascii_digit());
    let has_alpha = piece.chars().any(char::is_alphabetic);
    if !has_digit || !has_alpha || !piece.chars().all(char::is_alphanumeric) {
        return None;
    }
    let mut runs: Vec<String> = Vec::new();
    let mut current = String::new();
    for c in piece.chars() {
        if !current.is_empty()
            && current.ends_with(|p: char| p.is_ascii_digit()) != c.is_ascii_digit()
        {
            runs.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    runs.push(current);
    let words: Vec<String> = runs
        .into_iter()
        .map(|r| {
            if all_digits(&r) {
                integer_words(&r, Around::default()).unwrap_or(r)
            } else {
                r
            }
        })
        .collect();
    Some(words.join(" "))
}
