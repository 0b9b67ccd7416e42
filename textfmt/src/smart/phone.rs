//! Phone numbers and digit strings. The service formats a phone number when it is 911 or has
//! ten digits, or eleven starting with 1: "nine one four two three seven one thousand" →
//! "914-237-1000", "one nine one four nine oh nine twenty six forty five" → "1-914-909-2645".
//! Other runs of single digits become one digit string: "zero two four eight one" → "02481".

use super::{Ctx, Match};
use crate::numbers::{classify, digit_value, NumWord};

/// One group of digits as said in a phone number: "five" (5), "oh" (0), "twenty six" (26),
/// "forty" (40), "fifteen" (15), "eight hundred" (800), "one thousand" (1000), "double five".
fn chunk(words: &[&str]) -> Option<(String, usize)> {
    let w0 = *words.first()?;
    if matches!(w0, "double" | "triple") {
        let d = digit_value(words.get(1)?)?;
        let times = if w0 == "double" { 2 } else { 3 };
        return Some((d.to_string().repeat(times), 2));
    }
    if let Some(d) = digit_value(w0) {
        return Some(match words.get(1).map(|w| classify(w)) {
            Some(Some(NumWord::Hundred)) if d > 0 => (format!("{d}00"), 2),
            Some(Some(NumWord::Scale(1000))) if d > 0 => (format!("{d}000"), 2),
            _ => (d.to_string(), 1),
        });
    }
    match classify(w0)? {
        NumWord::Teen(t) => Some((t.to_string(), 1)),
        NumWord::Tens(t) => match words.get(1).and_then(|w| classify(w)) {
            Some(NumWord::Unit(u)) if u > 0 => Some(((t + u).to_string(), 2)),
            _ => Some((t.to_string(), 1)),
        },
        _ => None,
    }
}

/// Whether the word before `i` could be part of the same spoken digit string, in which case a
/// phone number or digit string may not start in its middle.
fn continues_digits(c: &Ctx, i: usize) -> bool {
    let prev = c.prev(i);
    !prev.is_empty() && (digit_value(prev).is_some() || classify(prev).is_some())
}

/// "six one seven five five five zero one four two" → "617-555-0142".
pub(super) fn phone_number(c: &Ctx, i: usize) -> Option<Match> {
    if continues_digits(c, i) {
        return None;
    }
    let run = c.run(i);
    let (mut digits, mut used, mut chunks, mut singles) = (String::new(), 0, 0, true);
    while let Some((d, n)) = chunk(&run[used..]) {
        singles &= n == 1 && d.len() == 1;
        digits.push_str(&d);
        used += n;
        chunks += 1;
    }
    let text = match digits.len() {
        10 => format!("{}-{}-{}", &digits[..3], &digits[3..6], &digits[6..]),
        11 if digits.starts_with('1') => {
            format!("1-{}-{}-{}", &digits[1..4], &digits[4..7], &digits[7..])
        }
        3 if digits == "911" && singles => digits,
        _ => return None,
    };
    (chunks >= 3).then(|| Match::one(text, i, used))
}

/// Two or more digits said one by one: "four one four seven two" → "41472". A last digit
/// that begins "one hundred" or "three o'clock" is left to the number or time it starts.
pub(super) fn digit_sequence(c: &Ctx, i: usize) -> Option<Match> {
    if continues_digits(c, i) || (c.lw(i) == "oh" && digit_value(c.lw(i + 1)).is_none()) {
        return None;
    }
    let run = c.run(i);
    let mut n = run.iter().take_while(|w| digit_value(w).is_some()).count();
    let starts_number = matches!(
        run.get(n).map(|w| classify(w)),
        Some(Some(NumWord::Hundred | NumWord::Scale(_)))
    );
    let starts_time = matches!(run.get(n), Some(&"o'clock") | Some(&"am") | Some(&"pm"));
    if n > 0 && (starts_number || starts_time) {
        n -= 1;
    }
    if n < 2 {
        return None;
    }
    let digits: String = run[..n]
        .iter()
        .filter_map(|w| digit_value(w))
        .map(|d| d.to_string())
        .collect();
    Some(Match::one(digits, i, n))
}
