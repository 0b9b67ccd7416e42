//! The streaming accumulator the engine feeds span by span.

use std::sync::Arc;

use crate::baseline;
use crate::config::ClusterConfig;
use crate::encoder::SpeakerEncoder;
use crate::error::DiarizeError;
use crate::layout::{segments, SpanRecord};
use crate::mel::SAMPLE_RATE;
use crate::refine::{assign, WindowView};
use crate::span::BandEnergy;
use crate::timeline::SpeakerTimeline;

/// Spans shorter than this (100 ms) carry no usable voice; words in them take the nearest label.
const MIN_SPAN_SAMPLES: usize = SAMPLE_RATE / 10;

/// Length of the longest of `pauses` within `[from, to]`.
fn longest_pause_inside(pauses: &[(f64, f64)], from: f64, to: f64) -> f64 {
    pauses
        .iter()
        .map(|&(a, b)| b.min(to) - a.max(from))
        .fold(0.0, f64::max)
}

/// Collects speaker embeddings span by span, then clusters them.
///
/// Memory is bounded by the embeddings (1 KiB per window, 2 windows a second of speech at the
/// default hop: about 7 MiB for an hour of speech) and a few pause times per span; no audio is kept
/// beyond the span being pushed.
#[derive(Debug)]
pub struct Diarizer {
    encoder: Arc<SpeakerEncoder>,
    config: ClusterConfig,
    spans: Vec<SpanRecord>,
    band: BandEnergy,
}

impl Diarizer {
    /// A diarizer with the default clustering settings.
    pub fn new(encoder: Arc<SpeakerEncoder>) -> Self {
        Self::with_config(encoder, ClusterConfig::default())
    }

    /// A diarizer with explicit clustering settings.
    pub fn with_config(encoder: Arc<SpeakerEncoder>, config: ClusterConfig) -> Self {
        Self {
            encoder,
            config,
            spans: Vec::new(),
            band: BandEnergy::default(),
        }
    }

    /// Embeds one speech span (16 kHz mono samples starting at `start_s` seconds). Spans may come
    /// in any order; they should not overlap.
    pub fn push_span(&mut self, samples: &[f32], start_s: f64) -> Result<(), DiarizeError> {
        if samples.len() < MIN_SPAN_SAMPLES {
            return Ok(());
        }
        let analysis = self.encoder.analyse_span(samples, start_s)?;
        self.band.merge(analysis.band);
        self.spans.push(SpanRecord {
            start: start_s,
            end: start_s + samples.len() as f64 / SAMPLE_RATE as f64,
            pauses: analysis.pauses,
            windows: analysis.windows,
        });
        Ok(())
    }

    /// Seconds of speech pushed so far (spans too short to embed excluded).
    pub fn speech_seconds(&self) -> f64 {
        self.spans.iter().map(|s| s.end - s.start).sum()
    }

    /// Whether the speech pushed so far is telephone band (nothing above 4.3 kHz).
    pub fn is_narrowband(&self) -> bool {
        self.band.is_narrowband()
    }

    fn sorted_spans(mut self) -> (Vec<SpanRecord>, bool, ClusterConfig) {
        self.spans.sort_by(|a, b| a.start.total_cmp(&b.start));
        let narrowband = self.band.is_narrowband();
        (self.spans, narrowband, self.config)
    }

    /// Clusters everything pushed into speakers.
    pub fn finish(self) -> SpeakerTimeline {
        let (spans, narrowband, config) = self.sorted_spans();
        let core = crate::layout::cores(&spans);
        let views: Vec<WindowView<'_>> = spans
            .iter()
            .enumerate()
            .flat_map(|(si, s)| s.windows.iter().map(move |w| (si, w)))
            .zip(&core)
            .map(|((si, w), &(a, b))| WindowView {
                span: si,
                length: w.end - w.start,
                core: b - a,
                inner_pause: longest_pause_inside(
                    &spans[si].pauses,
                    w.start + config.pause_edge_s,
                    w.end - config.pause_edge_s,
                ),
                embedding: &w.embedding,
            })
            .collect();
        let assignment = assign(&views, narrowband, &config);
        SpeakerTimeline::from_segments(segments(
            &spans,
            &assignment.speaker,
            &assignment.confidence,
        ))
    }

    /// The comparison baseline instead of [`Diarizer::finish`]: one speaker per span, spans joined
    /// greedily by mean-embedding similarity (see [`crate::baseline`]).
    pub fn finish_baseline(self) -> SpeakerTimeline {
        let (spans, _, _) = self.sorted_spans();
        let (speaker, confidence) = baseline::assign_turns(&spans);
        SpeakerTimeline::from_segments(segments(&spans, &speaker, &confidence))
    }
}
