//! The engine: audio bytes in, the interface's recognition results out.
//!
//! bytes → streaming decode to 16 kHz mono → silero segments → speech packed into 30-second
//! windows → Whisper (greedy, KV cache) → words timed by cross-attention → results split at pauses.
//! Only one window of audio is held at a time, so memory does not grow with the recording.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crds::RecognitionParams;
use speechbatch_audio::{AudioStream, DecodeOptions};
use speechbatch_diarize::{Diarizer, SpeakerEncoder};
use speechbatch_textfmt::Word;

use crate::mel::{MelFrontEnd, SAMPLE_RATE};
use crate::model_name::{ModelName, Weights};
use crate::output::RecognitionResults;
use crate::results::RESULT_PAUSE_S;
use crate::results::{build_results, WindowWords};
use crate::timing::{fit_speech_edges, snap_to_speech, SNAP_MARGIN_S};
use crate::vad::{VadModel, VadParams, VadStream};
use crate::whisper::{align, greedy, Tokenizer, WhisperModel};
use crate::windows::{Window, WindowPacker};
use crate::{EngineError, RecognizeError};

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
        let served: Vec<(ModelName, Weights)> =
            models.iter().map(|m| (*m, Weights::serving(*m))).collect();
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
            // One thread: the speaker LSTM runs small batches, which lose more to thread hand-off
            // than they gain (measured: diarization took 0.29 s instead of 0.43 s on devset/asr).
            speakers: Arc::new(
                SpeakerEncoder::load(&models_dir.join(speechbatch_diarize::MODEL_FILE), 1)
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

    /// Recognises one file with the batch's options. `name` is the object or file name, used
    /// only to recognise raw G.729 (which has no header) and in messages.
    pub fn recognize(
        &self,
        bytes: Vec<u8>,
        name: Option<&str>,
        opts: &RecognitionParams,
    ) -> Result<RecognitionResults, RecognizeError> {
        let whisper = self
            .whisper
            .get(
                self.serving
                    .get(&opts.model)
                    .unwrap_or(&Weights::serving(opts.model)),
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
