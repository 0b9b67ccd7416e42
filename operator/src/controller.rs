//! The SpeechBatch controller, shaped like kube-rs `controller-rs`: a [`Context`], a
//! reconcile behind `finalizer()` with Apply and Cleanup, an `error_policy`, status by
//! server-side apply. Each reconcile observes (scan when unplanned, the Job, its pods), asks
//! the pure core ([`decide`]) what to do, and carries that out ([`crate::apply`]).
//!
//! Progress aggregation: the operator lists the Job's pods (label
//! `batch.kubernetes.io/job-name`) and, for each Succeeded pod, takes the tally of its
//! termination message for its completion index into `status.shards[]`, a list-map keyed by
//! index. A shard recounts its whole range from the outputs' batch-id metadata on every try,
//! so the tally of the pod that succeeded is exact for its index: replacing by index (never
//! adding) makes retries count once, and the record stays O(shards) whatever the file count.
//! Workers need no API access (no RBAC, no token); the operator needs pods get/list/watch.
//! The speech analytics Job's pod reports the batch's analytics summary the same way; the
//! operator keeps it in `status.analytics`, also for a batch that was canceled (and so final)
//! before that Job ended.

use std::sync::Arc;
use std::time::Duration;

use crds::language_model::batch_vocabulary_key;
use crds::resource::SpeechBatch;
use crds::{BatchStatus, Timestamp, BATCH_LABEL};
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{finalizer, Event as Finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use tokio::sync::RwLock;
use tracing::Instrument;

use crate::apply::{self, MANAGER};
use crate::build::SHARD_APP_NAME;
use crate::conditions as cond;
use crate::decide::{decide, needs_scan, JobAction, Observed, Policy};
use crate::metrics::Metrics;
use crate::observe::{pod_report, JobObservation};
use crate::scan::Scanner;

/// The finalizer that makes deletion stop the Job first.
pub const FINALIZER: &str = "speechbatch.io/cleanup";

/// Errors of a reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API request failed.
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    /// The finalizer helper failed.
    #[error("finalizer error: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// Deletion waits for the Job (and, foreground, its pods) to be gone.
    #[error("waiting for Job {0} to be deleted")]
    JobStillExists(String),
    /// A Job of the batch's name exists but belongs to something else (a deleted namesake).
    #[error("Job {0} exists but is not controlled by this SpeechBatch; waiting for it to go")]
    ForeignJob(String),
    /// SpeechBatch is namespaced.
    #[error("SpeechBatch without a namespace")]
    MissingNamespace,
    /// The model store failed while deleting a batch's vocabulary (retried).
    #[error("model store: {0}")]
    ModelStore(String),
}

impl Error {
    /// A short label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Finalizer(e) => match e.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(inner)
                | kube::runtime::finalizer::Error::CleanupFailed(inner) => inner.metric_label(),
                _ => "finalizer",
            },
            Error::JobStillExists(_) => "waiting",
            Error::ForeignJob(_) => "foreign_job",
            Error::MissingNamespace => "namespace",
            Error::ModelStore(_) => "model_store",
        }
    }
}

/// When the controller last acted, for diagnostics.
#[derive(Clone, Debug)]
pub struct Diagnostics {
    /// The start of the last reconcile.
    pub last_event: Timestamp,
    /// How Events name this controller.
    pub reporter: Reporter,
}

/// Shared state of all reconciles.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Job shape and scan retry policy.
    pub policy: Policy,
    /// The bucket scanner.
    pub scanner: Arc<dyn Scanner>,
    /// Publishes Events.
    pub recorder: Recorder,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Last activity.
    pub diagnostics: Arc<RwLock<Diagnostics>>,
    /// Re-check interval of active batches.
    pub resync: Duration,
    /// The model store, where the frozen vocabulary of a batch naming a custom language model
    /// is deleted with the batch.
    pub model_store: Option<speechbatch_storage::Bucket>,
}

impl Context {
    /// A context for `client`.
    pub fn new(
        client: Client,
        policy: Policy,
        scanner: Arc<dyn Scanner>,
        metrics: Arc<Metrics>,
        identity: Option<String>,
        resync: Duration,
    ) -> Self {
        let reporter = Reporter {
            controller: MANAGER.to_owned(),
            instance: identity,
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter.clone()),
            client,
            policy,
            scanner,
            metrics,
            diagnostics: Arc::new(RwLock::new(Diagnostics {
                last_event: Timestamp::now(),
                reporter,
            })),
            resync,
            model_store: None,
        }
    }

    /// The same context with the model store.
    pub fn with_model_store(mut self, store: Option<speechbatch_storage::Bucket>) -> Self {
        self.model_store = store;
        self
    }
}

fn key(batch: &SpeechBatch) -> String {
    format!(
        "{}/{}",
        batch.namespace().unwrap_or_default(),
        batch.name_any()
    )
}

/// Reconciles one SpeechBatch, in a `reconcile` span naming it.
pub async fn reconcile(batch: Arc<SpeechBatch>, ctx: Arc<Context>) -> Result<Action, Error> {
    let span = tracing::info_span!("reconcile", batch = %key(&batch));
    reconcile_in_span(batch, ctx).instrument(span).await
}

async fn reconcile_in_span(batch: Arc<SpeechBatch>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile();
    ctx.diagnostics.write().await.last_event = Timestamp::now();
    let ns = batch.namespace().ok_or(Error::MissingNamespace)?;
    let api: Api<SpeechBatch> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, FINALIZER, batch, |event| async {
        match event {
            Finalizer::Apply(b) => apply_batch(&b, &ctx, &ns).await,
            Finalizer::Cleanup(b) => cleanup(&b, &ctx, &ns).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

async fn apply_batch(batch: &SpeechBatch, ctx: &Context, ns: &str) -> Result<Action, Error> {
    let name = batch.name_any();
    let id = batch.batch_id().ok();
    let api: Api<SpeechBatch> = Api::namespaced(ctx.client.clone(), ns);
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let prev = batch.status.clone().unwrap_or_default();
    let is_final = prev.status.is_some_and(BatchStatus::is_final);

    let scan = if needs_scan(batch) {
        if batch.spec.language_model.is_some() && ctx.policy.job.model_store.is_none() {
            Some(crate::decide::ScanOutcome::Failed {
                permanent: true,
                message: "The batch names a custom language model, but the operator has no model store (customModels.store in the chart): configure it, or create the batch without language_customization_id".to_owned(),
            })
        } else {
            Some(ctx.scanner.scan(&ctx.client, batch).await)
        }
    } else {
        None
    };
    // The Job can only exist once a plan was recorded.
    let job_name = prev
        .job_name
        .clone()
        .or_else(|| id.as_ref().map(|id| id.job_name()))
        .unwrap_or_default();
    let (mut job, mut pods, mut analytics) = (None, Vec::new(), None);
    let mut analytics_pods = Vec::new();
    // An empty bucket completes at once: no analytics Job to look for.
    let wants_analytics = batch.spec.recognition.speech_analytics
        && prev.plan.as_ref().is_some_and(|p| !p.is_empty());
    if !is_final && prev.plan.is_some() {
        if let (true, Some(id)) = (wants_analytics, &id) {
            let name = id.analytics_job_name();
            if let Some(j) = apply::get_job(&jobs, &name).await? {
                if !apply::owned_by(&j, batch) {
                    return Err(Error::ForeignJob(name));
                }
                // Its pod's termination message carries the analytics summary.
                analytics_pods = apply::list_pods(&pods_api, &name)
                    .await?
                    .iter()
                    .filter_map(pod_report)
                    .collect();
                analytics = Some(JobObservation::from_job(&j));
            }
        }
        if let Some(j) = apply::get_job(&jobs, &job_name).await? {
            if !apply::owned_by(&j, batch) {
                return Err(Error::ForeignJob(job_name));
            }
            pods = apply::list_pods(&pods_api, &job_name)
                .await?
                .iter()
                .filter_map(pod_report)
                .collect();
            job = Some(JobObservation::from_job(&j));
        }
    } else if let (true, true, None, Some(id)) =
        (is_final, wants_analytics, prev.analytics.as_ref(), &id)
    {
        // A final batch whose analytics summary is not recorded yet: a canceled batch's
        // analytics Job runs after the cancel (its pod's changes bring the batch here), and a
        // completed one's pod may have reported after the reconcile that completed it. A Job
        // that is not this batch's is no reason to fail a finished batch: it is ignored.
        let name = id.analytics_job_name();
        if let Some(j) = apply::get_job(&jobs, &name).await? {
            if apply::owned_by(&j, batch) {
                analytics_pods = apply::list_pods(&pods_api, &name)
                    .await?
                    .iter()
                    .filter_map(pod_report)
                    .collect();
            }
        }
    }
    let decision = decide(
        &Observed {
            batch,
            scan,
            job,
            pods,
            analytics,
            analytics_pods,
            now: Timestamp::now(),
        },
        &ctx.policy,
    );

    // Delete before recording `canceled` (a final status is never revisited); record the plan
    // before creating the Job (a failed create is retried from the same plan).
    if let JobAction::Delete(j) = &decision.job {
        apply::delete_job(&jobs, j, false).await?;
    }
    if batch.status.as_ref() != Some(&decision.status) {
        apply::apply_status(&api, &name, &decision.status).await?;
    }
    if let JobAction::Create(j) = &decision.job {
        apply::create_job(&jobs, j).await?;
    }
    if let Some(j) = &decision.analytics_job {
        apply::create_job(&jobs, j).await?;
    }
    let reference = batch.object_ref(&());
    for note in &decision.notes {
        let event = KubeEvent {
            type_: if note.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: note.reason.to_owned(),
            note: Some(note.message.chars().take(1000).collect()),
            action: "Reconcile".to_owned(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &reference).await {
            tracing::warn!(batch = %key(batch), "cannot publish event {}: {e}", note.reason);
        }
    }
    let state = decision.status.status.unwrap_or(BatchStatus::Initializing);
    ctx.metrics.set_batch(&key(batch), Some(state));
    Ok(if state.is_final() {
        Action::await_change()
    } else if cond::find(&decision.status.conditions, cond::SCANNED)
        .is_some_and(|c| c.status == "Unknown")
    {
        Action::requeue(
            Duration::from_secs(15).min(ctx.policy.retry_window.max(Duration::from_secs(1))),
        )
    } else {
        Action::requeue(ctx.resync)
    })
}

/// Deletion: stop the Job (foreground, so that it is gone only once its pods are) and keep
/// the finalizer until it is gone. Outputs are never deleted.
async fn cleanup(batch: &SpeechBatch, ctx: &Context, ns: &str) -> Result<Action, Error> {
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
    let job_name = batch
        .status
        .as_ref()
        .and_then(|s| s.job_name.clone())
        .or_else(|| batch.batch_id().ok().map(|id| id.job_name()))
        .unwrap_or_default();
    match apply::get_job(&jobs, &job_name).await? {
        Some(job) if apply::owned_by(&job, batch) => {
            if job.metadata.deletion_timestamp.is_none() {
                apply::delete_job(&jobs, &job_name, true).await?;
            }
            Err(Error::JobStillExists(job_name))
        }
        _ => {
            // The batch's frozen copy of its custom language model goes with it.
            // Only the copy made for this batch (`batches/<id>/vocabulary.json`): a batch
            // applied with kubectl may name the model's own vocabulary object instead.
            let copy = batch
                .spec
                .language_model
                .as_ref()
                .filter(|lm| lm.vocabulary_object == batch_vocabulary_key(&batch.name_any()));
            if let (Some(lm), Some(store)) = (copy, &ctx.model_store) {
                if let Err(e) = store.delete(&lm.vocabulary_object).await {
                    tracing::warn!(batch = %key(batch), "cannot delete the batch's vocabulary {}: {e}", lm.vocabulary_object);
                    if !e.is_permanent() {
                        return Err(Error::ModelStore(e.to_string()));
                    }
                }
            }
            ctx.metrics.set_batch(&key(batch), None);
            Ok(Action::await_change())
        }
    }
}

/// Retry soon while waiting for a deletion, else after a short back-off.
pub fn error_policy(batch: Arc<SpeechBatch>, error: &Error, ctx: Arc<Context>) -> Action {
    let label = error.metric_label();
    if label == "waiting" {
        return Action::requeue(Duration::from_secs(2));
    }
    tracing::warn!(batch = %key(&batch), "reconcile failed: {error}");
    ctx.metrics.failure(label);
    Action::requeue(Duration::from_secs(15))
}

/// Runs the controller until a shutdown signal.
pub async fn run(client: Client, namespace: Option<&str>, ctx: Arc<Context>) {
    let (batches, jobs, pods) = match namespace {
        Some(ns) => (
            Api::<SpeechBatch>::namespaced(client.clone(), ns),
            Api::<Job>::namespaced(client.clone(), ns),
            Api::<Pod>::namespaced(client.clone(), ns),
        ),
        None => (
            Api::all(client.clone()),
            Api::all(client.clone()),
            Api::all(client),
        ),
    };
    let shard_selector = format!("app.kubernetes.io/name={SHARD_APP_NAME}");
    Controller::new(batches, watcher::Config::default().any_semantic())
        .with_config(ControllerConfig::default().debounce(Duration::from_secs(1)))
        .owns(jobs, watcher::Config::default().labels(&shard_selector))
        .watches(
            pods,
            watcher::Config::default().labels(&shard_selector),
            |pod: Pod| {
                let ns = pod.namespace()?;
                let batch = pod.labels().get(BATCH_LABEL)?.clone();
                Some(ObjectRef::<SpeechBatch>::new(&batch).within(&ns))
            },
        )
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => tracing::debug!("reconciled {obj}"),
                Err(e) => tracing::debug!("reconcile error: {e}"),
            }
        })
        .await;
}
