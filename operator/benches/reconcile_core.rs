//! The pure core of one reconcile (no API, no bucket I/O): `decide` for a 1,000,000-file batch
//! in 64 shards, each reconcile turning 64 pod reports into the status. Timing loop; prints the
//! median. `cargo bench -p operator --bench reconcile_core`.

use std::time::Instant;

use crds::resource::SpeechBatch;
use operator::decide::{decide, Observed, ScanOutcome};
use operator::observe::{JobObservation, PodOutcome, PodReport};
use speechbatch_storage::ShardPlanner;

fn main() {
    let mut batch: SpeechBatch = serde_yaml::from_str(
        "apiVersion: speechbatch.io/v1alpha1\nkind: SpeechBatch\nmetadata: {name: b, namespace: default, uid: u, generation: 1}\nspec:\n  input: {name: in, location: us-geo, credentialsSecret: {name: s}}\n",
    )
    .unwrap();
    let policy = operator::Config::defaults().policy();
    let mut planner = ShardPlanner::new(64);
    for agent in 0..1000 {
        for call in 0..1000 {
            planner.push(&format!(
                "calls/2026/11/26/agent-{agent:04}/call-{call:06}.wav"
            ));
        }
    }
    let plan = planner.finish();
    let d = decide(
        &Observed {
            batch: &batch,
            scan: Some(ScanOutcome::Planned(plan.clone())),
            job: None,
            pods: vec![],
            analytics: None,
            analytics_pods: vec![],
            now: crds::Timestamp::now(),
        },
        &policy,
    );
    batch.status = Some(d.status);
    let job = JobObservation {
        name: "b".into(),
        active: 8,
        any_finished: true,
        ..Default::default()
    };
    let pods: Vec<PodReport> = (0..64u32)
        .map(|i| PodReport {
            index: i,
            outcome: if i < 56 {
                PodOutcome::Succeeded {
                    counts: crds::ShardCounts {
                        successful: 15_000,
                        failed: 625,
                        audio_ms: 15_000 * 300_000,
                    },
                    analytics: None,
                }
            } else {
                PodOutcome::Active
            },
        })
        .collect();
    let mut times = Vec::new();
    for _ in 0..2_000 {
        let t = Instant::now();
        let d = decide(
            &Observed {
                batch: &batch,
                scan: None,
                job: Some(job.clone()),
                pods: pods.clone(),
                analytics: None,
                analytics_pods: vec![],
                now: crds::Timestamp::now(),
            },
            &policy,
        );
        std::hint::black_box(&d);
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "reconcile core (decide, 64 shards, 64 pod reports): median {:?}, p90 {:?}, min {:?} over {} runs",
        times[times.len() / 2],
        times[times.len() * 9 / 10],
        times[0],
        times.len()
    );
}
