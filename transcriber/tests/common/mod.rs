//! Shared set-up of the engine tests: one loaded engine per test binary, and the transcript of a
//! result.

#![allow(dead_code)]

use std::sync::OnceLock;

use serde_json::Value;
use transcriber::{Engine, ModelName};

/// The engine with every model name loaded, built once per test binary.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::load(&transcriber::runtime::models_dir(), &ModelName::ALL, 2)
            .expect("models missing: run scripts/setup (setup/models.sh) first")
    })
}

/// The whole transcript of a result (its results' first alternatives, in order), as a user
/// reading it would see it.
pub fn transcript_of(result: &Value) -> String {
    result["results"]
        .as_array()
        .expect("results[]")
        .iter()
        .filter_map(|r| r["alternatives"][0]["transcript"].as_str())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
