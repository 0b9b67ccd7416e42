//! Contract types of the SpeechBatch service, shared by the engine, the REST shim and the operator.
//!
//! Only what is already used lives here: the error body that the REST API returns and that a
//! `.notice` file holds. The SpeechBatch custom resource and the job JSON arrive with their issues.

pub mod error_body;

pub use error_body::ErrorBody;
