//! Voice-activity detection with silero VAD, streaming: 32 ms windows in, speech segments out.
//!
//! The segment logic is silero's own `get_speech_timestamps` (thresholds, minimum speech and
//! silence, splitting over-long speech at its last pause, padding), rewritten as a state machine
//! so that audio of any length passes through in bounded memory.

use std::path::Path;
use std::sync::Mutex;

use ort::session::Session;
use ort::value::Tensor;

use crate::runtime;
use crate::EngineError;

/// Samples per VAD window at 16 kHz.
pub const WINDOW: usize = 512;
const CONTEXT: usize = 64;
const RATE: usize = 16_000;

/// Tuning of the segmenter, in silero's terms.
#[derive(Debug, Clone, Copy)]
pub struct VadParams {
    /// Speech probability that starts speech.
    pub threshold: f32,
    /// Shortest speech kept, in samples.
    pub min_speech: usize,
    /// Silence that ends speech, in samples.
    pub min_silence: usize,
    /// Longest segment, in samples: longer speech is split at its last pause.
    pub max_speech: usize,
    /// Padding added around each segment, in samples.
    pub pad: usize,
}

impl Default for VadParams {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            min_speech: RATE / 4,
            min_silence: RATE / 10,
            // Segments must fit Whisper's 30 s window with their padding.
            max_speech: 28 * RATE,
            // Wider than silero's 30 ms: Whisper needs the onset of a soft first word ("and")
            // and a little context (faster-whisper pads by 400 ms).
            pad: RATE * 4 / 10,
        }
    }
}

/// The silero model, shared by all streams of a process.
pub struct VadModel {
    session: Mutex<Session>,
}

impl VadModel {
    /// Loads `silero_vad.onnx`. One thread: the model is tiny and calls are sequential.
    pub fn load(path: &Path) -> Result<Self, EngineError> {
        Ok(Self {
            session: Mutex::new(runtime::session(path, 1)?),
        })
    }
}

/// A speech segment in samples from the start of the audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// First sample, padding included.
    pub start: usize,
    /// One past the last sample, padding included.
    pub end: usize,
    /// Where the detector heard speech begin (no padding).
    pub speech_start: usize,
    /// Where the detector heard speech end (no padding).
    pub speech_end: usize,
}

impl Segment {
    fn unpadded(start: usize, end: usize) -> Self {
        Self {
            start,
            end,
            speech_start: start,
            speech_end: end,
        }
    }
}

/// Streaming speech detector over one audio stream.
pub struct VadStream<'m> {
    model: &'m VadModel,
    params: VadParams,
    state: Vec<f32>,
    context: Vec<f32>,
    pending: Vec<f32>,
    /// Samples consumed so far (multiple of WINDOW).
    position: usize,
    triggered: bool,
    speech_start: usize,
    temp_end: usize,
    prev_end: usize,
    next_start: usize,
    /// Closed segments not yet padded (padding needs the next segment's start).
    closed: Vec<Segment>,
    /// End of the previous emitted segment (for padding overlap).
    last_emitted_end: usize,
}

impl<'m> VadStream<'m> {
    /// A fresh stream.
    pub fn new(model: &'m VadModel, params: VadParams) -> Self {
        Self {
            model,
            params,
            state: vec![0.0; 2 * 128],
            context: vec![0.0; CONTEXT],
            pending: Vec::new(),
            position: 0,
            triggered: false,
            speech_start: 0,
            temp_end: 0,
            prev_end: 0,
            next_start: 0,
            closed: Vec::new(),
            last_emitted_end: 0,
        }
    }

    /// Start of the earliest audio a future segment can still include (for trimming buffers).
    pub fn earliest_needed(&self) -> usize {
        let open = if self.triggered {
            self.speech_start
        } else {
            self.position
        };
        let closed = self.closed.first().map_or(open, |s| s.start);
        open.min(closed).saturating_sub(self.params.pad)
    }

    /// Feeds samples; returns the segments that are now final.
    pub fn push(&mut self, samples: &[f32]) -> Result<Vec<Segment>, EngineError> {
        self.pending.extend_from_slice(samples);
        let mut offset = 0;
        while self.pending.len() - offset >= WINDOW {
            let window: Vec<f32> = self.pending[offset..offset + WINDOW].to_vec();
            offset += WINDOW;
            let p = self.probability(&window)?;
            self.step(p);
        }
        self.pending.drain(..offset);
        Ok(self.emit(false))
    }

    /// Ends the stream; returns the remaining segments.
    pub fn finish(mut self, total_samples: usize) -> Result<Vec<Segment>, EngineError> {
        if !self.pending.is_empty() {
            let mut window = std::mem::take(&mut self.pending);
            window.resize(WINDOW, 0.0);
            let p = self.probability(&window)?;
            self.step(p);
        }
        if self.triggered
            && total_samples.saturating_sub(self.speech_start) > self.params.min_speech
        {
            self.closed
                .push(Segment::unpadded(self.speech_start, total_samples));
        }
        self.triggered = false;
        let mut out = self.emit(true);
        for s in &mut out {
            s.end = s.end.min(total_samples);
            s.speech_end = s.speech_end.min(total_samples);
        }
        Ok(out)
    }

    fn probability(&mut self, window: &[f32]) -> Result<f32, EngineError> {
        let mut input = Vec::with_capacity(CONTEXT + WINDOW);
        input.extend_from_slice(&self.context);
        input.extend_from_slice(window);
        self.context.copy_from_slice(&window[WINDOW - CONTEXT..]);
        let err = |e: ort::Error| EngineError::Inference(format!("vad: {e}"));
        let x = Tensor::from_array(([1usize, CONTEXT + WINDOW], input)).map_err(err)?;
        let state = Tensor::from_array(([2usize, 1, 128], self.state.clone())).map_err(err)?;
        let sr = Tensor::from_array(((), vec![RATE as i64])).map_err(err)?;
        let mut session = speechbatch_runtime::lock(&self.model.session);
        let out = session
            .run(ort::inputs!["input" => x, "state" => state, "sr" => sr])
            .map_err(err)?;
        let p = out["output"].try_extract_tensor::<f32>().map_err(err)?.1[0];
        self.state
            .copy_from_slice(out["stateN"].try_extract_tensor::<f32>().map_err(err)?.1);
        Ok(p)
    }

    /// silero's per-window state machine, for the window starting at `self.position`.
    fn step(&mut self, p: f32) {
        let params = self.params;
        let neg_threshold = params.threshold - 0.15;
        let here = self.position;
        self.position += WINDOW;
        let silence_at_max_speech = RATE * 98 / 1000;
        let max_speech = params.max_speech.saturating_sub(WINDOW + 2 * params.pad);
        if p >= params.threshold && self.temp_end != 0 {
            self.temp_end = 0;
            if self.next_start < self.prev_end {
                self.next_start = here;
            }
        }
        if p >= params.threshold && !self.triggered {
            self.triggered = true;
            self.speech_start = here;
            return;
        }
        if self.triggered && here - self.speech_start > max_speech {
            if self.prev_end != 0 {
                self.closed
                    .push(Segment::unpadded(self.speech_start, self.prev_end));
                if self.next_start < self.prev_end {
                    self.triggered = false;
                } else {
                    self.speech_start = self.next_start;
                }
            } else {
                self.closed.push(Segment::unpadded(self.speech_start, here));
                self.triggered = false;
            }
            self.prev_end = 0;
            self.next_start = 0;
            self.temp_end = 0;
            return;
        }
        if p < neg_threshold && self.triggered {
            if self.temp_end == 0 {
                self.temp_end = here;
            }
            if here - self.temp_end > silence_at_max_speech {
                self.prev_end = self.temp_end;
            }
            if here - self.temp_end < params.min_silence {
                return;
            }
            if self.temp_end - self.speech_start > params.min_speech {
                self.closed
                    .push(Segment::unpadded(self.speech_start, self.temp_end));
            }
            self.prev_end = 0;
            self.next_start = 0;
            self.temp_end = 0;
            self.triggered = false;
        }
    }

    /// Pads closed segments and releases those whose padding is settled: all but the last
    /// closed one, whose end padding depends on the next segment (unless the stream ended, or
    /// the gap since it is already wide enough).
    fn emit(&mut self, at_end: bool) -> Vec<Segment> {
        let pad = self.params.pad;
        let mut out = Vec::new();
        while !self.closed.is_empty() {
            let next_start = if self.closed.len() > 1 {
                Some(self.closed[1].start)
            } else if at_end
                || (!self.triggered && self.position >= self.closed[0].end + 2 * pad + WINDOW)
            {
                None
            } else {
                break;
            };
            let mut seg = self.closed.remove(0);
            // Start padding: silero halves short gaps between neighbours.
            let gap_before = seg.start.saturating_sub(self.last_emitted_end);
            seg.start = if self.last_emitted_end > 0 && gap_before < 2 * pad {
                seg.start - gap_before / 2
            } else {
                seg.start.saturating_sub(pad)
            };
            seg.end = match next_start {
                Some(n) if n.saturating_sub(seg.end) < 2 * pad => {
                    seg.end + n.saturating_sub(seg.end) / 2
                }
                _ => seg.end + pad,
            };
            self.last_emitted_end = seg.end;
            out.push(seg);
        }
        out
    }
}
