//! The job JSON of `GET /v1/batches[/{id}]` and the job state machine.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The status strings of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchStatus {
    /// Scanning the input bucket.
    Initializing,
    /// Scanned and queued behind other jobs.
    Waiting,
    /// Files are being processed.
    Running,
    /// Every file has a `.json` or `.notice`.
    Completed,
    /// Canceled by the user.
    Canceled,
    /// The request as a whole could not be carried out (`error_message` says why).
    Failed,
}

impl BatchStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [BatchStatus; 6] = [
        Self::Initializing,
        Self::Waiting,
        Self::Running,
        Self::Completed,
        Self::Canceled,
        Self::Failed,
    ];

    /// The interface's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initializing => "initializing",
            Self::Waiting => "waiting",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Canceled => "canceled",
            Self::Failed => "failed",
        }
    }

    /// What the status means, in a sentence (the admin console's documentation shows it).
    pub fn description(self) -> &'static str {
        match self {
            Self::Initializing => "The job is listing the audio files of its input bucket.",
            Self::Waiting => "The files are counted; the job waits for the jobs created before it.",
            Self::Running => "Files are being recognised; progress and the counts grow as each one finishes.",
            Self::Completed => "Every file has its .json or .notice in the output bucket.",
            Self::Canceled => "Canceled on request: files finished before the cancel keep their outputs.",
            Self::Failed => "The job as a whole could not go on (a bucket could not be read or written); error_message says why.",
        }
    }

    /// Whether the job is finished: nothing more will happen to it.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Canceled | Self::Failed)
    }

    /// Whether the service may move a job from `self` to `next`. Final states are terminal;
    /// a job only moves forward through initializing → waiting → running, and can be canceled
    /// or fail from any of those three.
    pub fn can_become(self, next: BatchStatus) -> bool {
        use BatchStatus::*;
        match (self, next) {
            (Initializing, Waiting) | (Waiting, Running) | (Running, Completed) => true,
            // An empty bucket has nothing to wait for.
            (Initializing, Completed) => true,
            (Initializing | Waiting | Running, Canceled | Failed) => true,
            _ => false,
        }
    }

    /// The status after `PUT ?action=cancel`: active jobs become `canceled`; finished jobs are
    /// unchanged.
    pub fn after_cancel(self) -> BatchStatus {
        if self.is_final() {
            self
        } else {
            BatchStatus::Canceled
        }
    }
}

impl fmt::Display for BatchStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A point in time, written as the interface writes it: UTC with milliseconds and a numeric
/// offset, `2018-12-30T11:33:29.912+0000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

/// The `strftime` pattern of [`Timestamp`].
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3f+0000";

impl Timestamp {
    /// The current time, truncated to milliseconds so that a stored and a served value agree.
    pub fn now() -> Self {
        let now = Utc::now();
        let ms = now.timestamp_millis();
        Self(DateTime::from_timestamp_millis(ms).unwrap_or(now))
    }

    /// Parses the interface's format.
    pub fn parse(s: &str) -> Option<Self> {
        NaiveDateTime::parse_from_str(s, TIMESTAMP_FORMAT)
            .ok()
            .map(|n| Self(n.and_utc()))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format(TIMESTAMP_FORMAT))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "not a timestamp like 2018-12-30T11:33:29.912+0000: {s}"
            ))
        })
    }
}

/// One batch job as the REST API returns it, fields in the interface's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchJob {
    /// Always `recognize`.
    pub function: String,
    /// Location of the input bucket as given at creation (e.g. `us-geo`).
    pub input_bucket_location: String,
    /// Name of the input bucket.
    pub input_bucket_name: String,
    /// Location of the output bucket (the input's when no output bucket was given).
    pub output_bucket_location: String,
    /// Name of the output bucket (the input's when no output bucket was given).
    pub output_bucket_name: String,
    /// The job's id.
    pub batch_id: String,
    /// Audio files found in the input bucket.
    pub total_count: u64,
    /// Files with a `.json` result written by this job.
    pub successful_count: u64,
    /// Files with a `.notice` written by this job.
    pub failed_count: u64,
    /// Where the job is in its lifecycle.
    pub status: BatchStatus,
    /// 0.0 (not started) to 1.0 (finished).
    pub progress: f64,
    /// When the job was created.
    pub created: Timestamp,
    /// When the job last changed.
    pub updated: Timestamp,
    /// When the job completed; only for `completed` jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<Timestamp>,
    /// Why the job failed; only for `failed` jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// The body of `GET /v1/batches`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobList {
    /// Every job the service has a record of, newest first.
    pub jobs: Vec<BatchJob>,
}

/// Progress of a job with `done` of `total` files processed. Completed jobs are at 1.0; jobs
/// not yet running are at 0.0; otherwise the processed fraction (never 1.0 before the status
/// says completed, so that a client polling for 1.0 does not stop early).
pub fn progress(status: BatchStatus, done: u64, total: u64) -> f64 {
    match status {
        BatchStatus::Completed => 1.0,
        BatchStatus::Initializing | BatchStatus::Waiting => 0.0,
        _ if total == 0 => 0.0,
        _ => {
            let p = done as f64 / total as f64;
            // Three decimals are plenty for a progress bar, and keep the JSON short.
            ((p * 1000.0).floor() / 1000.0).min(0.999)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_use_the_interface_format_and_round_trip() {
        let t = Timestamp::parse("2018-12-30T11:33:29.912+0000").unwrap();
        assert_eq!(t.to_string(), "2018-12-30T11:33:29.912+0000");
        let now = Timestamp::now();
        let s = serde_json::to_string(&now).unwrap();
        assert!(s.ends_with("+0000\""), "{s}");
        assert_eq!(serde_json::from_str::<Timestamp>(&s).unwrap(), now);
        assert!(Timestamp::parse("2018-12-30T11:33:29Z").is_none());
    }

    #[test]
    fn status_strings_are_the_interface_ones() {
        let names: Vec<String> = BatchStatus::ALL
            .iter()
            .map(|s| {
                serde_json::to_value(s)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            names,
            [
                "initializing",
                "waiting",
                "running",
                "completed",
                "canceled",
                "failed"
            ]
        );
    }

    #[test]
    fn final_states_are_terminal_and_cancel_leaves_them_alone() {
        for s in BatchStatus::ALL {
            for n in BatchStatus::ALL {
                if s.is_final() {
                    assert!(!s.can_become(n), "{s} -> {n}");
                }
            }
            if s.is_final() {
                assert_eq!(s.after_cancel(), s);
            } else {
                assert_eq!(s.after_cancel(), BatchStatus::Canceled);
                assert!(s.can_become(BatchStatus::Canceled));
            }
        }
        assert!(!BatchStatus::Running.can_become(BatchStatus::Waiting));
        assert!(!BatchStatus::Waiting.can_become(BatchStatus::Initializing));
    }

    #[test]
    fn progress_reaches_one_only_when_completed() {
        assert_eq!(progress(BatchStatus::Waiting, 0, 10), 0.0);
        assert_eq!(progress(BatchStatus::Running, 5, 10), 0.5);
        assert!(progress(BatchStatus::Running, 10, 10) < 1.0);
        assert_eq!(progress(BatchStatus::Completed, 10, 10), 1.0);
        assert_eq!(progress(BatchStatus::Running, 0, 0), 0.0);
    }

    #[test]
    fn optional_fields_appear_only_when_set() {
        let t = Timestamp::now();
        let mut job = BatchJob {
            function: "recognize".into(),
            input_bucket_location: "us-geo".into(),
            input_bucket_name: "in".into(),
            output_bucket_location: "us-geo".into(),
            output_bucket_name: "in".into(),
            batch_id: "b".into(),
            total_count: 1,
            successful_count: 0,
            failed_count: 0,
            status: BatchStatus::Running,
            progress: 0.0,
            created: t,
            updated: t,
            finished: None,
            error_message: None,
        };
        let v = serde_json::to_value(&job).unwrap();
        assert!(v.get("finished").is_none() && v.get("error_message").is_none());
        job.finished = Some(t);
        let v = serde_json::to_value(&job).unwrap();
        assert!(v["finished"].is_string());
        let text = serde_json::to_string(&job).unwrap();
        assert!(
            text.starts_with(r#"{"function":"recognize","input_bucket_location""#),
            "{text}"
        );
    }
}
