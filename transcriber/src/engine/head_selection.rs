//! Which of Moonshine's cross-attention heads time its words: a measurement, repeatable with
//! `cargo test -p transcriber --lib choose_moonshine_alignment_heads -- --ignored --nocapture`,
//! whose outcome is `moonshine::align::ALIGNMENT_HEADS` (the lag that goes with them is
//! `Weights::attention_lag_s`, since measured against speech with known word times).
//!
//! Whisper base's word times are the reference (its path is measured accurate). On the 15
//! clips of testdata/asr, each window is transcribed by Whisper base and by Moonshine, whose
//! decoder keeps the attention of all 64 heads; each head alone then times Moonshine's words
//! through the engine's own path (chunk map, lag, snapping to speech). The words both
//! transcripts share (same text after lowercasing and dropping punctuation, paired by a longest
//! common subsequence) give each head a mean absolute difference of word start times. The
//! heads are ranked by it, and the mean of the best k heads is measured the same way for each
//! k; last, the chosen heads are measured with the lag a frame or two longer or shorter.

use super::*;
use crate::moonshine::DecodedPart;
use speechbatch_testkit::{read_manifest, testdata};

/// A window's words as the engine would give them, with the Moonshine words timed by the heads
/// at `which` (indices into the decoded heads) and moved `shift` seconds earlier.
fn moonshine_words(
    moonshine: &Moonshine,
    window: &Window,
    parts: &[DecodedPart],
    which: &[usize],
    shift: f64,
) -> Vec<Word> {
    let words = parts
        .iter()
        .flat_map(|part| moonshine.part_words(part, &part.decoded.with_heads(which)))
        .map(|w| WordTiming {
            start: w.start - shift,
            end: w.end - shift,
            ..w
        })
        .collect();
    fit_to_speech(window, words).words
}

fn normalised(word: &str) -> String {
    word.chars()
        .filter(|c| c.is_alphanumeric() || *c == '\'')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Index pairs of the words the two sequences share, by a longest common subsequence.
fn shared_words(a: &[String], b: &[String]) -> Vec<(usize, usize)> {
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut pairs) = (0, 0, Vec::new());
    while i < n && j < m {
        if a[i] == b[j] {
            pairs.push((i, j));
            i += 1;
            j += 1;
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    pairs
}

/// Sum of absolute and of signed start differences (Moonshine minus Whisper), and the count.
fn start_differences(reference: &[Word], words: &[Word]) -> (f64, f64, usize) {
    let a: Vec<String> = reference.iter().map(|w| normalised(&w.text)).collect();
    let b: Vec<String> = words.iter().map(|w| normalised(&w.text)).collect();
    let pairs = shared_words(&a, &b);
    let mut abs = 0.0;
    let mut signed = 0.0;
    for &(i, j) in &pairs {
        let d = words[j].start - reference[i].start;
        abs += d.abs();
        signed += d;
    }
    (abs, signed, pairs.len())
}

#[test]
#[ignore = "a measurement (about a minute): run by hand to choose Moonshine's alignment heads"]
fn choose_moonshine_alignment_heads() {
    let engine = Engine::load_weights(
        &crate::runtime::models_dir(),
        &[
            (ModelName::Broadband, Weights::Base),
            (ModelName::Narrowband, Weights::MoonshineBase),
        ],
        2,
    )
    .expect("models missing: run scripts/setup (setup/models.sh) first");
    let Loaded::Moonshine(moonshine) = engine.models[&Weights::MoonshineBase].as_ref() else {
        unreachable!("moonshine-base-en is Moonshine")
    };
    let meta = moonshine.model.meta();
    let all: Vec<(usize, usize)> = (0..meta.decoder_layers)
        .flat_map(|l| (0..meta.heads).map(move |h| (l, h)))
        .collect();
    // Per clip window: Whisper's words, and Moonshine's chunks decoded with every head kept.
    let mut cases = Vec::new();
    let dir = testdata("asr");
    for row in read_manifest(&dir.join("manifest.tsv")) {
        let bytes = std::fs::read(dir.join(&row["file"])).unwrap();
        let (_, samples) =
            speechbatch_audio::decode_all(&bytes, &DecodeOptions::default()).unwrap();
        let mut vad = VadStream::new(&engine.vad, VadParams::default());
        let mut segments = vad.push(&samples).unwrap();
        segments.extend(vad.finish(samples.len()).unwrap());
        let mut packer = WindowPacker::default();
        packer.append(&samples);
        let mut windows: Vec<Window> = segments
            .into_iter()
            .filter_map(|s| packer.add_segment(s))
            .collect();
        windows.extend(packer.flush());
        for window in windows {
            let whisper = engine
                .transcribe_window(&engine.models[&Weights::Base], &window, None)
                .unwrap()
                .words;
            let parts = moonshine
                .decode_window(window.start, &window.audio, &window.speech, &all, None)
                .unwrap();
            cases.push((window, whisper, parts));
        }
    }
    let measure_shifted = |which: &[usize], shift: f64| -> (f64, f64, usize) {
        let (mut abs, mut signed, mut n) = (0.0, 0.0, 0);
        for (window, whisper, parts) in &cases {
            let words = moonshine_words(moonshine, window, parts, which, shift);
            let (a, s, k) = start_differences(whisper, &words);
            abs += a;
            signed += s;
            n += k;
        }
        (abs / n.max(1) as f64, signed / n.max(1) as f64, n)
    };
    let measure = |which: &[usize]| measure_shifted(which, 0.0);
    let mut ranked: Vec<(usize, f64, f64, usize)> = (0..all.len())
        .map(|h| {
            let (abs, signed, n) = measure(&[h]);
            (h, abs, signed, n)
        })
        .collect();
    ranked.sort_by(|a, b| a.1.total_cmp(&b.1));
    eprintln!("head      mean |Δstart| s   mean Δstart s   shared words");
    for &(h, abs, signed, n) in &ranked {
        eprintln!("{:?}   {abs:.4}   {signed:+.4}   {n}", all[h]);
    }
    eprintln!("best k heads averaged:");
    for k in 1..=24 {
        let which: Vec<usize> = ranked[..k].iter().map(|r| r.0).collect();
        let (abs, signed, n) = measure(&which);
        let heads: Vec<(usize, usize)> = which.iter().map(|&h| all[h]).collect();
        eprintln!("k={k:2}  {abs:.4}  {signed:+.4}  {n}  {heads:?}");
    }
    let current: Vec<usize> = crate::moonshine::align::ALIGNMENT_HEADS
        .iter()
        .map(|h| all.iter().position(|a| a == h).unwrap())
        .collect();
    let (abs, signed, n) = measure(&current);
    eprintln!("ALIGNMENT_HEADS: {abs:.4} {signed:+.4} over {n} shared words");
    // For comparison: the heads first seen to follow the audio, on one clip.
    let first_seen: Vec<usize> = [(6, 0), (5, 6), (5, 5), (4, 6), (3, 5)]
        .iter()
        .map(|h| all.iter().position(|a| a == h).unwrap())
        .collect();
    let (abs, signed, _) = measure(&first_seen);
    eprintln!("heads first seen on one clip: {abs:.4} {signed:+.4}");
    // The lag is right where moving the words by a frame either way does not agree better.
    for frames in -2i32..=2 {
        let shift = f64::from(frames) * meta.samples_per_frame as f64 / meta.sample_rate as f64;
        let (abs, signed, _) = measure_shifted(&current, shift);
        eprintln!("ALIGNMENT_HEADS, lag {frames:+} frames more: {abs:.4} {signed:+.4}");
    }
}

#[test]
fn shared_words_pair_equal_words_in_order() {
    let w = |s: &str| s.split(' ').map(normalised).collect::<Vec<_>>();
    let pairs = shared_words(
        &w("And Mr. John Dashwood had"),
        &w("and Mister John Dashwood, had"),
    );
    assert_eq!(pairs, vec![(0, 0), (2, 2), (3, 3), (4, 4)]);
}
