//! Turning labelled windows back into time: which stretch of a span each window's label covers,
//! and where exactly a speaker change inside a span goes.

use crate::encoder::SpeakerWindow;
use crate::timeline::TimelineSegment;

/// What the diarizer keeps of one pushed span (no audio).
#[derive(Debug, Clone)]
pub(crate) struct SpanRecord {
    pub start: f64,
    pub end: f64,
    /// Low-energy runs of at least 100 ms inside the span.
    pub pauses: Vec<(f64, f64)>,
    pub windows: Vec<SpeakerWindow>,
}

fn centre(w: &SpeakerWindow) -> f64 {
    (w.start + w.end) / 2.0
}

/// The stretch each window speaks for, for all windows in span order: the span is divided at the
/// midpoints between consecutive window centres, so every instant of a span belongs to the
/// window centred nearest to it.
pub(crate) fn cores(spans: &[SpanRecord]) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for span in spans {
        let ws = &span.windows;
        for (i, w) in ws.iter().enumerate() {
            let start = if i == 0 {
                span.start
            } else {
                (centre(&ws[i - 1]) + centre(w)) / 2.0
            };
            let end = if i + 1 == ws.len() {
                span.end
            } else {
                (centre(w) + centre(&ws[i + 1])) / 2.0
            };
            out.push((start, end));
        }
    }
    out
}

/// The pause to put a speaker change in, between two window centres: the longest stretch of pause
/// within a quarter window either side of them. Speakers rarely change mid-word; a turn change
/// almost always sits in a pause, and the embeddings alone only place it to within a hop.
fn snap(pauses: &[(f64, f64)], from: f64, to: f64) -> Option<f64> {
    pauses
        .iter()
        .map(|&(a, b)| (a.max(from), b.min(to)))
        .filter(|(a, b)| b > a)
        .max_by(|x, y| (x.1 - x.0).total_cmp(&(y.1 - y.0)))
        .map(|(a, b)| (a + b) / 2.0)
}

/// Timeline segments: one per window, covering its core, with speaker changes inside a span moved
/// into the nearest pause.
pub(crate) fn segments(
    spans: &[SpanRecord],
    speaker: &[usize],
    confidence: &[f64],
) -> Vec<TimelineSegment> {
    let core = cores(spans);
    let mut segs: Vec<TimelineSegment> = core
        .iter()
        .zip(speaker.iter().zip(confidence))
        .map(|(&(start, end), (&s, &c))| TimelineSegment {
            start,
            end,
            speaker: s as u32,
            confidence: c,
        })
        .collect();
    let mut i = 0;
    for span in spans {
        let ws = &span.windows;
        for j in 0..ws.len().saturating_sub(1) {
            let (a, b) = (i + j, i + j + 1);
            if segs[a].speaker == segs[b].speaker {
                continue;
            }
            let reach = (ws[j].end - ws[j].start) / 4.0;
            if let Some(t) = snap(
                &span.pauses,
                centre(&ws[j]) - reach,
                centre(&ws[j + 1]) + reach,
            ) {
                // Keep both segments non-empty and in order.
                let t = t.clamp(
                    segs[a].start + 0.01,
                    (segs[b].end - 0.01).max(segs[a].start + 0.01),
                );
                segs[a].end = t;
                segs[b].start = t;
            }
        }
        i += ws.len();
    }
    segs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(start: f64, end: f64) -> SpeakerWindow {
        SpeakerWindow {
            start,
            end,
            embedding: Vec::new(),
        }
    }

    fn span() -> SpanRecord {
        SpanRecord {
            start: 10.0,
            end: 12.5,
            pauses: vec![(11.3, 11.7)],
            windows: vec![w(10.0, 11.5), w(10.5, 12.0), w(11.0, 12.5)],
        }
    }

    #[test]
    fn cores_tile_the_span() {
        let c = cores(&[span()]);
        assert_eq!(c, vec![(10.0, 11.0), (11.0, 11.5), (11.5, 12.5)]);
    }

    #[test]
    fn speaker_change_moves_into_the_pause() {
        let segs = segments(&[span()], &[0, 0, 1], &[0.9, 0.9, 0.9]);
        assert!((segs[1].end - 11.5).abs() < 1e-9 && (segs[2].start - 11.5).abs() < 1e-9);
        let segs = segments(&[span()], &[0, 1, 1], &[0.9, 0.9, 0.9]);
        // Pause 11.3..11.7 clipped to the search range 10.375..11.625, then centred.
        assert!((segs[0].end - 11.4625).abs() < 1e-9 && (segs[1].start - 11.4625).abs() < 1e-9);
        let no_pause = SpanRecord {
            pauses: Vec::new(),
            ..span()
        };
        let segs = segments(&[no_pause], &[0, 1, 1], &[0.9, 0.9, 0.9]);
        assert!((segs[0].end - 11.0).abs() < 1e-9);
    }
}
