//! Shared by the integration tests and `examples/diar_eval.rs`: the conversations of the
//! checked-in test data, stand-ins for the engine's VAD and recogniser, and scoring (the
//! testkit's DER).
//!
//! The engine finds speech with silero VAD and words with Whisper; neither is available to this
//! crate, so the tests use (a) the reference turn times, padded and merged, as speech spans, and
//! (b) a plain energy detector over the audio, to show the result does not hinge on exact spans.
//! Words are pseudo-words of about 0.3 s laid across each reference turn.
#![allow(dead_code)] // each test binary uses a different part of this module

pub mod audio;
pub mod long;
pub mod score;
pub mod spans;

pub use audio::read_audio;
pub use score::{score, Score};
pub use spans::{energy_spans, engine_like_spans, pseudo_words, reference_spans};
pub use speechbatch_testkit::{Conversation, Turn};

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use speechbatch_diarize::{Diarizer, SpeakerEncoder, SpeakerLabel, SpeakerTimeline, MODEL_FILE};

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

/// The checked-in conversations: four 16 kHz FLAC and two 8 kHz telephone WAV files, each with
/// its `NAME.ref.json`.
pub fn conversations_dir() -> PathBuf {
    speechbatch_testkit::testdata("conversations")
}

/// Which speech spans the tests feed the diarizer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SpanSource {
    /// Reference turns padded by this many seconds and merged.
    Reference(f64),
    /// The energy detector.
    Energy,
    /// Segmented like the engine's silero VAD: short silences split, 0.4 s padding.
    EngineLike,
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

/// One conversation's outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    pub speakers_found: usize,
    pub labels: Vec<SpeakerLabel>,
    pub words: Vec<(f64, f64)>,
}

/// Diarizes every conversation of `conv_dir` and scores the labels of its pseudo-words.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub score: Score,
    pub outcomes: Vec<Outcome>,
    /// Seconds of audio diarized.
    pub audio_s: f64,
    /// Wall time inside the diarizer (embedding + clustering), decoding excluded.
    pub diarize_s: f64,
}

pub fn evaluate(conv_dir: &Path, spans: SpanSource, method: Method) -> Evaluation {
    let references = speechbatch_testkit::read_conversations(conv_dir);
    let mut outcomes = Vec::new();
    let (mut audio_s, mut diarize_s) = (0.0, 0.0);
    for r in &references {
        let samples = read_audio(&conv_dir.join(&r.audio));
        let duration = samples.len() as f64 / SR as f64;
        let span_list = match spans {
            SpanSource::Reference(pad) => reference_spans(r, pad, duration),
            SpanSource::Energy => energy_spans(&samples),
            SpanSource::EngineLike => engine_like_spans(&samples),
        };
        let (timeline, took) = diarize(&samples, &span_list, method);
        let words = pseudo_words(r);
        let labels = timeline.label_words(&words);
        audio_s += duration;
        diarize_s += took.as_secs_f64();
        outcomes.push(Outcome {
            name: r.name.clone(),
            speakers_found: timeline.num_speakers(),
            labels,
            words,
        });
    }
    let score = score(
        references
            .iter()
            .zip(&outcomes)
            .map(|(r, o)| (r, o.labels.as_slice())),
    );
    Evaluation {
        score,
        outcomes,
        audio_s,
        diarize_s,
    }
}
