//! Signal-processing pieces shared by the Whisper front end (`transcriber`) and the speaker
//! encoder's (`diarize`): both models were trained on librosa-style features, so both need the
//! periodic Hann window and librosa's Slaney mel filterbank, bit for bit.
//!
//! Written here rather than taken from a crate because the models depend on librosa's exact
//! arithmetic (Slaney scale, area normalisation, f64 computation stored as f32), which the audio
//! feature crates do not reproduce.

/// The periodic Hann window of length `n` (`torch.hann_window(n)`, scipy's `fftbins=True`): the
/// denominator is `n`, not `n - 1`.
pub fn periodic_hann(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()) as f32)
        .collect()
}

const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

/// Slaney's mel scale (librosa `hz_to_mel(htk=False)`): linear below 1 kHz, logarithmic above.
pub fn hz_to_mel(hz: f64) -> f64 {
    if hz < MIN_LOG_HZ {
        hz / F_SP
    } else {
        MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / log_step()
    }
}

/// Inverse of [`hz_to_mel`].
pub fn mel_to_hz(mel: f64) -> f64 {
    if mel < MIN_LOG_MEL {
        mel * F_SP
    } else {
        MIN_LOG_HZ * ((mel - MIN_LOG_MEL) * log_step()).exp()
    }
}

/// `n` frequencies evenly spaced on the mel scale from 0 to `fmax` Hz (librosa
/// `mel_frequencies(n, fmin=0, fmax)`): the edges and centres of `n - 2` triangular bands.
pub fn mel_frequencies(n: usize, fmax: f64) -> Vec<f64> {
    let top = hz_to_mel(fmax);
    (0..n)
        .map(|i| mel_to_hz(top * i as f64 / (n - 1) as f64))
        .collect()
}

/// librosa `filters.mel(sr, n_fft, n_mels)` with its defaults (Slaney scale, Slaney area
/// normalisation, fmin 0, fmax sr/2): `[n_mels][n_fft / 2 + 1]`, computed in f64 and stored as
/// f32 as librosa does. Whisper's `mel_filters.npz` was made this way.
pub fn mel_filterbank(sr: f64, n_fft: usize, n_mels: usize) -> Vec<Vec<f32>> {
    let n_bins = n_fft / 2 + 1;
    let edges = mel_frequencies(n_mels + 2, sr / 2.0);
    (0..n_mels)
        .map(|m| {
            let (lo, mid, hi) = (edges[m], edges[m + 1], edges[m + 2]);
            let enorm = 2.0 / (hi - lo);
            (0..n_bins)
                .map(|k| {
                    let f = k as f64 * sr / n_fft as f64;
                    let rising = (f - lo) / (mid - lo);
                    let falling = (hi - f) / (hi - mid);
                    (rising.min(falling).max(0.0) * enorm) as f32
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mel_scale_round_trips_on_both_sides_of_its_knee() {
        for hz in [0.0, 440.0, 999.0, 1000.0, 3000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-9, "{hz}");
        }
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
    }

    #[test]
    fn bands_are_triangles_of_unit_area_in_hz() {
        let bank = mel_filterbank(16_000.0, 400, 40);
        assert_eq!(bank.len(), 40);
        assert!(bank
            .iter()
            .all(|band| band.len() == 201 && band.iter().all(|w| *w >= 0.0)));
        // Slaney normalisation: each triangle's area (weights × 40 Hz bin width) is about 1.
        let area: f64 = bank[20].iter().map(|w| *w as f64 * 40.0).sum();
        assert!((area - 1.0).abs() < 0.1, "{area}");
    }

    #[test]
    fn the_periodic_window_starts_at_zero_and_peaks_at_its_middle() {
        let w = periodic_hann(400);
        assert_eq!(w[0], 0.0);
        assert_eq!(w[200], 1.0);
        assert!((w[100] - w[300]).abs() < 1e-6);
    }
}
