//! Replays every checked-in fuzz input: the minimised corpus (`corpus/<target>/`, what the
//! campaign covered) and the crash reproducers (`crashes/<target>/`, each a bug once found).
//! A target that panics on any of them fails here with the file's name.

use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.file_name().is_none_or(|n| n != "README.md"))
        .collect();
    files.sort();
    files
}

fn replay(folder: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, target) in speechbatch_fuzz::TARGETS {
        for file in files(&root.join(name)) {
            let data = std::fs::read(&file).unwrap();
            ran += 1;
            if let Err(panic) = std::panic::catch_unwind(|| target(&data)) {
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failed.push(format!("{name}: {}: {why}", file.display()));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} inputs failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    ran
}

#[test]
fn every_target_passes_its_whole_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (name, _) in speechbatch_fuzz::TARGETS {
        assert!(
            !files(&root.join(name)).is_empty(),
            "no corpus for target {name}: scripts/fuzz seeds and keeps it"
        );
    }
    replay("corpus");
}

#[test]
fn every_crash_once_found_stays_fixed() {
    replay("crashes");
}
