//! Speaker diarization for SpeechBatch: which speaker said each word.
//!
//! The engine decodes audio to 16 kHz mono, finds speech spans with voice-activity detection and
//! pushes each span into a [`Diarizer`] as it goes. Each span is cut into 1.5 s windows every 0.75 s,
//! and each window is embedded with GE2E (resemblyzer 0.1.4's 3-layer LSTM speaker encoder,
//! converted to ONNX by `setup/convert_speaker_model.py`) over a 40-band power mel spectrogram
//! ([`mel`]). [`Diarizer::finish`] clusters the windows (normalised average linkage with an automatic
//! stop, then centroid refinement, see [`ClusterConfig`]) into a [`SpeakerTimeline`], and
//! [`SpeakerTimeline::label_words`] gives the interface's `speaker_labels[]` for the words the
//! recogniser found.
//!
//! Limits, as measured (see `examples/diar_eval.rs`): GE2E places one person's voice from two
//! synthesisers (Festival's HTS slt and Flite's slt) as close as two halves of one recording, so
//! such a pair comes out as one speaker; telephone-band audio brings all voices closer together,
//! so two alike voices on a telephone line are the likeliest to be merged or a voice split.
//!
//! ```no_run
//! use std::sync::Arc;
//! use speechbatch_diarize::{default_model_path, Diarizer, SpeakerEncoder, DEFAULT_INTRA_THREADS};
//!
//! # fn main() -> Result<(), speechbatch_diarize::DiarizeError> {
//! let encoder = Arc::new(SpeakerEncoder::load(&default_model_path(), DEFAULT_INTRA_THREADS)?);
//! let mut diarizer = Diarizer::new(encoder);
//! let span = vec![0.0f32; 32_000]; // 2 s of speech starting at 3.0 s
//! diarizer.push_span(&span, 3.0)?;
//! let labels = diarizer.finish().label_words(&[(3.1, 3.4), (3.5, 3.9)]);
//! # Ok(())
//! # }
//! ```

mod ahc;
pub mod baseline;
mod config;
mod diarizer;
mod encoder;
mod error;
mod layout;
pub mod mel;
mod model_path;
mod refine;
mod span;
mod timeline;
mod windows;

pub use config::ClusterConfig;
pub use diarizer::Diarizer;
pub use encoder::{SpeakerEncoder, SpeakerWindow, DEFAULT_INTRA_THREADS, EMBEDDING_DIM};
pub use error::DiarizeError;
pub use model_path::{default_model_path, MODEL_FILE};
pub use span::BandEnergy;
pub use timeline::{SpeakerLabel, SpeakerTimeline, TimelineSegment};
pub use windows::WindowConfig;
