//! Diarization of the checked-in conversations, scored by the testkit's DER.
//!
//! Speech spans stand in for the engine's VAD (reference turns padded and merged, or an energy
//! detector) and pseudo-words for the recogniser's words: see `common/mod.rs`.

mod common;

use std::path::Path;

use common::{conversations_dir as conversations, evaluate, Evaluation, Method, SpanSource};
use speechbatch_diarize::{DiarizeError, SpeakerEncoder};

fn check_targets(e: &Evaluation, what: &str) {
    println!("{what}:\n{}", e.score.report);
    assert!(
        e.score.correct >= 5,
        "{what}: speaker count right on {}/{}",
        e.score.correct,
        e.score.total
    );
    assert!(e.score.der <= 0.10, "{what}: DER {:.4} > 0.10", e.score.der);
}

#[test]
fn conversations_with_reference_spans_meet_targets() {
    let e = evaluate(
        &conversations(),
        SpanSource::Reference(0.2),
        Method::Clustered,
    );
    check_targets(&e, "reference turns ±0.2 s");
}

#[test]
fn conversations_with_energy_spans_meet_targets() {
    let e = evaluate(&conversations(), SpanSource::Energy, Method::Clustered);
    check_targets(&e, "energy detector");
}

#[test]
fn conversations_with_engine_like_spans_meet_targets() {
    // Split at every 100 ms silence and padded by 0.4 s like the engine's VAD: many short spans,
    // each with silence at both ends.
    let e = evaluate(&conversations(), SpanSource::EngineLike, Method::Clustered);
    check_targets(&e, "engine-like VAD segments");
}

#[test]
fn conversations_with_turns_merged_across_pauses_meet_targets() {
    // ±0.6 s joins every pause under 1.2 s: most spans hold several turns of different speakers,
    // so changes must be found inside spans.
    let e = evaluate(
        &conversations(),
        SpanSource::Reference(0.6),
        Method::Clustered,
    );
    check_targets(&e, "reference turns ±0.6 s (merged)");
}

#[test]
fn labels_follow_the_interface() {
    let e = evaluate(&conversations(), SpanSource::Energy, Method::Clustered);
    for o in &e.outcomes {
        assert_eq!(
            o.labels.len(),
            o.words.len(),
            "{}: one label per word",
            o.name
        );
        for (l, &(from, to)) in o.labels.iter().zip(&o.words) {
            assert_eq!(
                (l.from, l.to),
                (from, to),
                "{}: label times are the word's",
                o.name
            );
            assert!(
                (0.0..=1.0).contains(&l.confidence),
                "{}: confidence {}",
                o.name,
                l.confidence
            );
        }
        let finals: Vec<usize> = o
            .labels
            .iter()
            .enumerate()
            .filter(|(_, l)| l.final_)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            finals,
            vec![o.labels.len() - 1],
            "{}: final only on the last label",
            o.name
        );
        let mut next = 0;
        for l in &o.labels {
            assert!(
                l.speaker <= next,
                "{}: speaker {} before {}",
                o.name,
                l.speaker,
                next
            );
            if l.speaker == next {
                next += 1;
            }
        }
        assert_eq!(
            next as usize,
            o.speakers_found.min(next as usize),
            "{}",
            o.name
        );
        let first = o.labels[0].confidence;
        assert!(
            o.labels.iter().any(|l| (l.confidence - first).abs() > 1e-6),
            "{}: confidence should vary, not be a constant",
            o.name
        );
    }
}

#[test]
fn clustering_does_not_lose_to_the_baseline() {
    let ours = evaluate(&conversations(), SpanSource::Energy, Method::Clustered);
    let base = evaluate(&conversations(), SpanSource::Energy, Method::Baseline);
    println!("baseline:\n{}", base.score.report);
    assert!(base
        .outcomes
        .iter()
        .all(|o| o.labels.len() == o.words.len()));
    assert!(
        ours.score.der <= base.score.der && ours.score.correct >= base.score.correct,
        "clustering (DER {:.4}, {}/6) should not lose to the baseline (DER {:.4}, {}/6)",
        ours.score.der,
        ours.score.correct,
        base.score.der,
        base.score.correct
    );
}

#[test]
fn a_missing_model_is_a_clear_error() {
    match SpeakerEncoder::load(Path::new("/nonexistent/speaker-ge2e.onnx"), 1) {
        Err(DiarizeError::ModelMissing(p)) => assert!(p.ends_with("speaker-ge2e.onnx")),
        other => panic!("expected ModelMissing, got {other:?}"),
    }
}
