//! Dates, formatted m/d/yyyy as the service documents: "March twelfth twenty twenty six" →
//! "3/12/2026", "the ninth of December nineteen hundred" → "12/9/1900", "May fifth two thousand
//! and one" → "5/5/2001", "on ten oh six nineteen seventy" → "on 10/6/1970". Without a year the
//! month stays a word: "June sixth" → "June 6".

use super::{Ctx, Match};
use crate::numbers::{
    classify, digit_value, parse_ordinal, parse_two_digit, parse_year, NumWord, Parsed,
};
use crate::readings::{month_number, MONTHS};

/// A day of the month said as an ordinal ("twelfth", "thirty first").
fn ordinal_day(words: &[&str]) -> Option<Parsed> {
    parse_ordinal(words).filter(|p| (1..=31).contains(&p.value))
}

/// A day of the month said as a cardinal ("twelve", "oh six", "twenty one").
fn cardinal_day(words: &[&str]) -> Option<Parsed> {
    if words.first() == Some(&"oh") {
        let d = digit_value(words.get(1)?).filter(|d| *d > 0)?;
        return Some(Parsed { value: d, len: 2 });
    }
    match classify(words.first()?)? {
        NumWord::Unit(d) if d > 0 => Some(Parsed { value: d, len: 1 }),
        _ => parse_two_digit(words).filter(|p| (10..=31).contains(&p.value)),
    }
}

/// A year said after a day, possibly after a comma.
fn year_at(c: &Ctx, k: usize) -> Option<Parsed> {
    if k >= c.len() {
        return None;
    }
    parse_year(&c.run(k), 10..=20)
}

fn slash(m: u64, d: u64, y: u64) -> String {
    format!("{m}/{d}/{y}")
}

/// Any of the date forms.
pub(super) fn date(c: &Ctx, i: usize) -> Option<Match> {
    month_first(c, i)
        .or_else(|| day_of_month(c, i))
        .or_else(|| numeric(c, i))
}

/// "March twelfth twenty twenty six", "July fourth, nineteen ninety eight", "January the
/// thirty first two thousand", "June sixth", "March twenty twenty six".
fn month_first(c: &Ctx, i: usize) -> Option<Match> {
    let m = month_number(c.lw(i))?;
    // "may" and "march" are verbs too: a lowercase one needs an ordinal day.
    let verb_like = matches!(c.text(i), "may" | "march");
    let run = c.run(i);
    let the = usize::from(run.get(1) == Some(&"the"));
    let from = 1 + the;
    let day = ordinal_day(&run[from.min(run.len())..]).or_else(|| {
        if the == 1 || verb_like {
            return None;
        }
        cardinal_day(&run[1..]).filter(|d| year_at(c, i + 1 + d.len).is_some())
    });
    let Some(day) = day else {
        // "March twenty twenty six": month and year.
        let y = year_at(c, i + 1).filter(|_| !verb_like && !c.brk(i + 1))?;
        return Some(Match {
            len: 1 + y.len,
            out: vec![
                (MONTHS[m as usize - 1].to_string(), i, i + 1),
                (y.value.to_string(), i + 1, i + 1 + y.len),
            ],
        });
    };
    let after_day = i + from + day.len;
    if let Some(y) = year_at(c, after_day) {
        return Some(Match::one(
            slash(m, day.value, y.value),
            i,
            after_day + y.len - i,
        ));
    }
    Some(Match {
        len: after_day - i,
        out: vec![
            (MONTHS[m as usize - 1].to_string(), i, i + 1),
            (day.value.to_string(), i + 1, after_day),
        ],
    })
}

/// "the ninth of December nineteen hundred" → "12/9/1900". Without a year this is left to the
/// ordinal rule ("the 4th of July").
fn day_of_month(c: &Ctx, i: usize) -> Option<Match> {
    let run = c.run(i);
    let the = usize::from(run[0] == "the");
    let day = ordinal_day(&run[the..])?;
    let of = the + day.len;
    if run.get(of) != Some(&"of") {
        return None;
    }
    let m = month_number(run.get(of + 1)?)?;
    let y = year_at(c, i + of + 2)?;
    Some(Match::one(slash(m, day.value, y.value), i, of + 2 + y.len))
}

/// "on ten oh six nineteen seventy" → "on 10/6/1970": all numbers, so only after "on".
fn numeric(c: &Ctx, i: usize) -> Option<Match> {
    if c.prev(i) != "on" {
        return None;
    }
    let run = c.run(i);
    let m = match classify(run[0])? {
        NumWord::Unit(m) if m > 0 => m,
        NumWord::Teen(m) if m <= 12 => m,
        _ => return None,
    };
    let day = ordinal_day(&run[1..]).or_else(|| cardinal_day(&run[1..]))?;
    let y = parse_year(&run[1 + day.len..], 10..=20)?;
    Some(Match::one(
        slash(m, day.value, y.value),
        i,
        1 + day.len + y.len,
    ))
}
