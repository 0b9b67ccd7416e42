//! The Job controller and the kubelet, played by one loop: for each Indexed Job it creates a Pod
//! object per completion index (up to `parallelism` at once), runs the pod's container as a local
//! process, writes the pod's status and termination message when the process ends, applies
//! `backoffLimitPerIndex` and the `podFailurePolicy`, honours `suspend`, and keeps the Job's
//! status (`active`, `succeeded`, `failed`, `completedIndexes`, `failedIndexes`, conditions) as the
//! real Job controller writes it.
//!
//! What a process gets in place of a container: `command[0]` is looked up in
//! [`KubeletConfig::commands`]; `env` with `value`, `secretKeyRef` and `fieldRef`
//! (`metadata.name`, `metadata.namespace`) is resolved, plus `JOB_COMPLETION_INDEX`; Secret volumes
//! are written into the pod's folder and every environment value that starts with a volume's
//! `mountPath` is rewritten to that folder (there are no mount namespaces here); the termination
//! message file is named by the variable [`KubeletConfig::termination_log_env`]. Deleting a Pod
//! sends SIGTERM and, after the grace period, SIGKILL. Images, resources, node selectors, service
//! accounts and probes are ignored.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

/// The label and annotation Kubernetes puts on an Indexed Job's pods.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
/// The label naming a pod's Job.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
/// The label with the uid of a pod's Job.
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// The most Kubernetes keeps of a termination message.
pub const TERMINATION_MESSAGE_LIMIT: usize = 4096;

/// How container processes are run.
#[derive(Clone, Debug)]
pub struct KubeletConfig {
    /// The local executable for each `command[0]` a container may name.
    pub commands: BTreeMap<String, PathBuf>,
    /// Extra environment for every process (model folders, thread counts).
    pub env: Vec<(String, String)>,
    /// The variable that tells a process where its termination message file is.
    pub termination_log_env: String,
    /// Where pod folders (volumes, logs, termination messages) go.
    pub root: PathBuf,
    /// Time between SIGTERM and SIGKILL when a pod is deleted.
    pub grace: Duration,
    /// How often Jobs and Pods are looked at.
    pub tick: Duration,
}

struct RunningPod {
    name: String,
    dir: PathBuf,
    child: Child,
    started: String,
    term_sent: Option<Instant>,
}

enum Index {
    Pending,
    Running(Box<RunningPod>),
    Succeeded,
    Failed,
}

struct JobRun {
    namespace: String,
    indexes: Vec<Index>,
    failures: Vec<i32>,
    pods_succeeded: i32,
    pods_failed: i32,
    start_time: String,
    /// `Some((reason, message))` once a `FailJob` rule matched.
    fail_job: Option<(String, String)>,
    pod_serial: u32,
    /// What was last written to the Job's status, less timestamps.
    last_status: Option<Value>,
}

/// Runs the loop until the task is aborted (which kills every process it started).
pub async fn run(client: Client, cfg: KubeletConfig) {
    let mut runs: HashMap<String, JobRun> = HashMap::new();
    loop {
        if let Err(e) = tick(&client, &cfg, &mut runs).await {
            tracing::warn!("kube-sim kubelet: {e:#}");
        }
        tokio::time::sleep(cfg.tick).await;
    }
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

async fn tick(
    client: &Client,
    cfg: &KubeletConfig,
    runs: &mut HashMap<String, JobRun>,
) -> anyhow::Result<()> {
    let jobs: Api<Job> = Api::all(client.clone());
    let pods: Api<Pod> = Api::all(client.clone());
    let job_list = jobs.list(&ListParams::default()).await?.items;
    let live_pods: BTreeSet<(String, String)> = pods
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| (p.namespace().unwrap_or_default(), p.name_any()))
        .collect();

    // The kubelet: a pod whose object is gone or being deleted gets stopped; its index runs again
    // if its Job still wants it.
    for run in runs.values_mut() {
        for index in run.indexes.iter_mut() {
            if let Index::Running(pod) = index {
                if live_pods.contains(&(run.namespace.clone(), pod.name.clone())) {
                    continue;
                }
                if stop(pod, cfg.grace).await {
                    *index = Index::Pending;
                }
            }
        }
    }

    let mut seen = BTreeSet::new();
    for job in &job_list {
        let Some(uid) = job.uid() else { continue };
        seen.insert(uid.clone());
        if job.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let spec = job.spec.clone().unwrap_or_default();
        if spec.completion_mode.as_deref() != Some("Indexed") {
            continue;
        }
        let completions = spec.completions.unwrap_or(1).max(0) as usize;
        let run = runs.entry(uid.clone()).or_insert_with(|| JobRun {
            namespace: job.namespace().unwrap_or_default(),
            indexes: (0..completions).map(|_| Index::Pending).collect(),
            failures: vec![0; completions],
            pods_succeeded: 0,
            pods_failed: 0,
            start_time: now(),
            fail_job: None,
            pod_serial: 0,
            last_status: None,
        });
        let finished = job_finished(job);
        let suspended = spec.suspend.unwrap_or(false);
        let pods_ns: Api<Pod> = Api::namespaced(client.clone(), &run.namespace);

        // Processes that ended.
        for i in 0..run.indexes.len() {
            let Index::Running(pod) = &mut run.indexes[i] else {
                continue;
            };
            let Some(status) = pod.child.try_wait()? else {
                continue;
            };
            let code = status.code().unwrap_or(128 + 9);
            let message = read_message(&pod.dir.join("termination-log"));
            let succeeded = code == 0;
            let patch = json!({"status": {
                "phase": if succeeded { "Succeeded" } else { "Failed" },
                "containerStatuses": [{
                    "name": container_name(job),
                    "image": "",
                    "imageID": "",
                    "ready": false,
                    "restartCount": 0,
                    "state": {"terminated": {
                        "exitCode": code,
                        "reason": if succeeded { "Completed" } else { "Error" },
                        "message": message,
                        "startedAt": pod.started,
                        "finishedAt": now(),
                    }},
                }],
            }});
            let name = pod.name.clone();
            if let Err(e) = pods_ns
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                tracing::warn!("kube-sim kubelet: cannot write the status of pod {name}: {e}");
            }
            if succeeded {
                run.pods_succeeded += 1;
                run.indexes[i] = Index::Succeeded;
                continue;
            }
            run.pods_failed += 1;
            let action = failure_action(&spec, &container_name(job), code);
            match action.as_str() {
                "FailJob" => {
                    run.fail_job = Some((
                        "PodFailurePolicy".to_owned(),
                        format!(
                            "Container {} for pod {}/{} failed with exit code {code} matching FailJob rule at index 0",
                            container_name(job),
                            run.namespace,
                            name
                        ),
                    ));
                    run.indexes[i] = Index::Failed;
                }
                "FailIndex" => run.indexes[i] = Index::Failed,
                "Ignore" => run.indexes[i] = Index::Pending,
                _ => {
                    run.failures[i] += 1;
                    let limit = spec.backoff_limit_per_index.unwrap_or(6);
                    run.indexes[i] = if run.failures[i] > limit {
                        Index::Failed
                    } else {
                        Index::Pending
                    };
                }
            }
        }

        // Suspended, failed or finished: no pod should run.
        if suspended || run.fail_job.is_some() || finished {
            for index in run.indexes.iter_mut() {
                if let Index::Running(pod) = index {
                    let _ = pods_ns.delete(&pod.name, &Default::default()).await;
                    if stop(pod, cfg.grace).await {
                        *index = Index::Pending;
                    }
                }
            }
        } else {
            // Start pods for pending indexes, lowest first, up to parallelism.
            let parallelism = spec.parallelism.unwrap_or(1).max(0) as usize;
            let mut running = run
                .indexes
                .iter()
                .filter(|i| matches!(i, Index::Running(_)))
                .count();
            for i in 0..run.indexes.len() {
                if running >= parallelism {
                    break;
                }
                if !matches!(run.indexes[i], Index::Pending) {
                    continue;
                }
                run.pod_serial += 1;
                match start_pod(client, cfg, job, i, run.pod_serial).await {
                    Ok(pod) => {
                        run.indexes[i] = Index::Running(Box::new(pod));
                        running += 1;
                    }
                    Err(e) => {
                        tracing::warn!("kube-sim kubelet: pod for index {i} not started: {e:#}");
                        break;
                    }
                }
            }
        }
        if !finished {
            write_job_status(&jobs_in(client, &run.namespace), job, run, suspended).await?;
        }
    }
    // Jobs that are gone: their pods go with them (the garbage collector deletes the objects).
    let gone: Vec<String> = runs
        .keys()
        .filter(|k| !seen.contains(*k))
        .cloned()
        .collect();
    for uid in gone {
        let mut all_stopped = true;
        if let Some(run) = runs.get_mut(&uid) {
            for index in run.indexes.iter_mut() {
                if let Index::Running(pod) = index {
                    if stop(pod, cfg.grace).await {
                        *index = Index::Pending;
                    } else {
                        all_stopped = false;
                    }
                }
            }
        }
        if all_stopped {
            runs.remove(&uid);
        }
    }
    Ok(())
}

fn jobs_in(client: &Client, ns: &str) -> Api<Job> {
    Api::namespaced(client.clone(), ns)
}

fn job_finished(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
}

fn container_name(job: &Job) -> String {
    job.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers.first())
        .map(|c| c.name.clone())
        .unwrap_or_default()
}

/// The action of the first `podFailurePolicy` rule matching a container's exit code (`Count`
/// when none does). Pod-condition rules never match: no pod here is ever disrupted.
pub fn failure_action(
    spec: &k8s_openapi::api::batch::v1::JobSpec,
    container: &str,
    code: i32,
) -> String {
    for rule in spec
        .pod_failure_policy
        .as_ref()
        .map(|p| p.rules.as_slice())
        .unwrap_or_default()
    {
        let Some(req) = &rule.on_exit_codes else {
            continue;
        };
        if req
            .container_name
            .as_deref()
            .is_some_and(|c| c != container)
        {
            continue;
        }
        let listed = req.values.contains(&code);
        let matches = match req.operator.as_str() {
            "In" => listed,
            "NotIn" => !listed,
            _ => false,
        };
        if matches {
            return rule.action.clone();
        }
    }
    "Count".to_owned()
}

/// `0-2,5`: the interval form Kubernetes writes `completedIndexes` in.
pub fn index_ranges(indexes: impl IntoIterator<Item = usize>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for i in indexes {
        current = match current {
            Some((a, b)) if i == b + 1 => Some((a, i)),
            Some((a, b)) => {
                parts.push(range_text(a, b));
                Some((i, i))
            }
            None => Some((i, i)),
        };
    }
    if let Some((a, b)) = current {
        parts.push(range_text(a, b));
    }
    parts.join(",")
}

fn range_text(a: usize, b: usize) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("{a}-{b}")
    }
}

async fn write_job_status(
    api: &Api<Job>,
    job: &Job,
    run: &mut JobRun,
    suspended: bool,
) -> anyhow::Result<()> {
    let active = run
        .indexes
        .iter()
        .filter(|i| matches!(i, Index::Running(_)))
        .count();
    let done: Vec<usize> = (0..run.indexes.len())
        .filter(|&i| matches!(run.indexes[i], Index::Succeeded))
        .collect();
    let failed: Vec<usize> = (0..run.indexes.len())
        .filter(|&i| matches!(run.indexes[i], Index::Failed))
        .collect();
    let all_done = done.len() + failed.len() == run.indexes.len();
    let t = now();
    let cond = |type_: &str, reason: &str, message: &str| {
        json!({"type": type_, "status": "True", "reason": reason, "message": message,
               "lastProbeTime": t, "lastTransitionTime": t})
    };
    let mut conditions: Vec<Value> = Vec::new();
    let mut completion_time = Value::Null;
    if let Some((reason, message)) = &run.fail_job {
        if active == 0 {
            conditions.push(cond("FailureTarget", reason, message));
            conditions.push(cond("Failed", reason, message));
        }
    } else if all_done && active == 0 {
        if failed.is_empty() {
            conditions.push(cond(
                "SuccessCriteriaMet",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            ));
            conditions.push(cond(
                "Complete",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            ));
            completion_time = json!(t);
        } else {
            conditions.push(cond(
                "FailureTarget",
                "FailedIndexes",
                "Job has failed indexes",
            ));
            conditions.push(cond("Failed", "FailedIndexes", "Job has failed indexes"));
        }
    } else if suspended {
        conditions.push(cond("Suspended", "JobSuspended", "Job suspended"));
    }
    let status = json!({
        "active": active,
        "ready": active,
        "terminating": 0,
        "succeeded": run.pods_succeeded,
        "failed": run.pods_failed,
        "completedIndexes": index_ranges(done.iter().copied()),
        "failedIndexes": index_ranges(failed.iter().copied()),
        "startTime": run.start_time,
        "completionTime": completion_time,
        "conditions": conditions,
    });
    // Written when something other than a timestamp changed.
    let mut signature = json!({
        "status": status,
        "conditions": conditions.iter().map(|c| c["type"].clone()).collect::<Vec<_>>(),
    });
    signature["status"]["conditions"] = Value::Null;
    signature["status"]["completionTime"] = Value::Null;
    if run.last_status.as_ref() != Some(&signature) {
        api.patch_status(
            &job.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": status})),
        )
        .await
        .context("cannot write the Job status")?;
        run.last_status = Some(signature);
    }
    Ok(())
}

fn read_message(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let cut = bytes.len().min(TERMINATION_MESSAGE_LIMIT);
    String::from_utf8_lossy(&bytes[..cut]).into_owned()
}

/// SIGTERM once, SIGKILL after the grace period; true once the process has exited.
async fn stop(pod: &mut RunningPod, grace: Duration) -> bool {
    if let Ok(Some(_)) = pod.child.try_wait() {
        return true;
    }
    match pod.term_sent {
        None => {
            if let Some(pid) = pod.child.id() {
                // tokio's Child only sends SIGKILL; `kill -TERM` needs no unsafe code.
                let _ = Command::new("kill")
                    .arg("-TERM")
                    .arg(pid.to_string())
                    .status()
                    .await;
            }
            pod.term_sent = Some(Instant::now());
        }
        Some(t) if t.elapsed() >= grace => {
            let _ = pod.child.start_kill();
        }
        Some(_) => {}
    }
    matches!(pod.child.try_wait(), Ok(Some(_)))
}

async fn start_pod(
    client: &Client,
    cfg: &KubeletConfig,
    job: &Job,
    index: usize,
    serial: u32,
) -> anyhow::Result<RunningPod> {
    let ns = job.namespace().unwrap_or_default();
    let job_name = job.name_any();
    let uid = job.uid().unwrap_or_default();
    let template = job
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let pod_spec: PodSpec = template
        .spec
        .clone()
        .ok_or_else(|| anyhow!("the Job has no pod spec"))?;
    let container: Container = pod_spec
        .containers
        .first()
        .cloned()
        .ok_or_else(|| anyhow!("the pod spec has no container"))?;
    let name = format!("{job_name}-{index}-{serial:05}");
    let dir = cfg.root.join(&ns).join(&name);
    std::fs::create_dir_all(&dir)?;

    // Volumes first: like a kubelet, a pod whose Secret is missing does not start.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let mut mounts: Vec<(String, PathBuf)> = Vec::new();
    for volume in pod_spec.volumes.iter().flatten() {
        let local = dir.join("volumes").join(&volume.name);
        std::fs::create_dir_all(&local)?;
        if let Some(source) = &volume.secret {
            let secret_name = source.secret_name.clone().unwrap_or_default();
            let secret = secrets
                .get(&secret_name)
                .await
                .with_context(|| format!("Secret {secret_name} for volume {}", volume.name))?;
            let data = secret.data.unwrap_or_default();
            let items: Vec<(String, String)> = match &source.items {
                Some(items) => items
                    .iter()
                    .map(|i| (i.key.clone(), i.path.clone()))
                    .collect(),
                None => data.keys().map(|k| (k.clone(), k.clone())).collect(),
            };
            for (key, path) in items {
                let value = data
                    .get(&key)
                    .ok_or_else(|| anyhow!("Secret {secret_name} has no key {key}"))?;
                let file = local.join(&path);
                std::fs::write(&file, &value.0)?;
                let mode = source.default_mode.unwrap_or(0o644) as u32;
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode))?;
            }
        }
    }
    for mount in container.volume_mounts.iter().flatten() {
        mounts.push((
            mount.mount_path.clone(),
            dir.join("volumes").join(&mount.name),
        ));
    }

    let mut labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(JOB_NAME_LABEL.to_owned(), job_name.clone());
    labels.insert(CONTROLLER_UID_LABEL.to_owned(), uid.clone());
    labels.insert(COMPLETION_INDEX.to_owned(), index.to_string());
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                COMPLETION_INDEX.to_owned(),
                index.to_string(),
            )])),
            owner_references: Some(vec![OwnerReference {
                api_version: "batch/v1".to_owned(),
                kind: "Job".to_owned(),
                name: job_name.clone(),
                uid,
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        spec: Some(pod_spec),
        status: None,
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    pods.create(&PostParams::default(), &pod)
        .await
        .context("cannot create the Pod")?;

    // The process.
    let command = container.command.clone().unwrap_or_default();
    let program = command
        .first()
        .ok_or_else(|| anyhow!("the container has no command"))?;
    let local_program = cfg
        .commands
        .get(program)
        .ok_or_else(|| anyhow!("no local program for container command {program}"))?;
    let mut cmd = Command::new(local_program);
    cmd.args(&command[1..]);
    cmd.args(container.args.iter().flatten());
    cmd.env_clear();
    for key in ["PATH", "HOME", "LD_LIBRARY_PATH", "RUST_BACKTRACE"] {
        if let Ok(v) = std::env::var(key) {
            cmd.env(key, v);
        }
    }
    for (k, v) in &cfg.env {
        cmd.env(k, v);
    }
    for var in container.env.iter().flatten() {
        let value = if let Some(v) = &var.value {
            v.clone()
        } else if let Some(from) = &var.value_from {
            if let Some(r) = &from.secret_key_ref {
                let s = secrets.get(&r.name).await?;
                let bytes = s
                    .data
                    .unwrap_or_default()
                    .get(&r.key)
                    .map(|b| b.0.clone())
                    .unwrap_or_default();
                String::from_utf8_lossy(&bytes).into_owned()
            } else if let Some(f) = &from.field_ref {
                match f.field_path.as_str() {
                    "metadata.name" => name.clone(),
                    "metadata.namespace" => ns.clone(),
                    other => return Err(anyhow!("fieldRef {other} is not simulated")),
                }
            } else {
                return Err(anyhow!(
                    "env {} has a source that is not simulated",
                    var.name
                ));
            }
        } else {
            String::new()
        };
        let value = mounts
            .iter()
            .find_map(|(path, local)| {
                value
                    .strip_prefix(path.as_str())
                    .map(|rest| format!("{}{rest}", local.display()))
            })
            .unwrap_or(value);
        cmd.env(&var.name, value);
    }
    cmd.env("JOB_COMPLETION_INDEX", index.to_string());
    cmd.env(&cfg.termination_log_env, dir.join("termination-log"));
    let log = std::fs::File::create(dir.join("log"))?;
    cmd.stdout(Stdio::from(log.try_clone()?));
    cmd.stderr(Stdio::from(log));
    cmd.stdin(Stdio::null());
    cmd.kill_on_drop(true);
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", local_program.display()))?;
    // For tests that kill a container the way an OOM kill or a lost node would.
    if let Some(pid) = child.id() {
        std::fs::write(dir.join("pid"), pid.to_string())?;
    }
    let started = now();
    let patch = json!({"status": {"phase": "Running", "startTime": started}});
    let _ = pods
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await;
    Ok(RunningPod {
        name,
        dir,
        child,
        started,
        term_sent: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{
        JobSpec, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyRule,
    };

    #[test]
    fn completed_indexes_are_written_as_intervals() {
        assert_eq!(index_ranges([]), "");
        assert_eq!(index_ranges([3]), "3");
        assert_eq!(index_ranges([0, 1, 2, 4, 6, 7]), "0-2,4,6-7");
    }

    #[test]
    fn the_first_matching_exit_code_rule_decides_and_others_count() {
        let rule = |action: &str, op: &str, values: Vec<i32>| PodFailurePolicyRule {
            action: action.into(),
            on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                container_name: Some("shard".into()),
                operator: op.into(),
                values,
            }),
            on_pod_conditions: None,
        };
        let spec = JobSpec {
            pod_failure_policy: Some(PodFailurePolicy {
                rules: vec![
                    rule("FailJob", "In", vec![3]),
                    rule("Ignore", "In", vec![3, 4]),
                ],
            }),
            ..Default::default()
        };
        assert_eq!(failure_action(&spec, "shard", 3), "FailJob");
        assert_eq!(failure_action(&spec, "shard", 4), "Ignore");
        assert_eq!(failure_action(&spec, "shard", 1), "Count");
        assert_eq!(failure_action(&spec, "other", 3), "Count");
    }
}
