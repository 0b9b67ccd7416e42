//! Content sniffing: which format a file is, decided from its bytes. The file name is used only
//! where the content cannot speak for itself: raw G.729 has no magic bytes at all, and headerless
//! PCM/mu-law deserves a better message than "unrecognized" when its name says what it is.

use crate::error::AudioError;
use crate::wav::{self, WavHeader};

/// The codecs the service takes inside Ogg and WebM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum XiphCodec {
    Opus,
    Vorbis,
}

impl XiphCodec {
    pub(crate) fn name(self) -> &'static str {
        match self {
            XiphCodec::Opus => "opus",
            XiphCodec::Vorbis => "vorbis",
        }
    }
}

/// A detected, accepted format, with what the decoder needs to know about where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Detected {
    Wav(WavHeader),
    /// FLAC; `offset` skips a leading ID3v2 tag.
    Flac {
        offset: usize,
    },
    /// MPEG audio (layer 1, 2 or 3); `offset` is the first frame header; `length_tag` tells
    /// whether that frame carries a Xing/Info/VBRI tag, the only exact length an MP3 declares.
    Mpeg {
        offset: usize,
        length_tag: bool,
    },
    Ogg(XiphCodec),
    /// Matroska/WebM; the codec is read from the track list by the demuxer.
    Matroska,
    /// Raw G.729 (10-byte frames), known only from a `.g729` name.
    G729,
}

/// How far into the file (after ID3 tags) the first MPEG frame may start: encoders and taggers
/// sometimes leave padding or junk before it.
const MPEG_SEARCH_WINDOW: usize = 64 * 1024;
/// Consecutive, consistent frame headers required before bytes count as MPEG audio; random data
/// and PCM contain stray 0xFFE sync patterns, but practically never a chain of three.
const MPEG_CHAIN: usize = 3;

pub(crate) fn detect(bytes: &[u8], name_hint: Option<&str>) -> Result<Detected, AudioError> {
    let magic = |at: usize, m: &[u8]| bytes.get(at..at + m.len()) == Some(m);

    if magic(0, b"RIFF") && magic(8, b"WAVE") {
        return wav::parse(bytes).map(Detected::Wav);
    }
    if (magic(0, b"RIFX") || magic(0, b"RF64") || magic(0, b"BW64")) && magic(8, b"WAVE") {
        let kind = String::from_utf8_lossy(&bytes[0..4]).into_owned();
        return Err(AudioError::UnsupportedFormat {
            format: format!(
                "A {kind} WAV file (the variant of WAV used for big-endian or very large files)"
            ),
        });
    }
    if magic(0, b"fLaC") {
        return Ok(Detected::Flac { offset: 0 });
    }
    if magic(0, b"OggS") {
        return ogg_codec(bytes).map(Detected::Ogg);
    }
    if magic(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        return Ok(Detected::Matroska);
    }
    if magic(0, b".snd") {
        return Err(AudioError::NeedsParameters {
            what: "The file is Sun/NeXT audio (.au, audio/basic)".to_owned(),
        });
    }

    let start = skip_id3v2(bytes);
    if bytes.get(start..start + 4) == Some(b"fLaC") {
        return Ok(Detected::Flac { offset: start });
    }
    if let Some((offset, length_tag)) = find_mpeg(bytes, start) {
        return Ok(Detected::Mpeg { offset, length_tag });
    }
    if let Some(format) = other_known_format(bytes) {
        return Err(AudioError::UnsupportedFormat {
            format: format.to_owned(),
        });
    }

    let ext = name_hint
        .and_then(|name| name.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase());
    match ext.as_deref() {
        Some("g729") => return Ok(Detected::G729),
        Some(ext) => {
            let mime = match ext {
                "ulaw" | "mulaw" | "mu" | "alaw" => Some("audio/mulaw"),
                "l16" | "raw" | "pcm" | "s16" | "sln" => Some("audio/l16"),
                "au" | "snd" => Some("audio/basic"),
                _ => None,
            };
            if let Some(mime) = mime {
                return Err(AudioError::NeedsParameters {
                    what: format!(
                        "The file has no audio header; its name (.{ext}) suggests headerless \
                         {mime} audio"
                    ),
                });
            }
        }
        None => {}
    }
    Err(AudioError::UnknownFormat {
        detail: if looks_like_text(bytes) {
            "the file looks like text, not audio"
        } else {
            "no FLAC, MP3, Ogg, WebM or WAV header was found in the content"
        },
    })
}

/// Skips any ID3v2 tags at the start (MP3s and some FLACs carry them); returns the offset after.
fn skip_id3v2(bytes: &[u8]) -> usize {
    let mut pos = 0usize;
    while let Some(h) = bytes.get(pos..pos + 10) {
        // "ID3", version (2 bytes, major < 0xFF), flags, 28-bit sync-safe size.
        if &h[0..3] != b"ID3" || h[3] == 0xFF || h[6..10].iter().any(|b| b & 0x80 != 0) {
            break;
        }
        let size = h[6..10]
            .iter()
            .fold(0usize, |acc, &b| (acc << 7) | usize::from(b));
        let footer = if h[5] & 0x10 != 0 { 10 } else { 0 };
        pos += 10 + size + footer;
    }
    pos.min(bytes.len())
}

/// An MPEG-1/2/2.5 audio frame header, reduced to what the sniffer checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MpegHeader {
    version: u8,
    layer: u8,
    sample_rate: u32,
    frame_len: usize,
}

fn mpeg_header(h: &[u8]) -> Option<MpegHeader> {
    if h.len() < 4 || h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = (h[1] >> 3) & 3; // 0: MPEG-2.5, 1: reserved, 2: MPEG-2, 3: MPEG-1
    let layer = match (h[1] >> 1) & 3 {
        3 => 1,
        2 => 2,
        1 => 3,
        _ => return None, // reserved (also what AAC ADTS uses)
    };
    let bitrate_index = usize::from(h[2] >> 4);
    let rate_index = usize::from((h[2] >> 2) & 3);
    if version == 1 || bitrate_index == 0 || bitrate_index == 15 || rate_index == 3 {
        // Free-format streams (index 0) have no computable frame length; they are vanishingly
        // rare and symphonia does not decode them either.
        return None;
    }
    if h[3] & 3 == 2 {
        return None; // reserved emphasis
    }
    const BITRATES: [[u32; 14]; 5] = [
        [
            32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
        ], // V1 L1
        [
            32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
        ], // V1 L2
        [
            32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
        ], // V1 L3
        [
            32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
        ], // V2 L1
        [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160], // V2 L2/L3
    ];
    let table = match (version == 3, layer) {
        (true, l) => usize::from(l - 1),
        (false, 1) => 3,
        (false, _) => 4,
    };
    let bitrate = BITRATES[table][bitrate_index - 1] * 1000;
    let sample_rate = [44_100, 48_000, 32_000][rate_index]
        >> match version {
            3 => 0,
            2 => 1,
            _ => 2,
        };
    let padding = usize::from((h[2] >> 1) & 1);
    let frame_len = match layer {
        1 => (12 * bitrate / sample_rate) as usize * 4 + padding * 4,
        3 if version != 3 => (72 * bitrate / sample_rate) as usize + padding,
        _ => (144 * bitrate / sample_rate) as usize + padding,
    };
    Some(MpegHeader {
        version,
        layer,
        sample_rate,
        frame_len,
    })
}

/// Finds the first MPEG audio frame at or after `start` that is followed by a chain of
/// consistent frames (or by the end of the file or an ID3v1/APE tag after a shorter chain).
fn find_mpeg(bytes: &[u8], start: usize) -> Option<(usize, bool)> {
    let end = bytes.len().min(start.saturating_add(MPEG_SEARCH_WINDOW));
    (start..end).find_map(|offset| {
        let first = mpeg_header(&bytes[offset..])?;
        let mut pos = offset;
        for checked in 1..=MPEG_CHAIN {
            pos += mpeg_header(bytes.get(pos..).unwrap_or(&[]))
                .filter(|h| {
                    (h.version, h.layer, h.sample_rate)
                        == (first.version, first.layer, first.sample_rate)
                })?
                .frame_len;
            let rest = bytes.get(pos..).unwrap_or(&[]);
            // A very short file may end (or reach its trailing tag) before the full chain; two
            // chained frames that end exactly there are still convincing.
            let at_end =
                rest.is_empty() || rest.starts_with(b"TAG") || rest.starts_with(b"APETAGEX");
            if at_end && checked >= 2 {
                break;
            }
        }
        let frame = &bytes[offset..(offset + first.frame_len).min(bytes.len())];
        let length_tag = [&b"Xing"[..], b"Info", b"VBRI"]
            .iter()
            .any(|tag| frame.windows(4).any(|w| w == *tag));
        Some((offset, length_tag))
    })
}

/// The codec of an Ogg file: the first packet of each logical stream (on the "beginning of
/// stream" pages at the start) names it. An audio+video Ogg is fine if the audio is Opus/Vorbis.
fn ogg_codec(bytes: &[u8]) -> Result<XiphCodec, AudioError> {
    let mut pos = 0usize;
    let mut other: Option<&'static str> = None;
    while let Some(header) = bytes.get(pos..pos + 27) {
        if &header[0..4] != b"OggS" || header[5] & 0x02 == 0 {
            break; // not a beginning-of-stream page: all streams have been announced
        }
        let segments = usize::from(header[26]);
        let Some(lacing) = bytes.get(pos + 27..pos + 27 + segments) else {
            break;
        };
        let body_start = pos + 27 + segments;
        let body_len: usize = lacing.iter().map(|&l| usize::from(l)).sum();
        let body = bytes
            .get(body_start..(body_start + body_len).min(bytes.len()))
            .unwrap_or(&[]);
        if body.starts_with(b"OpusHead") {
            return Ok(XiphCodec::Opus);
        }
        if body.starts_with(b"\x01vorbis") {
            return Ok(XiphCodec::Vorbis);
        }
        other = other.or(if body.starts_with(b"\x7fFLAC") {
            Some("FLAC")
        } else if body.starts_with(b"Speex   ") {
            Some("Speex")
        } else if body.starts_with(b"\x80theora") {
            None // video; keep looking for an audio stream
        } else {
            Some("in an unknown codec")
        });
        pos = body_start + body_len;
    }
    Err(match other {
        Some(codec) => AudioError::UnsupportedCodec {
            container: "Ogg",
            codec: codec.to_owned(),
        },
        None => AudioError::UnsupportedCodec {
            container: "Ogg",
            codec: "missing (no audio stream was found)".to_owned(),
        },
    })
}

/// Formats that are recognisable but not accepted, so that users get told what they sent.
fn other_known_format(bytes: &[u8]) -> Option<&'static str> {
    let magic = |at: usize, m: &[u8]| bytes.get(at..at + m.len()) == Some(m);
    if magic(4, b"ftyp") {
        Some("MP4/M4A (audio/mp4, e.g. AAC or ALAC)")
    } else if magic(0, b"FORM") && (magic(8, b"AIFF") || magic(8, b"AIFC")) {
        Some("AIFF (audio/aiff)")
    } else if magic(0, b"RIFF") {
        Some("A RIFF file that is not WAVE (for example AVI)")
    } else if magic(0, b"#!AMR") {
        Some("AMR (audio/amr)")
    } else if magic(0, &[0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11]) {
        Some("ASF/WMA (audio/x-ms-wma)")
    } else if magic(0, b"caff") {
        Some("Core Audio Format (audio/x-caf)")
    } else if magic(0, b"MThd") {
        Some("MIDI (audio/midi)")
    } else if magic(0, b"wvpk") {
        Some("WavPack")
    } else if magic(0, b"MAC ") {
        Some("Monkey's Audio (APE)")
    } else if bytes.len() >= 2 && bytes[0] == 0xFF && bytes[1] & 0xF6 == 0xF0 {
        Some("AAC in ADTS (audio/aac)")
    } else {
        None
    }
}

/// Whether the start of the file is plain text (UTF-8 without control characters other than
/// whitespace), for a more helpful message than "unrecognized".
fn looks_like_text(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(1024)];
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        // A multi-byte character cut at the 1024-byte boundary is still text.
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\x0C'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mpeg_header_lengths() {
        // MPEG-1 layer 3, 128 kbit/s, 44.1 kHz, no padding: 417 bytes.
        let h = mpeg_header(&[0xFF, 0xFB, 0x90, 0x00]).unwrap();
        assert_eq!(
            (h.version, h.layer, h.sample_rate, h.frame_len),
            (3, 3, 44_100, 417)
        );
        // MPEG-2 layer 3, 64 kbit/s, 22.05 kHz, padding: 72 * 64000 / 22050 + 1 = 209.
        let h = mpeg_header(&[0xFF, 0xF3, 0x82, 0x00]).unwrap();
        assert_eq!(
            (h.version, h.layer, h.sample_rate, h.frame_len),
            (2, 3, 22_050, 209)
        );
        // MPEG-1 layer 1, 32 kbit/s, 32 kHz: (12 * 32000 / 32000) * 4 = 48.
        let h = mpeg_header(&[0xFF, 0xFF, 0x18, 0x00]).unwrap();
        assert_eq!((h.version, h.layer, h.frame_len), (3, 1, 48));
        // ADTS (layer bits 00), bad bitrate, reserved rate.
        assert!(mpeg_header(&[0xFF, 0xF1, 0x50, 0x80]).is_none());
        assert!(mpeg_header(&[0xFF, 0xFB, 0xF0, 0x00]).is_none());
        assert!(mpeg_header(&[0xFF, 0xFB, 0x9C, 0x00]).is_none());
    }

    #[test]
    fn id3_is_skipped() {
        let mut b = b"ID3\x04\x00\x00\x00\x00\x00\x05hello".to_vec();
        b.extend_from_slice(b"fLaC");
        assert_eq!(skip_id3v2(&b), 15);
    }

    #[test]
    fn text_is_text() {
        assert!(looks_like_text(b"Hello, world\nsecond line \xc3\xa9"));
        assert!(!looks_like_text(&[0u8, 1, 2, 3]));
    }
}
