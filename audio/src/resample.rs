//! Streaming resampling of the mono mix to 16 kHz with rubato's synchronous FFT resampler.
//!
//! Samples are fed in whatever blocks the decoder produces; they are buffered up to the
//! resampler's fixed input chunk, and the filter state carries from chunk to chunk, so memory is
//! O(chunk) whatever the file length. The resampler's startup delay is dropped from the front and
//! the tail is flushed at the end, so the output is exactly `ceil(n_in * 16000 / rate)` samples,
//! time-aligned with the input.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

use crate::error::AudioError;
use crate::TARGET_RATE;

/// Target input chunk (frames at the source rate); rubato rounds it to what the rate ratio
/// allows. About 20-40 ms: small buffers, and still efficient FFT sizes.
const CHUNK: usize = 1024;

fn internal(err: impl std::fmt::Display) -> AudioError {
    AudioError::Internal(format!("resampler: {err}"))
}

pub(crate) struct StreamResampler {
    /// `None` when the source is already at 16 kHz.
    inner: Option<Fft<f32>>,
    source_rate: u32,
    /// Input not yet processed (less than one chunk between calls).
    pending: Vec<f32>,
    /// Output scratch, sized for the largest chunk the resampler can emit.
    scratch: Vec<f32>,
    /// Output frames still to drop (the resampler's delay).
    delay_left: usize,
    in_total: u64,
    out_total: u64,
}

impl StreamResampler {
    pub(crate) fn new(source_rate: u32) -> Result<StreamResampler, AudioError> {
        let inner = if source_rate == TARGET_RATE {
            None
        } else {
            Some(
                Fft::<f32>::new(
                    source_rate as usize,
                    TARGET_RATE as usize,
                    CHUNK,
                    1,
                    FixedSync::Input,
                )
                .map_err(internal)?,
            )
        };
        let (scratch, delay_left) = match &inner {
            Some(r) => (vec![0.0; r.output_frames_max()], r.output_delay()),
            None => (Vec::new(), 0),
        };
        Ok(StreamResampler {
            inner,
            source_rate,
            pending: Vec::new(),
            scratch,
            delay_left,
            in_total: 0,
            out_total: 0,
        })
    }

    /// Output samples that `n_in` source samples make.
    fn expected_output(&self, n_in: u64) -> u64 {
        (u128::from(n_in) * u128::from(TARGET_RATE)).div_ceil(u128::from(self.source_rate)) as u64
    }

    /// Resamples `input` (mono, source rate), appending whatever 16 kHz output is ready to `out`.
    pub(crate) fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), AudioError> {
        self.in_total += input.len() as u64;
        let Some(resampler) = self.inner.as_mut() else {
            out.extend_from_slice(input);
            self.out_total += input.len() as u64;
            return Ok(());
        };
        self.pending.extend_from_slice(input);
        let mut consumed = 0;
        loop {
            let need = resampler.input_frames_next();
            if self.pending.len() - consumed < need {
                break;
            }
            let chunk = &self.pending[consumed..consumed + need];
            let produced = run(resampler, chunk, None, &mut self.scratch)?;
            consumed += need;
            emit(
                &self.scratch[..produced],
                &mut self.delay_left,
                u64::MAX,
                &mut self.out_total,
                out,
            );
        }
        self.pending.drain(..consumed);
        Ok(())
    }

    /// Flushes the tail: the last partial chunk, then silence until the delayed end of the
    /// signal is out. Appends to `out`; the stream is then complete.
    pub(crate) fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), AudioError> {
        let expected = self.expected_output(self.in_total);
        let Some(resampler) = self.inner.as_mut() else {
            return Ok(());
        };
        let need = resampler.input_frames_next();
        let mut chunk = std::mem::take(&mut self.pending);
        let mut partial = chunk.len();
        chunk.resize(need, 0.0);
        while self.out_total < expected {
            let indexing = Indexing::new().partial_len(partial);
            let produced = run(resampler, &chunk, Some(&indexing), &mut self.scratch)?;
            emit(
                &self.scratch[..produced],
                &mut self.delay_left,
                expected,
                &mut self.out_total,
                out,
            );
            partial = 0;
        }
        Ok(())
    }
}

/// One rubato call on a full-size input chunk; returns the frames written to `scratch`.
fn run(
    resampler: &mut Fft<f32>,
    chunk: &[f32],
    indexing: Option<&Indexing>,
    scratch: &mut [f32],
) -> Result<usize, AudioError> {
    let input = InterleavedSlice::new(chunk, 1, chunk.len()).map_err(internal)?;
    let frames = scratch.len();
    let mut output = InterleavedSlice::new_mut(scratch, 1, frames).map_err(internal)?;
    let (_, produced) = resampler
        .process_into_buffer(&input, &mut output, indexing)
        .map_err(internal)?;
    Ok(produced)
}

/// Appends `produced` to `out`, first dropping what remains of the startup delay and never
/// going past `limit` output samples in total.
fn emit(
    produced: &[f32],
    delay_left: &mut usize,
    limit: u64,
    out_total: &mut u64,
    out: &mut Vec<f32>,
) {
    let skip = (*delay_left).min(produced.len());
    *delay_left -= skip;
    let room = usize::try_from(limit.saturating_sub(*out_total)).unwrap_or(usize::MAX);
    let kept = &produced[skip..][..(produced.len() - skip).min(room)];
    out.extend_from_slice(kept);
    *out_total += kept.len() as u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resample_in_blocks(rate: u32, input: &[f32], block: usize) -> Vec<f32> {
        let mut r = StreamResampler::new(rate).unwrap();
        let mut out = Vec::new();
        for b in input.chunks(block) {
            r.push(b, &mut out).unwrap();
        }
        r.finish(&mut out).unwrap();
        out
    }

    #[test]
    fn exact_length_and_alignment() {
        for &rate in &[
            8_000u32, 11_025, 22_050, 44_100, 48_000, 96_000, 7_350, 44_101,
        ] {
            let n = rate as usize * 3 / 2 + 7;
            // An impulse in the middle must come out at the same time.
            let mut input = vec![0.0f32; n];
            input[n / 2] = 1.0;
            let out = resample_in_blocks(rate, &input, 1_000);
            let expected = (n as u64 * 16_000).div_ceil(u64::from(rate)) as usize;
            assert_eq!(out.len(), expected, "rate {rate}");
            let peak = out
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
                .unwrap()
                .0;
            let want = (n / 2) as f64 * 16_000.0 / f64::from(rate);
            assert!(
                (peak as f64 - want).abs() <= 2.0,
                "rate {rate}: {peak} vs {want}"
            );
        }
    }

    #[test]
    fn block_size_does_not_matter() {
        let input: Vec<f32> = (0..50_000)
            .map(|i| ((i as f32) * 0.01).sin() * 0.5)
            .collect();
        let a = resample_in_blocks(44_100, &input, 1);
        let b = resample_in_blocks(44_100, &input, 4_567);
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6);
        }
    }
}
