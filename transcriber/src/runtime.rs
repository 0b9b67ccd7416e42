//! The engine's view of the shared ONNX Runtime set-up (crate `speechbatch-runtime`).

use std::path::{Path, PathBuf};

use ort::session::Session;

use crate::EngineError;

/// Where set-up put the models.
pub fn models_dir() -> PathBuf {
    speechbatch_runtime::models_dir()
}

/// A session over `path` on `threads` intra-op threads.
pub fn session(path: &Path, threads: usize) -> Result<Session, EngineError> {
    Ok(speechbatch_runtime::session(path, threads)?)
}
