//! An hour of audio in bounded memory: the diarizer keeps embeddings (about 1 KiB per 0.5 s of
//! speech), never audio, and its clustering works on a bounded subset of windows. The hour is the
//! checked-in wideband conversations over and over (see `common/long.rs`), so it also checks that
//! recurring voices stay one speaker each over an hour.
//! Alone in its own test binary so that the peak-memory reading is this test's.

mod common;

#[test]
fn an_hour_is_diarized_in_bounded_memory() {
    let run = common::long::run(&common::conversations_dir(), 3600.0);
    let speed = run.audio_s / run.wall.as_secs_f64();
    println!(
        "{:.0} s of audio ({:.0} s speech) in {:.1} s: {:.0}x real time, {} speakers, peak RSS {:?} KiB",
        run.audio_s,
        run.speech_s,
        run.wall.as_secs_f64(),
        speed,
        run.timeline.num_speakers(),
        run.peak_rss_kib
    );
    assert!(run.audio_s >= 3599.0);
    // The timeline reaches the end of the hour.
    let last = run.timeline.segments().last().expect("segments");
    assert!(last.end > 3500.0, "timeline ends at {}", last.end);
    // Seven voices recur every few minutes; Festival's slt_hts and Flite's slt are one person's
    // voice and embed alike (cosine 0.92), so 6 is the expected count.
    let n = run.timeline.num_speakers();
    assert!((5..=7).contains(&n), "{n} speakers for 7 recurring voices");
    // Scored against the voices: what remains is Flite's slt labelled as Festival's slt (~12%).
    let score = common::long::score_run(&run);
    println!("{}", score.report);
    assert!(score.der <= 0.15, "DER {:.4} over the hour", score.der);
    if let Some((before, after)) = run.peak_rss_kib {
        // Embeddings for an hour are ~7 MiB and the linkage matrix ~8 MiB; the decoded audio of one
        // 40 s conversation is 2.5 MiB. 150 MiB of growth would mean something holds audio.
        assert!(
            after - before < 150 * 1024,
            "peak RSS grew by {} KiB",
            after - before
        );
    }
}
