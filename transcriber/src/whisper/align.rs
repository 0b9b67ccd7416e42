//! Whisper's word timestamps: its alignment heads' cross-attention over 20 ms encoder positions,
//! aligned to the tokens by the shared DTW of [`crate::alignment`].

use super::greedy::Decoded;
use super::tokenizer::Tokenizer;
use crate::alignment;

pub use crate::alignment::WordTiming;

/// Seconds per encoder position.
pub const SECONDS_PER_POSITION: f64 = 0.02;

/// Aligns the decoded tokens to the audio and groups them into words; a word's probability is
/// the mean of its tokens'. `lag_s`: the weights' [`crate::model_name::Weights::attention_lag_s`].
pub fn word_timings(decoded: &Decoded, tokenizer: &Tokenizer, lag_s: f64) -> Vec<WordTiming> {
    let n_tokens = decoded.tokens.len();
    if n_tokens == 0 {
        return Vec::new();
    }
    // Row 0 is the `<|notimestamps|>` position, which predicted the first text token.
    let jump_times = alignment::row_start_times(
        &decoded.attention,
        n_tokens + 1,
        decoded.heads,
        decoded.frames,
        SECONDS_PER_POSITION,
        lag_s,
    );
    let words = alignment::token_words(
        &decoded.tokens,
        &decoded.probs,
        |t| tokenizer.token_bytes(t),
        |p| p.iter().sum::<f32>() / p.len() as f32,
    );
    // A window starts before its first segment's speech.
    alignment::time_words(words, &jump_times, true)
}
