//! Scanning the input bucket: read the credentials Secrets, check both buckets, plan shards.
//! Behind a small trait so that request-sequence tests can run without a bucket; production
//! and the scanning tests use [`BucketScanner`] (the latter against the embedded S3 server).

use std::sync::Arc;

use crds::resource::{BucketSpec, SpeechBatch};
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client, ResourceExt};
use speechbatch_storage::{plan_shards, Bucket, Credentials, StorageConfig};

use crate::decide::ScanOutcome;

/// Scans a SpeechBatch's input bucket.
pub trait Scanner: Send + Sync {
    /// Reads the credentials, checks access to the input and output buckets and plans at most
    /// `max_shards` shards. Errors come back as [`ScanOutcome::Failed`], classified.
    fn scan<'a>(&'a self, client: &'a Client, batch: &'a SpeechBatch)
        -> BoxFuture<'a, ScanOutcome>;
}

/// The real scanner: Secrets through the API, buckets over S3.
#[derive(Clone, Debug)]
pub struct BucketScanner {
    /// At most this many shards per batch.
    pub max_shards: usize,
    /// Timeouts and the IAM endpoint.
    pub storage: StorageConfig,
}

impl BucketScanner {
    /// A scanner planning at most `max_shards` shards.
    pub fn new(max_shards: usize, storage: StorageConfig) -> Arc<Self> {
        Arc::new(BucketScanner {
            max_shards,
            storage,
        })
    }
}

fn failed(permanent: bool, message: impl Into<String>) -> ScanOutcome {
    ScanOutcome::Failed {
        permanent,
        message: message.into(),
    }
}

async fn connect(
    client: &Client,
    namespace: &str,
    which: &str,
    spec: &BucketSpec,
    cfg: &StorageConfig,
) -> Result<Bucket, ScanOutcome> {
    let secret_ref = &spec.credentials_secret;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = match secrets.get_opt(&secret_ref.name).await {
        // A Secret created just after its SpeechBatch (the REST shim makes it owned by the CR,
        // so it comes second) is not there yet: transient.
        Ok(None) => {
            return Err(failed(false, format!(
                "The credentials Secret '{}' of the {which} bucket does not exist in namespace '{namespace}': create it with the credentials file under key '{}'",
                secret_ref.name, secret_ref.key()
            )))
        }
        Ok(Some(s)) => s,
        Err(e) => {
            return Err(failed(false, format!(
                "Cannot read the credentials Secret '{}' of the {which} bucket: {}",
                secret_ref.name, kube_error_summary(&e)
            )))
        }
    };
    let key = secret_ref.key();
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|s| s.clone().into_bytes())
        });
    let Some(bytes) = bytes else {
        return Err(failed(true, format!(
            "The credentials Secret '{}' of the {which} bucket has no key '{key}': put the credentials file there or set credentialsSecret.key",
            secret_ref.name
        )));
    };
    let creds = Credentials::from_json(&bytes).map_err(|e| {
        failed(true, format!("The credentials file in Secret '{}' (key '{key}') of the {which} bucket is not usable: {e}", secret_ref.name))
    })?;
    let bucket = Bucket::connect(&creds, &spec.name, &spec.location, cfg)
        .await
        .map_err(|e| failed(e.is_permanent(), e.message))?;
    bucket
        .check_access()
        .await
        .map_err(|e| failed(e.is_permanent(), e.message))?;
    Ok(bucket)
}

/// The error without anything but its kind and the server's message (never request bodies).
fn kube_error_summary(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({})", s.message, s.code),
        other => other.to_string(),
    }
}

impl Scanner for BucketScanner {
    fn scan<'a>(
        &'a self,
        client: &'a Client,
        batch: &'a SpeechBatch,
    ) -> BoxFuture<'a, ScanOutcome> {
        Box::pin(async move {
            let ns = batch.namespace().unwrap_or_else(|| "default".to_owned());
            let input = match connect(client, &ns, "input", &batch.spec.input, &self.storage).await
            {
                Ok(b) => b,
                Err(o) => return o,
            };
            if let Some(output) = &batch.spec.output {
                if let Err(o) = connect(client, &ns, "output", output, &self.storage).await {
                    return o;
                }
            }
            match plan_shards(&input, self.max_shards).await {
                Ok(plan) => ScanOutcome::Planned(plan),
                Err(e) => failed(e.is_permanent(), e.message),
            }
        })
    }
}
