//! The thin layer that carries a [`Decision`](crate::decide::Decision) out against the API:
//! status by server-side apply under one field manager, Job create/delete, reads of the Job
//! and its pods. Nothing here decides anything.

use crds::resource::{SpeechBatch, SpeechBatchStatus};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};

/// The field manager of everything the operator writes.
pub const MANAGER: &str = "speechbatch-operator";

/// Applies the whole status the operator owns (server-side apply on the status subresource,
/// forced: the operator is the only writer of these fields; a field it no longer sends is
/// removed).
pub async fn apply_status(
    api: &Api<SpeechBatch>,
    name: &str,
    status: &SpeechBatchStatus,
) -> Result<SpeechBatch, kube::Error> {
    let patch = serde_json::json!({
        "apiVersion": SpeechBatch::api_version(&()),
        "kind": SpeechBatch::kind(&()),
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
}

/// Reads a Job; `None` when it does not exist.
pub async fn get_job(api: &Api<Job>, name: &str) -> Result<Option<Job>, kube::Error> {
    api.get_opt(name).await
}

/// Whether a Job is controlled by this SpeechBatch (not a leftover of a namesake).
pub fn owned_by(job: &Job, batch: &SpeechBatch) -> bool {
    let uid = batch.uid();
    job.owner_references()
        .iter()
        .any(|o| o.controller == Some(true) && Some(&o.uid) == uid.as_ref())
}

/// Lists the pods of a Job by the label Kubernetes gives them.
pub async fn list_pods(api: &Api<Pod>, job: &str) -> Result<Vec<Pod>, kube::Error> {
    let lp = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}"));
    Ok(api.list(&lp).await?.items)
}

/// Creates the Job; one that already exists counts as created.
pub async fn create_job(api: &Api<Job>, job: &Job) -> Result<(), kube::Error> {
    let pp = PostParams {
        field_manager: Some(MANAGER.to_owned()),
        ..Default::default()
    };
    match api.create(&pp, job).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.is_already_exists() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes the Job (`Background`: it goes now, its pods right after; `Foreground`: it goes
/// once its pods are gone); a missing one counts as deleted.
pub async fn delete_job(api: &Api<Job>, name: &str, foreground: bool) -> Result<(), kube::Error> {
    let dp = if foreground {
        DeleteParams::foreground()
    } else {
        DeleteParams::background()
    };
    match api.delete(name, &dp).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}
