//! Where the converted speaker model lives.

use std::path::PathBuf;

/// File name the set-up writes the converted GE2E model to.
pub const MODEL_FILE: &str = "speaker-ge2e.onnx";

/// `speaker-ge2e.onnx` in the set-up's model directory: `$SPEECHBATCH_MODELS`, else
/// `$SPEECHBATCH_CACHE/models`, else `~/.cache/speechbatch/models`.
pub fn default_model_path() -> PathBuf {
    speechbatch_runtime::models_dir().join(MODEL_FILE)
}
