//! The embedded backend: one machine, no cluster. Job records live under a data directory and
//! survive restarts; a job's files run on a bounded pool of in-process workers sharing one
//! loaded engine.
//!
//! Lifecycle: `create` stores the record (`initializing`) and scans the input bucket into a shard
//! plan; the scheduler admits `waiting` jobs first come, first served while fewer than
//! `max_running_jobs` run; a running job processes its shards with `transcriber::batch`. Counts
//! are kept per shard, so that after a crash the unfinished shards are recounted from the outputs'
//! batch-id metadata: every input is counted exactly once.

pub mod store;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use crds::{progress, BatchJob, BatchStatus, Timestamp};
use speechbatch_storage::{plan_shards, Bucket, Credentials, StorageConfig};
use speechbatch_worker::{run_shard, BatchFiles, Recognizer, ShardEnd};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::{Backend, CreateBatch};
use crate::error::ApiError;
use store::{JobRecord, JobStore, ShardProgress, Side};

/// Settings of the embedded backend.
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    /// Where job records and credentials live.
    pub data_dir: PathBuf,
    /// Jobs that may run at once; later ones wait.
    pub max_running_jobs: usize,
    /// Files processed at once across all jobs.
    pub workers: usize,
    /// Upper bound on shards per job (the record is O(shards)).
    pub max_shards: usize,
    /// How buckets are reached.
    pub storage: StorageConfig,
}

struct Live {
    record: JobRecord,
    /// Fired by cancel, delete or shutdown (a child of the service's shutdown token).
    stop: CancellationToken,
}

struct Inner {
    cfg: EmbeddedConfig,
    store: JobStore,
    recognizer: Arc<dyn Recognizer>,
    /// Files in flight across all jobs.
    slots: Semaphore,
    jobs: Mutex<HashMap<String, Live>>,
    next_seq: Mutex<u64>,
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
    /// scheduler. `shutdown` stops new work (files in flight finish; see [`Embedded::drain`]).
    pub fn start(
        cfg: EmbeddedConfig,
        recognizer: Arc<dyn Recognizer>,
        shutdown: CancellationToken,
    ) -> std::io::Result<Self> {
        let store = JobStore::open(&cfg.data_dir)?;
        let records = store.load_all()?;
        let next_seq = records.iter().map(|r| r.seq + 1).max().unwrap_or(0);
        let inner = Arc::new(Inner {
            slots: Semaphore::new(cfg.workers.max(1)),
            cfg,
            store,
            recognizer,
            jobs: Mutex::new(HashMap::new()),
            next_seq: Mutex::new(next_seq),
            wake: Notify::new(),
            shutdown,
            tasks: TaskTracker::new(),
        });
        let mut resume = Vec::new();
        {
            let mut jobs = inner.jobs.lock().expect("job map lock");
            for record in records {
                let id = record.job.batch_id.clone();
                match record.job.status {
                    BatchStatus::Initializing | BatchStatus::Running => {
                        resume.push((id.clone(), record.job.status))
                    }
                    _ => {}
                }
                let stop = inner.shutdown.child_token();
                jobs.insert(id, Live { record, stop });
            }
        }
        for (id, status) in resume {
            tracing::info!(batch_id = %id, %status, "resuming job after restart");
            let i = inner.clone();
            match status {
                BatchStatus::Initializing => inner.tasks.spawn(initialize(i, id)),
                _ => inner.tasks.spawn(run_job(i, id)),
            };
        }
        inner.tasks.spawn(schedule(inner.clone()));
        Ok(Self { inner })
    }

    /// Waits until every task has stopped after shutdown: files in flight finish and their
    /// counts are saved; unfinished jobs resume at the next start.
    pub async fn drain(&self) {
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }
}

impl Inner {
    /// Applies `f` to a job's record and saves it. `None` when the job is gone (deleted).
    fn update<T>(&self, id: &str, f: impl FnOnce(&mut JobRecord) -> T) -> Option<T> {
        let mut jobs = self.jobs.lock().expect("job map lock");
        let live = jobs.get_mut(id)?;
        let out = f(&mut live.record);
        live.record.job.updated = Timestamp::now();
        // Saved under the lock so that records reach the disk in the order they changed.
        if let Err(e) = self.store.save(&live.record) {
            tracing::error!(batch_id = %id, error = %e, "cannot save job record");
        }
        Some(out)
    }

    fn fail(&self, id: &str, message: String) {
        tracing::warn!(batch_id = %id, error = %message, "job failed");
        self.update(id, |r| {
            if r.job.status.can_become(BatchStatus::Failed) {
                r.job.status = BatchStatus::Failed;
                r.job.error_message = Some(message);
            }
        });
        if let Some(t) = self.stop_token(id) {
            t.cancel();
        }
        self.wake.notify_one();
    }

    fn stop_token(&self, id: &str) -> Option<CancellationToken> {
        self.jobs
            .lock()
            .expect("job map lock")
            .get(id)
            .map(|l| l.stop.clone())
    }

    /// Connects to the job's input and output buckets.
    async fn buckets(&self, id: &str) -> Result<(Bucket, Bucket, JobRecord), String> {
        let record = self
            .jobs
            .lock()
            .expect("job map lock")
            .get(id)
            .map(|l| l.record.clone())
            .ok_or_else(|| "the job was deleted".to_string())?;
        let storage = &self.cfg.storage;
        let creds = self.store.load_credentials(id, Side::Input)?;
        let input = Bucket::connect(
            &creds,
            &record.job.input_bucket_name,
            &record.job.input_bucket_location,
            storage,
        )
        .await
        .map_err(|e| e.message)?;
        let output = if record.separate_output {
            let creds = self.store.load_credentials(id, Side::Output)?;
            Bucket::connect(
                &creds,
                &record.job.output_bucket_name,
                &record.job.output_bucket_location,
                storage,
            )
            .await
            .map_err(|e| e.message)?
        } else {
            input.clone()
        };
        Ok((input, output, record))
    }
}

/// `initializing`: checks both buckets and scans the input into a shard plan.
async fn initialize(inner: Arc<Inner>, id: String) {
    let Some(stop) = inner.stop_token(&id) else {
        return;
    };
    let scan = async {
        let (input, output, record) = inner.buckets(&id).await?;
        input.check_access().await.map_err(|e| e.message)?;
        if record.separate_output {
            output.check_access().await.map_err(|e| e.message)?;
        }
        plan_shards(&input, inner.cfg.max_shards)
            .await
            .map_err(|e| e.message)
    };
    let planned = tokio::select! {
        planned = scan => planned,
        // Canceled or deleted: nothing to do. Shutdown: the scan reruns at the next start.
        _ = stop.cancelled() => return,
    };
    match planned {
        Ok(plan) => {
            let total = plan.total;
            inner.update(&id, |r| {
                if r.job.status != BatchStatus::Initializing {
                    return;
                }
                r.job.total_count = total;
                r.shards = vec![ShardProgress::default(); plan.len()];
                r.plan = Some(plan);
                if total == 0 {
                    r.job.status = BatchStatus::Completed;
                    r.job.progress = 1.0;
                    r.job.finished = Some(Timestamp::now());
                } else {
                    r.job.status = BatchStatus::Waiting;
                }
            });
            tracing::info!(batch_id = %id, total, "input bucket scanned");
            inner.wake.notify_one();
        }
        Err(message) => inner.fail(&id, message),
    }
}

/// Admits waiting jobs, oldest first, while fewer than `max_running_jobs` run.
async fn schedule(inner: Arc<Inner>) {
    loop {
        let admitted: Vec<String> = {
            let mut jobs = inner.jobs.lock().expect("job map lock");
            let running = jobs
                .values()
                .filter(|l| l.record.job.status == BatchStatus::Running)
                .count();
            let mut waiting: Vec<(u64, String)> = jobs
                .values()
                .filter(|l| l.record.job.status == BatchStatus::Waiting)
                .map(|l| (l.record.seq, l.record.job.batch_id.clone()))
                .collect();
            waiting.sort();
            let free = inner.cfg.max_running_jobs.max(1).saturating_sub(running);
            let admitted: Vec<String> = waiting.into_iter().take(free).map(|(_, id)| id).collect();
            for id in &admitted {
                let live = jobs.get_mut(id).expect("listed above");
                live.record.job.status = BatchStatus::Running;
                live.record.job.updated = Timestamp::now();
                if let Err(e) = inner.store.save(&live.record) {
                    tracing::error!(batch_id = %id, error = %e, "cannot save job record");
                }
            }
            admitted
        };
        for id in admitted {
            tracing::info!(batch_id = %id, "job admitted");
            inner.tasks.spawn(run_job(inner.clone(), id));
        }
        tokio::select! {
            _ = inner.wake.notified() => {}
            _ = inner.shutdown.cancelled() => return,
        }
    }
}

/// `running`: processes every unfinished shard, `workers` shards at a time.
async fn run_job(inner: Arc<Inner>, id: String) {
    let Some(stop) = inner.stop_token(&id) else {
        return;
    };
    let (input, output, record) = match inner.buckets(&id).await {
        Ok(b) => b,
        Err(message) => return inner.fail(&id, message),
    };
    let Some(plan) = record.plan.clone() else {
        return inner.fail(&id, "the job has no shard plan (internal error)".into());
    };
    let Ok(batch_id) = crds::BatchId::parse(&id) else {
        return inner.fail(&id, format!("'{id}' is not a batch id (internal error)"));
    };
    let files = BatchFiles {
        batch_id,
        input,
        output,
        params: record.params,
    };
    let pending: Vec<usize> = (0..plan.len())
        .filter(|&i| !record.shards[i].done)
        .collect();
    let parallel = Arc::new(Semaphore::new(inner.cfg.workers.max(1)));
    let mut shards = tokio::task::JoinSet::new();
    for i in pending {
        let (inner, id, files, stop, parallel) = (
            inner.clone(),
            id.clone(),
            files.clone(),
            stop.clone(),
            parallel.clone(),
        );
        let range = plan.shard_range(i);
        shards.spawn(async move {
            let _turn = tokio::select! {
                p = parallel.acquire_owned() => p.expect("never closed"),
                _ = stop.cancelled() => return Ok(ShardEnd::Stopped),
            };
            // A shard that was started before (a restart) is recounted from its outputs.
            let resume = inner
                .update(&id, |r| {
                    let s = &mut r.shards[i];
                    let resume = s.started;
                    if resume {
                        *s = ShardProgress {
                            started: true,
                            ..Default::default()
                        };
                        r.recount();
                    }
                    r.shards[i].started = true;
                    resume
                })
                .unwrap_or(false);
            let on_file = |_key: String, outcome| {
                inner.update(&id, |r| {
                    r.shards[i].add(outcome);
                    r.recount();
                    let done = r.job.successful_count + r.job.failed_count;
                    if r.job.status == BatchStatus::Running {
                        r.job.progress = progress(r.job.status, done, r.job.total_count);
                    }
                });
                async {}
            };
            let (_, end) = run_shard(
                &inner.recognizer,
                &files,
                &range,
                resume,
                &inner.slots,
                &stop,
                on_file,
            )
            .await?;
            if end == ShardEnd::Complete {
                inner.update(&id, |r| r.shards[i].done = true);
            }
            Ok::<_, speechbatch_storage::StorageError>(end)
        });
    }
    while let Some(joined) = shards.join_next().await {
        match joined {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                shards.abort_all();
                return inner.fail(&id, e.message);
            }
            Err(e) if e.is_panic() => {
                shards.abort_all();
                return inner.fail(&id, "a worker failed unexpectedly (internal error)".into());
            }
            Err(_) => {}
        }
    }
    inner.update(&id, |r| {
        if r.job.status == BatchStatus::Running && r.shards.iter().all(|s| s.done) {
            r.job.status = BatchStatus::Completed;
            r.job.progress = 1.0;
            r.job.finished = Some(Timestamp::now());
            tracing::info!(
                batch_id = %r.job.batch_id,
                successful = r.job.successful_count,
                failed = r.job.failed_count,
                "job completed"
            );
        }
    });
    inner.wake.notify_one();
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
        let id = uuid::Uuid::new_v4().to_string();
        let now = Timestamp::now();
        let output = request.output.as_ref().unwrap_or(&request.input);
        let job = BatchJob {
            function: "recognize".into(),
            input_bucket_location: request.input.location.clone(),
            input_bucket_name: request.input.name.clone(),
            output_bucket_location: output.location.clone(),
            output_bucket_name: output.name.clone(),
            batch_id: id.clone(),
            total_count: 0,
            successful_count: 0,
            failed_count: 0,
            status: BatchStatus::Initializing,
            progress: 0.0,
            created: now,
            updated: now,
            finished: None,
            error_message: None,
        };
        let seq = {
            let mut next = inner.next_seq.lock().expect("seq lock");
            *next += 1;
            *next - 1
        };
        let record = JobRecord {
            job: job.clone(),
            seq,
            params: request.params,
            separate_output: request.output.is_some(),
            plan: None,
            shards: Vec::new(),
        };
        let save = |side, creds: &Credentials| {
            inner
                .store
                .save_credentials(&id, side, creds)
                .map_err(|e| ApiError::internal("cannot store the credentials", e))
        };
        save(Side::Input, &request.input.credentials)?;
        if let Some(out) = &request.output {
            save(Side::Output, &out.credentials)?;
        }
        inner
            .store
            .save(&record)
            .map_err(|e| ApiError::internal("cannot store the job record", e))?;
        inner.jobs.lock().expect("job map lock").insert(
            id.clone(),
            Live {
                record,
                stop: inner.shutdown.child_token(),
            },
        );
        inner.tasks.spawn(initialize(inner.clone(), id));
        Ok(job)
    }

    async fn list(&self) -> Result<Vec<BatchJob>, ApiError> {
        let jobs = self.inner.jobs.lock().expect("job map lock");
        let mut all: Vec<(u64, BatchJob)> = jobs
            .values()
            .map(|l| (l.record.seq, l.record.job.clone()))
            .collect();
        all.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
        Ok(all.into_iter().map(|(_, j)| j).collect())
    }

    async fn get(&self, batch_id: &str) -> Result<BatchJob, ApiError> {
        self.inner
            .jobs
            .lock()
            .expect("job map lock")
            .get(batch_id)
            .map(|l| l.record.job.clone())
            .ok_or_else(|| ApiError::unknown_batch(batch_id))
    }

    async fn cancel(&self, batch_id: &str) -> Result<BatchJob, ApiError> {
        let inner = &self.inner;
        let mut jobs = inner.jobs.lock().expect("job map lock");
        let live = jobs
            .get_mut(batch_id)
            .ok_or_else(|| ApiError::unknown_batch(batch_id))?;
        // A finished job is returned as it is: not even `updated` moves.
        if !live.record.job.status.is_final() {
            live.record.job.status = live.record.job.status.after_cancel();
            live.record.job.updated = Timestamp::now();
            if let Err(e) = inner.store.save(&live.record) {
                tracing::error!(batch_id = %batch_id, error = %e, "cannot save job record");
            }
            live.stop.cancel();
            inner.wake.notify_one();
        }
        Ok(live.record.job.clone())
    }

    async fn delete(&self, batch_id: &str) -> Result<(), ApiError> {
        let inner = &self.inner;
        let live = inner
            .jobs
            .lock()
            .expect("job map lock")
            .remove(batch_id)
            .ok_or_else(|| ApiError::unknown_batch(batch_id))?;
        // An active job stops first: no new file starts; files in flight may still finish and
        // write their outputs, which stay, as every output does.
        live.stop.cancel();
        inner
            .store
            .remove(batch_id)
            .map_err(|e| ApiError::internal("cannot remove the job record", e))?;
        inner.wake.notify_one();
        Ok(())
    }
}
