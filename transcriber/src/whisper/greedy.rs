//! Greedy decoding of one 30-second window with the KV cache, keeping what word timing needs:
//! each text token's probability and the alignment heads' cross-attention rows.

use super::model::{EncodedAudio, WhisperModel};
use super::tokenizer::Tokenizer;
use crate::EngineError;

/// Encoder positions per 30-second window.
pub const AUDIO_POSITIONS: usize = 1500;

/// The decoded text of one window.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Text tokens (no special tokens).
    pub tokens: Vec<u32>,
    /// Probability of each text token when it was chosen.
    pub probs: Vec<f32>,
    /// Alignment-head attention: one row per text token plus one for the `<|notimestamps|>`
    /// position before it, `[tokens.len() + 1][heads][frames]` flattened, where `frames` is the
    /// number of encoder positions that hold audio.
    pub attention: Vec<f32>,
    /// Encoder positions covered by audio (one per 20 ms).
    pub frames: usize,
    /// Number of alignment heads.
    pub heads: usize,
}

/// The prompt: start of transcript, English transcription on multilingual models, no timestamps.
pub fn prompt(model: &WhisperModel, tokenizer: &Tokenizer) -> Vec<u32> {
    let s = tokenizer.special();
    let mut p = vec![s.sot];
    if model.meta().multilingual {
        if let Some(en) = s.english {
            p.push(en);
        }
        p.push(s.transcribe);
    }
    p.push(s.no_timestamps);
    p
}

/// Decodes greedily. `frames` is the number of encoder positions holding audio (the rest of the
/// window is padding); attention rows are cut to those.
pub fn decode(
    model: &WhisperModel,
    tokenizer: &Tokenizer,
    audio: &EncodedAudio,
    frames: usize,
) -> Result<Decoded, EngineError> {
    let meta = model.meta();
    let eot = tokenizer.special().eot;
    let heads = meta.alignment_heads.len();
    let frames = frames.clamp(1, AUDIO_POSITIONS);
    let prompt = prompt(model, tokenizer);
    // Whisper stops at half the context: the rest is for a previous-text prompt we never send.
    let max_tokens = meta.max_text_positions / 2;
    let mut suppressed = vec![false; meta.vocab_size];
    for &id in &meta.suppress_ids {
        if let Some(s) = suppressed.get_mut(id as usize) {
            *s = true;
        }
    }
    // Every special token after end-of-text (start tokens, language, task, timestamps).
    for s in suppressed.iter_mut().skip(eot as usize + 1) {
        *s = true;
    }

    let mut cache = model.empty_cache()?;
    let mut out = Decoded {
        tokens: Vec::new(),
        probs: Vec::new(),
        attention: Vec::new(),
        frames,
        heads,
    };
    let mut input = prompt.clone();
    for step in 0..max_tokens {
        let result = model.decode_step(audio, &input, &mut cache)?;
        // Keep the attention of the last new position (the prompt's no-timestamps token at step 0).
        let row = (result.new_tokens - 1) * heads * AUDIO_POSITIONS;
        for h in 0..heads {
            let start = row + h * AUDIO_POSITIONS;
            out.attention
                .extend_from_slice(&result.align[start..start + frames]);
        }
        let mut logits = result.logits;
        for (l, &s) in logits.iter_mut().zip(&suppressed) {
            if s {
                *l = f32::NEG_INFINITY;
            }
        }
        if step == 0 {
            for &id in &meta.suppress_ids_begin {
                if let Some(l) = logits.get_mut(id as usize) {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
        let (best, logprob) = argmax_logprob(&logits);
        if best == eot || prompt.len() + out.tokens.len() + 1 >= meta.max_text_positions {
            break;
        }
        out.tokens.push(best);
        out.probs.push(logprob.exp());
        if let Some(keep) = repetition_cut(&out.tokens) {
            // A greedy decoder caught in a loop repeats a phrase until the token limit; keep the
            // first occurrence and stop, as a temperature fallback would otherwise be needed.
            out.tokens.truncate(keep);
            out.probs.truncate(keep);
            out.attention.truncate((keep + 1) * heads * frames);
            return Ok(out);
        }
        input = vec![best];
    }
    Ok(out)
}

/// Index and log-softmax of the largest logit.
fn argmax_logprob(logits: &[f32]) -> (u32, f32) {
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
fn repetition_cut(tokens: &[u32]) -> Option<usize> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phrase_looping_three_times_is_cut_to_one() {
        let t = [1, 2, 3, 9, 8, 7, 6, 9, 8, 7, 6, 9, 8, 7, 6];
        assert_eq!(repetition_cut(&t), Some(7));
        assert_eq!(repetition_cut(&[1, 2, 3, 4, 5, 6]), None);
        // "no no no" is speech, not a loop.
        assert_eq!(repetition_cut(&[5, 5, 5, 5]), None);
    }

    #[test]
    fn logprob_of_the_best_of_two_equal_logits_is_log_half() {
        let (best, lp) = argmax_logprob(&[0.0, 3.0, 3.0 - 1e-6]);
        assert_eq!(best, 1);
        assert!((lp.exp() - 0.4879).abs() < 0.01);
    }
}
