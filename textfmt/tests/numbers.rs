//! The number converters: values to US English words and back, and through the formatter.

mod common;
use common::*;
use speechbatch_textfmt::numbers::{
    cardinal, decimal, digits, ordinal, ordinal_suffix, parse_cardinal, parse_ordinal, parse_year,
    year, Parsed,
};

fn split(s: &str) -> Vec<&str> {
    s.split(' ').collect()
}

#[test]
fn cardinals_are_written_and_read_back() {
    let cases = [
        (0, "zero"),
        (7, "seven"),
        (13, "thirteen"),
        (20, "twenty"),
        (21, "twenty one"),
        (100, "one hundred"),
        (101, "one hundred one"),
        (999, "nine hundred ninety nine"),
        (1000, "one thousand"),
        (1250, "one thousand two hundred fifty"),
        (1_000_000, "one million"),
        (1_000_101, "one million one hundred one"),
        (2026, "two thousand twenty six"),
    ];
    for (n, words) in cases {
        assert_eq!(cardinal(n), words);
        let ws = split(words);
        assert_eq!(
            parse_cardinal(&ws),
            Some(Parsed {
                value: n,
                len: ws.len()
            }),
            "{words}"
        );
    }
}

#[test]
fn cardinals_are_read_from_the_longest_well_formed_prefix() {
    let p = |s: &str| parse_cardinal(&split(s)).map(|p| (p.value, p.len));
    assert_eq!(p("one million one hundred and one"), Some((1_000_101, 6)));
    assert_eq!(p("three hundred forty nine dollars"), Some((349, 4)));
    assert_eq!(p("a hundred dollars"), Some((100, 2)));
    assert_eq!(p("nineteen hundred"), Some((1900, 2)));
    assert_eq!(p("five five five"), Some((5, 1)));
    assert_eq!(p("nineteen ninety eight"), Some((19, 1)));
    assert_eq!(p("twenty twenty six"), Some((20, 1)));
    assert_eq!(p("one and two"), Some((1, 1)));
    assert_eq!(p("hundred"), None);
    assert_eq!(p("and one"), None);
    assert_eq!(p("a dog"), None);
}

#[test]
fn years_are_read_in_pairs() {
    let cases = [
        (2026, "twenty twenty six"),
        (1998, "nineteen ninety eight"),
        (1905, "nineteen oh five"),
        (1900, "nineteen hundred"),
        (2000, "two thousand"),
        (2005, "two thousand five"),
        (2010, "twenty ten"),
    ];
    for (n, words) in cases {
        assert_eq!(year(n), words);
        let ws = split(words);
        assert_eq!(
            parse_year(&ws, 10..=20),
            Some(Parsed {
                value: n,
                len: ws.len()
            }),
            "{words}"
        );
    }
    assert_eq!(
        parse_year(&split("two thousand and one"), 10..=20).map(|p| p.value),
        Some(2001)
    );
    assert_eq!(parse_year(&split("twelve fifteen"), 17..=20), None);
}

#[test]
fn year_or_quantity_depends_on_context() {
    assert_eq!(
        fmt("In 2026 we grew.", *DEFAULT),
        "in twenty twenty six we grew"
    );
    assert_eq!(
        fmt("We hired 2026 people.", *DEFAULT),
        "we hired two thousand twenty six people"
    );
    assert_eq!(
        fmt("We hired 2,026 people.", *DEFAULT),
        "we hired two thousand twenty six people"
    );
    assert_eq!(fmt("in twenty twenty six", *SMART), "in 2026");
    assert_eq!(fmt("two thousand twenty six people", *SMART), "2026 people");
}

#[test]
fn decimals_and_digit_strings_are_spoken_and_written() {
    assert_eq!(decimal("3", "5").as_deref(), Some("three point five"));
    assert_eq!(decimal("", "25").as_deref(), Some("point two five"));
    assert_eq!(
        decimal("1,250", "75").as_deref(),
        Some("one thousand two hundred fifty point seven five")
    );
    assert_eq!(decimal("x", "5"), None);
    assert_eq!(digits("0142"), "zero one four two");
    assert_eq!(
        fmt("It weighs 3.5 pounds.", *DEFAULT),
        "it weighs three point five pounds"
    );
    assert_eq!(fmt("three point five", *SMART), "3.5");
    assert_eq!(fmt("zero point two five", *SMART), "0.25");
}

#[test]
fn ordinals_are_written_and_read_back() {
    let suffixes = [
        "1st", "2nd", "3rd", "4th", "5th", "6th", "7th", "8th", "9th", "10th", "11th", "12th",
        "13th", "14th", "15th", "16th", "17th", "18th", "19th", "20th", "21st", "22nd", "23rd",
    ];
    for (k, written) in suffixes.iter().enumerate() {
        let n = k as u64 + 1;
        assert_eq!(format!("{n}{}", ordinal_suffix(n)), *written);
        let words = ordinal(n);
        assert_eq!(
            parse_ordinal(&split(&words)).map(|p| p.value),
            Some(n),
            "{words}"
        );
        // Written → spoken → written through the formatter.
        let spoken = fmt(&format!("the {written} one"), *DEFAULT);
        assert_eq!(spoken, format!("the {words} one"));
        assert_eq!(fmt(&spoken, *SMART), format!("the {written} one"));
    }
    assert_eq!(ordinal(101), "one hundred first");
    assert_eq!(ordinal(111), "one hundred eleventh");
    assert_eq!(ordinal_suffix(101), "st");
    assert_eq!(ordinal_suffix(111), "th");
    assert_eq!(ordinal_suffix(112), "th");
    assert_eq!(fmt("the 101st one", *DEFAULT), "the one hundred first one");
    assert_eq!(fmt("the one hundred first one", *SMART), "the 101st one");
    assert_eq!(fmt("the twentieth", *SMART), "the 20th");
}

#[test]
fn every_number_up_to_ten_thousand_survives_the_round_trip() {
    for n in (0..=10_000u64).step_by(7) {
        let spoken = fmt(&format!("exactly {} items", with_commas(n)), *DEFAULT);
        assert_eq!(spoken, format!("exactly {} items", cardinal(n)));
        assert_eq!(
            fmt(&spoken, *SMART),
            format!("exactly {n} items"),
            "{spoken}"
        );
    }
}

fn with_commas(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (k, c) in s.chars().enumerate() {
        if k > 0 && (s.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
