//! The engine: audio bytes in, the interface's recognition results out.
//!
//! bytes → streaming decode to 16 kHz (mixed to mono, or one signal per channel for call
//! recordings with a talker per channel, see `channels`) → silero segments → speech packed into 30-second
//! windows → Whisper (greedy, KV cache) → words timed by cross-attention → results split at pauses.
//! Only one window of audio is held at a time, so memory does not grow with the recording.
//!
//! Weights of the Moonshine family take the same path up to the windows; each window's speech
//! is then cut out and packed into chunks for Moonshine (see `moonshine::chunks`), and its word
//! times are mapped back to the file before they are snapped to the speech as Whisper's are.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crds::{RecognitionParams, SplitChannels};
use speechbatch_audio::{AudioStream, DecodeOptions, Downmixer};
use speechbatch_diarize::{Diarizer, SpeakerEncoder};
use speechbatch_textfmt::Word;

use crate::alignment::WordTiming;
use crate::channels::{isolate, Layout, SplitDetector};
use crate::custom::Bias;
use crate::mel::{MelFrontEnd, SAMPLE_RATE};
use crate::model_name::{Family, ModelName, Weights};
use crate::moonshine::Moonshine;
use crate::output::RecognitionResults;
use crate::results::RESULT_PAUSE_S;
use crate::results::{build_channel_results, build_results, WindowWords};
use crate::timing::{fit_speech_edges, snap_to_speech, SNAP_MARGIN_S};
use crate::vad::{VadModel, VadParams, VadStream};
use crate::whisper::{align, greedy, Tokenizer, WhisperModel};
use crate::windows::{Window, WindowPacker};
use crate::{EngineError, RecognizeError};

struct LoadedWhisper {
    model: WhisperModel,
    tokenizer: Tokenizer,
    /// How far the alignment heads lag behind the sound (`Weights::attention_lag_s`).
    lag_s: f64,
}

/// One set of loaded weights, of either family.
enum Loaded {
    Whisper(LoadedWhisper),
    Moonshine(Moonshine),
}

/// The loaded models. One engine serves every file of a process.
pub struct Engine {
    models: HashMap<Weights, Arc<Loaded>>,
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
        let mut models = HashMap::new();
        let mut serving = HashMap::new();
        for &(m, w) in served {
            serving.insert(m, w);
            if models.contains_key(&w) {
                continue;
            }
            let dir = models_dir.join(w.dir_name());
            let loaded = match w.family() {
                Family::Whisper => Loaded::Whisper(LoadedWhisper {
                    model: WhisperModel::load(&dir, threads)?,
                    tokenizer: Tokenizer::load(&dir.join("tokenizer.json"))?,
                    lag_s: w.attention_lag_s(),
                }),
                Family::Moonshine => {
                    Loaded::Moonshine(Moonshine::load(&dir, threads, w.attention_lag_s())?)
                }
            };
            models.insert(w, Arc::new(loaded));
        }
        // The mel front end is Whisper's alone (Moonshine reads the waveform).
        let n_mels = models
            .values()
            .find_map(|m| match m.as_ref() {
                Loaded::Whisper(w) => Some(w.model.meta().n_mels),
                Loaded::Moonshine(_) => None,
            })
            .unwrap_or(80);
        let engine = Self {
            models,
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
        for loaded in self.models.values() {
            match loaded.as_ref() {
                Loaded::Whisper(w) => {
                    let enc = w.model.encode(self.mel.log_mel_30s(&[]))?;
                    let mut cache = w.model.empty_cache()?;
                    w.model.decode_step(
                        &enc,
                        &greedy::prompt(&w.model, &w.tokenizer),
                        &mut cache,
                    )?;
                }
                Loaded::Moonshine(m) => m.warm_up()?,
            }
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
        self.recognize_with(bytes, name, opts, None)
    }

    /// [`Engine::recognize`] with the batch's custom language model, if it names one: its
    /// words are favoured by the decoder (as strongly as the weight says) and written as their
    /// `display_as` forms.
    pub fn recognize_with(
        &self,
        bytes: Vec<u8>,
        name: Option<&str>,
        opts: &RecognitionParams,
        vocabulary: Option<&crds::customization::Vocabulary>,
    ) -> Result<RecognitionResults, RecognizeError> {
        let bias = vocabulary.map(|v| Bias::new(v, v.weight(opts.customization_weight)));
        let bias = bias.as_ref();
        let model = self
            .models
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
        let channels = usize::from(stream.info().channels.max(1));
        // The layout is decided on the first seconds, which are kept to be recognised next.
        let mut first = Vec::new();
        let layout = if channels > 1 && opts.split_channels != SplitChannels::False {
            let mut detector = SplitDetector::new(channels);
            while !detector.has_enough() {
                let Some(planes) = stream.next_channels()? else {
                    break;
                };
                detector.push(&planes);
                first.push(planes);
            }
            detector.decide(opts.split_channels)
        } else {
            Layout::Mix
        };
        tracing::debug!(channels, ?layout, "channel layout");
        let mut runs: Vec<ChannelRun> = match &layout {
            Layout::Mix => vec![ChannelRun::new(self, model, bias, true)],
            Layout::Split(chosen) => chosen
                .iter()
                .map(|_| ChannelRun::new(self, model, bias, false))
                .collect(),
        };
        let mut mixer = Downmixer::new(SAMPLE_RATE as u32);
        let mut total = 0usize;
        let mut first = first.into_iter();
        loop {
            let planes = match first.next() {
                Some(planes) => planes,
                None => match stream.next_channels()? {
                    Some(planes) => planes,
                    None => break,
                },
            };
            total += planes[0].len();
            match &layout {
                Layout::Mix => {
                    let mut mono = Vec::with_capacity(planes[0].len());
                    mixer.mix(&planes, &mut mono);
                    runs[0].push(&mono, total)?;
                }
                Layout::Split(chosen) => {
                    for (run, plane) in runs.iter_mut().zip(isolate(&planes, chosen)) {
                        run.push(&plane, total)?;
                    }
                }
            }
        }
        let mut finished = Vec::with_capacity(runs.len());
        for run in runs {
            finished.push(run.finish(total)?);
        }
        let mut results = match &layout {
            Layout::Mix => {
                let run = finished.pop().expect("one run for the mix");
                let clustering = std::time::Instant::now();
                let diarizer = run.diarizer.expect("the mix run labels speakers by voice");
                let timeline = if self.baseline_diarization {
                    diarizer.finish_baseline()
                } else {
                    diarizer.finish()
                };
                let mut results = build_results(run.words, opts, &timeline);
                results.diarize_seconds = (run.diarize_time + clustering.elapsed()).as_secs_f64();
                results
            }
            Layout::Split(chosen) => build_channel_results(
                chosen
                    .iter()
                    .zip(finished)
                    .map(|(&c, run)| (c as u32, run.words))
                    .collect(),
                opts,
            ),
        };
        results.audio_seconds = total as f64 / SAMPLE_RATE as f64;
        Ok(results)
    }

    /// The words of a window, times snapped to its speech, and its pauses.
    fn transcribe_window(
        &self,
        model: &Loaded,
        window: &Window,
        bias: Option<&Bias>,
    ) -> Result<WindowWords, EngineError> {
        let words = match model {
            Loaded::Whisper(whisper) => self.whisper_words(whisper, window, bias)?,
            Loaded::Moonshine(moonshine) => {
                moonshine.window_words(window.start, &window.audio, &window.speech, bias)?
            }
        };
        let words = match bias {
            Some(bias) => bias.rewrite(words),
            None => words,
        };
        Ok(fit_to_speech(window, words))
    }

    /// Whisper's words of a window, times in seconds in the file.
    fn whisper_words(
        &self,
        whisper: &LoadedWhisper,
        window: &Window,
        bias: Option<&Bias>,
    ) -> Result<Vec<WordTiming>, EngineError> {
        let t0 = std::time::Instant::now();
        let mel = self.mel.log_mel_30s(&window.audio);
        let t1 = std::time::Instant::now();
        let encoded = whisper.model.encode(mel)?;
        let t2 = std::time::Instant::now();
        // One encoder position per 2 mel frames (320 samples).
        let frames = window.audio.len().div_ceil(320);
        let decoded = greedy::decode(&whisper.model, &whisper.tokenizer, &encoded, frames, bias)?;
        tracing::debug!(
            audio_s = window.audio.len() as f64 / SAMPLE_RATE as f64,
            mel_ms = (t1 - t0).as_millis() as u64,
            encode_ms = (t2 - t1).as_millis() as u64,
            decode_ms = t2.elapsed().as_millis() as u64,
            tokens = decoded.tokens.len(),
            "window"
        );
        let offset = window.start as f64 / SAMPLE_RATE as f64;
        Ok(
            align::word_timings(&decoded, &whisper.tokenizer, whisper.lag_s)
                .into_iter()
                .map(|w| WordTiming {
                    start: offset + w.start,
                    end: offset + w.end,
                    ..w
                })
                .collect(),
        )
    }
}

/// A window's words (times in seconds in the file) snapped to what the detector heard, and the
/// window's pauses.
fn fit_to_speech(window: &Window, words: Vec<WordTiming>) -> WindowWords {
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
    let mut words: Vec<Word> = words
        .into_iter()
        .map(|w| {
            let (start, end) = snap_to_speech(w.start, w.end, &speech);
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
    WindowWords { words, pauses }
}

/// The recognition of one signal of a file (its mono mix, or one of its channels): voice
/// activity, windows, words so far, and for the mix its speaker embeddings.
struct ChannelRun<'e> {
    engine: &'e Engine,
    model: &'e Loaded,
    /// The batch's custom language model, compiled for decoding.
    bias: Option<&'e Bias>,
    vad: VadStream<'e>,
    windows: WindowPacker,
    /// Speaker embeddings: only where speakers must be told apart by voice.
    diarizer: Option<Diarizer>,
    words: Vec<WindowWords>,
    /// Time spent on speaker embeddings, for the throughput report.
    diarize_time: std::time::Duration,
}

impl<'e> ChannelRun<'e> {
    fn new(engine: &'e Engine, model: &'e Loaded, bias: Option<&'e Bias>, diarize: bool) -> Self {
        Self {
            engine,
            model,
            bias,
            vad: VadStream::new(&engine.vad, VadParams::default()),
            windows: WindowPacker::default(),
            diarizer: diarize.then(|| Diarizer::new(engine.speakers.clone())),
            words: Vec::new(),
            diarize_time: std::time::Duration::ZERO,
        }
    }

    /// Takes the next samples; `total` is the signal's length so far, these included.
    fn push(&mut self, chunk: &[f32], total: usize) -> Result<(), EngineError> {
        self.windows.append(chunk);
        for seg in self.vad.push(chunk)? {
            if let Some(w) = self.windows.add_segment(seg) {
                self.window(&w)?;
            }
        }
        if let Some(w) = self.windows.flush_if_stale(total) {
            self.window(&w)?;
        }
        self.windows.trim(self.vad.earliest_needed());
        Ok(())
    }

    /// Recognises what is left once the signal has ended after `total` samples.
    fn finish(mut self, total: usize) -> Result<Self, EngineError> {
        let vad = std::mem::replace(
            &mut self.vad,
            VadStream::new(&self.engine.vad, VadParams::default()),
        );
        for seg in vad.finish(total)? {
            if let Some(w) = self.windows.add_segment(seg) {
                self.window(&w)?;
            }
        }
        if let Some(w) = self.windows.flush() {
            self.window(&w)?;
        }
        Ok(self)
    }

    /// Transcribes a window and embeds the speakers of its speech.
    fn window(&mut self, window: &Window) -> Result<(), EngineError> {
        self.words.push(
            self.engine
                .transcribe_window(self.model, window, self.bias)?,
        );
        let Some(diarizer) = self.diarizer.as_mut() else {
            return Ok(());
        };
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
            diarizer
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

#[cfg(test)]
mod head_selection;
