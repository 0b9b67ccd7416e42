//! A job's buckets, reached with the credentials stored for it.

use crds::{BatchId, BucketSide};
use speechbatch_storage::{Bucket, Retryable, StorageConfig, StorageError};

use super::store::{JobRecord, JobStore, StoreError};

/// The input bucket and where outputs go (the input bucket again when the request named no
/// output bucket).
pub struct Buckets {
    /// Where inputs are read.
    pub input: Bucket,
    /// Where outputs are written.
    pub output: Bucket,
}

/// The buckets of a job cannot be reached; the message becomes the job's `error_message`.
#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    /// The stored credentials file cannot be used.
    #[error(transparent)]
    Credentials(#[from] StoreError),
    /// The bucket refused or could not be reached.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Reading the credentials file did not finish (the runtime is shutting down).
    #[error("reading the job's credentials did not finish: {0}")]
    Interrupted(#[from] tokio::task::JoinError),
}

impl Retryable for BucketError {
    fn storage_error(&mut self) -> Option<&mut StorageError> {
        match self {
            Self::Storage(e) => Some(e),
            _ => None,
        }
    }
}

/// Connects to the job's buckets (no network I/O yet for HMAC credentials).
pub async fn connect(
    store: &JobStore,
    id: &BatchId,
    record: &JobRecord,
    cfg: &StorageConfig,
) -> Result<Buckets, BucketError> {
    let job = &record.job;
    let creds = load_credentials(store, id, BucketSide::Input).await?;
    let input = Bucket::connect(
        &creds,
        &job.input_bucket_name,
        &job.input_bucket_location,
        cfg,
    )
    .await?;
    let output = if record.separate_output {
        let creds = load_credentials(store, id, BucketSide::Output).await?;
        Bucket::connect(
            &creds,
            &job.output_bucket_name,
            &job.output_bucket_location,
            cfg,
        )
        .await?
    } else {
        input.clone()
    };
    Ok(Buckets { input, output })
}

async fn load_credentials(
    store: &JobStore,
    id: &BatchId,
    side: BucketSide,
) -> Result<speechbatch_storage::Credentials, BucketError> {
    let (store, id) = (store.clone(), id.clone());
    Ok(tokio::task::spawn_blocking(move || store.load_credentials(&id, side)).await??)
}
