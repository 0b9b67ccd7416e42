//! Shared by the integration tests and `examples/diar_eval.rs`: reading the development set,
//! stand-ins for the engine's VAD and recogniser, and scoring with the devset's own `score.py`.
//!
//! The engine finds speech with silero VAD and words with Whisper; neither is available to this
//! crate, so the tests use (a) the reference turn times, padded and merged, as speech spans, and
//! (b) a plain energy detector over the audio, to show the result does not hinge on exact spans.
//! Words are pseudo-words of about 0.3 s laid across each reference turn.
#![allow(dead_code)] // each test binary uses a different part of this module

pub mod long;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use speechbatch_diarize::{Diarizer, SpeakerEncoder, SpeakerLabel, SpeakerTimeline, MODEL_FILE};

/// The shared development set, read in place.
pub const DEVSET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/devset");
/// Engine sample rate.
pub const SR: usize = 16_000;

/// The converted speaker model: `$SPEECHBATCH_MODELS`, then `$HOME/.cache/speechbatch/models`,
/// then `/tmp/models` (where a development conversion puts it).
pub fn model_path() -> PathBuf {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(d) = std::env::var_os("SPEECHBATCH_MODELS").filter(|d| !d.is_empty()) {
        dirs.push(d.into());
    }
    if let Some(h) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(h).join(".cache/speechbatch/models"));
    }
    dirs.push("/tmp/models".into());
    dirs.iter()
        .map(|d| d.join(MODEL_FILE))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{MODEL_FILE} not found in {dirs:?}: run `python setup/convert_speaker_model.py \
                 .../resemblyzer/pretrained.pt $SPEECHBATCH_MODELS/{MODEL_FILE}` first"
            )
        })
}

/// One encoder per test binary (2 intra-op threads, the engine's default).
pub fn encoder() -> Arc<SpeakerEncoder> {
    static ENC: OnceLock<Arc<SpeakerEncoder>> = OnceLock::new();
    ENC.get_or_init(|| {
        Arc::new(SpeakerEncoder::load(&model_path(), 2).expect("load speaker model"))
    })
    .clone()
}

/// Decodes a FLAC or WAV file to 16 kHz mono f32 (8 kHz files are upsampled as the engine does).
pub fn read_audio(path: &Path) -> Vec<f32> {
    use symphonia::core::audio::SampleBuffer;
    use symphonia::core::codecs::DecoderOptions;
    use symphonia::core::errors::Error;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    use symphonia::core::probe::Hint;

    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .expect("probe audio");
    let mut format = probed.format;
    let track = format.default_track().expect("audio track").clone();
    let rate = track.codec_params.sample_rate.expect("sample rate") as usize;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .expect("decoder");
    let mut mono = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => panic!("{}: {e}", path.display()),
        };
        let decoded = decoder.decode(&packet).expect("decode");
        let channels = decoded.spec().channels.count();
        let mut buf = SampleBuffer::<f32>::new(decoded.capacity() as u64, *decoded.spec());
        buf.copy_interleaved_ref(decoded);
        mono.extend(
            buf.samples()
                .chunks_exact(channels)
                .map(|f| f.iter().sum::<f32>() / channels as f32),
        );
    }
    if rate == SR {
        mono
    } else {
        resample(&mono, rate)
    }
}

/// Resamples mono audio to 16 kHz with rubato's FFT resampler.
pub fn resample(input: &[f32], rate: usize) -> Vec<f32> {
    resample_to(input, rate, SR)
}

/// Resamples mono audio between any two rates.
pub fn resample_to(input: &[f32], from: usize, to: usize) -> Vec<f32> {
    use rubato::audioadapter_buffers::direct::InterleavedSlice;
    use rubato::{Fft, FixedSync, Resampler};
    let mut r = Fft::<f32>::new(from, to, 1024, 1, FixedSync::Both).expect("resampler");
    let adapter = InterleavedSlice::new(input, 1, input.len()).expect("adapter");
    r.process_all(&adapter, input.len(), None)
        .expect("resample")
        .take_data()
}

/// G.711 mu-law encode and decode of one sample (8-bit companding, as on a telephone line).
pub fn mu_law_round_trip(x: f32) -> f32 {
    const MU: f32 = 255.0;
    let x = x.clamp(-1.0, 1.0);
    let y = x.signum() * (1.0 + MU * x.abs()).ln() / (1.0 + MU).ln();
    let q = (y * 127.0).round() / 127.0;
    q.signum() * ((1.0 + MU).powf(q.abs()) - 1.0) / MU
}

/// One reference turn.
#[derive(Debug, Clone)]
pub struct Turn {
    pub speaker: String,
    pub start: f64,
    pub end: f64,
}

/// A conversation's `NAME.ref.json`.
#[derive(Debug, Clone)]
pub struct Reference {
    pub name: String,
    pub audio: String,
    pub speakers: usize,
    pub turns: Vec<Turn>,
    /// Speaker letter -> voice description (the same voice recurs across conversations).
    pub voices: Vec<(String, String)>,
}

/// Reads every `*.ref.json` of a folder, sorted by name.
pub fn references(dir: &Path) -> Vec<Reference> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".ref.json"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(p).expect("read ref"))
                .expect("ref json");
            let turns: Vec<Turn> = v["turns"]
                .as_array()
                .expect("turns")
                .iter()
                .map(|t| Turn {
                    speaker: t["speaker"].as_str().expect("speaker").to_string(),
                    start: t["start"].as_f64().expect("start"),
                    end: t["end"].as_f64().expect("end"),
                })
                .collect();
            let voices = v["voices"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let file = p.file_name().unwrap().to_string_lossy();
            Reference {
                name: file.trim_end_matches(".ref.json").to_string(),
                audio: v["audio"].as_str().expect("audio").to_string(),
                speakers: v["speakers"].as_u64().expect("speakers") as usize,
                turns,
                voices,
            }
        })
        .collect()
}

/// VAD stand-in 1: reference turns widened by `pad` seconds, overlapping ones merged (so pauses
/// shorter than 2 × pad join two turns, possibly of different speakers, into one span).
pub fn reference_spans(r: &Reference, pad: f64, duration: f64) -> Vec<(f64, f64)> {
    let mut turns: Vec<(f64, f64)> = r
        .turns
        .iter()
        .map(|t| ((t.start - pad).max(0.0), (t.end + pad).min(duration)))
        .collect();
    turns.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (a, b) in turns {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// VAD stand-in 2: 10 ms frames louder than the 95th percentile minus 40 dB (and -60 dBFS) are
/// speech; gaps under 0.3 s are bridged, spans padded by 0.1 s, blips under 0.1 s dropped.
pub fn energy_spans(samples: &[f32]) -> Vec<(f64, f64)> {
    const FRAME: usize = SR / 100;
    let db: Vec<f64> = samples
        .chunks(FRAME)
        .map(|f| {
            10.0 * (f.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>() / f.len() as f64
                + 1e-10)
                .log10()
        })
        .collect();
    if db.is_empty() {
        return Vec::new();
    }
    let mut sorted = db.clone();
    sorted.sort_by(f64::total_cmp);
    let threshold = (sorted[(sorted.len() - 1) * 95 / 100] - 40.0).max(-60.0);
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut start = None;
    for (i, &v) in db
        .iter()
        .chain(std::iter::once(&f64::NEG_INFINITY))
        .enumerate()
    {
        match (v > threshold, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                match runs.last_mut() {
                    Some(last) if (s - last.1) < 30 => last.1 = i,
                    _ => runs.push((s, i)),
                }
                start = None;
            }
            _ => {}
        }
    }
    let duration = samples.len() as f64 / SR as f64;
    runs.into_iter()
        .filter(|(a, b)| b - a >= 10)
        .map(|(a, b)| {
            (
                (a as f64 / 100.0 - 0.1).max(0.0),
                (b as f64 / 100.0 + 0.1).min(duration),
            )
        })
        .collect()
}

/// Recogniser stand-in: words of about 0.3 s tiling each reference turn.
pub fn pseudo_words(r: &Reference) -> Vec<(f64, f64)> {
    let mut words = Vec::new();
    for t in &r.turns {
        let n = ((t.end - t.start) / 0.3).round().max(1.0) as usize;
        let d = (t.end - t.start) / n as f64;
        words.extend((0..n).map(|i| (t.start + i as f64 * d, t.start + (i + 1) as f64 * d)));
    }
    words.sort_by(|a, b| a.0.total_cmp(&b.0));
    words
}

/// Which speech spans the tests feed the diarizer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SpanSource {
    /// Reference turns padded by this many seconds and merged.
    Reference(f64),
    /// The energy detector.
    Energy,
}

/// Our clustering or the baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    Clustered,
    Baseline,
}

/// Pushes `spans` of `samples` into a new diarizer and finishes it; returns the timeline and the
/// wall time spent in the diarizer.
pub fn diarize(
    samples: &[f32],
    spans: &[(f64, f64)],
    method: Method,
) -> (SpeakerTimeline, Duration) {
    let mut d = Diarizer::new(encoder());
    let t0 = Instant::now();
    for &(a, b) in spans {
        let (i, j) = (
            (a * SR as f64) as usize,
            ((b * SR as f64) as usize).min(samples.len()),
        );
        if j > i {
            d.push_span(&samples[i..j], i as f64 / SR as f64)
                .expect("push span");
        }
    }
    let timeline = match method {
        Method::Clustered => d.finish(),
        Method::Baseline => d.finish_baseline(),
    };
    (timeline, t0.elapsed())
}

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

/// One conversation's outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    pub speakers_found: usize,
    pub labels: Vec<SpeakerLabel>,
    pub words: Vec<(f64, f64)>,
}

/// Diarizes every conversation of `conv_dir`, writes hypotheses and scores them.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub score: Score,
    pub outcomes: Vec<Outcome>,
    /// Seconds of audio diarized.
    pub audio_s: f64,
    /// Wall time inside the diarizer (embedding + clustering), decoding excluded.
    pub diarize_s: f64,
}

pub fn evaluate(conv_dir: &Path, spans: SpanSource, method: Method, tag: &str) -> Evaluation {
    let hyp = scratch_dir(tag);
    let mut outcomes = Vec::new();
    let (mut audio_s, mut diarize_s) = (0.0, 0.0);
    for r in references(conv_dir) {
        let samples = read_audio(&conv_dir.join(&r.audio));
        let duration = samples.len() as f64 / SR as f64;
        let span_list = match spans {
            SpanSource::Reference(pad) => reference_spans(&r, pad, duration),
            SpanSource::Energy => energy_spans(&samples),
        };
        let (timeline, took) = diarize(&samples, &span_list, method);
        let words = pseudo_words(&r);
        let labels = timeline.label_words(&words);
        write_hypothesis(&hyp, &r.audio, &labels);
        audio_s += duration;
        diarize_s += took.as_secs_f64();
        outcomes.push(Outcome {
            name: r.name.clone(),
            speakers_found: timeline.num_speakers(),
            labels,
            words,
        });
    }
    let score = score(conv_dir, &hyp);
    let _ = std::fs::remove_dir_all(&hyp);
    Evaluation {
        score,
        outcomes,
        audio_s,
        diarize_s,
    }
}
