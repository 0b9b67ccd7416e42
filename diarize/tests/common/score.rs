//! Hypothesis files and the development set's own scorer.

use std::path::{Path, PathBuf};
use std::process::Command;

use speechbatch_diarize::SpeakerLabel;

use super::DEVSET;

/// Writes `HYP_DIR/<audio>.json` as `{"speaker_labels": [...]}`.
pub fn write_hypothesis(dir: &Path, audio: &str, labels: &[SpeakerLabel]) {
    let doc = serde_json::json!({ "speaker_labels": labels });
    std::fs::write(
        dir.join(format!("{audio}.json")),
        serde_json::to_string(&doc).unwrap(),
    )
    .expect("write hypothesis");
}

/// A fresh, empty scratch folder.
pub fn scratch_dir(tag: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("speechbatch-diarize-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// `score.py diar`'s verdict.
#[derive(Debug, Clone)]
pub struct Score {
    pub der: f64,
    pub correct: usize,
    pub total: usize,
    /// score.py's full table.
    pub report: String,
}

/// Runs the devset's scorer over a hypothesis folder.
pub fn score(conv_dir: &Path, hyp_dir: &Path) -> Score {
    let out = Command::new("python3")
        .arg(Path::new(DEVSET).join("score.py"))
        .args(["diar".as_ref(), conv_dir.as_os_str(), hyp_dir.as_os_str()])
        .output()
        .expect("run python3 score.py");
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "score.py failed: {}{}",
        report,
        String::from_utf8_lossy(&out.stderr)
    );
    // Last line: "DER 0.0812 speakers-correct 5/6"
    let last = report.lines().last().unwrap_or_default();
    let f: Vec<&str> = last.split_whitespace().collect();
    let (c, t) = f[3].split_once('/').expect("speakers-correct n/m");
    Score {
        der: f[1].parse().expect("DER"),
        correct: c.parse().unwrap(),
        total: t.parse().unwrap(),
        report,
    }
}
