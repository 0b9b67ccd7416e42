//! Amounts of money and percentages as said aloud.

use super::all_digits;
use super::numeric::number_words;
use crate::numbers::{cardinal, decimal};

/// The currency units of a symbol: (singular, plural, fraction singular, fraction plural).
pub(super) fn currency_units(
    symbol: char,
) -> Option<(&'static str, &'static str, &'static str, &'static str)> {
    match symbol {
        '$' => Some(("dollar", "dollars", "cent", "cents")),
        '€' => Some(("euro", "euros", "cent", "cents")),
        '£' => Some(("pound", "pounds", "penny", "pence")),
        '¥' => Some(("yen", "yen", "", "")),
        _ => None,
    }
}

/// Whether `word` is a scale word that may follow an amount: "$4.2 million".
pub(crate) fn is_scale_word(word: &str) -> bool {
    matches!(
        word.to_ascii_lowercase().as_str(),
        "thousand" | "million" | "billion" | "trillion"
    )
}

/// "$349" → "three hundred forty nine dollars"; "$25.40" → "twenty five dollars and forty
/// cents"; with a scale word from the next token or a suffix, "$4.2 million" / "$4.2M" →
/// "four point two million dollars".
pub(crate) fn money_words(piece: &str, scale_word: Option<&str>) -> Option<String> {
    let symbol = piece.chars().next()?;
    let (one, many, sub_one, sub_many) = currency_units(symbol)?;
    let mut amount = &piece[symbol.len_utf8()..];
    let mut scale = scale_word.map(str::to_ascii_lowercase);
    for (suffix, name) in [
        ("bn", "billion"),
        ("k", "thousand"),
        ("m", "million"),
        ("b", "billion"),
    ] {
        if scale.is_none()
            && amount.len() > suffix.len()
            && amount.to_ascii_lowercase().ends_with(suffix)
        {
            amount = &amount[..amount.len() - suffix.len()];
            scale = Some(name.to_string());
        }
    }
    let (int, frac) = amount.split_once('.').unwrap_or((amount, ""));
    let int_clean = grouped_integer(int)?;
    if let Some(scale) = scale {
        return Some(format!("{} {scale} {many}", decimal(&int_clean, frac)?));
    }
    let units: u64 = int_clean.parse().ok()?;
    if frac.len() > 2 || (!frac.is_empty() && sub_one.is_empty()) {
        return Some(format!("{} {many}", decimal(&int_clean, frac)?));
    }
    let sub: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse().ok()?
    };
    let mut parts = Vec::new();
    if units > 0 || sub == 0 {
        parts.push(format!(
            "{} {}",
            cardinal(units),
            if units == 1 { one } else { many }
        ));
    }
    if sub > 0 {
        parts.push(format!(
            "{} {}",
            cardinal(sub),
            if sub == 1 { sub_one } else { sub_many }
        ));
    }
    Some(parts.join(" and "))
}

/// "1,250" → "1250"; digits without separators pass; misplaced commas fail.
pub(super) fn grouped_integer(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("0".into());
    }
    let groups: Vec<&str> = s.split(',').collect();
    let ok = groups.iter().all(|g| all_digits(g))
        && (groups.len() == 1
            || (groups[0].len() <= 3 && groups[1..].iter().all(|g| g.len() == 3)));
    ok.then(|| groups.concat())
}

pub(super) fn money(piece: &str) -> Option<String> {
    let mut chars = piece.chars();
    currency_units(chars.next()?)?;
    chars.next().filter(|c| c.is_ascii_digit() || *c == '.')?;
    money_words(piece, None)
}

/// "25¢" → "twenty five cents".
pub(super) fn cents_sign(piece: &str) -> Option<String> {
    let n = piece.strip_suffix('¢')?;
    all_digits(n).then(|| {
        let v: u64 = n.parse().unwrap_or(0);
        format!("{} {}", cardinal(v), if v == 1 { "cent" } else { "cents" })
    })
}

/// "65%" → "sixty five percent"; "3.5%" → "three point five percent".
pub(super) fn percent(piece: &str) -> Option<String> {
    let n = piece.strip_suffix('%').filter(|n| !n.is_empty())?;
    Some(format!("{} percent", number_words(n)?))
}
