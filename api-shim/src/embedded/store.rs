//! The embedded backend's records on local disk: one small JSON file per job (O(shards), never
//! O(files)), replaced atomically, and the job's bucket credentials in 0600 files beside them.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crds::FileOutcome;
use crds::{BatchJob, RecognitionParams};
use serde::{Deserialize, Serialize};
use speechbatch_storage::{Credentials, ShardPlan};

/// Progress of one shard of a running job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardProgress {
    /// Files with a `.json` written by this job.
    pub successful: u64,
    /// Files with a `.notice` written by this job.
    pub failed: u64,
    /// Every file of the shard is finished.
    pub done: bool,
    /// Work on the shard began; after a restart its files are recounted from the outputs.
    pub started: bool,
}

impl ShardProgress {
    /// Counts one finished file.
    pub fn add(&mut self, outcome: FileOutcome) {
        match outcome {
            FileOutcome::Succeeded => self.successful += 1,
            FileOutcome::Failed => self.failed += 1,
        }
    }
}

/// Everything the embedded backend keeps about a job, except its credentials.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
}

impl JobRecord {
    /// Recomputes the job's counts from its shards.
    pub fn recount(&mut self) {
        self.job.successful_count = self.shards.iter().map(|s| s.successful).sum();
        self.job.failed_count = self.shards.iter().map(|s| s.failed).sum();
    }
}

/// Which bucket a credentials file is for.
#[derive(Debug, Clone, Copy)]
pub enum Side {
    /// The input bucket.
    Input,
    /// The separate output bucket.
    Output,
}

/// The data directory: `jobs/<id>.json` and `credentials/<id>.<side>.json`.
#[derive(Debug, Clone)]
pub struct JobStore {
    jobs: PathBuf,
    credentials: PathBuf,
}

impl JobStore {
    /// Opens (creating) the store under `data_dir`.
    pub fn open(data_dir: &Path) -> std::io::Result<Self> {
        let jobs = data_dir.join("jobs");
        let credentials = data_dir.join("credentials");
        fs::create_dir_all(&jobs)?;
        // Only the service's user may list or read credentials.
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&credentials)?;
        Ok(Self { jobs, credentials })
    }

    fn job_path(&self, id: &str) -> PathBuf {
        self.jobs.join(format!("{id}.json"))
    }

    fn credentials_path(&self, id: &str, side: Side) -> PathBuf {
        let side = match side {
            Side::Input => "input",
            Side::Output => "output",
        };
        self.credentials.join(format!("{id}.{side}.json"))
    }

    /// Writes a record: a temporary file renamed over the old one, so that a crash leaves
    /// either the old or the new record, never half of one.
    pub fn save(&self, record: &JobRecord) -> std::io::Result<()> {
        let path = self.job_path(&record.job.batch_id);
        let bytes = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        write_atomic(&path, &bytes, 0o644)
    }

    /// Every record on disk, in creation order. Unreadable files are logged and skipped.
    pub fn load_all(&self) -> std::io::Result<Vec<JobRecord>> {
        let mut records = Vec::new();
        for entry in fs::read_dir(&self.jobs)? {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            match fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<JobRecord>(&b).map_err(|e| e.to_string()))
            {
                Ok(r) => records.push(r),
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "skipping unreadable job record")
                }
            }
        }
        records.sort_by_key(|r| r.seq);
        Ok(records)
    }

    /// Removes a job's record and credentials.
    pub fn remove(&self, id: &str) -> std::io::Result<()> {
        for path in [
            self.credentials_path(id, Side::Input),
            self.credentials_path(id, Side::Output),
            self.job_path(id),
        ] {
            match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Stores a bucket's credentials, readable by the service's user only.
    pub fn save_credentials(
        &self,
        id: &str,
        side: Side,
        creds: &Credentials,
    ) -> std::io::Result<()> {
        write_atomic(&self.credentials_path(id, side), &creds.to_json(), 0o600)
    }

    /// Reads a bucket's credentials back.
    pub fn load_credentials(&self, id: &str, side: Side) -> Result<Credentials, String> {
        let bytes = fs::read(self.credentials_path(id, side))
            .map_err(|e| format!("the job's credentials file is unreadable: {e}"))?;
        Credentials::from_json(&bytes).map_err(|e| e.to_string())
    }
}

fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
    }
    fs::rename(&tmp, path)
}
