//! The sentence encoder: all-MiniLM-L6-v2 (converted to ONNX by `setup/convert_minilm.py`, which
//! checks it against a reference) on ONNX Runtime, with the model's own WordPiece tokenizer.
//! Each text becomes a 384-value unit vector; texts about the same matter lie close together.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::session::Session;
use ort::value::TensorRef;
use tokenizers::Tokenizer;

/// Size of an embedding.
pub const DIM: usize = 384;
/// Tokens per text (the model was trained on up to 256 word pieces); longer texts are cut into
/// pieces of this size and their embeddings averaged.
pub const MAX_TOKENS: usize = 256;
/// Texts per model run.
const BATCH: usize = 32;

/// Why the encoder cannot run.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    /// The model files are missing or unreadable.
    #[error("the sentence encoder cannot be loaded from {path}: {message} (run scripts/setup)")]
    Load {
        /// The model folder.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A model run failed.
    #[error("the sentence encoder failed: {0}")]
    Run(String),
}

impl From<ort::Error> for EncoderError {
    fn from(e: ort::Error) -> Self {
        EncoderError::Run(e.to_string())
    }
}

/// MiniLM on ONNX Runtime.
pub struct SentenceEncoder {
    tokenizer: Tokenizer,
    session: Mutex<Session>,
}

impl SentenceEncoder {
    /// Where set-up puts the model: `$SPEECHBATCH_MODELS/minilm-l6-v2`.
    pub fn default_dir() -> PathBuf {
        speechbatch_runtime::models_dir().join("minilm-l6-v2")
    }

    /// Loads `dir/model.onnx` and `dir/tokenizer.json`, running on `threads` threads.
    pub fn load(dir: &Path, threads: usize) -> Result<Self, EncoderError> {
        let load_error = |message: String| EncoderError::Load {
            path: dir.to_owned(),
            message,
        };
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| load_error(e.to_string()))?;
        // The shipped tokenizer pads and cuts every text to 128 pieces; texts are cut here
        // (into pieces of MAX_TOKENS, all encoded) and padded per batch in `run`.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| load_error(e.to_string()))?;
        let session = speechbatch_runtime::session(&dir.join("model.onnx"), threads.max(1))
            .map_err(|e| load_error(e.to_string()))?;
        Ok(Self {
            tokenizer,
            session: Mutex::new(session),
        })
    }

    /// The word-piece ids of a text, with `[CLS]` and `[SEP]`, in pieces of at most
    /// [`MAX_TOKENS`].
    pub fn token_ids(&self, text: &str) -> Result<Vec<Vec<i64>>, EncoderError> {
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| EncoderError::Run(e.to_string()))?;
        let ids: Vec<i64> = enc.get_ids().iter().map(|&i| i64::from(i)).collect();
        if ids.len() <= MAX_TOKENS {
            return Ok(vec![ids]);
        }
        // Cut the inner pieces (without [CLS] and [SEP]) and frame each again.
        let (cls, sep) = (ids[0], ids[ids.len() - 1]);
        Ok(ids[1..ids.len() - 1]
            .chunks(MAX_TOKENS - 2)
            .map(|c| {
                let mut v = Vec::with_capacity(c.len() + 2);
                v.push(cls);
                v.extend_from_slice(c);
                v.push(sep);
                v
            })
            .collect())
    }

    /// The embedding of each text (unit vectors; a long text's is the normalised mean of its
    /// pieces').
    pub fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EncoderError> {
        let mut pieces: Vec<(usize, Vec<i64>)> = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            for p in self.token_ids(t)? {
                pieces.push((i, p));
            }
        }
        let mut sums = vec![vec![0f32; DIM]; texts.len()];
        for chunk in pieces.chunks(BATCH) {
            let seqs: Vec<&[i64]> = chunk.iter().map(|(_, p)| p.as_slice()).collect();
            for ((i, _), e) in chunk.iter().zip(self.run(&seqs)?) {
                for (s, v) in sums[*i].iter_mut().zip(e) {
                    *s += v;
                }
            }
        }
        Ok(sums.into_iter().map(normalised).collect())
    }

    fn run(&self, seqs: &[&[i64]]) -> Result<Vec<Vec<f32>>, EncoderError> {
        let batch = seqs.len();
        let len = seqs.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
        let mut ids = vec![0i64; batch * len];
        let mut mask = vec![0i64; batch * len];
        for (b, s) in seqs.iter().enumerate() {
            ids[b * len..b * len + s.len()].copy_from_slice(s);
            mask[b * len..b * len + s.len()].fill(1);
        }
        let ids = TensorRef::from_array_view(([batch, len], ids.as_slice()))?;
        let mask = TensorRef::from_array_view(([batch, len], mask.as_slice()))?;
        // A poisoned lock only means another thread panicked mid-run; the session is intact.
        let mut session = speechbatch_runtime::lock(&self.session);
        let outputs = session.run(ort::inputs!["input_ids" => ids, "attention_mask" => mask])?;
        let (shape, data) = outputs["sentence_embedding"].try_extract_tensor::<f32>()?;
        if shape.len() != 2 || shape[0] as usize != batch || shape[1] as usize != DIM {
            return Err(EncoderError::Run(format!(
                "unexpected output shape {shape:?} for {batch} texts"
            )));
        }
        Ok(data.chunks_exact(DIM).map(<[f32]>::to_vec).collect())
    }
}

/// `v` scaled to unit length (zero stays zero).
pub fn normalised(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
    v
}

/// The cosine similarity of two unit vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
