//! Stand-ins for the engine's VAD (speech spans) and recogniser (words).

use super::{Conversation, SR};

/// VAD stand-in 1: reference turns widened by `pad` seconds, overlapping ones merged (so pauses
/// shorter than 2 × pad join two turns, possibly of different speakers, into one span).
pub fn reference_spans(r: &Conversation, pad: f64, duration: f64) -> Vec<(f64, f64)> {
    let mut turns: Vec<(f64, f64)> = r
        .turns
        .iter()
        .map(|t| ((t.start - pad).max(0.0), (t.end + pad).min(duration)))
        .collect();
    turns.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (a, b) in turns {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Runs of 10 ms frames louder than the 95th percentile minus 40 dB (and -60 dBFS), joined across
/// gaps shorter than `bridge` frames, as frame ranges.
fn loud_runs(samples: &[f32], bridge: usize) -> Vec<(usize, usize)> {
    const FRAME: usize = SR / 100;
    let db: Vec<f64> = samples
        .chunks(FRAME)
        .map(|f| {
            10.0 * (f.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>() / f.len() as f64
                + 1e-10)
                .log10()
        })
        .collect();
    if db.is_empty() {
        return Vec::new();
    }
    let mut sorted = db.clone();
    sorted.sort_by(f64::total_cmp);
    let threshold = (sorted[(sorted.len() - 1) * 95 / 100] - 40.0).max(-60.0);
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut start = None;
    for (i, &v) in db
        .iter()
        .chain(std::iter::once(&f64::NEG_INFINITY))
        .enumerate()
    {
        match (v > threshold, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                match runs.last_mut() {
                    Some(last) if (s - last.1) < bridge => last.1 = i,
                    _ => runs.push((s, i)),
                }
                start = None;
            }
            _ => {}
        }
    }
    runs
}

/// VAD stand-in 2: loud frames (see `loud_runs`) with gaps under 0.3 s bridged, spans padded by
/// 0.1 s, blips under 0.1 s dropped.
pub fn energy_spans(samples: &[f32]) -> Vec<(f64, f64)> {
    let duration = samples.len() as f64 / SR as f64;
    loud_runs(samples, 30)
        .into_iter()
        .filter(|(a, b)| b - a >= 10)
        .map(|(a, b)| {
            (
                (a as f64 / 100.0 - 0.1).max(0.0),
                (b as f64 / 100.0 + 0.1).min(duration),
            )
        })
        .collect()
}

/// VAD stand-in 3, segmented like the engine's silero settings: speech ends after 100 ms of
/// silence, segments under 250 ms are dropped, and each is padded by 400 ms, a gap shorter than
/// two paddings being split between its neighbours (silero's `get_speech_timestamps`). Spans
/// touch but never merge, and carry up to 0.4 s of silence at each end.
pub fn engine_like_spans(samples: &[f32]) -> Vec<(f64, f64)> {
    const PAD: f64 = 0.4;
    let duration = samples.len() as f64 / SR as f64;
    let runs: Vec<(f64, f64)> = loud_runs(samples, 10)
        .into_iter()
        .filter(|(a, b)| b - a >= 25)
        .map(|(a, b)| (a as f64 / 100.0, b as f64 / 100.0))
        .collect();
    let mut out = runs.clone();
    for i in 0..runs.len() {
        let before = if i == 0 {
            runs[i].0
        } else {
            runs[i].0 - runs[i - 1].1
        };
        let after = if i + 1 == runs.len() {
            duration - runs[i].1
        } else {
            runs[i + 1].0 - runs[i].1
        };
        out[i].0 = (runs[i].0 - PAD.min(before / 2.0).max(0.0)).max(0.0);
        out[i].1 = (runs[i].1 + PAD.min(after / 2.0).max(0.0)).min(duration);
        if i == 0 {
            out[i].0 = (runs[i].0 - PAD).max(0.0);
        }
        if i + 1 == runs.len() {
            out[i].1 = (runs[i].1 + PAD).min(duration);
        }
    }
    out
}

/// Recogniser stand-in: words of about 0.3 s tiling each reference turn.
pub fn pseudo_words(r: &Conversation) -> Vec<(f64, f64)> {
    let mut words = Vec::new();
    for t in &r.turns {
        let n = ((t.end - t.start) / 0.3).round().max(1.0) as usize;
        let d = (t.end - t.start) / n as f64;
        words.extend((0..n).map(|i| (t.start + i as f64 * d, t.start + (i + 1) as f64 * d)));
    }
    words.sort_by(|a, b| a.0.total_cmp(&b.0));
    words
}
