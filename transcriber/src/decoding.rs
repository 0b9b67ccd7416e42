//! Token choice and the checks on a decoded text that do not depend on the model: both decoders
//! (Whisper's and Moonshine's) choose tokens, cut loops, score attempts and fall back to higher
//! temperatures the same way.

use crate::EngineError;

/// The probability of `index` under the softmax of `logits`.
pub fn softmax_at(logits: &[f32], index: usize) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|&l| (l - max).exp()).sum();
    logits.get(index).map_or(0.0, |&l| (l - max).exp() / sum)
}

/// A token drawn from the softmax of `logits / temperature`, with its log-probability under
/// the untempered softmax (as the reference scores attempts).
pub fn sample(logits: &[f32], temperature: f32, rng: &mut fastrand::Rng) -> (u32, f32) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let weights: Vec<f32> = logits
        .iter()
        .map(|&l| ((l - max) / temperature).exp())
        .collect();
    let total: f32 = weights.iter().sum();
    let mut left = rng.f32() * total;
    let mut chosen = weights.iter().rposition(|&w| w > 0.0).unwrap_or(0);
    for (i, &w) in weights.iter().enumerate() {
        if left < w {
            chosen = i;
            break;
        }
        left -= w;
    }
    let sum: f32 = logits.iter().map(|&l| (l - max).exp()).sum();
    (chosen as u32, logits[chosen] - max - sum.ln())
}

/// Text bytes over their zlib-compressed size, as the reference measures repetitiveness
/// (0 for no text).
pub fn compression_ratio(text: &[u8]) -> f32 {
    use std::io::Write;
    if text.is_empty() {
        return 0.0;
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(text).expect("writing to memory");
    let compressed = z.finish().expect("writing to memory");
    text.len() as f32 / compressed.len() as f32
}

/// Index and log-softmax of the largest logit.
pub fn argmax_logprob(logits: &[f32]) -> (u32, f32) {
    let (best, &max) = logits
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .expect("non-empty vocabulary");
    let sum: f32 = logits.iter().map(|&l| (l - max).exp()).sum();
    (best as u32, -sum.ln())
}

/// If the sequence ends with a phrase of 2..=24 tokens repeated at least 3 times in a row (4 for
/// phrases of 2–3 tokens, which natural speech repeats more often), the length to keep: up to the end of its first occurrence.
pub fn repetition_cut(tokens: &[u32]) -> Option<usize> {
    for n in 2..=24 {
        let times = if n <= 3 { 4 } else { 3 };
        if tokens.len() < n * times {
            break;
        }
        let tail = &tokens[tokens.len() - n..];
        let repeated = (1..times).all(|k| {
            let end = tokens.len() - k * n;
            &tokens[end - n..end] == tail
        });
        if repeated {
            return Some(tokens.len() - (times - 1) * n);
        }
    }
    None
}

/// The next token and its (untempered) log-probability: the best at temperature 0, drawn
/// from the tempered softmax above it.
pub fn choose(logits: &[f32], temperature: f32, rng: &mut fastrand::Rng) -> (u32, f32) {
    if temperature > 0.0 {
        sample(logits, temperature, rng)
    } else {
        argmax_logprob(logits)
    }
}

/// The sampler's seed: the same audio gives the same text on every run.
const SAMPLING_SEED: u64 = 0x5eed;

/// How one decoding attempt scored, for [`with_temperature_fallback`].
#[derive(Debug, Clone, Copy)]
pub struct AttemptScore {
    /// Mean log-probability of its tokens.
    pub avg_logprob: f32,
    /// Its text's compression ratio (for the log).
    pub compression_ratio: f32,
    /// Whether it passes the decoder's checks.
    pub plausible: bool,
    /// Whether the audio is judged to hold no speech.
    pub silence: bool,
}

/// What the fallback settled on.
pub enum Fallback<D> {
    /// An attempt whose text is kept.
    Text(D),
    /// An attempt judged to be of audio without speech: its text is to be dropped.
    Silence(D),
}

/// Whisper's reference temperature fallback, for either model: `attempt` decodes at each of
/// `temperatures` in turn (sampling from a seeded generator above 0) until one is judged
/// silence or plausible by `score`; if none is, the attempt with the best mean log-probability
/// is kept.
pub fn with_temperature_fallback<D>(
    temperatures: &[f32],
    mut attempt: impl FnMut(f32, &mut fastrand::Rng) -> Result<D, EngineError>,
    score: impl Fn(&D) -> AttemptScore,
) -> Result<Fallback<D>, EngineError> {
    let mut rng = fastrand::Rng::with_seed(SAMPLING_SEED);
    let mut best: Option<(f32, D)> = None;
    for &temperature in temperatures {
        let d = attempt(temperature, &mut rng)?;
        let s = score(&d);
        if s.silence {
            return Ok(Fallback::Silence(d));
        }
        if s.plausible {
            return Ok(Fallback::Text(d));
        }
        tracing::debug!(
            temperature,
            avg_logprob = s.avg_logprob,
            compression_ratio = s.compression_ratio,
            "decoded again at a higher temperature"
        );
        if best.as_ref().is_none_or(|(lp, _)| s.avg_logprob > *lp) {
            best = Some((s.avg_logprob, d));
        }
    }
    let (_, d) =
        best.ok_or_else(|| EngineError::Inference("no temperature to decode at".into()))?;
    Ok(Fallback::Text(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whisper's reference threshold, as `whisper::greedy` applies it.
    const COMPRESSION_RATIO_THRESHOLD: f32 = crate::whisper::greedy::COMPRESSION_RATIO_THRESHOLD;

    #[test]
    fn a_phrase_looping_three_times_is_cut_to_one() {
        let t = [1, 2, 3, 9, 8, 7, 6, 9, 8, 7, 6, 9, 8, 7, 6];
        assert_eq!(repetition_cut(&t), Some(7));
        assert_eq!(repetition_cut(&[1, 2, 3, 4, 5, 6]), None);
        // "no no no" is speech, not a loop.
        assert_eq!(repetition_cut(&[5, 5, 5, 5]), None);
    }

    #[test]
    fn loops_compress_far_better_than_speech() {
        let speech =
            b"I was calling about the charge on my card from last Tuesday, it is not mine.";
        assert!(compression_ratio(speech) < COMPRESSION_RATIO_THRESHOLD);
        let looped = "thank you for calling ".repeat(8);
        assert!(compression_ratio(looped.as_bytes()) > COMPRESSION_RATIO_THRESHOLD);
        assert_eq!(compression_ratio(b""), 0.0);
    }

    #[test]
    fn sampling_follows_the_tempered_distribution_and_scores_untempered() {
        let logits = [0.0, 2.0, f32::NEG_INFINITY, 1.0];
        let mut rng = fastrand::Rng::with_seed(1);
        let mut counts = [0usize; 4];
        for _ in 0..20_000 {
            let (t, lp) = sample(&logits, 1.0, &mut rng);
            counts[t as usize] += 1;
            let (_, greedy_lp) = argmax_logprob(&logits);
            if t == 1 {
                assert!((lp - greedy_lp).abs() < 1e-6);
            }
        }
        assert_eq!(counts[2], 0, "a suppressed token is never drawn");
        // softmax([0, 2, 1]) = [0.090, 0.665, 0.245]
        let share = |i: usize| counts[i] as f32 / 20_000.0;
        assert!((share(1) - 0.665).abs() < 0.02, "{counts:?}");
        assert!((share(0) - 0.090).abs() < 0.02, "{counts:?}");
        // A low temperature is nearly greedy.
        let cold = (0..1000)
            .filter(|_| sample(&logits, 0.05, &mut rng).0 == 1)
            .count();
        assert!(cold > 990, "{cold}");
        assert!((softmax_at(&logits, 1) - 0.665).abs() < 0.01);
    }

    #[test]
    fn logprob_of_the_best_of_two_equal_logits_is_log_half() {
        let (best, lp) = argmax_logprob(&[0.0, 3.0, 3.0 - 1e-6]);
        assert_eq!(best, 1);
        assert!((lp.exp() - 0.4879).abs() < 0.01);
    }
}
