//! Retries after storage errors that may pass, for scans and shards alike.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use crds::BatchId;
use speechbatch_storage::StorageError;
use tokio_util::sync::CancellationToken;

/// Retries after a storage error that may pass (endpoint unreachable, timeout, an odd answer):
/// the rule of [`StorageError::is_permanent`], as the operator follows it for scans and shard
/// pods. A permanent error (credentials rejected, bucket missing) fails the job at once; a
/// passing one is retried `retries` times, the first after `first_delay`, each later one after
/// twice the delay before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries of one scan or one shard before the job fails.
    pub retries: u32,
    /// The wait before the first retry.
    pub first_delay: Duration,
}

/// An error of a step that [`RetryPolicy::run`] may run again.
pub(super) trait Retryable: Display {
    /// The storage error that stopped the step, if a storage error did.
    fn storage_error(&mut self) -> Option<&mut StorageError>;
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (1 for the first), or `None` once the retries
    /// are spent.
    pub fn delay(&self, attempt: u32) -> Option<Duration> {
        (attempt >= 1 && attempt <= self.retries)
            .then(|| self.first_delay.saturating_mul(1 << (attempt - 1).min(16)))
    }

    /// The error a job fails with once the retries are spent: it says they were tried.
    fn gave_up(&self, error: StorageError) -> StorageError {
        if self.retries == 0 {
            return error;
        }
        let message = format!(
            "{} (still failing after {} retries)",
            error.message, self.retries
        );
        StorageError::new(error.kind, message)
    }

    /// Runs `step` until it succeeds, fails for good, or the retries are spent. `Ok(None)`:
    /// `stop` fired while waiting to retry (a step in progress is never cut: it sees `stop`
    /// itself).
    // `FnMut() -> Fut` rather than an async closure: the futures of async closures that
    // borrow are not yet known to be `Send`, and the runner's shards are spawned.
    pub(super) async fn run<T, E: Retryable, Fut: Future<Output = Result<T, E>>>(
        &self,
        what: &str,
        id: &BatchId,
        stop: &CancellationToken,
        mut step: impl FnMut() -> Fut,
    ) -> Result<Option<T>, E> {
        let mut attempt = 0;
        loop {
            let mut error = match step().await {
                Ok(v) => return Ok(Some(v)),
                Err(e) => e,
            };
            let Some(storage) = error.storage_error().filter(|e| !e.is_permanent()) else {
                return Err(error);
            };
            attempt += 1;
            let Some(delay) = self.delay(attempt) else {
                *storage = self.gave_up(storage.clone());
                return Err(error);
            };
            tracing::warn!(
                batch_id = %id,
                attempt,
                retries = self.retries,
                delay_ms = delay.as_millis() as u64,
                %error,
                "{what} stopped by a storage error that may pass; retrying"
            );
            tokio::select! {
                biased;
                _ = stop.cancelled() => return Ok(None),
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::RetryPolicy;

    #[test]
    fn retries_wait_twice_as_long_each_time_and_stop_after_the_last() {
        let policy = RetryPolicy {
            retries: 3,
            first_delay: Duration::from_millis(500),
        };
        let delays: Vec<_> = (0..=4).map(|a| policy.delay(a)).collect();
        assert_eq!(
            delays,
            [
                None,
                Some(Duration::from_millis(500)),
                Some(Duration::from_secs(1)),
                Some(Duration::from_secs(2)),
                None
            ]
        );
        let never = RetryPolicy {
            retries: 0,
            ..policy
        };
        assert_eq!(never.delay(1), None);
    }
}
