//! Plain numbers: cardinals as digits without separators ("1000101"), decimals ("1.5"),
//! ordinals ("4th", "121st"), years said in pairs ("1998") and round large numbers kept
//! readable ("59 million", as the service's newer smart formatting writes them).

use super::{is_number_word, Ctx, Match};
use crate::numbers::{
    classify, digit_value, ordinal_suffix, parse_cardinal, parse_ordinal, parse_two_digit,
    parse_year, NumWord,
};

/// A spoken amount read from the start of a run.
pub(super) struct Amount {
    /// Integer part (before any scale word that is kept as a word).
    pub int: u64,
    /// Decimal digits after "point", if any.
    pub frac: String,
    /// Words used by the digits part (integer and decimals).
    pub num_len: usize,
    /// The scale word kept as a word ("million"), if any, right after the digits part.
    pub scale: Option<String>,
    /// Words used in all.
    pub len: usize,
}

impl Amount {
    /// The digits: "3", "3.5", "59".
    pub fn digits(&self) -> String {
        if self.frac.is_empty() {
            self.int.to_string()
        } else {
            format!("{}.{}", self.int, self.frac)
        }
    }
}

/// Decimal digits after "point": digit words ("seven nine") or one two-digit word ("twenty
/// five", as in "dollars point twenty five").
pub(super) fn decimal_digits(words: &[&str]) -> Option<(String, usize)> {
    let mut frac = String::new();
    let mut k = 0;
    while let Some(d) = words.get(k).and_then(|w| digit_value(w)) {
        frac.push_str(&d.to_string());
        k += 1;
    }
    if k > 0 {
        return Some((frac, k));
    }
    let p = parse_two_digit(words)?;
    Some((p.value.to_string(), p.len))
}

/// Reads a cardinal, optionally with "point" and decimals, and notes a trailing scale word
/// that should stay a word: "fifty nine million" → 59 + "million"; "five point two million"
/// → 5.2 + "million". "fifty nine million and one" is one integer.
pub(super) fn amount(words: &[&str]) -> Option<Amount> {
    let p = parse_cardinal(words)?;
    let mut a = Amount {
        int: p.value,
        frac: String::new(),
        num_len: p.len,
        scale: None,
        len: p.len,
    };
    if words.get(p.len) == Some(&"point") {
        if let Some((frac, k)) = decimal_digits(&words[p.len + 1..]) {
            a.frac = frac;
            a.num_len = p.len + 1 + k;
            a.len = a.num_len;
        }
    }
    let big_scale = |w: &str| matches!(classify(w), Some(NumWord::Scale(s)) if s >= 1_000_000);
    if !a.frac.is_empty() {
        if let Some(w) = words.get(a.len).filter(|w| big_scale(w)) {
            a.scale = Some((*w).to_string());
            a.len += 1;
        }
    } else if p.len >= 2 && big_scale(words[p.len - 1]) {
        if let Some(head) =
            parse_cardinal(&words[..p.len - 1]).filter(|h| h.len == p.len - 1 && h.value < 1000)
        {
            a.int = head.value;
            a.num_len = head.len;
            a.scale = Some(words[p.len - 1].to_string());
        }
    }
    Some(a)
}

/// Output for an amount that may keep its scale word: one or two tokens.
pub(super) fn amount_tokens(text: String, a: &Amount, i: usize, end: usize) -> Match {
    let mut out = vec![(text, i, i + a.num_len)];
    if let Some(scale) = &a.scale {
        out.push((scale.clone(), i + a.num_len, end));
    } else {
        out[0].2 = end;
    }
    Match { len: end - i, out }
}

/// Where "one" is a pronoun, not a count: "no one", "the one", "the first one", "one of
/// them", "one another".
fn pronoun_one(c: &Ctx, i: usize) -> bool {
    const BEFORE: &[&str] = &[
        "no", "any", "every", "some", "each", "which", "the", "this", "that", "little", "loved",
        "only", "last", "next", "other", "same", "right", "wrong", "good", "new", "old", "big",
    ];
    let prev = c.prev(i);
    c.lw(i) == "one"
        && (BEFORE.contains(&prev)
            || parse_ordinal(&[prev]).is_some_and(|p| p.len == 1)
            || matches!(c.lw(i + 1), "of" | "another"))
}

/// Years said in pairs outside dates: "in nineteen ninety eight" → "1998". Only 1700–2099 so
/// that pairs such as "twelve fifteen" stay numbers.
pub(super) fn year(c: &Ctx, i: usize) -> Option<Match> {
    let run = c.run(i);
    if let Some(m) = decade(&run, i) {
        return Some(m);
    }
    let p = parse_year(&run, 17..=20)?;
    if matches!(run[0], "one" | "two")
        || run
            .get(p.len)
            .is_some_and(|w| is_number_word(w) || *w == "point")
    {
        return None;
    }
    Some(Match::one(p.value.to_string(), i, p.len))
}

/// "nineteen nineties" → "1990s", "nineteen hundreds" → "1900s".
fn decade(run: &[&str], i: usize) -> Option<Match> {
    let hi = match classify(run.first()?)? {
        NumWord::Teen(t) if t >= 11 => t,
        NumWord::Tens(20) => 20,
        _ => return None,
    };
    let second = *run.get(1)?;
    let lo = if second == "hundreds" {
        0
    } else {
        match classify(&format!("{}y", second.strip_suffix("ies")?))? {
            NumWord::Tens(t) => t,
            _ => return None,
        }
    };
    Some(Match::one(format!("{}s", hi * 100 + lo), i, 2))
}

/// "three point five" → "3.5"; "five point two million" → "5.2 million".
pub(super) fn decimal(c: &Ctx, i: usize) -> Option<Match> {
    let run = c.run(i);
    let a = amount(&run).filter(|a| !a.frac.is_empty())?;
    Some(amount_tokens(a.digits(), &a, i, i + a.len))
}

/// Words before which "first" to "ninth" are ordinals rather than adverbs or units
/// ("the second floor", not "wait a second", "at first").
const DETERMINERS: &[&str] = &[
    "the", "this", "that", "my", "your", "his", "her", "its", "our", "their", "every", "each",
];

/// "fourth" → "4th", "one hundred twenty first" → "121st".
pub(super) fn ordinal(c: &Ctx, i: usize) -> Option<Match> {
    let run = c.run(i);
    let p = parse_ordinal(&run)?;
    if p.len == 1 && p.value < 10 && !DETERMINERS.contains(&c.prev(i)) {
        return None;
    }
    Some(Match::one(
        format!("{}{}", p.value, ordinal_suffix(p.value)),
        i,
        p.len,
    ))
}

/// Cardinals as digits: "forty two" → "42", "one million one hundred and one" → "1000101",
/// "minus five" → "-5".
pub(super) fn cardinal(c: &Ctx, i: usize) -> Option<Match> {
    let run = c.run(i);
    let (sign, skip) = if run.first() == Some(&"minus") && run.len() > 1 {
        ("-", 1)
    } else {
        ("", 0)
    };
    let a = amount(&run[skip..])?;
    if skip == 0 && a.len == 1 && pronoun_one(c, i) {
        return None;
    }
    let end = i + skip + a.len;
    let mut m = amount_tokens(format!("{sign}{}", a.digits()), &a, i + skip, end);
    m.out[0].1 = i;
    m.len = end - i;
    Some(m)
}
