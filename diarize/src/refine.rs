//! From window embeddings to a speaker and a confidence per window: linkage clustering of the
//! windows that cleanly carry one voice, then a refinement pass (re-assign them to cluster
//! centroids, merge look-alike and tiny clusters), then every window to its nearest speaker, and
//! isolated low-margin flips inside a span undone.

use crate::ahc::{cluster, normalised_linkage, LinkageParams};
use crate::config::ClusterConfig;
use crate::encoder::EMBEDDING_DIM;

/// A window as the clustering sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowView<'a> {
    /// Index of the span the window belongs to (windows are ordered by span, then time).
    pub span: usize,
    /// Window length in seconds.
    pub length: f64,
    /// Time this window's label covers (its share of the span).
    pub core: f64,
    /// Longest pause inside the window, ignoring `pause_edge_s` at either end.
    pub inner_pause: f64,
    pub embedding: &'a [f32],
}

/// Speaker index (0-based, dense) and confidence for every window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Assignment {
    pub speaker: Vec<usize>,
    pub confidence: Vec<f64>,
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum()
}

/// Sum of the (unit) embeddings of one cluster, with its size and labelled time. Sums are all the
/// linkage needs: the similarities summed over two clusters' pairs is the dot product of their sums.
#[derive(Debug, Clone)]
struct ClusterSum {
    sum: Vec<f64>,
    count: f64,
    time: f64,
}

impl ClusterSum {
    fn within_sum(&self) -> f64 {
        (self.sum.iter().map(|x| x * x).sum::<f64>() - self.count) / 2.0
    }

    fn direction(&self) -> Vec<f32> {
        let norm = self
            .sum
            .iter()
            .map(|x| x * x)
            .sum::<f64>()
            .sqrt()
            .max(1e-12);
        self.sum.iter().map(|x| (x / norm) as f32).collect()
    }
}

fn sums(windows: &[WindowView<'_>], labels: &[usize], k: usize) -> Vec<ClusterSum> {
    let mut out = vec![
        ClusterSum {
            sum: vec![0.0; EMBEDDING_DIM],
            count: 0.0,
            time: 0.0
        };
        k
    ];
    for (w, &l) in windows.iter().zip(labels) {
        let c = &mut out[l];
        for (s, &e) in c.sum.iter_mut().zip(w.embedding) {
            *s += f64::from(e);
        }
        c.count += 1.0;
        c.time += w.core;
    }
    out
}

/// Index of the most similar centroid and the similarities to all of them.
fn nearest(e: &[f32], centroids: &[Vec<f32>]) -> (usize, Vec<f64>) {
    let sims: Vec<f64> = centroids.iter().map(|c| dot(e, c)).collect();
    let best = sims
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i);
    (best, sims)
}

/// Renumbers `labels` densely and returns the unit centroid of each cluster.
fn centroids_of(windows: &[WindowView<'_>], labels: &mut [usize]) -> Vec<Vec<f32>> {
    let k = compact(labels);
    sums(windows, labels, k)
        .iter()
        .map(ClusterSum::direction)
        .collect()
}

/// Each window's nearest centroid.
fn nearest_labels(windows: &[WindowView<'_>], centroids: &[Vec<f32>]) -> Vec<usize> {
    windows
        .iter()
        .map(|w| nearest(w.embedding, centroids).0)
        .collect()
}

/// Renumbers labels densely (dropping empty clusters); returns the number of clusters.
fn compact(labels: &mut [usize]) -> usize {
    let mut map: Vec<Option<usize>> = Vec::new();
    let mut next = 0;
    for l in labels.iter_mut() {
        if *l >= map.len() {
            map.resize(*l + 1, None);
        }
        let id = *map[*l].get_or_insert_with(|| {
            next += 1;
            next - 1
        });
        *l = id;
    }
    next
}

/// Normalised linkage between two clusters from their sums.
fn linkage(a: &ClusterSum, b: &ClusterSum, link: &LinkageParams) -> f64 {
    let between: f64 = a.sum.iter().zip(&b.sum).map(|(x, y)| x * y).sum();
    normalised_linkage(
        between,
        a.count,
        a.within_sum(),
        b.count,
        b.within_sum(),
        link,
    )
}

/// Merges clusters that the linkage criterion would not have kept apart: any pair whose
/// normalised linkage reaches the threshold (re-assignment can leave two halves of one voice
/// apart, most of all in long recordings where a voice's delivery drifts), then, with
/// `fold_tiny`, clusters with less than `min_speaker_s` of labelled time into their nearest
/// neighbour when the two look alike. Returns true if anything changed.
fn merge_clusters(
    windows: &[WindowView<'_>],
    labels: &mut [usize],
    cfg: &ClusterConfig,
    link: &LinkageParams,
    fold_tiny: bool,
) -> bool {
    let mut changed = false;
    loop {
        let k = compact(labels);
        if k <= 1 {
            return changed;
        }
        let cs = sums(windows, labels, k);
        let best_pair = (0..k)
            .flat_map(|a| (a + 1..k).map(move |b| (a, b)))
            .map(|(a, b)| (a, b, linkage(&cs[a], &cs[b], link)))
            .max_by(|x, y| x.2.total_cmp(&y.2));
        let alike = best_pair
            .filter(|p| p.2 >= link.threshold)
            .map(|(a, b, _)| (b, a));
        let tiny = || {
            let mut order: Vec<usize> =
                (0..k).filter(|&c| cs[c].time < cfg.min_speaker_s).collect();
            order.sort_by(|&a, &b| cs[a].time.total_cmp(&cs[b].time));
            order.into_iter().find_map(|c| {
                let (target, score) = (0..k)
                    .filter(|&o| o != c)
                    .map(|o| (o, linkage(&cs[c], &cs[o], link)))
                    .max_by(|a, b| a.1.total_cmp(&b.1))?;
                (score >= cfg.tiny_merge_threshold).then_some((c, target))
            })
        };
        let Some((from, to)) = alike.or_else(|| if fold_tiny { tiny() } else { None }) else {
            return changed;
        };
        for l in labels.iter_mut() {
            if *l == from {
                *l = to;
            }
        }
        changed = true;
    }
}

/// Clusters the windows of a recording and assigns each a speaker and a confidence.
pub(crate) fn assign(
    windows: &[WindowView<'_>],
    narrowband: bool,
    cfg: &ClusterConfig,
) -> Assignment {
    let n = windows.len();
    if n == 0 {
        return Assignment {
            speaker: Vec::new(),
            confidence: Vec::new(),
        };
    }
    let link = LinkageParams {
        threshold: if narrowband {
            cfg.threshold_narrowband
        } else {
            cfg.threshold_wideband
        },
        prior_within: cfg.prior_within,
        prior_pairs: cfg.prior_pairs,
    };
    // 1. The windows that define speakers: long enough to carry a voice and, unless too few are,
    //    without a pause inside (such windows may blend two voices, or embed the silence).
    let mut clean: Vec<usize> = (0..n)
        .filter(|&i| windows[i].length >= cfg.min_linkage_window_s - 1e-6)
        .collect();
    let unbroken: Vec<usize> = clean
        .iter()
        .copied()
        .filter(|&i| windows[i].inner_pause < cfg.seed_pause_s)
        .collect();
    if unbroken.len() >= 2 && unbroken.len() * 10 >= clean.len() * 3 {
        clean = unbroken;
    }
    if clean.len() < 2 {
        clean = (0..n).collect();
    }
    let clean_views: Vec<WindowView<'_>> = clean.iter().map(|&i| windows[i]).collect();

    // 2. Linkage clustering over them (an evenly strided subset in long recordings).
    let stride = clean.len().div_ceil(cfg.max_linkage_windows).max(1);
    let seed_views: Vec<WindowView<'_>> = clean_views.iter().copied().step_by(stride).collect();
    let rows: Vec<&[f32]> = seed_views.iter().map(|w| w.embedding).collect();
    let mut seed_labels = cluster(&rows, &link);
    let mut centroids = centroids_of(&seed_views, &mut seed_labels);

    // 3. Refinement of the defining windows: each to its nearest centroid, look-alike and tiny
    //    clusters merged, centroids recomputed, until the labels settle.
    let mut labels = nearest_labels(&clean_views, &centroids);
    for _ in 0..8 {
        merge_clusters(&clean_views, &mut labels, cfg, &link, true);
        centroids = centroids_of(&clean_views, &mut labels);
        let next = nearest_labels(&clean_views, &centroids);
        if next == labels {
            break;
        }
        labels = next;
    }
    centroids = centroids_of(&clean_views, &mut labels);

    // Every window, defining or not, goes to its nearest speaker; the result must still pass the
    // merge criterion over all windows (on long recordings, the defining windows alone can keep
    // two halves of one voice just apart).
    let mut labels = nearest_labels(windows, &centroids);
    if merge_clusters(windows, &mut labels, cfg, &link, false) {
        centroids = centroids_of(windows, &mut labels);
        labels = nearest_labels(windows, &centroids);
        centroids = centroids_of(windows, &mut labels);
    }

    // 4. Confidence from the margin between the chosen and the runner-up centroid.
    let sims: Vec<Vec<f64>> = windows
        .iter()
        .map(|w| nearest(w.embedding, &centroids).1)
        .collect();
    let margin = |i: usize, own: usize| {
        let runner_up = sims[i]
            .iter()
            .enumerate()
            .filter(|&(c, _)| c != own)
            .map(|(_, &s)| s)
            .fold(f64::NEG_INFINITY, f64::max);
        let other = if runner_up.is_finite() {
            runner_up
        } else {
            cfg.lone_reference
        };
        sims[i][own] - other
    };

    // 5. Smoothing: an isolated window inside a span that barely prefers its own speaker joins
    //    its neighbours (speaker turns shorter than a hop are not resolvable anyway).
    for i in 1..n.saturating_sub(1) {
        let (prev, next) = (labels[i - 1], labels[i + 1]);
        let same_span =
            windows[i - 1].span == windows[i].span && windows[i + 1].span == windows[i].span;
        if same_span
            && prev == next
            && labels[i] != prev
            && sims[i][labels[i]] - sims[i][prev] < cfg.smooth_margin
        {
            labels[i] = prev;
        }
    }
    let confidence = (0..n)
        .map(|i| 1.0 / (1.0 + (-margin(i, labels[i]) / cfg.margin_scale).exp()))
        .collect();
    Assignment {
        speaker: labels,
        confidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: Vec<f32>) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }

    /// A voice: a base direction plus deterministic per-window jitter.
    fn voice(base: usize, k: usize) -> Vec<f32> {
        let mut v = vec![0.05f32; EMBEDDING_DIM];
        v[base] = 1.0;
        v[base + 1] = 0.6;
        v[(base + 7 * k + 3) % EMBEDDING_DIM] += 0.25;
        unit(v)
    }

    fn views<'a>(embs: &'a [Vec<f32>], spans: &[usize]) -> Vec<WindowView<'a>> {
        embs.iter()
            .zip(spans)
            .map(|(e, &s)| WindowView {
                span: s,
                length: 1.5,
                core: 0.5,
                inner_pause: 0.0,
                embedding: e,
            })
            .collect()
    }

    #[test]
    fn two_voices_two_speakers_with_confidence() {
        let embs: Vec<Vec<f32>> = (0..8)
            .map(|k| voice(10, k))
            .chain((0..8).map(|k| voice(100, k)))
            .collect();
        let spans: Vec<usize> = (0..16).map(|i| i / 4).collect();
        let a = assign(&views(&embs, &spans), false, &ClusterConfig::default());
        assert_eq!(a.speaker, [vec![0; 8], vec![1; 8]].concat());
        assert!(a.confidence.iter().all(|&c| c > 0.9 && c <= 1.0));
    }

    #[test]
    fn one_voice_stays_one_speaker() {
        let embs: Vec<Vec<f32>> = (0..12).map(|k| voice(10, k)).collect();
        let spans: Vec<usize> = (0..12).map(|i| i / 3).collect();
        let a = assign(&views(&embs, &spans), false, &ClusterConfig::default());
        assert!(a.speaker.iter().all(|&s| s == 0));
        assert!(a.confidence.iter().all(|&c| c > 0.5));
    }

    #[test]
    fn compact_renumbers_densely() {
        let mut l = vec![4, 4, 2, 7, 2];
        assert_eq!(compact(&mut l), 3);
        assert_eq!(l, vec![0, 0, 1, 2, 1]);
    }
}
