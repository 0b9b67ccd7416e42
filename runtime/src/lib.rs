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

/// ONNX Runtime or a model could not be loaded. Each message says what to run or fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// The C library is not where set-up puts it.
    #[error("ONNX Runtime library not found at {} (run scripts/setup)", .0.display())]
    LibraryMissing(PathBuf),
    /// The C library is there but does not load, or the environment cannot be created.
    #[error("loading ONNX Runtime from {}: {message}", .path.display())]
    Library {
        /// The library file.
        path: PathBuf,
        /// ONNX Runtime's error.
        message: String,
    },
    /// A model file is missing.
    #[error("model file {} is missing (run scripts/setup)", .0.display())]
    ModelMissing(PathBuf),
    /// ONNX Runtime cannot build a session for the model.
    #[error("{}: {message}", .path.display())]
    Session {
        /// The model file.
        path: PathBuf,
        /// ONNX Runtime's error.
        message: String,
    },
}

/// The process's environment, created on first use. The error says what to run when the
/// library is missing.
pub fn environment() -> Result<&'static Environment, RuntimeError> {
    // The outcome is kept, errors included (as text: `ort::Error` is not `Clone`), so that every
    // later caller gets the same answer without retrying a load that cannot succeed.
    static ENV: OnceLock<Result<Environment, RuntimeError>> = OnceLock::new();
    ENV.get_or_init(|| {
        let path = library_path();
        if !path.exists() {
            return Err(RuntimeError::LibraryMissing(path));
        }
        let library = |message: String| RuntimeError::Library {
            path: path.clone(),
            message,
        };
        ort::init_from(&path)
            .map_err(|e| library(e.to_string()))?
            .with_name("speechbatch")
            .build()
            .map_err(|e| library(e.to_string()))
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// A fully optimised session over the model at `path`, on `threads` intra-op threads.
pub fn session(path: &Path, threads: usize) -> Result<Session, RuntimeError> {
    let env = environment()?;
    if !path.exists() {
        return Err(RuntimeError::ModelMissing(path.to_owned()));
    }
    let err = |e: ort::Error| RuntimeError::Session {
        path: path.to_owned(),
        message: e.to_string(),
    };
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

/// Locks a session (or any model state behind a mutex), also after a panic on another thread
/// poisoned the lock: an ONNX Runtime session holds no invariant of ours that a panic midway
/// through a run could break (each run starts from its own inputs), so one file that panicked
/// must not fail every later file with a poisoned lock.
pub fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    #[test]
    fn a_lock_poisoned_by_a_panicking_run_still_serves_the_next_one() {
        let session = Arc::new(Mutex::new(0u32));
        let poisoner = session.clone();
        let panicked = std::thread::spawn(move || {
            let _guard = poisoner.lock().unwrap();
            panic!("a run failed midway");
        })
        .join();
        assert!(panicked.is_err() && session.is_poisoned());
        *super::lock(&session) += 1;
        assert_eq!(*super::lock(&session), 1);
    }
}
