//! The Whisper encoder and decoder graphs on ONNX Runtime, behind a small synchronous interface.

use std::path::Path;
use std::sync::Mutex;

use std::borrow::Cow;

use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, Tensor};
use serde::Deserialize;

use crate::runtime::{self, ort_err, read_meta};
use crate::EngineError;

/// Shape facts of a converted model (`whisper.json`, written by `setup/convert_whisper.py`).
#[derive(Debug, Clone, Deserialize)]
pub struct ModelMeta {
    /// Mel bands of the input.
    pub n_mels: usize,
    /// Attention heads per layer.
    pub n_heads: usize,
    /// Width of one head.
    pub d_head: usize,
    /// Decoder layers (the KV cache's first dimension).
    pub decoder_layers: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Longest token sequence the decoder's position table covers.
    pub max_text_positions: usize,
    /// (layer, head) pairs whose cross-attention follows the audio: used for word timing.
    pub alignment_heads: Vec<[usize; 2]>,
    /// Tokens never to emit (Whisper's non-speech symbols).
    pub suppress_ids: Vec<u32>,
    /// Tokens not to emit first (a blank, end of text).
    pub suppress_ids_begin: Vec<u32>,
    /// Whether the prompt needs language and task tokens.
    pub multilingual: bool,
}

/// The encoder's output for one 30-second window: each decoder layer's cross-attention keys and
/// values, kept as ONNX Runtime values so the decoder reads them without copies.
pub struct EncodedAudio {
    cross_k: Vec<DynValue>,
    cross_v: Vec<DynValue>,
}

/// The decoder's self-attention cache, one key and one value tensor per layer.
pub struct KvCache {
    k: Vec<DynValue>,
    v: Vec<DynValue>,
}

/// What one decoder call returns.
pub struct StepOutput {
    /// Logits of the next token.
    pub logits: Vec<f32>,
    /// Cross-attention weights of the alignment heads for each new position:
    /// `[new_tokens][alignment_heads][1500]`, flattened.
    pub align: Vec<f32>,
    /// Number of new positions in `align`.
    pub new_tokens: usize,
}

/// One loaded Whisper model. Sessions need exclusive access while they run, so each sits behind a
/// mutex: callers on several threads take turns, and each call already uses every intra-op thread.
pub struct WhisperModel {
    meta: ModelMeta,
    encoder: Mutex<Session>,
    decoder: Mutex<Session>,
}

impl WhisperModel {
    /// Loads `encoder.onnx`, `decoder.onnx` and `whisper.json` from `dir`.
    pub fn load(dir: &Path, threads: usize) -> Result<Self, EngineError> {
        let meta_path = dir.join("whisper.json");
        let meta: ModelMeta = read_meta(&meta_path)?;
        Ok(Self {
            encoder: Mutex::new(runtime::session(&dir.join("encoder.onnx"), threads)?),
            decoder: Mutex::new(runtime::session(&dir.join("decoder.onnx"), threads)?),
            meta,
        })
    }

    /// The model's shape facts.
    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }

    /// Runs the encoder over one `[n_mels, 3000]` log-mel window.
    pub fn encode(&self, mel: Vec<f32>) -> Result<EncodedAudio, EngineError> {
        let input = Tensor::from_array(([1usize, self.meta.n_mels, 3000], mel))
            .map_err(ort_err("encoder input"))?;
        let mut session = speechbatch_runtime::lock(&self.encoder);
        let mut out = session
            .run(ort::inputs!["mel" => input])
            .map_err(ort_err("encoder"))?;
        let mut take = |name: String| {
            out.remove(&name)
                .ok_or_else(|| EngineError::Inference(format!("encoder has no output {name}")))
        };
        let layers = 0..self.meta.decoder_layers;
        Ok(EncodedAudio {
            cross_k: layers
                .clone()
                .map(|l| take(format!("cross_k_{l}")))
                .collect::<Result<_, _>>()?,
            cross_v: layers
                .map(|l| take(format!("cross_v_{l}")))
                .collect::<Result<_, _>>()?,
        })
    }

    /// An empty self-attention cache for one sequence.
    pub fn empty_cache(&self) -> Result<KvCache, EngineError> {
        let shape = [1, self.meta.n_heads, 0, self.meta.d_head];
        let empty = |_| -> Result<DynValue, EngineError> {
            Ok(Tensor::from_array((shape, Vec::<f32>::new()))
                .map_err(ort_err("empty cache"))?
                .into_dyn())
        };
        let layers = 0..self.meta.decoder_layers;
        Ok(KvCache {
            k: layers.clone().map(empty).collect::<Result<_, _>>()?,
            v: layers.map(empty).collect::<Result<_, _>>()?,
        })
    }

    /// Feeds `tokens` after what `cache` holds; updates the cache.
    pub fn decode_step(
        &self,
        audio: &EncodedAudio,
        tokens: &[u32],
        cache: &mut KvCache,
    ) -> Result<StepOutput, EngineError> {
        let ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
        let tokens_value =
            Tensor::from_array(([1usize, ids.len()], ids)).map_err(ort_err("decoder input"))?;
        let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> =
            Vec::with_capacity(1 + 4 * self.meta.decoder_layers);
        inputs.push(("tokens".into(), tokens_value.into()));
        for l in 0..self.meta.decoder_layers {
            inputs.push((format!("past_k_{l}").into(), (&cache.k[l]).into()));
            inputs.push((format!("past_v_{l}").into(), (&cache.v[l]).into()));
            inputs.push((format!("cross_k_{l}").into(), (&audio.cross_k[l]).into()));
            inputs.push((format!("cross_v_{l}").into(), (&audio.cross_v[l]).into()));
        }
        let mut session = speechbatch_runtime::lock(&self.decoder);
        let mut out = session.run(inputs).map_err(ort_err("decoder"))?;
        let logits = out["logits"]
            .try_extract_tensor::<f32>()
            .map_err(ort_err("logits"))?
            .1
            .to_vec();
        let align = out["align"]
            .try_extract_tensor::<f32>()
            .map_err(ort_err("align"))?
            .1
            .to_vec();
        for l in 0..self.meta.decoder_layers {
            let mut take = |name: String| {
                out.remove(&name)
                    .ok_or_else(|| EngineError::Inference(format!("decoder has no output {name}")))
            };
            cache.k[l] = take(format!("present_k_{l}"))?;
            cache.v[l] = take(format!("present_v_{l}"))?;
        }
        Ok(StepOutput {
            logits,
            align,
            new_tokens: tokens.len(),
        })
    }
}
