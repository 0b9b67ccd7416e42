//! Word times fitted to the voice-activity detector's view of the audio.

use speechbatch_textfmt::Word;

/// Margin around detected speech inside which word times may fall.
pub const SNAP_MARGIN_S: f64 = 0.1;

/// Moves a word's start out of a pause to the next speech, and its end back to the last speech:
/// attention-based times blur across pauses that the VAD sees sharply.
pub fn snap_to_speech(start: f64, end: f64, speech: &[(f64, f64)]) -> (f64, f64) {
    let (first, last) = match (speech.first(), speech.last()) {
        (Some(f), Some(l)) => (f.0, l.1),
        _ => return (start, end.max(start)),
    };
    let mut s = start.clamp(first, last);
    let mut e = end.clamp(first, last);
    if let Some(next) = speech.iter().find(|seg| seg.1 > s) {
        if s < next.0 {
            s = next.0;
        }
    }
    if let Some(prev) = speech.iter().rev().find(|seg| seg.0 < e) {
        if e > prev.1 {
            e = prev.1;
        }
    }
    (s, e.max(s))
}

/// Where speech starts after a pause and ends before one, the detector's edges (32 ms windows)
/// are sharper than attention-based word times: the first word of each stretch of speech starts
/// at its onset, and the last ends at its offset.
pub fn fit_speech_edges(words: &mut [Word], heard: &[(f64, f64)]) {
    for &(onset, offset) in heard {
        let inside = |w: &Word| w.start < offset && w.end > onset - SNAP_MARGIN_S;
        if let Some(first) = words.iter_mut().find(|w| inside(w)) {
            if onset < first.end {
                first.start = onset;
            }
        }
        if let Some(last) = words.iter_mut().rev().find(|w| inside(w)) {
            if offset > last.start {
                last.end = offset;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_times_leave_pauses_for_the_speech_around_them() {
        let speech = [(1.0, 2.0), (3.0, 4.0)];
        assert_eq!(snap_to_speech(2.5, 3.5, &speech), (3.0, 3.5));
        assert_eq!(snap_to_speech(1.5, 2.7, &speech), (1.5, 2.0));
        assert_eq!(snap_to_speech(0.2, 1.5, &speech), (1.0, 1.5));
        assert_eq!(snap_to_speech(4.5, 4.9, &speech), (4.0, 4.0));
    }

    #[test]
    fn words_at_the_edges_of_speech_take_the_detectors_edges() {
        let w = |t: &str, start: f64, end: f64| Word {
            text: t.into(),
            start,
            end,
            confidence: 1.0,
        };
        let mut words = vec![
            w("a", 1.1, 1.5),
            w("b", 1.5, 1.8),
            w("c", 3.05, 3.4),
            w("d", 3.4, 3.6),
        ];
        fit_speech_edges(&mut words, &[(1.0, 2.0), (3.0, 4.0)]);
        let times: Vec<(f64, f64)> = words.iter().map(|w| (w.start, w.end)).collect();
        assert_eq!(times, vec![(1.0, 1.5), (1.5, 2.0), (3.0, 3.4), (3.4, 4.0)]);
    }
}
