//! Per-span measurements taken from the same spectrogram the encoder uses: level normalisation,
//! pauses inside the span (where speaker changes are snapped to) and the energy above 4 kHz (to tell
//! telephone-band audio from wideband).

use crate::mel::{mel_band_edges, FRAMES_PER_SECOND, N_MELS};

/// resemblyzer normalises every utterance up (never down) to this level before embedding.
const TARGET_DBFS: f64 = -30.0;
/// A frame this far below the span's loud frames (90th percentile) counts as pause.
const PAUSE_BELOW_DB: f64 = 30.0;
/// Shortest pause worth snapping a speaker change to.
const MIN_PAUSE_FRAMES: usize = 10;
/// Bands centred below this are "telephone band" energy.
const LOW_BAND_HZ: f64 = 3600.0;
/// Bands centred above this are missing from 8 kHz audio upsampled to 16 kHz.
const HIGH_BAND_HZ: f64 = 4300.0;

/// Power gain (squared amplitude gain) that brings a span up to -30 dBFS RMS, or 1 if it is
/// already louder. Applied to the power spectrogram, it equals scaling the samples.
pub(crate) fn level_gain(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return 1.0;
    }
    let mean_sq = samples
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        / samples.len() as f64;
    if mean_sq <= 0.0 {
        return 1.0;
    }
    let dbfs = 10.0 * mean_sq.log10();
    if dbfs >= TARGET_DBFS {
        1.0
    } else {
        10f64.powf((TARGET_DBFS - dbfs) / 10.0) as f32
    }
}

/// Energy in and above the telephone band, summed over spans; decides narrowband at the end.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BandEnergy {
    /// Mel power in bands centred below 3.6 kHz.
    pub low: f64,
    /// Mel power in bands centred above 4.3 kHz.
    pub high: f64,
}

impl BandEnergy {
    /// Adds the band energies of a `[frames][40]` mel spectrogram.
    pub(crate) fn add_mel(&mut self, mel: &[f32]) {
        let edges = mel_band_edges();
        for frame in mel.chunks_exact(N_MELS) {
            for (m, &p) in frame.iter().enumerate() {
                let centre = edges[m + 1];
                if centre < LOW_BAND_HZ {
                    self.low += f64::from(p);
                } else if centre > HIGH_BAND_HZ {
                    self.high += f64::from(p);
                }
            }
        }
    }

    /// Adds another tally.
    pub(crate) fn merge(&mut self, other: BandEnergy) {
        self.low += other.low;
        self.high += other.high;
    }

    /// True when there is (next to) nothing above 4.3 kHz: telephone audio upsampled to 16 kHz.
    /// Wideband speech keeps ≥ 3e-4 of its mel energy there, upsampled 8 kHz audio ≤ 1e-10.
    pub fn is_narrowband(&self) -> bool {
        self.low > 0.0 && self.high < 1e-5 * (self.low + self.high)
    }
}

/// Frame levels of one span (dB of the mel power per 10 ms frame) and its pause threshold.
#[derive(Debug, Clone)]
pub(crate) struct FrameLevels {
    db: Vec<f64>,
    threshold: f64,
}

impl FrameLevels {
    /// Levels of a `[frames][40]` mel spectrogram.
    pub(crate) fn new(mel: &[f32]) -> Self {
        let db: Vec<f64> = mel
            .chunks_exact(N_MELS)
            .map(|f| 10.0 * (f.iter().map(|&p| f64::from(p)).sum::<f64>() + 1e-12).log10())
            .collect();
        let mut sorted = db.clone();
        sorted.sort_by(f64::total_cmp);
        let loud = sorted
            .get((sorted.len().max(1) - 1) * 9 / 10)
            .copied()
            .unwrap_or(0.0);
        Self {
            db,
            threshold: loud - PAUSE_BELOW_DB,
        }
    }

    fn quiet(&self, i: usize) -> bool {
        self.db[i] < self.threshold
    }

    /// Pauses (low-energy runs of at least 100 ms) inside the span, as absolute times.
    pub(crate) fn pauses(&self, span_start: f64) -> Vec<(f64, f64)> {
        let mut pauses = Vec::new();
        let mut run_start: Option<usize> = None;
        for i in 0..=self.db.len() {
            let quiet = i < self.db.len() && self.quiet(i);
            match (quiet, run_start) {
                (true, None) => run_start = Some(i),
                (false, Some(s)) => {
                    if i - s >= MIN_PAUSE_FRAMES {
                        pauses.push((
                            span_start + s as f64 / FRAMES_PER_SECOND,
                            span_start + i as f64 / FRAMES_PER_SECOND,
                        ));
                    }
                    run_start = None;
                }
                _ => {}
            }
        }
        pauses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gain_only_raises_quiet_audio() {
        let loud = vec![0.5f32; 1600];
        assert_eq!(level_gain(&loud), 1.0);
        // 0.01 RMS is -40 dBFS: +10 dB of amplitude is a power gain of 10.
        let quiet = vec![0.01f32; 1600];
        assert!((level_gain(&quiet) - 10.0).abs() < 1e-3);
        assert_eq!(level_gain(&[0.0; 10]), 1.0);
    }

    #[test]
    fn pauses_are_found_between_loud_frames() {
        let mut mel = vec![1.0f32; 30 * N_MELS];
        mel.extend(vec![0.0f32; 20 * N_MELS]);
        mel.extend(vec![1.0f32; 30 * N_MELS]);
        let levels = FrameLevels::new(&mel);
        let p = levels.pauses(2.0);
        assert_eq!(p.len(), 1);
        assert!((p[0].0 - 2.3).abs() < 1e-9 && (p[0].1 - 2.5).abs() < 1e-9);
        // A 50 ms dip is not a pause.
        let mut short = vec![1.0f32; 30 * N_MELS];
        short.extend(vec![0.0f32; 5 * N_MELS]);
        short.extend(vec![1.0f32; 30 * N_MELS]);
        assert!(FrameLevels::new(&short).pauses(0.0).is_empty());
    }

    #[test]
    fn padding_at_the_start_is_a_pause() {
        let mut mel = vec![0.0f32; 20 * N_MELS];
        mel.extend(vec![1.0f32; 50 * N_MELS]);
        mel.extend(vec![0.0f32; 7 * N_MELS]);
        assert_eq!(FrameLevels::new(&mel).pauses(0.0), vec![(0.0, 0.2)]);
        assert!(FrameLevels::new(&[]).pauses(0.0).is_empty());
    }

    #[test]
    fn narrowband_is_recognised() {
        let mut wide = BandEnergy::default();
        let mut frame = vec![1.0f32; N_MELS];
        wide.add_mel(&frame);
        assert!(!wide.is_narrowband());
        let mut narrow = BandEnergy::default();
        for (m, p) in frame.iter_mut().enumerate() {
            if mel_band_edges()[m + 1] > 3500.0 {
                *p = 0.0;
            }
        }
        narrow.add_mel(&frame);
        assert!(narrow.is_narrowband());
        assert!(!BandEnergy::default().is_narrowband());
    }
}
