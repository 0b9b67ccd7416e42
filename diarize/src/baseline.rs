//! A deliberately simple diarizer to compare against: every pause-separated span is one turn of
//! one speaker; turns are taken in time order and join the first-seen speaker whose mean embedding
//! is at least [`BASELINE_THRESHOLD`] similar, else start a new speaker ("leader" clustering).

use crate::encoder::EMBEDDING_DIM;
use crate::layout::SpanRecord;

/// Cosine similarity at which a turn joins a speaker: midway between the same-voice floor (0.92)
/// and different-voice ceiling (0.81) measured for utterance-level GE2E embeddings on TTS voices (ARCHITECTURE.md, "Facts that cost time").
pub const BASELINE_THRESHOLD: f64 = 0.865;

fn normalised(v: &[f64]) -> Vec<f64> {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
    v.iter().map(|x| x / n).collect()
}

/// Cosine similarity of two vectors of any length.
fn cosine(a: &[f64], b: &[f64]) -> f64 {
    normalised(a)
        .iter()
        .zip(normalised(b))
        .map(|(x, y)| x * y)
        .sum()
}

/// Speaker and confidence per window (windows in span order). Confidence is the similarity of the
/// turn to its speaker's final mean.
pub(crate) fn assign_turns(spans: &[SpanRecord]) -> (Vec<usize>, Vec<f64>) {
    let turn_means: Vec<Vec<f64>> = spans
        .iter()
        .map(|s| {
            let mut sum = vec![0f64; EMBEDDING_DIM];
            for w in &s.windows {
                for (a, &e) in sum.iter_mut().zip(&w.embedding) {
                    *a += f64::from(e);
                }
            }
            normalised(&sum)
        })
        .collect();
    let mut speaker_sums: Vec<Vec<f64>> = Vec::new();
    let mut turn_speaker = Vec::with_capacity(spans.len());
    for mean in &turn_means {
        let best = speaker_sums
            .iter()
            .enumerate()
            .map(|(k, s)| (k, cosine(mean, s)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let k = match best {
            Some((k, sim)) if sim >= BASELINE_THRESHOLD => k,
            _ => {
                speaker_sums.push(vec![0.0; EMBEDDING_DIM]);
                speaker_sums.len() - 1
            }
        };
        for (a, b) in speaker_sums[k].iter_mut().zip(mean) {
            *a += b;
        }
        turn_speaker.push(k);
    }
    let mut speaker = Vec::new();
    let mut confidence = Vec::new();
    for ((span, mean), &k) in spans.iter().zip(&turn_means).zip(&turn_speaker) {
        let c = cosine(mean, &speaker_sums[k]).clamp(0.0, 1.0);
        for _ in &span.windows {
            speaker.push(k);
            confidence.push(c);
        }
    }
    (speaker, confidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::SpeakerWindow;

    fn span(start: f64, dir: usize) -> SpanRecord {
        let mut e = vec![0.01f32; EMBEDDING_DIM];
        e[dir] = 1.0;
        SpanRecord {
            start,
            end: start + 1.0,
            pauses: Vec::new(),
            windows: vec![SpeakerWindow {
                start,
                end: start + 1.0,
                embedding: e,
            }],
        }
    }

    #[test]
    fn turns_join_similar_speakers() {
        let spans = vec![
            span(0.0, 3),
            span(2.0, 9),
            span(4.0, 3),
            span(6.0, 9),
            span(8.0, 40),
        ];
        let (speaker, confidence) = assign_turns(&spans);
        assert_eq!(speaker, vec![0, 1, 0, 1, 2]);
        assert!(confidence.iter().all(|&c| c > 0.99));
    }
}
