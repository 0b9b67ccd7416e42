//! Whisper's log-mel front end: 25 ms Hann windows every 10 ms over 16 kHz audio, a power
//! spectrum, librosa's Slaney-normalised mel filterbank, log10, an 8-decade dynamic range clamp and
//! Whisper's `(x + 4) / 4` scaling.
//!
//! Written here rather than taken from a crate because the model only works with exactly
//! Whisper's arithmetic (periodic window, reflect padding, the dropped last frame, the clamp
//! against the maximum), which no audio-features crate reproduces; the FFT itself is `realfft`,
//! the window and filterbank come from `speechbatch-dsp` (shared with the speaker encoder).

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};
use speechbatch_dsp::{mel_filterbank, periodic_hann};

/// Sample rate the models take.
pub const SAMPLE_RATE: usize = 16_000;
/// FFT size (25 ms).
pub const N_FFT: usize = 400;
/// Hop between frames (10 ms).
pub const HOP: usize = 160;
/// Frames in Whisper's fixed 30-second input window.
pub const N_FRAMES: usize = 3000;
/// Samples in the 30-second window.
pub const N_SAMPLES: usize = N_FRAMES * HOP;

/// Computes log-mel spectrograms of 30-second windows.
pub struct MelFrontEnd {
    /// [n_mels][N_FFT / 2 + 1] filter weights.
    filters: Vec<Vec<f32>>,
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl MelFrontEnd {
    /// A front end with `n_mels` bands (80 for the tiny and base models).
    pub fn new(n_mels: usize) -> Self {
        Self {
            filters: mel_filterbank(SAMPLE_RATE as f64, N_FFT, n_mels),
            window: periodic_hann(N_FFT),
            fft: RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT),
        }
    }

    /// The filterbank, `[n_mels][N_FFT / 2 + 1]`.
    pub fn filters(&self) -> &[Vec<f32>] {
        &self.filters
    }

    /// Log-mel features of up to 30 s of audio, zero-padded to the full window, as a row-major
    /// `[n_mels, N_FRAMES]` array: exactly what Whisper computes for a padded segment.
    pub fn log_mel_30s(&self, audio: &[f32]) -> Vec<f32> {
        let audio = &audio[..audio.len().min(N_SAMPLES)];
        let pad = N_FFT / 2;
        // Reflect-pad the start like torch.stft(center=True); past the end the signal is zeros
        // (Whisper pads with 30 s of silence before framing, so its reflection is zeros too).
        let sample = |i: isize| -> f32 {
            let j = if i < 0 { -i } else { i } as usize;
            audio.get(j).copied().unwrap_or(0.0)
        };
        let n_bins = N_FFT / 2 + 1;
        let mut mel = vec![0f32; self.filters.len() * N_FRAMES];
        let mut frame = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0f32; n_bins];
        let silent_from = audio.len() / HOP + 2; // frames past this see only zeros
        let mut silent_column: Option<Vec<f32>> = None;
        for t in 0..N_FRAMES {
            if t > silent_from {
                let col = silent_column.get_or_insert_with(|| vec![0.0; self.filters.len()]);
                for (m, v) in col.iter().enumerate() {
                    mel[m * N_FRAMES + t] = *v;
                }
                continue;
            }
            let start = (t * HOP) as isize - pad as isize;
            for (k, x) in frame.iter_mut().enumerate() {
                *x = sample(start + k as isize) * self.window[k];
            }
            self.fft
                .process_with_scratch(&mut frame, &mut spectrum, &mut scratch)
                .expect("buffer sizes come from the planner");
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for (m, filter) in self.filters.iter().enumerate() {
                let e: f32 = filter.iter().zip(&power).map(|(w, p)| w * p).sum();
                mel[m * N_FRAMES + t] = e;
            }
        }
        let mut max = f32::NEG_INFINITY;
        for v in mel.iter_mut() {
            *v = v.max(1e-10).log10();
            max = max.max(*v);
        }
        for v in mel.iter_mut() {
            *v = (v.max(max - 8.0) + 4.0) / 4.0;
        }
        mel
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tone_lights_up_the_band_of_its_frequency() {
        let fe = MelFrontEnd::new(80);
        let tone: Vec<f32> = (0..SAMPLE_RATE)
            .map(|i| {
                (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / SAMPLE_RATE as f32).sin() * 0.5
            })
            .collect();
        let mel = fe.log_mel_30s(&tone);
        let frame = 50;
        let loudest = (0..80)
            .max_by(|&a, &b| mel[a * N_FRAMES + frame].total_cmp(&mel[b * N_FRAMES + frame]))
            .unwrap();
        let centre = |m: usize| {
            let f = &fe.filters()[m];
            let peak = (0..f.len()).max_by(|&a, &b| f[a].total_cmp(&f[b])).unwrap();
            peak as f64 * SAMPLE_RATE as f64 / N_FFT as f64
        };
        assert!(
            (centre(loudest) - 1000.0).abs() < 60.0,
            "band {loudest} at {} Hz",
            centre(loudest)
        );
        // Past the tone the window is silence, clamped to 8 decades below the maximum.
        let silent = mel[loudest * N_FRAMES + 2000];
        assert!((silent - (mel.iter().cloned().fold(f32::MIN, f32::max) - 2.0)).abs() < 1e-5);
    }
}
