//! Errors of the diarization crate.

use std::path::PathBuf;

/// Everything that can go wrong while loading the speaker model or embedding speech.
#[derive(Debug, thiserror::Error)]
pub enum DiarizeError {
    /// The ONNX model file is not there.
    #[error("speaker model not found at {0}")]
    ModelMissing(PathBuf),
    /// ONNX Runtime could not be loaded or could not build a session for the model.
    #[error("loading the speaker model: {0}")]
    Load(#[from] speechbatch_runtime::RuntimeError),
    /// ONNX Runtime failed to run the model.
    #[error("ONNX Runtime: {0}")]
    Runtime(#[from] ort::Error),
    /// The model ran but its output does not have the documented shape.
    #[error("speaker model output has shape {got:?}, expected [{batch}, {dim}]")]
    BadOutput {
        /// Shape the model returned.
        got: Vec<i64>,
        /// Windows in the batch.
        batch: usize,
        /// Embedding size the crate expects.
        dim: usize,
    },
    /// Samples were not finite (NaN or infinity), which would poison every embedding.
    #[error("speech span starting at {0:.3} s holds non-finite samples")]
    NonFinite(f64),
}
