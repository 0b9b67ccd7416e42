//! Moonshine's word timestamps. The model writes no timestamps; its cross-attention follows the
//! audio in some heads, so those heads' attention over the 24 ms encoder frames is aligned to
//! the tokens by the DTW Whisper's path uses ([`crate::alignment`]).

use super::decode::Decoded;
use super::tokenizer::MoonshineTokenizer;
use crate::alignment::{self, WordTiming};

/// The (layer, head) pairs whose cross-attention times the words, best first.
///
/// Chosen by `engine::head_selection::choose_moonshine_alignment_heads`, an ignored test that
/// repeats the measurement (`cargo test -p transcriber --lib choose_moonshine_alignment_heads
/// -- --ignored --nocapture`, about 15 s): on the 15 clips of testdata/asr, every one of the 64
/// heads times Moonshine's words alone, through the engine's own path (chunk map, snapping to
/// speech), and its word start times are compared with Whisper base's on the 173 words both
/// transcripts share. The heads are ranked by the mean absolute difference, then the mean of
/// the best k is measured for k = 1..24 and the best k kept: 8 heads, 47 ms (the best single
/// head, (4, 2), 56 ms; the five heads first seen to follow the audio on one clip, (6, 0),
/// (5, 6), (5, 5), (4, 6), (3, 5), 133 ms, 107 ms early on average). Heads and
/// a lag were measured in turn until neither changed; the lag was later re-measured against
/// speech with known word times (`Weights::attention_lag_s`), which showed Whisper base's
/// word starts, the reference here, to be about 65 ms early.
pub const ALIGNMENT_HEADS: &[(usize, usize)] = &[
    (4, 2),
    (6, 4),
    (6, 1),
    (6, 0),
    (6, 7),
    (5, 5),
    (7, 2),
    (5, 3),
];

/// Aligns the decoded tokens to the chunk's audio and groups them into words, times in seconds
/// from the chunk's start. A word's probability is the product of its tokens': the probability
/// the model gives the whole word. Later tokens of a word are nearly certain once its first is
/// chosen, so a mean (Whisper's path) would hide a doubtful first piece ("▁Dash" of
/// "Dashwood") behind them. `after_pause`: the audio starts at a segment's start, not
/// mid-speech (see [`crate::alignment::time_words`]).
pub fn word_timings(
    decoded: &Decoded,
    tokenizer: &MoonshineTokenizer,
    seconds_per_frame: f64,
    lag_s: f64,
    after_pause: bool,
) -> Vec<WordTiming> {
    let n_tokens = decoded.tokens.len();
    if n_tokens == 0 || decoded.heads.is_empty() {
        return Vec::new();
    }
    // Row 0 is the start token's position, which predicted the first text token.
    let jump_times = alignment::row_start_times(
        &decoded.attention,
        n_tokens + 1,
        decoded.heads.len(),
        decoded.frames,
        seconds_per_frame,
        lag_s,
    );
    let words = alignment::token_words(
        &decoded.tokens,
        &decoded.probs,
        |t| tokenizer.token_bytes(t),
        |p| p.iter().product(),
    );
    alignment::time_words(words, &jump_times, after_pause)
}
