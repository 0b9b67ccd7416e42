//! The errors of decoding. Each variant's `Display` is the user-facing message that ends up in a
//! job's `.notice` file, so it says what is wrong with the file and, where it helps, what to send
//! instead.

use crate::{MAX_BYTES, MAX_CHANNELS, MIN_BYTES};

/// The formats a user may send, quoted in the messages of format errors so that a rejected user
/// knows what to send instead.
const SUPPORTED: &str = "audio/flac, audio/mpeg (MP3), audio/ogg (Opus or Vorbis), \
audio/webm (Opus or Vorbis), audio/wav (up to 9 channels) and audio/g729 (a raw G.729 \
bitstream in a file named *.g729)";

/// Why a file could not be decoded. All variants but [`AudioError::Internal`] describe a problem
/// with the input (HTTP 400); see [`AudioError::http_status`].
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The file is empty or shorter than [`MIN_BYTES`].
    #[error("{}", too_small_message(*size))]
    TooSmall {
        /// Size of the file in bytes.
        size: usize,
    },

    /// The file is larger than [`MAX_BYTES`] (100 MB).
    #[error(
        "The audio file is too large ({size} bytes): the maximum size is 100 MB \
         ({MAX_BYTES} bytes, 100 * 1024 * 1024)."
    )]
    TooLarge {
        /// Size of the file in bytes.
        size: usize,
    },

    /// Nothing in the content identifies a supported (or known) audio format.
    #[error("Unrecognized audio format: {detail}. Supported formats are {SUPPORTED}.")]
    UnknownFormat {
        /// What was found instead, e.g. that the file looks like text.
        detail: &'static str,
    },

    /// Headerless audio (audio/basic, audio/l16, audio/mulaw), which the synchronous interface
    /// accepts only with parameters in the Content-Type that the batch interface cannot take.
    #[error(
        "{what}: the formats audio/basic, audio/l16 and audio/mulaw need parameters (such as \
         the sampling rate, encoding and channel count) that the batch interface cannot take, \
         so they cannot be used here. Convert the audio to one of {SUPPORTED}."
    )]
    NeedsParameters {
        /// What was detected: a Sun .au header, or a headerless file with a raw-audio name.
        what: String,
    },

    /// A known container or format that the service does not accept (MP4/AAC, AIFF, ...).
    #[error("{format} is not a supported audio format. Supported formats are {SUPPORTED}.")]
    UnsupportedFormat {
        /// The format that was recognised.
        format: String,
    },

    /// A supported container that holds a codec the service does not decode.
    #[error(
        "The {container} file's audio is {codec}, which is not supported: {container} files \
         must contain Opus or Vorbis audio."
    )]
    UnsupportedCodec {
        /// `Ogg` or `WebM`.
        container: &'static str,
        /// The codec that was found.
        codec: String,
    },

    /// A WAV file whose sample encoding is not one of the accepted ones.
    #[error(
        "The WAV file uses an unsupported encoding ({detail}). Supported WAV encodings are \
         PCM with 8, 16, 24 or 32 bits, 32- or 64-bit float, mu-law and A-law."
    )]
    UnsupportedWavEncoding {
        /// Which encoding was found.
        detail: String,
    },

    /// More than [`MAX_CHANNELS`] channels.
    #[error(
        "The audio has {channels} channels, but at most {MAX_CHANNELS} channels are supported."
    )]
    TooManyChannels {
        /// Channel count declared by the file.
        channels: u32,
    },

    /// A sampling rate outside the range the service resamples from.
    #[error(
        "The audio has a sampling rate of {rate} Hz, which is not supported: the rate must be \
         between {} and {} Hz.",
        crate::MIN_RATE,
        crate::MAX_RATE
    )]
    UnsupportedSampleRate {
        /// Sampling rate declared by the file.
        rate: u32,
    },

    /// The header contradicts itself or the file (for example a chunk that runs past the end).
    #[error("The {format} header is invalid: {detail}.")]
    InvalidHeader {
        /// The format whose header is broken.
        format: &'static str,
        /// What is wrong.
        detail: String,
    },

    /// A WAV header that declares more audio data than the file contains (e.g. a 2 GiB data
    /// chunk in a 32 KB file).
    #[error(
        "The WAV header declares {declared} bytes of audio data, but the file holds only \
         {available}: the file is truncated or its header is corrupt."
    )]
    DeclaredSizeExceedsFile {
        /// Size of the data chunk according to the header.
        declared: u64,
        /// Bytes of the data chunk actually present.
        available: u64,
    },

    /// Decoding ended well before the length the container declares.
    #[error(
        "The audio file is truncated: its header declares {declared_s:.2} s of audio, but only \
         {decoded_s:.2} s could be decoded."
    )]
    Truncated {
        /// Seconds declared by the header.
        declared_s: f64,
        /// Seconds actually decoded.
        decoded_s: f64,
    },

    /// The audio data itself is corrupt.
    #[error("The audio data could not be decoded ({format}): {detail}.")]
    Undecodable {
        /// The detected format.
        format: String,
        /// What the decoder reported.
        detail: String,
    },

    /// A G.729 file, submitted for a broadband model.
    #[error(
        "G.729 audio (audio/g729) can only be used with narrowband models: choose a narrowband \
         model, or send the audio in another format."
    )]
    G729NeedsNarrowband,

    /// A valid file that holds no audio at all.
    #[error("The audio file contains no audio samples.")]
    NoAudio,

    /// A fault of this service, not of the input (a resampler or codec library failure).
    #[error("Internal error while decoding audio: {0}")]
    Internal(String),
}

fn too_small_message(size: usize) -> String {
    if size == 0 {
        "The audio file is empty (0 bytes).".to_owned()
    } else {
        format!(
            "The audio file is too small to hold audio ({size} bytes): at least {MIN_BYTES} \
             bytes are required."
        )
    }
}

impl AudioError {
    /// The HTTP status that goes with the error: 400 for anything wrong with the input, 500 for
    /// faults of the service itself.
    pub fn http_status(&self) -> u16 {
        match self {
            AudioError::Internal(_) => 500,
            _ => 400,
        }
    }
}
