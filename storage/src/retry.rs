//! Retries after storage errors that may pass: the one retry rule of every binary that reaches
//! buckets (the embedded backend's scans and shards, the operator's scans, the shard pods of
//! Kubernetes Jobs), with the window of `--storage-retry-window-s` (`StorageArgs`, feature
//! `cli`).

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

use crds::BatchId;
use tokio_util::sync::CancellationToken;

use crate::StorageError;

/// The environment variable of `--storage-retry-window-s`.
pub const WINDOW_ENV: &str = "SPEECHBATCH_STORAGE_RETRY_WINDOW_S";
/// The environment variable of `--storage-retry-delay-ms`.
pub const DELAY_ENV: &str = "SPEECHBATCH_STORAGE_RETRY_DELAY_MS";
/// The window when none is configured: five minutes, for network blips and server restarts.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);
/// The wait before the first retry when none is configured.
pub const DEFAULT_FIRST_DELAY: Duration = Duration::from_millis(2000);
/// The longest wait between two retries, so that a bucket that comes back is used again soon.
pub const MAX_DELAY: Duration = Duration::from_secs(30);

/// Retries after a storage error that may pass (endpoint unreachable, timeout, an odd answer):
/// the rule of [`StorageError::is_permanent`]. A permanent error (credentials rejected, bucket
/// missing) fails at once; a passing one is retried for as long as `window` lasts, counted from
/// the first failure of a run of failures (a retry that gets work done starts the count
/// again), the first retry after `first_delay`, each later one after twice the delay before
/// it, at most [`MAX_DELAY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How long a bucket may keep failing before the work fails.
    pub window: Duration,
    /// The wait before the first retry.
    pub first_delay: Duration,
}

impl Default for RetryPolicy {
    /// [`DEFAULT_WINDOW`] and [`DEFAULT_FIRST_DELAY`], the flags' defaults.
    fn default() -> Self {
        Self {
            window: DEFAULT_WINDOW,
            first_delay: DEFAULT_FIRST_DELAY,
        }
    }
}

/// An error of a step that [`RetryPolicy::run`] may run again.
pub trait Retryable: Display {
    /// The storage error that stopped the step, if a storage error did.
    fn storage_error(&mut self) -> Option<&mut StorageError>;

    /// Whether an error that is no storage error may pass too (a job record the disk could
    /// not take: a full or read-only data directory).
    fn may_pass_otherwise(&self) -> bool {
        false
    }

    /// The error of a step that [`Retryable::may_pass_otherwise`] let be retried until the
    /// window was spent, saying so (as [`RetryPolicy::gave_up`] does for storage errors). The
    /// default leaves it as it is.
    fn gave_up_otherwise(self, _failing_for: Duration) -> Self
    where
        Self: Sized,
    {
        self
    }
}

impl Retryable for StorageError {
    fn storage_error(&mut self) -> Option<&mut StorageError> {
        Some(self)
    }
}

/// The message of an error still failing when the window is spent: it says how long it was
/// retried (the same words in every backend, for users and for tests that look for them).
pub fn gave_up_message(message: &str, failing_for: Duration) -> String {
    format!(
        "{message} (still failing after retrying for {} s)",
        failing_for.as_secs()
    )
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (1 for the first) of a run of failures that
    /// began `failing_for` ago, or `None` once the window is spent. The last wait ends with the
    /// window, so that the last retry is made at its very end.
    pub fn delay(&self, attempt: u32, failing_for: Duration) -> Option<Duration> {
        let left = self
            .window
            .checked_sub(failing_for)
            .filter(|d| !d.is_zero())?;
        let backoff = self
            .first_delay
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(MAX_DELAY);
        (attempt >= 1).then(|| backoff.min(left))
    }

    /// The error work fails with once the window is spent: it says how long it was retried
    /// (unchanged with a window of 0, which retries nothing).
    pub fn gave_up(&self, error: StorageError, failing_for: Duration) -> StorageError {
        if self.window.is_zero() {
            return error;
        }
        let message = gave_up_message(&error.message, failing_for);
        StorageError::new(error.kind, message)
    }

    /// Runs `step` until it succeeds, fails for good, or the window is spent. `progress` counts
    /// the work done so far (files finished): a failed step that got some done starts a new
    /// window. `Ok(None)`: `stop` fired while waiting to retry (a step in progress is never
    /// cut: it sees `stop` itself). `what` and `id` name the work in the log.
    // `FnMut() -> Fut` rather than an async closure: the futures of async closures that
    // borrow are not yet known to be `Send`, and the embedded runner's shards are spawned.
    pub async fn run<T, E: Retryable, Fut: Future<Output = Result<T, E>>>(
        &self,
        what: &str,
        id: &BatchId,
        stop: &CancellationToken,
        mut progress: impl FnMut() -> u64,
        mut step: impl FnMut() -> Fut,
    ) -> Result<Option<T>, E> {
        let mut attempt = 0;
        let mut failing_since = None;
        let mut done = progress();
        loop {
            let mut error = match step().await {
                Ok(v) => return Ok(Some(v)),
                Err(e) => e,
            };
            let may_pass = match error.storage_error() {
                Some(storage) => !storage.is_permanent(),
                None => error.may_pass_otherwise(),
            };
            if !may_pass {
                return Err(error);
            }
            let now_done = progress();
            if now_done > done || failing_since.is_none() {
                (attempt, failing_since, done) = (0, Some(Instant::now()), now_done);
            }
            attempt += 1;
            let failing_for = failing_since.map_or(Duration::ZERO, |t| t.elapsed());
            let Some(delay) = self.delay(attempt, failing_for) else {
                if let Some(storage) = error.storage_error() {
                    *storage = self.gave_up(storage.clone(), failing_for);
                } else if !self.window.is_zero() {
                    error = error.gave_up_otherwise(failing_for);
                }
                return Err(error);
            };
            tracing::warn!(
                batch_id = %id,
                attempt,
                failing_for_s = failing_for.as_secs(),
                window_s = self.window.as_secs(),
                delay_ms = delay.as_millis() as u64,
                %error,
                "{what} stopped by an error that may pass; retrying"
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
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;

    use super::{RetryPolicy, MAX_DELAY};
    use crate::{StorageError, StorageErrorKind};

    #[test]
    fn retries_wait_twice_as_long_each_time_until_the_window_is_spent() {
        let policy = RetryPolicy {
            window: Duration::from_secs(10),
            first_delay: Duration::from_millis(500),
        };
        let s = Duration::from_secs;
        assert_eq!(policy.delay(0, s(0)), None);
        assert_eq!(policy.delay(1, s(0)), Some(Duration::from_millis(500)));
        assert_eq!(policy.delay(2, s(1)), Some(s(1)));
        assert_eq!(policy.delay(3, s(2)), Some(s(2)));
        // The last wait ends with the window; then none is left.
        assert_eq!(policy.delay(5, s(9)), Some(s(1)));
        assert_eq!(policy.delay(6, s(10)), None);
        // Waits never grow past the cap.
        let long = RetryPolicy {
            window: s(3600),
            ..policy
        };
        assert_eq!(long.delay(20, s(100)), Some(MAX_DELAY));
        let never = RetryPolicy {
            window: Duration::ZERO,
            ..policy
        };
        assert_eq!(never.delay(1, s(0)), None);
    }

    fn unreachable() -> StorageError {
        StorageError::new(StorageErrorKind::Unreachable, "nothing answered")
    }

    #[tokio::test(start_paused = true)]
    async fn passing_errors_are_retried_permanent_ones_and_spent_windows_end_the_run() {
        let policy = RetryPolicy {
            window: Duration::from_secs(2),
            first_delay: Duration::from_millis(100),
        };
        let id = crds::BatchId::parse("b-1").unwrap();
        let stop = CancellationToken::new();
        // Fails twice, then works.
        let calls = AtomicU64::new(0);
        let got = policy
            .run(
                "test",
                &id,
                &stop,
                || 0,
                || async {
                    match calls.fetch_add(1, Ordering::SeqCst) {
                        0 | 1 => Err(unreachable()),
                        _ => Ok(7),
                    }
                },
            )
            .await;
        assert_eq!(got, Ok(Some(7)));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // A permanent error is not retried.
        calls.store(0, Ordering::SeqCst);
        let got: Result<Option<()>, _> = policy
            .run(
                "test",
                &id,
                &stop,
                || 0,
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(StorageError::new(
                        StorageErrorKind::NoSuchBucket,
                        "no bucket",
                    ))
                },
            )
            .await;
        assert_eq!(got.unwrap_err().message, "no bucket");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Always failing: given up when the window is spent, saying so.
        let got: Result<Option<()>, _> = policy
            .run("test", &id, &stop, || 0, || async { Err(unreachable()) })
            .await;
        let e = got.unwrap_err();
        assert_eq!(e.kind, StorageErrorKind::Unreachable);
        assert_eq!(
            e.message,
            "nothing answered (still failing after retrying for 2 s)"
        );
        // Progress between failures starts a new window: five failures over more than one
        // window, each after one more file was finished, and then it works.
        calls.store(0, Ordering::SeqCst);
        let got = policy
            .run(
                "test",
                &id,
                &stop,
                || calls.load(Ordering::SeqCst),
                || async {
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if n < 5 {
                        Err(unreachable())
                    } else {
                        Ok(n)
                    }
                },
            )
            .await;
        assert_eq!(got, Ok(Some(5)));
        // A stop while waiting ends the run without an error.
        stop.cancel();
        let got: Result<Option<()>, _> = policy
            .run("test", &id, &stop, || 0, || async { Err(unreachable()) })
            .await;
        assert_eq!(got, Ok(None));
    }
}
