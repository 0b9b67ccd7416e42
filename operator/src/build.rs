//! The desired Job of a planned SpeechBatch, and the merge of shard results: pure functions.

use std::collections::BTreeMap;

use crds::resource::{BucketSpec, ShardResult, SpeechBatch};
use crds::shard::{self, ShardBucket, ShardEnv, ShardExit, ShardVocabulary};
use crds::{BatchId, BucketSide, ShardPlan, BATCH_LABEL};
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

use crate::observe::{PodOutcome, PodReport};

/// `app.kubernetes.io/name` of shard Jobs and pods.
pub const SHARD_APP_NAME: &str = "speechbatch-shard";
/// The label Kueue reads to queue a Job.
pub const KUEUE_QUEUE_LABEL: &str = "kueue.x-k8s.io/queue-name";

/// How the operator runs shards (from its command line).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobSettings {
    /// The image with the `speechbatch-shard` binary.
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
    /// Variables that give shard and analytics pods the operator's end point policy and retry
    /// window (`StorageArgs::child_env`: `SPEECHBATCH_ENDPOINT_ALLOW` and
    /// `SPEECHBATCH_ENDPOINT_DENY_PRIVATE` only when set, the retry window and delay always).
    pub storage_env: Vec<(String, String)>,
    /// The model store (custom language models), when configured: shards of a batch naming a
    /// model read its vocabulary there.
    pub model_store: Option<ModelStoreRef>,
}

/// The model store as shard pods reach it: the bucket, and the Secret (in the batch's
/// namespace) with its credentials file, mounted like the buckets' credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelStoreRef {
    /// The bucket's name.
    pub bucket: String,
    /// The bucket's location.
    pub location: String,
    /// The Secret holding the credentials file.
    pub secret_name: String,
    /// The key of the credentials file in the Secret.
    pub secret_key: String,
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
pub fn job_labels(id: &BatchId, settings: &JobSettings) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (
            "app.kubernetes.io/name".to_owned(),
            SHARD_APP_NAME.to_owned(),
        ),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "speechbatch-operator".to_owned(),
        ),
        (BATCH_LABEL.to_owned(), id.label_value()),
    ]);
    if let Some(q) = &settings.kueue_queue {
        labels.insert(KUEUE_QUEUE_LABEL.to_owned(), q.clone());
    }
    labels
}

fn shard_bucket(side: BucketSide, bucket: &BucketSpec) -> ShardBucket {
    ShardBucket {
        name: bucket.name.clone(),
        location: bucket.location.clone(),
        credentials_path: ShardBucket::mounted_credentials(side, bucket.credentials_secret.key()),
    }
}

/// What the batch's shard pods are told (the shard contract of `crds::shard`). The options are
/// resolved here too: a SpeechBatch applied with `kubectl` names them as a user wrote them.
pub fn shard_env(
    id: &BatchId,
    batch: &SpeechBatch,
    plan: &ShardPlan,
    settings: &JobSettings,
) -> ShardEnv {
    let input = &batch.spec.input;
    let output = batch.spec.output.as_ref().unwrap_or(input);
    ShardEnv {
        batch_id: id.clone(),
        bounds: plan.bounds.clone(),
        params: batch.spec.recognition.resolved(),
        input: shard_bucket(BucketSide::Input, input),
        output: shard_bucket(BucketSide::Output, output),
        iam_token_url: settings.iam_token_url.clone(),
        vocabulary: batch
            .spec
            .language_model
            .as_ref()
            .zip(settings.model_store.as_ref())
            .map(|(lm, store)| ShardVocabulary {
                store: ShardBucket {
                    name: store.bucket.clone(),
                    location: store.location.clone(),
                    credentials_path: ShardBucket::mounted_model_store_credentials(
                        &store.secret_key,
                    ),
                },
                object: lm.vocabulary_object.clone(),
            }),
    }
}

/// The Indexed Job running the plan's shards: one completion index per shard, each pod told
/// its key range (all bounds; it picks its own by `JOB_COMPLETION_INDEX`), the recognition
/// options and where the credentials files are mounted. Credentials travel only as Secret
/// volumes: no secret value is in the Job.
pub fn build_job(
    id: &BatchId,
    batch: &SpeechBatch,
    plan: &ShardPlan,
    settings: &JobSettings,
) -> Job {
    let shards = plan.bounds.len().max(1) as i32;
    let parallelism = batch
        .spec
        .parallelism
        .unwrap_or(settings.default_parallelism)
        .clamp(1, shards);
    let labels = job_labels(id, settings);
    let input = &batch.spec.input;
    let output = batch.spec.output.as_ref().unwrap_or(input);
    let mut envs: Vec<EnvVar> = shard_env(id, batch, plan, settings)
        .to_vars()
        .into_iter()
        .map(|(name, value)| env(name, value))
        .collect();
    // The pods reach buckets users name, so they follow the operator's end point policy and
    // retry window (read by the shard's own `StorageArgs`).
    envs.extend(
        settings
            .storage_env
            .iter()
            .map(|(name, value)| env(name, value.as_str())),
    );
    let mount = |name: &str, dir: &str| VolumeMount {
        name: name.to_owned(),
        mount_path: format!("{}/{dir}", shard::CREDENTIALS_DIR),
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
    // The model store's credentials, when the batch recognises with a custom language model.
    if let (Some(_), Some(store)) = (&batch.spec.language_model, &settings.model_store) {
        volume_mounts.push(mount("model-store-credentials", shard::MODEL_STORE_DIR));
        volumes.push(Volume {
            name: "model-store-credentials".to_owned(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(store.secret_name.clone()),
                items: Some(vec![KeyToPath {
                    key: store.secret_key.clone(),
                    path: store.secret_key.clone(),
                    mode: None,
                }]),
                default_mode: Some(0o400),
                optional: Some(false),
            }),
            ..Default::default()
        });
    }
    // Models from a volume instead of the copy baked into the image.
    if let Some(claim) = &settings.models_pvc {
        envs.push(env(shard::env::MODELS, &settings.models_path));
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
        name: shard::CONTAINER.to_owned(),
        image: Some(settings.image.clone()),
        image_pull_policy: settings.image_pull_policy.clone(),
        command: Some(vec![shard::COMMAND.to_owned()]),
        env: Some(envs),
        volume_mounts: Some(volume_mounts),
        resources: (!settings.requests.is_empty() || !settings.limits.is_empty()).then(|| {
            ResourceRequirements {
                requests: quantities(&settings.requests),
                limits: quantities(&settings.limits),
                ..Default::default()
            }
        }),
        termination_message_path: Some(shard::TERMINATION_MESSAGE_PATH.to_owned()),
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
            name: Some(id.job_name()),
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
                            container_name: Some(shard::CONTAINER.to_owned()),
                            operator: "In".to_owned(),
                            values: vec![i32::from(ShardExit::Permanent.code())],
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

/// The batch's speech analytics Job: one pod of the shard image, with the shards' environment
/// and mounts, running the analytics stage (`SPEECHBATCH_STAGE=analytics`) over every file the
/// batch recognised. An Indexed Job of one completion, so that it is retried like a shard.
pub fn build_analytics_job(
    id: &BatchId,
    batch: &SpeechBatch,
    plan: &ShardPlan,
    settings: &JobSettings,
) -> Job {
    let mut job = build_job(id, batch, plan, settings);
    job.metadata.name = Some(id.analytics_job_name());
    if let Some(spec) = job.spec.as_mut() {
        spec.completions = Some(1);
        spec.parallelism = Some(1);
        if let Some(pod) = spec.template.spec.as_mut() {
            for c in &mut pod.containers {
                c.env
                    .get_or_insert_with(Vec::new)
                    .push(env(shard::env::STAGE, shard::STAGE_ANALYTICS));
            }
        }
    }
    job
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
        if let PodOutcome::Succeeded { counts, .. } = pod.outcome {
            if (pod.index as usize) < shards {
                by_index.insert(
                    pod.index,
                    ShardResult {
                        index: pod.index,
                        counts,
                    },
                );
            }
        }
    }
    by_index.into_values().collect()
}
