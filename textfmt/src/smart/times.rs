//! Times. The service identifies times by keywords (`AM`, `PM`, time zones such as `EST`) and
//! military times by "hours": "nine thirty AM" → "9:30 AM", "seven EST" → "7:00 EST", "oh
//! seven hundred hours" → "0700 hours". Its newer version adds "o'clock" ("three o'clock" →
//! "3:00"). Beyond the documentation, an hour and minutes after a word such as "at" or
//! "until" are a time ("opens at nine thirty" → "9:30", "delayed until ten fifteen" →
//! "10:15"), as the dev set's formatted transcripts expect.

use super::{is_number_word, Ctx, Match};
use crate::numbers::{classify, digit_value, parse_two_digit, NumWord};

const ZONES: &[&str] = &[
    "est", "edt", "cst", "cdt", "mst", "mdt", "pst", "pdt", "gmt", "utc", "et", "ct", "mt", "pt",
];
/// Words before an hour and minutes that make them a time. "to", "and" and "or" count only
/// right after another time ("from 9:30 to 10:15").
const PREPOSITIONS: &[&str] = &[
    "at", "by", "until", "till", "before", "after", "around", "from", "since", "about",
];
const CONTINUATIONS: &[&str] = &["to", "and", "or", "till", "until"];
/// Words that make a number after the minutes a quantity rather than a time.
const QUANTITY_WORDS: &[&str] = &[
    "dollar", "dollars", "cent", "cents", "euro", "euros", "percent", "point", "people", "hundred",
    "thousand", "million", "billion", "times", "miles", "pounds", "degrees",
];

/// An hour from one to twelve said as one word.
fn hour12(w: &str) -> Option<u64> {
    match classify(w)? {
        NumWord::Unit(h) if h > 0 => Some(h),
        NumWord::Teen(h) if h <= 12 => Some(h),
        _ => None,
    }
}

/// Minutes after an hour: "oh five" (5), "fifteen", "thirty", "forty five".
fn minutes(words: &[&str]) -> Option<(u64, usize)> {
    if words.first() == Some(&"oh") {
        let d = digit_value(words.get(1)?).filter(|d| *d > 0)?;
        return Some((d, 2));
    }
    let p = parse_two_digit(words).filter(|p| p.value <= 59)?;
    Some((p.value, p.len))
}

/// "AM"/"PM" (one word or two letters) or a zone after a time: the token and words used.
fn suffix(c: &Ctx, run: &[&str], k: usize, i: usize) -> Option<(String, usize)> {
    let w = *run.get(k)?;
    match w {
        "am" | "pm" => Some((w.to_uppercase(), 1)),
        "a" | "p" if run.get(k + 1) == Some(&"m") => Some((format!("{}M", w.to_uppercase()), 2)),
        _ if ZONES.contains(&w) => Some((c.text(i + k).to_uppercase(), 1)),
        _ => None,
    }
}

fn clock(h: u64, m: u64) -> String {
    format!("{h}:{m:02}")
}

/// Times with a keyword, military times, and hour-and-minutes after a preposition.
/// `before_prev` is the written token before the previous word, which lets "to" in "from
/// 9:30 to ten fifteen" introduce a time.
pub(super) fn time(c: &Ctx, i: usize, before_prev: Option<&str>) -> Option<Match> {
    let run = c.run(i);
    military(c, &run, i).or_else(|| {
        let h = hour12(run[0])?;
        let (m, mlen) = minutes(&run[1..]).unwrap_or((0, 0));
        let k = 1 + mlen;
        if let Some((sfx, slen)) = suffix(c, &run, k, i) {
            return Some(Match {
                len: k + slen,
                out: vec![(clock(h, m), i, i + k), (sfx, i + k, i + k + slen)],
            });
        }
        if mlen == 0 && run.get(1) == Some(&"o'clock") {
            return Some(Match::one(clock(h, 0), i, 2));
        }
        let prev = c.prev(i);
        let after_time = before_prev
            .is_some_and(|p| p.contains(':') && p.starts_with(|ch: char| ch.is_ascii_digit()));
        let introduced =
            PREPOSITIONS.contains(&prev) || (after_time && CONTINUATIONS.contains(&prev));
        let next = run.get(k).copied().unwrap_or("");
        if mlen == 0 || !introduced || is_number_word(next) || QUANTITY_WORDS.contains(&next) {
            return None;
        }
        Some(Match::one(clock(h, m), i, k))
    })
}

/// "oh seven hundred hours" → "0700 hours"; "fourteen thirty hours" → "1430 hours".
fn military(c: &Ctx, run: &[&str], i: usize) -> Option<Match> {
    let (lead_zero, k0) = if matches!(run[0], "oh" | "zero") {
        (true, 1)
    } else {
        (false, 0)
    };
    let h = match classify(run.get(k0)?)? {
        NumWord::Unit(h) if lead_zero => h,
        NumWord::Teen(h) => h,
        NumWord::Tens(20) => match run.get(k0 + 1).and_then(|w| classify(w)) {
            Some(NumWord::Unit(u)) if u <= 3 && run.get(k0 + 2) != Some(&"hours") => 20 + u,
            _ => 20,
        },
        _ => return None,
    };
    let k = k0 + if h > 20 { 2 } else { 1 };
    let (m, mlen) = if run.get(k) == Some(&"hundred") {
        (0, 1)
    } else {
        minutes(&run[k..]).filter(|(m, _)| *m >= 10)?
    };
    let end = k + mlen;
    if h > 23 || run.get(end) != Some(&"hours") {
        return None;
    }
    Some(Match {
        len: end + 1,
        out: vec![
            (format!("{h:02}{m:02}"), i, i + end),
            (c.text(i + end).to_string(), i + end, i + end + 1),
        ],
    })
}
