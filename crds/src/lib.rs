//! The SpeechBatch contract: the one home of every concept more than one crate uses. The job
//! JSON and its state machine, the recognition options, the model names, the error body, the
//! batch id and the names derived from it, the shard plan and shard counts, the
//! operator ⇄ shard contract, and (feature `kube`) the SpeechBatch custom resource.

pub mod analytics;
pub mod batch_id;
pub mod customization;
pub mod error_body;
pub mod job;
pub mod model;
pub mod params;
pub mod shard;

pub use batch_id::{BatchId, BucketSide, InvalidBatchId, BATCH_LABEL};
pub use error_body::{shown, ErrorBody};
pub use job::{progress, BatchJob, BatchStatus, JobList, Timestamp};
pub use model::{ModelInfo, ModelList, ModelName, SupportedFeatures, UnknownModel};
pub use params::{ParamError, RecognitionParams, SplitChannels};
pub use shard::{FileOutcome, FinishedFile, ShardCounts, ShardExit, ShardPlan, ShardRange};

#[cfg(feature = "kube")]
pub mod language_model;
#[cfg(feature = "kube")]
pub mod resource;
