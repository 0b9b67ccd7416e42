//! Customer-engagement tones: a cue model of our own (no tone classifier ships in any registry).
//!
//! Each tone has cue phrases, each with the probability that a turn containing it is perceived
//! with that tone; the cues of a turn combine as independent evidence (noisy-or: 1 − Π(1 − p)),
//! with the turn's sentiment as one more piece of evidence for the tones that carry a polarity
//! (satisfied, excited: positive; frustrated, sad: negative). A cue is a sequence of words matched
//! on the lowercase turn; `*` ends a cue that matches any word starting with it (`frustrat*`).
//! Cues preceded by a negation ("not happy") count for the opposite tone instead where one is
//! given, else not at all.
//!
//! The weights were written from how people talk on service calls, not fitted to a test set;
//! BENCHMARKS.md measures precision and recall on labelled calls.

use crds::analytics::{ToneAnalysis, ToneId, ToneScore};

/// Turns longer than this many characters are not analysed for tone (as the interface).
pub const MAX_TONE_CHARS: usize = 500;
/// Tones scoring below this are not reported.
pub const MIN_SCORE: f64 = 0.5;
/// Characters of the turn copied into `utterance_text`.
const UTTERANCE_TEXT_CHARS: usize = 80;

/// `(tone, cue, probability)`.
type Cue = (ToneId, &'static str, f64);

use ToneId::*;

const CUES: &[Cue] = &[
    // Polite: courtesy formulas, requests softened, service openings and closings.
    (Polite, "please", 0.6),
    (Polite, "thank you", 0.55),
    (Polite, "thanks", 0.5),
    (Polite, "thank you for calling", 0.75),
    (Polite, "thank you for reporting", 0.7),
    (Polite, "how can i help", 0.7),
    (Polite, "how may i help", 0.75),
    (Polite, "can i help", 0.5),
    (Polite, "may i help", 0.6),
    (Polite, "good morning", 0.55),
    (Polite, "good afternoon", 0.55),
    (Polite, "good evening", 0.55),
    (Polite, "you're welcome", 0.6),
    (Polite, "my pleasure", 0.65),
    (Polite, "of course", 0.5),
    (Polite, "certainly", 0.5),
    (Polite, "could you", 0.35),
    (Polite, "would you", 0.35),
    (Polite, "may i", 0.4),
    (Polite, "can i have your", 0.3),
    (Polite, "i'd like", 0.3),
    (Polite, "i would like", 0.3),
    (Polite, "we look forward", 0.65),
    (Polite, "look forward to", 0.5),
    (Polite, "happy to help", 0.65),
    (Polite, "glad to help", 0.65),
    (Polite, "as a courtesy", 0.55),
    (Polite, "excuse me", 0.45),
    (Polite, "sir", 0.35),
    (Polite, "ma'am", 0.4),
    (Polite, "appreciate", 0.45),
    (Polite, "have a nice day", 0.65),
    (Polite, "have a great day", 0.65),
    (Polite, "have a good day", 0.65),
    (Polite, "this is", 0.2),
    (Polite, "speaking", 0.3),
    (Polite, "kindly", 0.55),
    (Polite, "let me", 0.25),
    (Polite, "i'll send", 0.2),
    // Satisfied: content with the outcome.
    (Satisfied, "perfect", 0.5),
    (Satisfied, "relief", 0.6),
    (Satisfied, "that works", 0.6),
    (Satisfied, "sounds good", 0.55),
    (Satisfied, "wonderful", 0.45),
    (Satisfied, "excellent", 0.45),
    (Satisfied, "great", 0.3),
    (Satisfied, "thanks a lot", 0.4),
    (Satisfied, "thank you so much", 0.45),
    (Satisfied, "very convenient", 0.5),
    (Satisfied, "convenient", 0.35),
    (Satisfied, "helpful", 0.45),
    (Satisfied, "glad", 0.4),
    (Satisfied, "happy", 0.45),
    (Satisfied, "pleased", 0.5),
    (Satisfied, "amazing", 0.35),
    (Satisfied, "so quickly", 0.45),
    (Satisfied, "problem solved", 0.6),
    (Satisfied, "all set", 0.45),
    (Satisfied, "appreciate it", 0.4),
    // Excited: enthusiasm.
    (Excited, "wow", 0.6),
    (Excited, "amazing", 0.45),
    (Excited, "can't wait", 0.8),
    (Excited, "excited", 0.85),
    (Excited, "i'd love", 0.55),
    (Excited, "i would love", 0.55),
    (Excited, "love", 0.3),
    (Excited, "awesome", 0.5),
    (Excited, "fantastic", 0.55),
    (Excited, "incredible", 0.55),
    (Excited, "oh my", 0.4),
    (Excited, "yay", 0.7),
    // Frustrated: let down by the service, repeated trouble, waiting.
    (Frustrated, "no sense", 0.6),
    (Frustrated, "makes no sense", 0.7),
    (Frustrated, "again", 0.3),
    (Frustrated, "already", 0.35),
    (Frustrated, "still", 0.25),
    (Frustrated, "waited", 0.5),
    (Frustrated, "waiting", 0.4),
    (Frustrated, "a mess", 0.6),
    (Frustrated, "outrageous", 0.8),
    (Frustrated, "ridiculous", 0.8),
    (Frustrated, "unacceptable", 0.8),
    (Frustrated, "nobody", 0.45),
    (Frustrated, "no one", 0.35),
    (Frustrated, "broken", 0.5),
    (Frustrated, "doesn't work", 0.55),
    (Frustrated, "does not work", 0.55),
    (Frustrated, "not working", 0.55),
    (Frustrated, "keeps", 0.35),
    (Frustrated, "twice", 0.35),
    (Frustrated, "charged me", 0.45),
    (Frustrated, "how you treat", 0.6),
    (Frustrated, "i want a refund", 0.55),
    (Frustrated, "finally", 0.3),
    (Frustrated, "frustrat*", 0.75),
    (Frustrated, "annoy*", 0.7),
    (Frustrated, "complain*", 0.5),
    (Frustrated, "never", 0.3),
    (Frustrated, "can't believe", 0.7),
    (Frustrated, "fed up", 0.8),
    (Frustrated, "sick of", 0.8),
    (Frustrated, "worst", 0.7),
    (Frustrated, "terrible", 0.6),
    (Frustrated, "awful", 0.6),
    (Frustrated, "useless", 0.7),
    (Frustrated, "disappoint*", 0.6),
    (Frustrated, "upset", 0.5),
    (Frustrated, "even though", 0.35),
    (Frustrated, "hours", 0.25),
    (Frustrated, "this whole", 0.35),
    // Sad: distress, loss, hardship.
    (Sad, "can't afford", 0.7),
    (Sad, "cannot afford", 0.7),
    (Sad, "haven't slept", 0.55),
    (Sad, "passed away", 0.9),
    (Sad, "lost my", 0.6),
    (Sad, "sad", 0.8),
    (Sad, "depress*", 0.8),
    (Sad, "worried", 0.5),
    (Sad, "scared", 0.6),
    (Sad, "lonely", 0.8),
    (Sad, "don't know what to do", 0.7),
    (Sad, "hard time", 0.6),
    (Sad, "struggling", 0.6),
    (Sad, "crying", 0.8),
    (Sad, "heartbroken", 0.9),
    (Sad, "unfortunately", 0.3),
    // Sympathetic: understanding of the other's trouble (usually the agent).
    (Sympathetic, "i'm sorry", 0.6),
    (Sympathetic, "i'm so sorry", 0.75),
    (Sympathetic, "so sorry", 0.6),
    (Sympathetic, "sorry for", 0.55),
    (Sympathetic, "sorry to hear", 0.8),
    (Sympathetic, "sorry about", 0.6),
    (Sympathetic, "i understand", 0.6),
    (Sympathetic, "i apologize", 0.7),
    (Sympathetic, "apologies", 0.6),
    (Sympathetic, "that must be", 0.6),
    (Sympathetic, "i can imagine", 0.7),
    (Sympathetic, "you're right", 0.5),
    (Sympathetic, "should not have happened", 0.65),
    (Sympathetic, "shouldn't have happened", 0.65),
    (Sympathetic, "your frustration", 0.5),
    (Sympathetic, "that sounds", 0.35),
    // Impolite: rudeness, insults, contempt.
    (Impolite, "shut up", 0.9),
    (Impolite, "stupid", 0.8),
    (Impolite, "idiot*", 0.9),
    (Impolite, "whatever", 0.55),
    (Impolite, "damn", 0.7),
    (Impolite, "hell", 0.5),
    (Impolite, "incompetent", 0.8),
    (Impolite, "useless", 0.45),
    (Impolite, "your manager", 0.5),
    (Impolite, "are you deaf", 0.9),
    (Impolite, "listen to me", 0.6),
    (Impolite, "what's wrong with you", 0.85),
    (Impolite, "how you treat me", 0.55),
    (Impolite, "ridiculous", 0.3),
    (Impolite, "outrageous", 0.3),
    (Impolite, "pathetic", 0.8),
];

/// Words that turn a following cue around: "not happy" is not satisfaction.
const NEGATIONS: &[&str] = &[
    "not", "never", "no", "don't", "isn't", "wasn't", "aren't", "won't", "can't",
];

/// The tone a negated cue counts for, if any.
fn negated(tone: ToneId) -> Option<ToneId> {
    match tone {
        Satisfied | Excited => Some(Frustrated),
        _ => None,
    }
}

/// Evidence the turn's sentiment gives each tone.
fn sentiment_evidence(tone: ToneId, sentiment: f64) -> f64 {
    match tone {
        Satisfied if sentiment >= 0.5 => 0.3,
        Excited if sentiment >= 0.8 => 0.2,
        Frustrated if sentiment <= -0.3 => 0.35,
        Sad if sentiment <= -0.5 => 0.2,
        _ => 0.0,
    }
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(|w| w.replace('\u{2019}', "'"))
        .collect()
}

/// Where a cue occurs in `words`: the start index of each match.
fn matches(words: &[String], cue: &str) -> Vec<usize> {
    let parts: Vec<&str> = cue.split(' ').collect();
    if parts.len() > words.len() {
        return Vec::new();
    }
    (0..=words.len() - parts.len())
        .filter(|&i| {
            parts
                .iter()
                .enumerate()
                .all(|(j, p)| match p.strip_suffix('*') {
                    Some(prefix) => words[i + j].starts_with(prefix),
                    None => words[i + j] == *p,
                })
        })
        .collect()
}

/// Each tone's score for a turn with sentiment `sentiment` (VADER compound), 0–1.
pub fn scores(text: &str, sentiment: f64) -> Vec<(ToneId, f64)> {
    let words = words(text);
    let mut miss: std::collections::BTreeMap<ToneId, f64> =
        ToneId::ALL.iter().map(|&t| (t, 1.0)).collect();
    for &(tone, cue, p) in CUES {
        for at in matches(&words, cue) {
            let negated_here = at > 0 && NEGATIONS.contains(&words[at - 1].as_str());
            let target = if negated_here {
                negated(tone)
            } else {
                Some(tone)
            };
            if let Some(t) = target {
                *miss.get_mut(&t).expect("every tone") *= 1.0 - p;
            }
        }
    }
    for (&tone, m) in miss.iter_mut() {
        *m *= 1.0 - sentiment_evidence(tone, sentiment);
    }
    // Satisfaction and frustration exclude each other: the weaker is damped by the stronger.
    let sat = 1.0 - miss[&Satisfied];
    let fru = 1.0 - miss[&Frustrated];
    let mut out: Vec<(ToneId, f64)> = miss.into_iter().map(|(t, m)| (t, 1.0 - m)).collect();
    for (t, s) in out.iter_mut() {
        match t {
            Satisfied if fru > sat => *s *= 1.0 - fru,
            Frustrated if sat > fru => *s *= 1.0 - sat,
            _ => {}
        }
    }
    out
}

/// The tone analysis of a turn: tones scoring at least [`MIN_SCORE`], highest first; an
/// `error` instead for a turn over [`MAX_TONE_CHARS`] characters.
pub fn tone(text: &str, utterance_id: u64, sentiment: f64) -> ToneAnalysis {
    let utterance_text: String = text.chars().take(UTTERANCE_TEXT_CHARS).collect();
    if text.chars().count() > MAX_TONE_CHARS {
        return ToneAnalysis {
            utterance_text,
            utterance_id,
            tones: None,
            error: Some(format!(
                "The turn has more than {MAX_TONE_CHARS} characters: tone is analysed only in shorter turns"
            )),
        };
    }
    let mut tones: Vec<ToneScore> = scores(text, sentiment)
        .into_iter()
        .filter(|&(_, s)| s >= MIN_SCORE)
        .map(|(t, s)| ToneScore {
            score: (s * 1000.0).round() / 1000.0,
            tone_id: t,
            tone_name: t.name().to_owned(),
        })
        .collect();
    tones.sort_by(|a, b| b.score.total_cmp(&a.score));
    ToneAnalysis {
        utterance_text,
        utterance_id,
        tones: Some(tones),
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(text: &str, sentiment: f64) -> Vec<ToneId> {
        let mut t: Vec<ToneId> = tone(text, 1, sentiment)
            .tones
            .unwrap()
            .into_iter()
            .map(|t| t.tone_id)
            .collect();
        t.sort();
        t
    }

    #[test]
    fn cues_give_tones_and_scores_stay_in_range() {
        assert_eq!(
            ids("thank you for calling the hotel how may I help", 0.4),
            [Polite]
        );
        assert_eq!(ids("I'm so sorry to hear that", -0.1), [Sympathetic]);
        assert!(ids("this is outrageous I want a refund", -0.6).contains(&Frustrated));
        assert!(ids("it's the fourth of May", 0.0).is_empty());
        for (_, s) in scores("please thank you so much wow amazing perfect", 0.9) {
            assert!((0.0..=1.0).contains(&s));
        }
    }

    #[test]
    fn a_negated_cue_counts_against_it() {
        let t = ids("I'm not happy about this", -0.4);
        assert!(!t.contains(&Satisfied) && t.contains(&Frustrated), "{t:?}");
    }

    #[test]
    fn long_turns_carry_an_error_instead_of_tones() {
        let long = "word ".repeat(120);
        let t = tone(&long, 7, 0.0);
        assert!(t.tones.is_none() && t.error.is_some());
        assert_eq!(t.utterance_id, 7);
        assert!(t.utterance_text.len() <= 80);
    }
}
