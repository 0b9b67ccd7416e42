//! What the worker needs from a speech engine: one audio file and the batch's options in, the
//! `.json` body (with the audio's length) or the `.notice` error body out. The real engine implements it; the embedded
//! backend's tests use a fake, so that lifecycle tests run in milliseconds without models.

use crds::customization::Vocabulary;
use crds::{ErrorBody, RecognitionParams};
use transcriber::Engine;

/// A recognised file: its `.json` body and what the body does not say.
#[derive(Debug, Clone, PartialEq)]
pub struct Recognized {
    /// The `<key>.json` body.
    pub json: Vec<u8>,
    /// The length of the audio recognised, in seconds (the engine's decoded length; the JSON
    /// does not carry it), for the job's audio total.
    pub audio_seconds: f64,
}

/// Recognises one file. Synchronous and CPU-bound: the worker calls it on a blocking thread.
pub trait Recognizer: Send + Sync + 'static {
    /// The file's `<key>.json` body with its audio length, or the error body of its
    /// `<key>.notice`. `name` is the object key (used to recognise raw G.729, which has no
    /// header, and in messages). `vocabulary` is the batch's custom language model, if it
    /// names one.
    fn recognize(
        &self,
        audio: Vec<u8>,
        name: &str,
        params: &RecognitionParams,
        vocabulary: Option<&Vocabulary>,
    ) -> Result<Recognized, ErrorBody>;
}

impl Recognizer for Engine {
    fn recognize(
        &self,
        audio: Vec<u8>,
        name: &str,
        params: &RecognitionParams,
        vocabulary: Option<&Vocabulary>,
    ) -> Result<Recognized, ErrorBody> {
        match Engine::recognize_with(self, audio, Some(name), params, vocabulary) {
            Ok(results) => Ok(Recognized {
                json: serde_json::to_vec_pretty(&results).expect("recognition results serialize"),
                audio_seconds: results.audio_seconds,
            }),
            Err(e) => Err(e.to_error_body()),
        }
    }
}
