//! RIFF/WAVE header validation. Symphonia decodes the samples, but it trusts the header: it
//! reports a 2 GiB data chunk in a 32 KB file as 18 hours of audio and happily opens 10-channel
//! files. The service must reject both up front, so the chunks are walked here first.

use crate::error::AudioError;
use crate::{MAX_CHANNELS, MAX_RATE, MIN_RATE, TRUNCATION_TOLERANCE_S};

const WAVE_FORMAT_PCM: u16 = 0x0001;
const WAVE_FORMAT_IEEE_FLOAT: u16 = 0x0003;
const WAVE_FORMAT_ALAW: u16 = 0x0006;
const WAVE_FORMAT_MULAW: u16 = 0x0007;
const WAVE_FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// The part of every KSDATAFORMAT_SUBTYPE_* GUID after its leading format tag (ksmedia.h).
const KSDATAFORMAT_GUID_TAIL: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];

/// A data-chunk size that streaming writers leave when they cannot seek back to patch the
/// header: it means "until the end of the file", not 4 GiB.
const DATA_SIZE_UNKNOWN: u32 = u32::MAX;

/// What the header declares, after validation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WavHeader {
    pub channels: u16,
    pub sample_rate: u32,
    /// Frames the data chunk declares; `None` when the writer left the size open.
    pub declared_frames: Option<u64>,
}

fn invalid(detail: impl Into<String>) -> AudioError {
    AudioError::InvalidHeader {
        format: "WAV",
        detail: detail.into(),
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The `fmt ` chunk's fields that matter here.
struct Fmt {
    tag: u16,
    channels: u16,
    sample_rate: u32,
    block_align: u16,
    container_bits: u16,
}

fn parse_fmt(body: &[u8]) -> Result<Fmt, AudioError> {
    if body.len() < 16 {
        return Err(invalid(format!(
            "the fmt chunk is {} bytes long, at least 16 are required",
            body.len()
        )));
    }
    let mut fmt = Fmt {
        tag: u16_at(body, 0),
        channels: u16_at(body, 2),
        sample_rate: u32_at(body, 4),
        block_align: u16_at(body, 12),
        container_bits: u16_at(body, 14),
    };
    if fmt.tag == WAVE_FORMAT_EXTENSIBLE {
        // WAVEFORMATEXTENSIBLE: cbSize (2), valid bits (2), channel mask (4), sub-format GUID (16).
        if body.len() < 40 {
            return Err(invalid(
                "the WAVE_FORMAT_EXTENSIBLE fmt chunk is shorter than 40 bytes",
            ));
        }
        let valid_bits = u16_at(body, 18);
        let guid = &body[24..40];
        if guid[2..] != KSDATAFORMAT_GUID_TAIL {
            return Err(AudioError::UnsupportedWavEncoding {
                detail: "WAVE_FORMAT_EXTENSIBLE with a non-standard sub-format GUID".to_owned(),
            });
        }
        if valid_bits > fmt.container_bits {
            return Err(invalid(format!(
                "{valid_bits} valid bits do not fit in {}-bit samples",
                fmt.container_bits
            )));
        }
        fmt.tag = u16_at(guid, 0);
    }
    Ok(fmt)
}

fn check_encoding(fmt: &Fmt) -> Result<(), AudioError> {
    let bits = fmt.container_bits;
    let ok = match fmt.tag {
        WAVE_FORMAT_PCM => matches!(bits, 8 | 16 | 24 | 32),
        WAVE_FORMAT_IEEE_FLOAT => matches!(bits, 32 | 64),
        WAVE_FORMAT_ALAW | WAVE_FORMAT_MULAW => bits == 8,
        other => {
            let name = match other {
                0x0002 => "Microsoft ADPCM",
                0x0011 => "IMA ADPCM",
                0x0031 => "GSM 6.10",
                0x0050 => "MPEG audio",
                0x0055 => "MPEG layer 3",
                _ => "unknown",
            };
            return Err(AudioError::UnsupportedWavEncoding {
                detail: format!("{name}, format tag 0x{other:04X}"),
            });
        }
    };
    if !ok {
        let kind = match fmt.tag {
            WAVE_FORMAT_PCM => "PCM",
            WAVE_FORMAT_IEEE_FLOAT => "float",
            WAVE_FORMAT_ALAW => "A-law",
            _ => "mu-law",
        };
        return Err(AudioError::UnsupportedWavEncoding {
            detail: format!("{bits}-bit {kind}"),
        });
    }
    Ok(())
}

/// Walks the chunks of a RIFF/WAVE file (the caller has checked the `RIFF....WAVE` magic) and
/// validates channel count, encoding, rate and the declared data size against the file size.
pub(crate) fn parse(bytes: &[u8]) -> Result<WavHeader, AudioError> {
    let mut fmt: Option<Fmt> = None;
    let mut pos = 12usize;
    loop {
        if pos + 8 > bytes.len() {
            return Err(invalid(if fmt.is_none() {
                "it has no fmt chunk"
            } else {
                "it has no data chunk"
            }));
        }
        let id = &bytes[pos..pos + 4];
        let size = u32_at(bytes, pos + 4);
        let body_start = pos + 8;
        if id == b"data" {
            let fmt = fmt.ok_or_else(|| invalid("the data chunk comes before the fmt chunk"))?;
            return finish(fmt, size, (bytes.len() - body_start) as u64);
        }
        let body_end = body_start
            .checked_add(size as usize)
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| {
                invalid(format!(
                    "the '{}' chunk runs past the end of the file",
                    String::from_utf8_lossy(id)
                ))
            })?;
        if id == b"fmt " {
            let parsed = parse_fmt(&bytes[body_start..body_end])?;
            // The channel limit is checked before anything else about the encoding, so that a
            // 10-channel file is told about its channel count rather than a side issue.
            if parsed.channels > MAX_CHANNELS {
                return Err(AudioError::TooManyChannels {
                    channels: u32::from(parsed.channels),
                });
            }
            fmt = Some(parsed);
        }
        // Chunks are padded to an even length.
        pos = body_end + (size as usize & 1);
    }
}

fn finish(fmt: Fmt, data_size: u32, available: u64) -> Result<WavHeader, AudioError> {
    if fmt.channels == 0 {
        return Err(invalid("it declares 0 channels"));
    }
    check_encoding(&fmt)?;
    if !(MIN_RATE..=MAX_RATE).contains(&fmt.sample_rate) {
        return Err(AudioError::UnsupportedSampleRate {
            rate: fmt.sample_rate,
        });
    }
    let frame_bytes = u32::from(fmt.channels) * u32::from(fmt.container_bits / 8);
    if u32::from(fmt.block_align) != frame_bytes {
        return Err(invalid(format!(
            "its block alignment of {} bytes does not match {} channels of {}-bit samples",
            fmt.block_align, fmt.channels, fmt.container_bits
        )));
    }
    let frame_bytes = u64::from(frame_bytes);
    let declared_frames = if data_size == DATA_SIZE_UNKNOWN {
        None
    } else {
        let declared = u64::from(data_size);
        if declared == 0 {
            return Err(if available == 0 {
                AudioError::NoAudio
            } else {
                invalid("its data chunk declares 0 bytes, but audio data follows")
            });
        }
        // A few missing bytes at the end (a recording cut off mid-write) are tolerated like any
        // other small shortfall; anything more means the header cannot be trusted.
        let tolerance = (f64::from(fmt.sample_rate) * TRUNCATION_TOLERANCE_S) as u64 * frame_bytes;
        if declared > available + tolerance {
            return Err(AudioError::DeclaredSizeExceedsFile {
                declared,
                available,
            });
        }
        Some(declared / frame_bytes)
    };
    Ok(WavHeader {
        channels: fmt.channels,
        sample_rate: fmt.sample_rate,
        declared_frames,
    })
}
