//! Audio files: format sniffing and every decoder behind it (WAV in all its encodings, FLAC,
//! MP3/MP2, Ogg and WebM with Opus or Vorbis, raw G.729).

use speechbatch_audio::{decode_all, AudioError, DecodeOptions, MAX_CHANNELS};

/// Any file as the worker reads an input object: the format comes from the content. The first
/// byte picks the name hint and whether G.729 is allowed, so both paths of the sniffer are
/// reached; the rest is the file.
pub fn sniffed(data: &[u8]) {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let name_hint = match pick % 4 {
        0 => None,
        1 => Some("call.wav"),
        2 => Some("call.raw"),
        _ => Some("call.g729"),
    };
    decode(
        file,
        &DecodeOptions {
            name_hint,
            allow_g729: pick & 0x80 != 0,
        },
    );
}

/// Raw G.729 (no magic bytes: the name says what it is) for a narrowband job.
pub fn raw_g729(data: &[u8]) {
    decode(
        data,
        &DecodeOptions {
            name_hint: Some("call.g729"),
            allow_g729: true,
        },
    );
}

/// Decodes `file` whole and checks what every caller relies on: a decoded file has a sane
/// header and samples in [-1, 1]; a refused one says why.
fn decode(file: &[u8], opts: &DecodeOptions) {
    match decode_all(file, opts) {
        Ok((info, samples)) => {
            assert!(
                (1..=MAX_CHANNELS).contains(&info.channels),
                "{} channels",
                info.channels
            );
            assert!(info.sample_rate > 0, "sample rate 0");
            assert!(
                info.declared_duration
                    .is_none_or(|d| d.is_finite() && d >= 0.0),
                "declared duration {:?}",
                info.declared_duration
            );
            assert!(!samples.is_empty(), "a decoded file without samples");
            // The recogniser is promised finite samples in [-1, 1] (a float WAV can hold NaN).
            if let Some(bad) = samples.iter().find(|s| !s.is_finite() || s.abs() > 1.0) {
                panic!("sample {bad} out of range");
            }
        }
        Err(e) => check_error(&e),
    }
}

fn check_error(e: &AudioError) {
    let message = e.to_string();
    assert!(
        !message.trim().is_empty(),
        "an error without a message: {e:?}"
    );
}
