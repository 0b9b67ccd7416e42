//! Currency and percentages: "three hundred forty nine dollars" → "$349", "three thousand two
//! hundred two dollars and sixty six cents" → "$3202.66", "twelve dollars twenty five" →
//! "$12.25", "four point two million dollars" → "$4.2 million", "sixty five percent" → "65%".
//! The service documents dollar, cent and euro for US English; yen and pounds stay words
//! ("109.79 yen" in its examples; "pounds" is also a weight).

use super::quantity::{amount, amount_tokens, Amount};
use super::{Ctx, Match};
use crate::numbers::{digit_value, parse_two_digit};

/// Cents after the currency word: "and sixty six cents", "sixty three", "point twenty five".
/// Without "cents" the number must end the phrase, so "eighteen dollars and two tickets"
/// keeps its tickets.
fn cents(run: &[&str], from: usize) -> Option<(u64, usize)> {
    let mut k = from;
    if matches!(run.get(k), Some(&"and") | Some(&"point")) {
        k += 1;
    }
    let rest = &run[k.min(run.len())..];
    let (value, len) = match parse_two_digit(rest) {
        Some(p) => (p.value, p.len),
        None => (digit_value(rest.first()?).filter(|d| *d > 0)?, 1),
    };
    let after = k + len;
    match run.get(after) {
        Some(&"cent") | Some(&"cents") => Some((value, after + 1)),
        None => Some((value, after)),
        Some(_) => None,
    }
}

fn currency_symbol(word: &str) -> Option<char> {
    match word {
        "dollar" | "dollars" => Some('$'),
        "euro" | "euros" => Some('€'),
        _ => None,
    }
}

fn with_symbol(symbol: char, a: &Amount) -> String {
    let frac = if a.frac.len() == 1 && a.scale.is_none() {
        format!("{}0", a.frac)
    } else {
        a.frac.clone()
    };
    if frac.is_empty() {
        format!("{symbol}{}", a.int)
    } else {
        format!("{symbol}{}.{frac}", a.int)
    }
}

/// Currency amounts in dollars, euros or cents.
pub(super) fn currency(c: &Ctx, i: usize) -> Option<Match> {
    let run = c.run(i);
    let a = amount(&run)?;
    let unit = *run.get(a.len)?;
    if matches!(unit, "cent" | "cents") {
        if a.int == 0 || a.int > 99 || !a.frac.is_empty() || a.scale.is_some() {
            return None;
        }
        return Some(Match::one(format!("$0.{:02}", a.int), i, a.len + 1));
    }
    let symbol = currency_symbol(unit)?;
    let mut end = a.len + 1;
    let mut text = with_symbol(symbol, &a);
    if a.frac.is_empty() && a.scale.is_none() {
        if let Some((value, used)) = cents(&run, end) {
            text = format!("{text}.{value:02}");
            end = used;
        }
    }
    Some(amount_tokens(text, &a, i, i + end))
}

/// "sixty five percent" → "65%".
pub(super) fn percent(c: &Ctx, i: usize) -> Option<Match> {
    let run = c.run(i);
    let a = amount(&run).filter(|a| a.scale.is_none())?;
    let used = match (run.get(a.len), run.get(a.len + 1)) {
        (Some(&"percent"), _) => 1,
        (Some(&"per"), Some(&"cent")) => 2,
        _ => return None,
    };
    Some(Match::one(format!("{}%", a.digits()), i, a.len + used))
}
