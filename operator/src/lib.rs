//! The SpeechBatch Kubernetes operator: scans and plans a SpeechBatch's input bucket, runs one
//! Indexed Job per batch (one completion index per shard), aggregates shard tallies into the
//! CR status, and handles cancel and delete (ARCHITECTURE.md, "The path of one job").
//!
//! Layout (a client-free core, Stackable style, under a kube-rs `controller-rs` shell):
//! - [`conditions`]: condition types and the derivation of the interface's status string;
//! - [`observe`]: Job and pod objects reduced to facts (pure);
//! - [`build`]: the desired Job and the merge of shard tallies (pure);
//! - [`decide`]: the reconcile core, observed → desired status, Job action, events (pure);
//! - [`scan`]: Secrets + buckets → shard plan, behind the [`scan::Scanner`] trait;
//! - [`apply`]: the thin layer writing status (server-side apply) and Jobs;
//! - [`controller`]: `Context`, `reconcile` with the finalizer, `error_policy`, `run`;
//! - [`language_model`] (pure) and [`model_controller`]: the LanguageModel controller (corpus
//!   analysis, status, training into the model store, deletion of a model's objects);
//! - [`leader`], [`metrics`], [`http`], [`config`]: Lease, Prometheus, `/metrics` `/healthz`
//!   `/readyz`, flags.

#![warn(missing_docs)]

pub mod apply;
pub mod build;
pub mod conditions;
pub mod config;
pub mod controller;
pub mod decide;
pub mod http;
pub mod language_model;
pub mod leader;
pub mod metrics;
pub mod model_controller;
pub mod observe;
pub mod scan;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crds::resource::SpeechBatch;
use kube::api::ListParams;
use kube::{Api, Client};

pub use config::Config;

/// Why the operator stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No kubeconfig or in-cluster configuration.
    #[error("cannot build a Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    /// The metrics address cannot be bound.
    #[error("cannot serve {0}: {1}")]
    Http(std::net::SocketAddr, #[source] std::io::Error),
    /// The model store is configured but cannot be used.
    #[error("cannot use the model store: {0}")]
    ModelStore(String),
    /// Leadership was lost; the process should restart.
    #[error(transparent)]
    Leader(#[from] leader::LeaderError),
}

/// Runs the operator: HTTP endpoints, then (as leader, when enabled) the controller, until a
/// shutdown signal.
pub async fn run(config: Config) -> Result<(), RunError> {
    let client = Client::try_default().await.map_err(RunError::Client)?;
    let metrics = Arc::new(metrics::Metrics::default());
    let ready = Arc::new(AtomicBool::new(false));
    let (_, _server) = http::serve(
        config.metrics_address,
        http::HttpState {
            metrics: metrics.clone(),
            ready: ready.clone(),
        },
    )
    .await
    .map_err(|e| RunError::Http(config.metrics_address, e))?;

    // Ready once the API server answers with the SpeechBatch CRD installed.
    let probe: Api<SpeechBatch> = Api::all(client.clone());
    let ready_flag = ready.clone();
    tokio::spawn(async move {
        loop {
            match probe.list(&ListParams::default().limit(1)).await {
                Ok(_) => {
                    ready_flag.store(true, Ordering::Relaxed);
                    break;
                }
                Err(e) => tracing::warn!("SpeechBatch API not available yet: {e}"),
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });

    let storage = config.storage_config();
    let model_store = config
        .model_store
        .connect(&storage)
        .await
        .map_err(RunError::ModelStore)?;
    let scanner = scan::BucketScanner::new(config.max_shards as usize, storage);
    let ctx = Arc::new(
        controller::Context::new(
            client.clone(),
            config.policy(),
            scanner,
            metrics,
            Some(config.identity()),
            Duration::from_secs(config.resync_seconds.max(1)),
        )
        .with_model_store(model_store.clone()),
    );
    let batches = controller::run(client.clone(), config.namespace.as_deref(), ctx);
    let (model_client, model_namespace) = (client.clone(), config.namespace.clone());
    let models = async move {
        match model_store {
            Some(store) => {
                let mctx = Arc::new(model_controller::ModelContext {
                    client: model_client.clone(),
                    store,
                });
                model_controller::run(model_client, model_namespace.as_deref(), mctx).await
            }
            None => tracing::info!(
                "no model store configured (--model-store-bucket, --model-store-credentials-file): LanguageModels are not reconciled"
            ),
        }
    };
    let work = async {
        futures::join!(batches, models);
    };
    if config.leader_election {
        let lock = leader::LeaseLock {
            api: Api::namespaced(client, &config.lease_namespace),
            name: config.lease_name.clone(),
            identity: config.identity(),
            duration: Duration::from_secs(u64::from(config.lease_duration_seconds.max(3))),
        };
        lock.run(work).await?;
    } else {
        work.await;
    }
    Ok(())
}
