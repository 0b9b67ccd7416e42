//! Stand-ins for the engine's VAD (speech spans) and recogniser (words).

use super::{Reference, SR};

/// VAD stand-in 1: reference turns widened by `pad` seconds, overlapping ones merged (so pauses
/// shorter than 2 × pad join two turns, possibly of different speakers, into one span).
pub fn reference_spans(r: &Reference, pad: f64, duration: f64) -> Vec<(f64, f64)> {
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

/// VAD stand-in 2: 10 ms frames louder than the 95th percentile minus 40 dB (and -60 dBFS) are
/// speech; gaps under 0.3 s are bridged, spans padded by 0.1 s, blips under 0.1 s dropped.
pub fn energy_spans(samples: &[f32]) -> Vec<(f64, f64)> {
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
                    Some(last) if (s - last.1) < 30 => last.1 = i,
                    _ => runs.push((s, i)),
                }
                start = None;
            }
            _ => {}
        }
    }
    let duration = samples.len() as f64 / SR as f64;
    runs.into_iter()
        .filter(|(a, b)| b - a >= 10)
        .map(|(a, b)| {
            (
                (a as f64 / 100.0 - 0.1).max(0.0),
                (b as f64 / 100.0 + 0.1).min(duration),
            )
        })
        .collect()
}

/// Recogniser stand-in: words of about 0.3 s tiling each reference turn.
pub fn pseudo_words(r: &Reference) -> Vec<(f64, f64)> {
    let mut words = Vec::new();
    for t in &r.turns {
        let n = ((t.end - t.start) / 0.3).round().max(1.0) as usize;
        let d = (t.end - t.start) / n as f64;
        words.extend((0..n).map(|i| (t.start + i as f64 * d, t.start + (i + 1) as f64 * d)));
    }
    words.sort_by(|a, b| a.0.total_cmp(&b.0));
    words
}
