//! Every single-speaker clip of testdata/asr must come out as one speaker, and the encoder's windows
//! must be what the API promises.

mod common;

use common::{diarize, encoder, energy_spans, read_audio, Method, SR};
use speechbatch_diarize::EMBEDDING_DIM;

fn clips() -> Vec<std::path::PathBuf> {
    let dir = speechbatch_testkit::testdata("asr");
    let mut clips: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata/asr")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "flac"))
        .collect();
    clips.sort();
    assert_eq!(clips.len(), 15, "testdata/asr clips");
    clips
}

#[test]
fn every_asr_clip_is_one_speaker() {
    for clip in clips() {
        let samples = read_audio(&clip);
        let duration = samples.len() as f64 / SR as f64;
        // Both span stand-ins: the energy detector, and the whole clip as one span.
        for spans in [energy_spans(&samples), vec![(0.0, duration)]] {
            let (timeline, _) = diarize(&samples, &spans, Method::Clustered);
            assert_eq!(
                timeline.num_speakers(),
                1,
                "{}: {} speakers with spans {spans:?}",
                clip.display(),
                timeline.num_speakers()
            );
            let words: Vec<(f64, f64)> = (0..((duration - 0.6) / 0.3) as usize)
                .map(|i| (0.3 + i as f64 * 0.3, 0.6 + i as f64 * 0.3))
                .collect();
            let labels = timeline.label_words(&words);
            assert!(labels.iter().all(|l| l.speaker == 0), "{}", clip.display());
            assert!(
                labels.iter().all(|l| l.confidence > 0.5),
                "{}: a lone voice is a confident one",
                clip.display()
            );
        }
    }
}

#[test]
fn every_asr_clip_is_one_speaker_on_the_telephone_too() {
    // 8 kHz telephone audio, as conv05_8k/conv06_8k: resampled to 8 kHz, through G.711 mu-law,
    // and upsampled back to 16 kHz as the engine does.
    for clip in clips() {
        let wide = read_audio(&clip);
        let narrow: Vec<f32> = common::audio::resample_to(&wide, SR, 8000)
            .into_iter()
            .map(common::audio::mu_law_round_trip)
            .collect();
        let samples = common::audio::resample(&narrow, 8000);
        let spans = energy_spans(&samples);
        let (timeline, _) = diarize(&samples, &spans, Method::Clustered);
        assert_eq!(timeline.num_speakers(), 1, "{} (8 kHz)", clip.display());
    }
}

#[test]
fn embedding_windows_cover_the_span() {
    let samples = read_audio(&clips()[0]);
    let enc = encoder();
    let span = &samples[SR / 2..SR / 2 + 52 * SR / 10]; // 5.2 s from 0.5 s
    let windows = enc.embed_span(span, 0.5).expect("embed");
    // 1.5 s windows every 0.75 s over 5.2 s: starts 0, 0.75, ..., 3.0, plus one ending at 5.2 s.
    assert_eq!(windows.len(), 6);
    assert!((windows[0].start - 0.5).abs() < 1e-9);
    assert!((windows.last().unwrap().end - 5.7).abs() < 1e-6);
    for w in &windows {
        // The last window ends with the span, 10 ms short of its last centred frame.
        assert!(
            (w.end - w.start - 1.5).abs() < 0.011,
            "window length {}",
            w.end - w.start
        );
        assert_eq!(w.embedding.len(), EMBEDDING_DIM);
        let norm: f32 = w.embedding.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "L2 norm {norm}");
        assert!(w.embedding.iter().all(|&x| x >= 0.0), "ReLU output");
    }
    // Consecutive windows of one voice are alike.
    let sim: f32 = windows[0]
        .embedding
        .iter()
        .zip(&windows[1].embedding)
        .map(|(a, b)| a * b)
        .sum();
    assert!(sim > 0.7, "same-voice similarity {sim}");
    // A span shorter than a window gets one window of its own length.
    let short = enc
        .embed_span(&samples[SR..SR + SR * 8 / 10], 1.0)
        .expect("embed short");
    assert_eq!(short.len(), 1);
    assert!((short[0].end - 1.8).abs() < 1e-6);
}
