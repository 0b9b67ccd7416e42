//! WAVs generated here: every sample encoding, common rate and channel count decodes to the
//! exact length and the right amplitude; the size and channel limits hold; long files stream.

use std::f64::consts::PI;
use std::io::Cursor;
use std::time::{Duration, Instant};

use hound::{SampleFormat, WavSpec, WavWriter};
use speechbatch_audio::{
    decode_all, AudioError, AudioStream, DecodeOptions, MAX_BYTES, MIN_BYTES, TARGET_RATE,
};

const RATES: [u32; 5] = [8_000, 11_025, 22_050, 44_100, 48_000];

fn opts() -> DecodeOptions<'static> {
    DecodeOptions {
        name_hint: Some("upload.wav"),
        allow_g729: false,
    }
}

/// A 440 Hz sine at `amp`, as f64 in [-1, 1].
fn sine(rate: u32, frames: usize, amp: f64) -> impl Iterator<Item = f64> {
    (0..frames).map(move |i| amp * (2.0 * PI * 440.0 * i as f64 / f64::from(rate)).sin())
}

/// A WAV written by hound (which uses WAVE_FORMAT_EXTENSIBLE for more than 2 channels or more
/// than 16 bits) with `signal` on the channels `live(ch)` picks and silence on the others.
fn hound_wav(
    bits: u16,
    float: bool,
    rate: u32,
    channels: u16,
    signal: &[f64],
    live: impl Fn(u16) -> bool,
) -> Vec<u8> {
    let spec = WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: if float {
            SampleFormat::Float
        } else {
            SampleFormat::Int
        },
    };
    let mut out = Cursor::new(Vec::new());
    let mut w = WavWriter::new(&mut out, spec).unwrap();
    for &x in signal {
        for ch in 0..channels {
            let x = if live(ch) { x } else { 0.0 };
            if float {
                w.write_sample(x as f32).unwrap();
            } else {
                let full = f64::from((1u32 << (bits - 1)) as f32) - 1.0;
                w.write_sample((x * full).round() as i32).unwrap();
            }
        }
    }
    w.finalize().unwrap();
    out.into_inner()
}

/// A minimal WAV for what hound cannot write: `tag` 3 with 64 bits, 6 (A-law), 7 (mu-law).
fn raw_wav(tag: u16, bits: u16, rate: u32, channels: u16, data: &[u8]) -> Vec<u8> {
    let block = channels * bits / 8;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(4 + 8 + 18 + 8 + data.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&18u32.to_le_bytes());
    b.extend_from_slice(&tag.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    b.extend_from_slice(&block.to_le_bytes());
    b.extend_from_slice(&bits.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(data);
    if data.len() % 2 == 1 {
        b.push(0);
    }
    b
}

/// G.711 mu-law encoding of a sample in [-1, 1].
fn mulaw(x: f64) -> u8 {
    let mut pcm = (x * 32_767.0).round() as i32;
    let sign = if pcm < 0 { 0x80 } else { 0 };
    pcm = (pcm.abs() + 0x84).min(0x7FFF);
    let exponent = (0..8).rev().find(|e| pcm & (0x80 << e) != 0).unwrap_or(0);
    let mantissa = (pcm >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

/// G.711 A-law encoding of a sample in [-1, 1].
fn alaw(x: f64) -> u8 {
    let pcm = ((x * 32_767.0).round() as i32) >> 3; // 13-bit
    let (sign, mag) = if pcm >= 0 { (0x80, pcm) } else { (0, -pcm - 1) };
    let mag = mag.min(0x0FFF);
    let code = if mag < 32 {
        (mag >> 1) as u8
    } else {
        let exponent = (5..=11).rev().find(|e| mag & (1 << e) != 0).unwrap() - 4;
        ((exponent << 4) as u8) | ((mag >> exponent) & 0x0F) as u8
    };
    (sign | code) ^ 0x55
}

fn expected_len(frames: usize, rate: u32) -> usize {
    (frames as u64 * u64::from(TARGET_RATE)).div_ceil(u64::from(rate)) as usize
}

/// Peak of the middle of the signal (away from the edges, where the resampler's filter starts
/// and ends).
fn middle_peak(x: &[f32]) -> f32 {
    let n = x.len();
    x[n / 4..3 * n / 4]
        .iter()
        .fold(0.0f32, |m, v| m.max(v.abs()))
}

fn check(bytes: &[u8], rate: u32, channels: u16, frames: usize, amp: f32, tol: f32, what: &str) {
    let (info, out) = decode_all(bytes, &opts()).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(info.mime, "audio/wav", "{what}");
    assert_eq!(
        (info.sample_rate, info.channels),
        (rate, channels),
        "{what}"
    );
    let declared = info.declared_duration.unwrap();
    assert!(
        (declared - frames as f64 / f64::from(rate)).abs() < 1e-9,
        "{what}"
    );
    assert_eq!(out.len(), expected_len(frames, rate), "{what}");
    let peak = middle_peak(&out);
    assert!((peak - amp).abs() <= tol, "{what}: peak {peak}, want {amp}");
}

#[test]
fn int_and_float_wavs_of_every_rate_and_channel_count_decode_exactly() {
    for (bits, float) in [
        (8, false),
        (16, false),
        (24, false),
        (32, false),
        (32, true),
    ] {
        for rate in RATES {
            for channels in 1..=9u16 {
                let frames = rate as usize / 4 + 13; // odd lengths too
                let signal: Vec<f64> = sine(rate, frames, 0.5).collect();
                let bytes = hound_wav(bits, float, rate, channels, &signal, |_| true);
                // 8-bit PCM has a step of 1/128.
                let tol = if bits == 8 { 0.02 } else { 0.01 };
                let what = format!(
                    "{bits}-bit {} {rate} Hz {channels} ch",
                    if float { "float" } else { "int" }
                );
                check(&bytes, rate, channels, frames, 0.5, tol, &what);
            }
        }
    }
}

#[test]
fn speech_on_one_of_nine_channels_keeps_its_level() {
    for rate in [16_000, 44_100] {
        let frames = rate as usize;
        let signal: Vec<f64> = sine(rate, frames, 0.5).collect();
        let bytes = hound_wav(16, false, rate, 9, &signal, |ch| ch == 0);
        // An average would give 0.5 / 9 = 0.056.
        check(
            &bytes,
            rate,
            9,
            frames,
            0.5,
            0.03,
            &format!("9 ch, one live, {rate} Hz"),
        );
    }
}

#[test]
fn float64_mulaw_and_alaw_wavs_decode_to_the_right_level() {
    let rate = 8_000;
    let frames = 4_001;
    let signal: Vec<f64> = sine(rate, frames, 0.5).collect();

    let f64_data: Vec<u8> = signal.iter().flat_map(|x| x.to_le_bytes()).collect();
    check(
        &raw_wav(3, 64, rate, 1, &f64_data),
        rate,
        1,
        frames,
        0.5,
        0.01,
        "float64",
    );

    let stereo: Vec<u8> = signal
        .iter()
        .flat_map(|x| (x * 0.5).to_le_bytes().repeat(2))
        .collect();
    check(
        &raw_wav(3, 64, 22_050, 2, &stereo),
        22_050,
        2,
        frames,
        0.25,
        0.01,
        "float64 stereo",
    );

    let mu: Vec<u8> = signal.iter().map(|&x| mulaw(x)).collect();
    check(
        &raw_wav(7, 8, rate, 1, &mu),
        rate,
        1,
        frames,
        0.5,
        0.02,
        "mu-law",
    );

    let a: Vec<u8> = signal.iter().map(|&x| alaw(x)).collect();
    check(
        &raw_wav(6, 8, rate, 1, &a),
        rate,
        1,
        frames,
        0.5,
        0.02,
        "A-law",
    );
}

/// Found by fuzzing (`fuzz/crashes/audio`): NaN, infinities and huge values in a float WAV made
/// the resampler panic or hand out NaN. They decode as silence or full scale.
#[test]
fn float_wavs_holding_nan_infinities_or_huge_values_decode_to_finite_samples() {
    for rate in [8_000, 16_000, 44_100] {
        let mut signal: Vec<f64> = sine(rate, rate as usize / 2, 0.5).collect();
        for (i, bad) in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e30, -3e38]
            .into_iter()
            .enumerate()
        {
            signal[100 + 500 * i] = bad;
        }
        let bytes = hound_wav(32, true, rate, 1, &signal, |_| true);
        let (_, samples) = decode_all(&bytes, &opts()).unwrap();
        assert_eq!(samples.len(), expected_len(signal.len(), rate), "{rate} Hz");
        let bad = samples.iter().find(|s| !s.is_finite() || s.abs() > 1.0);
        assert!(bad.is_none(), "{rate} Hz: sample {bad:?}");
        assert!(middle_peak(&samples) > 0.4, "{rate} Hz: the sine is lost");
    }
}

#[test]
fn ten_channels_are_rejected() {
    let signal: Vec<f64> = sine(16_000, 1_000, 0.5).collect();
    let bytes = hound_wav(16, false, 16_000, 10, &signal, |_| true);
    let err = decode_all(&bytes, &opts()).unwrap_err();
    assert!(
        matches!(err, AudioError::TooManyChannels { channels: 10 }),
        "{err:?}"
    );
    assert_eq!(err.http_status(), 400);
}

#[test]
fn unsupported_wav_encodings_and_rates_are_named() {
    let data = vec![0u8; 4_000];
    // IMA ADPCM.
    let err = decode_all(&raw_wav(0x11, 4, 8_000, 1, &data), &opts()).unwrap_err();
    assert!(
        matches!(err, AudioError::UnsupportedWavEncoding { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("IMA ADPCM"), "{err}");
    // 12-bit PCM.
    let err = decode_all(&raw_wav(1, 12, 8_000, 1, &data), &opts()).unwrap_err();
    assert!(
        matches!(err, AudioError::UnsupportedWavEncoding { .. }),
        "{err:?}"
    );
    // 1 kHz.
    let err = decode_all(&raw_wav(1, 16, 1_000, 1, &data), &opts()).unwrap_err();
    assert!(
        matches!(err, AudioError::UnsupportedSampleRate { rate: 1_000 }),
        "{err:?}"
    );
}

#[test]
fn files_outside_the_size_limits_are_rejected_at_once() {
    // A complete, valid WAV that is simply too small.
    let tiny = raw_wav(1, 16, 8_000, 1, &[0u8; 40]);
    assert!(tiny.len() < MIN_BYTES);
    let err = decode_all(&tiny, &opts()).unwrap_err();
    assert!(matches!(err, AudioError::TooSmall { .. }), "{err:?}");
    assert!(err.to_string().contains("100 bytes"), "{err}");

    // 100 MB + 1 byte, with a valid header in front: rejected on its size alone, at once.
    let mut huge = raw_wav(1, 16, 16_000, 1, &[]);
    huge.resize(MAX_BYTES + 1, 0);
    let started = Instant::now();
    let err = decode_all(&huge, &opts()).unwrap_err();
    assert!(
        matches!(err, AudioError::TooLarge { size } if size == MAX_BYTES + 1),
        "{err:?}"
    );
    assert!(err.to_string().contains("100 MB"), "{err}");
    let err = AudioStream::open(huge, &opts()).unwrap_err();
    assert!(matches!(err, AudioError::TooLarge { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(1));

    // Exactly 100 MB is allowed as far as size goes (here: a 16 kHz WAV of about 55 minutes
    // would be; a header-only prefix plus zeros is enough to pass the size check).
    let mut limit = raw_wav(1, 16, 16_000, 1, &[]);
    let data_len = (MAX_BYTES - limit.len()) as u32;
    let size_at = limit.len() - 4; // the data chunk's size field ends the header
    limit[size_at..].copy_from_slice(&data_len.to_le_bytes());
    limit.resize(MAX_BYTES, 0);
    let stream = AudioStream::open(limit, &opts()).unwrap();
    assert_eq!(stream.info().channels, 1);
}

#[test]
fn declared_size_beyond_the_file_is_rejected_but_a_few_missing_bytes_are_not() {
    let signal: Vec<f64> = sine(16_000, 16_000, 0.5).collect();
    let good = hound_wav(16, false, 16_000, 1, &signal, |_| true);
    // Drop 0.5 s from the end: far more than the tolerance.
    let cut = &good[..good.len() - 16_000];
    let err = decode_all(cut, &opts()).unwrap_err();
    assert!(
        matches!(err, AudioError::DeclaredSizeExceedsFile { .. }),
        "{err:?}"
    );
    // Drop 3 bytes (1.5 samples): decoded as far as it goes.
    let (_, out) = decode_all(&good[..good.len() - 3], &opts()).unwrap();
    assert!((out.len() as i64 - 16_000).abs() <= 2);
}

#[test]
fn garbage_is_rejected_and_never_panics() {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for round in 0..300 {
        let len = 100 + (round * 97) % 20_000;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        let err = decode_all(&bytes, &opts()).unwrap_err();
        assert!(
            matches!(err, AudioError::UnknownFormat { .. }),
            "round {round}: {err:?}"
        );
    }
}

#[test]
fn other_formats_are_named() {
    let mut aiff = b"FORM\x00\x00\x10\x00AIFFCOMM".to_vec();
    aiff.resize(200, 0);
    let err = decode_all(&aiff, &opts()).unwrap_err();
    assert!(
        matches!(err, AudioError::UnsupportedFormat { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("AIFF"), "{err}");

    let mut au =
        b".snd\x00\x00\x00\x18\xff\xff\xff\xff\x00\x00\x00\x01\x00\x00\x1f\x40\x00\x00\x00\x01"
            .to_vec();
    au.resize(2_000, 0xFF);
    let err = decode_all(&au, &opts()).unwrap_err();
    assert!(matches!(err, AudioError::NeedsParameters { .. }), "{err:?}");
    assert!(err.to_string().contains("audio/basic"), "{err}");
}

#[test]
fn a_ten_minute_file_streams_in_bounded_chunks_to_the_exact_length() {
    let rate = 44_100;
    let frames = rate as usize * 600;
    let signal: Vec<f64> = sine(rate, frames, 0.5).collect();
    let bytes = hound_wav(16, false, rate, 1, &signal, |_| true);
    drop(signal);
    let mut stream = AudioStream::open(bytes, &opts()).unwrap();
    let mut total = 0usize;
    let mut chunks = 0usize;
    let mut last = Vec::new();
    while let Some(chunk) = stream.next_chunk().unwrap() {
        // Bounded: about a second per chunk, never the whole file.
        assert!(
            !chunk.is_empty() && chunk.len() <= 2 * TARGET_RATE as usize,
            "{}",
            chunk.len()
        );
        total += chunk.len();
        chunks += 1;
        last = chunk;
    }
    assert_eq!(total, expected_len(frames, rate));
    assert!(chunks >= 590, "{chunks}");
    assert_eq!(stream.samples_produced(), total as u64);
    // The end is still the same sine (state carried across ~600 chunks, tail flushed).
    let peak = last.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!((peak - 0.5).abs() < 0.02, "{peak}");
    assert!(stream.next_chunk().unwrap().is_none());
}

#[test]
fn the_stream_can_move_to_another_thread() {
    fn is_send<T: Send>() {}
    is_send::<AudioStream>();
}

#[test]
fn streamed_wav_with_unknown_data_size_decodes_to_the_end() {
    // Writers that cannot seek back (ffmpeg to a pipe) leave the sizes at 0xFFFFFFFF.
    let signal: Vec<f64> = sine(22_050, 22_050, 0.5).collect();
    let mut bytes = hound_wav(16, false, 22_050, 1, &signal, |_| true);
    let data_size_at = bytes.len() - 22_050 * 2 - 4;
    assert_eq!(&bytes[data_size_at - 4..data_size_at], b"data");
    bytes[4..8].copy_from_slice(&[0xFF; 4]);
    bytes[data_size_at..data_size_at + 4].copy_from_slice(&[0xFF; 4]);
    let (info, out) = decode_all(&bytes, &opts()).unwrap();
    assert_eq!(info.declared_duration, None);
    assert_eq!(out.len(), 16_000);
}

#[test]
fn a_wav_without_samples_has_no_audio() {
    // A valid header, a metadata chunk to get past the minimum size, and an empty data chunk.
    let mut bytes = raw_wav(1, 16, 16_000, 1, &[]);
    let data_at = bytes.len() - 8;
    let mut list = b"LIST".to_vec();
    list.extend_from_slice(&120u32.to_le_bytes());
    list.extend_from_slice(b"INFO");
    list.resize(8 + 120, b' ');
    bytes.splice(data_at..data_at, list);
    let err = decode_all(&bytes, &opts()).unwrap_err();
    assert!(matches!(err, AudioError::NoAudio), "{err:?}");
    assert!(err.to_string().contains("no audio"), "{err}");
}
