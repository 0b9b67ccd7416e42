//! The Rust mel front end against the numpy/librosa fixture (see tests/data/make_mel_fixture.py).

use speechbatch_diarize::mel::{MelFrontEnd, N_MELS};

fn read_f32(name: &str) -> Vec<f32> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/").to_string() + name;
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[test]
fn the_mel_spectrogram_matches_the_librosa_reference() {
    let input = read_f32("mel_input.f32");
    let expected = read_f32("mel_expected.f32");
    let got = MelFrontEnd::new().compute(&input, 1.0);
    assert_eq!(got.len(), expected.len(), "frame count");
    assert_eq!(got.len() / N_MELS, MelFrontEnd::frame_count(input.len()));
    let peak = expected.iter().cloned().fold(0f32, f32::max);
    let worst = got
        .iter()
        .zip(&expected)
        .map(|(g, e)| (g - e).abs() / (e.abs() + 1e-6 * peak))
        .fold(0f32, f32::max);
    assert!(worst < 1e-4, "max relative difference {worst}");
}

#[test]
fn the_gain_scales_the_power() {
    let input = read_f32("mel_input.f32");
    let mel = MelFrontEnd::new();
    let one = mel.compute(&input, 1.0);
    let four = mel.compute(&input, 4.0);
    let doubled: Vec<f32> = input.iter().map(|x| 2.0 * x).collect();
    let loud = mel.compute(&doubled, 1.0);
    for ((a, b), c) in one.iter().zip(&four).zip(&loud) {
        assert!((4.0 * a - b).abs() <= 1e-5 * b.abs().max(1e-3));
        assert!((b - c).abs() <= 1e-4 * c.abs().max(1e-3));
    }
}
