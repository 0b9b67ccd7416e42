//! Greedy decoding of one chunk of speech with the KV cache, with the guards Whisper's path uses
//! (loop cut, compression-ratio and mean log-probability checks with the temperature fallback,
//! thresholds from [`crate::whisper::greedy`]), keeping what word timing needs: each token's
//! probability and the chosen heads' cross-attention rows.
//!
//! Moonshine has no no-speech token: a chunk without speech is expected to end at once.

use super::model::{EncodedSpeech, MoonshineModel};
use super::tokenizer::MoonshineTokenizer;
use crate::custom::Bias;
use crate::decoding::{
    choose, compression_ratio, repetition_cut, softmax_at, with_temperature_fallback, AttemptScore,
    Fallback,
};
use crate::whisper::greedy::{COMPRESSION_RATIO_THRESHOLD, LOGPROB_THRESHOLD, TEMPERATURES};
use crate::EngineError;

/// Tokens allowed beyond [`super::MoonshineMeta::max_tokens_per_second`] times the chunk's
/// length, so that a short chunk ("Okay, thanks.") is never cut.
const EXTRA_TOKENS: usize = 4;

/// The decoded text of one chunk.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Text tokens (no special tokens).
    pub tokens: Vec<u32>,
    /// Probability of each text token when it was chosen.
    pub probs: Vec<f32>,
    /// Cross-attention of the kept heads: one row per text token plus one for the start
    /// token's position before them (row k is the position that predicted token k; the last
    /// predicted the end), `[tokens.len() + 1][heads.len()][frames]` flattened.
    pub attention: Vec<f32>,
    /// The (layer, head) pairs whose attention is kept, in the order of `attention`.
    pub heads: Vec<(usize, usize)>,
    /// Encoder frames of the chunk.
    pub frames: usize,
    /// Mean log-probability of the chosen tokens and the end token.
    pub avg_logprob: f32,
    /// How well the text compresses (its bytes over their zlib size).
    pub compression_ratio: f32,
    /// The temperature the text was decoded at.
    pub temperature: f32,
}

impl Decoded {
    /// Whether the text passes Whisper's reference checks (no fallback needed).
    pub fn is_plausible(&self) -> bool {
        self.compression_ratio <= COMPRESSION_RATIO_THRESHOLD
            && self.avg_logprob >= LOGPROB_THRESHOLD
    }

    /// The same text with the attention of the heads at `which` (indices into `heads`) only.
    pub fn with_heads(&self, which: &[usize]) -> Decoded {
        let (n, f) = (self.heads.len(), self.frames);
        let mut attention =
            Vec::with_capacity(self.tokens.len().saturating_add(1) * which.len() * f);
        for row in self.attention.chunks_exact(n * f) {
            for &h in which {
                attention.extend_from_slice(&row[h * f..(h + 1) * f]);
            }
        }
        Decoded {
            attention,
            heads: which.iter().map(|&h| self.heads[h]).collect(),
            ..self.clone()
        }
    }
}

impl Decoded {
    /// The frame the end of the text attends to most (the attention of `heads`, those of them
    /// that are kept, summed in the last row): where the model heard its text end. `None`
    /// without text or without any of those heads.
    pub fn text_end_frame(&self, heads: &[(usize, usize)]) -> Option<usize> {
        let (n, f) = (self.heads.len(), self.frames);
        let which: Vec<usize> = (0..n).filter(|&k| heads.contains(&self.heads[k])).collect();
        if self.tokens.is_empty() || which.is_empty() || f == 0 {
            return None;
        }
        let last = self.attention.rchunks_exact(n * f).next()?;
        (0..f)
            .map(|frame| {
                let sum: f32 = which.iter().map(|&h| last[h * f + frame]).sum();
                (frame, sum)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(frame, _)| frame)
    }

    /// The same text with the attention of the first `frames` frames only.
    pub fn with_frames(&self, frames: usize) -> Decoded {
        let frames = frames.clamp(1, self.frames);
        let f = self.frames;
        Decoded {
            attention: self
                .attention
                .chunks_exact(f)
                .flat_map(|row| &row[..frames])
                .copied()
                .collect(),
            frames,
            ..self.clone()
        }
    }
}

/// Decodes a chunk of `seconds` of speech: greedily, then, if the text is a loop or a guess,
/// again at each of [`TEMPERATURES`] until one passes (if none does, the attempt with the best
/// mean log-probability is kept). Keeps the cross-attention of `heads` ((layer, head) pairs).
pub fn decode(
    model: &MoonshineModel,
    tokenizer: &MoonshineTokenizer,
    speech: &EncodedSpeech,
    seconds: f64,
    heads: &[(usize, usize)],
    bias: Option<&Bias>,
) -> Result<Decoded, EngineError> {
    // Moonshine has no no-speech token: only the text's own checks apply.
    let outcome = with_temperature_fallback(
        &TEMPERATURES,
        |temperature, rng| {
            let chunk = Chunk {
                speech,
                seconds,
                heads,
                bias,
            };
            decode_at(model, tokenizer, &chunk, temperature, rng)
        },
        |d: &Decoded| AttemptScore {
            avg_logprob: d.avg_logprob,
            compression_ratio: d.compression_ratio,
            plausible: d.is_plausible(),
            silence: false,
        },
    )?;
    Ok(match outcome {
        Fallback::Text(d) | Fallback::Silence(d) => d,
    })
}

/// The most text tokens a chunk of `seconds` may hold.
pub fn max_tokens(model: &MoonshineModel, seconds: f64) -> usize {
    (seconds * f64::from(model.meta().max_tokens_per_second)).ceil() as usize + EXTRA_TOKENS
}

/// What one attempt decodes: the encoded chunk, its length, the heads to keep, the custom
/// words to favour.
struct Chunk<'a> {
    speech: &'a EncodedSpeech,
    seconds: f64,
    heads: &'a [(usize, usize)],
    bias: Option<&'a Bias>,
}

/// One decoding attempt: greedy at temperature 0, sampled above it.
fn decode_at(
    model: &MoonshineModel,
    tokenizer: &MoonshineTokenizer,
    chunk: &Chunk<'_>,
    temperature: f32,
    rng: &mut fastrand::Rng,
) -> Result<Decoded, EngineError> {
    let Chunk {
        speech,
        seconds,
        heads,
        bias,
    } = *chunk;
    let meta = model.meta();
    let eos = tokenizer.eos();
    let frames = speech.frames;
    let max_tokens = max_tokens(model, seconds);
    // Specials other than the end, and the ids that only pad the logits.
    let suppressed: Vec<bool> = (0..meta.logits_size as u32)
        .map(|id| id != eos && !tokenizer.is_text(id))
        .collect();
    let mut out = Decoded {
        tokens: Vec::new(),
        probs: Vec::new(),
        attention: Vec::new(),
        heads: heads.to_vec(),
        frames,
        avg_logprob: 0.0,
        compression_ratio: 0.0,
        temperature,
    };
    let mut state = model.start();
    let mut input = tokenizer.bos();
    let mut sum_logprob = 0.0f32;
    for step in 0..=max_tokens {
        let result = model.decode_step(speech, input, &mut state)?;
        for &(layer, head) in heads {
            let start = (layer * meta.heads + head) * frames;
            out.attention
                .extend_from_slice(&result.attention[start..start + frames]);
        }
        let mut logits = result.logits;
        for (l, &s) in logits.iter_mut().zip(&suppressed) {
            if s {
                *l = f32::NEG_INFINITY;
            }
        }
        let unbiased = bias.and_then(|b| {
            let before = logits.clone();
            let text = tokenizer.bytes_of(&out.tokens);
            b.adjust(&text, &mut logits, |id| tokenizer.token_bytes(id), &[])
                .any
                .then_some(before)
        });
        let (best, logprob) = choose(&logits, temperature, rng);
        sum_logprob += logprob;
        // A word's confidence is the model's own, without the custom model's bonus.
        let logprob = unbiased.map_or(logprob, |l| softmax_at(&l, best as usize).ln());
        // Past the budget the text is invented; the last token would also lack the attention
        // row of its own position, which its word's end time needs.
        if best == eos || step == max_tokens {
            break;
        }
        out.tokens.push(best);
        out.probs.push(logprob.exp());
        if let Some(keep) = repetition_cut(&out.tokens) {
            // A decoder caught in a loop repeats a phrase until the token limit; keep the
            // first occurrence and stop.
            out.tokens.truncate(keep);
            out.probs.truncate(keep);
            out.attention.truncate((keep + 1) * heads.len() * frames);
            break;
        }
        input = best;
    }
    out.avg_logprob = sum_logprob / (out.tokens.len() + 1) as f32;
    out.compression_ratio = compression_ratio(&tokenizer.bytes_of(&out.tokens));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeping_some_heads_keeps_their_rows_in_order() {
        // 2 rows, 3 heads, 2 frames: value = 100 * row + 10 * head + frame.
        let attention: Vec<f32> = (0..2)
            .flat_map(|r| {
                (0..3).flat_map(move |h| (0..2).map(move |f| (100 * r + 10 * h + f) as f32))
            })
            .collect();
        let d = Decoded {
            tokens: vec![7],
            probs: vec![0.9],
            attention,
            heads: vec![(0, 0), (1, 2), (3, 4)],
            frames: 2,
            avg_logprob: -0.1,
            compression_ratio: 1.0,
            temperature: 0.0,
        };
        let kept = d.with_heads(&[2, 0]);
        assert_eq!(kept.heads, vec![(3, 4), (0, 0)]);
        assert_eq!(
            kept.attention,
            vec![20., 21., 0., 1., 120., 121., 100., 101.]
        );
        let first = kept.with_frames(1);
        assert_eq!(first.frames, 1);
        assert_eq!(first.attention, vec![20., 0., 120., 100.]);
        // The last row's heads sum to 241 on frame 1 and 220 on frame 0.
        assert_eq!(kept.text_end_frame(&[(3, 4), (0, 0)]), Some(1));
        assert_eq!(kept.text_end_frame(&[(0, 0)]), Some(1));
        assert_eq!(kept.text_end_frame(&[(1, 2)]), None);
    }
}
