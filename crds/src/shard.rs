//! Shards: the plan that cuts a bucket into key ranges, the counts a shard reports, and the
//! contract between the operator and the `speechbatch-shard` processes of a Kubernetes Job
//! (environment, exit codes, termination message). Both sides use these types, so a change to
//! the contract is a compile error on both.

use std::collections::BTreeMap;
use std::ops::AddAssign;

use serde::{Deserialize, Serialize};

use crate::analytics::AnalyticsSummary;
use crate::batch_id::{BatchId, BucketSide, InvalidBatchId};
use crate::params::RecognitionParams;

/// The shard plan: key ranges (never key lists), so that a record stays O(shards). Shard `i`
/// covers the keys in `(bounds[i-1], bounds[i]]`; shard 0 starts at the beginning of the bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
pub struct ShardPlan {
    /// Inputs in the bucket when it was scanned.
    pub total: u64,
    /// The last key (inclusive) of each shard.
    pub bounds: Vec<String>,
    /// Inputs in each shard.
    pub sizes: Vec<u64>,
}

impl ShardPlan {
    /// `(start_after, last)` of shard `i`, as a bucket listing takes them. Every range is closed,
    /// the last one included: inputs added after planning beyond the last key are not part of
    /// the plan, so that `total` stays the number of inputs processed.
    pub fn shard_range(&self, i: usize) -> ShardRange {
        range_of(&self.bounds, i)
    }

    /// The number of shards.
    pub fn len(&self) -> usize {
        self.bounds.len()
    }

    /// True when the plan has no shard (an empty bucket).
    pub fn is_empty(&self) -> bool {
        self.bounds.is_empty()
    }

    /// The job's `total_count` as its shards run, the one rule for a bucket that changes after
    /// the scan. A finished shard counts the inputs it found in its key range when it ran:
    /// objects added to the range since the scan were processed and are counted, objects
    /// removed from it were not and are not. A shard not finished counts what the scan found
    /// there, or the files it has finished when those are more already. Hence
    /// `successful_count + failed_count == total_count` once every shard is finished, and
    /// progress never passes 1 on the way. `shards[i]` is shard `i`'s `(finished files,
    /// shard finished)`; shards it lacks count as not started.
    pub fn total_after(&self, shards: &[(u64, bool)]) -> u64 {
        self.sizes
            .iter()
            .enumerate()
            .map(|(i, &planned)| match shards.get(i) {
                Some(&(done, true)) => done,
                Some(&(done, false)) => planned.max(done),
                None => planned,
            })
            .sum()
    }
}

/// Shard `i` of `bounds`; `i` must be below `bounds.len()`.
fn range_of(bounds: &[String], i: usize) -> ShardRange {
    ShardRange {
        start_after: i.checked_sub(1).map(|p| bounds[p].clone()),
        last: Some(bounds[i].clone()),
    }
}

/// One shard's keys: those after `start_after` up to `last` (inclusive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardRange {
    /// Exclusive lower bound (`None`: from the first key).
    pub start_after: Option<String>,
    /// Inclusive upper bound (`None`: to the last key).
    pub last: Option<String>,
}

/// How one input file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileOutcome {
    /// A `.json` result was written.
    Succeeded,
    /// A `.notice` was written.
    Failed,
}

/// One input file a shard finished, as it is counted: how it ended and how much audio was
/// recognised in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FinishedFile {
    /// How it ended.
    pub outcome: FileOutcome,
    /// Milliseconds of audio recognised in it. 0 for a failed file (nothing was recognised),
    /// and for a file a resumed shard found already finished: its length is in no output's
    /// metadata, and decoding the audio again to measure it would cost what recognising it
    /// did, so a resumed shard's audio total covers only the files it processed itself.
    pub audio_ms: u64,
}

impl FinishedFile {
    /// A file whose `.json` was written now, from `audio_seconds` of audio.
    pub fn succeeded(audio_seconds: f64) -> Self {
        Self {
            outcome: FileOutcome::Succeeded,
            audio_ms: seconds_to_ms(audio_seconds),
        }
    }

    /// A file whose `.notice` was written now.
    pub fn failed() -> Self {
        Self::counted(FileOutcome::Failed)
    }

    /// A file counted from the output an earlier run wrote, without its audio (see
    /// [`FinishedFile::audio_ms`]).
    pub fn counted(outcome: FileOutcome) -> Self {
        Self {
            outcome,
            audio_ms: 0,
        }
    }
}

/// Whole milliseconds of `seconds`; 0 for what is not a length (negative, NaN).
fn seconds_to_ms(seconds: f64) -> u64 {
    // `as` saturates: NaN and negatives become 0, an absurd length u64::MAX rather than a wrap.
    (seconds * 1000.0).round() as u64
}

/// Files finished by a shard, a job or part of either, and the audio recognised in them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
pub struct ShardCounts {
    /// Files with a `.json` written by this batch.
    pub successful: u64,
    /// Files with a `.notice` written by this batch.
    pub failed: u64,
    /// Milliseconds of audio recognised in the files counted here; a file that failed, or that
    /// a retried or resumed shard found already finished, adds none. Absent from records and
    /// messages written before it existed, and omitted when 0, so that those stay as they were.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub audio_ms: u64,
}

/// Whether a count is 0 (for `skip_serializing_if`).
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl ShardCounts {
    /// Counts one outcome (no audio).
    pub fn add(&mut self, outcome: FileOutcome) {
        match outcome {
            FileOutcome::Succeeded => self.successful += 1,
            FileOutcome::Failed => self.failed += 1,
        }
    }

    /// Counts one finished file and its audio.
    pub fn add_file(&mut self, file: FinishedFile) {
        self.add(file.outcome);
        self.audio_ms = self.audio_ms.saturating_add(file.audio_ms);
    }

    /// Files finished.
    pub fn done(&self) -> u64 {
        self.successful + self.failed
    }

    /// The audio recognised, in seconds.
    pub fn audio_seconds(&self) -> f64 {
        self.audio_ms as f64 / 1000.0
    }
}

impl AddAssign for ShardCounts {
    fn add_assign(&mut self, other: Self) {
        self.successful += other.successful;
        self.failed += other.failed;
        self.audio_ms = self.audio_ms.saturating_add(other.audio_ms);
    }
}

impl std::iter::Sum for ShardCounts {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), |mut a, b| {
            a += b;
            a
        })
    }
}

/// The command a shard pod runs (the binary of crate `speechbatch-worker`).
pub const COMMAND: &str = "speechbatch-shard";
/// The name of the shard container in a shard pod.
pub const CONTAINER: &str = "shard";
/// Where a shard writes its [`TerminationMessage`] (the container's `terminationMessagePath`).
pub const TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";
/// Where the credentials Secrets are mounted in shard pods (`input/` and `output/` below it).
pub const CREDENTIALS_DIR: &str = "/var/run/secrets/speechbatch";

/// How a shard process ends, as its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardExit {
    /// The range is finished (bad audio files only made `.notice`s).
    Finished,
    /// A request-level error a retry may get past (endpoint unreachable, SIGTERM): the Job
    /// retries the index.
    Transient,
    /// The invocation itself is broken (missing or malformed environment).
    Usage,
    /// A request-level error retrying cannot fix (credentials rejected, bucket missing): the
    /// Job's `podFailurePolicy` fails the whole Job.
    Permanent,
}

impl ShardExit {
    /// The process exit code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Finished => 0,
            Self::Transient => 1,
            Self::Usage => 2,
            Self::Permanent => 3,
        }
    }
}

/// What a shard leaves in its termination message, where the operator reads it (so shard pods
/// need no API access at all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TerminationMessage {
    /// The shard finished its range with these counts.
    Finished {
        /// The completion index the counts are for.
        index: u32,
        /// What the batch wrote for the range (recounted from the outputs on a retry).
        #[serde(flatten)]
        counts: ShardCounts,
        /// The batch's speech analytics in brief: only from the pod of the analytics Job
        /// ([`STAGE_ANALYTICS`]), whose counts are zero.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        analytics: Option<AnalyticsSummary>,
    },
    /// The shard stopped with a request-level error.
    Failed {
        /// What to fix, for users (never a secret).
        error: String,
    },
}

/// The most bytes of a termination message Kubernetes keeps: it cuts a longer one, which
/// then is no JSON the operator can read.
pub const TERMINATION_MESSAGE_MAX_BYTES: usize = 4096;

/// The most characters a topic name or keyword keeps in a termination message (a keyword is
/// at most three words, a topic name a few n-grams: longer ones are transcription noise).
pub const SUMMARY_TEXT_MAX_CHARS: usize = 64;

impl TerminationMessage {
    /// The message as its JSON, at most [`TERMINATION_MESSAGE_MAX_BYTES`] long when it
    /// carries an analytics summary: topic names and keywords are cut to
    /// [`SUMMARY_TEXT_MAX_CHARS`] characters, and should that not do (texts that escape to
    /// several bytes per character), the last keywords and topics are dropped until it fits.
    /// Counts are never cut. An error message is left as it is: the operator only shows it.
    pub fn to_json(&self) -> String {
        let text = |m: &Self| serde_json::to_string(m).expect("a termination message serializes");
        let whole = text(self);
        let Self::Finished {
            index,
            counts,
            analytics: Some(summary),
        } = self
        else {
            return whole;
        };
        if whole.len() <= TERMINATION_MESSAGE_MAX_BYTES {
            return whole;
        }
        let mut summary = summary.clone();
        for t in &mut summary.topics {
            t.topic_name = cut(&t.topic_name);
        }
        for k in &mut summary.keywords {
            k.text = cut(&k.text);
        }
        loop {
            let message = Self::Finished {
                index: *index,
                counts: *counts,
                analytics: Some(summary.clone()),
            };
            let json = text(&message);
            if json.len() <= TERMINATION_MESSAGE_MAX_BYTES {
                return json;
            }
            // The least frequent go first; sentiment and tones are a few fixed labels.
            if summary.keywords.len() >= summary.topics.len() && !summary.keywords.is_empty() {
                summary.keywords.pop();
            } else if summary.topics.pop().is_none() {
                // Only fixed-size fields left: nothing more to cut.
                return json;
            }
        }
    }
}

/// `s` cut to [`SUMMARY_TEXT_MAX_CHARS`] characters, with an ellipsis when it was cut.
fn cut(s: &str) -> String {
    match s.char_indices().nth(SUMMARY_TEXT_MAX_CHARS - 1) {
        Some((end, _)) if s[end..].chars().nth(1).is_some() => format!("{}…", &s[..end]),
        _ => s.to_owned(),
    }
}

/// The environment variable names of the shard contract.
pub mod env {
    /// The batch id, written into every output's metadata.
    pub const BATCH_ID: &str = "SPEECHBATCH_BATCH_ID";
    /// The completion index (set by Kubernetes for Indexed Jobs).
    pub const COMPLETION_INDEX: &str = "JOB_COMPLETION_INDEX";
    /// JSON array of the plan's bounds.
    pub const SHARD_BOUNDS: &str = "SPEECHBATCH_SHARD_BOUNDS";
    /// JSON of the [`RecognitionParams`](crate::RecognitionParams).
    pub const PARAMS: &str = "SPEECHBATCH_PARAMS";
    /// Input bucket name.
    pub const INPUT_BUCKET: &str = "SPEECHBATCH_INPUT_BUCKET";
    /// Input bucket location.
    pub const INPUT_LOCATION: &str = "SPEECHBATCH_INPUT_LOCATION";
    /// Path of the input bucket's credentials file.
    pub const INPUT_CREDENTIALS: &str = "SPEECHBATCH_INPUT_CREDENTIALS";
    /// Output bucket name.
    pub const OUTPUT_BUCKET: &str = "SPEECHBATCH_OUTPUT_BUCKET";
    /// Output bucket location.
    pub const OUTPUT_LOCATION: &str = "SPEECHBATCH_OUTPUT_LOCATION";
    /// Path of the output bucket's credentials file.
    pub const OUTPUT_CREDENTIALS: &str = "SPEECHBATCH_OUTPUT_CREDENTIALS";
    /// IAM token endpoint for IBM Cloud credentials files (optional).
    pub const IAM_TOKEN_URL: &str = "SPEECHBATCH_IAM_TOKEN_URL";
    /// Folder of the converted models, when a volume replaces the image's copy.
    pub const MODELS: &str = "SPEECHBATCH_MODELS";
    /// Model store bucket name (only when the batch names a custom language model).
    pub const MODEL_STORE_BUCKET: &str = "SPEECHBATCH_MODEL_STORE_BUCKET";
    /// Model store location.
    pub const MODEL_STORE_LOCATION: &str = "SPEECHBATCH_MODEL_STORE_LOCATION";
    /// Path of the model store's credentials file.
    pub const MODEL_STORE_CREDENTIALS: &str = "SPEECHBATCH_MODEL_STORE_CREDENTIALS";
    /// Key of the batch's frozen vocabulary in the model store.
    pub const VOCABULARY_OBJECT: &str = "SPEECHBATCH_VOCABULARY_OBJECT";
    /// Where the termination message goes (optional; default
    /// [`TERMINATION_MESSAGE_PATH`](super::TERMINATION_MESSAGE_PATH)).
    pub const TERMINATION_LOG: &str = "SPEECHBATCH_TERMINATION_LOG";
    /// The stage the pod runs: absent for a shard of recognition,
    /// [`STAGE_ANALYTICS`](super::STAGE_ANALYTICS) for the batch's speech analytics.
    pub const STAGE: &str = "SPEECHBATCH_STAGE";
}

/// The value of [`env::STAGE`] in the pod of a batch's speech analytics Job: it analyses every
/// file the batch recognised (the index and shard range are ignored).
pub const STAGE_ANALYTICS: &str = "analytics";

/// A bucket as a shard sees it: name, location and the path of its mounted credentials file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardBucket {
    /// The bucket's name.
    pub name: String,
    /// The bucket's location (also the signing region).
    pub location: String,
    /// The credentials file, mounted from a Secret (never the secret itself).
    pub credentials_path: String,
}

impl ShardBucket {
    /// Where the operator mounts a side's credentials file, named `key` inside the Secret.
    pub fn mounted_credentials(side: BucketSide, key: &str) -> String {
        format!("{CREDENTIALS_DIR}/{}/{key}", side.as_str())
    }

    /// Where the operator mounts the model store's credentials file, named `key` inside its
    /// Secret.
    pub fn mounted_model_store_credentials(key: &str) -> String {
        format!("{CREDENTIALS_DIR}/{MODEL_STORE_DIR}/{key}")
    }
}

/// The folder below [`CREDENTIALS_DIR`] where the model store's credentials are mounted.
pub const MODEL_STORE_DIR: &str = "model-store";

/// The custom language model of a shard: the batch's frozen vocabulary in the model store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardVocabulary {
    /// The model store.
    pub store: ShardBucket,
    /// The key of the vocabulary (JSON of a [`crate::customization::Vocabulary`]).
    pub object: String,
}

/// Everything a shard process is told through its environment: one type, written by the
/// operator ([`ShardEnv::to_vars`]) and read by the shard ([`ShardEnv::from_lookup`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ShardEnv {
    /// The batch.
    pub batch_id: BatchId,
    /// The plan's bounds; each index picks its own range.
    pub bounds: Vec<String>,
    /// The options for every file.
    pub params: RecognitionParams,
    /// Where inputs are read.
    pub input: ShardBucket,
    /// Where outputs are written (the input bucket again when the batch names no other).
    pub output: ShardBucket,
    /// The IAM token endpoint, when not the default.
    pub iam_token_url: Option<String>,
    /// The custom language model's vocabulary, when the batch names one.
    pub vocabulary: Option<ShardVocabulary>,
}

/// The environment of a shard cannot be read; the message says which variable and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardEnvError {
    /// A required variable is not set.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// A variable does not hold what the contract says.
    #[error("{name} is not valid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

impl ShardEnv {
    /// The variables, in a stable order (Job specs compare equal from one reconcile to the next).
    pub fn to_vars(&self) -> Vec<(&'static str, String)> {
        let mut vars = vec![
            (env::BATCH_ID, self.batch_id.to_string()),
            (
                env::SHARD_BOUNDS,
                serde_json::to_string(&self.bounds).expect("strings serialize"),
            ),
            (
                env::PARAMS,
                serde_json::to_string(&self.params).expect("params serialize"),
            ),
            (env::INPUT_BUCKET, self.input.name.clone()),
            (env::INPUT_LOCATION, self.input.location.clone()),
            (env::INPUT_CREDENTIALS, self.input.credentials_path.clone()),
            (env::OUTPUT_BUCKET, self.output.name.clone()),
            (env::OUTPUT_LOCATION, self.output.location.clone()),
            (
                env::OUTPUT_CREDENTIALS,
                self.output.credentials_path.clone(),
            ),
        ];
        if let Some(url) = &self.iam_token_url {
            vars.push((env::IAM_TOKEN_URL, url.clone()));
        }
        if let Some(v) = &self.vocabulary {
            vars.extend([
                (env::MODEL_STORE_BUCKET, v.store.name.clone()),
                (env::MODEL_STORE_LOCATION, v.store.location.clone()),
                (
                    env::MODEL_STORE_CREDENTIALS,
                    v.store.credentials_path.clone(),
                ),
                (env::VOCABULARY_OBJECT, v.object.clone()),
            ]);
        }
        vars
    }

    /// Reads the variables through `lookup` (`std::env::var` in a shard process).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ShardEnvError> {
        let get = |name: &'static str| lookup(name).ok_or(ShardEnvError::Missing(name));
        let invalid = |name: &'static str| {
            move |e: &dyn std::fmt::Display| ShardEnvError::Invalid {
                name,
                reason: e.to_string(),
            }
        };
        let batch_id = BatchId::parse(&get(env::BATCH_ID)?)
            .map_err(|e: InvalidBatchId| invalid(env::BATCH_ID)(&e))?;
        let bounds: Vec<String> = serde_json::from_str(&get(env::SHARD_BOUNDS)?)
            .map_err(|e| invalid(env::SHARD_BOUNDS)(&e))?;
        let params: RecognitionParams =
            serde_json::from_str(&get(env::PARAMS)?).map_err(|e| invalid(env::PARAMS)(&e))?;
        Ok(Self {
            batch_id,
            bounds,
            params,
            input: ShardBucket {
                name: get(env::INPUT_BUCKET)?,
                location: get(env::INPUT_LOCATION)?,
                credentials_path: get(env::INPUT_CREDENTIALS)?,
            },
            output: ShardBucket {
                name: get(env::OUTPUT_BUCKET)?,
                location: get(env::OUTPUT_LOCATION)?,
                credentials_path: get(env::OUTPUT_CREDENTIALS)?,
            },
            iam_token_url: lookup(env::IAM_TOKEN_URL),
            vocabulary: match lookup(env::VOCABULARY_OBJECT) {
                None => None,
                Some(object) => Some(ShardVocabulary {
                    store: ShardBucket {
                        name: get(env::MODEL_STORE_BUCKET)?,
                        location: get(env::MODEL_STORE_LOCATION)?,
                        credentials_path: get(env::MODEL_STORE_CREDENTIALS)?,
                    },
                    object,
                }),
            },
        })
    }

    /// The range of completion index `index`, or why it has none.
    pub fn range(&self, index: usize) -> Result<ShardRange, ShardEnvError> {
        if index >= self.bounds.len() {
            return Err(ShardEnvError::Invalid {
                name: env::COMPLETION_INDEX,
                reason: format!(
                    "index {index} is outside the plan's {} shards",
                    self.bounds.len()
                ),
            });
        }
        Ok(range_of(&self.bounds, index))
    }

    /// The variables as a map (for tests and for building a process environment).
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.to_vars()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_total_counts_what_finished_shards_found_and_what_the_scan_found_elsewhere() {
        let plan = ShardPlan {
            total: 10,
            bounds: vec!["c".into(), "f".into(), "z".into()],
            sizes: vec![3, 3, 4],
        };
        assert_eq!(plan.total_after(&[]), 10);
        // Shard 0 found one more file than the scan (added since), shard 1 one less (removed),
        // shard 2 is running and has done 2 of its 4.
        assert_eq!(plan.total_after(&[(4, true), (2, true), (2, false)]), 10);
        // A running shard that has done more than the scan found counts what it has done.
        assert_eq!(plan.total_after(&[(3, true), (3, true), (6, false)]), 12);
        assert_eq!(plan.total_after(&[(3, true), (3, true), (6, true)]), 12);
    }
    use super::*;

    fn sample() -> ShardEnv {
        ShardEnv {
            batch_id: BatchId::parse("b-1").unwrap(),
            bounds: vec!["a.wav".into(), "m/z.flac".into()],
            params: RecognitionParams {
                redaction: true,
                ..Default::default()
            }
            .resolved(),
            input: ShardBucket {
                name: "in".into(),
                location: "us-geo".into(),
                credentials_path: ShardBucket::mounted_credentials(
                    BucketSide::Input,
                    "credentials.json",
                ),
            },
            output: ShardBucket {
                name: "out".into(),
                location: "eu-de".into(),
                credentials_path: ShardBucket::mounted_credentials(BucketSide::Output, "creds"),
            },
            iam_token_url: Some("http://127.0.0.1:1/token".into()),
            vocabulary: None,
        }
    }

    #[test]
    fn a_vocabulary_location_travels_with_the_store_bucket() {
        let mut env = sample();
        env.vocabulary = Some(ShardVocabulary {
            store: ShardBucket {
                name: "models".into(),
                location: "us-geo".into(),
                credentials_path: ShardBucket::mounted_model_store_credentials("creds"),
            },
            object: "batches/b-1/vocabulary.json".into(),
        });
        let map = env.to_map();
        let back = ShardEnv::from_lookup(|k| map.get(k).cloned()).unwrap();
        assert_eq!(back, env);
        assert_eq!(
            back.vocabulary.unwrap().store.credentials_path,
            "/var/run/secrets/speechbatch/model-store/creds"
        );
        // Without the object there is no vocabulary; with it, a missing store is named.
        assert_eq!(
            ShardEnv::from_lookup(|k| sample().to_map().get(k).cloned())
                .unwrap()
                .vocabulary,
            None
        );
        let mut map = env.to_map();
        map.remove(env::MODEL_STORE_BUCKET);
        let e = ShardEnv::from_lookup(|k| map.get(k).cloned()).unwrap_err();
        assert_eq!(e, ShardEnvError::Missing(env::MODEL_STORE_BUCKET));
    }

    #[test]
    fn what_the_operator_writes_is_what_a_shard_reads() {
        let env = sample();
        let map = env.to_map();
        let back = ShardEnv::from_lookup(|k| map.get(k).cloned()).unwrap();
        assert_eq!(back, env);
        assert_eq!(
            back.input.credentials_path,
            "/var/run/secrets/speechbatch/input/credentials.json"
        );
    }

    #[test]
    fn a_missing_or_malformed_variable_is_named() {
        let mut map = sample().to_map();
        map.remove(env::OUTPUT_BUCKET);
        let e = ShardEnv::from_lookup(|k| map.get(k).cloned()).unwrap_err();
        assert_eq!(e, ShardEnvError::Missing(env::OUTPUT_BUCKET));
        let mut map = sample().to_map();
        map.insert(env::SHARD_BOUNDS.into(), "not json".into());
        let e = ShardEnv::from_lookup(|k| map.get(k).cloned()).unwrap_err();
        assert!(e.to_string().contains(env::SHARD_BOUNDS), "{e}");
    }

    #[test]
    fn each_index_gets_its_own_closed_range() {
        let env = sample();
        assert_eq!(
            env.range(0).unwrap(),
            ShardRange {
                start_after: None,
                last: Some("a.wav".into())
            }
        );
        assert_eq!(
            env.range(1).unwrap(),
            ShardRange {
                start_after: Some("a.wav".into()),
                last: Some("m/z.flac".into())
            }
        );
        assert!(env.range(2).is_err());
    }

    #[test]
    fn termination_messages_carry_counts_or_an_error() {
        let done = TerminationMessage::Finished {
            index: 2,
            counts: ShardCounts {
                successful: 5,
                failed: 1,
                audio_ms: 0,
            },
            analytics: None,
        };
        let text = done.to_json();
        assert_eq!(
            text, r#"{"index":2,"successful":5,"failed":1}"#,
            "without audio or analytics, as shards wrote it before those existed"
        );
        assert_eq!(
            serde_json::from_str::<TerminationMessage>(&text).unwrap(),
            done
        );
        let with_audio = TerminationMessage::Finished {
            index: 0,
            counts: ShardCounts {
                successful: 1,
                failed: 0,
                audio_ms: 61_500,
            },
            analytics: Some(AnalyticsSummary {
                files: 1,
                turns: 4,
                ..Default::default()
            }),
        };
        let text = with_audio.to_json();
        assert!(text.contains(r#""audio_ms":61500"#), "{text}");
        assert_eq!(
            serde_json::from_str::<TerminationMessage>(&text).unwrap(),
            with_audio
        );
        let failed: TerminationMessage = serde_json::from_str(r#"{"error":"no bucket"}"#).unwrap();
        assert_eq!(
            failed,
            TerminationMessage::Failed {
                error: "no bucket".into()
            }
        );
    }

    #[test]
    fn counts_add_up_per_outcome() {
        let mut c = ShardCounts::default();
        c.add(FileOutcome::Succeeded);
        c.add(FileOutcome::Failed);
        c.add(FileOutcome::Succeeded);
        assert_eq!((c.successful, c.failed, c.done()), (2, 1, 3));
        let total: ShardCounts = [c, c].into_iter().sum();
        assert_eq!(total.done(), 6);
        assert_eq!(ShardExit::Permanent.code(), 3);
    }

    #[test]
    fn audio_adds_up_per_file_and_failed_or_recounted_files_add_none() {
        let mut c = ShardCounts::default();
        c.add_file(FinishedFile::succeeded(12.3456));
        c.add_file(FinishedFile::failed());
        c.add_file(FinishedFile::counted(FileOutcome::Succeeded));
        c.add_file(FinishedFile::succeeded(f64::NAN));
        assert_eq!((c.successful, c.failed, c.audio_ms), (3, 1, 12_346));
        let total: ShardCounts = [c, c].into_iter().sum();
        assert_eq!(total.audio_ms, 24_692);
        assert_eq!(total.audio_seconds(), 24.692);
        // Counts saved before audio was counted read as no audio.
        let old: ShardCounts = serde_json::from_str(r#"{"successful":2,"failed":1}"#).unwrap();
        assert_eq!(old.audio_ms, 0);
    }

    /// A summary as large as the analytics stage can make one: every list full, every text
    /// long and made of characters JSON escapes to six bytes.
    fn huge_summary() -> AnalyticsSummary {
        use crate::analytics::{KeywordCount, TopicCount, SUMMARY_TOP};
        let long = |i: usize| format!("{i}{}", "\u{1}\"".repeat(400));
        AnalyticsSummary {
            files: u64::MAX,
            turns: u64::MAX,
            sentiment: ["negative", "neutral", "positive"]
                .into_iter()
                .map(|l| (l.to_owned(), u64::MAX))
                .collect(),
            tones: crate::analytics::ToneId::ALL
                .into_iter()
                .map(|t| (t.as_str().to_owned(), u64::MAX))
                .collect(),
            topics: (0..SUMMARY_TOP)
                .map(|i| TopicCount {
                    topic_name: long(i),
                    files: u64::MAX,
                })
                .collect(),
            keywords: (0..SUMMARY_TOP)
                .map(|i| KeywordCount {
                    text: long(i),
                    count: u64::MAX,
                })
                .collect(),
        }
    }

    #[test]
    fn an_analytics_summary_is_cut_to_fit_a_termination_message() {
        use crate::analytics::{KeywordCount, TopicCount};
        let counts = ShardCounts {
            successful: u64::MAX,
            failed: u64::MAX,
            audio_ms: u64::MAX,
        };
        let message = |analytics| TerminationMessage::Finished {
            index: u32::MAX,
            counts,
            analytics: Some(analytics),
        };
        // Texts of plain characters: cut to SUMMARY_TEXT_MAX_CHARS, every entry kept.
        let mut plain = huge_summary();
        for (i, t) in plain.topics.iter_mut().enumerate() {
            t.topic_name = format!("{i}_{}", "é".repeat(300));
        }
        for k in &mut plain.keywords {
            k.text = "ü".repeat(300);
        }
        let json = message(plain.clone()).to_json();
        assert!(
            json.len() <= TERMINATION_MESSAGE_MAX_BYTES,
            "{}",
            json.len()
        );
        let Ok(TerminationMessage::Finished {
            analytics: Some(back),
            counts: c,
            ..
        }) = serde_json::from_str(&json)
        else {
            panic!("not a finished message: {json}");
        };
        assert_eq!(c, counts, "counts are never cut");
        assert_eq!(back.topics.len(), plain.topics.len());
        assert_eq!(back.keywords.len(), plain.keywords.len());
        assert!(back
            .keywords
            .iter()
            .all(|k| k.text.chars().count() == SUMMARY_TEXT_MAX_CHARS && k.text.ends_with('…')));
        assert!(back.topics[9].topic_name.starts_with("9_éé"));
        assert_eq!((back.sentiment, back.tones), (plain.sentiment, plain.tones));
        // Texts that escape to six bytes a character: the last entries go until it fits.
        let json = message(huge_summary()).to_json();
        assert!(
            json.len() <= TERMINATION_MESSAGE_MAX_BYTES,
            "{}",
            json.len()
        );
        let Ok(TerminationMessage::Finished {
            analytics: Some(back),
            ..
        }) = serde_json::from_str::<TerminationMessage>(&json)
        else {
            panic!("not a finished message: {json}");
        };
        assert!(back.keywords.len() < crate::analytics::SUMMARY_TOP);
        assert!(back.topics.iter().enumerate().all(|(i, t)| t
            == &TopicCount {
                topic_name: cut(&huge_summary().topics[i].topic_name),
                files: u64::MAX
            }));
        assert!(back
            .keywords
            .iter()
            .all(|k: &KeywordCount| k.count == u64::MAX));
        // A summary that fits is left whole, texts included.
        let small = AnalyticsSummary {
            keywords: vec![KeywordCount {
                text: "x".repeat(100),
                count: 1,
            }],
            ..Default::default()
        };
        let json = message(small.clone()).to_json();
        assert_eq!(json, serde_json::to_string(&message(small)).unwrap());
    }
}
