//! What the REST layer needs from a way of running batches. The embedded backend (local job
//! store, in-process workers) implements it; the Kubernetes backend maps it onto SpeechBatch
//! resources.

use async_trait::async_trait;
use crds::analytics::AnalyticsSummary;
use crds::{BatchJob, RecognitionParams};
use speechbatch_storage::Credentials;

use crate::error::ApiError;

/// One bucket of a create request.
#[derive(Debug, Clone)]
pub struct BucketRequest {
    /// The bucket's name.
    pub name: String,
    /// The bucket's location as the user gave it (e.g. `us-geo`).
    pub location: String,
    /// The credentials file's content (its `Debug` redacts the secrets).
    pub credentials: Credentials,
}

/// A validated `POST /v1/batches?function=recognize`.
#[derive(Debug, Clone)]
pub struct CreateBatch {
    /// Where the audio is.
    pub input: BucketRequest,
    /// Where results go; `None` writes them beside the inputs.
    pub output: Option<BucketRequest>,
    /// Recognition options for every file.
    pub params: RecognitionParams,
    /// The custom language model every file is recognised with (`language_customization_id`):
    /// the backend checks that it exists, is trained and fits `params.model`.
    pub language_customization_id: Option<String>,
}

/// Everything about a job the admin console's job page shows: the REST API's job and what the
/// job was created with. Nothing here is secret: credentials never leave the backend.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BatchDetails {
    /// The job as `GET /v1/batches/{id}` shows it.
    pub job: BatchJob,
    /// Its recognition options.
    pub params: RecognitionParams,
    /// The custom language model it recognises with, if any.
    pub language_customization_id: Option<String>,
    /// Seconds of audio in the files it recognised so far.
    pub audio_seconds: f64,
    /// Its speech analytics in brief, once the analytics stage finished.
    pub analytics: Option<AnalyticsSummary>,
}

/// A way of running batch jobs behind the REST API.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Records a new job (status `initializing`) and starts scanning its input bucket.
    async fn create(&self, request: CreateBatch) -> Result<BatchJob, ApiError>;
    /// Every job, newest first.
    async fn list(&self) -> Result<Vec<BatchJob>, ApiError>;
    /// One job, or 404.
    async fn get(&self, batch_id: &str) -> Result<BatchJob, ApiError>;
    /// One job with its options and results in brief (the admin console's job page), or 404.
    async fn details(&self, batch_id: &str) -> Result<BatchDetails, ApiError>;
    /// Every job with its details, newest first (the admin console's dashboard), read at once.
    async fn list_details(&self) -> Result<Vec<BatchDetails>, ApiError>;
    /// Cancels a pending or active job; finished jobs are returned unchanged.
    async fn cancel(&self, batch_id: &str) -> Result<BatchJob, ApiError>;
    /// Removes the job's record, canceling it first if it is active. Outputs stay.
    async fn delete(&self, batch_id: &str) -> Result<(), ApiError>;
    /// Recognises one audio file sent with the request (`POST /v1/recognize`): the body of the
    /// `.json` a batch would write for it, or the error its `.notice` would hold. `name` stands
    /// in for an object key (it tells raw G.729 apart); `language_customization_id` names a
    /// custom language model as it does for a batch.
    async fn recognize(
        &self,
        audio: Vec<u8>,
        name: &str,
        params: RecognitionParams,
        language_customization_id: Option<String>,
    ) -> Result<Vec<u8>, ApiError>;
}
