//! The LanguageModel controller: the thin shell around [`crate::language_model`]. Each
//! reconcile reads the model's corpus analyses from the model store, analyses the corpora
//! whose analysis is missing or stale (on a blocking thread), writes the derived status, runs a
//! due training (status `training`, then the vocabulary stored and `available`, or `failed`),
//! and on deletion (finalizer) removes every store object of the model. Each training request
//! writes its own vocabulary object, never overwritten, so a batch naming one keeps what it
//! started with.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crds::customization::Vocabulary;
use crds::language_model::{
    corpus_analysis_key, model_prefix, LanguageModel, LanguageModelStatusFields, FINALIZER,
};
use crds::Timestamp;
use futures::StreamExt;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::finalizer::{finalizer, Event as Finalizer};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use speechbatch_storage::{Bucket, StorageError, StorageErrorKind};
use tracing::Instrument;

use crate::apply::MANAGER;
use crate::language_model::{self as core, StoredAnalysis, TrainingOutcome};

/// Largest corpus text read (a corpus of 10 million words is about 60 MB).
pub const MAX_CORPUS_BYTES: u64 = 256 << 20;
/// Largest analysis or vocabulary object read.
pub const MAX_JSON_BYTES: u64 = 64 << 20;

/// Errors of a LanguageModel reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API request failed.
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    /// The model store failed (retried after a back-off).
    #[error("model store: {0}")]
    Store(#[from] StorageError),
    /// The finalizer helper failed.
    #[error("finalizer error: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// LanguageModel is namespaced.
    #[error("LanguageModel without a namespace")]
    MissingNamespace,
}

/// Shared state of LanguageModel reconciles.
pub struct ModelContext {
    /// The API client.
    pub client: Client,
    /// The model store.
    pub store: Bucket,
}

fn key(lm: &LanguageModel) -> String {
    format!("{}/{}", lm.namespace().unwrap_or_default(), lm.name_any())
}

/// Reconciles one LanguageModel, in a `reconcile` span naming it.
pub async fn reconcile(lm: Arc<LanguageModel>, ctx: Arc<ModelContext>) -> Result<Action, Error> {
    let span = tracing::info_span!("reconcile", language_model = %key(&lm));
    async move {
        let ns = lm.namespace().ok_or(Error::MissingNamespace)?;
        let api: Api<LanguageModel> = Api::namespaced(ctx.client.clone(), &ns);
        finalizer(&api, FINALIZER, lm, |event| async {
            match event {
                Finalizer::Apply(m) => apply_model(&m, &ctx, &api).await,
                Finalizer::Cleanup(m) => cleanup(&m, &ctx).await,
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)))
    }
    .instrument(span)
    .await
}

/// Reads a JSON object of the store; `None` when it does not exist.
async fn get_json<T: serde::de::DeserializeOwned>(
    store: &Bucket,
    key: &str,
) -> Result<Option<T>, StorageError> {
    match store.get(key, MAX_JSON_BYTES).await {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(e) if e.kind == StorageErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

async fn put_json<T: serde::Serialize>(
    store: &Bucket,
    key: &str,
    value: &T,
) -> Result<(), StorageError> {
    let body = serde_json::to_vec(value).expect("serializes");
    store.put(key, body, "application/json").await
}

async fn write_status(
    api: &Api<LanguageModel>,
    name: &str,
    status: &LanguageModelStatusFields,
) -> Result<(), kube::Error> {
    let patch = serde_json::json!({
        "apiVersion": LanguageModel::api_version(&()),
        "kind": LanguageModel::kind(&()),
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

async fn apply_model(
    lm: &LanguageModel,
    ctx: &ModelContext,
    api: &Api<LanguageModel>,
) -> Result<Action, Error> {
    let id = lm.name_any();
    let store = &ctx.store;
    // What the store holds for the spec's corpora.
    let mut analyses: BTreeMap<String, StoredAnalysis> = BTreeMap::new();
    for c in &lm.spec.corpora {
        if let Some(a) = get_json(store, &corpus_analysis_key(&id, &c.name)).await? {
            analyses.insert(c.name.clone(), a);
        }
    }
    let stale: Vec<_> = core::corpora_to_analyse(&lm.spec, &analyses)
        .into_iter()
        .cloned()
        .collect();
    let now = Timestamp::now();
    let mut current = lm.clone();
    let mut unreadable = false;
    if !stale.is_empty() {
        // Show the corpora as being processed while they are analysed.
        let state = core::model_state(&id, &lm.spec, &analyses, None, now);
        let status = core::derive_status(lm, state.as_ref().map_err(String::as_str), now);
        if lm.status.as_ref() != Some(&status) {
            write_status(api, &id, &status).await?;
        }
        current.status = Some(status);
        for c in &stale {
            let analysis = match store.get(&c.object, MAX_CORPUS_BYTES).await {
                Ok(bytes) => {
                    let sha = c.sha256.clone();
                    let analysis =
                        tokio::task::spawn_blocking(move || core::analyse_text(&sha, &bytes))
                            .await
                            .unwrap_or_else(|e| {
                                StoredAnalysis::new(
                                    &c.sha256,
                                    Err(format!("analysis panicked: {e}")),
                                )
                            });
                    put_json(store, &corpus_analysis_key(&id, &c.name), &analysis).await?;
                    analysis
                }
                // Not stored: the text may still arrive under that key (tried again on the
                // next reconcile).
                Err(e) if e.is_permanent() => {
                    unreadable = true;
                    StoredAnalysis::new(
                        &c.sha256,
                        Err(format!("The corpus text cannot be read: {}", e.message)),
                    )
                }
                Err(e) => return Err(e.into()),
            };
            analyses.insert(c.name.clone(), analysis);
        }
    }
    let now = Timestamp::now();
    let state = core::model_state(&id, &lm.spec, &analyses, None, now);
    let status = core::derive_status(&current, state.as_ref().map_err(String::as_str), now);
    if let (Some(request), Ok(state)) = (core::training_due(&current, 0), state.as_ref()) {
        let upgrade = lm.spec.training.as_ref().is_some_and(|t| t.upgrade);
        write_status(api, &id, &core::training_status(&status, upgrade, now)).await?;
        // The previous vocabulary: the weight it saved is the default of this training.
        let previous: Option<Vocabulary> = match status.trained.as_ref() {
            Some(t) => get_json(store, &t.object).await?,
            None => None,
        };
        let mut state = state.clone();
        state.trained = previous;
        let outcome = {
            let (id, lm) = (id.clone(), current.clone());
            tokio::task::spawn_blocking(move || core::train(&id, &lm, state, request, now))
                .await
                .unwrap_or_else(|e| {
                    TrainingOutcome::Failed(crds::language_model::TrainingFailure {
                        request,
                        inputs: core::fingerprint(&current.spec),
                        error: format!("training panicked: {e}"),
                    })
                })
        };
        if let TrainingOutcome::Trained(v, t) = &outcome {
            put_json(store, &t.object, v.as_ref()).await?;
        }
        let now = Timestamp::now();
        let status = core::after_training(
            &current,
            state_ref(&core::model_state(&id, &lm.spec, &analyses, None, now)),
            &outcome,
            now,
        );
        write_status(api, &id, &status).await?;
        // Earlier vocabularies stay (one immutable object per training request): a batch
        // applied with kubectl may name one directly; they go with the model.
        return Ok(Action::await_change());
    }
    if current.status.as_ref() != Some(&status) {
        write_status(api, &id, &status).await?;
    }
    Ok(Action::requeue(Duration::from_secs(if unreadable {
        10
    } else {
        300
    })))
}

fn state_ref(
    s: &Result<speechbatch_custom::ModelState, String>,
) -> Result<&speechbatch_custom::ModelState, &str> {
    s.as_ref().map_err(String::as_str)
}

/// Deletion: every store object of the model goes (batches keep their own copies).
async fn cleanup(lm: &LanguageModel, ctx: &ModelContext) -> Result<Action, Error> {
    let prefix = model_prefix(&lm.name_any());
    for key in ctx.store.list_keys(&prefix).await? {
        ctx.store.delete(&key).await?;
    }
    Ok(Action::await_change())
}

/// Retry after a short back-off.
pub fn error_policy(lm: Arc<LanguageModel>, error: &Error, _ctx: Arc<ModelContext>) -> Action {
    tracing::warn!(language_model = %key(&lm), "reconcile failed: {error}");
    Action::requeue(Duration::from_secs(10))
}

/// Runs the LanguageModel controller until a shutdown signal.
pub async fn run(client: Client, namespace: Option<&str>, ctx: Arc<ModelContext>) {
    let models = match namespace {
        Some(ns) => Api::<LanguageModel>::namespaced(client, ns),
        None => Api::all(client),
    };
    Controller::new(models, watcher::Config::default().any_semantic())
        .with_config(ControllerConfig::default().debounce(Duration::from_millis(500)))
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
