//! The engine: audio bytes in, the interface's recognition results out.
//!
//! bytes → streaming decode to 16 kHz mono → silero segments → speech packed into 30-second
//! windows → Whisper (greedy, KV cache) → words timed by cross-attention → results split at pauses.
//! Only one window of audio is held at a time, so memory does not grow with the recording.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use speechbatch_audio::{AudioError, AudioStream, DecodeOptions};
use speechbatch_diarize::{Diarizer, SpeakerEncoder, SpeakerLabel, SpeakerTimeline};
use speechbatch_textfmt::{FormatOptions, Word};

use crate::mel::{MelFrontEnd, N_SAMPLES, SAMPLE_RATE};
use crate::model_name::{ModelName, Weights};
use crate::output::{
    round, Alternative, RecognitionResults, SpeechResult, WordConfidence, WordTime,
};
use crate::vad::{Segment, VadModel, VadParams, VadStream};
use crate::whisper::{align, greedy, Tokenizer, WhisperModel};
use crate::{EngineError, RecognizeError};

/// A pause at least this long between words starts a new result, as the service splits
/// utterances at pauses.
pub const RESULT_PAUSE_S: f64 = 0.6;

/// Margin around detected speech inside which word times may fall.
const SNAP_MARGIN_S: f64 = 0.1;

/// Options of one recognition.
#[derive(Debug, Clone, Copy)]
pub struct RecognizeOptions {
    /// Which model serves the request.
    pub model: ModelName,
    /// Whether to return `word_confidence`.
    pub word_confidence: bool,
    /// Smart formatting, redaction and the profanity filter.
    pub format: FormatOptions,
}

impl Default for RecognizeOptions {
    fn default() -> Self {
        Self {
            model: ModelName::Broadband,
            word_confidence: false,
            format: FormatOptions::default(),
        }
    }
}

/// Words of one window, with where the window's pauses are.
struct WindowWords {
    words: Vec<Word>,
    /// Pauses of at least [`RESULT_PAUSE_S`] between the window's speech segments, (from, to) in
    /// seconds: the places where one result ends and the next begins.
    pauses: Vec<(f64, f64)>,
}

struct LoadedWhisper {
    model: WhisperModel,
    tokenizer: Tokenizer,
}

/// The loaded models. One engine serves every file of a process.
pub struct Engine {
    whisper: HashMap<Weights, Arc<LoadedWhisper>>,
    /// Which weights serve each loaded model name.
    serving: HashMap<ModelName, Weights>,
    vad: VadModel,
    speakers: Arc<SpeakerEncoder>,
    /// Label speakers with the naive baseline instead of clustering (benchmarks only).
    baseline_diarization: bool,
    mel: MelFrontEnd,
}

impl Engine {
    /// Loads the weights of `models` from `models_dir` (as set up by `setup/models.sh`) with
    /// `threads` intra-op threads each, and warms them up.
    pub fn load(
        models_dir: &Path,
        models: &[ModelName],
        threads: usize,
    ) -> Result<Self, EngineError> {
        let served: Vec<(ModelName, Weights)> = models.iter().map(|m| (*m, m.weights())).collect();
        Self::load_weights(models_dir, &served, threads)
    }

    /// Like [`Engine::load`], with the weights that serve each name chosen by the caller (for
    /// benchmarks comparing weights under the same name).
    pub fn load_weights(
        models_dir: &Path,
        served: &[(ModelName, Weights)],
        threads: usize,
    ) -> Result<Self, EngineError> {
        let mut whisper = HashMap::new();
        let mut serving = HashMap::new();
        for &(m, w) in served {
            serving.insert(m, w);
            if whisper.contains_key(&w) {
                continue;
            }
            let dir = models_dir.join(w.dir_name());
            let loaded = LoadedWhisper {
                model: WhisperModel::load(&dir, threads)?,
                tokenizer: Tokenizer::load(&dir.join("tokenizer.json"))?,
            };
            whisper.insert(w, Arc::new(loaded));
        }
        let n_mels = whisper
            .values()
            .next()
            .map_or(80, |w| w.model.meta().n_mels);
        let engine = Self {
            whisper,
            serving,
            vad: VadModel::load(&models_dir.join("silero_vad.onnx"))?,
            speakers: Arc::new(
                SpeakerEncoder::load(&models_dir.join(speechbatch_diarize::MODEL_FILE), threads)
                    .map_err(|e| EngineError::Model(e.to_string()))?,
            ),
            baseline_diarization: false,
            mel: MelFrontEnd::new(n_mels),
        };
        engine.warm_up()?;
        Ok(engine)
    }

    /// Uses the naive diarization baseline of `speechbatch_diarize` (one speaker per stretch of
    /// speech, stretches joined greedily by mean-embedding similarity) instead of clustering, so
    /// that benchmarks can show both side by side.
    pub fn with_baseline_diarization(mut self, baseline: bool) -> Self {
        self.baseline_diarization = baseline;
        self
    }

    /// Runs each model once so that the first real file does not pay for graph set-up.
    fn warm_up(&self) -> Result<(), EngineError> {
        for w in self.whisper.values() {
            let enc = w.model.encode(self.mel.log_mel_30s(&[]))?;
            let mut cache = w.model.empty_cache()?;
            w.model
                .decode_step(&enc, &greedy::prompt(&w.model, &w.tokenizer), &mut cache)?;
        }
        VadStream::new(&self.vad, VadParams::default()).push(&[0.0; crate::vad::WINDOW])?;
        Ok(())
    }

    /// Recognises one file. `name` is the object or file name, used only to recognise raw
    /// G.729 (which has no header) and in messages.
    pub fn recognize(
        &self,
        bytes: Vec<u8>,
        name: Option<&str>,
        opts: &RecognizeOptions,
    ) -> Result<RecognitionResults, RecognizeError> {
        let whisper = self
            .whisper
            .get(
                self.serving
                    .get(&opts.model)
                    .unwrap_or(&opts.model.weights()),
            )
            .ok_or_else(|| EngineError::Model(format!("model {} is not loaded", opts.model)))?;
        let decode_opts = DecodeOptions {
            name_hint: name,
            allow_g729: opts.model.is_narrowband(),
        };
        let mut stream = AudioStream::open(bytes, &decode_opts)?;
        let mut vad = VadStream::new(&self.vad, VadParams::default());
        let mut windows = WindowPacker::default();
        let mut run = FileRun {
            engine: self,
            whisper,
            diarizer: Diarizer::new(self.speakers.clone()),
            words: Vec::new(),
            diarize_time: std::time::Duration::ZERO,
        };
        let mut total = 0usize;
        while let Some(chunk) = stream.next_chunk()? {
            windows.append(&chunk);
            total += chunk.len();
            for seg in vad.push(&chunk)? {
                if let Some(w) = windows.add_segment(seg) {
                    run.window(&w)?;
                }
            }
            if let Some(w) = windows.flush_if_stale(total) {
                run.window(&w)?;
            }
            windows.trim(vad.earliest_needed());
        }
        for seg in vad.finish(total)? {
            if let Some(w) = windows.add_segment(seg) {
                run.window(&w)?;
            }
        }
        if let Some(w) = windows.flush() {
            run.window(&w)?;
        }
        let clustering = std::time::Instant::now();
        let timeline = if self.baseline_diarization {
            run.diarizer.finish_baseline()
        } else {
            run.diarizer.finish()
        };
        let mut results = build_results(run.words, opts, &timeline);
        results.audio_seconds = total as f64 / SAMPLE_RATE as f64;
        results.diarize_seconds = (run.diarize_time + clustering.elapsed()).as_secs_f64();
        Ok(results)
    }

    fn transcribe_window(
        &self,
        whisper: &LoadedWhisper,
        window: &Window,
    ) -> Result<WindowWords, EngineError> {
        let t0 = std::time::Instant::now();
        let mel = self.mel.log_mel_30s(&window.audio);
        let t1 = std::time::Instant::now();
        let encoded = whisper.model.encode(mel)?;
        let t2 = std::time::Instant::now();
        // One encoder position per 2 mel frames (320 samples).
        let frames = window.audio.len().div_ceil(320);
        let decoded = greedy::decode(&whisper.model, &whisper.tokenizer, &encoded, frames)?;
        tracing::debug!(
            audio_s = window.audio.len() as f64 / SAMPLE_RATE as f64,
            mel_ms = (t1 - t0).as_millis() as u64,
            encode_ms = (t2 - t1).as_millis() as u64,
            decode_ms = t2.elapsed().as_millis() as u64,
            tokens = decoded.tokens.len(),
            "window"
        );
        let offset = window.start as f64 / SAMPLE_RATE as f64;
        let seconds = |samples: usize| samples as f64 / SAMPLE_RATE as f64;
        // Words are snapped to what the detector heard, with a small margin for soft edges.
        let speech: Vec<(f64, f64)> = window
            .speech
            .iter()
            .map(|s| {
                let from = seconds(s.speech_start) - SNAP_MARGIN_S;
                (
                    from.max(seconds(s.start)),
                    (seconds(s.speech_end) + SNAP_MARGIN_S).min(seconds(s.end)),
                )
            })
            .collect();
        let mut words: Vec<Word> = align::word_timings(&decoded, &whisper.tokenizer)
            .into_iter()
            .map(|w| {
                let (start, end) = snap_to_speech(offset + w.start, offset + w.end, &speech);
                Word {
                    text: w.text,
                    start,
                    end,
                    confidence: w.probability,
                }
            })
            .collect();
        let heard: Vec<(f64, f64)> = window
            .speech
            .iter()
            .map(|s| (seconds(s.speech_start), seconds(s.speech_end)))
            .collect();
        fit_speech_edges(&mut words, &heard);
        // The pause is judged on what the detector heard, without the segments' padding.
        let pauses = window
            .speech
            .windows(2)
            .zip(speech.windows(2))
            .filter(|(p, _)| {
                seconds(p[1].speech_start.saturating_sub(p[0].speech_end)) >= RESULT_PAUSE_S
            })
            .map(|(_, snapped)| (snapped[0].1, snapped[1].0))
            .collect();
        Ok(WindowWords { words, pauses })
    }
}

/// The state of one file's recognition: its words so far and its speaker embeddings.
struct FileRun<'e> {
    engine: &'e Engine,
    whisper: &'e LoadedWhisper,
    diarizer: Diarizer,
    words: Vec<WindowWords>,
    /// Time spent on speaker embeddings, for the throughput report.
    diarize_time: std::time::Duration,
}

impl FileRun<'_> {
    /// Transcribes a window and embeds the speakers of its speech.
    fn window(&mut self, window: &Window) -> Result<(), EngineError> {
        self.words
            .push(self.engine.transcribe_window(self.whisper, window)?);
        let started = std::time::Instant::now();
        for seg in &window.speech {
            let from = seg
                .speech_start
                .saturating_sub(window.start)
                .min(window.audio.len());
            let to = seg
                .speech_end
                .saturating_sub(window.start)
                .min(window.audio.len());
            self.diarizer
                .push_span(
                    &window.audio[from..to],
                    seg.speech_start as f64 / SAMPLE_RATE as f64,
                )
                .map_err(|e| EngineError::Inference(format!("speaker embeddings: {e}")))?;
        }
        self.diarize_time += started.elapsed();
        Ok(())
    }
}

/// Moves a word's start out of a pause to the next speech, and its end back to the last speech:
/// attention-based times blur across pauses that the VAD sees sharply.
fn snap_to_speech(start: f64, end: f64, speech: &[(f64, f64)]) -> (f64, f64) {
    let (first, last) = match (speech.first(), speech.last()) {
        (Some(f), Some(l)) => (f.0, l.1),
        _ => return (start, end.max(start)),
    };
    let mut s = start.clamp(first, last);
    let mut e = end.clamp(first, last);
    if let Some(next) = speech.iter().find(|seg| seg.1 > s) {
        if s < next.0 {
            s = next.0;
        }
    }
    if let Some(prev) = speech.iter().rev().find(|seg| seg.0 < e) {
        if e > prev.1 {
            e = prev.1;
        }
    }
    (s, e.max(s))
}

/// Where speech starts after a pause and ends before one, the detector's edges (32 ms windows)
/// are sharper than attention-based word times: the first word of each stretch of speech starts
/// at its onset, and the last ends at its offset.
fn fit_speech_edges(words: &mut [Word], heard: &[(f64, f64)]) {
    for &(onset, offset) in heard {
        let inside = |w: &Word| w.start < offset && w.end > onset - SNAP_MARGIN_S;
        if let Some(first) = words.iter_mut().find(|w| inside(w)) {
            if onset < first.end {
                first.start = onset;
            }
        }
        if let Some(last) = words.iter_mut().rev().find(|w| inside(w)) {
            if offset > last.start {
                last.end = offset;
            }
        }
    }
}

/// One utterance in the house style, before speaker labels.
struct Utterance {
    words: Vec<Word>,
    /// The recogniser's confidence in it.
    confidence: f64,
}

/// The words grouped into results at pauses and window boundaries, formatted, with a speaker
/// label for every output word.
fn build_results(
    windows: Vec<WindowWords>,
    opts: &RecognizeOptions,
    speakers: &SpeakerTimeline,
) -> RecognitionResults {
    let mut utterances = Vec::new();
    for window in windows {
        let mut group: Vec<Word> = Vec::new();
        for w in window.words {
            if let Some(prev) = group.last() {
                let pause_between = window
                    .pauses
                    .iter()
                    .any(|&(from, to)| prev.start < from && w.start >= to - 1e-6);
                if pause_between {
                    utterances.extend(utterance_of(std::mem::take(&mut group), opts));
                }
            }
            group.push(w);
        }
        utterances.extend(utterance_of(group, opts));
    }
    // Labels are given to the words the user sees, after formatting merged or split them, at
    // the precision the output prints, so that each label's from/to equal its word's times.
    for w in utterances.iter_mut().flat_map(|u| u.words.iter_mut()) {
        w.start = round(w.start, 2);
        w.end = round(w.end, 2);
    }
    let spans: Vec<(f64, f64)> = utterances
        .iter()
        .flat_map(|u| u.words.iter().map(|w| (w.start, w.end)))
        .collect();
    let mut labels = speakers.label_words(&spans);
    for l in &mut labels {
        l.confidence = round(l.confidence, 3);
    }
    let mut label_iter = labels.iter();
    let results = utterances
        .into_iter()
        .map(|u| result_of(u, opts, &mut label_iter))
        .collect();
    RecognitionResults {
        result_index: 0,
        speaker_labels: labels,
        results,
        audio_seconds: 0.0,
        diarize_seconds: 0.0,
    }
}

/// The recogniser's words of one utterance in the house style with the formatting options
/// applied; `None` if nothing is left.
fn utterance_of(words: Vec<Word>, opts: &RecognizeOptions) -> Option<Utterance> {
    if words.is_empty() {
        return None;
    }
    // The alternative's confidence is that of the recogniser's own words, before formatting
    // merges or splits them.
    let confidence = words.iter().map(|w| w.confidence as f64).sum::<f64>() / words.len() as f64;
    let words = speechbatch_textfmt::format_words(&words, &opts.format);
    (!words.is_empty()).then_some(Utterance { words, confidence })
}

/// One result of the interface, taking each word's speaker label from `labels`.
fn result_of<'l>(
    u: Utterance,
    opts: &RecognizeOptions,
    labels: &mut impl Iterator<Item = &'l SpeakerLabel>,
) -> SpeechResult {
    let transcript = speechbatch_textfmt::transcript(&u.words);
    let word_confidence = opts.word_confidence.then(|| {
        u.words
            .iter()
            .map(|w| WordConfidence {
                word: w.text.clone(),
                confidence: w.confidence as f64,
            })
            .collect()
    });
    let timestamps = u
        .words
        .into_iter()
        .map(|w| WordTime {
            word: w.text,
            start: w.start,
            end: w.end,
            speaker: labels.next().cloned(),
        })
        .collect();
    SpeechResult {
        final_: true,
        alternatives: vec![Alternative {
            transcript,
            confidence: round(u.confidence, 3),
            timestamps,
            word_confidence,
        }],
    }
}

/// A stretch of audio of at most 30 s holding one or more speech segments.
struct Window {
    /// Absolute index of the first sample.
    start: usize,
    audio: Vec<f32>,
    /// The speech segments inside it, absolute.
    speech: Vec<Segment>,
}

/// Packs consecutive speech segments into windows of at most 30 s, keeping only the audio that
/// a window may still need.
#[derive(Default)]
struct WindowPacker {
    buffer: Vec<f32>,
    /// Absolute index of `buffer[0]`.
    buffer_start: usize,
    pending: Vec<Segment>,
}

impl WindowPacker {
    fn append(&mut self, samples: &[f32]) {
        self.buffer.extend_from_slice(samples);
    }

    /// Adds a segment; returns a finished window when the segment does not fit the pending one.
    fn add_segment(&mut self, seg: Segment) -> Option<Window> {
        let done = match self.pending.first() {
            Some(first) if seg.end - first.start > N_SAMPLES => self.flush(),
            _ => None,
        };
        self.pending.push(seg);
        done
    }

    /// Flushes the pending window once it can no longer grow (30 s have passed since it began),
    /// so that a long silence after speech is never buffered.
    fn flush_if_stale(&mut self, now: usize) -> Option<Window> {
        match self.pending.first() {
            Some(first) if now.saturating_sub(first.start) > N_SAMPLES => self.flush(),
            _ => None,
        }
    }

    fn flush(&mut self) -> Option<Window> {
        let (first, last) = (*self.pending.first()?, *self.pending.last()?);
        let from = first.start.saturating_sub(self.buffer_start);
        let to = (last.end - self.buffer_start).min(self.buffer.len());
        let audio = self.buffer[from.min(to)..to].to_vec();
        let speech = std::mem::take(&mut self.pending);
        Some(Window {
            start: first.start,
            audio,
            speech,
        })
    }

    /// Drops audio before `earliest` that no pending window needs.
    fn trim(&mut self, earliest: usize) {
        let keep_from = self
            .pending
            .first()
            .map_or(earliest, |s| s.start.min(earliest));
        if keep_from > self.buffer_start {
            let n = (keep_from - self.buffer_start).min(self.buffer.len());
            self.buffer.drain(..n);
            self.buffer_start += n;
        }
    }
}

impl From<AudioError> for RecognizeError {
    fn from(e: AudioError) -> Self {
        RecognizeError::Audio(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_times_leave_pauses_for_the_speech_around_them() {
        let speech = [(1.0, 2.0), (3.0, 4.0)];
        assert_eq!(snap_to_speech(2.5, 3.5, &speech), (3.0, 3.5));
        assert_eq!(snap_to_speech(1.5, 2.7, &speech), (1.5, 2.0));
        assert_eq!(snap_to_speech(0.2, 1.5, &speech), (1.0, 1.5));
        assert_eq!(snap_to_speech(4.5, 4.9, &speech), (4.0, 4.0));
    }

    #[test]
    fn words_at_the_edges_of_speech_take_the_detectors_edges() {
        let w = |t: &str, start: f64, end: f64| Word {
            text: t.into(),
            start,
            end,
            confidence: 1.0,
        };
        let mut words = vec![
            w("a", 1.1, 1.5),
            w("b", 1.5, 1.8),
            w("c", 3.05, 3.4),
            w("d", 3.4, 3.6),
        ];
        fit_speech_edges(&mut words, &[(1.0, 2.0), (3.0, 4.0)]);
        let times: Vec<(f64, f64)> = words.iter().map(|w| (w.start, w.end)).collect();
        assert_eq!(times, vec![(1.0, 1.5), (1.5, 2.0), (3.0, 3.4), (3.4, 4.0)]);
    }

    #[test]
    fn segments_pack_into_windows_of_at_most_thirty_seconds() {
        let mut p = WindowPacker::default();
        p.append(&vec![0.1; 40 * SAMPLE_RATE]);
        let s = |a: f64, b: f64| {
            let (start, end) = (
                (a * SAMPLE_RATE as f64) as usize,
                (b * SAMPLE_RATE as f64) as usize,
            );
            Segment {
                start,
                end,
                speech_start: start,
                speech_end: end,
            }
        };
        assert!(p.add_segment(s(1.0, 10.0)).is_none());
        assert!(p.add_segment(s(12.0, 25.0)).is_none());
        let w = p
            .add_segment(s(26.0, 35.0))
            .expect("the third segment overflows 30 s");
        assert_eq!(w.start, SAMPLE_RATE);
        assert_eq!(w.audio.len(), 24 * SAMPLE_RATE);
        assert_eq!(w.speech.len(), 2);
        let last = p.flush().unwrap();
        assert_eq!(last.audio.len(), 9 * SAMPLE_RATE);
    }
}
