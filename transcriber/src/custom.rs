//! A custom language model in the engine: the batch's [`Vocabulary`] turned into a bias on the
//! decoder and a rewrite of the words it wrote.
//!
//! Both models decode greedily, one token at a time. At each step [`Bias::adjust`] looks at the
//! likeliest few tokens and raises, by a bonus that the customization weight sets, those that
//! start or continue one of the model's spellings (the word, or a `sounds_like` form) from a word
//! boundary. Only tokens the model already finds plausible can win that way, so audio that does
//! not hold the word keeps its ordinary transcript; the bonus only tips close calls, as an
//! unfamiliar name usually is ("the number firmware" for "the Nimbra firmware").
//!
//! Matching is on letters and digits only, case and spaces ignored: any tokenisation of a
//! spelling matches, and "zen tra phone", "Zentra phone" and "Zentraphone" are one key. After
//! decoding, [`Bias::rewrite`] replaces every run of words that spells one of the model's words
//! with its `display_as` form, one word with the run's times.
//!
//! Written here rather than with a finite-state library: the index is a sorted list of keys
//! searched by prefix (a trie's job at this size), and the rest is the decoders' own loop.

use crds::customization::Vocabulary;

use crate::alignment::WordTiming;

/// Most words a spelling may span ("I. triple E." is three).
const MAX_SPELLING_WORDS: usize = 6;
/// Tokens considered per step: a token outside the model's few likeliest cannot be a close call.
const CANDIDATES: usize = 16;
/// A custom word may start only with a token at most this far (in nats) below the likeliest:
/// one the model finds far less likely than that is not what it heard, and starting there
/// derails the rest of the window.
const START_MARGIN: f32 = 3.0;
/// The logit bonus at weight 1.0; it grows with the square root of the weight. At the default
/// weight (0.3) a token that starts or continues a custom word gains 2.2 nats (×9 odds): enough
/// to win against an ordinary word the model hesitates over, not against one it is sure of.
/// Measured on the devset (bench/custom.sh): 10 nats at full weight let a custom word take
/// over whole windows ("veltrix" for a sentence); 4 does not.
const MAX_BONUS: f32 = 4.0;

/// What [`Bias::adjust`] raised at one step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Raised {
    /// Whether any token was raised.
    pub any: bool,
    /// The tokens raised because they may start a custom word (not continue one).
    pub starts: Vec<u32>,
}

/// A custom vocabulary compiled for decoding.
#[derive(Debug, Clone)]
pub struct Bias {
    /// Every spelling's key (see [`key_of`]) with the word it spells, sorted by key.
    keys: Vec<(String, usize)>,
    /// The `display_as` form of each word.
    display: Vec<String>,
    /// The logit bonus of a token that starts or continues a spelling.
    bonus: f32,
    /// The display forms in the vocabulary's order (most used first), for a decoder's context.
    prompt_words: Vec<String>,
}

/// A spelling's key: its letters and digits, lower-cased, nothing else.
pub fn key_of(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

impl Bias {
    /// Compiles `vocabulary` for decoding at `weight` (0.0–1.0).
    pub fn new(vocabulary: &Vocabulary, weight: f64) -> Self {
        let mut keys = Vec::new();
        let mut display = Vec::with_capacity(vocabulary.words.len());
        for (i, word) in vocabulary.words.iter().enumerate() {
            display.push(word.display_as.clone());
            let mut spellings: Vec<String> = word
                .spellings
                .iter()
                .chain(std::iter::once(&word.display_as))
                .map(|s| key_of(s))
                .filter(|k| !k.is_empty())
                .collect();
            spellings.sort();
            spellings.dedup();
            keys.extend(spellings.into_iter().map(|k| (k, i)));
        }
        // The first word listed (the most used) wins when two words share a key.
        keys.sort();
        keys.dedup_by(|b, a| a.0 == b.0);
        // The square root: low weights already help (the prompt does most of the work), high ones
        // must not reach the bonus that lets a custom word take over a window.
        let bonus = MAX_BONUS * (weight.clamp(0.0, 1.0) as f32).sqrt();
        Self {
            keys,
            prompt_words: if bonus > 0.0 {
                display.clone()
            } else {
                Vec::new()
            },
            display,
            bonus,
        }
    }

    /// The words to show a decoder as the text before the transcript, most used first (none at
    /// weight 0): a decoder that has just read a word spells it that way when it hears it.
    pub fn prompt_words(&self) -> &[String] {
        &self.prompt_words
    }

    /// Whether some spelling starts with `key`.
    fn has_prefix(&self, key: &str) -> bool {
        let i = self.keys.partition_point(|(k, _)| k.as_str() < key);
        self.keys.get(i).is_some_and(|(k, _)| k.starts_with(key))
    }

    /// The word that `key` spells exactly.
    fn exact(&self, key: &str) -> Option<usize> {
        self.keys
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| self.keys[i].1)
    }

    /// Raises the logits of the likeliest tokens that start or continue a spelling, given the
    /// text decoded so far; `token_bytes` gives a token's text. Tokens in `no_start` may not
    /// start a word here (a start the decoder took back). Says which tokens were raised.
    pub fn adjust<'t>(
        &self,
        decoded: &[u8],
        logits: &mut [f32],
        token_bytes: impl Fn(u32) -> &'t [u8],
        no_start: &[u32],
    ) -> Raised {
        let mut raised = Raised::default();
        if self.bonus <= 0.0 || self.keys.is_empty() {
            return raised;
        }
        let text = String::from_utf8_lossy(decoded);
        let tail: Vec<String> = {
            let words: Vec<&str> = text.split_whitespace().collect();
            let from = words.len().saturating_sub(MAX_SPELLING_WORDS);
            words[from..].iter().map(|w| key_of(w)).collect()
        };
        // The key of the tail's words from each one to the end: the prefixes a spelling that
        // began at that word would have so far.
        let suffixes: Vec<String> = (0..tail.len()).map(|j| tail[j..].concat()).collect();
        let candidates = top_candidates(logits, CANDIDATES);
        let floor = candidates
            .first()
            .map_or(f32::INFINITY, |&best| logits[best as usize] - START_MARGIN);
        for id in candidates {
            let piece = String::from_utf8_lossy(token_bytes(id));
            let key = key_of(&piece);
            if key.is_empty() {
                continue;
            }
            let new_word = piece.starts_with(' ') || tail.is_empty();
            // Starting a word the model finds unlikely derails it; continuing one is safe.
            let fresh = new_word
                && logits[id as usize] >= floor
                && !no_start.contains(&id)
                && self.has_prefix(&key);
            // A token that continues the last word joins its key to it; one that starts a word
            // joins the words before it (spellings are keyed without spaces).
            let continues = suffixes
                .iter()
                .any(|s| self.has_prefix(&format!("{s}{key}")));
            if fresh || continues {
                logits[id as usize] += self.bonus;
                raised.any = true;
                if fresh && !continues {
                    raised.starts.push(id);
                }
            }
        }
        raised
    }

    /// Whether `text` (decoded from where a custom word began) is still on the way to one of
    /// the spellings, and whether it already spells one.
    pub fn progress(&self, text: &[u8]) -> (bool, bool) {
        let key = key_of(&String::from_utf8_lossy(text));
        (self.has_prefix(&key), self.exact(&key).is_some())
    }

    /// Replaces each run of up to `MAX_SPELLING_WORDS` words that spells a custom word (or
    /// its plural or possessive) by the word's `display_as` form: one word spanning the run's
    /// time, with the run's lowest probability and the punctuation around it kept.
    pub fn rewrite(&self, words: Vec<WordTiming>) -> Vec<WordTiming> {
        if self.keys.is_empty() {
            return words;
        }
        let mut out = Vec::with_capacity(words.len());
        let mut i = 0;
        'words: while i < words.len() {
            for n in (1..=MAX_SPELLING_WORDS.min(words.len() - i)).rev() {
                let run = &words[i..i + n];
                if let Some(text) = self.spelt(run) {
                    out.push(WordTiming {
                        text,
                        start: run[0].start,
                        end: run[n - 1].end,
                        probability: run.iter().map(|w| w.probability).fold(1.0, f32::min),
                    });
                    i += n;
                    continue 'words;
                }
            }
            out.push(words[i].clone());
            i += 1;
        }
        out
    }

    /// The display form of the custom word `run` spells, with its outer punctuation.
    fn spelt(&self, run: &[WordTiming]) -> Option<String> {
        // Punctuation inside the run (a comma, a full stop) separates words that only happen
        // to concatenate into a spelling.
        let inner = run.len() > 1
            && run[..run.len() - 1]
                .iter()
                .any(|w| w.text.ends_with(|c: char| !c.is_alphanumeric()));
        if inner {
            return None;
        }
        let key: String = run.iter().map(|w| key_of(&w.text)).collect();
        let last = run
            .last()?
            .text
            .trim_end_matches(|c: char| !c.is_alphanumeric());
        let (word, suffix) = if let Some(w) = self.exact(&key) {
            (w, "")
        } else if let Some(stem) = key.strip_suffix('s') {
            let suffix = if last.ends_with("'s") || last.ends_with("’s") {
                "'s"
            } else {
                "s"
            };
            (self.exact(stem)?, suffix)
        } else {
            return None;
        };
        let first = &run[0].text;
        let lead: String = first.chars().take_while(|c| !c.is_alphanumeric()).collect();
        let end = &run[run.len() - 1].text;
        let trail_len = end
            .chars()
            .rev()
            .take_while(|c| !c.is_alphanumeric())
            .map(char::len_utf8)
            .sum::<usize>();
        let trail = &end[end.len() - trail_len..];
        // A possessive's apostrophe sits before the trailing punctuation already stripped.
        let trail = if suffix == "'s" {
            trail.trim_start_matches(['\'', '’'])
        } else {
            trail
        };
        Some(format!("{lead}{}{suffix}{trail}", self.display[word]))
    }
}

/// The indices of the `n` largest finite logits.
fn top_candidates(logits: &[f32], n: usize) -> Vec<u32> {
    let mut best: Vec<(f32, u32)> = Vec::with_capacity(n + 1);
    for (i, &l) in logits.iter().enumerate() {
        if !l.is_finite() || (best.len() == n && l <= best[n - 1].0) {
            continue;
        }
        let at = best.partition_point(|&(b, _)| b >= l);
        best.insert(at, (l, i as u32));
        best.truncate(n);
    }
    best.into_iter().map(|(_, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crds::customization::VocabularyWord;

    fn vocabulary(words: &[(&str, &[&str])]) -> Vocabulary {
        Vocabulary {
            customization_id: "test".into(),
            trained: crds::Timestamp::now(),
            base_model_name: crds::ModelName::Broadband,
            customization_weight: None,
            words: words
                .iter()
                .map(|(display, spellings)| VocabularyWord {
                    display_as: display.to_string(),
                    spellings: spellings.iter().map(|s| s.to_string()).collect(),
                    count: 1,
                })
                .collect(),
        }
    }

    fn word(text: &str, start: f64) -> WordTiming {
        WordTiming {
            text: text.into(),
            start,
            end: start + 0.4,
            probability: 0.9,
        }
    }

    fn texts(words: &[WordTiming]) -> Vec<&str> {
        words.iter().map(|w| w.text.as_str()).collect()
    }

    #[test]
    fn runs_that_spell_a_word_become_its_display_form() {
        let bias = Bias::new(
            &vocabulary(&[
                ("Zentraphone", &["Zentraphone", "zen tra phone"]),
                ("eSIM", &["esim", "E. SIM"]),
                ("MyVeltrix", &["myveltrix", "my vel tricks"]),
            ]),
            0.3,
        );
        let words = vec![
            word("My", 0.0),
            word("Zen", 0.5),
            word("tra", 1.0),
            word("phone's", 1.5),
            word("e-sim", 2.0),
            word("profile,", 2.5),
            word("my", 3.0),
            word("vel", 3.5),
            word("tricks.", 4.0),
            word("myveltrix", 4.5),
        ];
        let out = bias.rewrite(words);
        assert_eq!(
            texts(&out),
            [
                "My",
                "Zentraphone's",
                "eSIM",
                "profile,",
                "MyVeltrix.",
                "MyVeltrix"
            ]
        );
        assert_eq!((out[1].start, out[1].end), (0.5, 1.9));
    }

    #[test]
    fn punctuation_inside_a_run_keeps_its_words_apart() {
        let bias = Bias::new(&vocabulary(&[("eSIM", &["e sim"])]), 0.3);
        let out = bias.rewrite(vec![word("e.", 0.0), word("Sim", 0.5)]);
        // "e." ends a sentence here; the rule keeps the words as they are.
        assert_eq!(texts(&out), ["e.", "Sim"]);
        let plain = vec![word("hello", 0.0), word("world", 0.5)];
        assert_eq!(texts(&bias.rewrite(plain)), ["hello", "world"]);
    }

    #[test]
    fn tokens_that_start_or_continue_a_spelling_are_raised() {
        let bias = Bias::new(&vocabulary(&[("Nimbra", &["nimbra", "nim bra"])]), 0.3);
        let tokens: Vec<&[u8]> = vec![b" N", b"im", b"bra", b" number", b" the", b"."];
        let text = |id: u32| tokens[id as usize];
        // After "the", " N" may start the word; " number" and " the" may not.
        let mut logits = vec![0.0f32; tokens.len()];
        assert!(bias.adjust(b" the", &mut logits, text, &[]).any);
        assert!((logits[0] - 4.0 * 0.3f32.sqrt()).abs() < 1e-6);
        assert_eq!(&logits[3..], &[0.0, 0.0, 0.0]);
        // After "the N", "im" continues it; "bra" does not.
        let mut logits = vec![0.0f32; tokens.len()];
        bias.adjust(b" the N", &mut logits, text, &[]);
        assert_eq!((logits[1] > 0.0, logits[2]), (true, 0.0));
        // After "the Nim", "bra" completes it.
        let mut logits = vec![0.0f32; tokens.len()];
        bias.adjust(b" the Nim", &mut logits, text, &[]);
        assert!(logits[2] > 0.0);
        // A start the model finds far less likely than its best is left alone.
        let mut logits = vec![0.0f32; tokens.len()];
        logits[3] = 5.0;
        bias.adjust(b" the", &mut logits, text, &[]);
        assert_eq!(logits[0], 0.0);
        // Weight 0 leaves the decoder alone.
        let off = Bias::new(&vocabulary(&[("Nimbra", &["nimbra"])]), 0.0);
        let mut logits = vec![0.0f32; tokens.len()];
        assert!(!off.adjust(b" the", &mut logits, text, &[]).any);
    }

    #[test]
    fn progress_says_whether_a_started_word_can_still_be_spelt() {
        let bias = Bias::new(&vocabulary(&[("eSIM", &["esim", "e. sim"])]), 0.3);
        assert_eq!(bias.progress(b" e"), (true, false));
        assert_eq!(bias.progress(b" e SIM"), (true, true));
        assert_eq!(bias.progress(b" eSIM"), (true, true));
        assert_eq!(bias.progress(b" Zim"), (false, false));
        // A start the decoder took back is not raised again at that step.
        let tokens: Vec<&[u8]> = vec![b" e", b" Z"];
        let mut logits = vec![0.0f32; 2];
        let raised = bias.adjust(b" the", &mut logits, |id| tokens[id as usize], &[0]);
        assert_eq!(raised.starts, Vec::<u32>::new());
        assert_eq!(logits[0], 0.0);
    }

    #[test]
    fn only_the_likeliest_tokens_are_candidates() {
        let logits = [0.5, f32::NEG_INFINITY, 3.0, 2.0, -1.0];
        assert_eq!(top_candidates(&logits, 2), vec![2, 3]);
        assert_eq!(top_candidates(&logits, 10), vec![2, 3, 0, 4]);
    }
}
