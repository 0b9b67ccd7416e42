//! The GE2E encoder's front end: a 40-band power mel spectrogram, as resemblyzer computes it with
//! `librosa.feature.melspectrogram(y, sr=16000, n_fft=400, hop_length=160, n_mels=40)`.
//!
//! That is: periodic Hann window of 400 samples, frames centred on every 160th sample with the
//! signal reflected at both ends (`center=True`; resemblyzer predates librosa 0.10, whose default
//! padding became zeros, so reflection is what the model was trained on), power spectrum
//! |X|², then Slaney-scale triangular filters normalised to unit area (`htk=False, norm="slaney"`).
//! No logarithm: the model takes the power mel directly.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

/// Sample rate the front end and model expect.
pub const SAMPLE_RATE: usize = 16_000;
/// FFT length and analysis window: 25 ms.
pub const N_FFT: usize = 400;
/// Hop between frames: 10 ms.
pub const HOP: usize = 160;
/// Mel bands.
pub const N_MELS: usize = 40;
/// Frames per second of the spectrogram.
pub const FRAMES_PER_SECOND: f64 = (SAMPLE_RATE / HOP) as f64;

/// One triangular mel filter, stored sparsely: weights for FFT bins `first..first + weights.len()`.
#[derive(Debug, Clone)]
struct MelFilter {
    first: usize,
    weights: Vec<f32>,
}

/// Computes power mel spectrograms; build once and share (it holds the FFT plan and filters).
#[derive(Clone)]
pub struct MelFrontEnd {
    window: Vec<f32>,
    filters: Vec<MelFilter>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl std::fmt::Debug for MelFrontEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MelFrontEnd")
            .field("n_fft", &N_FFT)
            .field("n_mels", &N_MELS)
            .finish()
    }
}

impl Default for MelFrontEnd {
    fn default() -> Self {
        Self::new()
    }
}

/// Band edges and centres in Hz (librosa `mel_frequencies(n_mels + 2, 0, sr / 2)`).
pub fn mel_band_edges() -> Vec<f64> {
    speechbatch_dsp::mel_frequencies(N_MELS + 2, SAMPLE_RATE as f64 / 2.0)
}

/// librosa `filters.mel(sr=16000, n_fft=400, n_mels=40)`, stored sparsely.
fn mel_filters() -> Vec<MelFilter> {
    speechbatch_dsp::mel_filterbank(SAMPLE_RATE as f64, N_FFT, N_MELS)
        .into_iter()
        .map(|dense| {
            let first = dense.iter().position(|&w| w > 0.0).unwrap_or(0);
            let last = dense.iter().rposition(|&w| w > 0.0).unwrap_or(first);
            MelFilter {
                first,
                weights: dense[first..=last].to_vec(),
            }
        })
        .collect()
}

/// Index into `samples` of position `i` of the signal reflected about both ends (numpy "reflect":
/// the edge sample is not repeated).
fn reflect_index(i: isize, n: usize) -> usize {
    let n = n as isize;
    if n == 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let mut j = i.rem_euclid(period);
    if j >= n {
        j = period - j;
    }
    j as usize
}

impl MelFrontEnd {
    /// Builds the window, filterbank and FFT plan.
    pub fn new() -> Self {
        // Periodic Hann (scipy `get_window("hann", 400, fftbins=True)`).
        let window = speechbatch_dsp::periodic_hann(N_FFT);
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        Self {
            window,
            filters: mel_filters(),
            fft,
        }
    }

    /// Number of frames for `n_samples` samples: one per hop, centred (`1 + n / 160`).
    pub fn frame_count(n_samples: usize) -> usize {
        1 + n_samples / HOP
    }

    /// Power mel spectrogram of `samples` (16 kHz), row-major `[frames][40]`, scaled by `gain`
    /// (a power factor, i.e. the square of an amplitude gain). Empty input gives no frames.
    pub fn compute(&self, samples: &[f32], gain: f32) -> Vec<f32> {
        let n = samples.len();
        if n == 0 {
            return Vec::new();
        }
        let frames = Self::frame_count(n);
        let mut out = Vec::with_capacity(frames * N_MELS);
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0f32; spectrum.len()];
        let half = (N_FFT / 2) as isize;
        for t in 0..frames {
            let origin = (t * HOP) as isize - half;
            for (k, slot) in input.iter_mut().enumerate() {
                let i = origin + k as isize;
                let x = if i >= 0 && (i as usize) < n {
                    samples[i as usize]
                } else {
                    samples[reflect_index(i, n)]
                };
                *slot = x * self.window[k];
            }
            // Lengths come from the plan itself, so processing cannot fail.
            self.fft
                .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                .expect("FFT buffers sized by their own plan");
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.re * c.re + c.im * c.im;
            }
            for filter in &self.filters {
                let bins = &power[filter.first..filter.first + filter.weights.len()];
                let e: f32 = bins.iter().zip(&filter.weights).map(|(p, w)| p * w).sum();
                out.push(e * gain);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_matches_numpy() {
        // np.pad([0, 1, 2, 3], 3, mode="reflect") -> [3, 2, 1, 0, 1, 2, 3, 2, 1, 0]
        let got: Vec<usize> = (-3..7).map(|i| reflect_index(i, 4)).collect();
        assert_eq!(got, vec![3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
    }

    #[test]
    fn frame_count_is_centred() {
        assert_eq!(MelFrontEnd::frame_count(16_000), 101);
        assert_eq!(MelFrontEnd::frame_count(159), 1);
    }
}
