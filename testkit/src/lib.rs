//! Test support shared by the SpeechBatch crates, so that each suite runs from a fresh clone
//! with nothing beside it.
//!
//! - [`testdata`] finds a file of the repository's `testdata/` folder (the audio and references
//!   the suites decode, transcribe and diarize); [`read_testdata`] reads one.
//! - [`wav`] and [`wav_from_f32`] write 16-bit PCM WAV files of any rate and channel count.
//! - [`read_manifest`] reads the tab-separated manifests that list the test files.
//! - [`normalize_words`] and [`word_errors`] give the word error rate of a transcript;
//!   [`read_conversations`], [`join_word_labels`] and [`diarization_errors`] give the
//!   diarization error rate of speaker labels.
//! - [`wait_until`], [`wait_for`] and [`assert_stays`] poll an observable condition instead of
//!   sleeping for a fixed time and hoping it has happened (or has not).
//!
//! - `kube_mock` (feature `kube`): a mock Kubernetes API server for request-sequence tests.
//!
//! Nothing here is used by the service itself; it is a `[dev-dependencies]` entry only.

mod data;
mod der;
#[cfg(feature = "kube")]
pub mod kube_mock;
mod manifest;
pub mod nonspeech;
mod wait;
mod wav;
mod wer;

pub use data::{read_testdata, testdata, workspace_root};
pub use der::{
    diarization_errors, join_word_labels, read_conversations, speaker_count, Conversation,
    DiarizationErrors, Turn, WORD_LABEL_GAP_S,
};
pub use manifest::{read_manifest, Row};
pub use nonspeech::{non_speech_set, NonSpeech};
pub use wait::{assert_stays, wait_for, wait_until, POLL_INTERVAL};
pub use wav::{wav, wav_from_f32};
pub use wer::{normalize_words, word_errors, WordErrors};
