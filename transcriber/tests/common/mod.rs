//! Shared set-up of the engine tests: one loaded engine per test binary, devset paths, scoring.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use transcriber::{Engine, ModelName};

/// The shared development set, read in place.
pub fn devset() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/devset")
}

/// The engine with every model name loaded, built once per test binary.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::load(&transcriber::runtime::models_dir(), &ModelName::ALL, 2)
            .expect("models missing: run scripts/setup (setup/models.sh) first")
    })
}

/// Rows of a devset manifest as (column name → value) maps.
pub fn manifest(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split('\t')
        .map(String::from)
        .collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split('\t').map(String::from))
                .collect()
        })
        .collect()
}

/// Runs the devset's `score.py MODE MANIFEST HYP_DIR` and returns its last line.
pub fn score(mode: &str, manifest: &Path, hyp_dir: &Path) -> String {
    let out = std::process::Command::new("python3")
        .arg(devset().join("score.py"))
        .args([mode, manifest.to_str().unwrap(), hyp_dir.to_str().unwrap()])
        .output()
        .expect("python3 runs score.py");
    assert!(
        out.status.success(),
        "score.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

/// A fresh scratch directory under the target dir.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
