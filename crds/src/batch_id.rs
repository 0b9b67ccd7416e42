//! The batch id and every name derived from it: the SpeechBatch resource, its Job, its
//! credentials Secrets, the label on its Job and pods, and the embedded backend's file names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The label naming the batch of a Job, a pod or a credentials Secret.
pub const BATCH_LABEL: &str = "speechbatch.io/batch";

/// The longest Job name: a Job's name goes into the `batch.kubernetes.io/job-name` label of its
/// pods (63 characters at most) with room for the pod name's suffixes.
const MAX_JOB_NAME: usize = 52;

/// A batch job's id: the SpeechBatch's name on Kubernetes, the record's name on one machine.
///
/// Always a valid Kubernetes object name (RFC 1123 subdomain: at most 253 lowercase letters,
/// digits, `-` and `.`, starting and ending with a letter or digit), so that it can also name
/// files and label values without escaping. The REST API makes UUIDs; `kubectl` users pick
/// their own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BatchId(String);

/// A string that cannot be a batch id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{}' is not a batch id (lowercase letters, digits, '-' and '.', at most 253 characters, starting and ending with a letter or digit)", crate::shown(.0))]
pub struct InvalidBatchId(pub String);

/// Which of a batch's buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BucketSide {
    /// The input bucket (read only).
    Input,
    /// The output bucket (the input's when the request names none).
    Output,
}

impl BucketSide {
    /// `input` or `output`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::Output => "output",
        }
    }
}

impl BatchId {
    /// A new random id (a UUID v4), as `POST /v1/batches` makes them.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// Checks a string given as a batch id.
    pub fn parse(s: &str) -> Result<Self, InvalidBatchId> {
        let ok_char =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
        let edge =
            |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let valid = !s.is_empty()
            && s.len() <= 253
            && s.chars().all(ok_char)
            && edge(s.chars().next())
            && edge(s.chars().last());
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidBatchId(s.to_owned()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name of the batch's Kubernetes Job: the id itself when short enough, else a prefix
    /// and a hash, so that it is always the same for the same batch.
    pub fn job_name(&self) -> String {
        if self.0.len() <= MAX_JOB_NAME {
            return self.0.clone();
        }
        // FNV-1a: stable across releases (std's hasher is not).
        let hash = self.0.bytes().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        });
        let prefix = self.0[..MAX_JOB_NAME - 9].trim_end_matches(['-', '.']);
        format!("{prefix}-{:08x}", hash as u32)
    }

    /// The name of the Job that runs the batch's speech analytics once its shards are done:
    /// the Job name of the id with `-analytics` appended (shortened like any Job name).
    pub fn analytics_job_name(&self) -> String {
        BatchId(format!("{}-analytics", self.0)).job_name()
    }

    /// The value of [`BATCH_LABEL`] on the batch's objects: the id, which the operator maps a
    /// pod back to its SpeechBatch by. Label values hold at most 63 characters, so a longer id
    /// gets its Job's name instead (its pods then only wake the operator through their Job).
    pub fn label_value(&self) -> String {
        if self.0.len() <= 63 {
            self.0.clone()
        } else {
            self.job_name()
        }
    }

    /// The name of the Secret the REST API keeps a bucket's credentials file in.
    pub fn credentials_secret_name(&self, side: BucketSide) -> String {
        format!("{}-{}", self.0, side.as_str())
    }
}

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for BatchId {
    type Err = InvalidBatchId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for BatchId {
    type Error = InvalidBatchId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<BatchId> for String {
    fn from(id: BatchId) -> Self {
        id.0
    }
}

impl AsRef<str> for BatchId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_uuids_and_valid_object_names() {
        let id = BatchId::generate();
        assert_eq!(id.as_str().len(), 36);
        assert_eq!(BatchId::parse(id.as_str()), Ok(id.clone()));
        assert_ne!(BatchId::generate(), id);
    }

    #[test]
    fn ids_that_could_not_name_a_resource_or_a_file_are_refused() {
        for bad in [
            "",
            "UPPER",
            "a/b",
            "../x",
            "-a",
            "a-",
            "a b",
            &"a".repeat(254),
        ] {
            assert!(BatchId::parse(bad).is_err(), "{bad:?}");
        }
        for good in ["meetings-2026-11", "a", "a.b-c", &"a".repeat(253)] {
            assert!(BatchId::parse(good).is_ok(), "{good:?}");
        }
        assert!(serde_json::from_str::<BatchId>("\"../etc\"").is_err());
    }

    #[test]
    fn job_names_fit_a_label_value_and_are_stable() {
        let short = BatchId::parse("short").unwrap();
        assert_eq!(short.job_name(), "short");
        assert_eq!(short.label_value(), "short");
        assert_eq!(short.analytics_job_name(), "short-analytics");
        let long = BatchId::parse(&"a".repeat(200)).unwrap();
        assert!(long.analytics_job_name().len() <= 52);
        assert_ne!(long.analytics_job_name(), long.job_name());
        let n = long.job_name();
        assert!(n.len() <= 52, "{n}");
        assert_eq!(n, long.job_name());
        assert_eq!(long.label_value(), n);
        let longer = BatchId::parse(&format!("{}b", "a".repeat(200))).unwrap();
        assert_ne!(n, longer.job_name());
    }

    #[test]
    fn credentials_secrets_are_named_by_batch_and_side() {
        let id = BatchId::parse("b1").unwrap();
        assert_eq!(id.credentials_secret_name(BucketSide::Input), "b1-input");
        assert_eq!(id.credentials_secret_name(BucketSide::Output), "b1-output");
    }
}
