//! The clustering's settings.

/// Tuning of the clustering. The defaults were chosen on the development conversations (2–4 TTS
/// voices, two of them telephone band) together with synthetic 1–6 voice mixtures and every
/// single-voice clip, wideband and telephone; see the crate's tests and `examples/diar_eval.rs`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusterConfig {
    /// Normalised-linkage stopping threshold for wideband audio.
    pub threshold_wideband: f64,
    /// Threshold for telephone-band audio. Without the band above 4 kHz all voices embed closer
    /// together: on synthetic mixtures of the devset voices, two different wideband voices reach
    /// at most 0.78 of a voice's own consistency, two telephone voices up to 0.89, so the cut sits
    /// higher (and telephone audio with two very alike voices remains the weak spot).
    pub threshold_narrowband: f64,
    /// Prior within-cluster mean cosine similarity for clusters with few windows.
    pub prior_within: f64,
    /// Weight of that prior, in window pairs.
    pub prior_pairs: f64,
    /// Windows shorter than this (short spans) are too noisy to define speakers; they are only
    /// assigned to the nearest speaker at the end.
    pub min_linkage_window_s: f64,
    /// Windows with a pause at least this long inside them (more than `pause_edge_s` from either
    /// end) may straddle a change of speaker and embed as a blend of two voices, which can found a
    /// spurious cluster; they do not define speakers either (linkage, centroids, merging), unless
    /// that would leave under 30% of the windows, and are assigned at the end.
    pub seed_pause_s: f64,
    /// See `seed_pause_s`.
    pub pause_edge_s: f64,
    /// At most this many windows enter the linkage (an evenly strided subset of longer recordings),
    /// which bounds its memory (n² sums) and time; all windows are assigned to centroids afterwards.
    pub max_linkage_windows: usize,
    /// A speaker with less labelled time than this is suspect...
    pub min_speaker_s: f64,
    /// ...and is folded into its nearest cluster when their normalised linkage reaches this.
    pub tiny_merge_threshold: f64,
    /// Confidence is a logistic function of the margin between the best and second-best centroid
    /// similarity, with this scale: a margin of 0.15 gives 0.95.
    pub margin_scale: f64,
    /// With a single speaker there is no second centroid; this similarity stands in for one (a
    /// typical similarity between different voices).
    pub lone_reference: f64,
    /// A window whose two neighbours in the same span agree on another speaker is flipped to
    /// theirs when it prefers its own centroid by less than this.
    pub smooth_margin: f64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            threshold_wideband: 0.84,
            threshold_narrowband: 0.88,
            prior_within: 0.8,
            prior_pairs: 2.0,
            min_linkage_window_s: 1.0,
            seed_pause_s: 0.25,
            pause_edge_s: 0.2,
            max_linkage_windows: 1000,
            min_speaker_s: 2.0,
            tiny_merge_threshold: 0.8,
            margin_scale: 0.05,
            lone_reference: 0.5,
            smooth_margin: 0.1,
        }
    }
}
