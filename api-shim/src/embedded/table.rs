//! The live table of job records and its persistence.
//!
//! Reads ([`Table::get`], [`Table::records`]) take a read lock on the published map for the
//! time of an `Arc` clone: they never wait for the disk. Changes ([`Table::update`],
//! [`Table::insert`], [`Table::remove`]) run on a blocking thread, one at a time under the
//! writer lock: clone the published record, apply a pure transition of
//! [`super::lifecycle`], save the copy, and only then publish it. Hence:
//!
//! - records reach the disk in the order they changed (one writer at a time, each change starts
//!   from the last published record, which is the last saved one);
//! - what a client reads has been saved: a final status is on disk before any client is told
//!   it, and a refused or unsaved change is never seen;
//! - a caller that stops waiting (a task aborted, a runtime shut down) cannot cut a change in
//!   half: the blocking thread finishes the save and the publication, and the next change
//!   waits for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crds::BatchId;
use tokio::sync::watch;

use super::lifecycle::Refused;
use super::store::{JobRecord, JobStore, StoreError};

/// Where the table's records are kept. [`JobStore`] in the service; tests substitute one that
/// can hold a save.
pub trait Persist: Send + Sync + 'static {
    /// Saves a record durably (blocking).
    fn save(&self, record: &JobRecord) -> Result<(), StoreError>;
    /// Removes a job's files (blocking).
    fn remove(&self, id: &BatchId) -> Result<(), StoreError>;
}

impl Persist for JobStore {
    fn save(&self, record: &JobRecord) -> Result<(), StoreError> {
        JobStore::save(self, record)
    }

    fn remove(&self, id: &BatchId) -> Result<(), StoreError> {
        JobStore::remove(self, id)
    }
}

/// A change of the table could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The record could not be written or removed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blocking thread of the change panicked or its runtime is shutting down.
    #[error("the change of the job record did not finish: {0}")]
    Interrupted(#[from] tokio::task::JoinError),
    /// A job with this id is already in the table.
    #[error("a job {0} exists already")]
    Exists(BatchId),
}

impl TableError {
    /// This error as a job's `error_message` tells it (see [`StoreError::job_message`]).
    pub fn job_message(&self) -> String {
        match self {
            Self::Store(e) => e.job_message(),
            other => other.to_string(),
        }
    }
}

/// Why [`Table::update`] changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The job was deleted.
    #[error("the job was deleted")]
    Gone,
    /// The transition refused the change.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The change could not be saved; the published record is unchanged.
    #[error(transparent)]
    Table(#[from] TableError),
}

/// The job records, as published to readers. Clones share one table.
#[derive(Clone)]
pub struct Table {
    shared: Arc<Shared>,
}

struct Shared {
    persist: Arc<dyn Persist>,
    /// Held for the whole of a change (apply, save, publish): one change at a time.
    writer: Mutex<()>,
    published: RwLock<HashMap<BatchId, Arc<JobRecord>>>,
    /// Counts publications; receivers wake after each one.
    changes: watch::Sender<u64>,
}

impl Table {
    /// A table of `records` (already on disk) that saves through `persist`.
    pub fn new(
        persist: Arc<dyn Persist>,
        records: impl IntoIterator<Item = (BatchId, JobRecord)>,
    ) -> Self {
        let published = records
            .into_iter()
            .map(|(id, r)| (id, Arc::new(r)))
            .collect();
        Self {
            shared: Arc::new(Shared {
                persist,
                writer: Mutex::new(()),
                published: RwLock::new(published),
                changes: watch::channel(0).0,
            }),
        }
    }

    /// The published record of a job.
    pub fn get(&self, id: &BatchId) -> Option<Arc<JobRecord>> {
        self.shared.get(id)
    }

    /// Every published record with its id, in no particular order.
    pub fn records(&self) -> Vec<(BatchId, Arc<JobRecord>)> {
        read(&self.shared.published)
            .iter()
            .map(|(id, r)| (id.clone(), r.clone()))
            .collect()
    }

    /// A receiver whose value changes after every publication (for waiting on a job's state).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }

    /// Saves and publishes a new job's record.
    pub async fn insert(&self, id: BatchId, record: JobRecord) -> Result<(), TableError> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let _writer = lock(&shared.writer);
            if shared.get(&id).is_some() {
                return Err(TableError::Exists(id));
            }
            shared.persist.save(&record)?;
            shared.publish(id, Arc::new(record));
            Ok(())
        })
        .await?
    }

    /// Applies `change` to a copy of the job's record, saves the copy and publishes it; returns
    /// what `change` returned and the new record. Nothing is saved or published when the job is
    /// gone, `change` refuses, or the save fails.
    pub async fn update<T: Send + 'static>(
        &self,
        id: &BatchId,
        change: impl FnOnce(&mut JobRecord) -> Result<T, Refused> + Send + 'static,
    ) -> Result<(T, Arc<JobRecord>), UpdateError> {
        let shared = self.shared.clone();
        let id = id.clone();
        tokio::task::spawn_blocking(move || {
            let _writer = lock(&shared.writer);
            let current = shared.get(&id).ok_or(UpdateError::Gone)?;
            let mut next = JobRecord::clone(&current);
            let out = change(&mut next)?;
            shared.persist.save(&next).map_err(TableError::from)?;
            let next = Arc::new(next);
            shared.publish(id, next.clone());
            Ok((out, next))
        })
        .await
        .map_err(TableError::from)?
    }

    /// Removes a job's files, then its record; returns the record it had (`None`: no such job).
    pub async fn remove(&self, id: &BatchId) -> Result<Option<Arc<JobRecord>>, TableError> {
        let shared = self.shared.clone();
        let id = id.clone();
        tokio::task::spawn_blocking(move || {
            let _writer = lock(&shared.writer);
            if shared.get(&id).is_none() {
                return Ok(None);
            }
            shared.persist.remove(&id)?;
            let removed = write(&shared.published).remove(&id);
            shared.changes.send_modify(|n| *n += 1);
            Ok(removed)
        })
        .await?
    }
}

impl Shared {
    fn get(&self, id: &BatchId) -> Option<Arc<JobRecord>> {
        read(&self.published).get(id).cloned()
    }

    fn publish(&self, id: BatchId, record: Arc<JobRecord>) {
        write(&self.published).insert(id, record);
        self.changes.send_modify(|n| *n += 1);
    }
}

// A panic while a lock is held cannot leave the map half-changed (each critical section is one
// insert, remove or clone), so a poisoned lock is used as it is.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

fn lock<T>(lock: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use crds::{BatchStatus, FileOutcome, FinishedFile, ShardPlan, Timestamp};

    use super::*;
    use crate::embedded::lifecycle;

    /// Keeps every saved record in memory; a save can be held until the test lets it go.
    #[derive(Default)]
    struct Recorder {
        saved: Mutex<Vec<JobRecord>>,
        removed: Mutex<Vec<BatchId>>,
        /// When set, each save reports it began and waits for one message.
        hold: Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
        fail: std::sync::atomic::AtomicBool,
    }

    impl Persist for Recorder {
        fn save(&self, record: &JobRecord) -> Result<(), StoreError> {
            if let Some((began, proceed)) = &*lock(&self.hold) {
                began.send(()).unwrap();
                proceed.recv().unwrap();
            }
            if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(StoreError::Write {
                    path: "jobs/x.json".into(),
                    source: std::io::Error::other("disk full"),
                });
            }
            lock(&self.saved).push(record.clone());
            Ok(())
        }

        fn remove(&self, id: &BatchId) -> Result<(), StoreError> {
            lock(&self.removed).push(id.clone());
            Ok(())
        }
    }

    fn id() -> BatchId {
        BatchId::parse("job-1").unwrap()
    }

    fn record(status: BatchStatus) -> JobRecord {
        let mut r: JobRecord = serde_json::from_value(serde_json::json!({
            "job": {
                "function": "recognize", "input_bucket_location": "us-geo",
                "input_bucket_name": "in", "output_bucket_location": "us-geo",
                "output_bucket_name": "in", "batch_id": "job-1", "total_count": 0,
                "successful_count": 0, "failed_count": 0, "status": "initializing",
                "progress": 0.0, "created": "2027-01-15T08:00:00.000+0000",
                "updated": "2027-01-15T08:00:00.000+0000"
            },
            "seq": 0, "params": {}, "separate_output": false
        }))
        .unwrap();
        let now = Timestamp::now();
        if status != BatchStatus::Initializing {
            let plan = ShardPlan {
                total: 100,
                bounds: vec!["k".into()],
                sizes: vec![100],
            };
            lifecycle::scanned(&mut r, plan, now).unwrap();
            lifecycle::admitted(&mut r, now).unwrap();
            lifecycle::shard_started(&mut r, 0, now).unwrap();
        }
        if status == BatchStatus::Completed {
            lifecycle::shard_done(&mut r, 0, now).unwrap();
            lifecycle::completed(&mut r, now).unwrap();
        }
        r
    }

    fn table(status: BatchStatus) -> (Table, Arc<Recorder>) {
        let recorder = Arc::new(Recorder::default());
        let table = Table::new(recorder.clone(), [(id(), record(status))]);
        (table, recorder)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_final_status_is_published_only_once_its_save_finished_and_reads_never_wait_for_the_disk(
    ) {
        let (table, recorder) = table(BatchStatus::Running);
        let (began_tx, began) = mpsc::channel();
        let (proceed, proceed_rx) = mpsc::channel();
        *lock(&recorder.hold) = Some((began_tx, proceed_rx));
        let update = tokio::spawn({
            let table = table.clone();
            async move {
                table
                    .update(&id(), |r| lifecycle::canceled(r, Timestamp::now()))
                    .await
            }
        });
        tokio::task::spawn_blocking(move || began.recv().unwrap())
            .await
            .unwrap();
        // The save is held: readers still see the running job, at once.
        assert_eq!(table.get(&id()).unwrap().job.status, BatchStatus::Running);
        assert_eq!(table.records()[0].1.job.status, BatchStatus::Running);
        proceed.send(()).unwrap();
        let (_, published) = update.await.unwrap().unwrap();
        assert_eq!(published.job.status, BatchStatus::Canceled);
        assert_eq!(table.get(&id()).unwrap(), published);
        assert_eq!(lock(&recorder.saved).last(), Some(&*published));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_changes_reach_the_disk_one_after_another_in_the_order_they_were_made() {
        let (table, recorder) = table(BatchStatus::Running);
        let updates: Vec<_> = (0..40)
            .map(|_| {
                let table = table.clone();
                tokio::spawn(async move {
                    table
                        .update(&id(), |r| {
                            lifecycle::file_finished(
                                r,
                                0,
                                FinishedFile::counted(FileOutcome::Succeeded),
                                Timestamp::now(),
                            )
                        })
                        .await
                        .map(drop)
                })
            })
            .collect();
        for u in updates {
            u.await.unwrap().unwrap();
        }
        let counts: Vec<u64> = lock(&recorder.saved)
            .iter()
            .map(|r| r.job.successful_count)
            .collect();
        assert_eq!(counts, (1..=40).collect::<Vec<_>>());
        assert_eq!(table.get(&id()).unwrap().job.successful_count, 40);
    }

    #[tokio::test]
    async fn a_refused_change_is_neither_saved_nor_published() {
        let (table, recorder) = table(BatchStatus::Completed);
        let changes = table.subscribe();
        let before = table.get(&id()).unwrap();
        let result = table
            .update(&id(), |r| lifecycle::canceled(r, Timestamp::now()))
            .await;
        assert!(matches!(result, Err(UpdateError::Refused(_))), "{result:?}");
        assert!(lock(&recorder.saved).is_empty());
        assert_eq!(table.get(&id()).unwrap(), before);
        assert!(!changes.has_changed().unwrap());
    }

    #[tokio::test]
    async fn a_change_that_cannot_be_saved_is_not_published() {
        let (table, recorder) = table(BatchStatus::Running);
        recorder
            .fail
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let result = table
            .update(&id(), |r| lifecycle::canceled(r, Timestamp::now()))
            .await;
        assert!(
            matches!(result, Err(UpdateError::Table(TableError::Store(_)))),
            "{result:?}"
        );
        assert_eq!(table.get(&id()).unwrap().job.status, BatchStatus::Running);
    }

    #[tokio::test]
    async fn a_removed_job_is_gone_from_disk_and_table_and_takes_no_later_change() {
        let (table, recorder) = table(BatchStatus::Running);
        let removed = table.remove(&id()).await.unwrap();
        assert_eq!(removed.unwrap().job.batch_id, "job-1");
        assert_eq!(*lock(&recorder.removed), [id()]);
        assert!(table.get(&id()).is_none());
        let result = table
            .update(&id(), |r| lifecycle::canceled(r, Timestamp::now()))
            .await;
        assert!(matches!(result, Err(UpdateError::Gone)), "{result:?}");
        assert!(lock(&recorder.saved).is_empty());
        assert!(table.remove(&id()).await.unwrap().is_none());
        let again = table.insert(id(), record(BatchStatus::Initializing)).await;
        assert!(again.is_ok(), "{again:?}");
        let twice = table.insert(id(), record(BatchStatus::Initializing)).await;
        assert!(matches!(twice, Err(TableError::Exists(_))), "{twice:?}");
    }
}
