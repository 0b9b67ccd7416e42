//! The engine flags every binary that loads the engine flattens into its own (`transcriber
//! recognize`, `speechbatch-shard`, the embedded `speechbatch`).

use std::path::PathBuf;

use crate::model_name::ModelName;
use crate::{Engine, EngineError};

/// Where the models are and how many threads they run on.
#[derive(Debug, Clone, clap::Args)]
pub struct EngineArgs {
    /// Folder of the converted models (default: set-up's cache).
    #[arg(long, env = crds::shard::env::MODELS)]
    pub models: Option<PathBuf>,
    /// ONNX Runtime intra-op threads per model (default: every core).
    #[arg(long, env = "SPEECHBATCH_THREADS", default_value_t = default_threads())]
    pub threads: usize,
}

/// Every core the process may use.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl EngineArgs {
    /// The models folder: the flag, else set-up's cache.
    pub fn models_dir(&self) -> PathBuf {
        self.models
            .clone()
            .unwrap_or_else(crate::runtime::models_dir)
    }

    /// Loads and warms up the weights serving `models`.
    pub fn load(&self, models: &[ModelName]) -> Result<Engine, EngineError> {
        Engine::load(&self.models_dir(), models, self.threads)
    }
}
