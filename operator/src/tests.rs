//! Pure tests of the reconcile core: YAML in, objects out, no client.

use std::time::Duration;

use crds::analytics::{AnalyticsSummary, KeywordCount, TopicCount};
use crds::resource::{ShardResult, SpeechBatch, SpeechBatchStatus};
use crds::{BatchStatus, Timestamp};
use crds::{ShardCounts, ShardPlan};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff;
use speechbatch_storage::ShardPlanner;

use crate::build::{build_job, merge_shards, JobSettings};
use crate::conditions::{self as cond, derive_status};
use crate::decide::{decide, needs_scan, Decision, JobAction, Observed, Policy, ScanOutcome};
use crate::observe::{pod_report, JobObservation, PodOutcome, PodReport};

pub(crate) const BATCH: &str = r#"
apiVersion: speechbatch.io/v1alpha1
kind: SpeechBatch
metadata:
  name: meetings-2026-11
  namespace: default
  uid: 6c1c6c4e-0000-4000-8000-000000000001
  generation: 1
spec:
  input:
    name: meeting-audio
    location: us-geo
    credentialsSecret:
      name: meeting-audio-credentials
  recognition:
    model: en-US_BroadbandModel
    smartFormatting: true
"#;

pub(crate) fn batch() -> SpeechBatch {
    serde_yaml::from_str(BATCH).unwrap()
}

pub(crate) fn policy() -> Policy {
    Policy {
        job: JobSettings {
            image: "registry.example/transcriber:1.0".into(),
            image_pull_policy: Some("IfNotPresent".into()),
            service_account: Some("speechbatch-shard".into()),
            default_parallelism: 4,
            backoff_limit_per_index: 3,
            kueue_queue: None,
            requests: [("cpu".to_string(), "1".to_string())].into(),
            limits: [("memory".to_string(), "2Gi".to_string())].into(),
            node_selector: [("speechbatch.io/pool".to_string(), "asr".to_string())].into(),
            tolerations: Vec::new(),
            models_pvc: None,
            models_path: "/models".into(),
            iam_token_url: None,
            storage_env: Vec::new(),
            model_store: None,
        },
        retry_window: Duration::from_secs(300),
    }
}

fn plan(n: u64, shards: usize) -> ShardPlan {
    let mut p = ShardPlanner::new(shards);
    for i in 0..n {
        p.push(&format!("audio/{i:06}.wav"));
    }
    p.finish()
}

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

const T0: &str = "2026-11-26T10:00:00.000+0000";
const T1: &str = "2026-11-26T10:01:00.000+0000";

fn run(
    batch: &SpeechBatch,
    scan: Option<ScanOutcome>,
    job: Option<JobObservation>,
    pods: Vec<PodReport>,
    now: &str,
) -> Decision {
    decide(
        &Observed {
            batch,
            scan,
            job,
            pods,
            analytics: None,
            analytics_pods: vec![],
            now: at(now),
        },
        &policy(),
    )
}

/// Applies a decision's status to the batch, as the API server would.
fn after(mut b: SpeechBatch, d: &Decision) -> SpeechBatch {
    b.status = Some(d.status.clone());
    b
}

fn planned(n: u64, shards: usize) -> SpeechBatch {
    let b = batch();
    let d = run(
        &b,
        Some(ScanOutcome::Planned(plan(n, shards))),
        None,
        vec![],
        T0,
    );
    after(b, &d)
}

fn job_obs(yaml: &str) -> JobObservation {
    let job: Job = serde_yaml::from_str(yaml).unwrap();
    JobObservation::from_job(&job)
}

const JOB_RUNNING: &str = r#"
metadata: {name: meetings-2026-11}
spec: {suspend: false, template: {}}
status: {active: 2}
"#;
const JOB_SUSPENDED: &str = r#"
metadata: {name: meetings-2026-11}
spec: {suspend: true, template: {}}
status: {}
"#;
const JOB_ADMITTED_NO_POD: &str = r#"
metadata: {name: meetings-2026-11}
spec: {suspend: false, template: {}}
status: {}
"#;
const JOB_COMPLETE: &str = r#"
metadata: {name: meetings-2026-11}
spec: {template: {}}
status:
  succeeded: 3
  completedIndexes: "0-2"
  conditions:
  - {type: SuccessCriteriaMet, status: "True"}
  - {type: Complete, status: "True"}
"#;
const JOB_FAILED: &str = r#"
metadata: {name: meetings-2026-11}
spec: {template: {}}
status:
  failed: 1
  conditions:
  - {type: Failed, status: "True", reason: PodFailurePolicy, message: "Container shard for pod default/meetings-2026-11-1-abcde failed with exit code 3 matching FailJob rule at index 0"}
"#;

fn pod(index: u32, phase: &str, exit: i32, message: &str) -> PodReport {
    let yaml = format!(
        r#"
metadata:
  name: p{index}
  annotations: {{"batch.kubernetes.io/job-completion-index": "{index}"}}
status:
  phase: {phase}
  containerStatuses:
  - name: shard
    image: x
    imageID: x
    ready: false
    restartCount: 0
    state:
      terminated: {{exitCode: {exit}, message: '{message}'}}
"#
    );
    let p: Pod = serde_yaml::from_str(&yaml).unwrap();
    pod_report(&p).unwrap()
}

fn ok(index: u32, successful: u64, failed: u64) -> PodReport {
    pod(
        index,
        "Succeeded",
        0,
        &format!(r#"{{"index":{index},"successful":{successful},"failed":{failed}}}"#),
    )
}

/// A succeeded shard pod that recognised `audio_ms` of audio.
fn ok_audio(index: u32, successful: u64, failed: u64, audio_ms: u64) -> PodReport {
    pod(
        index,
        "Succeeded",
        0,
        &format!(
            r#"{{"index":{index},"successful":{successful},"failed":{failed},"audio_ms":{audio_ms}}}"#
        ),
    )
}

fn condition(type_: &str, status: &str) -> Condition {
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: "R".into(),
        message: String::new(),
        last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
        observed_generation: None,
    }
}

fn state(d: &Decision) -> BatchStatus {
    d.status.status.unwrap()
}

#[test]
fn status_is_derived_from_conditions_for_every_status() {
    let cases: [(&[(&str, &str)], BatchStatus); 8] = [
        (&[], BatchStatus::Initializing),
        (&[(cond::SCANNED, "Unknown")], BatchStatus::Initializing),
        (&[(cond::SCANNED, "True")], BatchStatus::Waiting),
        (
            &[(cond::SCANNED, "True"), (cond::ADMITTED, "False")],
            BatchStatus::Waiting,
        ),
        (
            &[
                (cond::SCANNED, "True"),
                (cond::ADMITTED, "True"),
                (cond::RUNNING, "True"),
            ],
            BatchStatus::Running,
        ),
        (
            &[
                (cond::SCANNED, "True"),
                (cond::RUNNING, "True"),
                (cond::COMPLETE, "True"),
            ],
            BatchStatus::Completed,
        ),
        (
            &[(cond::SCANNED, "True"), (cond::CANCELED, "True")],
            BatchStatus::Canceled,
        ),
        (
            &[(cond::SCANNED, "False"), (cond::FAILED, "True")],
            BatchStatus::Failed,
        ),
    ];
    for (conds, want) in cases {
        let conds: Vec<_> = conds.iter().map(|(t, s)| condition(t, s)).collect();
        assert_eq!(derive_status(&conds), want, "{conds:?}");
    }
}

#[test]
fn a_new_batch_needs_a_scan_and_is_initializing_until_planned() {
    let b = batch();
    assert!(needs_scan(&b));
    let d = run(&b, None, None, vec![], T0);
    assert_eq!(state(&d), BatchStatus::Initializing);
    assert_eq!(d.job, JobAction::None);
    assert_eq!(d.status.progress, 0.0);
    assert_eq!(d.status.observed_generation, Some(1));
    assert_eq!(d.status.updated.as_deref(), Some(T0));
}

#[test]
fn a_planned_scan_records_the_plan_waits_and_creates_the_job() {
    let b = batch();
    let d = run(
        &b,
        Some(ScanOutcome::Planned(plan(10, 3))),
        None,
        vec![],
        T0,
    );
    assert_eq!(state(&d), BatchStatus::Waiting);
    assert_eq!(d.status.total_count, 10);
    let p = d.status.plan.as_ref().unwrap();
    assert_eq!(
        (p.total, p.bounds.len(), p.sizes.iter().sum::<u64>()),
        (10, 3, 10)
    );
    assert_eq!(d.status.job_name.as_deref(), Some("meetings-2026-11"));
    let JobAction::Create(job) = &d.job else {
        panic!("{:?}", d.job)
    };
    assert_eq!(job.spec.as_ref().unwrap().completions, Some(3));
    let reasons: Vec<_> = d.notes.iter().map(|n| n.reason).collect();
    assert_eq!(reasons, ["Scanned", "JobCreated"]);
    assert!(!needs_scan(&after(b, &d)));
}

#[test]
fn an_empty_bucket_completes_at_once() {
    let d = run(
        &batch(),
        Some(ScanOutcome::Planned(plan(0, 64))),
        None,
        vec![],
        T0,
    );
    assert_eq!(state(&d), BatchStatus::Completed);
    assert_eq!(d.status.progress, 1.0);
    assert_eq!(d.status.finished.as_deref(), Some(T0));
    assert_eq!(d.job, JobAction::None);
}

#[test]
fn a_permanent_scan_error_fails_the_batch_with_what_to_fix() {
    let msg = "The credentials for bucket meeting-audio were rejected: check access_key";
    let d = run(
        &batch(),
        Some(ScanOutcome::Failed {
            permanent: true,
            message: msg.into(),
        }),
        None,
        vec![],
        T0,
    );
    assert_eq!(state(&d), BatchStatus::Failed);
    assert_eq!(d.status.error_message.as_deref(), Some(msg));
    assert_eq!(d.job, JobAction::None);
    assert!(d.notes.iter().any(|n| n.reason == "Failed" && n.warning));
}

#[test]
fn a_transient_scan_error_is_retried_until_the_window_ends() {
    let b = batch();
    let fail = || {
        Some(ScanOutcome::Failed {
            permanent: false,
            message: "Nothing answered at http://s3.local".into(),
        })
    };
    let d = run(&b, fail(), None, vec![], T0);
    assert_eq!(state(&d), BatchStatus::Initializing);
    assert_eq!(
        cond::find(&d.status.conditions, cond::SCANNED)
            .unwrap()
            .status,
        "Unknown"
    );
    // Still within 300 s: retrying, the first failure's time kept.
    let b = after(b, &d);
    let d = run(&b, fail(), None, vec![], "2026-11-26T10:04:00.000+0000");
    assert_eq!(state(&d), BatchStatus::Initializing);
    let b = after(b, &d);
    let d = run(&b, fail(), None, vec![], "2026-11-26T10:05:01.000+0000");
    assert_eq!(state(&d), BatchStatus::Failed);
    // The words of every backend: how long it was retried.
    assert_eq!(
        d.status.error_message.as_deref(),
        Some("Nothing answered at http://s3.local (still failing after retrying for 301 s)")
    );
    // The window is the storage retry window of the flags; 0 retries nothing.
    let mut pol = policy();
    pol.retry_window = Duration::ZERO;
    let d = decide(
        &Observed {
            batch: &batch(),
            scan: fail(),
            job: None,
            pods: vec![],
            analytics: None,
            analytics_pods: vec![],
            now: at(T0),
        },
        &pol,
    );
    assert_eq!(state(&d), BatchStatus::Failed);
    assert_eq!(
        d.status.error_message.as_deref(),
        Some("Nothing answered at http://s3.local")
    );
}

#[test]
fn a_suspended_or_podless_job_is_waiting_and_an_active_pod_makes_it_running() {
    let b = planned(10, 3);
    let d = run(&b, None, Some(job_obs(JOB_SUSPENDED)), vec![], T1);
    assert_eq!(state(&d), BatchStatus::Waiting);
    assert_eq!(
        cond::find(&d.status.conditions, cond::ADMITTED)
            .unwrap()
            .status,
        "False"
    );
    let d = run(&b, None, Some(job_obs(JOB_ADMITTED_NO_POD)), vec![], T1);
    assert_eq!(state(&d), BatchStatus::Waiting);
    assert!(cond::is_true(&d.status.conditions, cond::ADMITTED));
    let d = run(&b, None, Some(job_obs(JOB_RUNNING)), vec![], T1);
    assert_eq!(state(&d), BatchStatus::Running);
    // Once running, a moment without active pods does not go back to waiting.
    let b = after(b, &d);
    let d = run(&b, None, Some(job_obs(JOB_ADMITTED_NO_POD)), vec![], T1);
    assert_eq!(state(&d), BatchStatus::Running);
}

#[test]
fn a_complete_job_completes_the_batch_with_every_shards_counts() {
    let b = planned(10, 3);
    let sizes = b
        .status
        .as_ref()
        .unwrap()
        .plan
        .as_ref()
        .unwrap()
        .sizes
        .clone();
    let pods: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, s)| ok(i as u32, s - 1, 1))
        .collect();
    let d = run(&b, None, Some(job_obs(JOB_COMPLETE)), pods, T1);
    assert_eq!(state(&d), BatchStatus::Completed);
    let s = &d.status;
    assert_eq!(
        (s.total_count, s.successful_count, s.failed_count),
        (10, 7, 3)
    );
    assert_eq!(s.successful_count + s.failed_count, s.total_count);
    assert_eq!(s.progress, 1.0);
    assert_eq!(s.finished.as_deref(), Some(T1));
    assert!(s.error_message.is_none());
}

/// Decides with an analytics Job observed.
fn run_analytics(
    b: &SpeechBatch,
    pods: Vec<PodReport>,
    analytics: Option<JobObservation>,
) -> Decision {
    run_analytics_pods(b, pods, analytics, vec![])
}

/// Decides with an analytics Job and its pods observed.
fn run_analytics_pods(
    b: &SpeechBatch,
    pods: Vec<PodReport>,
    analytics: Option<JobObservation>,
    analytics_pods: Vec<PodReport>,
) -> Decision {
    decide(
        &Observed {
            batch: b,
            scan: None,
            job: Some(job_obs(JOB_COMPLETE)),
            pods,
            analytics,
            analytics_pods,
            now: at(T1),
        },
        &policy(),
    )
}

/// A summary as the analytics Job's pod reports it.
fn summary(files: u64) -> AnalyticsSummary {
    AnalyticsSummary {
        files,
        turns: 4 * files,
        sentiment: [("neutral".to_string(), 4 * files)].into(),
        tones: [("polite".to_string(), files)].into(),
        topics: vec![TopicCount {
            topic_name: "pharmacy_prescription".into(),
            files,
        }],
        keywords: vec![KeywordCount {
            text: "prescription".into(),
            count: 2 * files,
        }],
    }
}

/// The analytics Job's pod, succeeded with `summary` in its termination message.
fn analytics_pod(summary: &AnalyticsSummary) -> PodReport {
    let message = crds::shard::TerminationMessage::Finished {
        index: 0,
        counts: ShardCounts::default(),
        analytics: Some(summary.clone()),
    }
    .to_json();
    pod(0, "Succeeded", 0, &message)
}

#[test]
fn with_speech_analytics_complete_shards_start_the_analytics_job_and_the_batch_waits_for_it() {
    let mut b = planned(10, 3);
    b.spec.recognition.speech_analytics = true;
    let pods: Vec<_> = (0..3).map(|i| ok(i, 3, 0)).collect();
    // Shards done, no analytics Job yet: it is created; the batch is still running.
    let d = run_analytics(&b, pods.clone(), None);
    assert_eq!(state(&d), BatchStatus::Running);
    let job = d
        .analytics_job
        .clone()
        .expect("the analytics Job is created");
    let id = b.batch_id().unwrap();
    assert_eq!(
        job.metadata.name.as_deref(),
        Some(id.analytics_job_name().as_str())
    );
    let spec = job.spec.as_ref().unwrap();
    assert_eq!((spec.completions, spec.parallelism), (Some(1), Some(1)));
    let env = spec.template.spec.as_ref().unwrap().containers[0]
        .env
        .clone()
        .unwrap();
    assert!(env
        .iter()
        .any(|e| e.name == crds::shard::env::STAGE && e.value.as_deref() == Some("analytics")));
    assert_eq!(
        cond::find(&d.status.conditions, cond::ANALYZED).map(|c| c.status.as_str()),
        Some("Unknown")
    );
    assert_eq!(d.status.successful_count, 9, "counts are the shards'");
    // Running (also after an operator restart: the Job is observed, not created again).
    let b = after(b, &d);
    let running = JobObservation {
        name: id.analytics_job_name(),
        active: 1,
        ..Default::default()
    };
    let d = run_analytics(&b, pods.clone(), Some(running.clone()));
    assert_eq!(state(&d), BatchStatus::Running);
    assert!(d.analytics_job.is_none());
    // Done: completed, counts unchanged.
    let done = JobObservation {
        complete: true,
        active: 0,
        ..running.clone()
    };
    let d = run_analytics(&b, pods.clone(), Some(done));
    assert_eq!(state(&d), BatchStatus::Completed);
    assert!(cond::is_true(&d.status.conditions, cond::ANALYZED));
    assert_eq!(
        (
            d.status.total_count,
            d.status.successful_count,
            d.status.failed_count
        ),
        (9, 9, 0),
        "the plan had 10 files, the finished shards found 9: the total counts what they found"
    );
    assert_eq!(d.status.analytics, None, "no pod reported a summary");
    // Failed: the batch fails saying so.
    let failed = JobObservation {
        failed: Some("BackoffLimitExceeded".into()),
        ..running
    };
    let d = run_analytics(&b, pods, Some(failed));
    assert_eq!(state(&d), BatchStatus::Failed);
    assert!(d
        .status
        .error_message
        .unwrap()
        .contains("Speech analytics failed"));
}

#[test]
fn a_canceled_batch_with_speech_analytics_still_analyses_what_it_finished() {
    let mut b = planned(10, 3);
    b.spec.recognition.speech_analytics = true;
    b.spec.cancel = true;
    let d = run(&b, None, Some(job_obs(JOB_ADMITTED_NO_POD)), vec![], T1);
    assert_eq!(state(&d), BatchStatus::Canceled);
    assert!(matches!(d.job, JobAction::Delete(_)));
    assert!(d.analytics_job.is_some());
    // Without the option, nothing more.
    b.spec.recognition.speech_analytics = false;
    let d = run(&b, None, Some(job_obs(JOB_ADMITTED_NO_POD)), vec![], T1);
    assert!(d.analytics_job.is_none());
}

#[test]
fn the_status_sums_the_audio_the_shards_reported() {
    let b = planned(10, 3);
    let pods = vec![
        ok_audio(0, 3, 0, 61_500),
        ok_audio(1, 3, 1, 20_250),
        ok(2, 3, 0),
    ];
    let d = run(&b, None, Some(job_obs(JOB_COMPLETE)), pods, T1);
    assert_eq!(state(&d), BatchStatus::Completed);
    assert_eq!(d.status.audio_ms, 81_750);
    assert_eq!(d.status.shards[0].counts.audio_ms, 61_500);
    let wire = serde_json::to_value(&d.status).unwrap();
    assert_eq!(wire["audioMs"], 81_750);
    assert_eq!(wire["shards"][0]["audio_ms"], 61_500);
    assert!(
        wire["shards"][2].get("audio_ms").is_none(),
        "no audio: as before"
    );
    // A status written before audio was counted reads as no audio.
    let old: SpeechBatchStatus = serde_json::from_str(
        r#"{"totalCount":1,"shards":[{"index":0,"successful":1,"failed":0}]}"#,
    )
    .unwrap();
    assert_eq!((old.audio_ms, old.shards[0].counts.audio_ms), (0, 0));
    assert_eq!(old.analytics, None);
}

#[test]
fn the_analytics_jobs_summary_is_kept_in_the_status() {
    let mut b = planned(10, 3);
    b.spec.recognition.speech_analytics = true;
    let pods: Vec<_> = (0..3).map(|i| ok(i, 3, 0)).collect();
    let id = b.batch_id().unwrap();
    let d = run_analytics(&b, pods.clone(), None);
    assert!(d.analytics_job.is_some());
    let b = after(b, &d);
    let done = JobObservation {
        name: id.analytics_job_name(),
        complete: true,
        ..Default::default()
    };
    // A failed try of the pod reports nothing; the one that succeeded, the summary.
    let d = run_analytics_pods(
        &b,
        pods.clone(),
        Some(done),
        vec![
            pod(0, "Failed", 1, r#"{"error":"x"}"#),
            analytics_pod(&summary(3)),
        ],
    );
    assert_eq!(state(&d), BatchStatus::Completed);
    assert_eq!(d.status.analytics, Some(summary(3)));
    assert_eq!(
        serde_json::to_value(&d.status).unwrap()["analytics"]["topics"][0]["topic_name"],
        "pharmacy_prescription"
    );
    // Kept in the final status once the Job and its pods are gone.
    let b = after(b, &d);
    let d = run(&b, None, None, vec![], T1);
    assert_eq!(d.status.analytics, Some(summary(3)));
}

#[test]
fn a_canceled_batch_gets_the_summary_its_analytics_job_reports_after_the_cancel() {
    let mut b = planned(10, 3);
    b.spec.recognition.speech_analytics = true;
    b.spec.cancel = true;
    let d = run(&b, None, Some(job_obs(JOB_RUNNING)), vec![ok(0, 3, 0)], T1);
    assert_eq!(state(&d), BatchStatus::Canceled);
    assert!(d.analytics_job.is_some());
    let b = after(b, &d);
    let before = d.status.clone();
    let later = |b: &SpeechBatch, s: &AnalyticsSummary| {
        decide(
            &Observed {
                batch: b,
                scan: None,
                job: None,
                pods: vec![],
                analytics: None,
                analytics_pods: vec![analytics_pod(s)],
                now: at("2026-11-26T10:05:00.000+0000"),
            },
            &policy(),
        )
    };
    // The analytics Job's pod succeeded after the cancel: only the summary changes.
    let d = later(&b, &summary(3));
    assert_eq!(
        d.status,
        SpeechBatchStatus {
            analytics: Some(summary(3)),
            ..before
        }
    );
    assert_eq!(d.job, JobAction::None);
    assert!(d.analytics_job.is_none() && d.notes.is_empty());
    // Once recorded, it stays what it was.
    let b = after(b, &d);
    assert_eq!(later(&b, &summary(5)).status.analytics, Some(summary(3)));
}

#[test]
fn a_failed_job_fails_the_batch_with_the_shards_error_message() {
    let b = planned(10, 3);
    let pods = vec![
        ok(1, 3, 0),
        pod(0, "Failed", 1, r#"{"error":"transient"}"#),
        pod(
            0,
            "Failed",
            3,
            r#"{"error":"The output bucket calls-transcripts does not exist: create it"}"#,
        ),
    ];
    let d = run(&b, None, Some(job_obs(JOB_FAILED)), pods, T1);
    assert_eq!(state(&d), BatchStatus::Failed);
    assert_eq!(
        d.status.error_message.as_deref(),
        Some("The output bucket calls-transcripts does not exist: create it")
    );
    assert_eq!(d.status.successful_count, 3);
    // Without a readable termination message, the Job's condition message is used.
    let d = run(&b, None, Some(job_obs(JOB_FAILED)), vec![], T1);
    assert!(d.status.error_message.unwrap().contains("exit code 3"));
}

#[test]
fn cancel_in_each_active_status_cancels_and_deletes_the_job_when_there_is_one() {
    let mut init = batch();
    init.spec.cancel = true;
    assert!(!needs_scan(&init), "a canceled batch never scans");
    let d = run(&init, None, None, vec![], T0);
    assert_eq!(state(&d), BatchStatus::Canceled);
    assert_eq!(d.job, JobAction::None);
    assert_eq!(d.status.audio_ms, 0);

    for job in [JOB_SUSPENDED, JOB_RUNNING] {
        let mut b = planned(10, 3);
        b.spec.cancel = true;
        let d = run(&b, None, Some(job_obs(job)), vec![ok(2, 3, 0)], T1);
        assert_eq!(state(&d), BatchStatus::Canceled);
        assert_eq!(d.job, JobAction::Delete("meetings-2026-11".into()));
        assert_eq!(d.status.successful_count, 3, "counts so far are kept");
        assert!(d.notes.iter().any(|n| n.reason == "Canceled"));
    }
}

#[test]
fn final_statuses_never_change_again() {
    let b = planned(10, 3);
    let completed = after(
        b.clone(),
        &run(&b, None, Some(job_obs(JOB_COMPLETE)), vec![ok(0, 4, 0)], T1),
    );
    let failed = after(
        b.clone(),
        &run(&b, None, Some(job_obs(JOB_FAILED)), vec![], T1),
    );
    let mut c = b.clone();
    c.spec.cancel = true;
    let canceled = after(
        c.clone(),
        &run(&c, None, Some(job_obs(JOB_RUNNING)), vec![], T1),
    );
    for done in [completed, failed, canceled] {
        let before = done.status.clone().unwrap();
        assert!(before.status.unwrap().is_final());
        let mut again = done.clone();
        again.spec.cancel = !again.spec.cancel;
        again.metadata.generation = Some(2);
        assert!(!needs_scan(&again));
        let d = run(
            &again,
            None,
            Some(job_obs(JOB_RUNNING)),
            vec![ok(0, 99, 99)],
            "2026-11-27T00:00:00.000+0000",
        );
        assert_eq!(d.job, JobAction::None);
        assert!(d.notes.is_empty());
        assert_eq!(
            d.status,
            SpeechBatchStatus {
                observed_generation: Some(2),
                ..before
            }
        );
    }
}

#[test]
fn shard_tallies_are_merged_by_index_and_a_retry_replaces_never_adds() {
    let recorded = vec![ShardResult {
        index: 0,
        counts: ShardCounts {
            successful: 5,
            failed: 0,
            audio_ms: 50_000,
        },
    }];
    // Index 0 retried: its new tally is exact for the whole range.
    let pods = vec![
        ok(0, 4, 1),
        pod(1, "Failed", 1, r#"{"error":"x"}"#),
        ok(1, 5, 0),
        ok(7, 1, 1), // outside the plan
        PodReport {
            index: 2,
            outcome: PodOutcome::Active,
        },
    ];
    let merged = merge_shards(&recorded, &pods, 3);
    assert_eq!(
        merged,
        [
            ShardResult {
                index: 0,
                counts: ShardCounts {
                    successful: 4,
                    failed: 1,
                    audio_ms: 0,
                },
            },
            ShardResult {
                index: 1,
                counts: ShardCounts {
                    successful: 5,
                    failed: 0,
                    audio_ms: 0,
                },
            }
        ]
    );
    // Reconciling twice with the same pods counts once.
    let b = planned(15, 3);
    let d = run(&b, None, Some(job_obs(JOB_RUNNING)), pods.clone(), T1);
    let d2 = run(&after(b, &d), None, Some(job_obs(JOB_RUNNING)), pods, T1);
    assert_eq!((d2.status.successful_count, d2.status.failed_count), (9, 1));
    assert_eq!(
        d2.status, d.status,
        "an unchanged observation gives an unchanged status"
    );
}

#[test]
fn pod_reports_ignore_a_tally_for_another_index() {
    assert_eq!(
        ok(2, 1, 0).outcome,
        PodOutcome::Succeeded {
            counts: ShardCounts {
                successful: 1,
                failed: 0,
                audio_ms: 0,
            },
            analytics: None,
        }
    );
    let wrong = pod(
        2,
        "Succeeded",
        0,
        r#"{"index":3,"successful":1,"failed":0}"#,
    );
    assert_eq!(wrong.outcome, PodOutcome::SucceededWithoutTally);
    let garbage = pod(2, "Succeeded", 0, "not json");
    assert_eq!(garbage.outcome, PodOutcome::SucceededWithoutTally);
}

#[test]
fn shard_pods_mount_a_models_claim_and_carry_tolerations_when_configured() {
    use clap::Parser as _;
    let b = batch();
    let p = plan(10, 2);
    let id = b.batch_id().unwrap();
    let plain = serde_json::to_value(build_job(&id, &b, &p, &policy().job)).unwrap();
    let pod = &plain["spec"]["template"]["spec"];
    assert!(pod["tolerations"].is_null(), "{pod}");
    assert_eq!(pod["volumes"].as_array().unwrap().len(), 2);
    assert!(!plain.to_string().contains("SPEECHBATCH_MODELS"));

    let config = crate::Config::try_parse_from([
        "speechbatch-operator",
        "--shard-models-pvc",
        "asr-models",
        "--shard-models-path",
        "/srv/models",
        "--shard-tolerations",
        r#"[{"key":"asr","operator":"Exists","effect":"NoSchedule"}]"#,
    ])
    .unwrap();
    let job = serde_json::to_value(build_job(&id, &b, &p, &config.policy().job)).unwrap();
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(
        pod["tolerations"],
        serde_json::json!([{"key": "asr", "operator": "Exists", "effect": "NoSchedule"}])
    );
    let models = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "models")
        .expect("a models volume");
    assert_eq!(
        models["persistentVolumeClaim"],
        serde_json::json!({"claimName": "asr-models", "readOnly": true})
    );
    let container = &pod["containers"][0];
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "models")
        .expect("a models mount");
    assert_eq!(
        (&mount["mountPath"], &mount["readOnly"]),
        (&serde_json::json!("/srv/models"), &serde_json::json!(true))
    );
    let env = container["env"].as_array().unwrap();
    assert!(env
        .iter()
        .any(|e| e["name"] == "SPEECHBATCH_MODELS" && e["value"] == "/srv/models"));

    let bad =
        crate::Config::try_parse_from(["speechbatch-operator", "--shard-tolerations", "key=asr"])
            .unwrap_err()
            .to_string();
    assert!(bad.contains("not a JSON list of tolerations"), "{bad}");
}

/// The environment of the first container of a Job's pods, by name.
fn pod_env(job: &Job) -> std::collections::BTreeMap<String, String> {
    job.spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.name, e.value.unwrap_or_default()))
        .collect()
}

#[test]
fn shard_and_analytics_pods_follow_the_operators_end_point_policy_and_retry_window() {
    use clap::Parser as _;
    use speechbatch_storage::endpoint::{ALLOW_ENV, DENY_PRIVATE_ENV};
    use speechbatch_storage::retry::{DELAY_ENV, WINDOW_ENV};
    let b = batch();
    let p = plan(10, 2);
    let id = b.batch_id().unwrap();
    let config = crate::Config::try_parse_from([
        "speechbatch-operator",
        "--endpoint-allow",
        "10.0.0.0/8,minio.internal:9000",
        "--endpoint-allow=[fd00::1]:9000",
        "--endpoint-deny-private",
        "--storage-retry-window-s",
        "60",
        "--iam-token-url",
        "https://iam.internal/identity/token",
    ])
    .unwrap();
    let policy = config.policy();
    // The scans' window is the same one.
    assert_eq!(policy.retry_window, Duration::from_secs(60));
    let jobs = [
        build_job(&id, &b, &p, &policy.job),
        crate::build::build_analytics_job(&id, &b, &p, &policy.job),
    ];
    for job in &jobs {
        let env = pod_env(job);
        assert_eq!(
            env[ALLOW_ENV],
            "10.0.0.0/8,minio.internal:9000,[fd00::1]:9000"
        );
        // Each entry reads back as the one the operator was given.
        let back: Vec<speechbatch_storage::AllowEntry> = env[ALLOW_ENV]
            .split(',')
            .map(|e| e.parse().unwrap())
            .collect();
        assert_eq!(back, config.storage.endpoint_allow);
        assert_eq!(env[DENY_PRIVATE_ENV], "true");
        assert_eq!(env[WINDOW_ENV], "60");
        assert_eq!(env[DELAY_ENV], "2000");
        assert_eq!(
            env[crds::shard::env::IAM_TOKEN_URL],
            "https://iam.internal/identity/token"
        );
    }
    // The operator's own buckets follow the policy too, its HTTP server refused.
    assert_eq!(
        config.storage_config().endpoint_policy,
        config
            .storage
            .endpoint_policy()
            .deny_listener(config.metrics_address)
    );
}

#[test]
fn an_operator_without_storage_flags_gives_its_pods_no_policy_variables() {
    use clap::Parser as _;
    use speechbatch_storage::endpoint::{ALLOW_ENV, DENY_PRIVATE_ENV};
    use speechbatch_storage::retry::WINDOW_ENV;
    let b = batch();
    let p = plan(10, 2);
    let id = b.batch_id().unwrap();
    let config = crate::Config::try_parse_from(["speechbatch-operator"]).unwrap();
    let policy = config.policy();
    assert_eq!(policy.retry_window, Duration::from_secs(300));
    assert_eq!(policy.job.iam_token_url, None, "the default is not passed");
    for job in [
        build_job(&id, &b, &p, &policy.job),
        crate::build::build_analytics_job(&id, &b, &p, &policy.job),
    ] {
        let env = pod_env(&job);
        for name in [ALLOW_ENV, DENY_PRIVATE_ENV, crds::shard::env::IAM_TOKEN_URL] {
            assert!(!env.contains_key(name), "{name}: {env:?}");
        }
        // The window is passed as the operator has it, default or not.
        assert_eq!(env[WINDOW_ENV], "300");
    }
}

#[test]
fn the_job_runs_indexed_shards_with_the_contracts_env_volumes_labels_and_failure_policy() {
    let b: SpeechBatch = serde_yaml::from_str(
        r#"
apiVersion: speechbatch.io/v1alpha1
kind: SpeechBatch
metadata: {name: calls, namespace: ns1, uid: u-1}
spec:
  input: {name: calls-raw, location: us-geo, credentialsSecret: {name: raw-creds}}
  output: {name: calls-out, location: us-south, credentialsSecret: {name: out-creds, key: cos.json}}
  recognition: {model: en-US_NarrowbandModel, wordConfidence: true}
  parallelism: 6
"#,
    )
    .unwrap();
    let p = plan(100, 5);
    let id = b.batch_id().unwrap();
    let params = b.spec.recognition.resolved();
    let job = build_job(&id, &b, &p, &policy().job);
    let v = serde_json::to_value(&job).unwrap();
    assert_eq!(v["metadata"]["name"], "calls");
    assert_eq!(
        v["metadata"]["labels"]["app.kubernetes.io/name"],
        "speechbatch-shard"
    );
    assert_eq!(v["metadata"]["labels"]["speechbatch.io/batch"], "calls");
    assert!(v["metadata"]["labels"]
        .get("kueue.x-k8s.io/queue-name")
        .is_none());
    let owner = &v["metadata"]["ownerReferences"][0];
    assert_eq!(
        (
            owner["kind"].as_str(),
            owner["uid"].as_str(),
            owner["controller"].as_bool()
        ),
        (Some("SpeechBatch"), Some("u-1"), Some(true))
    );
    let spec = &v["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(spec["completions"], 5);
    assert_eq!(spec["parallelism"], 5, "never more than the shards");
    assert_eq!(spec["backoffLimitPerIndex"], 3);
    assert!(spec.get("maxFailedIndexes").is_none());
    assert_eq!(spec["suspend"], false);
    let rules = &spec["podFailurePolicy"]["rules"];
    assert_eq!(rules[0]["action"], "FailJob");
    assert_eq!(
        rules[0]["onExitCodes"],
        serde_json::json!({"containerName": "shard", "operator": "In", "values": [3]})
    );
    assert_eq!(rules[1]["action"], "Ignore");
    assert_eq!(
        rules[1]["onPodConditions"],
        serde_json::json!([{"type": "DisruptionTarget", "status": "True"}])
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(
        spec["template"]["metadata"]["labels"]["speechbatch.io/batch"],
        "calls"
    );
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["serviceAccountName"], "speechbatch-shard");
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["nodeSelector"]["speechbatch.io/pool"], "asr");
    let c = &pod["containers"][0];
    assert_eq!(c["name"], "shard");
    assert_eq!(c["image"], "registry.example/transcriber:1.0");
    assert_eq!(c["command"], serde_json::json!(["speechbatch-shard"]));
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["terminationMessagePolicy"], "File");
    assert_eq!(c["resources"]["requests"]["cpu"], "1");
    assert_eq!(c["resources"]["limits"]["memory"], "2Gi");
    let env: std::collections::BTreeMap<String, String> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(e.get("valueFrom").is_none(), "no env from Secrets: {e}");
            (
                e["name"].as_str().unwrap().to_owned(),
                e["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(env["SPEECHBATCH_BATCH_ID"], "calls");
    assert_eq!(
        serde_json::from_str::<Vec<String>>(&env["SPEECHBATCH_SHARD_BOUNDS"]).unwrap(),
        p.bounds
    );
    assert_eq!(
        serde_json::from_str::<crds::RecognitionParams>(&env["SPEECHBATCH_PARAMS"]).unwrap(),
        params
    );
    assert_eq!(env["SPEECHBATCH_INPUT_BUCKET"], "calls-raw");
    assert_eq!(env["SPEECHBATCH_INPUT_LOCATION"], "us-geo");
    assert_eq!(env["SPEECHBATCH_OUTPUT_BUCKET"], "calls-out");
    assert_eq!(env["SPEECHBATCH_OUTPUT_LOCATION"], "us-south");
    assert_eq!(
        env["SPEECHBATCH_INPUT_CREDENTIALS"],
        "/var/run/secrets/speechbatch/input/credentials.json"
    );
    assert_eq!(
        env["SPEECHBATCH_OUTPUT_CREDENTIALS"],
        "/var/run/secrets/speechbatch/output/cos.json"
    );
    // What a shard pod reads back from that environment is what the operator meant.
    let read = crds::shard::ShardEnv::from_lookup(|k| env.get(k).cloned()).unwrap();
    assert_eq!(read, crate::build::shard_env(&id, &b, &p, &policy().job));
    assert_eq!(read.params, params);
    assert!(
        !env.contains_key("JOB_COMPLETION_INDEX"),
        "set by Kubernetes"
    );
    let vols = &pod["volumes"];
    assert_eq!(vols[0]["secret"]["secretName"], "raw-creds");
    assert_eq!(
        vols[0]["secret"]["items"],
        serde_json::json!([{"key": "credentials.json", "path": "credentials.json"}])
    );
    assert_eq!(vols[1]["secret"]["secretName"], "out-creds");
    assert_eq!(
        vols[1]["secret"]["items"],
        serde_json::json!([{"key": "cos.json", "path": "cos.json"}])
    );
    assert_eq!(
        c["volumeMounts"][0]["mountPath"],
        "/var/run/secrets/speechbatch/input"
    );
    assert_eq!(c["volumeMounts"][1]["readOnly"], true);
    // Nothing but names of Secrets: no credential field appears anywhere in the Job.
    let text = v.to_string();
    for secret_field in [
        "access_key",
        "secret_key",
        "apikey",
        "stringData",
        "secretKeyRef",
    ] {
        assert!(!text.contains(secret_field), "{secret_field} in the Job");
    }
}

#[test]
fn without_an_output_bucket_results_go_beside_the_inputs() {
    let b = planned(4, 2);
    let d = run(
        &batch(),
        Some(ScanOutcome::Planned(plan(4, 2))),
        None,
        vec![],
        T0,
    );
    let JobAction::Create(job) = d.job else {
        panic!()
    };
    let v = serde_json::to_value(&job).unwrap();
    let env = v["spec"]["template"]["spec"]["containers"][0]["env"].to_string();
    assert!(
        env.contains(r#""name":"SPEECHBATCH_OUTPUT_BUCKET","value":"meeting-audio""#),
        "{env}"
    );
    assert!(env.contains(r#""name":"SPEECHBATCH_OUTPUT_CREDENTIALS","value":"/var/run/secrets/speechbatch/output/credentials.json""#));
    assert_eq!(
        v["spec"]["template"]["spec"]["volumes"][1]["secret"]["secretName"],
        "meeting-audio-credentials"
    );
    assert!(b.status.is_some());
}

#[test]
fn with_a_kueue_queue_the_job_is_created_suspended_and_labelled() {
    let mut pol = policy();
    pol.job.kueue_queue = Some("asr-queue".into());
    let b = batch();
    let d = decide(
        &Observed {
            batch: &b,
            scan: Some(ScanOutcome::Planned(plan(3, 3))),
            job: None,
            pods: vec![],
            analytics: None,
            analytics_pods: vec![],
            now: at(T0),
        },
        &pol,
    );
    let JobAction::Create(job) = d.job else {
        panic!()
    };
    assert_eq!(job.spec.as_ref().unwrap().suspend, Some(true));
    assert_eq!(
        job.metadata.labels.as_ref().unwrap()["kueue.x-k8s.io/queue-name"],
        "asr-queue"
    );
    assert_eq!(
        job.spec
            .as_ref()
            .unwrap()
            .template
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .as_ref()
            .unwrap()["kueue.x-k8s.io/queue-name"],
        "asr-queue"
    );
}

#[test]
fn a_million_file_status_stays_under_10_kb() {
    // 1,000 agents × 1,000 calls, in listing (byte) order.
    let mut planner = ShardPlanner::new(crate::Config::defaults().max_shards as usize);
    for agent in 0..1000 {
        for call in 0..1000 {
            planner.push(&format!(
                "calls/2026/11/26/agent-{agent:04}/call-{call:06}.wav"
            ));
        }
    }
    let p = planner.finish();
    assert_eq!(p.total, 1_000_000);
    let b = batch();
    let d = run(&b, Some(ScanOutcome::Planned(p.clone())), None, vec![], T0);
    let b = after(b, &d);
    // Every shard reported (an hour of audio a call), the Job complete: the largest status the
    // shards can make.
    let pods: Vec<_> = p
        .sizes
        .iter()
        .enumerate()
        .map(|(i, s)| ok_audio(i as u32, s - 17, 17, s * 3_600_000))
        .collect();
    let d = run(&b, None, Some(job_obs(JOB_COMPLETE)), pods.clone(), T1);
    assert_eq!(d.status.successful_count + d.status.failed_count, 1_000_000);
    assert_eq!(d.status.audio_ms, 3_600_000_000_000);
    let size = serde_json::to_vec(&d.status).unwrap().len();
    println!(
        "status of a 1,000,000-file batch in {} shards: {size} bytes",
        p.len()
    );
    assert!(size < 10 * 1024, "{size} bytes");
    // With speech analytics, the largest summary a termination message carries comes on top:
    // a fixed bound, whatever the number of files.
    let mut b = b;
    b.status.as_mut().unwrap().analytics = Some(AnalyticsSummary {
        files: 1_000_000,
        turns: 40_000_000,
        sentiment: ["negative", "neutral", "positive"]
            .map(|l| (l.to_string(), 13_333_333))
            .into(),
        tones: crds::analytics::ToneId::ALL
            .map(|t| (t.as_str().to_string(), 5_000_000))
            .into(),
        topics: (0..crds::analytics::SUMMARY_TOP)
            .map(|i| TopicCount {
                topic_name: format!("{i}{}", "x".repeat(crds::shard::SUMMARY_TEXT_MAX_CHARS - 1)),
                files: 100_000,
            })
            .collect(),
        keywords: (0..crds::analytics::SUMMARY_TOP)
            .map(|i| KeywordCount {
                text: format!("{i}{}", "y".repeat(crds::shard::SUMMARY_TEXT_MAX_CHARS - 1)),
                count: 10_000_000,
            })
            .collect(),
    });
    let d = run(&b, None, Some(job_obs(JOB_COMPLETE)), pods, T1);
    let with_summary = serde_json::to_vec(&d.status).unwrap().len();
    println!("with the largest analytics summary: {with_summary} bytes");
    assert!(
        with_summary < size + crds::shard::TERMINATION_MESSAGE_MAX_BYTES,
        "{with_summary} bytes"
    );
}

#[test]
fn lease_decisions() {
    use crate::leader::{decide_lease, LeaseDecision};
    use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    let now = jiff::Timestamp::from_second(1_000_000).unwrap();
    let lease = |holder: Option<&str>, renewed: i64| Lease {
        metadata: Default::default(),
        spec: Some(LeaseSpec {
            holder_identity: holder.map(str::to_owned),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(jiff::Timestamp::from_second(renewed).unwrap())),
            ..Default::default()
        }),
    };
    assert_eq!(decide_lease(None, "me", now), LeaseDecision::Create);
    assert_eq!(
        decide_lease(Some(&lease(Some("me"), 999_990)), "me", now),
        LeaseDecision::Renew
    );
    assert_eq!(
        decide_lease(Some(&lease(Some("other"), 999_990)), "me", now),
        LeaseDecision::Wait
    );
    assert_eq!(
        decide_lease(Some(&lease(Some("other"), 999_900)), "me", now),
        LeaseDecision::TakeOver
    );
    assert_eq!(
        decide_lease(Some(&lease(None, 999_999)), "me", now),
        LeaseDecision::TakeOver
    );
}

#[test]
fn metrics_are_exposed_without_batch_names() {
    let m = crate::metrics::Metrics::default();
    {
        let _t = m.reconcile();
    }
    m.failure("kube");
    m.set_batch("default/secret-name", Some(BatchStatus::Running));
    let text = m.encode();
    for name in [
        "speechbatch_operator_reconciliations_total",
        "speechbatch_operator_reconcile_failures_total",
        "speechbatch_operator_reconcile_duration_seconds_bucket",
        "speechbatch_operator_batches",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    assert!(
        text.contains(r#"speechbatch_operator_batches{status="running"} 1"#),
        "{text}"
    );
    assert!(!text.contains("secret-name"));
}

#[test]
fn the_default_flags_parse() {
    let c = crate::Config::defaults();
    assert_eq!(
        (
            c.default_parallelism,
            c.backoff_limit_per_index,
            c.max_shards
        ),
        (4, 3, 64)
    );
    let p = c.policy();
    assert_eq!(p.job.requests["memory"], "1Gi");
    assert!(c.leader_election);
}

// --- LanguageModel: status derivation and training, as the embedded backend's rules say ------

mod language_models {
    use std::collections::BTreeMap;

    use crds::customization::{CorpusStatus, LanguageModelStatus};
    use crds::language_model::{CorpusRef, LanguageModel};
    use crds::resource::BatchLanguageModel;
    use crds::shard::ShardEnv;
    use crds::Timestamp;

    use crate::build::{build_job, ModelStoreRef};
    use crate::language_model::{
        after_training, analyse_text, corpora_to_analyse, derive_status, fingerprint, model_state,
        train, training_due, StoredAnalysis, TrainingOutcome,
    };

    const MODEL: &str = r#"
apiVersion: speechbatch.io/v1alpha1
kind: LanguageModel
metadata:
  name: products
  namespace: default
  generation: 3
spec:
  name: Product names
  baseModelName: en-US_BroadbandModel
  words:
    - word: Nimbra
      soundsLike: ["nim bra"]
  corpora:
    - name: catalog
      object: customizations/products/corpora/catalog.txt
      sha256: aaaa
  training:
    request: 1
    customizationWeight: 0.5
"#;

    fn model() -> LanguageModel {
        serde_yaml::from_str(MODEL).unwrap()
    }

    fn now() -> Timestamp {
        Timestamp::parse("2026-12-01T10:00:00.000+0000").unwrap()
    }

    fn analysed(sha: &str) -> BTreeMap<String, StoredAnalysis> {
        BTreeMap::from([(
            "catalog".to_string(),
            analyse_text(sha, b"The Zorblatix ships with the Quendrix adapter.\n"),
        )])
    }

    fn status_of(
        lm: &LanguageModel,
        analyses: &BTreeMap<String, StoredAnalysis>,
    ) -> crds::language_model::LanguageModelStatusFields {
        let state = model_state("products", &lm.spec, analyses, None, now());
        derive_status(lm, state.as_ref().map_err(String::as_str), now())
    }

    #[test]
    fn a_corpus_without_a_current_analysis_is_being_processed_and_the_model_pending() {
        let lm = model();
        let none = BTreeMap::new();
        assert_eq!(corpora_to_analyse(&lm.spec, &none).len(), 1);
        let s = status_of(&lm, &none);
        assert_eq!(s.status, Some(LanguageModelStatus::Pending));
        assert_eq!(s.corpora[0].status, CorpusStatus::BeingProcessed);
        // An analysis of another text is stale.
        assert_eq!(corpora_to_analyse(&lm.spec, &analysed("bbbb")).len(), 1);
        assert!(corpora_to_analyse(&lm.spec, &analysed("aaaa")).is_empty());
        assert_eq!(
            training_due(&lm, 1),
            None,
            "training waits for the analyses"
        );
    }

    #[test]
    fn analysed_corpora_and_words_make_it_ready_with_merged_words() {
        let lm = model();
        let s = status_of(&lm, &analysed("aaaa"));
        assert_eq!(s.status, Some(LanguageModelStatus::Ready));
        assert_eq!(s.corpora[0].status, CorpusStatus::Analyzed);
        assert_eq!(s.corpora[0].out_of_vocabulary_words, 2, "{:?}", s.corpora);
        assert_eq!(s.words, 3, "Nimbra plus the corpus's two unknown words");
        assert_eq!(s.observed_generation, Some(3));
    }

    #[test]
    fn a_word_excluded_from_a_corpus_leaves_its_list_but_not_its_counts() {
        let mut lm = model();
        let before = status_of(&lm, &analysed("aaaa"));
        lm.spec.corpora[0].excluded_words.push("zorblatix".into());
        let s = status_of(&lm, &analysed("aaaa"));
        assert_eq!(s.words, before.words - 1, "one word fewer");
        assert_eq!(s.corpora, before.corpora, "the corpus's analysis as it was");
        let state = model_state("products", &lm.spec, &analysed("aaaa"), None, now()).unwrap();
        assert!(state.word("Zorblatix").is_err());
        assert!(state.word("Quendrix").is_ok());
        assert_ne!(
            fingerprint(&lm.spec),
            fingerprint(&model().spec),
            "a model trained before the deletion is not available after it"
        );
    }

    #[test]
    fn a_model_reset_to_nothing_has_nothing_trained() {
        let mut lm = model();
        lm.status = Some(crds::language_model::LanguageModelStatusFields {
            trained: Some(crds::language_model::TrainedStatus {
                request: 1,
                object: "customizations/products/vocabulary/1.json".into(),
                trained: now().to_string(),
                customization_weight: None,
                inputs: fingerprint(&lm.spec),
                warnings: None,
            }),
            handled_request: Some(1),
            ..Default::default()
        });
        assert!(status_of(&lm, &analysed("aaaa")).trained.is_some());
        lm.spec.words.clear();
        lm.spec.corpora.clear();
        let s = status_of(&lm, &BTreeMap::new());
        assert_eq!(s.trained, None, "jobs can no longer use it");
        assert_eq!(s.status, Some(LanguageModelStatus::Pending));
    }

    #[test]
    fn a_text_that_is_not_utf8_is_undetermined_with_why() {
        let lm = model();
        let bad = BTreeMap::from([("catalog".to_string(), analyse_text("aaaa", b"\xff\xfe bad"))]);
        let s = status_of(&lm, &bad);
        assert_eq!(s.corpora[0].status, CorpusStatus::Undetermined);
        assert!(s.corpora[0].error.as_deref().unwrap().contains("UTF-8"));
        assert_eq!(
            s.status,
            Some(LanguageModelStatus::Ready),
            "the user word is enough"
        );
    }

    #[test]
    fn training_stores_a_vocabulary_then_any_change_makes_it_ready_again() {
        let mut lm = model();
        let analyses = analysed("aaaa");
        lm.status = Some(status_of(&lm, &analyses));
        assert_eq!(training_due(&lm, 0), Some(1));
        let state = model_state("products", &lm.spec, &analyses, None, now()).unwrap();
        let outcome = train("products", &lm, state.clone(), 1, now());
        let TrainingOutcome::Trained(v, record) = &outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(record.object, "customizations/products/vocabulary/1.json");
        assert_eq!(v.customization_weight, Some(0.5));
        assert!(v.words.iter().any(|w| w.display_as == "Nimbra"));
        lm.status = Some(after_training(&lm, Ok(&state), &outcome, now()));
        let s = lm.status.clone().unwrap();
        assert_eq!(s.status, Some(LanguageModelStatus::Available));
        assert_eq!((s.progress, s.handled_request), (100, Some(1)));
        assert_eq!(training_due(&lm, 0), None, "request 1 is handled");
        // Still available when derived again from the same spec.
        assert_eq!(
            status_of(&lm, &analyses).status,
            Some(LanguageModelStatus::Available)
        );
        // A new word: ready, the trained vocabulary kept for jobs.
        lm.spec.words.push(crds::language_model::SpecWord {
            word: "Quillet".into(),
            sounds_like: vec![],
            display_as: None,
        });
        let s = status_of(&lm, &analyses);
        assert_eq!(s.status, Some(LanguageModelStatus::Ready));
        assert!(s.trained.is_some());
        // Bumping the request trains again.
        lm.spec.training.as_mut().unwrap().request = 2;
        assert_eq!(training_due(&lm, 0), Some(2));
    }

    #[test]
    fn nothing_to_train_on_fails_with_the_embedded_rule_until_the_spec_changes() {
        let mut lm = model();
        lm.spec.words.clear();
        lm.spec.corpora.clear();
        let none = BTreeMap::new();
        let state = model_state("products", &lm.spec, &none, None, now()).unwrap();
        let outcome = train("products", &lm, state.clone(), 1, now());
        assert!(matches!(outcome, TrainingOutcome::Failed(_)), "{outcome:?}");
        lm.status = Some(after_training(&lm, Ok(&state), &outcome, now()));
        let s = lm.status.clone().unwrap();
        assert_eq!(s.status, Some(LanguageModelStatus::Failed));
        assert!(s
            .error
            .unwrap()
            .contains("no analyzed corpora and no words"));
        assert_eq!(
            training_due(&lm, 0),
            None,
            "a failed request is not retried"
        );
        lm.spec.words.push(crds::language_model::SpecWord {
            word: "Nimbra".into(),
            sounds_like: vec![],
            display_as: None,
        });
        assert_eq!(
            status_of(&lm, &none).status,
            Some(LanguageModelStatus::Ready)
        );
    }

    #[test]
    fn a_spec_breaking_a_rule_is_failed_with_the_rule() {
        let mut lm = model();
        lm.spec.words[0].word = "two words".into();
        let s = status_of(&lm, &analysed("aaaa"));
        assert_eq!(s.status, Some(LanguageModelStatus::Failed));
        assert!(s.error.unwrap().contains("not valid"), "spec error named");
        let mut lm = model();
        lm.spec.corpora.push(CorpusRef {
            name: "user".into(),
            object: "x".into(),
            sha256: "s".into(),
            excluded_words: Vec::new(),
        });
        assert_eq!(
            status_of(&lm, &analysed("aaaa")).status,
            Some(LanguageModelStatus::Failed)
        );
    }

    #[test]
    fn the_fingerprint_ignores_corpus_order_and_training_requests() {
        let lm = model();
        let mut other = model();
        other.spec.training.as_mut().unwrap().request = 7;
        assert_eq!(fingerprint(&lm.spec), fingerprint(&other.spec));
        other.spec.training.as_mut().unwrap().customization_weight = Some(0.9);
        assert_ne!(fingerprint(&lm.spec), fingerprint(&other.spec));
    }

    #[test]
    fn a_batch_naming_a_model_mounts_the_store_secret_and_tells_the_shard_the_object() {
        let mut batch = super::batch();
        batch.spec.language_model = Some(BatchLanguageModel {
            customization_id: "products".into(),
            vocabulary_object: "batches/meetings-2026-11/vocabulary.json".into(),
        });
        let mut policy = super::policy();
        policy.job.model_store = Some(ModelStoreRef {
            bucket: "models".into(),
            location: "us-geo".into(),
            secret_name: "speechbatch-model-store".into(),
            secret_key: "credentials.json".into(),
        });
        let id = batch.batch_id().unwrap();
        let job = build_job(&id, &batch, &super::plan(10, 2), &policy.job);
        let pod = job.spec.unwrap().template.spec.unwrap();
        let c = &pod.containers[0];
        let env: BTreeMap<String, String> = c
            .env
            .clone()
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.value.unwrap_or_default()))
            .collect();
        let back = ShardEnv::from_lookup(|k| env.get(k).cloned()).unwrap();
        let v = back.vocabulary.unwrap();
        assert_eq!(v.object, "batches/meetings-2026-11/vocabulary.json");
        assert_eq!(v.store.name, "models");
        assert_eq!(
            v.store.credentials_path,
            "/var/run/secrets/speechbatch/model-store/credentials.json"
        );
        let vol = pod
            .volumes
            .unwrap()
            .into_iter()
            .find(|v| v.name == "model-store-credentials")
            .unwrap();
        assert_eq!(
            vol.secret.unwrap().secret_name.as_deref(),
            Some("speechbatch-model-store")
        );
        assert!(c
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .any(|m| m.mount_path == "/var/run/secrets/speechbatch/model-store"));
        // Without a model, no store is mounted.
        let plain = build_job(&id, &super::batch(), &super::plan(10, 2), &policy.job);
        let text = serde_json::to_string(&plain).unwrap();
        assert!(!text.contains("model-store"));
    }
}
