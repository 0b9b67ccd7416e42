//! Waiting on what a test can observe, instead of sleeping for a fixed time.
//!
//! A fixed sleep is either too short on a loaded machine (the test fails for no reason) or too
//! long everywhere else (the suite crawls). These helpers poll the condition every
//! [`POLL_INTERVAL`] and return as soon as it holds, up to a deadline that can be generous
//! because it is only reached when something is wrong.

use std::fmt::Display;
use std::time::Duration;

use tokio::time::{sleep, Instant};

/// How often the helpers re-check their condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Polls `condition` until it returns true; panics after `timeout` with `what` (which should
/// say what was being waited for, e.g. "the batch is completed").
///
/// The condition is always checked at least once, and once more at the deadline, so a
/// condition that became true during the last interval is not reported as a timeout.
pub async fn wait_until(
    what: impl Display,
    timeout: Duration,
    mut condition: impl AsyncFnMut() -> bool,
) {
    wait_for(what, timeout, async || condition().await.then_some(())).await
}

/// Polls `probe` until it returns `Some`, and returns that value; panics after `timeout` with
/// `what`. For conditions whose evidence the test needs next (a status body, a file list).
pub async fn wait_for<T>(
    what: impl Display,
    timeout: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let last_chance = Instant::now() >= deadline;
        if let Some(value) = probe().await {
            return value;
        }
        if last_chance {
            panic!("timed out after {timeout:?} waiting until {what}");
        }
        sleep(POLL_INTERVAL.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

/// Checks that `condition` holds now and keeps holding for `period`, polling it every
/// [`POLL_INTERVAL`]; panics with `what` and the time at which it stopped holding.
///
/// For asserting that something does *not* happen (a canceled batch writes no more outputs):
/// the period is how long the test is willing to watch, so choose it longer than the thing
/// would take if it did happen.
pub async fn assert_stays(
    what: impl Display,
    period: Duration,
    mut condition: impl AsyncFnMut() -> bool,
) {
    let started = Instant::now();
    let deadline = started + period;
    loop {
        if !condition().await {
            panic!(
                "{what} stopped holding after {:?} (it should have held for {period:?})",
                started.elapsed()
            );
        }
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        sleep(POLL_INTERVAL.min(deadline - now)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[tokio::test]
    async fn wait_until_returns_as_soon_as_the_condition_holds() {
        let polls = Cell::new(0);
        let started = Instant::now();
        wait_until("the third poll", Duration::from_secs(10), async || {
            polls.set(polls.get() + 1);
            polls.get() == 3
        })
        .await;
        assert_eq!(polls.get(), 3);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    #[should_panic(expected = "timed out after 200ms waiting until the moon turns blue")]
    async fn wait_until_panics_with_its_description_at_the_deadline() {
        wait_until(
            "the moon turns blue",
            Duration::from_millis(200),
            async || false,
        )
        .await;
    }

    #[tokio::test]
    async fn wait_for_returns_the_probed_value() {
        let polls = Cell::new(0u32);
        let value = wait_for("a value", Duration::from_secs(10), async || {
            polls.set(polls.get() + 1);
            (polls.get() >= 2).then(|| format!("after {} polls", polls.get()))
        })
        .await;
        assert_eq!(value, "after 2 polls");
    }

    #[tokio::test]
    async fn wait_for_checks_once_more_at_the_deadline() {
        // A zero timeout still gets one look: a condition that already holds never times out.
        wait_until("it already holds", Duration::ZERO, async || true).await;
    }

    #[tokio::test]
    async fn assert_stays_watches_for_the_whole_period() {
        let polls = Cell::new(0);
        let started = Instant::now();
        assert_stays("nothing happens", Duration::from_millis(300), async || {
            polls.set(polls.get() + 1);
            true
        })
        .await;
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(polls.get() >= 3, "{} polls", polls.get());
    }

    #[tokio::test]
    #[should_panic(expected = "the counter stays below 3 stopped holding after")]
    async fn assert_stays_panics_when_the_condition_breaks() {
        let polls = Cell::new(0);
        assert_stays(
            "the counter stays below 3",
            Duration::from_secs(10),
            async || {
                polls.set(polls.get() + 1);
                polls.get() < 3
            },
        )
        .await;
    }
}
