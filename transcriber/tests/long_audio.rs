//! Long recordings: speech separated by pauses of every length, spread over several 30-second
//! windows, keeps absolute timestamps and puts no words in the silences.

mod common;

use common::engine;
use speechbatch_audio::{decode_all, DecodeOptions};
use speechbatch_testkit::{read_manifest, testdata, wav_from_f32};
use transcriber::RecognitionParams;

/// A 16-bit mono 16 kHz WAV file of `samples`.
fn wav_bytes(samples: &[f32]) -> Vec<u8> {
    wav_from_f32(16_000, 1, samples)
}

#[test]
fn words_keep_absolute_times_across_windows_and_long_silences() {
    let dir = testdata("asr");
    // Pauses chosen to hit every packing case: within a window, across windows, and a silence
    // longer than a whole window (which must be skipped, not transcribed).
    let pauses = [
        0.4, 1.5, 6.0, 0.8, 45.0, 2.0, 12.0, 0.5, 3.0, 31.0, 1.0, 0.7, 9.0, 2.5, 0.6,
    ];
    let mut audio: Vec<f32> = Vec::new();
    let mut spans = Vec::new();
    for (row, pause) in read_manifest(&dir.join("manifest.tsv")).iter().zip(pauses) {
        let bytes = std::fs::read(dir.join(&row["file"])).unwrap();
        let (_, samples) = decode_all(
            &bytes,
            &DecodeOptions {
                name_hint: None,
                allow_g729: false,
            },
        )
        .unwrap();
        let start = audio.len() as f64 / 16_000.0;
        audio.extend_from_slice(&samples);
        spans.push((row["file"].clone(), start, audio.len() as f64 / 16_000.0));
        audio.extend(std::iter::repeat_n(0.0, (pause * 16_000.0) as usize));
    }
    let total = audio.len() as f64 / 16_000.0;
    assert!(total > 180.0);
    let results = engine()
        .recognize(
            wav_bytes(&audio),
            Some("long.wav"),
            &RecognitionParams::default(),
        )
        .unwrap();
    let v = serde_json::to_value(&results).unwrap();
    let mut per_span = vec![0usize; spans.len()];
    let mut last_start = 0.0;
    for r in v["results"].as_array().unwrap() {
        for w in r["alternatives"][0]["timestamps"].as_array().unwrap() {
            let (word, start, end) = (
                w[0].as_str().unwrap(),
                w[1].as_f64().unwrap(),
                w[2].as_f64().unwrap(),
            );
            assert!(start >= last_start, "{word} at {start} goes back in time");
            last_start = start;
            let span = spans
                .iter()
                .position(|(_, a, b)| start >= a - 0.1 && end <= b + 0.1)
                .unwrap_or_else(|| panic!("{word} [{start}, {end}] lies in a silence"));
            per_span[span] += 1;
        }
    }
    for ((file, a, b), n) in spans.iter().zip(&per_span) {
        assert!(*n >= 5, "{file} [{a:.1}, {b:.1}] got {n} words");
    }
}

#[test]
fn silence_and_noise_give_empty_results_not_hallucinated_words() {
    let silence = vec![0.0f32; 16_000 * 20];
    // Deterministic white noise (a linear congruential generator), loud but not speech.
    let mut state = 12345u32;
    let noise: Vec<f32> = (0..16_000 * 20)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect();
    for (name, audio) in [("silence.wav", silence), ("noise.wav", noise)] {
        let results = engine()
            .recognize(wav_bytes(&audio), Some(name), &RecognitionParams::default())
            .unwrap();
        let v = serde_json::to_value(&results).unwrap();
        assert_eq!(v["results"].as_array().unwrap().len(), 0, "{name}: {v}");
        assert_eq!(v["speaker_labels"].as_array().unwrap().len(), 0, "{name}");
        assert!((results.audio_seconds - 20.0).abs() < 0.01);
    }
}
