//! Moonshine Base (English) on ONNX Runtime: the graphs, the vocabulary, greedy decoding with
//! Whisper's guards, word timing from cross-attention, and what the model is given to hear
//! (the detector's speech, packed into chunks).

pub mod align;
pub mod chunks;
pub mod decode;
pub mod model;
pub mod tokenizer;

use std::path::Path;

pub use model::{MoonshineMeta, MoonshineModel};
pub use tokenizer::MoonshineTokenizer;

use crate::alignment::WordTiming;
use crate::custom::Bias;
use crate::mel::SAMPLE_RATE;
use crate::vad::Segment;
use crate::EngineError;
use chunks::SpeechChunk;
use decode::Decoded;

/// Speech left after where a chunk's text ended beyond which the rest is decoded again.
const UNDECODED_TAIL_S: f64 = 1.5;
/// Text tokens per second of chunk below which a text that ends before the chunk's speech is
/// taken to have been ended early. On the development set (devset asr, conversations,
/// analytics, custom, stereo, formats) every chunk Moonshine transcribed whole had 2.8 tokens
/// per second or more (speech only is fed, so pauses do not lower the rate); the one it cut
/// short had 1.0.
const MIN_TOKENS_PER_SECOND: f64 = 1.5;
/// How many times parts of one chunk are decoded again.
const MAX_REDECODES: usize = 4;

/// A chunk, or part of one, as decoded.
pub struct DecodedPart {
    /// The audio decoded, with its map to the file.
    pub chunk: SpeechChunk,
    /// The text and attention.
    pub decoded: Decoded,
    /// The frames the text covers (all, unless the model ended early and the rest was decoded
    /// as another part).
    pub frames: usize,
    /// Whether the audio starts mid-speech: the rest of a chunk whose text ended early.
    pub continues: bool,
}

/// A loaded Moonshine model and its vocabulary.
pub struct Moonshine {
    /// The graphs.
    pub model: MoonshineModel,
    /// The vocabulary.
    pub tokenizer: MoonshineTokenizer,
    /// How far the timing heads' attention lags behind the sound, in seconds.
    lag_s: f64,
}

impl Moonshine {
    /// Loads the model in `dir` (`encoder.onnx`, `decoder.onnx`, `moonshine.json`,
    /// `tokens.json`) on `threads` intra-op threads; `lag_s` is how far its timing heads lag
    /// behind the sound (`Weights::attention_lag_s`).
    pub fn load(dir: &Path, threads: usize, lag_s: f64) -> Result<Self, EngineError> {
        let model = MoonshineModel::load(dir, threads)?;
        if model.meta().sample_rate != SAMPLE_RATE {
            return Err(EngineError::Model(format!(
                "{}: Moonshine at {} Hz, the engine decodes to {SAMPLE_RATE}",
                dir.display(),
                model.meta().sample_rate
            )));
        }
        Ok(Self {
            model,
            tokenizer: MoonshineTokenizer::load(&dir.join("tokens.json"))?,
            lag_s,
        })
    }

    /// Runs the encoder and both decoder branches once, so that the first real file does not
    /// pay for graph set-up.
    pub fn warm_up(&self) -> Result<(), EngineError> {
        let speech = self.model.encode(&vec![0.0; SAMPLE_RATE])?;
        let mut state = self.model.start();
        self.model
            .decode_step(&speech, self.tokenizer.bos(), &mut state)?;
        self.model
            .decode_step(&speech, self.tokenizer.bos(), &mut state)?;
        Ok(())
    }

    /// The words of a window's speech (`audio` starting at file sample `start`, holding
    /// `speech`), times in seconds in the file, before they are snapped to the speech.
    pub fn window_words(
        &self,
        start: usize,
        audio: &[f32],
        speech: &[Segment],
        bias: Option<&Bias>,
    ) -> Result<Vec<WordTiming>, EngineError> {
        Ok(self
            .decode_window(start, audio, speech, align::ALIGNMENT_HEADS, bias)?
            .iter()
            .flat_map(|part| self.part_words(part, &part.decoded))
            .collect())
    }

    /// Decodes a window's speech in chunks, keeping the attention of `heads`, and decodes again
    /// what Moonshine left out:
    ///
    /// - It sometimes ends its text early, mid-chunk (a phone number read out digit by digit
    ///   was the last it wrote, the rest of a 10 s chunk left out). The text is then short for
    ///   the chunk (under `MIN_TOKENS_PER_SECOND`), and its last position attends to where
    ///   the text ended ([`Decoded::text_end_frame`], by [`align::ALIGNMENT_HEADS`]), well
    ///   before the chunk's end: the text is kept for the audio up to there, and the rest of
    ///   the chunk is decoded on its own. (The position alone is not enough: a final full stop
    ///   was seen attending to a pause mid-chunk.)
    /// - It sometimes ends at once, with no text, on a chunk of several segments of speech
    ///   (confidently: seen at a mean log-probability of -0.02): the chunk is then cut in two
    ///   between its segments, each part decoded on its own.
    ///
    /// At most `MAX_REDECODES` extra decodes per chunk; each is of a shorter part.
    pub fn decode_window(
        &self,
        start: usize,
        audio: &[f32],
        speech: &[Segment],
        heads: &[(usize, usize)],
        bias: Option<&Bias>,
    ) -> Result<Vec<DecodedPart>, EngineError> {
        let spf = self.model.meta().seconds_per_frame();
        let mut parts = Vec::new();
        for chunk in chunks::speech_chunks(start, audio, speech) {
            // Each part with whether it continues the speech of the part before.
            let mut todo = std::collections::VecDeque::from([(chunk, false)]);
            let mut redecodes = 0;
            while let Some((chunk, continues)) = todo.pop_front() {
                let t0 = std::time::Instant::now();
                let decoded = self.decode_chunk(&chunk, heads, bias)?;
                tracing::debug!(
                    audio_s = chunk.seconds(),
                    decode_ms = t0.elapsed().as_millis() as u64,
                    tokens = decoded.tokens.len(),
                    temperature = decoded.temperature,
                    redecodes,
                    "moonshine chunk"
                );
                let may_redecode = redecodes < MAX_REDECODES;
                if decoded.tokens.is_empty() && may_redecode {
                    if let Some((first, second)) = chunk.split_in_two() {
                        redecodes += 1;
                        todo.push_front((second, false));
                        todo.push_front((first, continues));
                        continue;
                    }
                }
                let too_short =
                    (decoded.tokens.len() as f64) < MIN_TOKENS_PER_SECOND * chunk.seconds();
                let rest = decoded
                    .text_end_frame(align::ALIGNMENT_HEADS)
                    .filter(|&f| chunk.seconds() - f as f64 * spf >= UNDECODED_TAIL_S)
                    .filter(|_| too_short && may_redecode);
                let frames = match rest {
                    Some(f) => {
                        redecodes += 1;
                        // Cut at the frame itself, not moved by the heads' lag behind word
                        // onsets: the end position attends to the pause after the text. Cut
                        // 72 ms earlier, the rest began with the end of the last word, heard
                        // once more ("five, five hundred fifty five" for "five, 555").
                        todo.push_front((chunk.tail_from(f as f64 * spf), true));
                        f + 1
                    }
                    None => decoded.frames,
                };
                parts.push(DecodedPart {
                    chunk,
                    decoded,
                    frames,
                    continues,
                });
            }
        }
        Ok(parts)
    }

    /// The timed words of a decoded part, with the attention `decoded` holds (the part's own,
    /// or fewer of its heads), times in seconds in the file.
    pub fn part_words(&self, part: &DecodedPart, decoded: &Decoded) -> Vec<WordTiming> {
        let spf = self.model.meta().seconds_per_frame();
        let frames = decoded.with_frames(part.frames);
        align::word_timings(&frames, &self.tokenizer, spf, self.lag_s, !part.continues)
            .into_iter()
            .map(|w| WordTiming {
                start: part.chunk.map.start_to_file(w.start),
                end: part.chunk.map.end_to_file(w.end),
                ..w
            })
            .collect()
    }

    /// Encodes and decodes a chunk, keeping the attention of `heads`.
    pub fn decode_chunk(
        &self,
        chunk: &SpeechChunk,
        heads: &[(usize, usize)],
        bias: Option<&Bias>,
    ) -> Result<Decoded, EngineError> {
        let encoded = self.model.encode(&chunk.audio)?;
        decode::decode(
            &self.model,
            &self.tokenizer,
            &encoded,
            chunk.seconds(),
            heads,
            bias,
        )
    }
}
