//! The Moonshine encoder and merged decoder graphs on ONNX Runtime (as `setup/convert_moonshine.py`
//! writes them), behind a small synchronous interface: encode a stretch of speech, run one
//! decoder step.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Mutex;

use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, Tensor};
use serde::Deserialize;

use crate::runtime::{self, ort_err, read_meta};
use crate::EngineError;

/// Shape facts of the converted model (`moonshine.json`, read from the graphs by the converter).
#[derive(Debug, Clone, Deserialize)]
pub struct MoonshineMeta {
    /// The input's sample rate.
    pub sample_rate: usize,
    /// Encoder convolutions, `[kernel, stride]`, unpadded: they give the frame count.
    pub convolutions: Vec<[usize; 2]>,
    /// Samples per encoder frame (the product of the strides).
    pub samples_per_frame: usize,
    /// Samples one frame sees: inputs shorter than this make no frame at all.
    pub frame_receptive_field: usize,
    /// Width of the encoder's output.
    pub d_model: usize,
    /// Decoder layers.
    pub decoder_layers: usize,
    /// Attention heads per layer.
    pub heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Columns of the logits (the vocabulary padded to a multiple of 64).
    pub logits_size: usize,
    /// Ids with text (those above have none).
    pub vocab_size: usize,
    /// The start token.
    pub bos_id: u32,
    /// The end token.
    pub eos_id: u32,
    /// Most tokens per second of audio that greedy decoding may produce.
    pub max_tokens_per_second: f32,
    /// Whether the decoder outputs `cross_attentions.L` (needed for word times).
    pub cross_attentions: bool,
}

impl MoonshineMeta {
    /// Encoder frames for `samples` samples of input (at least [`Self::frame_receptive_field`]).
    pub fn frames(&self, samples: usize) -> usize {
        self.convolutions
            .iter()
            .fold(samples, |n, &[kernel, stride]| {
                n.saturating_sub(kernel) / stride + 1
            })
    }

    /// Seconds per encoder frame (24 ms).
    pub fn seconds_per_frame(&self) -> f64 {
        self.samples_per_frame as f64 / self.sample_rate as f64
    }
}

/// The encoder's output for one chunk of speech.
pub struct EncodedSpeech {
    hidden: DynValue,
    /// Encoder frames.
    pub frames: usize,
}

/// The decoder's state between steps: the self-attention cache, and the cross-attention keys
/// and values that the first step computed from the encoder output.
pub struct DecoderState {
    self_kv: Vec<DynValue>,
    /// Empty until the first step; then `[layers][key, value]` flattened.
    cross_kv: Vec<DynValue>,
}

/// What one decoder step returns.
pub struct StepOutput {
    /// Logits of the next token (`logits_size` columns).
    pub logits: Vec<f32>,
    /// Every head's cross-attention weights for the new position: `[layers][heads][frames]`.
    pub attention: Vec<f32>,
}

/// One loaded Moonshine model. As with Whisper, each session sits behind a mutex: callers on
/// several threads take turns, and each call already uses every intra-op thread.
pub struct MoonshineModel {
    meta: MoonshineMeta,
    encoder: Mutex<Session>,
    decoder: Mutex<Session>,
}

impl MoonshineModel {
    /// Loads `encoder.onnx`, `decoder.onnx` and `moonshine.json` from `dir`, on `threads`
    /// intra-op threads each.
    pub fn load(dir: &Path, threads: usize) -> Result<Self, EngineError> {
        let meta_path = dir.join("moonshine.json");
        let meta: MoonshineMeta = read_meta(&meta_path)?;
        if !meta.cross_attentions {
            return Err(EngineError::Model(format!(
                "{}: the decoder has no cross-attention outputs, which word timing needs \
                 (convert with --cross-attentions: run setup/models.sh)",
                meta_path.display()
            )));
        }
        Ok(Self {
            encoder: Mutex::new(runtime::session(&dir.join("encoder.onnx"), threads)?),
            decoder: Mutex::new(runtime::session(&dir.join("decoder.onnx"), threads)?),
            meta,
        })
    }

    /// The model's shape facts.
    pub fn meta(&self) -> &MoonshineMeta {
        &self.meta
    }

    /// Runs the encoder over 16 kHz samples in [-1, 1]. Input shorter than one frame's receptive
    /// field is padded with silence (the graph fails on it otherwise).
    pub fn encode(&self, samples: &[f32]) -> Result<EncodedSpeech, EngineError> {
        let mut input = samples.to_vec();
        if input.len() < self.meta.frame_receptive_field {
            input.resize(self.meta.frame_receptive_field, 0.0);
        }
        let n = input.len();
        let value = Tensor::from_array(([1usize, n], input)).map_err(ort_err("encoder input"))?;
        let mut session = speechbatch_runtime::lock(&self.encoder);
        let mut out = session
            .run(ort::inputs!["input_values" => value])
            .map_err(ort_err("encoder"))?;
        let hidden = out
            .remove("last_hidden_state")
            .ok_or_else(|| EngineError::Inference("encoder has no last_hidden_state".into()))?;
        let frames = hidden
            .shape()
            .get(1)
            .copied()
            .ok_or_else(|| EngineError::Inference("encoder output has no frame axis".into()))?
            as usize;
        Ok(EncodedSpeech { hidden, frames })
    }

    /// A decoder state before the first step.
    pub fn start(&self) -> DecoderState {
        DecoderState {
            self_kv: Vec::new(),
            cross_kv: Vec::new(),
        }
    }

    fn empty(&self, shape: [usize; 4]) -> Result<DynValue, EngineError> {
        Ok(Tensor::from_array((shape, Vec::<f32>::new()))
            .map_err(ort_err("empty cache"))?
            .into_dyn())
    }

    /// Feeds `token` after what `state` holds; updates the state. The first step runs the
    /// graph's no-cache branch, which computes the cross-attention keys and values from
    /// `speech`; later steps run the cached branch, which ignores `speech` and returns only
    /// empty placeholders for those keys and values, so the first step's are kept and fed back.
    pub fn decode_step(
        &self,
        speech: &EncodedSpeech,
        token: u32,
        state: &mut DecoderState,
    ) -> Result<StepOutput, EngineError> {
        let m = &self.meta;
        let first = state.cross_kv.is_empty();
        let ids = Tensor::from_array(([1usize, 1], vec![i64::from(token)]))
            .map_err(ort_err("decoder input"))?;
        let branch =
            Tensor::from_array(([1usize], vec![!first])).map_err(ort_err("decoder input"))?;
        let no_past = self.empty([1, m.heads, 0, m.head_dim])?;
        let no_speech = Tensor::from_array(([1usize, 0, m.d_model], Vec::<f32>::new()))
            .map_err(ort_err("decoder input"))?
            .into_dyn();
        let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> =
            Vec::with_capacity(3 + 4 * m.decoder_layers);
        inputs.push(("input_ids".into(), ids.into()));
        let hidden = if first { &speech.hidden } else { &no_speech };
        inputs.push(("encoder_hidden_states".into(), hidden.into()));
        inputs.push(("use_cache_branch".into(), branch.into()));
        for l in 0..m.decoder_layers {
            for (k, kind) in ["key", "value"].into_iter().enumerate() {
                let past_self = state.self_kv.get(2 * l + k).unwrap_or(&no_past);
                let past_cross = state.cross_kv.get(2 * l + k).unwrap_or(&no_past);
                inputs.push((
                    format!("past_key_values.{l}.decoder.{kind}").into(),
                    past_self.into(),
                ));
                inputs.push((
                    format!("past_key_values.{l}.encoder.{kind}").into(),
                    past_cross.into(),
                ));
            }
        }
        let mut session = speechbatch_runtime::lock(&self.decoder);
        let mut out = session.run(inputs).map_err(ort_err("decoder"))?;
        let (shape, logits) = out["logits"]
            .try_extract_tensor::<f32>()
            .map_err(ort_err("logits"))?;
        // [1, T, logits_size]: the last position's row.
        let columns = shape.last().copied().unwrap_or(0) as usize;
        let logits = logits[logits.len().saturating_sub(columns)..].to_vec();
        let mut attention = Vec::with_capacity(m.decoder_layers * m.heads * speech.frames);
        for l in 0..m.decoder_layers {
            let (shape, a) = out[format!("cross_attentions.{l}").as_str()]
                .try_extract_tensor::<f32>()
                .map_err(ort_err("cross attention"))?;
            // [1, heads, T, frames]: each head's row of the last position.
            let (t, f) = (shape[2] as usize, shape[3] as usize);
            for h in 0..m.heads {
                let row = (h * t + t - 1) * f;
                attention.extend_from_slice(&a[row..row + f]);
            }
        }
        let mut take = |name: String| {
            out.remove(&name)
                .ok_or_else(|| EngineError::Inference(format!("decoder has no output {name}")))
        };
        let mut self_kv = Vec::with_capacity(2 * m.decoder_layers);
        let mut cross_kv = Vec::with_capacity(2 * m.decoder_layers);
        for l in 0..m.decoder_layers {
            for kind in ["key", "value"] {
                self_kv.push(take(format!("present.{l}.decoder.{kind}"))?);
                if first {
                    cross_kv.push(take(format!("present.{l}.encoder.{kind}"))?);
                }
            }
        }
        state.self_kv = self_kv;
        if first {
            state.cross_kv = cross_kv;
        }
        Ok(StepOutput { logits, attention })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> MoonshineMeta {
        serde_json::from_str(
            r#"{"sample_rate": 16000, "convolutions": [[127, 64], [7, 3], [3, 2]],
                "samples_per_frame": 384, "frame_receptive_field": 895, "d_model": 416,
                "decoder_layers": 8, "heads": 8, "head_dim": 52, "logits_size": 32768,
                "vocab_size": 32000, "bos_id": 1, "eos_id": 2, "max_tokens_per_second": 6.5,
                "cross_attentions": true}"#,
        )
        .unwrap()
    }

    #[test]
    fn frames_follow_the_unpadded_convolutions() {
        let m = meta();
        assert_eq!(m.frames(895), 1);
        assert_eq!(m.frames(895 + 383), 1);
        assert_eq!(m.frames(895 + 384), 2);
        // One frame per 24 ms.
        assert_eq!(m.frames(16_000), 40);
        assert!((m.seconds_per_frame() - 0.024).abs() < 1e-12);
    }
}
