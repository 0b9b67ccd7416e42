//! Internet addresses. The service converts short web addresses ("I saw the story on yahoo
//! dot com" → "yahoo.com") and e-mail addresses introduced as such ("My email address is john
//! dot doe at foo dot com" → "john.doe@foo.com"); letters spelled one by one close up
//! ("j dot d o e at i b m dot com" → "j.doe@ibm.com").

use super::{Ctx, Match};
use crate::readings::TLDS;

/// Words that start phrases such as "the dot com bubble" rather than an address.
const NOT_A_LABEL: &[&str] = &[
    "the", "a", "an", "this", "that", "my", "your", "our", "their", "his", "her", "its", "dot",
    "at",
];

/// One label at `k`: a run of single letters ("i b m" → "ibm") or one word; its text and
/// length in words.
fn label(c: &Ctx, i: usize, run: &[&str], k: usize) -> Option<(String, usize)> {
    let w = *run.get(k)?;
    let single = |w: &str| w.chars().count() == 1 && w.chars().all(|ch| ch.is_alphanumeric());
    if single(w) {
        let n = run[k..].iter().take_while(|w| single(w)).count();
        return Some((run[k..k + n].concat(), n));
    }
    let ok = !NOT_A_LABEL.contains(&w) && w.chars().all(|ch| ch.is_alphanumeric() || ch == '-');
    // The default style's capitals stay: "Yahoo dot com" → "Yahoo.com".
    ok.then(|| (c.text(i + k).to_string(), 1))
}

/// Labels joined by "dot": the text with dots and the words used.
fn dotted(c: &Ctx, i: usize, run: &[&str], k: usize) -> Option<(String, usize, usize)> {
    let (mut text, mut used) = label(c, i, run, k)?;
    let mut dots = 0;
    while run.get(k + used) == Some(&"dot") {
        let Some((next, n)) = label(c, i, run, k + used + 1) else {
            break;
        };
        text.push('.');
        text.push_str(&next);
        used += 1 + n;
        dots += 1;
    }
    Some((text, used, dots))
}

fn ends_in_tld(text: &str) -> bool {
    text.rsplit('.')
        .next()
        .is_some_and(|t| TLDS.contains(&t.to_ascii_lowercase().as_str()))
}

/// "yahoo dot com" → "yahoo.com".
pub(super) fn website(c: &Ctx, i: usize) -> Option<Match> {
    let run = c.run(i);
    let (text, used, dots) = dotted(c, i, &run, 0)?;
    (dots > 0 && ends_in_tld(&text)).then(|| Match::one(text, i, used))
}

/// "john dot doe at foo dot com" → "john.doe@foo.com", when "email" or "mail" came shortly
/// before, as the service requires.
pub(super) fn email(c: &Ctx, i: usize) -> Option<Match> {
    let introduced =
        (i.saturating_sub(10)..i).any(|k| matches!(c.lw(k), "email" | "mail" | "e-mail"));
    if !introduced {
        return None;
    }
    let run = c.run(i);
    let (local, used, _) = dotted(c, i, &run, 0)?;
    if run.get(used) != Some(&"at") {
        return None;
    }
    let (domain, dused, dots) = dotted(c, i, &run, used + 1)?;
    if dots == 0 || !ends_in_tld(&domain) {
        return None;
    }
    Some(Match::one(format!("{local}@{domain}"), i, used + 1 + dused))
}
