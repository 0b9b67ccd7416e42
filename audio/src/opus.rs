//! Opus decoding with the system libopus (symphonia demuxes Opus but cannot decode it).
//!
//! The binding is written here rather than taken from a crate: the `opus` crate's current
//! release builds a bundled libopus with CMake by default, and only mono/stereo. libopus's
//! multistream decoder covers every Opus channel mapping (family 0 is simply one stream), so four
//! functions are all that is needed. The library is linked by `build.rs` via pkg-config.

use std::ffi::{c_char, c_int, c_uchar, CStr};
use std::ptr::NonNull;

/// Opus always decodes at 48 kHz (it can decode at lower rates, but 48 kHz is the reference
/// rate for the pre-skip and granule positions).
pub(crate) const OPUS_RATE: u32 = 48_000;
/// The longest Opus packet is 120 ms.
const MAX_FRAMES_PER_PACKET: usize = 5_760;

/// Opaque `OpusMSDecoder` from `<opus/opus_multistream.h>`.
#[repr(C)]
struct OpusMSDecoder {
    _private: [u8; 0],
}

extern "C" {
    fn opus_multistream_decoder_create(
        fs: i32,
        channels: c_int,
        streams: c_int,
        coupled_streams: c_int,
        mapping: *const c_uchar,
        error: *mut c_int,
    ) -> *mut OpusMSDecoder;
    fn opus_multistream_decode_float(
        st: *mut OpusMSDecoder,
        data: *const c_uchar,
        len: i32,
        pcm: *mut f32,
        frame_size: c_int,
        decode_fec: c_int,
    ) -> c_int;
    fn opus_multistream_decoder_destroy(st: *mut OpusMSDecoder);
    fn opus_strerror(error: c_int) -> *const c_char;
}

fn strerror(code: c_int) -> String {
    // SAFETY: opus_strerror accepts any int and returns a pointer to a static, NUL-terminated
    // string (an "unknown error" text for codes it does not know); it is never null.
    unsafe { CStr::from_ptr(opus_strerror(code)) }
        .to_string_lossy()
        .into_owned()
}

/// The fields of the Ogg Opus identification header ("OpusHead", RFC 7845 section 5.1), which
/// WebM stores as the track's CodecPrivate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OpusHead {
    pub channels: u8,
    /// Samples at 48 kHz to discard at the start (encoder delay).
    pub pre_skip: u16,
    /// Output gain in dB, Q7.8.
    pub output_gain: i16,
    pub streams: u8,
    pub coupled: u8,
    pub mapping: Vec<u8>,
}

impl OpusHead {
    /// Parses an OpusHead packet; `None` if it is not one or is inconsistent.
    pub(crate) fn parse(b: &[u8]) -> Option<OpusHead> {
        if b.len() < 19 || &b[0..8] != b"OpusHead" || b[8] >> 4 != 0 {
            return None; // only major version 0 is defined
        }
        let channels = b[9];
        let pre_skip = u16::from_le_bytes([b[10], b[11]]);
        let output_gain = i16::from_le_bytes([b[16], b[17]]);
        let family = b[18];
        let (streams, coupled, mapping) = if family == 0 {
            if !(1..=2).contains(&channels) {
                return None;
            }
            (1, channels - 1, (0..channels).collect())
        } else {
            let table = b.get(19..21 + usize::from(channels))?;
            (table[0], table[1], table[2..].to_vec())
        };
        if channels == 0 || streams == 0 || coupled > streams {
            return None;
        }
        Some(OpusHead {
            channels,
            pre_skip,
            output_gain,
            streams,
            coupled,
            mapping,
        })
    }
}

/// A libopus multistream decoder at 48 kHz, producing interleaved f32.
pub(crate) struct OpusDecoder {
    state: NonNull<OpusMSDecoder>,
    channels: usize,
    /// Linear factor for the header's output gain, which the decoder must apply (RFC 7845).
    gain: f32,
}

// SAFETY: the decoder state is heap memory owned exclusively by this struct; libopus keeps no
// thread-local or global references to it, so moving it to another thread is sound. It is not
// Sync (all use goes through &mut self).
unsafe impl Send for OpusDecoder {}

impl OpusDecoder {
    pub(crate) fn new(head: &OpusHead) -> Result<OpusDecoder, String> {
        if head.mapping.len() != usize::from(head.channels) {
            return Err("inconsistent Opus channel mapping".to_owned());
        }
        let mut error: c_int = 0;
        // SAFETY: `mapping` points to `channels` bytes, as libopus requires, and outlives the
        // call (libopus copies it); `error` is a valid out-pointer. libopus validates the stream
        // counts and mapping itself and returns null with an error code if they are invalid.
        let state = unsafe {
            opus_multistream_decoder_create(
                OPUS_RATE as i32,
                c_int::from(head.channels),
                c_int::from(head.streams),
                c_int::from(head.coupled),
                head.mapping.as_ptr(),
                &mut error,
            )
        };
        match NonNull::new(state) {
            Some(state) if error == 0 => Ok(OpusDecoder {
                state,
                channels: usize::from(head.channels),
                gain: 10f32.powf(f32::from(head.output_gain) / (20.0 * 256.0)),
            }),
            Some(state) => {
                // SAFETY: `state` came from opus_multistream_decoder_create and is freed once.
                unsafe { opus_multistream_decoder_destroy(state.as_ptr()) };
                Err(strerror(error))
            }
            None => Err(strerror(error)),
        }
    }

    pub(crate) fn channels(&self) -> usize {
        self.channels
    }

    /// Decodes one packet, appending interleaved samples to `out`; returns frames decoded.
    pub(crate) fn decode(&mut self, packet: &[u8], out: &mut Vec<f32>) -> Result<usize, String> {
        if packet.is_empty() {
            // libopus would treat an empty packet as a lost one and conceal a full 120 ms; an
            // empty packet carries no audio, so it yields none.
            return Ok(0);
        }
        let len = i32::try_from(packet.len()).map_err(|_| "Opus packet too large".to_owned())?;
        let start = out.len();
        out.resize(start + MAX_FRAMES_PER_PACKET * self.channels, 0.0);
        // SAFETY: `state` is a live decoder (freed only in Drop); `packet` is valid for `len`
        // bytes; the output slice has room for MAX_FRAMES_PER_PACKET frames of `channels`
        // interleaved samples, which is the `frame_size` passed, so libopus never writes past it.
        let frames = unsafe {
            opus_multistream_decode_float(
                self.state.as_ptr(),
                packet.as_ptr(),
                len,
                out[start..].as_mut_ptr(),
                MAX_FRAMES_PER_PACKET as c_int,
                0,
            )
        };
        if frames < 0 {
            out.truncate(start);
            return Err(strerror(frames));
        }
        let frames = frames as usize;
        out.truncate(start + frames * self.channels);
        if self.gain != 1.0 {
            out[start..].iter_mut().for_each(|s| *s *= self.gain);
        }
        Ok(frames)
    }
}

impl Drop for OpusDecoder {
    fn drop(&mut self) {
        // SAFETY: `state` was returned by opus_multistream_decoder_create, is non-null, and is
        // destroyed exactly once, here.
        unsafe { opus_multistream_decoder_destroy(self.state.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_family_zero_head() {
        let mut b = b"OpusHead".to_vec();
        b.extend_from_slice(&[1, 2, 0x38, 0x01, 0x80, 0x3E, 0, 0, 0, 0, 0]);
        let head = OpusHead::parse(&b).unwrap();
        assert_eq!(head.channels, 2);
        assert_eq!(head.pre_skip, 312);
        assert_eq!((head.streams, head.coupled), (1, 1));
        assert_eq!(head.mapping, vec![0, 1]);
        assert!(OpusDecoder::new(&head).is_ok());
    }

    #[test]
    fn parses_surround_head() {
        // 5.1 in mapping family 1: 4 streams, 2 of them coupled (RFC 7845 section 5.1.1.2).
        let mut b = b"OpusHead".to_vec();
        b.extend_from_slice(&[1, 6, 0x38, 0x01, 0x80, 0xBB, 0, 0, 0, 0, 1, 4, 2]);
        b.extend_from_slice(&[0, 4, 1, 2, 3, 5]);
        let head = OpusHead::parse(&b).unwrap();
        assert_eq!((head.channels, head.streams, head.coupled), (6, 4, 2));
        let dec = OpusDecoder::new(&head).unwrap();
        assert_eq!(dec.channels(), 6);
    }

    #[test]
    fn rejects_bad_heads() {
        assert!(OpusHead::parse(b"OpusTags").is_none());
        let mut b = b"OpusHead".to_vec();
        b.extend_from_slice(&[1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // 3 channels in family 0
        assert!(OpusHead::parse(&b).is_none());
    }

    #[test]
    fn garbage_packet_is_an_error_not_a_crash() {
        let head =
            OpusHead::parse(b"OpusHead\x01\x01\x00\x00\x80\x3e\x00\x00\x00\x00\x00").unwrap();
        let mut dec = OpusDecoder::new(&head).unwrap();
        let mut out = Vec::new();
        // TOC byte for a code-3 packet that claims 63 frames but holds no data.
        assert!(dec.decode(&[0xFF, 0xFF], &mut out).is_err());
        assert!(out.is_empty());
    }
}
