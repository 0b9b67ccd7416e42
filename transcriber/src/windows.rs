//! Speech segments packed into Whisper's 30-second windows, holding only the audio a window may
//! still need.

use crate::mel::N_SAMPLES;
use crate::vad::Segment;

/// A stretch of audio of at most 30 s holding one or more speech segments.
pub struct Window {
    /// Absolute index of the first sample.
    pub start: usize,
    /// The window's samples at 16 kHz.
    pub audio: Vec<f32>,
    /// The speech segments inside it, absolute.
    pub speech: Vec<Segment>,
}

/// Packs consecutive speech segments into windows of at most 30 s, keeping only the audio that
/// a window may still need.
#[derive(Default)]
pub struct WindowPacker {
    buffer: Vec<f32>,
    /// Absolute index of `buffer[0]`.
    buffer_start: usize,
    pending: Vec<Segment>,
}

impl WindowPacker {
    /// Adds decoded samples.
    pub fn append(&mut self, samples: &[f32]) {
        self.buffer.extend_from_slice(samples);
    }

    /// Adds a segment; returns a finished window when the segment does not fit the pending one.
    pub fn add_segment(&mut self, seg: Segment) -> Option<Window> {
        let done = match self.pending.first() {
            Some(first) if seg.end - first.start > N_SAMPLES => self.flush(),
            _ => None,
        };
        self.pending.push(seg);
        done
    }

    /// Flushes the pending window once it can no longer grow (30 s have passed since it began),
    /// so that a long silence after speech is never buffered.
    pub fn flush_if_stale(&mut self, now: usize) -> Option<Window> {
        match self.pending.first() {
            Some(first) if now.saturating_sub(first.start) > N_SAMPLES => self.flush(),
            _ => None,
        }
    }

    /// The pending window, if any.
    pub fn flush(&mut self) -> Option<Window> {
        let (first, last) = (*self.pending.first()?, *self.pending.last()?);
        let from = first.start.saturating_sub(self.buffer_start);
        let to = (last.end - self.buffer_start).min(self.buffer.len());
        let audio = self.buffer[from.min(to)..to].to_vec();
        let speech = std::mem::take(&mut self.pending);
        Some(Window {
            start: first.start,
            audio,
            speech,
        })
    }

    /// Drops audio before `earliest` that no pending window needs.
    pub fn trim(&mut self, earliest: usize) {
        let keep_from = self
            .pending
            .first()
            .map_or(earliest, |s| s.start.min(earliest));
        if keep_from > self.buffer_start {
            let n = (keep_from - self.buffer_start).min(self.buffer.len());
            self.buffer.drain(..n);
            self.buffer_start += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mel::SAMPLE_RATE;

    #[test]
    fn segments_pack_into_windows_of_at_most_thirty_seconds() {
        let mut p = WindowPacker::default();
        p.append(&vec![0.1; 40 * SAMPLE_RATE]);
        let s = |a: f64, b: f64| {
            let (start, end) = (
                (a * SAMPLE_RATE as f64) as usize,
                (b * SAMPLE_RATE as f64) as usize,
            );
            Segment {
                start,
                end,
                speech_start: start,
                speech_end: end,
            }
        };
        assert!(p.add_segment(s(1.0, 10.0)).is_none());
        assert!(p.add_segment(s(12.0, 25.0)).is_none());
        let w = p
            .add_segment(s(26.0, 35.0))
            .expect("the third segment overflows 30 s");
        assert_eq!(w.start, SAMPLE_RATE);
        assert_eq!(w.audio.len(), 24 * SAMPLE_RATE);
        assert_eq!(w.speech.len(), 2);
        let last = p.flush().unwrap();
        assert_eq!(last.audio.len(), 9 * SAMPLE_RATE);
    }
}
