//! The SpeechBatch custom resource: one batch job on Kubernetes. `spec` is what the user asked
//! for (buckets by Secret reference, never credentials); `status` carries the interface's job
//! fields, derived by the operator from `conditions`, and the shard plan as key ranges, so that
//! the object stays O(shards) whatever the number of files.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::analytics::AnalyticsSummary;
use crate::job::{BatchJob, BatchStatus, Timestamp};
use crate::params::RecognitionParams;
use crate::shard::{ShardCounts, ShardPlan};

/// API group of the SpeechBatch resource.
pub const GROUP: &str = "speechbatch.io";
/// API version of the SpeechBatch resource.
pub const VERSION: &str = "v1alpha1";
/// The key of a credentials Secret that holds the credentials file, unless the reference names
/// another.
pub const DEFAULT_CREDENTIALS_KEY: &str = "credentials.json";
/// The annotation where the REST shim records a batch's creation time to the millisecond, in the
/// interface's format: `creationTimestamp` has whole seconds only, so batches created in the same
/// second could not be listed newest first.
pub const CREATED_ANNOTATION: &str = "speechbatch.io/created";

/// A batch job: recognise every audio file of an input bucket and write one `.json` or
/// `.notice` per file to the output bucket.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "speechbatch.io",
    version = "v1alpha1",
    kind = "SpeechBatch",
    plural = "speechbatches",
    shortname = "sbatch",
    namespaced,
    status = "SpeechBatchStatus",
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.status"}"#,
    printcolumn = r#"{"name":"Total","type":"integer","jsonPath":".status.totalCount"}"#,
    printcolumn = r#"{"name":"Succeeded","type":"integer","jsonPath":".status.successfulCount"}"#,
    printcolumn = r#"{"name":"Failed","type":"integer","jsonPath":".status.failedCount"}"#,
    printcolumn = r#"{"name":"Progress","type":"number","jsonPath":".status.progress"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct SpeechBatchSpec {
    /// The operation; only `recognize` exists.
    #[serde(default)]
    pub function: Function,
    /// The bucket holding the audio files (read only).
    pub input: BucketSpec,
    /// A separate bucket for the results; when absent they go beside the inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<BucketSpec>,
    /// Recognition options applied to every file (the interface's defaults when absent).
    #[serde(default)]
    pub recognition: RecognitionParams,
    /// Set to true to cancel the job: no new file starts; files in flight may finish.
    #[serde(default)]
    pub cancel: bool,
    /// Shards processed at once (the Job's parallelism); the operator's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub parallelism: Option<i32>,
    /// The custom language model the job recognises with, frozen when the job was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_model: Option<BatchLanguageModel>,
}

/// The custom language model of a batch: the copy of its trained vocabulary the job uses (in
/// the model store), so that retraining the model never changes a job already created.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchLanguageModel {
    /// The model's id (the LanguageModel resource's name).
    #[schemars(length(min = 1))]
    pub customization_id: String,
    /// The key of the trained vocabulary in the model store: the job's own copy
    /// (`batches/<batch id>/vocabulary.json`, deleted with the batch), or a model's
    /// `status.trained.object`, which no later training overwrites.
    #[schemars(length(min = 1))]
    pub vocabulary_object: String,
}

/// The batch operation.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Function {
    /// Speech recognition.
    #[default]
    Recognize,
}

/// An S3-compatible bucket and where its credentials are.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BucketSpec {
    /// The bucket's name.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// The bucket's location, e.g. `us-geo` (also the signing region).
    #[schemars(length(min = 1))]
    pub location: String,
    /// The Secret in the SpeechBatch's namespace holding the credentials file (S3 HMAC or IBM
    /// Cloud IAM format, as the REST API takes it).
    pub credentials_secret: SecretKeyRef,
}

/// A key of a Secret in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// The Secret's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The key holding the credentials file (default `credentials.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl SecretKeyRef {
    /// The key to read.
    pub fn key(&self) -> &str {
        self.key.as_deref().unwrap_or(DEFAULT_CREDENTIALS_KEY)
    }
}

/// What the operator reports. The interface's fields are derived from `conditions`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpeechBatchStatus {
    /// The interface's status string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<BatchStatus>,
    /// Audio files found in the input bucket.
    #[serde(default)]
    pub total_count: u64,
    /// Files with a `.json` written by this job.
    #[serde(default)]
    pub successful_count: u64,
    /// Files with a `.notice` written by this job.
    #[serde(default)]
    pub failed_count: u64,
    /// 0.0 to 1.0.
    #[serde(default)]
    pub progress: f64,
    /// When the status last changed, in the interface's format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    /// When the job completed, in the interface's format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    /// Why the job failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Conditions (`Scanned`, `Admitted`, `Complete`, `Canceled`, `Failed`), keyed by type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The shard plan: key ranges, one per completion index of the Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<ShardPlan>,
    /// Counts of the finished shards, keyed by completion index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["index"]))]
    pub shards: Vec<ShardResult>,
    /// The Job running the shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// Milliseconds of audio recognised, summed over `shards` as the counts are. A shard pod
    /// that was retried reports only the audio of the files it processed itself (it cannot
    /// measure those an earlier try finished), so this is a lower bound after retries.
    #[serde(default)]
    pub audio_ms: u64,
    /// The batch's speech analytics in brief, as its analytics Job reported it
    /// (`speech_analytics` batches, once that Job succeeded; also for a canceled batch, whose
    /// analytics Job runs after the cancel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics: Option<AnalyticsSummary>,
}

/// The counts one shard reported when it finished.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShardResult {
    /// The completion index.
    pub index: u32,
    /// What the shard's pod reported.
    #[serde(flatten)]
    pub counts: ShardCounts,
}

impl SpeechBatch {
    /// The batch id: the resource's name (always a valid id, as the API server checks names).
    pub fn batch_id(&self) -> Result<crate::BatchId, crate::InvalidBatchId> {
        crate::BatchId::parse(self.metadata.name.as_deref().unwrap_or_default())
    }

    /// The job as the REST API shows it. The batch id is the resource's name; `created` is the
    /// [`CREATED_ANNOTATION`] when the REST shim made it, else the creation timestamp.
    pub fn to_batch_job(&self) -> BatchJob {
        let status = self.status.clone().unwrap_or_default();
        let created = created_at(&self.metadata);
        let parse = |s: &Option<String>| s.as_deref().and_then(Timestamp::parse);
        let state = status.status.unwrap_or(BatchStatus::Initializing);
        let output = self.spec.output.as_ref().unwrap_or(&self.spec.input);
        BatchJob {
            function: "recognize".into(),
            input_bucket_location: self.spec.input.location.clone(),
            input_bucket_name: self.spec.input.name.clone(),
            output_bucket_location: output.location.clone(),
            output_bucket_name: output.name.clone(),
            batch_id: self.metadata.name.clone().unwrap_or_default(),
            total_count: status.total_count,
            successful_count: status.successful_count,
            failed_count: status.failed_count,
            status: state,
            progress: status.progress,
            created,
            updated: parse(&status.updated).unwrap_or(created),
            finished: parse(&status.finished).filter(|_| state == BatchStatus::Completed),
            error_message: status
                .error_message
                .filter(|_| state == BatchStatus::Failed),
        }
    }
}

/// When a resource was created: its [`CREATED_ANNOTATION`] (milliseconds) when present, else
/// its creation timestamp (whole seconds), else now (a resource not stored yet).
pub(crate) fn created_at(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Timestamp {
    let annotated = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(CREATED_ANNOTATION))
        .and_then(|t| Timestamp::parse(t));
    annotated
        .or_else(|| {
            meta.creation_timestamp.as_ref().map(|t| {
                Timestamp(
                    chrono::DateTime::from_timestamp(
                        t.0.as_second(),
                        t.0.subsec_nanosecond() as u32,
                    )
                    .unwrap_or_default(),
                )
            })
        })
        .unwrap_or_else(Timestamp::now)
}

impl JsonSchema for BatchStatus {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "BatchStatus".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "enum": ["initializing", "waiting", "running", "completed", "canceled", "failed"]
        })
    }

    fn inline_schema() -> bool {
        true
    }
}

/// The CustomResourceDefinition as YAML, as `crdgen` prints it and the chart ships it.
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    serde_yaml::to_string(&SpeechBatch::crd()).expect("the CRD serializes")
}
