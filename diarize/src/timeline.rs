//! The result of diarization: who spoke when, and the per-word labels of the batch interface.

/// One stretch of time attributed to one speaker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimelineSegment {
    /// Start in seconds.
    pub start: f64,
    /// End in seconds.
    pub end: f64,
    /// Speaker index (internal numbering; [`SpeakerTimeline::label_words`] renumbers).
    pub speaker: u32,
    /// How sure the clustering is, 0..1.
    pub confidence: f64,
}

/// One entry of the interface's `speaker_labels[]`: the speaker of one word.
#[derive(serde::Serialize, Debug, Clone, PartialEq)]
pub struct SpeakerLabel {
    // Declared in the interface's order, which serde keeps in the JSON.
    /// Speaker, numbered from 0 in order of first appearance among the words.
    pub speaker: u32,
    /// Confidence of the attribution, 0..1.
    pub confidence: f64,
    /// True only on the last label of the recording.
    #[serde(rename = "final")]
    pub final_: bool,
    /// Word start in seconds.
    pub from: f64,
    /// Word end in seconds.
    pub to: f64,
}

/// Clustered speech: a speaker and a confidence per stretch of time, in time order and not
/// overlapping. Stretches come from the embedding windows (each covers the hop around its
/// window's centre, speaker changes moved into pauses where there are any).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpeakerTimeline {
    segments: Vec<TimelineSegment>,
}

/// A word's distance to a segment (0 when they overlap).
fn gap(seg: &TimelineSegment, from: f64, to: f64) -> f64 {
    (seg.start - to).max(from - seg.end).max(0.0)
}

impl SpeakerTimeline {
    /// Builds a timeline from segments (sorted here by start).
    pub fn from_segments(mut segments: Vec<TimelineSegment>) -> Self {
        segments.retain(|s| s.end > s.start);
        segments.sort_by(|a, b| a.start.total_cmp(&b.start));
        Self { segments }
    }

    /// The segments, in time order.
    pub fn segments(&self) -> &[TimelineSegment] {
        &self.segments
    }

    /// Number of distinct speakers found.
    pub fn num_speakers(&self) -> usize {
        let mut ids: Vec<u32> = self.segments.iter().map(|s| s.speaker).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }

    /// Speaker and confidence for a word spanning `[from, to]`: the speaker with the most overlap;
    /// when nothing overlaps (a word in a pause), the nearest segment's, with the confidence
    /// decaying by distance. Confidence is the overlap-weighted confidence of the chosen speaker's
    /// segments times the share of the word they cover, so words straddling a change score lower.
    fn speaker_of(&self, from: f64, to: f64) -> Option<(u32, f64)> {
        let (from, to) = (from.min(to), from.max(to));
        // Segments are sorted and disjoint: binary search for the first that may overlap.
        let first = self.segments.partition_point(|s| s.end <= from);
        let mut overlap: Vec<(u32, f64, f64)> = Vec::new(); // speaker, time, time × confidence
        for seg in self.segments[first..].iter().take_while(|s| s.start < to) {
            let o = seg.end.min(to) - seg.start.max(from);
            if o <= 0.0 {
                continue;
            }
            match overlap.iter_mut().find(|e| e.0 == seg.speaker) {
                Some(e) => {
                    e.1 += o;
                    e.2 += o * seg.confidence;
                }
                None => overlap.push((seg.speaker, o, o * seg.confidence)),
            }
        }
        if let Some(&(speaker, time, weighted)) = overlap.iter().max_by(|a, b| a.1.total_cmp(&b.1))
        {
            let total: f64 = overlap.iter().map(|e| e.1).sum();
            return Some((speaker, weighted / time * (time / total)));
        }
        // Nothing overlaps: the word lies between segment `first - 1` and segment `first`.
        first
            .checked_sub(1)
            .into_iter()
            .chain((first < self.segments.len()).then_some(first))
            .map(|i| &self.segments[i])
            .min_by(|a, b| gap(a, from, to).total_cmp(&gap(b, from, to)))
            .map(|seg| {
                (
                    seg.speaker,
                    seg.confidence * (-gap(seg, from, to) / 2.0).exp(),
                )
            })
    }

    /// One label per word (`(from, to)` in seconds, in the order given): speakers renumbered from 0
    /// in order of first appearance among the words, `final` set on the last label only. With no
    /// speech at all every word gets speaker 0 with confidence 0.
    pub fn label_words(&self, words: &[(f64, f64)]) -> Vec<SpeakerLabel> {
        let mut numbering: Vec<u32> = Vec::new();
        let n = words.len();
        words
            .iter()
            .enumerate()
            .map(|(i, &(from, to))| {
                let (raw, confidence) = self.speaker_of(from, to).unwrap_or((0, 0.0));
                let speaker = match numbering.iter().position(|&s| s == raw) {
                    Some(p) => p,
                    None => {
                        numbering.push(raw);
                        numbering.len() - 1
                    }
                } as u32;
                SpeakerLabel {
                    from,
                    to,
                    speaker,
                    confidence: confidence.clamp(0.0, 1.0),
                    final_: i + 1 == n,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start: f64, end: f64, speaker: u32, confidence: f64) -> TimelineSegment {
        TimelineSegment {
            start,
            end,
            speaker,
            confidence,
        }
    }

    fn timeline() -> SpeakerTimeline {
        SpeakerTimeline::from_segments(vec![
            seg(0.0, 1.0, 5, 0.9),
            seg(1.0, 2.0, 5, 0.7),
            seg(3.0, 4.0, 2, 0.8),
            seg(4.0, 5.0, 5, 0.6),
        ])
    }

    #[test]
    fn words_get_majority_speaker_renumbered_by_first_appearance() {
        let labels = timeline().label_words(&[(3.2, 3.5), (0.2, 0.5), (3.9, 4.3), (4.5, 4.8)]);
        let speakers: Vec<u32> = labels.iter().map(|l| l.speaker).collect();
        assert_eq!(speakers, vec![0, 1, 1, 1]);
        assert!((labels[0].confidence - 0.8).abs() < 1e-9);
        // 0.1 s of speaker 2 at 0.8 and 0.3 s of speaker 5 at 0.6: speaker 5, with 0.6 * 0.75.
        assert!((labels[2].confidence - 0.45).abs() < 1e-9);
        assert_eq!(labels.iter().filter(|l| l.final_).count(), 1);
        assert!(labels[3].final_);
        assert_eq!((labels[1].from, labels[1].to), (0.2, 0.5));
    }

    #[test]
    fn word_in_a_pause_takes_the_nearest_segment() {
        let labels = timeline().label_words(&[(2.1, 2.3), (2.8, 2.9), (7.0, 7.5)]);
        assert_eq!(labels[0].speaker, 0);
        assert_eq!(labels[1].speaker, 1);
        assert_eq!(labels[2].speaker, 0);
        assert!(labels[0].confidence < 0.7 && labels[0].confidence > 0.6);
        assert!(labels[2].confidence < labels[0].confidence);
    }

    #[test]
    fn no_speech_gives_speaker_zero_with_no_confidence() {
        let labels = SpeakerTimeline::default().label_words(&[(0.0, 0.5), (0.5, 1.0)]);
        assert!(labels.iter().all(|l| l.speaker == 0 && l.confidence == 0.0));
        assert!(!labels[0].final_ && labels[1].final_);
        assert!(SpeakerTimeline::default().label_words(&[]).is_empty());
    }

    #[test]
    fn serialises_like_the_interface() {
        let l = &timeline().label_words(&[(0.1, 0.4)])[0];
        let json = serde_json::to_value(l).unwrap();
        assert_eq!(json["final"], true);
        assert_eq!(json["speaker"], 0);
        assert!(json.get("final_").is_none());
    }

    #[test]
    fn counts_speakers() {
        assert_eq!(timeline().num_speakers(), 2);
        assert_eq!(SpeakerTimeline::default().num_speakers(), 0);
    }
}
