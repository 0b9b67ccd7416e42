//! US English number words, both ways: values to the words a US speaker says, and spoken
//! number words back to values.
//!
//! Written here rather than taken from a crate: `num2words` and `num2en` render only the
//! forward direction and hyphenate compounds ("forty-two"), while the house style needs plain
//! space-separated words without "and" ("three hundred forty nine"), year, time and
//! digit-by-digit readings, and an inverse that reports how many words it used, so that smart
//! formatting can give each written token the time span of exactly the words it replaced.
//! Both directions share the tables below, which keeps them exact inverses.

const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 10] = [
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
const SCALES: [(u64, &str); 4] = [
    (1_000_000_000_000, "trillion"),
    (1_000_000_000, "billion"),
    (1_000_000, "million"),
    (1_000, "thousand"),
];
/// Ordinal words whose stem is not "cardinal + th".
const IRREGULAR_ORDINALS: [(&str, &str); 7] = [
    ("one", "first"),
    ("two", "second"),
    ("three", "third"),
    ("five", "fifth"),
    ("eight", "eighth"),
    ("nine", "ninth"),
    ("twelve", "twelfth"),
];

/// Cardinal words the way a US speaker reads a quantity, without "and":
/// 1250 → "one thousand two hundred fifty".
pub fn cardinal(n: u64) -> String {
    let mut out = Vec::new();
    push_cardinal(n, &mut out);
    out.join(" ")
}

fn push_cardinal(n: u64, out: &mut Vec<&'static str>) {
    if n < 20 {
        out.push(ONES[n as usize]);
        return;
    }
    if n < 100 {
        out.push(TENS[(n / 10) as usize]);
        if !n.is_multiple_of(10) {
            out.push(ONES[(n % 10) as usize]);
        }
        return;
    }
    if n < 1000 {
        out.push(ONES[(n / 100) as usize]);
        out.push("hundred");
        if !n.is_multiple_of(100) {
            push_cardinal(n % 100, out);
        }
        return;
    }
    for (value, name) in SCALES {
        if n >= value {
            push_cardinal(n / value, out);
            out.push(name);
            if !n.is_multiple_of(value) {
                push_cardinal(n % value, out);
            }
            return;
        }
    }
}

/// Ordinal words: 21 → "twenty first", 101 → "one hundred first".
pub fn ordinal(n: u64) -> String {
    let card = cardinal(n);
    let (head, last) = match card.rsplit_once(' ') {
        Some((h, l)) => (Some(h), l),
        None => (None, card.as_str()),
    };
    let last = ordinal_of_word(last);
    match head {
        Some(h) => format!("{h} {last}"),
        None => last,
    }
}

fn ordinal_of_word(w: &str) -> String {
    if let Some((_, o)) = IRREGULAR_ORDINALS.iter().find(|(c, _)| *c == w) {
        return (*o).to_string();
    }
    if let Some(stem) = w.strip_suffix('y') {
        return format!("{stem}ieth");
    }
    format!("{w}th")
}

/// The written suffix of an ordinal: 1 → "st", 12 → "th", 23 → "rd".
pub fn ordinal_suffix(n: u64) -> &'static str {
    if (11..=13).contains(&(n % 100)) {
        return "th";
    }
    match n % 10 {
        1 => "st",
        2 => "nd",
        3 => "rd",
        _ => "th",
    }
}

/// A year the way it is said: 1998 → "nineteen ninety eight", 2026 → "twenty twenty six",
/// 1905 → "nineteen oh five", 1900 → "nineteen hundred", 2005 → "two thousand five".
pub fn year(n: u64) -> String {
    if (2000..=2009).contains(&n) || !(1000..10_000).contains(&n) {
        return cardinal(n);
    }
    let (hi, lo) = (n / 100, n % 100);
    match lo {
        0 => format!("{} hundred", cardinal(hi)),
        1..=9 => format!("{} oh {}", cardinal(hi), cardinal(lo)),
        _ => format!("{} {}", cardinal(hi), cardinal(lo)),
    }
}

/// Digit by digit, as phone numbers and codes are read: "0142" → "zero one four two".
/// Characters other than ASCII digits are skipped.
pub fn digits(s: &str) -> String {
    s.chars()
        .filter_map(|c| c.to_digit(10))
        .map(|d| ONES[d as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

/// A decimal from its written parts: ("3", "5") → "three point five", ("", "25") → "point two five".
/// `int` may carry thousands separators; returns `None` when a part is not made of digits.
pub fn decimal(int: &str, frac: &str) -> Option<String> {
    let int_clean: String = int.chars().filter(|c| *c != ',').collect();
    if !int_clean.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut out = String::new();
    if !int_clean.is_empty() {
        out.push_str(&cardinal(int_clean.parse().ok()?));
    }
    if !frac.is_empty() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str("point ");
        out.push_str(&digits(frac));
    }
    (!out.is_empty()).then_some(out)
}

/// What one spoken word contributes to a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumWord {
    /// zero to nine.
    Unit(u64),
    /// ten to nineteen.
    Teen(u64),
    /// twenty, thirty, ... ninety.
    Tens(u64),
    /// "hundred".
    Hundred,
    /// thousand, million, billion, trillion.
    Scale(u64),
}

/// Classifies one word (any case) as a number word.
pub fn classify(word: &str) -> Option<NumWord> {
    let w = word.to_ascii_lowercase();
    if let Some(i) = ONES.iter().position(|o| *o == w) {
        let i = i as u64;
        return Some(if i < 10 {
            NumWord::Unit(i)
        } else {
            NumWord::Teen(i)
        });
    }
    if let Some(i) = TENS.iter().position(|t| !t.is_empty() && *t == w) {
        return Some(NumWord::Tens(i as u64 * 10));
    }
    if w == "hundred" {
        return Some(NumWord::Hundred);
    }
    SCALES
        .iter()
        .find(|(_, name)| *name == w)
        .map(|(v, _)| NumWord::Scale(*v))
}

/// A single digit as spoken in codes and phone numbers; "oh" counts as zero here.
pub fn digit_value(word: &str) -> Option<u64> {
    let w = word.to_ascii_lowercase();
    if w == "oh" || w == "o" {
        return Some(0);
    }
    match classify(&w) {
        Some(NumWord::Unit(d)) => Some(d),
        _ => None,
    }
}

/// "twentieth" → "twenty", "first" → "one": the cardinal word an ordinal word stands for.
fn cardinal_of_ordinal_word(w: &str) -> Option<String> {
    if let Some((c, _)) = IRREGULAR_ORDINALS.iter().find(|(_, o)| *o == w) {
        return Some((*c).to_string());
    }
    let card = if let Some(stem) = w.strip_suffix("ieth") {
        format!("{stem}y")
    } else {
        w.strip_suffix("th")?.to_string()
    };
    classify(&card).map(|_| card)
}

/// A number read from the start of a word slice: its value and how many words it used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    /// The value.
    pub value: u64,
    /// Words used, counted from the start of the slice.
    pub len: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    Start,
    Unit,
    Teen,
    Tens,
    TensUnit,
    Hundred,
    Scale,
}

/// Reads the longest well-formed cardinal at the start of `words` (lowercase or not):
/// "three hundred forty nine dollars" → 349 using 4 words; "one million one hundred and one" →
/// 1000101. "and" is accepted only after "hundred" or a scale word and before the rest of the
/// number, "a" only before "hundred" or a scale ("a hundred"). Sequences that are not one
/// number ("five five", "nineteen ninety") stop after their first well-formed part.
pub fn parse_cardinal(words: &[&str]) -> Option<Parsed> {
    let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
    if lower.first().map(String::as_str) == Some("zero") {
        return Some(Parsed { value: 0, len: 1 });
    }
    let (mut total, mut group, mut last_scale) = (0u64, 0u64, u64::MAX);
    let mut last = Last::Start;
    let mut best = None;
    let mut i = 0;
    if lower.first().map(String::as_str) == Some("a")
        && matches!(
            lower.get(1).and_then(|w| classify(w)),
            Some(NumWord::Hundred | NumWord::Scale(_))
        )
    {
        group = 1;
        last = Last::Unit;
        i = 1;
    }
    while i < lower.len() {
        let w = lower[i].as_str();
        let kind = classify(w);
        let open = matches!(last, Last::Start | Last::Hundred | Last::Scale);
        let next = match kind {
            Some(NumWord::Unit(0)) => None,
            Some(NumWord::Unit(u)) if open => {
                group += u;
                Some(Last::Unit)
            }
            Some(NumWord::Unit(u)) if last == Last::Tens => {
                group += u;
                Some(Last::TensUnit)
            }
            Some(NumWord::Teen(t)) if open => {
                group += t;
                Some(Last::Teen)
            }
            Some(NumWord::Tens(t)) if open => {
                group += t;
                Some(Last::Tens)
            }
            Some(NumWord::Hundred)
                if matches!(last, Last::Unit | Last::Teen | Last::Tens | Last::TensUnit)
                    && (1..100).contains(&group) =>
            {
                group *= 100;
                Some(Last::Hundred)
            }
            Some(NumWord::Scale(s))
                if last != Last::Start && last != Last::Scale && group > 0 && s < last_scale =>
            {
                total += group * s;
                group = 0;
                last_scale = s;
                Some(Last::Scale)
            }
            None if w == "and"
                && matches!(last, Last::Hundred | Last::Scale)
                && matches!(
                    lower.get(i + 1).and_then(|n| classify(n)),
                    Some(NumWord::Unit(1..) | NumWord::Teen(_) | NumWord::Tens(_))
                ) =>
            {
                i += 1;
                continue;
            }
            _ => None,
        };
        match next {
            Some(state) => {
                last = state;
                i += 1;
                best = Some(Parsed {
                    value: total + group,
                    len: i,
                });
            }
            None => break,
        }
    }
    best
}

/// Reads an ordinal at the start of `words`: "twenty first" → 21, "one hundred twenty first"
/// → 121, "fourth" → 4. The ordinal word must end the number.
pub fn parse_ordinal(words: &[&str]) -> Option<Parsed> {
    for k in 0..words.len().min(12) {
        let w = words[k].to_ascii_lowercase();
        if let Some(card) = cardinal_of_ordinal_word(&w) {
            let mut seq: Vec<&str> = words[..k].to_vec();
            seq.push(&card);
            return parse_cardinal(&seq)
                .filter(|p| p.len == k + 1)
                .map(|p| Parsed {
                    value: p.value,
                    len: k + 1,
                });
        }
        if w == "zero" || (classify(&w).is_none() && w != "and" && w != "a") {
            return None;
        }
    }
    None
}

/// Reads a number from ten to ninety nine said as one unit ("fifteen", "forty", "forty five"),
/// the way minutes, cents and the halves of years are said.
pub fn parse_two_digit(words: &[&str]) -> Option<Parsed> {
    match classify(words.first()?)? {
        NumWord::Teen(t) => Some(Parsed { value: t, len: 1 }),
        NumWord::Tens(t) => match words.get(1).and_then(|w| classify(w)) {
            Some(NumWord::Unit(u)) if u > 0 => Some(Parsed {
                value: t + u,
                len: 2,
            }),
            _ => Some(Parsed { value: t, len: 1 }),
        },
        _ => None,
    }
}

/// Reads a spoken year: "nineteen ninety eight", "twenty twenty six", "nineteen oh five",
/// "nineteen hundred", "two thousand and one". `first_pair` bounds the hundreds said as a pair
/// ("nineteen" = 19), which lets callers be strict outside dates.
pub fn parse_year(words: &[&str], first_pair: std::ops::RangeInclusive<u64>) -> Option<Parsed> {
    let w0 = words.first()?.to_ascii_lowercase();
    if w0 == "two" || w0 == "one" {
        // "two thousand (and) one": read as a cardinal of the year's size.
        let p = parse_cardinal(words)?;
        let said_thousand = words.get(1).map(|w| w.eq_ignore_ascii_case("thousand")) == Some(true);
        return (said_thousand && (1000..=2099).contains(&p.value)).then_some(p);
    }
    let hi = match classify(&w0)? {
        NumWord::Teen(t) => t,
        NumWord::Tens(20) => 20,
        _ => return None,
    };
    if !first_pair.contains(&hi) {
        return None;
    }
    let rest = &words[1..];
    let r0 = rest.first()?.to_ascii_lowercase();
    if r0 == "hundred" {
        return Some(Parsed {
            value: hi * 100,
            len: 2,
        });
    }
    if r0 == "oh" {
        return match rest.get(1).and_then(|w| classify(w)) {
            Some(NumWord::Unit(u)) if u > 0 => Some(Parsed {
                value: hi * 100 + u,
                len: 3,
            }),
            _ => None,
        };
    }
    let lo = parse_two_digit(rest)?;
    Some(Parsed {
        value: hi * 100 + lo.value,
        len: 1 + lo.len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinal_words_round_trip_through_values() {
        for n in 1..=200 {
            let words = ordinal(n);
            let ws: Vec<&str> = words.split(' ').collect();
            assert_eq!(
                parse_ordinal(&ws),
                Some(Parsed {
                    value: n,
                    len: ws.len()
                }),
                "{words}"
            );
        }
    }

    #[test]
    fn years_round_trip_through_values() {
        for n in 1100..=2099 {
            let words = year(n);
            let ws: Vec<&str> = words.split(' ').collect();
            let p = parse_year(&ws, 10..=20).unwrap_or_else(|| panic!("{n}: {words}"));
            assert_eq!((p.value, p.len), (n, ws.len()), "{words}");
        }
    }
}
