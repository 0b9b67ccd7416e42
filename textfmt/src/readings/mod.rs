//! How a US speaker reads the written forms Whisper produces: "$349", "3/12/2026",
//! "617-555-0142", "5:30", "65%", "4th", "1998", "3.5", "1,250". Each reading returns the
//! spoken words, or `None` when the text is not such a form.
//!
//! The conventions (no "and" in cardinals, years in pairs, phone numbers digit by digit with
//! "zero", "dollars and cents") are the ones the dev set's references and scorer use, and the
//! ones smart formatting (src/smart) reads back, so the two paths agree.

mod clock;
mod internet;
mod money;
mod numeric;

pub(crate) use clock::context_time;
pub(crate) use internet::{internet_words, TLDS};
pub(crate) use money::{is_scale_word, money_words};

/// Month names as the service capitalises them.
pub(crate) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// 1-based month number of a month name in any case.
pub(crate) fn month_number(word: &str) -> Option<u64> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(word))
        .map(|i| i as u64 + 1)
}

/// Words after which a bare number is a count or measure, not a year: "2000 people".
pub(crate) const UNIT_WORDS: &[&str] = &[
    "dollar",
    "dollars",
    "cent",
    "cents",
    "euro",
    "euros",
    "percent",
    "pound",
    "pounds",
    "mile",
    "miles",
    "meter",
    "meters",
    "kilometer",
    "kilometers",
    "feet",
    "foot",
    "inches",
    "people",
    "points",
    "degrees",
    "minutes",
    "hours",
    "days",
    "weeks",
    "months",
    "years",
    "pages",
    "homes",
    "items",
    "times",
    "words",
    "units",
    "steps",
    "votes",
    "students",
    "employees",
    "members",
    "copies",
    "calories",
    "grams",
    "kilograms",
    "tons",
    "acres",
    "square",
    "per",
    "thousand",
    "million",
    "billion",
    "trillion",
];

/// Words after which "9.30" or "at 315" is a clock time.
pub(crate) const TIME_PREPOSITIONS: &[&str] = &[
    "at", "by", "until", "till", "before", "after", "around", "from", "since", "to",
];

/// The words on either side of a token, lowercased and stripped of punctuation.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Around<'a> {
    pub prev: &'a str,
    pub next: &'a str,
}

/// "a.m."/"AM"/"pm" → "AM"/"PM", the service's spelling (its docs write "nine thirty AM").
pub(crate) fn meridiem(word: &str) -> Option<&'static str> {
    let w: String = word
        .chars()
        .filter(|c| *c != '.')
        .collect::<String>()
        .to_ascii_lowercase();
    match w.as_str() {
        "am" => Some("AM"),
        "pm" => Some("PM"),
        _ => None,
    }
}

pub(super) fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The reading of a written form, or `None` when `piece` is not one.
pub(crate) fn read_piece(piece: &str, around: Around) -> Option<Vec<String>> {
    let words = money::money(piece)
        .or_else(|| money::cents_sign(piece))
        .or_else(|| money::percent(piece))
        .or_else(|| clock::clock_time(piece))
        .or_else(|| clock::date(piece, around))
        .or_else(|| numeric::phone(piece))
        .or_else(|| numeric::range(piece, around))
        .or_else(|| numeric::ordinal_form(piece))
        .or_else(|| numeric::decade(piece))
        .or_else(|| numeric::number_sign(piece))
        .or_else(|| numeric::plain_number(piece, around))
        .or_else(|| numeric::mixed_alphanumeric(piece))?;
    Some(words.split(' ').map(str::to_string).collect())
}
