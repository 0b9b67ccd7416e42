//! The SpeechBatch speech engine: any accepted audio file in, the batch interface's recognition
//! JSON out, with Whisper (or Moonshine) running on ONNX Runtime.
//!
//! [`Engine`] holds the loaded models; [`Engine::recognize`] processes one file with a batch's
//! [`crds::RecognitionParams`]. The command line (`transcriber recognize`) and the batch worker
//! (crate `speechbatch-worker`) call it. No S3 and no async runtime here: the engine is
//! synchronous and the worker runs it on blocking threads.

pub mod alignment;
pub mod channels;
pub mod cli;
pub mod custom;
mod decoding;
pub mod engine;
pub mod mel;
pub mod model_name;
pub mod moonshine;
pub mod output;
mod results;
pub mod runtime;
mod timing;
pub mod vad;
pub mod whisper;
mod windows;

pub use crds::RecognitionParams;
pub use engine::Engine;
pub use model_name::{ModelName, UnknownModel};
pub use output::RecognitionResults;
/// The largest audio file the engine accepts; larger objects get a `.notice` without being read.
pub use speechbatch_audio::MAX_BYTES as MAX_AUDIO_BYTES;

use crds::ErrorBody;
use speechbatch_audio::AudioError;

/// A failure of the engine itself (missing model files, ONNX Runtime errors): not the input's fault.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// ONNX Runtime or a model file could not be loaded.
    #[error("model unavailable: {0}")]
    Runtime(#[from] speechbatch_runtime::RuntimeError),
    /// A model was loaded but is not what the engine expects (metadata, tokenizer, shapes).
    #[error("model unavailable: {0}")]
    Model(String),
    /// Inference failed.
    #[error("inference failed: {0}")]
    Inference(String),
}

/// Why one file could not be recognised.
#[derive(Debug, thiserror::Error)]
pub enum RecognizeError {
    /// The audio was rejected (format, size, channels, damage).
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl RecognizeError {
    /// The error body written to the file's `.notice`.
    pub fn to_error_body(&self) -> ErrorBody {
        match self {
            RecognizeError::Audio(e) => ErrorBody::new(e.http_status(), e.to_string()),
            RecognizeError::Engine(e) => ErrorBody::new(500, e.to_string()),
        }
    }
}
