//! Smart formatting for US English, read from the spoken-form words so that the default and
//! smart outputs agree and every written token spans exactly the words it replaced.
//!
//! The conversions follow the service's documentation:
//! <https://cloud.ibm.com/docs/speech-to-text?topic=speech-to-text-formatting#smart-formatting>
//! (dates m/d/yyyy, times `9:30 AM` / `7:00 EST` / `0700 hours`, numbers as digits without
//! separators (`1000101`), decimals, phone numbers `914-237-1000` and `1-914-909-2645`,
//! currency `$3202.66`, short web and e-mail addresses), plus the entities its newer
//! version documents for US English (ordinals `121st`, `59 million`, `$12.25` from "twelve
//! dollars twenty five") and percentages (`65%`). Hesitation markers are suppressed, as the
//! service does for US English when smart formatting is on.

mod dates;
mod money;
mod phone;
mod quantity;
mod times;
mod web;

use crate::numbers::{classify, digit_value, parse_ordinal};
use crate::spoken::Tok;
use crate::{span, Word, HESITATION};

/// The longest stretch of words a rule looks at.
const MAX_RUN: usize = 40;

/// The spoken tokens with lowercase copies for matching.
pub(crate) struct Ctx<'a> {
    toks: &'a [Tok],
    lower: Vec<String>,
}

/// Output of a rule: tokens consumed from the rule's start, and the written tokens, each with
/// the absolute range of spoken tokens it replaces.
pub(crate) struct Match {
    len: usize,
    out: Vec<(String, usize, usize)>,
}

impl Match {
    fn one(text: String, start: usize, len: usize) -> Match {
        Match {
            len,
            out: vec![(text, start, start + len)],
        }
    }
}

impl<'a> Ctx<'a> {
    fn new(toks: &'a [Tok]) -> Ctx<'a> {
        let lower = toks.iter().map(|t| t.word.text.to_lowercase()).collect();
        Ctx { toks, lower }
    }

    fn len(&self) -> usize {
        self.toks.len()
    }

    /// Lowercase word at `i`, or "" past either end.
    fn lw(&self, i: usize) -> &str {
        self.lower.get(i).map(String::as_str).unwrap_or("")
    }

    /// The word at `i` as the default style wrote it.
    fn text(&self, i: usize) -> &str {
        self.toks.get(i).map(|t| t.word.text.as_str()).unwrap_or("")
    }

    /// Whether punctuation stood before the word at `i`.
    fn brk(&self, i: usize) -> bool {
        self.toks.get(i).is_some_and(|t| t.brk)
    }

    /// The lowercase word before `i`, or "" when there is none or punctuation separates them.
    fn prev(&self, i: usize) -> &str {
        if i == 0 || self.brk(i) {
            ""
        } else {
            self.lw(i - 1)
        }
    }

    /// Lowercase words from `i` up to the next punctuation or hesitation: numbers are not
    /// joined across either. At most `MAX_RUN` words, which no number, date or address
    /// needs, so that long unpunctuated results stay linear.
    fn run(&self, i: usize) -> Vec<&str> {
        let mut out = Vec::new();
        for k in i..self.len().min(i + MAX_RUN) {
            if (k > i && self.brk(k)) || self.text(k) == HESITATION {
                break;
            }
            out.push(self.lw(k));
        }
        out
    }
}

/// Whether a (lowercase) word belongs to a spoken number.
pub(crate) fn is_number_word(w: &str) -> bool {
    classify(w).is_some() || digit_value(w).is_some() || parse_ordinal(&[w]).is_some()
}

/// Applies smart formatting to one result's spoken tokens; hesitations are dropped.
pub(crate) fn format(toks: &[Tok]) -> Vec<Word> {
    let c = Ctx::new(toks);
    let mut out: Vec<Word> = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if c.text(i) == HESITATION {
            i += 1;
            continue;
        }
        // The written token before the previous word: "from 9:30 to ten fifteen".
        let before_prev = out.len().checked_sub(2).map(|k| out[k].text.as_str());
        let found = web::email(&c, i)
            .or_else(|| web::website(&c, i))
            .or_else(|| dates::date(&c, i))
            .or_else(|| times::time(&c, i, before_prev))
            .or_else(|| phone::phone_number(&c, i))
            .or_else(|| money::currency(&c, i))
            .or_else(|| money::percent(&c, i))
            .or_else(|| phone::digit_sequence(&c, i))
            .or_else(|| quantity::year(&c, i))
            .or_else(|| quantity::decimal(&c, i))
            .or_else(|| quantity::ordinal(&c, i))
            .or_else(|| quantity::cardinal(&c, i));
        match found {
            Some(m) => {
                for (text, from, to) in m.out {
                    let parts: Vec<Word> = toks[from..to].iter().map(|t| t.word.clone()).collect();
                    out.push(span::merge(text, &parts));
                }
                i += m.len;
            }
            None => {
                out.push(toks[i].word.clone());
                i += 1;
            }
        }
    }
    out
}
