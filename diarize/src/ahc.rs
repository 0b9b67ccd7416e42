//! Agglomerative clustering of speaker embeddings with a normalised average linkage.
//!
//! Plain average linkage merges two clusters when the mean cosine similarity between their
//! members is high. How high two windows of the *same* voice score depends on the recording (a
//! clean TTS voice: 0.85, a telephone voice: 0.8, a 1 s window less than a 2 s one), so a fixed cut
//! on it moves with the material. Here the between-cluster mean similarity is divided by the
//! geometric mean of the two clusters' own within-cluster mean similarities: two halves of one
//! voice score about 1 whatever the material, two voices score their similarity relative to how
//! consistent each voice is. Small clusters' within-similarities are shrunk towards a prior so
//! that a pair of windows does not look perfectly consistent.
//!
//! `kodama` (the usual Rust crate for hierarchical clustering) offers the Lance–Williams linkages
//! over a fixed dissimilarity matrix; this linkage needs per-cluster within-similarity sums that
//! change as clusters grow, so it is written here, keeping the pairwise sums in one matrix.

/// Parameters of [`cluster`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkageParams {
    /// Stop merging when the best normalised linkage falls below this.
    pub threshold: f64,
    /// Prior within-cluster mean similarity for clusters with few pairs.
    pub prior_within: f64,
    /// Weight of that prior, in pairs.
    pub prior_pairs: f64,
}

/// Running sums of one cluster.
#[derive(Debug, Clone, Copy)]
struct Cluster {
    size: f64,
    /// Sum of similarities over unordered pairs of distinct members.
    within_sum: f64,
}

impl Cluster {
    fn within_mean(&self, p: &LinkageParams) -> f64 {
        let pairs = self.size * (self.size - 1.0) / 2.0;
        ((self.within_sum + p.prior_pairs * p.prior_within) / (pairs + p.prior_pairs)).max(1e-3)
    }
}

/// Normalised linkage of two clusters given the sum of similarities between their members.
pub(crate) fn normalised_linkage(
    between_sum: f64,
    size_a: f64,
    within_sum_a: f64,
    size_b: f64,
    within_sum_b: f64,
    p: &LinkageParams,
) -> f64 {
    let a = Cluster {
        size: size_a,
        within_sum: within_sum_a,
    };
    let b = Cluster {
        size: size_b,
        within_sum: within_sum_b,
    };
    (between_sum / (size_a * size_b)) / (a.within_mean(p) * b.within_mean(p)).sqrt()
}

/// Clusters unit vectors (`rows`, each of the same length); returns a cluster index per row,
/// numbered from 0 in order of each cluster's first row.
pub fn cluster(rows: &[&[f32]], p: &LinkageParams) -> Vec<usize> {
    let n = rows.len();
    if n <= 1 {
        return vec![0; n];
    }
    // between[i * n + j]: sum of similarities between clusters i and j (rows of merged clusters
    // are retired and their sums added into the survivor).
    let mut between = vec![0f64; n * n];
    for i in 0..n {
        for j in i + 1..n {
            let s: f32 = rows[i].iter().zip(rows[j]).map(|(a, b)| a * b).sum();
            between[i * n + j] = f64::from(s);
            between[j * n + i] = f64::from(s);
        }
    }
    let mut clusters = vec![
        Cluster {
            size: 1.0,
            within_sum: 0.0
        };
        n
    ];
    let mut alive = vec![true; n];
    let mut parent: Vec<usize> = (0..n).collect();
    let score = |between: &[f64], clusters: &[Cluster], i: usize, j: usize| {
        let (a, b) = (clusters[i], clusters[j]);
        normalised_linkage(
            between[i * n + j],
            a.size,
            a.within_sum,
            b.size,
            b.within_sum,
            p,
        )
    };
    // best[i]: the best partner of i and its score, kept up to date so that a merge costs O(n).
    let best_of = |between: &[f64], clusters: &[Cluster], alive: &[bool], i: usize| {
        (0..n)
            .filter(|&j| j != i && alive[j])
            .map(|j| (j, score(between, clusters, i, j)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    };
    let mut best: Vec<Option<(usize, f64)>> = (0..n)
        .map(|i| best_of(&between, &clusters, &alive, i))
        .collect();
    // Repeatedly merge the best pair while it clears the threshold.
    while let Some((i, (j, _))) = (0..n)
        .filter(|&i| alive[i])
        .filter_map(|i| best[i].map(|b| (i, b)))
        .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
        .filter(|&(_, (_, s))| s >= p.threshold)
    {
        // Merge j into i.
        let (keep, gone) = (i.min(j), i.max(j));
        clusters[keep].within_sum += clusters[gone].within_sum + between[keep * n + gone];
        clusters[keep].size += clusters[gone].size;
        alive[gone] = false;
        parent[gone] = keep;
        for k in 0..n {
            if alive[k] && k != keep {
                let v = between[keep * n + k] + between[gone * n + k];
                between[keep * n + k] = v;
                between[k * n + keep] = v;
            }
        }
        best[gone] = None;
        best[keep] = best_of(&between, &clusters, &alive, keep);
        for k in 0..n {
            if !alive[k] || k == keep {
                continue;
            }
            match best[k] {
                Some((b, _)) if b == keep || b == gone => {
                    best[k] = best_of(&between, &clusters, &alive, k)
                }
                Some((_, bs)) => {
                    let sk = score(&between, &clusters, k, keep);
                    if sk > bs {
                        best[k] = Some((keep, sk));
                    }
                }
                None => best[k] = best_of(&between, &clusters, &alive, k),
            }
        }
    }
    // Resolve each row to its surviving root, then number roots by first appearance.
    let root = |mut i: usize| {
        while parent[i] != i {
            i = parent[i];
        }
        i
    };
    let mut number = vec![usize::MAX; n];
    let mut next = 0;
    (0..n)
        .map(|i| {
            let r = root(i);
            if number[r] == usize::MAX {
                number[r] = next;
                next += 1;
            }
            number[r]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: LinkageParams = LinkageParams {
        threshold: 0.84,
        prior_within: 0.8,
        prior_pairs: 2.0,
    };

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn separates_two_groups_and_keeps_one_together() {
        // Two voices: noisy copies of two directions 60 degrees apart (cosine 0.5).
        let a = [1.0f32, 0.0, 0.0];
        let b = [0.5f32, 0.866, 0.0];
        let noisy = |base: &[f32; 3], k: usize| {
            let e = 0.25 * ((k as f32 * 1.7).sin());
            unit(&[base[0] + e, base[1] - e * 0.5, 0.3 + 0.2 * (k as f32).cos()])
        };
        let vs: Vec<Vec<f32>> = (0..6)
            .map(|k| noisy(&a, k))
            .chain((0..6).map(|k| noisy(&b, k)))
            .collect();
        let rows: Vec<&[f32]> = vs.iter().map(|v| v.as_slice()).collect();
        let labels = cluster(&rows, &P);
        assert_eq!(labels, vec![0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
        let one = cluster(&rows[..6], &P);
        assert!(one.iter().all(|&l| l == 0));
    }

    #[test]
    fn trivial_inputs() {
        assert!(cluster(&[], &P).is_empty());
        let v = [1.0f32, 0.0];
        assert_eq!(cluster(&[&v], &P), vec![0]);
    }
}
