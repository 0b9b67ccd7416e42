//! Raw G.729 (ITU-T G.729 / Annex A, 8 kbit/s, 10-byte frames of 10 ms at 8 kHz) decoded with
//! Debian's libbcg729 through a minimal hand-written binding (`<bcg729/decoder.h>`).

use std::ptr::NonNull;

/// G.729 works at 8 kHz only.
pub(crate) const G729_RATE: u32 = 8_000;
/// Bytes in one G.729 frame (80 bits).
pub(crate) const FRAME_BYTES: usize = 10;
/// Samples decoded from one frame (10 ms).
pub(crate) const FRAME_SAMPLES: usize = 80;

/// Opaque `bcg729DecoderChannelContextStruct`.
#[repr(C)]
struct Bcg729Decoder {
    _private: [u8; 0],
}

extern "C" {
    fn initBcg729DecoderChannel() -> *mut Bcg729Decoder;
    fn closeBcg729DecoderChannel(ctx: *mut Bcg729Decoder);
    fn bcg729Decoder(
        ctx: *mut Bcg729Decoder,
        bit_stream: *const u8,
        bit_stream_length: u8,
        frame_erasure_flag: u8,
        sid_frame_flag: u8,
        rfc3389_payload_flag: u8,
        signal: *mut i16,
    );
}

/// One libbcg729 decoder channel.
pub(crate) struct G729Decoder {
    ctx: NonNull<Bcg729Decoder>,
}

// SAFETY: the channel context is heap memory owned exclusively by this struct; libbcg729 has no
// global state, so using it from whichever thread owns the struct is sound.
unsafe impl Send for G729Decoder {}

impl G729Decoder {
    pub(crate) fn new() -> Result<G729Decoder, String> {
        // SAFETY: initBcg729DecoderChannel takes no arguments and returns a freshly allocated
        // context, or null if allocation failed (checked below).
        let ctx = unsafe { initBcg729DecoderChannel() };
        NonNull::new(ctx)
            .map(|ctx| G729Decoder { ctx })
            .ok_or_else(|| "libbcg729 could not allocate a decoder".to_owned())
    }

    /// Decodes one 10-byte frame into 80 samples in [-1, 1).
    pub(crate) fn decode_frame(&mut self, frame: &[u8; FRAME_BYTES], out: &mut Vec<f32>) {
        let mut pcm = [0i16; FRAME_SAMPLES];
        // SAFETY: `ctx` is a live context (closed only in Drop); `frame` is exactly the 10 bytes
        // the length argument announces, and bcg729 reads no more for a regular (non-SID,
        // non-erased) frame; `pcm` has room for the 80 samples bcg729 always writes.
        unsafe {
            bcg729Decoder(
                self.ctx.as_ptr(),
                frame.as_ptr(),
                FRAME_BYTES as u8,
                0,
                0,
                0,
                pcm.as_mut_ptr(),
            );
        }
        out.extend(pcm.iter().map(|&s| f32::from(s) / 32_768.0));
    }
}

impl Drop for G729Decoder {
    fn drop(&mut self) {
        // SAFETY: `ctx` came from initBcg729DecoderChannel and is closed exactly once, here.
        unsafe { closeBcg729DecoderChannel(self.ctx.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_frames() {
        let mut dec = G729Decoder::new().unwrap();
        let mut out = Vec::new();
        for _ in 0..5 {
            dec.decode_frame(&[0x55; FRAME_BYTES], &mut out);
        }
        assert_eq!(out.len(), 5 * FRAME_SAMPLES);
        assert!(out.iter().all(|s| (-1.0..1.0).contains(s)));
    }
}
