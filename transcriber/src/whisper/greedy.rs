//! Greedy decoding of one 30-second window with the KV cache, keeping what word timing needs:
//! each text token's probability and the alignment heads' cross-attention rows.

use super::model::{EncodedAudio, WhisperModel};
use super::tokenizer::Tokenizer;
use crate::custom::{Bias, Raised};
use crate::decoding::{
    argmax_logprob, choose, repetition_cut, softmax_at, with_temperature_fallback, AttemptScore,
    Fallback,
};
use crate::EngineError;

pub use crate::decoding::compression_ratio;

/// Encoder positions per 30-second window.
pub const AUDIO_POSITIONS: usize = 1500;

/// Whisper's reference thresholds (openai/whisper `transcribe`), kept as they are there: a
/// window whose text compresses better than this is a loop or a stutter ...
pub const COMPRESSION_RATIO_THRESHOLD: f32 = 2.4;
/// ... or whose tokens average a log-probability below this is a guess: both are decoded again
/// at the next temperature.
pub const LOGPROB_THRESHOLD: f32 = -1.0;
/// A window whose no-speech probability is above this, and whose text is a guess, holds no
/// speech: its text is dropped.
pub const NO_SPEECH_THRESHOLD: f32 = 0.6;
/// Most custom-word starts taken back in one window: each costs a decoder pass over the
/// sequence so far.
const MAX_TAKEN_BACK: usize = 8;
/// The temperature fallback: greedy first, then sampling ever more freely.
pub const TEMPERATURES: [f32; 6] = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
/// Most text tokens per second of audio in a window (fast speech is about 7): what goes beyond
/// is invented.
pub const MAX_TOKENS_PER_SECOND: f32 = 12.0;

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
    /// Mean log-probability of the chosen tokens and the end token.
    pub avg_logprob: f32,
    /// How well the text compresses (its bytes over their zlib size).
    pub compression_ratio: f32,
    /// The probability of `<|nospeech|>` right after the start token.
    pub no_speech_prob: f32,
    /// The temperature the text was decoded at.
    pub temperature: f32,
}

impl Decoded {
    /// Whether the text passes the reference's checks (no fallback needed).
    pub fn is_plausible(&self) -> bool {
        self.compression_ratio <= COMPRESSION_RATIO_THRESHOLD
            && self.avg_logprob >= LOGPROB_THRESHOLD
    }

    /// Whether the window is judged to hold no speech.
    pub fn is_silence(&self) -> bool {
        self.no_speech_prob > NO_SPEECH_THRESHOLD && self.avg_logprob < LOGPROB_THRESHOLD
    }

    /// The same window with its text dropped.
    fn silenced(mut self) -> Self {
        self.tokens.clear();
        self.probs.clear();
        self.attention.truncate(self.heads * self.frames);
        self
    }
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

/// The context before the start token: a custom model's words, as Whisper's reference passes an
/// initial prompt (`<|startofprev|>` and the text), at most `budget` tokens, whole words only.
fn context(tokenizer: &Tokenizer, bias: Option<&Bias>, budget: usize) -> Vec<u32> {
    let (Some(bias), Some(prev)) = (bias, tokenizer.special().start_of_prev) else {
        return Vec::new();
    };
    let mut tokens = vec![prev];
    // A plain list: tried against a list ending in a full stop (the model then left out a
    // word) and words separated by spaces only (more damage at high weights).
    for (i, word) in bias.prompt_words().iter().enumerate() {
        let sep = if i == 0 { " " } else { ", " };
        let piece = tokenizer.encode(&format!("{sep}{word}"));
        if tokens.len() + piece.len() > budget {
            break;
        }
        tokens.extend(piece);
    }
    if tokens.len() == 1 {
        return Vec::new();
    }
    tokens
}

/// Decodes a window as Whisper's reference decoder does: greedily, then, if the text is a loop
/// or a guess, again at each of [`TEMPERATURES`] until one passes (if none does, the attempt
/// with the best mean log-probability is kept); a window judged to hold no speech gives no
/// text. `frames` is the number of encoder positions holding audio (the rest of the window is
/// padding); attention rows are cut to those.
pub fn decode(
    model: &WhisperModel,
    tokenizer: &Tokenizer,
    audio: &EncodedAudio,
    frames: usize,
    bias: Option<&Bias>,
) -> Result<Decoded, EngineError> {
    let outcome = with_temperature_fallback(
        &TEMPERATURES,
        |temperature, rng| decode_at(model, tokenizer, audio, frames, bias, temperature, rng),
        |d: &Decoded| AttemptScore {
            avg_logprob: d.avg_logprob,
            compression_ratio: d.compression_ratio,
            plausible: d.is_plausible(),
            silence: d.is_silence(),
        },
    )?;
    Ok(match outcome {
        Fallback::Text(d) => d,
        Fallback::Silence(d) => d.silenced(),
    })
}

/// One decoding attempt: greedy at temperature 0, sampled above it.
fn decode_at(
    model: &WhisperModel,
    tokenizer: &Tokenizer,
    audio: &EncodedAudio,
    frames: usize,
    bias: Option<&Bias>,
    temperature: f32,
    rng: &mut fastrand::Rng,
) -> Result<Decoded, EngineError> {
    let meta = model.meta();
    let special = tokenizer.special();
    let eot = special.eot;
    let heads = meta.alignment_heads.len();
    let frames = frames.clamp(1, AUDIO_POSITIONS);
    // A custom model's words go before the start token, in the half of the context that
    // Whisper's reference keeps for a previous-text prompt.
    let context = context(tokenizer, bias, meta.max_text_positions / 2 - 1);
    let prompt = prompt(model, tokenizer);
    // Whisper stops at half the context: the rest is for the previous-text prompt.
    // Fewer for short windows: a window cannot hold more words than it has time for.
    let seconds = frames as f32 * 0.02;
    let max_tokens =
        (meta.max_text_positions / 2).min((seconds * MAX_TOKENS_PER_SECOND).ceil() as usize + 8);
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
        avg_logprob: 0.0,
        compression_ratio: 0.0,
        no_speech_prob: 0.0,
        temperature,
    };
    // The start token alone first: the no-speech probability is read from its logits.
    let mut input: Vec<u32> = context.iter().chain(&prompt).copied().collect();
    if let Some(no_speech) = special.no_speech {
        let first = model.decode_step(audio, &input[..=context.len()], &mut cache)?;
        out.no_speech_prob = softmax_at(&first.logits, no_speech as usize);
        input = prompt[1..].to_vec();
    }
    // The log-probability of each chosen token, then of the end token.
    let mut logprobs: Vec<f32> = Vec::new();
    let mut end_logprob = 0.0f32;
    // A custom word the bias started that is not complete yet: where it began, its first token.
    let mut open_word: Option<(usize, u32)> = None;
    // Starts taken back, as (position, token): the bias may not start that word there again.
    let mut taken_back: Vec<(usize, u32)> = Vec::new();
    // After a start is taken back, the cache is rebuilt from the whole sequence; the attention
    // row of its last position is already kept.
    let mut replayed = false;
    loop {
        let step = out.tokens.len();
        let result = model.decode_step(audio, &input, &mut cache)?;
        if !replayed {
            // Keep the attention of the last new position (the prompt's no-timestamps token at
            // step 0).
            let row = (result.new_tokens - 1) * heads * AUDIO_POSITIONS;
            for h in 0..heads {
                let start = row + h * AUDIO_POSITIONS;
                out.attention
                    .extend_from_slice(&result.align[start..start + frames]);
            }
        }
        replayed = false;
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
        let mut raised = Raised::default();
        let unbiased = bias.and_then(|b| {
            let before = logits.clone();
            let text = tokenizer.bytes_of(&out.tokens);
            let no_start: Vec<u32> = taken_back
                .iter()
                .filter(|&&(at, _)| at == step)
                .map(|&(_, t)| t)
                .collect();
            raised = b.adjust(
                &text,
                &mut logits,
                |id| tokenizer.token_bytes(id),
                &no_start,
            );
            raised.any.then_some(before)
        });
        let (best, logprob) = choose(&logits, temperature, rng);
        // A custom word the bias started must be finished: if this token leaves its spellings
        // before it spells one, the start was a false one (greedy decoding cannot weigh it
        // against what would have come otherwise). It is taken back and that step decoded again
        // without it.
        if let (Some(b), Some((start, first))) = (bias, open_word) {
            let mut so_far = tokenizer.bytes_of(&out.tokens[start..]);
            let (_, complete) = b.progress(&so_far);
            let continues = best != eot && {
                so_far.extend_from_slice(tokenizer.token_bytes(best));
                b.progress(&so_far).0
            };
            if !continues {
                open_word = None;
                if !complete && taken_back.len() < MAX_TAKEN_BACK {
                    taken_back.push((start, first));
                    out.tokens.truncate(start);
                    out.probs.truncate(start);
                    logprobs.truncate(start);
                    out.attention.truncate((start + 1) * heads * frames);
                    cache = model.empty_cache()?;
                    input = context
                        .iter()
                        .chain(&prompt)
                        .chain(&out.tokens)
                        .copied()
                        .collect();
                    replayed = true;
                    continue;
                }
            }
        }
        // A word's confidence is the model's own, without the custom model's bonus.
        let confidence = unbiased
            .as_ref()
            .map_or(logprob, |l| softmax_at(l, best as usize).ln());
        // Past the budget the text is invented; the last token would also lack the attention
        // row of the position after it, which its word's end time needs.
        if best == eot
            || step == max_tokens
            || context.len() + prompt.len() + out.tokens.len() + 1 >= meta.max_text_positions
        {
            end_logprob = logprob;
            break;
        }
        out.tokens.push(best);
        out.probs.push(confidence.exp());
        logprobs.push(logprob);
        // Only a start the bonus decided is watched: one the model made on its own stands.
        if raised.starts.contains(&best)
            && unbiased
                .as_ref()
                .is_some_and(|l| argmax_logprob(l).0 != best)
        {
            open_word = Some((step, best));
        }
        if let Some(keep) = repetition_cut(&out.tokens) {
            // A decoder caught in a loop repeats a phrase until the token limit; keep the
            // first occurrence and stop.
            out.tokens.truncate(keep);
            out.probs.truncate(keep);
            logprobs.truncate(keep);
            out.attention.truncate((keep + 1) * heads * frames);
            break;
        }
        input = vec![best];
    }
    let sum_logprob: f32 = logprobs.iter().sum::<f32>() + end_logprob;
    out.avg_logprob = sum_logprob / (out.tokens.len() + 1) as f32;
    out.compression_ratio = compression_ratio(&tokenizer.bytes_of(&out.tokens));
    Ok(out)
}
