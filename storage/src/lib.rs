//! S3-compatible buckets for SpeechBatch: the interface's two credentials formats (HMAC and IBM
//! Cloud IAM), bucket access with classified, user-facing errors, streamed listing of inputs,
//! shard planning in bounded memory, output naming and writing, the retry rule after errors
//! that may pass ([`RetryPolicy`]), and (feature `embedded-s3`) an embedded S3 server over a
//! local folder. With the `testing` feature, the module `testing` holds test support shared
//! with the api-shim's tests (SeaweedFS, an IAM stand-in).

#![warn(missing_docs)]

mod bucket;
#[cfg(feature = "cli")]
mod cli;
mod credentials;
#[cfg(feature = "embedded-s3")]
pub mod embedded_s3;
pub mod endpoint;
mod error;
mod iam;
mod keys;
pub mod retry;
mod shard;
#[cfg(feature = "testing")]
pub mod testing;

use futures::TryStreamExt;

pub use bucket::{
    check_bucket_location, check_bucket_name, Bucket, InputObject, StorageConfig,
    BATCH_ID_METADATA, DEFAULT_IAM_TOKEN_URL, MAX_LOCATION_LEN,
};
#[cfg(feature = "cli")]
pub use cli::{ModelStoreArgs, StorageArgs};
pub use crds::ShardPlan;
pub use credentials::{Credentials, CredentialsError, HmacCredentials, IamCredentials};
pub use endpoint::{AllowEntry, EndpointPolicy};
pub use error::{StorageError, StorageErrorKind};
pub use keys::{
    input_key_problem, is_input_key, is_output_key, key_problem, output_key, KeyProblem,
    OutputKind, ANALYTICS_ARCHIVES, MAX_KEY_BYTES, MAX_KEY_SEGMENT_BYTES,
};
pub use retry::{RetryPolicy, Retryable};
pub use shard::ShardPlanner;

/// Scans the whole bucket once, streaming, and plans at most `max_shards` balanced shards.
pub async fn plan_shards(bucket: &Bucket, max_shards: usize) -> Result<ShardPlan, StorageError> {
    let mut planner = ShardPlanner::new(max_shards);
    let mut inputs = bucket.list_inputs(None, None);
    while let Some(obj) = inputs.try_next().await? {
        planner.push(&obj.key);
    }
    Ok(planner.finish())
}
