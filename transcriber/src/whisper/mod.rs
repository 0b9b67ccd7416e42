//! Whisper on ONNX Runtime: the graphs, the vocabulary, greedy decoding and word alignment.

pub mod align;
pub mod greedy;
pub mod model;
pub mod tokenizer;

pub use model::WhisperModel;
pub use tokenizer::Tokenizer;
