//! The pure core of custom language models, shared by the embedded backend and the Kubernetes
//! operator: no HTTP, no files, no clock (callers pass the time).
//!
//! - [`lexicon`]: the base vocabulary, i.e. what the base models know without customization
//!   (the CMU Pronouncing Dictionary's words, embedded, plus rules for numbers, possessives,
//!   plurals, hyphenated words and acronyms). A word is *out of vocabulary* when
//!   [`lexicon::is_known`] says no; the module docs give the exact rules.
//! - [`text`]: how a corpus is cut into words.
//! - [`analysis`]: a corpus's word count and out-of-vocabulary words.
//! - [`sounds_like`]: spellings of how a word sounds, for words whose user gave none.
//! - [`state`]: one model's corpora, words, training and status rules ([`ModelState`]).

#![warn(missing_docs)]

pub mod analysis;
pub mod lexicon;
/// A LanguageModel resource replayed as a `ModelState` (feature `kube`).
#[cfg(feature = "kube")]
pub mod resource;
pub mod sounds_like;
pub mod state;
pub mod text;

pub use analysis::{analyze, CorpusAnalysis};
pub use sounds_like::derive_sounds_like;
pub use state::{
    CorpusState, CustomError, ModelState, TrainOptions, UserWord, WordSort, WordType, WordTypeToAdd,
};
