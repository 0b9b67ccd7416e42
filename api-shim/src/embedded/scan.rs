//! `initializing`: both buckets are checked and the input bucket is scanned into a shard plan.
//! A scan that fails for good (credentials rejected, bucket missing) fails the job with the
//! storage error's message; one that may pass (endpoint unreachable) is retried as the
//! [`super::RetryPolicy`] says, and fails the job once the retries are spent. A cancel or a
//! shutdown drops the scan (a shutdown's job scans again at the next start).

use std::sync::Arc;

use crds::{BatchId, ShardPlan, Timestamp};
use speechbatch_storage::plan_shards;

use super::buckets::{self, BucketError};
use super::store::JobRecord;
use super::{lifecycle, Inner};

/// Connects to the job's buckets, checks that both can be listed and plans at most
/// `max_shards` shards of the input: one attempt.
async fn scan_once(
    inner: &Inner,
    id: &BatchId,
    record: &JobRecord,
    max_shards: usize,
) -> Result<ShardPlan, BucketError> {
    let buckets = buckets::connect(&inner.store, id, record, &inner.cfg.storage).await?;
    buckets.input.check_access().await?;
    if record.separate_output {
        buckets.output.check_access().await?;
    }
    Ok(plan_shards(&buckets.input, max_shards).await?)
}

/// Scans a job's input and moves it to `waiting` (or `completed` for an empty bucket), or fails
/// it.
pub(super) async fn initialize(inner: Arc<Inner>, id: BatchId) {
    let (Some(stop), Some(record)) = (inner.stop_token(&id), inner.table.get(&id)) else {
        return;
    };
    let max_shards = inner.cfg.max_shards.max(1);
    let scan = inner.cfg.retry.run(
        "scan",
        &id,
        &stop,
        || 0,
        || scan_once(&inner, &id, &record, max_shards),
    );
    let planned = tokio::select! {
        biased;
        // Canceled or deleted: nothing to do. Shutdown: the scan reruns at the next start.
        _ = stop.cancelled() => return,
        planned = scan => match planned {
            Ok(Some(plan)) => Ok(plan),
            Ok(None) => return,
            Err(e) => Err(e),
        },
    };
    match planned {
        Ok(plan) => {
            let total = plan.total;
            match inner
                .table
                .update(&id, move |r| lifecycle::scanned(r, plan, Timestamp::now()))
                .await
            {
                Ok((_, r)) => {
                    tracing::info!(batch_id = %id, total, status = %r.job.status, "input bucket scanned")
                }
                Err(error) => {
                    tracing::info!(batch_id = %id, %error, "scan result not recorded")
                }
            }
            inner.wake.notify_one();
        }
        Err(error) => inner.fail(&id, error.to_string()).await,
    }
}
