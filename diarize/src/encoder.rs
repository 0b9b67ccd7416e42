//! The speaker encoder: GE2E (resemblyzer 0.1.4, converted by `setup/convert_speaker_model.py`) on
//! ONNX Runtime, applied to windows of a speech span.

use std::path::Path;
use std::sync::Mutex;

use ort::session::Session;
use ort::value::TensorRef;

use crate::error::DiarizeError;
use crate::mel::{MelFrontEnd, FRAMES_PER_SECOND, N_MELS, SAMPLE_RATE};
use crate::span::{level_gain, BandEnergy, FrameLevels};
use crate::windows::WindowConfig;

/// Size of a speaker embedding.
pub const EMBEDDING_DIM: usize = 256;
/// Intra-op threads the engine gives the encoder unless configured otherwise.
pub const DEFAULT_INTRA_THREADS: usize = 2;
/// Most windows sent to the model in one run: bounds the batch tensor (64 × 150 × 40 floats).
const MAX_BATCH: usize = 64;

/// One embedded window of speech.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeakerWindow {
    /// Start time in seconds from the start of the recording.
    pub start: f64,
    /// End time in seconds.
    pub end: f64,
    /// GE2E speaker embedding: 256 non-negative values, L2-normalised.
    pub embedding: Vec<f32>,
}

/// Everything the diarizer keeps of one speech span: its windows and the pauses inside it.
#[derive(Debug, Clone)]
pub(crate) struct SpanAnalysis {
    pub windows: Vec<SpeakerWindow>,
    pub pauses: Vec<(f64, f64)>,
    pub band: BandEnergy,
}

/// Loads the speaker model once; `Send + Sync`, share it with `Arc` across workers.
///
/// ONNX Runtime sessions are safe to run from several threads, but `ort` asks for exclusive access
/// to run one, so runs are serialised by a mutex. Each run is a batch of windows taking a few
/// milliseconds, so contention stays small next to transcription.
pub struct SpeakerEncoder {
    session: Mutex<Session>,
    mel: MelFrontEnd,
    windows: WindowConfig,
}

impl std::fmt::Debug for SpeakerEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeakerEncoder")
            .field("windows", &self.windows)
            .finish_non_exhaustive()
    }
}

impl SpeakerEncoder {
    /// Loads `model_path` (the `speaker-ge2e.onnx` that the set-up converts) with `intra_threads`
    /// threads per run, in the process's one ONNX Runtime environment (`speechbatch-runtime`, shared
    /// with the Whisper engine and the VAD).
    pub fn load(model_path: &Path, intra_threads: usize) -> Result<Self, DiarizeError> {
        if !model_path.is_file() {
            return Err(DiarizeError::ModelMissing(model_path.to_path_buf()));
        }
        let session = speechbatch_runtime::session(model_path, intra_threads.max(1))
            .map_err(DiarizeError::Load)?;
        Ok(Self {
            session: Mutex::new(session),
            mel: MelFrontEnd::new(),
            windows: WindowConfig::default(),
        })
    }

    /// Uses other window lengths and hops than the default 1.5 s / 0.75 s.
    pub fn with_windows(mut self, windows: WindowConfig) -> Self {
        self.windows = windows;
        self
    }

    /// The window plan in use.
    pub fn windows(&self) -> WindowConfig {
        self.windows
    }

    /// Embeddings for windows of one speech span (16 kHz mono): 1.5 s windows every 0.75 s by
    /// default, one window for spans no longer than that, each with its absolute times.
    pub fn embed_span(
        &self,
        samples: &[f32],
        span_start_s: f64,
    ) -> Result<Vec<SpeakerWindow>, DiarizeError> {
        Ok(self.analyse_span(samples, span_start_s)?.windows)
    }

    /// Embeds a span and measures its pauses and band energy from the same spectrogram.
    pub(crate) fn analyse_span(
        &self,
        samples: &[f32],
        span_start_s: f64,
    ) -> Result<SpanAnalysis, DiarizeError> {
        if samples.iter().any(|x| !x.is_finite()) {
            return Err(DiarizeError::NonFinite(span_start_s));
        }
        let span_end = span_start_s + samples.len() as f64 / SAMPLE_RATE as f64;
        let mel = self.mel.compute(samples, level_gain(samples));
        let mut band = BandEnergy::default();
        band.add_mel(&mel);
        let levels = FrameLevels::new(&mel);
        let pauses = levels.pauses(span_start_s);
        // Windows cover the whole span, padding included: trimming quiet frames off the ends was
        // tried and lost speaker counts on telephone mixtures (GE2E's training partials also
        // carry short silences).
        let plan = self.windows.plan(mel.len() / N_MELS);
        let mut windows: Vec<SpeakerWindow> = plan
            .iter()
            .map(|&(a, b)| SpeakerWindow {
                start: span_start_s + a as f64 / FRAMES_PER_SECOND,
                end: (span_start_s + b as f64 / FRAMES_PER_SECOND).min(span_end),
                embedding: Vec::new(),
            })
            .collect();
        // Windows of one span share a length except a lone short one, so batches are uniform.
        for (chunk_plan, chunk_windows) in plan.chunks(MAX_BATCH).zip(windows.chunks_mut(MAX_BATCH))
        {
            let frames = chunk_plan[0].1 - chunk_plan[0].0;
            let mut batch = Vec::with_capacity(chunk_plan.len() * frames * N_MELS);
            for &(a, b) in chunk_plan {
                batch.extend_from_slice(&mel[a * N_MELS..b * N_MELS]);
            }
            let embeds = self.run(&batch, chunk_plan.len(), frames)?;
            for (w, e) in chunk_windows
                .iter_mut()
                .zip(embeds.chunks_exact(EMBEDDING_DIM))
            {
                w.embedding = e.to_vec();
            }
        }
        Ok(SpanAnalysis {
            windows,
            pauses,
            band,
        })
    }

    /// Runs the model on `batch` windows of `frames` frames each (`[batch][frames][40]`).
    fn run(&self, mels: &[f32], batch: usize, frames: usize) -> Result<Vec<f32>, DiarizeError> {
        let input = TensorRef::from_array_view(([batch, frames, N_MELS], mels))?;
        // A poisoned lock only means another thread panicked mid-run; the session itself is intact.
        let mut session = speechbatch_runtime::lock(&self.session);
        let outputs = session.run(ort::inputs!["mels" => input])?;
        let (shape, data) = outputs["embeds"].try_extract_tensor::<f32>()?;
        if shape.len() != 2 || shape[0] as usize != batch || shape[1] as usize != EMBEDDING_DIM {
            return Err(DiarizeError::BadOutput {
                got: shape.to_vec(),
                batch,
                dim: EMBEDDING_DIM,
            });
        }
        Ok(data.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoder_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<SpeakerEncoder>();
        assert_send_sync::<std::sync::Arc<SpeakerEncoder>>();
    }
}
