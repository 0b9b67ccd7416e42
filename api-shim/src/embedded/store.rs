//! The embedded backend's records on local disk: one small JSON file per job (O(shards), never
//! O(files)), replaced atomically, and the job's bucket credentials in 0600 files beside them.
//!
//! The format is what earlier releases wrote, so that a data directory survives an upgrade:
//! `jobs/<id>.json` holds a [`JobRecord`] (`job`, `seq`, `params`, `separate_output`, `plan`,
//! `shards` of `{successful, failed, done, started}`), `credentials/<id>.<side>.json` the
//! credentials file of the request. Fields added since are optional, absent from older
//! records and omitted while empty: `language_customization_id`, `analytics`, and a shard's
//! `audio_ms`. A job that names a custom language model has its own copy of the model's
//! trained [`Vocabulary`] in `jobs/<id>.vocabulary.json` (0600), written once at creation:
//! beside the record, not in it, because the record is rewritten after every file and the
//! vocabulary may hold 90,000 words.
//!
//! Everything here blocks on the file system: callers on async threads go through
//! `tokio::task::spawn_blocking` (see [`super::table`]).

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crds::analytics::AnalyticsSummary;
use crds::customization::Vocabulary;
use crds::{BatchId, BatchJob, BucketSide, InvalidBatchId, RecognitionParams, ShardCounts};
use serde::{Deserialize, Serialize};
use speechbatch_storage::{Credentials, CredentialsError, ShardPlan};

/// Progress of one shard of a job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardProgress {
    /// Files this job finished in the shard and their audio (`successful`, `failed` and, when
    /// not 0, `audio_ms` on disk).
    #[serde(flatten)]
    pub counts: ShardCounts,
    /// Every file of the shard is finished.
    pub done: bool,
    /// Work on the shard began; after a restart its files are recounted from the outputs.
    pub started: bool,
}

/// Everything the embedded backend keeps about a job, except its credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The job as the REST API shows it.
    pub job: BatchJob,
    /// Creation order: jobs start first come, first served.
    pub seq: u64,
    /// Recognition options for every file.
    pub params: RecognitionParams,
    /// Whether results go to a separate output bucket (with its own credentials file).
    pub separate_output: bool,
    /// The shard plan, once the input bucket is scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<ShardPlan>,
    /// Progress of each shard of the plan.
    #[serde(default)]
    pub shards: Vec<ShardProgress>,
    /// The custom language model the job was created with (`language_customization_id`), for
    /// the admin console: the job recognises with its own copy of the model's vocabulary,
    /// which does not say which model it came from once the model is gone. Records of releases
    /// that did not keep it have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_customization_id: Option<String>,
    /// The job's speech analytics in brief, once its analytics stage ran
    /// (`speech_analytics=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics: Option<AnalyticsSummary>,
}

impl JobRecord {
    /// The job's id, checked (it names the record's files).
    pub fn batch_id(&self) -> Result<BatchId, InvalidBatchId> {
        BatchId::parse(&self.job.batch_id)
    }

    /// Files finished so far, over all shards, and their audio.
    pub fn counts(&self) -> ShardCounts {
        self.shards.iter().map(|s| s.counts).sum()
    }

    /// Recomputes the job's counts from its shards.
    pub fn recount(&mut self) {
        let counts = self.counts();
        self.job.successful_count = counts.successful;
        self.job.failed_count = counts.failed;
    }
}

/// A file of the data directory could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A folder of the data directory cannot be created.
    #[error("cannot create the folder {}: {source}", path.display())]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The folder of job records cannot be listed.
    #[error("cannot list the job records in {}: {source}", path.display())]
    List {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A record or credentials file cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A record or credentials file cannot be removed.
    #[error("cannot remove {}: {source}", path.display())]
    Remove {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A job's credentials file cannot be read (this message becomes the job's error message).
    #[error("the job's {} credentials file is unreadable: {source}", side.as_str())]
    ReadCredentials {
        /// Which bucket's.
        side: BucketSide,
        /// Why.
        source: io::Error,
    },
    /// A job's credentials file holds no usable credentials.
    #[error("the job's {} credentials file is not valid: {source}", side.as_str())]
    InvalidCredentials {
        /// Which bucket's.
        side: BucketSide,
        /// Why.
        source: CredentialsError,
    },
    /// A job's copy of its custom language model cannot be read (this message becomes the
    /// job's error message).
    #[error("the job's copy of its custom language model is unreadable: {0}")]
    ReadVocabulary(String),
    /// A record names no valid batch id, so it cannot name a file.
    #[error(transparent)]
    InvalidId(#[from] InvalidBatchId),
    /// A record cannot be encoded (a bug).
    #[error("cannot encode the job record: {0}")]
    Encode(#[from] serde_json::Error),
}

impl StoreError {
    /// This error as a job's `error_message` tells it: what failed and the system's reason,
    /// without the server's file paths. Those are for the operator, whose log has them; a
    /// user reading the job learns nothing about the server's layout.
    pub fn job_message(&self) -> String {
        match self {
            Self::CreateDir { source, .. }
            | Self::List { source, .. }
            | Self::Write { source, .. }
            | Self::Remove { source, .. } => {
                format!("the service's data directory refused the change: {source}")
            }
            other => other.to_string(),
        }
    }
}

/// The data directory: `jobs/<id>.json` and `credentials/<id>.<side>.json`.
#[derive(Debug, Clone)]
pub struct JobStore {
    jobs: PathBuf,
    credentials: PathBuf,
}

impl JobStore {
    /// Opens (creating) the store under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let jobs = data_dir.join("jobs");
        let credentials = data_dir.join("credentials");
        // Only the service's user may list or read records (they name buckets and hold
        // analytics) and credentials.
        for dir in [&jobs, &credentials] {
            crate::private_dir(dir).map_err(|source| StoreError::CreateDir {
                path: dir.clone(),
                source,
            })?;
        }
        let store = Self { jobs, credentials };
        store.sweep();
        Ok(store)
    }

    /// Removes what an interrupted write or delete left behind: temporary files, and
    /// credentials and vocabularies of jobs without a record (a crash between the credentials
    /// and the record of a new job, or a delete that could not finish).
    fn sweep(&self) {
        let records: std::collections::HashSet<String> = files(&self.jobs)
            .filter_map(|name| name.strip_suffix(".json").map(str::to_owned))
            .filter(|stem| !stem.ends_with(VOCABULARY_SUFFIX.trim_end_matches(".json")))
            .collect();
        let stray = |name: &str| {
            let owner = name.split('.').next().unwrap_or_default();
            is_temporary(name) || (name.contains('.') && !records.contains(owner))
        };
        for dir in [&self.jobs, &self.credentials] {
            for name in files(dir).filter(|n| stray(n)).collect::<Vec<_>>() {
                let path = dir.join(&name);
                match fs::remove_file(&path) {
                    Ok(()) => tracing::info!(path = %path.display(), "removed a file left behind"),
                    Err(error) => {
                        tracing::warn!(path = %path.display(), %error, "cannot remove a file left behind")
                    }
                }
            }
        }
    }

    /// Where a job's record lives.
    pub fn job_path(&self, id: &BatchId) -> PathBuf {
        self.jobs.join(format!("{id}.json"))
    }

    /// Where a job's credentials file for `side` lives.
    pub fn credentials_path(&self, id: &BatchId, side: BucketSide) -> PathBuf {
        self.credentials
            .join(format!("{id}.{}.json", side.as_str()))
    }

    /// Where a job's copy of its custom language model lives.
    pub fn vocabulary_path(&self, id: &BatchId) -> PathBuf {
        self.jobs.join(format!("{id}{VOCABULARY_SUFFIX}"))
    }

    /// Stores the vocabulary a job recognises with, readable by the service's user only.
    pub fn save_vocabulary(&self, id: &BatchId, vocabulary: &Vocabulary) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(vocabulary)?;
        write_atomic(&self.vocabulary_path(id), &bytes, 0o600)
    }

    /// The vocabulary a job recognises with; `None` when the job names no custom model.
    pub fn load_vocabulary(&self, id: &BatchId) -> Result<Option<Vocabulary>, StoreError> {
        let bytes = match fs::read(self.vocabulary_path(id)) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::ReadVocabulary(e.to_string())),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::ReadVocabulary(e.to_string()))
    }

    /// Writes a record: a temporary file renamed over the old one, so that a crash leaves
    /// either the old or the new record, never half of one. Durable when it returns.
    pub fn save(&self, record: &JobRecord) -> Result<(), StoreError> {
        let path = self.job_path(&record.batch_id()?);
        let bytes = serde_json::to_vec(record)?;
        write_atomic(&path, &bytes, 0o600)
    }

    /// Every readable record on disk with its id, in creation order. Unreadable files are
    /// logged and skipped: one damaged record must not keep the service from starting.
    pub fn load_all(&self) -> Result<Vec<(BatchId, JobRecord)>, StoreError> {
        let list = |source| StoreError::List {
            path: self.jobs.clone(),
            source,
        };
        let mut records = Vec::new();
        for entry in fs::read_dir(&self.jobs).map_err(list)? {
            let path = entry.map_err(list)?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json")
                || path.to_string_lossy().ends_with(VOCABULARY_SUFFIX)
            {
                continue;
            }
            match read_record(&path) {
                Ok(r) => records.push(r),
                Err(error) => {
                    tracing::error!(path = %path.display(), %error, "skipping unreadable job record")
                }
            }
        }
        records.sort_by_key(|(_, r)| r.seq);
        Ok(records)
    }

    /// Removes a job's record and credentials; files already gone are fine.
    pub fn remove(&self, id: &BatchId) -> Result<(), StoreError> {
        for path in [
            self.credentials_path(id, BucketSide::Input),
            self.credentials_path(id, BucketSide::Output),
            self.vocabulary_path(id),
            self.job_path(id),
        ] {
            match fs::remove_file(&path) {
                Err(source) if source.kind() != io::ErrorKind::NotFound => {
                    return Err(StoreError::Remove { path, source })
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Stores a bucket's credentials, readable by the service's user only.
    pub fn save_credentials(
        &self,
        id: &BatchId,
        side: BucketSide,
        creds: &Credentials,
    ) -> Result<(), StoreError> {
        write_atomic(&self.credentials_path(id, side), &creds.to_json(), 0o600)
    }

    /// Reads a bucket's credentials back.
    pub fn load_credentials(
        &self,
        id: &BatchId,
        side: BucketSide,
    ) -> Result<Credentials, StoreError> {
        let bytes = fs::read(self.credentials_path(id, side))
            .map_err(|source| StoreError::ReadCredentials { side, source })?;
        Credentials::from_json(&bytes)
            .map_err(|source| StoreError::InvalidCredentials { side, source })
    }
}

/// Why a record file was skipped at start.
#[derive(Debug, thiserror::Error)]
enum UnreadableRecord {
    #[error("cannot read it: {0}")]
    Read(#[from] io::Error),
    #[error("it is not a job record: {0}")]
    Parse(#[from] serde_json::Error),
    #[error(transparent)]
    Id(#[from] InvalidBatchId),
}

/// A record file and the id it names, which must be a valid batch id.
fn read_record(path: &Path) -> Result<(BatchId, JobRecord), UnreadableRecord> {
    let record: JobRecord = serde_json::from_slice(&fs::read(path)?)?;
    let id = record.batch_id()?;
    Ok((id, record))
}

/// The name of a job's vocabulary file after its batch id.
const VOCABULARY_SUFFIX: &str = ".vocabulary.json";

/// The names of the files in `dir` (none when it cannot be listed).
fn files(dir: &Path) -> impl Iterator<Item = String> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
}

/// Whether a file name is one of [`write_atomic`]'s temporary files (`<name>.tmp<pid>`).
fn is_temporary(name: &str) -> bool {
    name.rsplit_once(".tmp")
        .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Writes `bytes` to `path` with `mode` through a temporary file renamed over it and a synced
/// folder: a crash leaves the old content or the new, and the new survives a power cut. A
/// write that fails (a full or read-only disk) removes its temporary file and leaves the old
/// content.
pub(super) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
    let write = |source| StoreError::Write {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
        fs::rename(&tmp, path)
    })();
    if let Err(source) = written {
        let _ = fs::remove_file(&tmp);
        return Err(write(source));
    }
    // The rename is durable only once the folder is synced: a final status must survive a
    // power cut once a client was told it.
    if let Some(dir) = path.parent() {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(write)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as the previous release wrote it, byte for byte.
    const OLD_RECORD: &str = r#"{"job":{"function":"recognize","input_bucket_location":"us-geo","input_bucket_name":"calls","output_bucket_location":"us-geo","output_bucket_name":"calls","batch_id":"0b5e0c1e-8d8e-4c43-9d55-5a3ab8c1f2a1","total_count":3,"successful_count":1,"failed_count":1,"status":"running","progress":0.666,"created":"2026-11-24T10:00:00.000+0000","updated":"2026-11-24T10:00:05.123+0000"},"seq":7,"params":{"model":"en-US_BroadbandModel","word_confidence":false,"smart_formatting":true,"redaction":false,"profanity_filter":true},"separate_output":false,"plan":{"total":3,"bounds":["a.wav","c.wav"],"sizes":[2,1]},"shards":[{"successful":1,"failed":1,"done":true,"started":true},{"successful":0,"failed":0,"done":false,"started":false}]}"#;

    #[test]
    fn records_written_by_the_previous_release_load_and_save_back_the_same_fields() {
        let record: JobRecord = serde_json::from_str(OLD_RECORD).unwrap();
        assert_eq!(record.seq, 7);
        assert_eq!(
            record.shards[0],
            ShardProgress {
                counts: ShardCounts {
                    successful: 1,
                    failed: 1,
                    audio_ms: 0,
                },
                done: true,
                started: true
            }
        );
        assert_eq!(record.counts().done(), 2);
        let old: serde_json::Value = serde_json::from_str(OLD_RECORD).unwrap();
        let new = serde_json::to_value(&record).unwrap();
        assert_eq!(new["shards"], old["shards"]);
        assert_eq!(new["job"], old["job"]);
        assert_eq!(new["plan"], old["plan"]);
        assert_eq!(
            new.as_object().unwrap().len(),
            old.as_object().unwrap().len(),
            "no new field is written while it is empty: {new}"
        );
        assert_eq!(
            serde_json::from_value::<JobRecord>(new).unwrap(),
            record,
            "a saved record loads back unchanged"
        );
        assert_eq!(
            (&record.language_customization_id, &record.analytics),
            (&None, &None)
        );
    }

    #[test]
    fn the_model_audio_and_analytics_of_a_record_are_saved_and_load_back() {
        let mut record: JobRecord = serde_json::from_str(OLD_RECORD).unwrap();
        record.language_customization_id = Some("74f4807e-b5ff-4866-824e-6bba1a84fe96".into());
        record.shards[0].counts.audio_ms = 61_500;
        record.analytics = Some(AnalyticsSummary {
            files: 1,
            turns: 4,
            ..Default::default()
        });
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["shards"][0]["audio_ms"], 61_500);
        assert!(json["shards"][1].get("audio_ms").is_none());
        assert_eq!(json["analytics"]["turns"], 4);
        let back: JobRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, record);
        assert_eq!(back.counts().audio_seconds(), 61.5);
    }

    #[test]
    fn saved_records_load_back_in_creation_order_and_damaged_files_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::open(dir.path()).unwrap();
        let mut first: JobRecord = serde_json::from_str(OLD_RECORD).unwrap();
        let mut second = first.clone();
        second.job.batch_id = "second".into();
        second.seq = 1;
        first.seq = 2;
        store.save(&first).unwrap();
        store.save(&second).unwrap();
        std::fs::write(dir.path().join("jobs/broken.json"), b"{not json").unwrap();
        std::fs::write(dir.path().join("jobs/left.tmp123"), b"{}").unwrap();
        let ids: Vec<String> = store
            .load_all()
            .unwrap()
            .into_iter()
            .map(|(id, _)| id.to_string())
            .collect();
        assert_eq!(ids, ["second", "0b5e0c1e-8d8e-4c43-9d55-5a3ab8c1f2a1"]);
    }

    #[test]
    fn a_jobs_vocabulary_is_private_skipped_by_the_record_loader_and_removed_with_the_record() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::open(dir.path()).unwrap();
        let record: JobRecord = serde_json::from_str(OLD_RECORD).unwrap();
        let id = record.batch_id().unwrap();
        store.save(&record).unwrap();
        assert_eq!(store.load_vocabulary(&id).unwrap(), None);
        let vocabulary: Vocabulary = serde_json::from_value(serde_json::json!({
            "customization_id": "74f4807e-b5ff-4866-824e-6bba1a84fe96",
            "trained": "2027-01-15T08:00:00.000+0000",
            "base_model_name": "en-US_BroadbandModel",
            "customization_weight": 0.5,
            "words": [{"display_as": "Zentraphone", "spellings": ["Zentraphone", "zen tra phone"], "count": 3}],
        }))
        .unwrap();
        store.save_vocabulary(&id, &vocabulary).unwrap();
        let path = store.vocabulary_path(&id);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(store.load_vocabulary(&id).unwrap(), Some(vocabulary));
        // Not taken for a damaged job record at start.
        assert_eq!(store.load_all().unwrap().len(), 1);
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(
            store.load_vocabulary(&id),
            Err(StoreError::ReadVocabulary(_))
        ));
        store.remove(&id).unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn credentials_are_private_to_the_service_user_and_removed_with_the_record() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::open(dir.path()).unwrap();
        let record: JobRecord = serde_json::from_str(OLD_RECORD).unwrap();
        let id = record.batch_id().unwrap();
        let creds = Credentials::from_json(
            br#"{"end_point":"http://127.0.0.1:9","access_key":"a","secret_key":"s"}"#,
        )
        .unwrap();
        store.save(&record).unwrap();
        store
            .save_credentials(&id, BucketSide::Input, &creds)
            .unwrap();
        let path = store.credentials_path(&id, BucketSide::Input);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        assert_eq!(
            store
                .load_credentials(&id, BucketSide::Input)
                .unwrap()
                .end_point(),
            "http://127.0.0.1:9"
        );
        assert!(matches!(
            store.load_credentials(&id, BucketSide::Output),
            Err(StoreError::ReadCredentials {
                side: BucketSide::Output,
                ..
            })
        ));
        store.remove(&id).unwrap();
        assert!(!path.exists() && !store.job_path(&id).exists());
        store.remove(&id).unwrap();
    }
}
