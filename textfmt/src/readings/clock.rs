//! Clock times, dates and fractions as said aloud.

use super::{all_digits, meridiem, Around, MONTHS, TIME_PREPOSITIONS, UNIT_WORDS};
use crate::numbers::{cardinal, ordinal, year};

/// Words after which "3/12" is a date rather than a fraction.
const DATE_PREPOSITIONS: &[&str] = &[
    "on", "by", "until", "till", "since", "from", "before", "after", "through", "of",
];

/// Clock time words: (9, 30) → "nine thirty", (9, 5) → "nine oh five", (5, 0) → "five",
/// (17, 0) → "seventeen hundred".
pub(super) fn time_words(h: u64, m: u64) -> Option<String> {
    if h > 24 || m > 59 {
        return None;
    }
    Some(match m {
        0 if h > 12 => format!("{} hundred", cardinal(h)),
        0 => cardinal(h),
        1..=9 => format!("{} oh {}", cardinal(h), cardinal(m)),
        _ => format!("{} {}", cardinal(h), cardinal(m)),
    })
}

/// Splits "5:30pm" / "6am" / "5.30p.m." into the number part and "AM"/"PM".
pub(super) fn split_meridiem(piece: &str) -> Option<(&str, &'static str)> {
    let cut = piece.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, suffix) = piece.split_at(cut);
    Some((num, meridiem(suffix)?))
}

/// "8:45" → "eight forty five"; "5:30pm" → "five thirty PM"; "6am" → "six AM";
/// "5.30pm" → "five thirty PM". A dot time without a suffix is left to the context rule.
pub(super) fn clock_time(piece: &str) -> Option<String> {
    let (num, suffix) = match split_meridiem(piece) {
        Some((n, s)) => (n, Some(s)),
        None => (piece, None),
    };
    let (h, m) = if let Some((h, m)) = num.split_once(':') {
        (h, m)
    } else if let (Some((h, m)), Some(_)) = (num.split_once('.'), suffix) {
        (h, m)
    } else if suffix.is_some() && all_digits(num) && num.len() <= 4 {
        if num.len() <= 2 {
            (num, "00")
        } else {
            num.split_at(num.len() - 2)
        }
    } else {
        return None;
    };
    if !all_digits(h) || h.len() > 2 || !all_digits(m) || m.len() != 2 {
        return None;
    }
    let mut words = time_words(h.parse().ok()?, m.parse().ok()?)?;
    if let Some(s) = suffix {
        words.push(' ');
        words.push_str(s);
    }
    Some(words)
}

/// A dot or digits-only time that only context makes a time: "at 9.30", "9.30 p.m.",
/// "315 pm", "at 315". Hours run 1 to 12, as in speech.
pub(crate) fn context_time(piece: &str, around: Around) -> Option<Vec<String>> {
    let before_meridiem = meridiem(around.next).is_some();
    let after_preposition = TIME_PREPOSITIONS.contains(&around.prev);
    let (h, m) = if let Some((h, m)) = piece.split_once('.') {
        (h, m)
    } else if all_digits(piece) && (3..=4).contains(&piece.len()) {
        let not_quantity = !UNIT_WORDS.contains(&around.next);
        if !(before_meridiem || (after_preposition && not_quantity)) {
            return None;
        }
        piece.split_at(piece.len() - 2)
    } else {
        return None;
    };
    if !(before_meridiem || after_preposition) || !all_digits(h) || !all_digits(m) || m.len() != 2 {
        return None;
    }
    let (h, m): (u64, u64) = (h.parse().ok()?, m.parse().ok()?);
    if !(1..=12).contains(&h) || m > 59 || (!before_meridiem && m == 0) {
        return None;
    }
    Some(time_words(h, m)?.split(' ').map(str::to_string).collect())
}

/// Dates: "3/12/2026" and "2026-03-12" → "March twelfth twenty twenty six"; "3/12" after "on"
/// → "March twelfth", otherwise a small fraction: "3/4" → "three quarters".
pub(super) fn date(piece: &str, around: Around) -> Option<String> {
    let parts: Vec<&str> = piece.split('/').collect();
    let iso: Vec<&str> = piece.split('-').collect();
    let (m, d, y) = if parts.len() == 3 && parts.iter().all(|p| all_digits(p)) {
        (parts[0], parts[1], Some(parts[2]))
    } else if iso.len() == 3 && iso[0].len() == 4 && iso.iter().all(|p| all_digits(p)) {
        (iso[1], iso[2], Some(iso[0]))
    } else if parts.len() == 2 && parts.iter().all(|p| all_digits(p)) {
        (parts[0], parts[1], None)
    } else {
        return None;
    };
    let (mv, dv): (u64, u64) = (m.parse().ok()?, d.parse().ok()?);
    let valid = (1..=12).contains(&mv) && (1..=31).contains(&dv);
    let Some(y) = y else {
        let fraction_like = mv < dv && dv <= 10;
        if valid && (DATE_PREPOSITIONS.contains(&around.prev) || !fraction_like) {
            return Some(format!("{} {}", MONTHS[mv as usize - 1], ordinal(dv)));
        }
        return if fraction_like {
            fraction(mv, dv)
        } else {
            None
        };
    };
    if !valid || !(y.len() == 2 || y.len() == 4) {
        return None;
    }
    let yv: u64 = y.parse().ok()?;
    let yv = if y.len() == 2 { 2000 + yv } else { yv };
    Some(format!(
        "{} {} {}",
        MONTHS[mv as usize - 1],
        ordinal(dv),
        year(yv)
    ))
}

/// "1/2" → "one half", "3/4" → "three quarters", "2/3" → "two thirds".
pub(super) fn fraction(num: u64, den: u64) -> Option<String> {
    if den < 2 {
        return None;
    }
    let plural = num != 1;
    let den_words = match den {
        2 => {
            if plural {
                "halves".to_string()
            } else {
                "half".to_string()
            }
        }
        4 => {
            if plural {
                "quarters".to_string()
            } else {
                "quarter".to_string()
            }
        }
        _ => format!("{}{}", ordinal(den), if plural { "s" } else { "" }),
    };
    Some(format!("{} {den_words}", cardinal(num)))
}
