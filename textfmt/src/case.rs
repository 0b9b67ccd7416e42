//! Capitalisation. The service does not capitalise the first word of a sentence ("several
//! tornadoes touch down ...") but does capitalise proper nouns ("Colorado", "Barack Obama"):
//! <https://cloud.ibm.com/docs/speech-to-text?topic=speech-to-text-basic-response#response-capitalization>.
//! Whisper capitalises both, so its capitals are kept except on a sentence's first word, which
//! is lowercased unless it looks like a proper noun. Without a lexicon of names that is a
//! judgement: "I", months, weekdays, acronyms and titles keep their capital, and so does a
//! capitalised word followed by another capitalised word ("Maria Gonzalez") unless it is a
//! function word ("The Beatles", "And Mister ..."). A lone sentence-initial name ("Denver is
//! cold") is lowercased: the cost of not knowing every name.

use crate::readings::month_number;
use crate::spoken::Tok;
use crate::HESITATION;

const WEEKDAYS: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
const TITLE_WORDS: &[&str] = &["mister", "missus", "miz", "doctor", "professor"];
/// Closed-class and common sentence-opening words: capitalised before a name only because
/// they open the sentence.
const FUNCTION_WORDS: &[&str] = &[
    "a", "an", "the", "and", "but", "or", "nor", "so", "yet", "for", "if", "then", "than", "as",
    "at", "by", "in", "on", "of", "off", "to", "up", "down", "out", "over", "under", "into",
    "onto", "from", "with", "without", "about", "above", "after", "before", "behind", "below",
    "between", "during", "through", "toward", "towards", "across", "against", "along", "among",
    "around", "since", "until", "unless", "while", "when", "where", "whether", "which", "who",
    "whom", "whose", "what", "why", "how", "that", "this", "these", "those", "there", "here", "he",
    "she", "it", "we", "they", "you", "me", "him", "her", "us", "them", "my", "your", "his", "its",
    "our", "their", "all", "any", "both", "each", "every", "either", "neither", "some", "no",
    "not", "many", "much", "more", "most", "few", "other", "another", "such", "is", "are", "was",
    "were", "be", "been", "do", "does", "did", "have", "has", "had", "will", "would", "shall",
    "should", "can", "could", "might", "must", "please", "yes", "well", "oh", "hey", "hello", "hi",
    "thanks", "now", "also", "just", "only", "even", "still", "once", "let's", "dear", "welcome",
    "good", "meet", "call", "ask", "tell", "see", "visit", "go", "come", "take", "turn", "say",
    "said", "like", "maybe",
];

fn starts_upper(w: &str) -> bool {
    w.starts_with(char::is_uppercase)
}

fn is_number_word(w: &str) -> bool {
    crate::smart::is_number_word(&w.to_lowercase()) || w.starts_with(|c: char| c.is_ascii_digit())
}

/// Whether the sentence-initial word at `j` keeps its capital.
fn keeps_capital(toks: &[Tok], j: usize) -> bool {
    let w = toks[j].word.text.as_str();
    let lower = w.to_lowercase();
    let next = toks
        .get(j + 1)
        .filter(|t| !t.sent)
        .map(|t| t.word.text.as_str())
        .unwrap_or("");
    if w == "I" || w.starts_with("I'") {
        return true;
    }
    if w.chars().count() > 1 && w.chars().all(|c| !c.is_lowercase()) {
        return true; // acronyms, "AM"
    }
    if WEEKDAYS.contains(&lower.as_str()) {
        return true;
    }
    // "May" and "March" are verbs too: months only before a day.
    if month_number(&lower).is_some()
        && (!matches!(lower.as_str(), "may" | "march") || is_number_word(next))
    {
        return true;
    }
    if TITLE_WORDS.contains(&lower.as_str()) && starts_upper(next) {
        return true;
    }
    starts_upper(next)
        && next != "I"
        && !next.starts_with("I'")
        && !FUNCTION_WORDS.contains(&lower.as_str())
}

/// Lowercases the first letter of each sentence's first word where the service would.
pub(crate) fn lowercase_sentence_starts(toks: &mut [Tok]) {
    for i in 0..toks.len() {
        if !toks[i].sent {
            continue;
        }
        // A leading hesitation passes the sentence start on to the next word.
        let Some(j) = (i..toks.len()).find(|&j| toks[j].word.text != HESITATION) else {
            return;
        };
        if j > i && toks[j].sent {
            continue;
        }
        if !starts_upper(&toks[j].word.text) || keeps_capital(toks, j) {
            continue;
        }
        let text = &toks[j].word.text;
        let mut chars = text.chars();
        if let Some(first) = chars.next() {
            toks[j].word.text = first.to_lowercase().chain(chars).collect();
        }
    }
}
