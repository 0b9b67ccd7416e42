//! Diarization figures for BENCHMARKS.md: DER and speaker counts on the checked-in conversations
//! (scored by the testkit's DER, the development set's definitions) for this crate's clustering
//! and for the baseline, and the speed on 2 threads, including a one-hour recording.
//!
//! ```text
//! cargo run -p speechbatch-diarize --release --example diar_eval -- [--devset DIR] [--long SECONDS] [--dir CONV_DIR] [--repeat N] [--verbose]
//! ```
//! ONNX Runtime and the model are found where set-up puts them (`ORT_DYLIB_PATH`,
//! `SPEECHBATCH_MODELS`, `SPEECHBATCH_CACHE` override). `--devset` reads the conversations from
//! DIR/conversations instead of the repository's testdata/conversations (the long recording is
//! made from them too), `--long` sets the length of the long recording (default one hour),
//! `--dir` adds another folder laid out like testdata/conversations (NAME.flac|wav +
//! NAME.ref.json), `--repeat` runs each evaluation N times (the first run of a process pays ONNX
//! Runtime's warm-up), `--verbose` prints the per-conversation tables and, for the long
//! recording, which voice went to which speaker.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};

use common::{evaluate, Method, SpanSource};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let long_s: f64 = value("--long").map_or(3600.0, |v| v.parse().expect("--long SECONDS"));
    let repeat: usize = value("--repeat").map_or(1, |v| v.parse().expect("--repeat N"));
    let conversations = value("--devset").map_or_else(common::conversations_dir, |d| {
        Path::new(&d).join("conversations")
    });
    let mut dirs = vec![conversations.clone()];
    dirs.extend(value("--dir").map(PathBuf::from));

    println!("model: {}", common::model_path().display());
    println!("threads: 2 (ONNX Runtime intra-op); speed = audio seconds per wall second inside the diarizer\n");
    println!(
        "{:<34} {:<28} {:>7} {:>9} {:>8}",
        "conversations", "method / speech spans", "DER", "speakers", "speed"
    );
    for dir in dirs.iter().flat_map(|d| std::iter::repeat_n(d, repeat)) {
        let label = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        for (method, spans, name) in [
            (
                Method::Clustered,
                SpanSource::Reference(0.2),
                "clustered / ref turns ±0.2 s",
            ),
            (
                Method::Clustered,
                SpanSource::Reference(0.6),
                "clustered / ref turns ±0.6 s",
            ),
            (
                Method::Clustered,
                SpanSource::Energy,
                "clustered / energy detector",
            ),
            (
                Method::Clustered,
                SpanSource::EngineLike,
                "clustered / engine-like VAD",
            ),
            (
                Method::Baseline,
                SpanSource::Reference(0.2),
                "baseline / ref turns ±0.2 s",
            ),
            (
                Method::Baseline,
                SpanSource::Energy,
                "baseline / energy detector",
            ),
        ] {
            let e = evaluate(dir, spans, method);
            println!(
                "{:<34} {:<28} {:>7.4} {:>5}/{:<3} {:>7.0}x",
                label,
                name,
                e.score.der,
                e.score.correct,
                e.score.total,
                e.audio_s / e.diarize_s
            );
            if args.iter().any(|a| a == "--verbose") {
                println!("{}", e.score.report);
            }
        }
    }

    let run = common::long::run(&conversations, long_s);
    let score = common::long::score_run(&run);
    println!(
        "\nlong recording: {:.0} s of audio ({:.0} s of speech) diarized in {:.1} s = {:.0}x real time \
         ({:.0}x speech time); {} speakers found for {} voices; DER {:.4}; peak RSS {} KiB (before {} KiB)",
        run.audio_s,
        run.speech_s,
        run.wall.as_secs_f64(),
        run.audio_s / run.wall.as_secs_f64(),
        run.speech_s / run.wall.as_secs_f64(),
        run.timeline.num_speakers(),
        run.turns.iter().map(|t| t.speaker.as_str()).collect::<std::collections::BTreeSet<_>>().len(),
        score.der,
        run.peak_rss_kib.map_or(0, |p| p.1),
        run.peak_rss_kib.map_or(0, |p| p.0),
    );
    if args.iter().any(|a| a == "--verbose") {
        println!("{}", score.report);
        print_confusion(&run);
    }
}

/// Seconds of each reference voice labelled as each found speaker (over 0.3 s pseudo-words).
fn print_confusion(run: &common::long::LongRun) {
    let mut voices: Vec<&str> = run.turns.iter().map(|t| t.speaker.as_str()).collect();
    voices.sort_unstable();
    voices.dedup();
    let n = run.timeline.num_speakers().max(1);
    println!(
        "{:<48} {}",
        "voice \\ speaker (seconds)",
        (0..n).map(|k| format!("{k:>6}")).collect::<String>()
    );
    for v in voices {
        let mut row = vec![0.0; n + 8];
        for t in run.turns.iter().filter(|t| t.speaker == v) {
            let r = common::Conversation {
                name: String::new(),
                audio: String::new(),
                speakers: 1,
                turns: vec![t.clone()],
                voices: Vec::new(),
            };
            let words = common::pseudo_words(&r);
            for (l, w) in run.timeline.label_words(&words).iter().zip(&words) {
                let seg = run
                    .timeline
                    .segments()
                    .iter()
                    .filter(|s| s.end > w.0 && s.start < w.1)
                    .max_by(|a, b| {
                        (a.end.min(w.1) - a.start.max(w.0))
                            .total_cmp(&(b.end.min(w.1) - b.start.max(w.0)))
                    });
                let k = seg.map_or(l.speaker as usize, |s| s.speaker as usize);
                if k < row.len() {
                    row[k] += w.1 - w.0;
                }
            }
        }
        println!(
            "{:<48} {}",
            &v[..v.len().min(48)],
            row[..n]
                .iter()
                .map(|x| format!("{x:>6.0}"))
                .collect::<String>()
        );
    }
}
