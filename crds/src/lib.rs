//! Contract types of the SpeechBatch service, shared by the engine, the REST shim, the embedded
//! job runner and the operator: the job JSON and its state machine, the recognition parameters,
//! the model names and the error body.

pub mod error_body;
pub mod job;
pub mod model;
pub mod params;

pub use error_body::ErrorBody;
pub use job::{progress, BatchJob, BatchStatus, JobList, Timestamp};
pub use model::{ModelName, UnknownModel};
pub use params::{ParamError, RecognitionParams};

#[cfg(feature = "kube")]
pub mod resource;
