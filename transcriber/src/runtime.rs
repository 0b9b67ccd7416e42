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

/// Maps an ONNX Runtime error to an inference failure, naming what was being run.
pub fn ort_err(context: &str) -> impl Fn(ort::Error) -> EngineError + '_ {
    move |e| EngineError::Inference(format!("{context}: {e}"))
}

/// Reads the JSON metadata file a converter wrote beside a model's graphs.
pub fn read_meta<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, EngineError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        EngineError::Model(format!(
            "cannot read {} (run setup/models.sh): {e}",
            path.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| EngineError::Model(format!("{}: {e}", path.display())))
}
