//! Content-sniffed decoding of every audio format the batch interface accepts into a stream of
//! 16 kHz mono `f32` samples, and clear, user-facing errors for everything it must reject.
//!
//! Accepted: FLAC, MPEG audio (MP3, layers 1/2), Ogg and WebM with Opus or Vorbis, WAV (PCM
//! 8/16/24/32-bit, float 32/64-bit, mu-law, A-law, 1 to 9 channels, plain or
//! WAVE_FORMAT_EXTENSIBLE), and raw G.729 for narrowband models. The format is always taken from
//! the content; the file name matters only for raw G.729 (which has no magic bytes) and for a
//! better message about headerless audio.
//!
//! Decoding is streaming: [`AudioStream`] holds the encoded bytes and yields 16 kHz chunks, so a
//! multi-hour file never exists decoded in memory. Pure-Rust symphonia demuxes everything and
//! decodes FLAC/MP3/Vorbis/PCM; Opus goes to the system libopus and G.729 to libbcg729 (both
//! found with pkg-config at build time); rubato resamples.
//!
//! ```no_run
//! use speechbatch_audio::{AudioStream, DecodeOptions};
//! # fn main() -> Result<(), speechbatch_audio::AudioError> {
//! let bytes = std::fs::read("call.wav").unwrap();
//! let opts = DecodeOptions { name_hint: Some("call.wav"), allow_g729: false };
//! let mut stream = AudioStream::open(bytes, &opts)?;
//! println!("{:?}", stream.info());
//! while let Some(chunk) = stream.next_chunk()? {
//!     // feed `chunk` (16 kHz mono, [-1, 1]) to the recogniser
//! #   let _ = chunk;
//! }
//! # Ok(())
//! # }
//! ```

// Every public item is documented, and every `unsafe` block (the libopus and libbcg729 FFI)
// states why it is sound; CI's `-D warnings` makes these hard errors.
#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod decode;
mod error;
mod g729;
mod media;
mod mix;
mod opus;
mod resample;
mod sniff;
mod wav;

use std::sync::Arc;

pub use error::AudioError;

use decode::BlockSource;
use media::Bytes;
pub use mix::Downmixer;
use resample::StreamResampler;

/// The rate of every decoded stream, in Hz.
pub const TARGET_RATE: u32 = 16_000;
/// Smallest accepted file, in bytes: nothing shorter can hold a header and audio.
pub const MIN_BYTES: usize = 100;
/// Largest accepted file: 100 MB, i.e. 100 * 1024 * 1024 bytes.
pub const MAX_BYTES: usize = 100 * 1024 * 1024;
/// Most channels a file may have (the interface's documented WAV limit, applied to all formats).
pub const MAX_CHANNELS: u16 = 9;
/// Lowest accepted source sampling rate in Hz (below this there is no usable speech band).
pub const MIN_RATE: u32 = 4_000;
/// Highest accepted source sampling rate in Hz.
pub const MAX_RATE: u32 = 192_000;

/// How far (in seconds) the decoded length may fall short of what a container declares before
/// the file counts as truncated. Codec padding and rounded container durations differ from the
/// real length by a few tens of milliseconds; a truncated upload is short by far more.
pub(crate) const TRUNCATION_TOLERANCE_S: f64 = 0.2;

/// Output samples gathered before [`AudioStream::next_chunk`] hands them out (1 s).
const CHUNK_SAMPLES: usize = TARGET_RATE as usize;

/// What was detected about a file.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioInfo {
    /// The detected MIME type, with the codec for Ogg and WebM: `audio/flac`, `audio/mpeg`,
    /// `audio/ogg;codecs=opus`, `audio/ogg;codecs=vorbis`, `audio/webm;codecs=opus`,
    /// `audio/webm;codecs=vorbis`, `audio/wav` or `audio/g729`.
    pub mime: String,
    /// The source sampling rate in Hz (48000 for Opus, which always decodes at 48 kHz).
    pub sample_rate: u32,
    /// The source channel count (1 to [`MAX_CHANNELS`]).
    pub channels: u16,
    /// The length in seconds that the container declares, where it declares one (WAV data
    /// size, FLAC STREAMINFO, MP3 Xing/Info tag, Ogg last granule, WebM Duration, G.729 file
    /// size); `None` otherwise.
    pub declared_duration: Option<f64>,
}

/// Options for [`AudioStream::open`] and [`decode_all`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DecodeOptions<'a> {
    /// The submitted file name. Only used where the content cannot identify the format: a name
    /// ending in `.g729` marks raw G.729, and raw-audio names (`.ulaw`, `.l16`, `.raw`, ...)
    /// get a specific rejection message.
    pub name_hint: Option<&'a str>,
    /// Whether G.729 is acceptable, i.e. the job uses a narrowband model. G.729 is 8 kHz audio
    /// and can only be used with narrowband models.
    pub allow_g729: bool,
}

/// Where the stream is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Blocks are still being decoded.
    Decoding,
    /// The source is exhausted and the resampler flushed; what is in `ready` is the rest.
    Flushed,
    /// Everything has been handed out, or an error ended the stream.
    Done,
}

/// A streaming decoder: holds the encoded bytes (already in memory, at most 100 MB) and yields
/// 16 kHz `f32` in chunks, either mixed to mono ([`AudioStream::next_chunk`]) or one plane per
/// channel ([`AudioStream::next_channels`]), so that a multi-hour file never exists decoded in
/// memory at once. Memory use beyond the encoded bytes is O(chunk × channels).
///
/// Each channel is resampled on its own and the mono mix is made at 16 kHz, so both views of a
/// file line up sample for sample.
pub struct AudioStream {
    info: AudioInfo,
    declared_frames: Option<u64>,
    source: Box<dyn BlockSource>,
    /// One resampler per channel of [`AudioInfo::channels`].
    resamplers: Vec<StreamResampler>,
    /// The mono mix for [`AudioStream::next_chunk`] (its state carries across chunks).
    mixer: Downmixer,
    /// Scratch for one decoded block (interleaved, source rate).
    block: Vec<f32>,
    /// Scratch for one channel of it.
    plane: Vec<f32>,
    /// 16 kHz output not yet handed out, one plane per channel (all the same length).
    ready: Vec<Vec<f32>>,
    /// 16 kHz samples (per channel) produced so far.
    produced: u64,
    state: State,
}

impl std::fmt::Debug for AudioStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioStream")
            .field("info", &self.info)
            .field("produced", &self.produced)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// A decoded sample made safe for the resampler: a float WAV (or a corrupt stream) can hold NaN,
/// infinities or values far past full scale, and one of them turns the resampler's FFT output to
/// NaN or makes it panic (found by fuzzing, `fuzz/crashes/audio`). Not-a-number and infinities
/// become silence; everything else is clipped to full scale, as the output is anyway.
fn finite_full_scale(s: f32) -> f32 {
    if s.is_finite() {
        s.clamp(-1.0, 1.0)
    } else {
        0.0
    }
}

fn check_size(len: usize) -> Result<(), AudioError> {
    if len < MIN_BYTES {
        return Err(AudioError::TooSmall { size: len });
    }
    if len > MAX_BYTES {
        return Err(AudioError::TooLarge { size: len });
    }
    Ok(())
}

impl AudioStream {
    /// Sniffs the format from the content, validates the header (size, channels, rate, declared
    /// length) and decodes the first block, so that most bad files fail here, before any work
    /// is scheduled. `bytes` is any owned byte buffer (`Vec<u8>`, `Arc<[u8]>`, ...); it is kept
    /// without copying. Sizes are checked before anything is read.
    pub fn open<B>(bytes: B, opts: &DecodeOptions) -> Result<AudioStream, AudioError>
    where
        B: AsRef<[u8]> + Send + Sync + 'static,
    {
        check_size(bytes.as_ref().len())?;
        let bytes: Bytes = Arc::new(bytes);
        let detected = sniff::detect((*bytes).as_ref(), opts.name_hint)?;
        let opened = decode::open(bytes, detected, opts.allow_g729)?;
        let channels = usize::from(opened.info.channels.max(1));
        let resamplers = (0..channels)
            .map(|_| StreamResampler::new(opened.info.sample_rate))
            .collect::<Result<Vec<_>, _>>()?;
        let mut stream = AudioStream {
            mixer: Downmixer::new(TARGET_RATE),
            resamplers,
            info: opened.info,
            declared_frames: opened.declared_frames,
            source: opened.source,
            block: Vec::new(),
            plane: Vec::new(),
            ready: vec![Vec::new(); channels],
            produced: 0,
            state: State::Decoding,
        };
        stream.step()?;
        Ok(stream)
    }

    /// What was detected about the file.
    pub fn info(&self) -> &AudioInfo {
        &self.info
    }

    /// The next chunk of 16 kHz mono samples in [-1, 1] (usually about 1 s; the last one may be
    /// shorter), or `Ok(None)` at the end. Several channels are mixed by [`Downmixer`]. When
    /// the source ends, the decoded length is checked against the declared one: a stream that
    /// falls short returns [`AudioError::Truncated`] (after the chunks already handed out).
    /// After an error the stream is over and further calls return `Ok(None)`.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<f32>>, AudioError> {
        let Some(mut planes) = self.next_channels()? else {
            return Ok(None);
        };
        if planes.len() == 1 {
            return Ok(planes.pop());
        }
        let mut mono = Vec::with_capacity(planes[0].len());
        self.mixer.mix(&planes, &mut mono);
        Ok(Some(mono))
    }

    /// Like [`AudioStream::next_chunk`], but one plane of 16 kHz samples per channel (all of
    /// the same length), for recognising the channels of a call recording one by one.
    pub fn next_channels(&mut self) -> Result<Option<Vec<Vec<f32>>>, AudioError> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Flushed => {
                    self.state = State::Done;
                    return Ok((!self.ready[0].is_empty()).then(|| self.take_ready()));
                }
                State::Decoding if self.ready[0].len() >= CHUNK_SAMPLES => {
                    return Ok(Some(self.take_ready()));
                }
                State::Decoding => self.step()?,
            }
        }
    }

    /// Samples (per channel) at 16 kHz produced so far (including any not yet handed out).
    pub fn samples_produced(&self) -> u64 {
        self.produced + self.ready[0].len() as u64
    }

    fn take_ready(&mut self) -> Vec<Vec<f32>> {
        let planes: Vec<Vec<f32>> = self.ready.iter_mut().map(std::mem::take).collect();
        let mut planes = planes;
        // Float sources and resampler ringing can overshoot full scale slightly; the contract
        // is [-1, 1]. Resamplers fed the same number of frames emit the same number, but a
        // plane is cut to the shortest in case a codec changed its channel count mid-stream.
        let len = planes.iter().map(Vec::len).min().unwrap_or(0);
        for plane in &mut planes {
            plane.truncate(len);
            for s in plane.iter_mut() {
                *s = s.clamp(-1.0, 1.0);
            }
        }
        self.produced += len as u64;
        planes
    }

    /// Decodes one block into `ready`, or handles the end of the source.
    fn step(&mut self) -> Result<(), AudioError> {
        let result = self.step_inner();
        if result.is_err() {
            self.state = State::Done;
            for plane in &mut self.ready {
                *plane = Vec::new();
            }
        }
        result
    }

    fn step_inner(&mut self) -> Result<(), AudioError> {
        match self.source.next_block(&mut self.block)? {
            Some(channels) => {
                // A stream that changes its channel count mid-way (MP3 may) keeps the planes it
                // started with: missing channels are silent, extra ones are left out.
                let frames = self.block.len() / channels.max(1);
                for (c, (resampler, ready)) in
                    self.resamplers.iter_mut().zip(&mut self.ready).enumerate()
                {
                    self.plane.clear();
                    if c < channels {
                        self.plane.extend(
                            self.block
                                .iter()
                                .skip(c)
                                .step_by(channels)
                                .take(frames)
                                .map(|&s| finite_full_scale(s)),
                        );
                    } else {
                        self.plane.resize(frames, 0.0);
                    }
                    resampler.push(&self.plane, ready)?;
                }
                Ok(())
            }
            None => {
                self.check_length()?;
                for (resampler, ready) in self.resamplers.iter_mut().zip(&mut self.ready) {
                    resampler.finish(ready)?;
                }
                if self.produced + self.ready[0].len() as u64 == 0 {
                    return Err(AudioError::NoAudio);
                }
                self.state = State::Flushed;
                Ok(())
            }
        }
    }

    /// Compares the decoded length with the declared one (see [`TRUNCATION_TOLERANCE_S`]).
    fn check_length(&self) -> Result<(), AudioError> {
        let decoded = self.source.decoded_frames();
        let rate = f64::from(self.info.sample_rate);
        if let Some(declared) = self.declared_frames {
            let tolerance = (rate * TRUNCATION_TOLERANCE_S) as u64;
            if decoded + tolerance < declared {
                return Err(AudioError::Truncated {
                    declared_s: declared as f64 / rate,
                    decoded_s: decoded as f64 / rate,
                });
            }
        }
        if decoded == 0 {
            return Err(AudioError::NoAudio);
        }
        Ok(())
    }
}

/// Decodes a whole file at once (for tests and short files): the detected info and all samples
/// at 16 kHz mono. The size limits are checked before the bytes are copied.
pub fn decode_all(bytes: &[u8], opts: &DecodeOptions) -> Result<(AudioInfo, Vec<f32>), AudioError> {
    check_size(bytes.len())?;
    let mut stream = AudioStream::open(bytes.to_vec(), opts)?;
    let mut samples = Vec::new();
    while let Some(chunk) = stream.next_chunk()? {
        samples.extend_from_slice(&chunk);
    }
    Ok((stream.info, samples))
}
