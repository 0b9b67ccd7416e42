//! The service's own state on the console's dashboard: how many jobs wait and run, how fast files
//! are finishing, and how much audio the listed jobs transcribed.
//!
//! Files per minute is measured, not guessed: a sampler reads every job's finished-file count
//! every [`SAMPLE_EVERY`] and keeps the increases of the last [`WINDOW`]. It works the same over
//! both backends, since it needs only the job list; a job deleted between two samples takes its
//! count with it and adds nothing.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crds::{BatchJob, BatchStatus, Timestamp};
use serde::Serialize;

use crate::backend::{Backend, BatchDetails};

/// How often the sampler reads the job list.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// The span files per minute is measured over.
pub const WINDOW: Duration = Duration::from_secs(5 * 60);
/// Less than this much history gives no rate yet.
const MIN_SPAN: Duration = Duration::from_secs(5);

/// What the dashboard shows about the service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceState {
    /// Jobs scanning their input bucket.
    pub initializing: u64,
    /// Jobs queued behind others.
    pub waiting: u64,
    /// Jobs processing files.
    pub running: u64,
    /// Files finished (`.json` or `.notice`) per minute over the last five minutes; `None`
    /// until the service has watched for a few seconds.
    pub files_per_minute: Option<f64>,
    /// The span `files_per_minute` covers, in seconds.
    pub rate_window_seconds: u64,
    /// Hours of audio recognised by the jobs listed.
    pub audio_hours: f64,
}

/// Finished-file counts over time.
#[derive(Debug, Default)]
pub struct Throughput {
    inner: Mutex<Samples>,
}

#[derive(Debug, Default)]
struct Samples {
    /// Each job's finished files at the last sample.
    last: HashMap<String, u64>,
    /// When the last sample was taken, by the wall clock jobs are stamped with.
    last_taken: Option<Timestamp>,
    /// When each sample was taken and how many files finished since the one before.
    history: VecDeque<(Instant, u64)>,
}

impl Throughput {
    /// Records the jobs' counts as of `now`.
    pub fn sample<'a>(&self, jobs: impl IntoIterator<Item = &'a BatchJob>, now: Instant) {
        let taken = Timestamp::now();
        let mut s = self.inner.lock().expect("throughput lock");
        let mut finished = 0;
        let mut last = HashMap::new();
        for job in jobs {
            let done = job.successful_count + job.failed_count;
            // A job first seen now counts all its files when it was created since the last
            // sample (a short job may start and finish between two); an older one counts from
            // here, its earlier files being history.
            let new_since_last = s.last_taken.is_some_and(|t| job.created >= t);
            let before = match s.last.get(&job.batch_id) {
                Some(&n) => n,
                None if new_since_last => 0,
                None => done,
            };
            finished += done.saturating_sub(before);
            last.insert(job.batch_id.clone(), done);
        }
        s.last = last;
        s.last_taken = Some(taken);
        s.history.push_back((now, finished));
        while s
            .history
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > WINDOW)
        {
            s.history.pop_front();
        }
    }

    /// Files per minute over the samples kept, and the span they cover.
    pub fn rate(&self, now: Instant) -> (Option<f64>, Duration) {
        let s = self.inner.lock().expect("throughput lock");
        let Some((oldest, _)) = s.history.front() else {
            return (None, Duration::ZERO);
        };
        let span = now.duration_since(*oldest);
        if span < MIN_SPAN {
            return (None, span);
        }
        // The oldest sample's increase happened before the span began.
        let files: u64 = s.history.iter().skip(1).map(|(_, n)| n).sum();
        (Some(files as f64 / span.as_secs_f64() * 60.0), span)
    }

    /// Samples `backend` every [`SAMPLE_EVERY`] until the throughput is dropped, so that the
    /// rate is known when someone first opens the dashboard.
    pub fn start_sampling(self: &Arc<Self>, backend: Arc<dyn Backend>) {
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(throughput) = weak.upgrade() else {
                    return;
                };
                match backend.list().await {
                    Ok(jobs) => throughput.sample(&jobs, Instant::now()),
                    Err(e) => tracing::debug!(error = %e.message, "throughput sample skipped"),
                }
            }
        });
    }
}

/// The dashboard's numbers for `jobs`, with the rate measured so far.
pub fn service_state(jobs: &[BatchDetails], throughput: &Throughput) -> ServiceState {
    let count = |status: BatchStatus| jobs.iter().filter(|d| d.job.status == status).count() as u64;
    let (files_per_minute, span) = throughput.rate(Instant::now());
    ServiceState {
        initializing: count(BatchStatus::Initializing),
        waiting: count(BatchStatus::Waiting),
        running: count(BatchStatus::Running),
        files_per_minute,
        rate_window_seconds: span.as_secs(),
        audio_hours: jobs.iter().map(|d| d.audio_seconds).sum::<f64>() / 3600.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job created at `created`, with `done` files finished.
    fn job_at(id: &str, done: u64, created: Timestamp) -> BatchJob {
        let t = created;
        BatchJob {
            function: "recognize".into(),
            input_bucket_location: "local".into(),
            input_bucket_name: "in".into(),
            output_bucket_location: "local".into(),
            output_bucket_name: "in".into(),
            batch_id: id.into(),
            total_count: 100,
            successful_count: done,
            failed_count: 0,
            status: BatchStatus::Running,
            progress: 0.0,
            created: t,
            updated: t,
            finished: None,
            error_message: None,
        }
    }

    /// A job created long before any sample.
    fn job(id: &str, done: u64) -> BatchJob {
        job_at(
            id,
            done,
            Timestamp::parse("2026-01-01T00:00:00.000+0000").unwrap(),
        )
    }

    #[test]
    fn files_per_minute_counts_increases_over_the_window() {
        let t = Throughput::default();
        let start = Instant::now();
        t.sample(&[job("a", 10)], start);
        assert_eq!(t.rate(start).0, None, "one sample is no rate");
        t.sample(
            &[job("a", 15), job("b", 7)],
            start + Duration::from_secs(30),
        );
        t.sample(
            &[job("a", 20), job("b", 12)],
            start + Duration::from_secs(60),
        );
        // 5 + 0 (b is older than the first sample) + 5 + 5 files in 60 s.
        let (rate, span) = t.rate(start + Duration::from_secs(60));
        assert_eq!(rate, Some(15.0));
        assert_eq!(span, Duration::from_secs(60));
    }

    #[test]
    fn a_deleted_job_takes_nothing_away_and_old_samples_fall_out() {
        let t = Throughput::default();
        let start = Instant::now();
        t.sample(&[job("a", 10), job("b", 50)], start);
        t.sample(&[job("a", 12)], start + Duration::from_secs(60));
        assert_eq!(t.rate(start + Duration::from_secs(60)).0, Some(2.0));
        let later = start + WINDOW + Duration::from_secs(120);
        t.sample(&[job("a", 12)], later);
        assert_eq!(
            t.rate(later).0,
            None,
            "the window only holds the last sample"
        );
    }

    #[test]
    fn a_job_created_and_finished_between_two_samples_counts_all_its_files() {
        let t = Throughput::default();
        let start = Instant::now();
        t.sample(&[job("a", 10)], start);
        let quick = job_at("quick", 4, Timestamp::now());
        t.sample(&[job("a", 10), quick], start + Duration::from_secs(30));
        assert_eq!(t.rate(start + Duration::from_secs(30)).0, Some(8.0));
    }
}
