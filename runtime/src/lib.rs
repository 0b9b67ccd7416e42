//! The process's ONNX Runtime environment and the locations set-up uses.
//!
//! `ort` allows one environment per process, and with `load-dynamic` the C library must be loaded
//! before anything else touches ONNX Runtime; every crate that runs a model (the Whisper engine,
//! the VAD, the speaker encoder) therefore creates its sessions through [`session`].

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::{builder::GraphOptimizationLevel, Session};

/// The model directory: `$SPEECHBATCH_MODELS`, else `$SPEECHBATCH_CACHE/models`, else
/// `~/.cache/speechbatch/models` (the defaults of `setup/env.sh`).
pub fn models_dir() -> PathBuf {
    match std::env::var_os("SPEECHBATCH_MODELS") {
        Some(dir) => dir.into(),
        None => cache_dir().join("models"),
    }
}

/// Set-up's cache: `$SPEECHBATCH_CACHE`, else `~/.cache/speechbatch`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SPEECHBATCH_CACHE") {
        return dir.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache/speechbatch")
}

/// The ONNX Runtime C library: `$ORT_DYLIB_PATH`, else the copy set-up unpacked into the cache.
pub fn library_path() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("onnxruntime/libonnxruntime.so.1.32.0"))
}

/// The process's environment, created on first use. The error says what to run when the
/// library is missing.
pub fn environment() -> Result<&'static Environment, String> {
    static ENV: OnceLock<Result<Environment, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let path = library_path();
        if !path.exists() {
            return Err(format!(
                "ONNX Runtime library not found at {} (run scripts/setup)",
                path.display()
            ));
        }
        ort::init_from(&path)
            .map_err(|e| format!("loading {}: {e}", path.display()))?
            .with_name("speechbatch")
            .build()
            .map_err(|e| format!("creating the ONNX Runtime environment: {e}"))
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// A fully optimised session over the model at `path`, on `threads` intra-op threads.
pub fn session(path: &Path, threads: usize) -> Result<Session, String> {
    let env = environment()?;
    if !path.exists() {
        return Err(format!(
            "model file {} is missing (run scripts/setup)",
            path.display()
        ));
    }
    let err = |e: ort::Error| format!("{}: {e}", path.display());
    Session::builder(env)
        .map_err(err)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| err(e.into()))?
        .with_intra_threads(threads)
        .map_err(|e| err(e.into()))?
        .with_inter_threads(1)
        .map_err(|e| err(e.into()))?
        .commit_from_file(path)
        .map_err(err)
}
