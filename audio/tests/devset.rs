//! The checked-in test data: every file in `testdata/formats/` decodes to the right format,
//! shape, length and level; every file in `testdata/bad/` is rejected with the error it deserves.

use speechbatch_audio::{decode_all, AudioError, AudioStream, DecodeOptions, TARGET_RATE};
use speechbatch_testkit::{read_manifest, read_testdata as read, testdata, Row};

fn manifest(rel: &str) -> Vec<Row> {
    read_manifest(&testdata(rel))
}

fn opts(name: &str, allow_g729: bool) -> DecodeOptions<'_> {
    DecodeOptions {
        name_hint: Some(name),
        allow_g729,
    }
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64).sqrt()
}

/// Exact frame count of a WAV's data chunk, from the header (independent of the crate).
fn wav_frames(bytes: &[u8]) -> (u64, u32) {
    let mut pos = 12;
    let (mut rate, mut block_align) = (0u32, 0u64);
    loop {
        let id = &bytes[pos..pos + 4];
        let size = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        if id == b"fmt " {
            rate = u32::from_le_bytes(bytes[pos + 12..pos + 16].try_into().unwrap());
            block_align = u64::from(u16::from_le_bytes([bytes[pos + 20], bytes[pos + 21]]));
        }
        if id == b"data" {
            return (size as u64 / block_align, rate);
        }
        pos += 8 + size + (size & 1);
    }
}

#[test]
fn every_format_decodes_with_the_right_shape_length_and_level() {
    let (_, reference) = decode_all(&read("formats/fmt01.flac"), &opts("fmt01.flac", false))
        .expect("the FLAC reference decodes");
    let truth_s = reference.len() as f64 / f64::from(TARGET_RATE);
    let reference_rms = rms(&reference);
    assert!((truth_s - 5.32).abs() < 0.01, "reference length {truth_s}");

    let rows = manifest("formats/manifest.tsv");
    assert_eq!(rows.len(), 12);
    for row in rows {
        let file = row["file"].as_str();
        let bytes = read(&format!("formats/{file}"));
        let (info, samples) =
            decode_all(&bytes, &opts(file, true)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let seconds = samples.len() as f64 / f64::from(TARGET_RATE);
        let level = rms(&samples);
        eprintln!(
            "{file:22} {:26} {:>6} Hz {} ch  {seconds:.4} s (declared {:?})  rms {level:.4}",
            info.mime, info.sample_rate, info.channels, info.declared_duration
        );

        let expected_mime = row["mime"].as_str();
        assert!(
            info.mime == expected_mime
                || (expected_mime == "audio/mp3" && info.mime == "audio/mpeg"),
            "{file}: detected {} instead of {expected_mime}",
            info.mime
        );
        assert_eq!(info.sample_rate.to_string(), row["sample_rate"], "{file}");
        assert_eq!(info.channels.to_string(), row["channels"], "{file}");

        if info.mime == "audio/wav" {
            // PCM has no codec padding: the length is exactly the header's, resampled.
            let (frames, rate) = wav_frames(&bytes);
            let expected = (frames * 16_000).div_ceil(u64::from(rate));
            assert_eq!(samples.len() as u64, expected, "{file}");
        } else {
            assert!(
                (seconds - truth_s).abs() <= 0.08,
                "{file}: {seconds:.4} s instead of {truth_s:.4} s"
            );
        }
        if let Some(declared) = info.declared_duration {
            assert!(
                (declared - truth_s).abs() <= 0.08,
                "{file}: declared {declared}"
            );
        }

        // Speech energy at about the reference's level: the 9-channel file (speech on channel 1
        // only) must not come out 19 dB down, and the narrowband/G.729 versions lose only the
        // band above 3.4 kHz.
        let ratio = level / reference_rms;
        assert!(
            (0.5..=1.5).contains(&ratio),
            "{file}: rms {level:.4} vs reference {reference_rms:.4}"
        );
        assert!(samples.iter().all(|s| (-1.0..=1.0).contains(s)), "{file}");
    }
}

#[test]
fn g729_needs_the_narrowband_flag_and_its_name() {
    let bytes = read("formats/fmt12.g729");
    let (info, samples) = decode_all(&bytes, &opts("fmt12.g729", true)).unwrap();
    assert_eq!(info.mime, "audio/g729");
    assert_eq!((info.sample_rate, info.channels), (8_000, 1));
    // 532 frames of 80 samples at 8 kHz, exactly twice as many at 16 kHz; fmt10_8k.wav, which
    // it was encoded from, is as long.
    let (_, narrowband) =
        decode_all(&read("formats/fmt10_8k.wav"), &opts("fmt10_8k.wav", false)).unwrap();
    assert_eq!(samples.len(), bytes.len() / 10 * 80 * 2);
    assert!((samples.len() as i64 - narrowband.len() as i64).abs() <= 160);

    let err = decode_all(&bytes, &opts("fmt12.g729", false)).unwrap_err();
    assert!(matches!(err, AudioError::G729NeedsNarrowband), "{err:?}");
    assert!(err.to_string().contains("narrowband"), "{err}");
    assert_eq!(err.http_status(), 400);

    // Without its name nothing identifies raw G.729.
    let err = decode_all(&bytes, &opts("upload.bin", true)).unwrap_err();
    assert!(matches!(err, AudioError::UnknownFormat { .. }), "{err:?}");
    let err = decode_all(&bytes, &DecodeOptions::default()).unwrap_err();
    assert!(matches!(err, AudioError::UnknownFormat { .. }), "{err:?}");
}

#[test]
fn wav_content_named_mp3_is_decoded_as_wav() {
    let bytes = read("formats/fmt11_wav_named.mp3");
    let stream = AudioStream::open(bytes, &opts("fmt11_wav_named.mp3", false)).unwrap();
    assert_eq!(stream.info().mime, "audio/wav");
}

#[test]
fn every_bad_file_gets_its_own_error() {
    let rows = manifest("bad/manifest.tsv");
    assert_eq!(rows.len(), 10);
    for row in rows {
        let file = row["file"].as_str();
        let bytes = read(&format!("bad/{file}"));
        let err = match decode_all(&bytes, &opts(file, true)) {
            Ok((info, samples)) => panic!(
                "{file} was accepted as {info:?} ({} samples)",
                samples.len()
            ),
            Err(err) => err,
        };
        let message = err.to_string();
        eprintln!("{file:18} {message}");
        assert_eq!(err.http_status(), 400, "{file}");
        let (ok, must_say) = match file {
            "empty.wav" => (matches!(err, AudioError::TooSmall { size: 0 }), "empty"),
            "fifty_bytes.flac" => (
                matches!(err, AudioError::TooSmall { size: 50 }),
                "100 bytes",
            ),
            "x.wav" => (
                matches!(err, AudioError::UnknownFormat { .. }),
                "Unrecognized",
            ),
            "truncated.flac" => (matches!(err, AudioError::Truncated { .. }), "truncated"),
            "notes.mp3" => (matches!(err, AudioError::UnknownFormat { .. }), "text"),
            "x.ulaw" => (
                matches!(err, AudioError::NeedsParameters { .. }),
                "audio/mulaw",
            ),
            "x.l16" => (
                matches!(err, AudioError::NeedsParameters { .. }),
                "audio/l16",
            ),
            "ten_channels.wav" => (
                matches!(err, AudioError::TooManyChannels { channels: 10 }),
                "at most 9 channels",
            ),
            "huge_size.wav" => (
                matches!(
                    err,
                    AudioError::DeclaredSizeExceedsFile {
                        declared: 2_147_483_392,
                        ..
                    }
                ),
                "declares 2147483392 bytes",
            ),
            // Fuzzing found it: the size was allocated before reading and the process aborted.
            "lying_element.webm" => (
                matches!(err, AudioError::Undecodable { .. }),
                "ends inside its header",
            ),
            other => panic!("bad/{other} is new: decide which error it deserves"),
        };
        assert!(ok, "{file}: unexpected {err:?}");
        assert!(
            message.contains(must_say),
            "{file}: message {message:?} lacks {must_say:?}"
        );
    }
}

#[test]
fn truncated_flac_streams_then_fails_at_the_end() {
    let bytes = read("bad/truncated.flac");
    let mut stream = AudioStream::open(bytes, &opts("truncated.flac", false)).unwrap();
    assert_eq!(stream.info().mime, "audio/flac");
    assert_eq!(stream.info().declared_duration, Some(6.25));
    let mut got = 0;
    let err = loop {
        match stream.next_chunk() {
            Ok(Some(chunk)) => got += chunk.len(),
            Ok(None) => panic!("truncation not noticed"),
            Err(e) => break e,
        }
    };
    assert!(got > 0);
    match err {
        AudioError::Truncated {
            declared_s,
            decoded_s,
        } => {
            assert_eq!(declared_s, 6.25);
            assert!(decoded_s < 2.0, "{decoded_s}");
        }
        other => panic!("{other:?}"),
    }
    // The stream is over after an error.
    assert!(stream.next_chunk().unwrap().is_none());
}

#[test]
fn damaged_copies_of_every_file_never_panic() {
    // Cut and corrupt every devset file in several ways: each must give a result or an error,
    // never a panic or a hang.
    let mut files: Vec<String> = Vec::new();
    for dir in ["formats", "bad"] {
        for row in manifest(&format!("{dir}/manifest.tsv")) {
            files.push(format!("{dir}/{}", row["file"]));
        }
    }
    for file in files {
        let bytes = read(&file);
        let name = file.rsplit('/').next().unwrap();
        let mut variants: Vec<Vec<u8>> = Vec::new();
        for frac in [0.05, 0.2, 0.5, 0.9] {
            variants.push(bytes[..(bytes.len() as f64 * frac) as usize].to_vec());
        }
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..4 {
            let mut v = bytes.clone();
            for _ in 0..(v.len() / 500).max(1) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if !v.is_empty() {
                    let at = (state % v.len() as u64) as usize;
                    // Keep the first bytes so the format is still detected and the decoders,
                    // not the sniffer, meet the damage.
                    if at >= 64 {
                        v[at] ^= (state >> 32) as u8 | 1;
                    }
                }
            }
            variants.push(v);
        }
        for v in variants {
            let _ = decode_all(&v, &opts(name, true));
        }
    }
}

/// An ID3v2.4 tag of `body` zero bytes (padding), as taggers put in front of MP3s and FLACs.
fn id3_tag(body: usize) -> Vec<u8> {
    let mut tag = b"ID3\x04\x00\x00".to_vec();
    tag.extend((0..4).rev().map(|i| ((body >> (7 * i)) & 0x7F) as u8));
    tag.resize(10 + body, 0);
    tag
}

#[test]
fn leading_id3_tags_and_junk_are_skipped() {
    for (file, mime) in [("fmt02.mp3", "audio/mpeg"), ("fmt01.flac", "audio/flac")] {
        let original = read(&format!("formats/{file}"));
        let (_, want) = decode_all(&original, &opts(file, false)).unwrap();
        let mut variants = vec![[id3_tag(300), original.clone()].concat()];
        if mime == "audio/mpeg" {
            // Junk between the tag and the first frame, which some encoders leave.
            variants.push([id3_tag(20), vec![0u8; 777], original.clone()].concat());
        }
        for bytes in variants {
            let (info, got) = decode_all(&bytes, &opts("upload", false)).unwrap();
            assert_eq!(info.mime, mime, "{file}");
            assert_eq!(got.len(), want.len(), "{file}");
        }
    }
}

#[test]
fn streaming_and_whole_decoding_give_the_same_samples() {
    for file in [
        "fmt04_opus.ogg",
        "fmt06_vorbis.webm",
        "fmt08_44k_stereo.wav",
    ] {
        let bytes = read(&format!("formats/{file}"));
        let (_, whole) = decode_all(&bytes, &opts(file, false)).unwrap();
        let mut stream = AudioStream::open(bytes, &opts(file, false)).unwrap();
        let mut streamed = Vec::new();
        while let Some(chunk) = stream.next_chunk().unwrap() {
            assert!(chunk.len() <= 2 * TARGET_RATE as usize, "{file}");
            streamed.extend(chunk);
        }
        assert_eq!(streamed, whole, "{file}");
    }
}

#[test]
fn other_codecs_in_ogg_and_webm_are_named() {
    // The Opus WebM with its CodecID changed to ALAC (same length), which symphonia does not map.
    let mut webm = read("formats/fmt05_opus.webm");
    let at = webm.windows(6).position(|w| w == b"A_OPUS").unwrap();
    webm[at..at + 6].copy_from_slice(b"A_ALAC");
    let err = decode_all(&webm, &opts("x.webm", false)).unwrap_err();
    assert!(
        matches!(
            err,
            AudioError::UnsupportedCodec {
                container: "WebM",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("unknown codec"), "{err}");

    // An Ogg stream whose first packet announces Speex.
    let mut ogg = b"OggS\x00\x02".to_vec();
    ogg.extend_from_slice(&[0; 8 + 4 + 4 + 4]); // granule, serial, sequence, CRC
    ogg.extend_from_slice(&[1, 80]); // one segment of 80 bytes
    ogg.extend_from_slice(b"Speex   ");
    ogg.resize(ogg.len() + 72, 0);
    ogg.resize(200, 0);
    let err = decode_all(&ogg, &opts("x.ogg", false)).unwrap_err();
    assert!(
        matches!(
            err,
            AudioError::UnsupportedCodec {
                container: "Ogg",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("Speex"), "{err}");
}

#[test]
fn browser_style_webm_without_sizes_duration_or_index_decodes() {
    // Browsers' MediaRecorder writes WebM live: Segment and Cluster sizes "unknown", no
    // Duration, no SeekHead or Cues. Rewrite the Opus WebM that way (same byte length; element
    // positions checked first) and decode it.
    let mut b = read("formats/fmt05_opus.webm");
    let void = |b: &mut Vec<u8>, at: usize, len: usize| {
        b[at] = 0xEC; // Void
        b[at + 1] = 0x80 | (len - 2) as u8;
        b[at + 2..at + len].fill(0);
    };
    assert_eq!(b[36..40], [0x18, 0x53, 0x80, 0x67]); // Segment, 8-byte size
    b[40..48].copy_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    assert_eq!(b[48..53], [0x11, 0x4D, 0x9B, 0x74, 0x80 | 58]); // SeekHead
    void(&mut b, 48, 5 + 58);
    assert_eq!(b[253..256], [0x44, 0x89, 0x88]); // Duration (8-byte float)
    void(&mut b, 253, 11);
    assert_eq!(b[501..505], [0x1F, 0x43, 0xB6, 0x75]); // Cluster, 3-byte size
    b[505..508].copy_from_slice(&[0x3F, 0xFF, 0xFF]);
    assert_eq!(b[20119..20123], [0x1F, 0x43, 0xB6, 0x75]); // Cluster, 2-byte size
    b[20123..20125].copy_from_slice(&[0x7F, 0xFF]);
    assert_eq!(b[20576..20581], [0x1C, 0x53, 0xBB, 0x6B, 0x80 | 35]); // Cues
    void(&mut b, 20576, 5 + 35);

    let (info, samples) = decode_all(&b, &opts("recording.webm", false)).unwrap();
    assert_eq!(info.mime, "audio/webm;codecs=opus");
    assert_eq!(info.declared_duration, None);
    let seconds = samples.len() as f64 / f64::from(TARGET_RATE);
    assert!((seconds - 5.32).abs() <= 0.08, "{seconds}");
}
