//! Downmixing to mono.
//!
//! A plain average is wrong for the files this service gets: a 9-channel recording with one
//! live microphone and eight silent channels comes out 19 dB too quiet (1/9), and a two-channel
//! call recording with the agent on the left and the caller on the right halves each voice.
//! Picking "the loudest channel" instead drops whoever is quieter.
//!
//! So the mix is energy-weighted, as a gain-sharing automatic microphone mixer does: each channel
//! is weighted by its short-term RMS level (tracked over about 50 ms), and the weights sum to 1.
//! - Identical channels (stereo copies of one signal) get equal weights: exactly the average, so
//!   levels are preserved (a 0.5-amplitude sine on every channel stays 0.5).
//! - One live channel among silent ones gets (almost) all the weight: full level.
//! - Alternating talkers on separate channels each come through at their own level.
//!
//! A small floor on each level makes the weights fall back to the plain average when every
//! channel is (near) silent, so the weights never divide by zero and silence stays silence. The
//! levels are smoothed per sample, so the weights change slowly and do not add clicks.

/// Level time constant in seconds: short enough to follow turn-taking, long enough that the
/// weights do not modulate the waveform audibly.
const LEVEL_TIME_CONSTANT_S: f32 = 0.05;
/// RMS floor (about -80 dBFS) added to each channel's level.
const LEVEL_FLOOR: f32 = 1e-4;

/// Streaming energy-weighted downmixer; its state carries across blocks.
#[derive(Debug, Clone)]
pub struct Downmixer {
    /// Smoothing coefficient per sample.
    alpha: f32,
    /// Short-term mean square of each channel.
    power: Vec<f32>,
    /// Scratch for the per-sample weights.
    levels: Vec<f32>,
}

impl Downmixer {
    /// A mixer for signals at `sample_rate` Hz.
    pub fn new(sample_rate: u32) -> Downmixer {
        Downmixer {
            alpha: 1.0 - (-1.0 / (LEVEL_TIME_CONSTANT_S * sample_rate as f32)).exp(),
            power: Vec::new(),
            levels: Vec::new(),
        }
    }

    /// Appends the mono mix of `planes` (one slice per channel, all of the same length) to
    /// `out`.
    pub fn mix<P: AsRef<[f32]>>(&mut self, planes: &[P], out: &mut Vec<f32>) {
        let channels = planes.len();
        let frames = planes.iter().map(|p| p.as_ref().len()).min().unwrap_or(0);
        if channels == 1 {
            out.extend_from_slice(&planes[0].as_ref()[..frames]);
            return;
        }
        if self.power.len() != channels {
            // First block, or the stream changed its channel count: start over.
            self.power = vec![0.0; channels];
            self.levels = vec![0.0; channels];
        }
        out.reserve(frames);
        for i in 0..frames {
            let mut total = 0.0f32;
            let mut mixed = 0.0f32;
            for (plane, (p, level)) in planes
                .iter()
                .zip(self.power.iter_mut().zip(&mut self.levels))
            {
                let x = plane.as_ref()[i];
                *p += self.alpha * (x * x - *p);
                *level = p.sqrt() + LEVEL_FLOOR;
                total += *level;
                mixed += x * *level;
            }
            out.push(mixed / total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(n: usize, amp: f32) -> Vec<f32> {
        (0..n)
            .map(|i| amp * (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 16_000.0).sin())
            .collect()
    }

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
    }

    #[test]
    fn identical_channels_average_exactly() {
        let s = sine(16_000, 0.5);
        let mut out = Vec::new();
        Downmixer::new(16_000).mix(&[&s, &s, &s], &mut out);
        for (a, b) in out.iter().zip(&s) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn one_live_channel_keeps_its_level() {
        let s = sine(16_000, 0.3);
        let silent = vec![0.0; s.len()];
        let mut planes = vec![silent; 9];
        planes[0] = s.clone();
        let mut out = Vec::new();
        Downmixer::new(16_000).mix(&planes, &mut out);
        let ratio = rms(&out[4_000..]) / rms(&s[4_000..]);
        assert!(ratio > 0.95 && ratio <= 1.0, "ratio {ratio}");
    }

    #[test]
    fn state_carries_across_blocks() {
        let s = sine(8_000, 0.4);
        let silent = vec![0.0; s.len()];
        let mut whole = Vec::new();
        Downmixer::new(16_000).mix(&[&s, &silent], &mut whole);
        let mut parts = Vec::new();
        let mut mixer = Downmixer::new(16_000);
        for (a, b) in s.chunks(333).zip(silent.chunks(333)) {
            mixer.mix(&[a, b], &mut parts);
        }
        assert_eq!(whole, parts);
    }
}
