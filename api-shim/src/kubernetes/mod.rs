//! The Kubernetes backend: the REST contract mapped onto SpeechBatch resources in one
//! namespace (and custom language models onto LanguageModel resources, [`language_models`]).
//! The operator does the work; this backend only creates, reads, patches and deletes the
//! resources. Bucket credentials go into Secrets owned by their SpeechBatch (so they go with
//! it), never into its spec.

pub mod language_models;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use crds::language_model::batch_vocabulary_key;
use crds::resource::{
    BatchLanguageModel, BucketSpec, SecretKeyRef, SpeechBatch, SpeechBatchSpec, CREATED_ANNOTATION,
    DEFAULT_CREDENTIALS_KEY,
};
use crds::{BatchId, BatchJob, BucketSide, RecognitionParams, BATCH_LABEL};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::ByteString;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource};

use crate::backend::{Backend, BatchDetails, BucketRequest, CreateBatch};
use crate::customization::backend::NOT_SERVED;
use crate::error::ApiError;
use language_models::LanguageModelResources;

/// SpeechBatch resources in one namespace as the job store.
#[derive(Clone)]
pub struct Kubernetes {
    batches: Api<SpeechBatch>,
    secrets: Api<Secret>,
    /// The custom language models batches may name (none without a model store).
    models: Option<Arc<LanguageModelResources>>,
}

impl Kubernetes {
    /// A backend over `namespace`; batches may name the custom language models of `models`.
    pub fn new(
        client: Client,
        namespace: &str,
        models: Option<Arc<LanguageModelResources>>,
    ) -> Self {
        Self {
            batches: Api::namespaced(client.clone(), namespace),
            secrets: Api::namespaced(client, namespace),
            models,
        }
    }

    /// Every SpeechBatch not being deleted, as the console shows it, newest first (same-
    /// millisecond ties by id, so the order is stable).
    async fn current_batches(&self) -> Result<Vec<BatchDetails>, ApiError> {
        let list = self
            .batches
            .list(&ListParams::default())
            .await
            .map_err(|e| kube_error("cannot list SpeechBatches", e))?;
        let mut all: Vec<BatchDetails> = list
            .items
            .iter()
            .filter(|b| !is_deleting(b))
            .map(details_of)
            .collect();
        all.sort_by(|a, b| {
            b.job
                .created
                .cmp(&a.job.created)
                .then_with(|| a.job.batch_id.cmp(&b.job.batch_id))
        });
        Ok(all)
    }

    /// The batch's frozen copy of the vocabulary of the model it names, stored under the
    /// batch's key; `None` when it names none. 400 when the model cannot be used.
    async fn freeze_vocabulary(
        &self,
        id: &BatchId,
        request: &CreateBatch,
    ) -> Result<Option<BatchLanguageModel>, ApiError> {
        let Some(model) = &request.language_customization_id else {
            return Ok(None);
        };
        let Some(models) = &self.models else {
            return Err(ApiError::bad_request(format!(
                "language_customization_id cannot be used: {NOT_SERVED}"
            )));
        };
        let vocabulary = models.vocabulary_for(model, &request.params).await?;
        let key = batch_vocabulary_key(id.as_ref());
        models.put_vocabulary(&key, &vocabulary).await?;
        Ok(Some(BatchLanguageModel {
            customization_id: model.clone(),
            vocabulary_object: key,
        }))
    }
}

fn kube_error(context: &str, e: kube::Error) -> ApiError {
    ApiError::internal(context, e)
}

/// What the console shows of a SpeechBatch: its job, its options, its model, and what the
/// operator gathered in its status (the shards' audio, the analytics Job's summary).
fn details_of(b: &SpeechBatch) -> BatchDetails {
    BatchDetails {
        job: b.to_batch_job(),
        params: b.spec.recognition,
        language_customization_id: b
            .spec
            .language_model
            .as_ref()
            .map(|m| m.customization_id.clone()),
        audio_seconds: b
            .status
            .as_ref()
            .map_or(0.0, |s| s.audio_ms as f64 / 1000.0),
        analytics: b.status.as_ref().and_then(|s| s.analytics.clone()),
    }
}

/// A SpeechBatch being deleted (the operator's finalizer is stopping its Job) is already gone
/// for the REST API: the interface says a deleted job answers 404 at once.
fn is_deleting(batch: &SpeechBatch) -> bool {
    batch.metadata.deletion_timestamp.is_some()
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// The Secret holding one bucket's credentials file.
fn credentials_secret(batch: &BatchId, side: BucketSide, bucket: &BucketRequest) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(batch.credentials_secret_name(side)),
            labels: Some(BTreeMap::from([(
                BATCH_LABEL.to_string(),
                batch.label_value(),
            )])),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([(
            DEFAULT_CREDENTIALS_KEY.to_string(),
            ByteString(bucket.credentials.to_json()),
        )])),
        ..Default::default()
    }
}

fn bucket_spec(bucket: &BucketRequest, secret: &Secret) -> BucketSpec {
    BucketSpec {
        name: bucket.name.clone(),
        location: bucket.location.clone(),
        credentials_secret: SecretKeyRef {
            name: secret.metadata.name.clone().unwrap_or_default(),
            key: None,
        },
    }
}

/// The job as a client should see it right after `PUT ?action=cancel`: the operator applies the
/// cancel asynchronously, but the interface says the status becomes `canceled`.
fn canceled_view(mut job: BatchJob) -> BatchJob {
    job.status = job.status.after_cancel();
    job
}

#[async_trait]
impl Backend for Kubernetes {
    async fn create(&self, request: CreateBatch) -> Result<BatchJob, ApiError> {
        let id = BatchId::generate();
        let name = id.to_string();
        // The model is checked and its vocabulary frozen before anything else is stored: a job
        // refused for its model leaves nothing behind, and one created keeps what it started
        // with whatever happens to the model afterwards.
        let language_model = self.freeze_vocabulary(&id, &request).await?;
        let forget_vocabulary = || async {
            if let (Some(lm), Some(models)) = (&language_model, &self.models) {
                models.delete_vocabulary(&lm.vocabulary_object).await;
            }
        };
        // Secrets first, so that the operator never sees a SpeechBatch whose credentials are
        // missing; they get their owner reference once the SpeechBatch has a uid.
        let mut secrets = vec![credentials_secret(&id, BucketSide::Input, &request.input)];
        if let Some(out) = &request.output {
            secrets.push(credentials_secret(&id, BucketSide::Output, out));
        }
        for s in &secrets {
            if let Err(e) = self.secrets.create(&PostParams::default(), s).await {
                forget_vocabulary().await;
                return Err(kube_error("cannot store the credentials", e));
            }
        }
        let spec = SpeechBatchSpec {
            function: Default::default(),
            input: bucket_spec(&request.input, &secrets[0]),
            output: request.output.as_ref().map(|o| bucket_spec(o, &secrets[1])),
            recognition: request.params,
            cancel: false,
            parallelism: None,
            language_model: language_model.clone(),
        };
        let mut batch = SpeechBatch::new(&name, spec);
        batch.metadata.annotations = Some(BTreeMap::from([(
            CREATED_ANNOTATION.to_string(),
            crds::Timestamp::now().to_string(),
        )]));
        let created = match self.batches.create(&PostParams::default(), &batch).await {
            Ok(c) => c,
            Err(e) => {
                for s in &secrets {
                    let n = s.metadata.name.clone().unwrap_or_default();
                    let _ = self.secrets.delete(&n, &DeleteParams::default()).await;
                }
                forget_vocabulary().await;
                return Err(kube_error("cannot create the SpeechBatch", e));
            }
        };
        let owner = OwnerReference {
            api_version: SpeechBatch::api_version(&()).into_owned(),
            kind: SpeechBatch::kind(&()).into_owned(),
            name: name.clone(),
            uid: created.metadata.uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        let patch = serde_json::json!({ "metadata": { "ownerReferences": [owner] } });
        for s in &secrets {
            let n = s.metadata.name.clone().unwrap_or_default();
            self.secrets
                .patch(&n, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|e| kube_error("cannot link the credentials to the SpeechBatch", e))?;
        }
        Ok(created.to_batch_job())
    }

    async fn list(&self) -> Result<Vec<BatchJob>, ApiError> {
        Ok(self
            .current_batches()
            .await?
            .into_iter()
            .map(|d| d.job)
            .collect())
    }

    async fn get(&self, batch_id: &str) -> Result<BatchJob, ApiError> {
        match self.batches.get_opt(batch_id).await {
            Ok(Some(b)) if !is_deleting(&b) => Ok(b.to_batch_job()),
            Ok(_) => Err(ApiError::unknown_batch(batch_id)),
            Err(e) => Err(kube_error("cannot read the SpeechBatch", e)),
        }
    }

    async fn details(&self, batch_id: &str) -> Result<BatchDetails, ApiError> {
        match self.batches.get_opt(batch_id).await {
            Ok(Some(b)) if !is_deleting(&b) => Ok(details_of(&b)),
            Ok(_) => Err(ApiError::unknown_batch(batch_id)),
            Err(e) => Err(kube_error("cannot read the SpeechBatch", e)),
        }
    }

    /// One list call for every job's details (the console's dashboard polls this).
    async fn list_details(&self) -> Result<Vec<BatchDetails>, ApiError> {
        self.current_batches().await
    }

    async fn cancel(&self, batch_id: &str) -> Result<BatchJob, ApiError> {
        let job = self.get(batch_id).await?;
        if job.status.is_final() {
            return Ok(job);
        }
        let patch = serde_json::json!({ "spec": { "cancel": true } });
        let patched = self
            .batches
            .patch(batch_id, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| {
                if is_not_found(&e) {
                    ApiError::unknown_batch(batch_id)
                } else {
                    kube_error("cannot cancel the SpeechBatch", e)
                }
            })?;
        Ok(canceled_view(patched.to_batch_job()))
    }

    async fn delete(&self, batch_id: &str) -> Result<(), ApiError> {
        // The operator's finalizer stops the Job before the record goes; the Secrets go with
        // their owner; outputs are never touched. A batch already being deleted is gone.
        self.get(batch_id).await?;
        match self
            .batches
            .delete(batch_id, &DeleteParams::background())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Err(ApiError::unknown_batch(batch_id)),
            Err(e) => Err(kube_error("cannot delete the SpeechBatch", e)),
        }
    }

    /// The engine runs in the shard pods, not in this shim (its image links no engine), so a
    /// single file is refused with what to do instead.
    async fn recognize(
        &self,
        _audio: Vec<u8>,
        _name: &str,
        _params: RecognitionParams,
        _language_customization_id: Option<String>,
    ) -> Result<Vec<u8>, ApiError> {
        Err(ApiError::new(
            501,
            "POST /v1/recognize is not served by the Kubernetes backend, whose engine runs only in batch shard pods: put the file in a bucket and create a batch job",
        ))
    }
}
