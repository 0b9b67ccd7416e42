//! The embedded backend: one machine, no cluster. Job records live under a data directory and
//! survive restarts; a job's files run on a bounded pool of in-process workers sharing one
//! recognizer (the loaded engine in the service, a fake in tests).
//!
//! - `store`: the on-disk format (one JSON record per job, 0600 credentials files);
//! - `table`: the live records: reads never wait for the disk, changes are saved in order and
//!   published only once saved;
//! - `lifecycle`: the pure transitions of a record, all status changes checked against
//!   [`crds::BatchStatus::can_become`];
//! - `scan` (`initializing`: check the buckets, plan shards), `scheduler` (`waiting`: first
//!   come, first served, at most `max_running_jobs` running), `runner` (`running`: the
//!   shards on the worker pool), `buckets` (a job's buckets from its stored credentials);
//! - [`RetryPolicy`]: scans and shards that hit a storage error that may pass are retried,
//!   permanent ones fail the job (the one rule of `speechbatch_storage`);
//! - `custom_store`: the custom language models (`customizations/<id>/`), served through
//!   [`Embedded::language_models`]; a job that names one gets a copy of its trained vocabulary
//!   at creation (`store`), which the runner hands to the recognizer;
//! - this module: [`Embedded`], the [`Backend`] the REST API calls.
//!
//! Restarts: a job that was `initializing` scans again, a `waiting` one queues again, a
//! `running` one resumes its unfinished shards, recounting those it had started from the
//! outputs' batch-id metadata, so `successful_count + failed_count == total_count` holds exactly.
//! A custom language model found `training` or `upgrading` trains again, and a corpus found
//! `being_processed` is analysed again.

mod buckets;
mod custom_store;
mod lifecycle;
mod runner;
mod scan;
mod scheduler;
mod store;
mod table;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use crds::customization::Vocabulary;
use crds::{BatchId, BatchJob, BatchStatus, BucketSide, RecognitionParams, Timestamp};
use speechbatch_storage::StorageConfig;
use speechbatch_worker::Recognizer;
use tokio::sync::{watch, Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::{Backend, BatchDetails, CreateBatch};
use crate::customization::LanguageModels;
use crate::error::ApiError;
use custom_store::CustomStore;
pub use speechbatch_storage::RetryPolicy;
use store::{JobRecord, JobStore, StoreError};
use table::{Table, TableError, UpdateError};

/// Settings of the embedded backend.
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    /// Where job records and credentials live.
    pub data_dir: PathBuf,
    /// Jobs that may run at once; later ones wait (0 counts as 1).
    pub max_running_jobs: usize,
    /// Files processed at once across all jobs (0 counts as 1).
    pub workers: usize,
    /// Upper bound on shards per job (the record is O(shards)).
    pub max_shards: usize,
    /// How buckets are reached.
    pub storage: StorageConfig,
    /// What happens after a storage error that may pass.
    pub retry: RetryPolicy,
    /// Speech analytics, for jobs with `speech_analytics=true` (`None`: those jobs get a
    /// `.notice` per file saying the models are missing).
    pub analyzer: Option<Arc<speechbatch_analytics::Analyzer>>,
}

/// The embedded backend cannot start.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// The data directory cannot be opened or its records listed.
    #[error("cannot open the job store: {0}")]
    Store(#[from] StoreError),
}

/// The state every task of the backend shares.
struct Inner {
    cfg: EmbeddedConfig,
    /// Credentials and vocabulary files (records go through the table).
    store: JobStore,
    /// The custom language models.
    custom: Arc<CustomStore>,
    table: Table,
    recognizer: Arc<dyn Recognizer>,
    /// Files in flight across all jobs.
    slots: Semaphore,
    /// Fired by cancel, delete or failure; children of `shutdown`.
    stops: Mutex<HashMap<BatchId, CancellationToken>>,
    next_seq: AtomicU64,
    /// Wakes the scheduler when a job starts waiting or stops running.
    wake: Notify,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

/// The embedded backend. Clones share one state.
#[derive(Clone)]
pub struct Embedded {
    inner: Arc<Inner>,
}

impl Embedded {
    /// Opens the store, loads every record, resumes what was in progress and starts the
    /// scheduler, on the current Tokio runtime (called from within one). `shutdown` stops new
    /// work: no file starts after it, files in flight finish (see [`Embedded::drain`]).
    pub fn start(
        cfg: EmbeddedConfig,
        recognizer: Arc<dyn Recognizer>,
        shutdown: CancellationToken,
    ) -> Result<Self, EmbeddedError> {
        // Read once at start, before any request is served.
        let store = JobStore::open(&cfg.data_dir)?;
        let records = store.load_all()?;
        let (custom, unfinished) = CustomStore::open(&cfg.data_dir)?;
        let next_seq = records.iter().map(|(_, r)| r.seq + 1).max().unwrap_or(0);
        let stops = records
            .iter()
            .map(|(id, _)| (id.clone(), shutdown.child_token()))
            .collect();
        let resume: Vec<(BatchId, BatchStatus)> = records
            .iter()
            .map(|(id, r)| (id.clone(), r.job.status))
            .filter(|(_, s)| matches!(s, BatchStatus::Initializing | BatchStatus::Running))
            .collect();
        let inner = Arc::new(Inner {
            slots: Semaphore::new(cfg.workers.max(1)),
            table: Table::new(Arc::new(store.clone()), records),
            cfg,
            store,
            custom,
            recognizer,
            stops: Mutex::new(stops),
            next_seq: AtomicU64::new(next_seq),
            wake: Notify::new(),
            shutdown,
            tasks: TaskTracker::new(),
        });
        for (id, status) in resume {
            tracing::info!(batch_id = %id, %status, "resuming job after restart");
            let i = inner.clone();
            match status {
                BatchStatus::Initializing => inner.tasks.spawn(scan::initialize(i, id)),
                _ => inner.tasks.spawn(runner::run_job(i, id)),
            };
        }
        inner.custom.resume(unfinished);
        inner.tasks.spawn(scheduler::run(inner.clone()));
        Ok(Self { inner })
    }

    /// Waits until every task has stopped after shutdown: files in flight finish and their
    /// counts are saved; unfinished jobs resume at the next start.
    pub async fn drain(&self) {
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }

    /// The custom language models this backend keeps, for `/v1/customizations`.
    pub fn language_models(&self) -> Arc<dyn LanguageModels> {
        Arc::new(self.inner.custom.clone())
    }

    /// A receiver whose value changes each time a job record changes (after it is saved): for
    /// waiting on a job's state without polling.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.table.subscribe()
    }
}

impl Inner {
    fn stop_token(&self, id: &BatchId) -> Option<CancellationToken> {
        self.stops
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Stops the job's tasks and fails it with `message` (unless it is final already). A
    /// failure the data directory will not take (full, read-only) is saved again and again, at
    /// most 30 s apart, until it is or the service stops: until then the job stays as the
    /// disk has it (`running`), since a status is told to clients only once it is saved.
    async fn fail(&self, id: &BatchId, message: String) {
        if let Some(t) = self.stop_token(id) {
            t.cancel();
        }
        let mut delay = Duration::from_secs(1);
        loop {
            let change = {
                let message = message.clone();
                move |r: &mut _| lifecycle::failed(r, message, Timestamp::now())
            };
            match self.table.update(id, change).await {
                Ok(_) => {
                    tracing::warn!(batch_id = %id, error = %message, "job failed");
                    break;
                }
                Err(UpdateError::Table(error)) => {
                    tracing::error!(
                        batch_id = %id,
                        %error,
                        reason = %message,
                        retry_in_s = delay.as_secs(),
                        "cannot save the failure of a job; trying again"
                    );
                    tokio::select! {
                        _ = self.shutdown.cancelled() => break,
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
                Err(error) => {
                    tracing::debug!(batch_id = %id, %error, reason = %message, "failure not recorded");
                    break;
                }
            }
        }
        self.wake.notify_one();
    }

    /// Saves a request's credentials files (blocking I/O, off the async threads).
    async fn save_credentials(&self, id: &BatchId, request: &CreateBatch) -> Result<(), ApiError> {
        let store = self.store.clone();
        let id = id.clone();
        let input = request.input.credentials.clone();
        let output = request.output.as_ref().map(|o| o.credentials.clone());
        let saved = tokio::task::spawn_blocking(move || {
            store.save_credentials(&id, BucketSide::Input, &input)?;
            if let Some(output) = output {
                store.save_credentials(&id, BucketSide::Output, &output)?;
            }
            Ok::<_, StoreError>(())
        })
        .await;
        match saved {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ApiError::internal("cannot store the credentials", e)),
            Err(e) => Err(ApiError::internal("cannot store the credentials", e)),
        }
    }

    /// Saves the copy of a custom language model a job recognises with (blocking I/O, off the
    /// async threads).
    async fn save_vocabulary(&self, id: &BatchId, vocabulary: Vocabulary) -> Result<(), ApiError> {
        let store = self.store.clone();
        let id = id.clone();
        match tokio::task::spawn_blocking(move || store.save_vocabulary(&id, &vocabulary)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ApiError::internal(
                "cannot store the custom language model",
                e,
            )),
            Err(e) => Err(ApiError::internal(
                "cannot store the custom language model",
                e,
            )),
        }
    }
}

/// The batch id of a path, or 404: a string that is no batch id names no job.
fn known_id(batch_id: &str) -> Result<BatchId, ApiError> {
    BatchId::parse(batch_id).map_err(|_| ApiError::unknown_batch(batch_id))
}

fn save_failed(e: TableError) -> ApiError {
    ApiError::internal("cannot store the job record", e)
}

impl Embedded {
    /// Every job record, newest first (creation order, which same-millisecond jobs share).
    fn newest_first(&self) -> Vec<Arc<JobRecord>> {
        let mut records = self.inner.table.records();
        records.sort_by_key(|(_, r)| std::cmp::Reverse(r.seq));
        records.into_iter().map(|(_, r)| r).collect()
    }
}

/// What the console shows of a job record (never its credentials, which are not in it).
fn details_of(record: &JobRecord) -> BatchDetails {
    BatchDetails {
        job: record.job.clone(),
        params: record.params,
        language_customization_id: record.language_customization_id.clone(),
        audio_seconds: record.counts().audio_seconds(),
        analytics: record.analytics.clone(),
    }
}

#[async_trait]
impl Backend for Embedded {
    async fn create(&self, request: CreateBatch) -> Result<BatchJob, ApiError> {
        let inner = &self.inner;
        if inner.shutdown.is_cancelled() {
            return Err(ApiError::new(
                503,
                "The service is shutting down; retry shortly",
            ));
        }
        // The model is checked and its vocabulary copied before anything is stored: a job
        // that cannot use it is refused, not failed later.
        let vocabulary = match &request.language_customization_id {
            Some(model) => Some(inner.custom.vocabulary_for(model, &request.params).await?),
            None => None,
        };
        let id = BatchId::generate();
        let seq = inner.next_seq.fetch_add(1, Ordering::SeqCst);
        let record = lifecycle::created(&id, &request, seq, Timestamp::now());
        let job = record.job.clone();
        inner.save_credentials(&id, &request).await?;
        if let Some(vocabulary) = vocabulary {
            inner.save_vocabulary(&id, vocabulary).await?;
        }
        inner
            .stops
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.clone(), inner.shutdown.child_token());
        inner
            .table
            .insert(id.clone(), record)
            .await
            .map_err(save_failed)?;
        inner.tasks.spawn(scan::initialize(inner.clone(), id));
        Ok(job)
    }

    async fn list(&self) -> Result<Vec<BatchJob>, ApiError> {
        Ok(self.newest_first().iter().map(|r| r.job.clone()).collect())
    }

    async fn get(&self, batch_id: &str) -> Result<BatchJob, ApiError> {
        let id = known_id(batch_id)?;
        self.inner
            .table
            .get(&id)
            .map(|r| r.job.clone())
            .ok_or_else(|| ApiError::unknown_batch(batch_id))
    }

    async fn details(&self, batch_id: &str) -> Result<BatchDetails, ApiError> {
        let id = known_id(batch_id)?;
        let record = self
            .inner
            .table
            .get(&id)
            .ok_or_else(|| ApiError::unknown_batch(batch_id))?;
        Ok(details_of(&record))
    }

    /// Every record at once, from the table in memory.
    async fn list_details(&self) -> Result<Vec<BatchDetails>, ApiError> {
        Ok(self.newest_first().iter().map(|r| details_of(r)).collect())
    }

    async fn cancel(&self, batch_id: &str) -> Result<BatchJob, ApiError> {
        let inner = &self.inner;
        let id = known_id(batch_id)?;
        let current = inner
            .table
            .get(&id)
            .ok_or_else(|| ApiError::unknown_batch(batch_id))?;
        // A finished job is returned as it is: not even `updated` moves.
        if current.job.status.is_final() {
            return Ok(current.job.clone());
        }
        // Stop first: from here no file starts and a scan in progress is dropped, even before
        // the canceled status is saved.
        if let Some(stop) = inner.stop_token(&id) {
            stop.cancel();
        }
        let result = inner
            .table
            .update(&id, |r| lifecycle::canceled(r, Timestamp::now()))
            .await;
        inner.wake.notify_one();
        match result {
            Ok((_, r)) => Ok(r.job.clone()),
            // It finished (completed or failed) meanwhile: returned as it is.
            Err(UpdateError::Refused(_)) => inner
                .table
                .get(&id)
                .map(|r| r.job.clone())
                .ok_or_else(|| ApiError::unknown_batch(batch_id)),
            Err(UpdateError::Gone) => Err(ApiError::unknown_batch(batch_id)),
            Err(UpdateError::Table(e)) => Err(save_failed(e)),
        }
    }

    async fn delete(&self, batch_id: &str) -> Result<(), ApiError> {
        let inner = &self.inner;
        let id = known_id(batch_id)?;
        if inner.table.get(&id).is_none() {
            return Err(ApiError::unknown_batch(batch_id));
        }
        // An active job stops first: no new file starts; files in flight may still finish and
        // write their outputs, which stay, as every output does.
        if let Some(stop) = inner.stop_token(&id) {
            stop.cancel();
        }
        let removed = inner
            .table
            .remove(&id)
            .await
            .map_err(|e| ApiError::internal("cannot remove the job record", e))?;
        inner
            .stops
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        inner.wake.notify_one();
        match removed {
            Some(_) => Ok(()),
            None => Err(ApiError::unknown_batch(batch_id)),
        }
    }

    /// On one of the file slots the batches use, so that single requests and batches together
    /// never run more files at once than `workers`.
    async fn recognize(
        &self,
        audio: Vec<u8>,
        name: &str,
        params: RecognitionParams,
        language_customization_id: Option<String>,
    ) -> Result<Vec<u8>, ApiError> {
        let inner = self.inner.clone();
        let vocabulary = match &language_customization_id {
            Some(model) => Some(inner.custom.vocabulary_for(model, &params).await?),
            None => None,
        };
        let _slot = tokio::select! {
            permit = inner.slots.acquire() => permit.expect("the file-slot semaphore is never closed"),
            () = inner.shutdown.cancelled() => {
                return Err(ApiError::new(503, "The service is shutting down: send the request again once it is back"));
            }
        };
        let recognizer = inner.recognizer.clone();
        let name = name.to_string();
        let outcome = tokio::task::spawn_blocking(move || {
            recognizer.recognize(audio, &name, &params, vocabulary.as_ref())
        })
        .await;
        match outcome {
            Ok(Ok(recognized)) => Ok(recognized.json),
            Ok(Err(body)) => Err(ApiError::new(body.code, body.error)),
            Err(e) => Err(ApiError::internal("the engine failed on this file", e)),
        }
    }
}
