//! 16-bit PCM WAV files made in memory, for tests that need audio of an exact length or
//! content rather than a recording.

/// A canonical 44-byte-header WAV file (PCM, 16 bits) of interleaved `samples`: frame after
/// frame, `channels` samples per frame.
///
/// Panics when `samples` is not a whole number of frames, or the data would not fit the
/// format's 32-bit sizes.
pub fn wav(rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
    assert!(channels > 0, "a WAV file needs at least one channel");
    assert_eq!(
        samples.len() % usize::from(channels),
        0,
        "{} samples are not whole frames of {channels} channels",
        samples.len()
    );
    let data_len = u32::try_from(samples.len() * 2)
        .ok()
        .filter(|&n| n <= u32::MAX - 36)
        .expect("audio too long for a WAV file");
    let block_align = channels * 2;
    let mut b = Vec::with_capacity(44 + samples.len() * 2);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    b.extend_from_slice(&1u16.to_le_bytes()); // WAVE_FORMAT_PCM
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * u32::from(block_align)).to_le_bytes()); // bytes per second
    b.extend_from_slice(&block_align.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        b.extend_from_slice(&s.to_le_bytes());
    }
    b
}

/// [`wav`] of samples in [-1, 1] (values outside are clipped), scaled by 32767 and rounded.
pub fn wav_from_f32(rate: u32, channels: u16, samples: &[f32]) -> Vec<u8> {
    let pcm: Vec<i16> = samples
        .iter()
        .map(|s| (s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
        .collect();
    wav(rate, channels, &pcm)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([b[at], b[at + 1]])
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn the_header_describes_the_rate_channels_and_data() {
        let samples: Vec<i16> = (0..2 * 441).map(|i| i as i16 - 400).collect();
        let b = wav(44_100, 2, &samples);
        assert_eq!(&b[0..4], b"RIFF");
        assert_eq!(u32_at(&b, 4) as usize, b.len() - 8);
        assert_eq!(&b[8..16], b"WAVEfmt ");
        assert_eq!(u16_at(&b, 20), 1, "PCM");
        assert_eq!(u16_at(&b, 22), 2, "channels");
        assert_eq!(u32_at(&b, 24), 44_100, "rate");
        assert_eq!(u32_at(&b, 28), 44_100 * 4, "bytes per second");
        assert_eq!(u16_at(&b, 32), 4, "block align");
        assert_eq!(u16_at(&b, 34), 16, "bits");
        assert_eq!(&b[36..40], b"data");
        assert_eq!(u32_at(&b, 40) as usize, samples.len() * 2);
        let back: Vec<i16> = b[44..]
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(back, samples);
    }

    #[test]
    fn float_samples_are_scaled_rounded_and_clipped() {
        let b = wav_from_f32(16_000, 1, &[0.0, 0.5, -1.0, 1.5, -2.0, 0.25]);
        let back: Vec<i16> = b[44..]
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(back, [0, 16384, -32767, 32767, -32767, 8192]);
    }

    #[test]
    fn an_empty_file_has_only_the_header() {
        let b = wav(8_000, 1, &[]);
        assert_eq!(b.len(), 44);
        assert_eq!(u32_at(&b, 40), 0);
    }

    #[test]
    #[should_panic(expected = "not whole frames")]
    fn a_partial_frame_is_refused() {
        wav(16_000, 3, &[1, 2, 3, 4]);
    }
}
