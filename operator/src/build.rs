//! The desired Job of a planned SpeechBatch, and the merge of shard results: pure functions.

use std::collections::BTreeMap;

use crds::resource::{BucketSpec, ShardPlanStatus, ShardResult, SpeechBatch};
use crds::RecognitionParams;
use k8s_openapi::api::batch::v1::{
    Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
    PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, KeyToPath, PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec,
    ResourceRequirements, SecretVolumeSource, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};

use crate::observe::{PodOutcome, PodReport, SHARD_CONTAINER};

/// `app.kubernetes.io/name` of shard Jobs and pods.
pub const SHARD_APP_NAME: &str = "speechbatch-shard";
/// The label naming the SpeechBatch of a Job or pod.
pub const BATCH_LABEL: &str = "speechbatch.io/batch";
/// The label Kueue reads to queue a Job.
pub const KUEUE_QUEUE_LABEL: &str = "kueue.x-k8s.io/queue-name";
/// The exit code of a shard for a permanent request-level error.
pub const PERMANENT_EXIT_CODE: i32 = 3;
/// Where the credentials Secrets are mounted in shard pods.
pub const CREDENTIALS_DIR: &str = "/var/run/secrets/speechbatch";

/// How the operator runs shards (from its command line).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobSettings {
    /// The image with the `transcriber` binary.
    pub image: String,
    /// `imagePullPolicy` of the shard container (`None`: the cluster's default).
    pub image_pull_policy: Option<String>,
    /// The service account of shard pods (one without RBAC rules).
    pub service_account: Option<String>,
    /// Shards at once when the SpeechBatch does not say.
    pub default_parallelism: i32,
    /// Retries of one shard before its index counts as failed.
    pub backoff_limit_per_index: i32,
    /// The Kueue LocalQueue: Jobs are created suspended and labelled for it.
    pub kueue_queue: Option<String>,
    /// Requests of the shard container (`cpu`, `memory`).
    pub requests: BTreeMap<String, String>,
    /// Limits of the shard container.
    pub limits: BTreeMap<String, String>,
    /// Node selector of shard pods.
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations of shard pods.
    pub tolerations: Vec<Toleration>,
    /// A PersistentVolumeClaim with the models, mounted read-only at `models_path`.
    pub models_pvc: Option<String>,
    /// Where `models_pvc` is mounted (and what `SPEECHBATCH_MODELS` says then).
    pub models_path: String,
    /// The IAM token endpoint for shards, when not the default.
    pub iam_token_url: Option<String>,
}

/// The name of the Job of a SpeechBatch: its own name when short enough for a label value
/// (`batch.kubernetes.io/job-name`, 63 characters, with room for the pod suffixes), else a
/// prefix and a hash, so that it is always the same for the same batch.
pub fn job_name(batch_name: &str) -> String {
    const MAX: usize = 52;
    if batch_name.len() <= MAX {
        return batch_name.to_owned();
    }
    // FNV-1a: stable across releases (std's hasher is not).
    let hash = batch_name.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    let prefix = batch_name[..MAX - 9].trim_end_matches(['-', '.']);
    format!("{prefix}-{:08x}", hash as u32)
}

fn quantities(m: &BTreeMap<String, String>) -> Option<BTreeMap<String, Quantity>> {
    (!m.is_empty()).then(|| {
        m.iter()
            .map(|(k, v)| (k.clone(), Quantity(v.clone())))
            .collect()
    })
}

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.into()),
        ..Default::default()
    }
}

fn secret_volume(name: &str, bucket: &BucketSpec) -> Volume {
    let key = bucket.credentials_secret.key().to_owned();
    Volume {
        name: name.to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(bucket.credentials_secret.name.clone()),
            items: Some(vec![KeyToPath {
                key: key.clone(),
                path: key,
                mode: None,
            }]),
            default_mode: Some(0o400),
            optional: Some(false),
        }),
        ..Default::default()
    }
}

/// The labels of a batch's Job and its pods.
pub fn job_labels(batch: &SpeechBatch, settings: &JobSettings) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (
            "app.kubernetes.io/name".to_owned(),
            SHARD_APP_NAME.to_owned(),
        ),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "speechbatch-operator".to_owned(),
        ),
        (BATCH_LABEL.to_owned(), batch.name_any()),
    ]);
    if let Some(q) = &settings.kueue_queue {
        labels.insert(KUEUE_QUEUE_LABEL.to_owned(), q.clone());
    }
    labels
}

/// The Indexed Job running the plan's shards: one completion index per shard, each pod told
/// its key range (all bounds; it picks its own by `JOB_COMPLETION_INDEX`), the recognition
/// parameters and where the credentials files are mounted. Credentials travel only as Secret
/// volumes: no secret value is in the Job.
pub fn build_job(
    batch: &SpeechBatch,
    plan: &ShardPlanStatus,
    params: &RecognitionParams,
    settings: &JobSettings,
) -> Job {
    let shards = plan.bounds.len().max(1) as i32;
    let parallelism = batch
        .spec
        .parallelism
        .unwrap_or(settings.default_parallelism)
        .clamp(1, shards);
    let labels = job_labels(batch, settings);
    let input = &batch.spec.input;
    let output = batch.spec.output.as_ref().unwrap_or(input);
    let mut envs = vec![
        env("SPEECHBATCH_BATCH_ID", batch.name_any()),
        env(
            "SPEECHBATCH_SHARD_BOUNDS",
            serde_json::to_string(&plan.bounds).expect("strings serialize"),
        ),
        env(
            "SPEECHBATCH_PARAMS",
            serde_json::to_string(params).expect("params serialize"),
        ),
        env("SPEECHBATCH_INPUT_BUCKET", &input.name),
        env("SPEECHBATCH_INPUT_LOCATION", &input.location),
        env(
            "SPEECHBATCH_INPUT_CREDENTIALS",
            format!("{CREDENTIALS_DIR}/input/{}", input.credentials_secret.key()),
        ),
        env("SPEECHBATCH_OUTPUT_BUCKET", &output.name),
        env("SPEECHBATCH_OUTPUT_LOCATION", &output.location),
        env(
            "SPEECHBATCH_OUTPUT_CREDENTIALS",
            format!(
                "{CREDENTIALS_DIR}/output/{}",
                output.credentials_secret.key()
            ),
        ),
    ];
    if let Some(url) = &settings.iam_token_url {
        envs.push(env("SPEECHBATCH_IAM_TOKEN_URL", url));
    }
    let mount = |name: &str, dir: &str| VolumeMount {
        name: name.to_owned(),
        mount_path: format!("{CREDENTIALS_DIR}/{dir}"),
        read_only: Some(true),
        ..Default::default()
    };
    let mut volume_mounts = vec![
        mount("input-credentials", "input"),
        mount("output-credentials", "output"),
    ];
    let mut volumes = vec![
        secret_volume("input-credentials", input),
        secret_volume("output-credentials", output),
    ];
    // Models from a volume instead of the copy baked into the image.
    if let Some(claim) = &settings.models_pvc {
        envs.push(env("SPEECHBATCH_MODELS", &settings.models_path));
        volume_mounts.push(VolumeMount {
            name: "models".to_owned(),
            mount_path: settings.models_path.clone(),
            read_only: Some(true),
            ..Default::default()
        });
        volumes.push(Volume {
            name: "models".to_owned(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.clone(),
                read_only: Some(true),
            }),
            ..Default::default()
        });
    }
    let container = Container {
        name: SHARD_CONTAINER.to_owned(),
        image: Some(settings.image.clone()),
        image_pull_policy: settings.image_pull_policy.clone(),
        command: Some(vec!["transcriber".to_owned(), "shard".to_owned()]),
        env: Some(envs),
        volume_mounts: Some(volume_mounts),
        resources: (!settings.requests.is_empty() || !settings.limits.is_empty()).then(|| {
            ResourceRequirements {
                requests: quantities(&settings.requests),
                limits: quantities(&settings.limits),
                ..Default::default()
            }
        }),
        termination_message_path: Some("/dev/termination-log".to_owned()),
        termination_message_policy: Some("File".to_owned()),
        ..Default::default()
    };
    let rule = |action: &str| PodFailurePolicyRule {
        action: action.to_owned(),
        on_exit_codes: None,
        on_pod_conditions: None,
    };
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(&batch.name_any())),
            namespace: batch.namespace(),
            labels: Some(labels.clone()),
            owner_references: batch.controller_owner_ref(&()).map(|o| vec![o]),
            ..Default::default()
        },
        spec: Some(JobSpec {
            completion_mode: Some("Indexed".to_owned()),
            completions: Some(shards),
            parallelism: Some(parallelism),
            backoff_limit_per_index: Some(settings.backoff_limit_per_index),
            // Kueue admits the Job by unsuspending it.
            suspend: Some(settings.kueue_queue.is_some()),
            pod_failure_policy: Some(PodFailurePolicy {
                rules: vec![
                    // Exit 3: bad credentials, missing bucket. Retrying cannot help.
                    PodFailurePolicyRule {
                        on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                            container_name: Some(SHARD_CONTAINER.to_owned()),
                            operator: "In".to_owned(),
                            values: vec![PERMANENT_EXIT_CODE],
                        }),
                        ..rule("FailJob")
                    },
                    // Preemption, eviction, node drain: not the shard's fault, retry for free.
                    PodFailurePolicyRule {
                        on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                            type_: "DisruptionTarget".to_owned(),
                            status: "True".to_owned(),
                        }]),
                        ..rule("Ignore")
                    },
                ],
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".to_owned()),
                    service_account_name: settings.service_account.clone(),
                    // Shards never talk to the API server.
                    automount_service_account_token: Some(false),
                    node_selector: (!settings.node_selector.is_empty())
                        .then(|| settings.node_selector.clone()),
                    containers: vec![container],
                    volumes: Some(volumes),
                    tolerations: (!settings.tolerations.is_empty())
                        .then(|| settings.tolerations.clone()),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    }
}

/// Merges the tallies of succeeded shard pods into the recorded shard results, keyed by
/// completion index: a reported index replaces its entry (a retried shard recounts its whole
/// range from the outputs' metadata, so its tally is exact, never an increment), and entries of
/// indexes whose pods are gone are kept. Indexes outside the plan are ignored. O(shards).
pub fn merge_shards(
    recorded: &[ShardResult],
    pods: &[PodReport],
    shards: usize,
) -> Vec<ShardResult> {
    let mut by_index: BTreeMap<u32, ShardResult> = recorded
        .iter()
        .filter(|r| (r.index as usize) < shards)
        .map(|r| (r.index, r.clone()))
        .collect();
    for pod in pods {
        if let PodOutcome::Succeeded { successful, failed } = pod.outcome {
            if (pod.index as usize) < shards {
                by_index.insert(
                    pod.index,
                    ShardResult {
                        index: pod.index,
                        successful,
                        failed,
                    },
                );
            }
        }
    }
    by_index.into_values().collect()
}
