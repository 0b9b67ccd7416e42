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
/// [`ALIGNMENT_LAG_S`] were measured in turn until neither changed.
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

/// How much later than the words the heads attend to them: word times are moved this much
/// earlier. Three frames: with none, the best heads' word starts were 45-60 ms later than
/// Whisper base's on average (the selection test prints this mean signed difference, and the
/// agreement with one frame more or less: 57 ms at two frames, 47 at three, 49 at four). A
/// frame's time is where its 56 ms of input begins, and the decoder's attention settles on a
/// word a little after its onset.
pub const ALIGNMENT_LAG_S: f64 = 0.072;

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
    )
    .into_iter()
    .map(|t| (t - ALIGNMENT_LAG_S).max(0.0))
    .collect::<Vec<_>>();
    let words = alignment::token_words(
        &decoded.tokens,
        &decoded.probs,
        |t| tokenizer.token_bytes(t),
        |p| p.iter().product(),
    );
    alignment::time_words(words, &jump_times, after_pause)
}
