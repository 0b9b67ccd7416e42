//! A long recording without holding it: the checked-in wideband conversations played one after
//! another, span by span, with their times shifted, until the requested length is reached.

use std::path::Path;
use std::time::{Duration, Instant};

use speechbatch_diarize::{Diarizer, SpeakerTimeline};
use speechbatch_testkit::{read_conversations, speaker_count};

use super::{encoder, energy_spans, read_audio, Conversation, Turn, SR};

/// What a long run measured.
#[derive(Debug, Clone)]
pub struct LongRun {
    pub audio_s: f64,
    pub speech_s: f64,
    pub wall: Duration,
    pub timeline: SpeakerTimeline,
    /// Reference turns of the whole run, speakers named by voice (a voice is one speaker
    /// wherever it recurs).
    pub turns: Vec<Turn>,
    /// Peak resident memory (VmHWM) before and after the run, in KiB, where /proc is readable.
    pub peak_rss_kib: Option<(u64, u64)>,
}

/// Peak resident set size of this process in KiB (Linux).
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Diarizes `seconds` of audio made of the wideband conversations of `dir` (laid out like
/// testdata/conversations) back to back. Only one conversation's audio (about 40 s) is decoded
/// at a time; the diarizer only ever sees one span.
///
/// The passes over the conversations cycle through five speeds, -2% to +2% (pitch and tempo
/// together): a voice drifts a little over an hour, and exact copies of the same windows would
/// make each set of copies look like a speaker of its own.
pub fn run(dir: &Path, seconds: f64) -> LongRun {
    let convs: Vec<_> = read_conversations(dir)
        .into_iter()
        .filter(|r| !r.audio.ends_with(".wav"))
        .collect();
    // Load ONNX Runtime and the model first: the memory of interest is what the run adds.
    let mut d = Diarizer::new(encoder());
    let before = peak_rss_kib();
    let mut wall = Duration::ZERO;
    let mut offset = 0.0;
    let mut turns = Vec::new();
    let mut pass = 0usize;
    'outer: loop {
        // 16 kHz audio treated as 15680..16320 Hz and resampled to 16 kHz.
        let speed = 1.0 + 0.01 * ((pass % 5) as f64 - 2.0);
        pass += 1;
        let resample = (SR as f64 * speed).round() as usize;
        for r in &convs {
            let decoded = read_audio(&dir.join(&r.audio));
            let samples = if resample == SR {
                decoded
            } else {
                super::audio::resample_to(&decoded, resample, SR)
            };
            let length = samples.len() as f64 / SR as f64;
            let t0 = Instant::now();
            for (a, b) in energy_spans(&samples) {
                if offset + b > seconds {
                    break;
                }
                let (i, j) = (
                    (a * SR as f64) as usize,
                    ((b * SR as f64) as usize).min(samples.len()),
                );
                d.push_span(&samples[i..j], offset + i as f64 / SR as f64)
                    .expect("push span");
            }
            wall += t0.elapsed();
            for t in r.turns.iter().filter(|t| offset + t.end / speed <= seconds) {
                let voice = r
                    .voices
                    .iter()
                    .find(|(k, _)| *k == t.speaker)
                    .map_or(t.speaker.clone(), |v| v.1.clone());
                turns.push(Turn {
                    speaker: voice,
                    start: offset + t.start / speed,
                    end: offset + t.end / speed,
                });
            }
            offset += length;
            if offset >= seconds {
                break 'outer;
            }
        }
    }
    let speech_s = d.speech_seconds();
    let t0 = Instant::now();
    let timeline = d.finish();
    wall += t0.elapsed();
    LongRun {
        audio_s: offset.min(seconds),
        speech_s,
        wall,
        timeline,
        turns,
        peak_rss_kib: before.zip(peak_rss_kib()),
    }
}

/// Scores a long run as one conversation: its reference turns (speakers named by voice) against
/// the labels of pseudo-words over them.
pub fn score_run(run: &LongRun) -> super::Score {
    let reference = Conversation {
        name: "long".into(),
        audio: "long.flac".into(),
        speakers: speaker_count(&run.turns),
        turns: run.turns.clone(),
        voices: Vec::new(),
    };
    let labels = run.timeline.label_words(&super::pseudo_words(&reference));
    super::score([(&reference, labels.as_slice())])
}
