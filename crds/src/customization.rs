//! Custom language models: the JSON shapes of the customization API (`/v1/customizations`), the
//! limits it enforces, and the trained artefact a batch job recognises with ([`Vocabulary`]).
//!
//! The REST shapes use the interface's snake_case names. A [`Vocabulary`] is what training
//! produces and what the engine reads: it is frozen when a job starts (the job keeps its own
//! copy), so retraining a model never changes a job already running.

use serde::{Deserialize, Serialize};

use crate::model::ModelName;
use crate::Timestamp;

/// Most out-of-vocabulary words a model may hold (corpora and user words together).
pub const MAX_OOV_WORDS: usize = 90_000;
/// Most words a model's corpora may hold in all.
pub const MAX_TOTAL_WORDS: u64 = 10_000_000;
/// Most `sounds_like` spellings per word.
pub const MAX_SOUNDS_LIKE: usize = 5;
/// Longest `sounds_like` spelling, in characters.
pub const MAX_SOUNDS_LIKE_CHARS: usize = 40;
/// Longest corpus name, in characters.
pub const MAX_CORPUS_NAME_CHARS: usize = 128;
/// Corpus names the interface reserves for its own word sources.
pub const RESERVED_CORPUS_NAMES: [&str; 3] = ["user", "base_lm", "default_lm"];
/// The weight a job uses when neither the request nor training saved one.
pub const DEFAULT_CUSTOMIZATION_WEIGHT: f64 = 0.3;

/// The life of a custom language model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum LanguageModelStatus {
    /// Created; nothing to train on yet.
    Pending,
    /// Has corpora or words that are not trained yet.
    Ready,
    /// Training runs (`progress` 0–100).
    Training,
    /// Trained and usable by jobs.
    Available,
    /// Being retrained for the latest version of its base model.
    Upgrading,
    /// Training could not finish; `error` says why.
    Failed,
}

impl LanguageModelStatus {
    /// The interface's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ready => "ready",
            Self::Training => "training",
            Self::Available => "available",
            Self::Upgrading => "upgrading",
            Self::Failed => "failed",
        }
    }

    /// Whether an operation (training, upgrading) is running, during which the model refuses
    /// changes with 409.
    pub fn is_busy(self) -> bool {
        matches!(self, Self::Training | Self::Upgrading)
    }
}

/// A custom language model as `GET /v1/customizations/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LanguageModel {
    /// The model's id (a UUID).
    pub customization_id: String,
    /// When it was created.
    pub created: Timestamp,
    /// When it last changed.
    pub updated: Timestamp,
    /// The language of its base model (`en-US`).
    pub language: String,
    /// The dialect (`en-US`).
    pub dialect: String,
    /// The base model versions it was trained for.
    pub versions: Vec<String>,
    /// Who owns it (the API key's user, `admin` here: the service has one key).
    pub owner: String,
    /// The name it was created with.
    pub name: String,
    /// Its description (empty when none was given).
    pub description: String,
    /// The base model it customizes.
    pub base_model_name: ModelName,
    /// Where it is in its life.
    pub status: LanguageModelStatus,
    /// Training progress, 0–100 (100 once available).
    pub progress: u32,
    /// Problems that did not stop training (words left out under `strict=false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<String>,
    /// Why training failed (status `failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /v1/customizations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LanguageModelList {
    /// The models, oldest first.
    pub customizations: Vec<LanguageModel>,
}

/// The body of `POST /v1/customizations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateLanguageModel {
    /// A name for the model (required, non-empty).
    pub name: String,
    /// The base model to customize (required).
    pub base_model_name: String,
    /// The dialect; only `en-US` exists.
    #[serde(default)]
    pub dialect: Option<String>,
    /// A description.
    #[serde(default)]
    pub description: Option<String>,
}

/// How far the service got with a corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CorpusStatus {
    /// Analysed: its counts and out-of-vocabulary words are known.
    Analyzed,
    /// Analysis runs.
    BeingProcessed,
    /// Analysis failed or was interrupted; `error` says why.
    Undetermined,
}

/// One corpus of a model, as `GET .../corpora` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
pub struct Corpus {
    /// The corpus name.
    pub name: String,
    /// Words in the corpus.
    pub total_words: u64,
    /// Words of the corpus the base vocabulary does not know (distinct words).
    pub out_of_vocabulary_words: u64,
    /// Analysis status.
    pub status: CorpusStatus,
    /// Why analysis failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET .../corpora`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusList {
    /// Every corpus of the model.
    pub corpora: Vec<Corpus>,
}

/// A problem with one word, as the words listing reports it: `{element: message}`.
pub type WordError = std::collections::BTreeMap<String, String>;

/// One custom word, as `GET .../words` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
pub struct Word {
    /// The word as it is spelt in corpora or was added.
    pub word: String,
    /// How it is pronounced, as English spellings (derived when none is given).
    pub sounds_like: Vec<String>,
    /// What transcripts show for it (the word itself unless given).
    pub display_as: String,
    /// How often corpora hold it (0 for words only a user added).
    pub count: u64,
    /// Where it came from: corpus names, and `user` for words added directly.
    pub source: Vec<String>,
    /// Problems found with the word.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Vec<WordError>>,
}

/// `GET .../words`, and the body of `POST .../words`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordList {
    /// The words.
    pub words: Vec<Word>,
}

/// One word of `POST .../words` (and, without `word`, the body of `PUT .../words/{word}`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
pub struct CustomWord {
    /// The word (in `POST`; the path names it in `PUT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub word: Option<String>,
    /// Up to five spellings of how it sounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sounds_like: Option<Vec<String>>,
    /// What transcripts show for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_as: Option<String>,
}

/// The body of `POST .../words`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomWords {
    /// The words to add or replace.
    pub words: Vec<CustomWord>,
}

/// What a trained custom language model teaches the engine: its words, how each sounds and is
/// written, and how often its corpora use each. Built by training; frozen into a job when the
/// job starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
pub struct Vocabulary {
    /// The model it was trained from.
    pub customization_id: String,
    /// When it was trained (one version per training).
    #[cfg_attr(feature = "kube", schemars(with = "String"))]
    pub trained: Timestamp,
    /// The base model it is for.
    pub base_model_name: ModelName,
    /// The weight saved at training, used when a job gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customization_weight: Option<f64>,
    /// The words, most used first.
    pub words: Vec<VocabularyWord>,
}

/// One word of a [`Vocabulary`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
pub struct VocabularyWord {
    /// What the transcript shows.
    pub display_as: String,
    /// Every way it may be written or heard: the word itself first, then its `sounds_like`.
    pub spellings: Vec<String>,
    /// Occurrences in the model's corpora (0 for user-only words).
    pub count: u64,
}

impl Vocabulary {
    /// The weight a job recognises with: the request's, else the one saved at training, else
    /// [`DEFAULT_CUSTOMIZATION_WEIGHT`].
    pub fn weight(&self, requested: Option<f64>) -> f64 {
        requested
            .or(self.customization_weight)
            .unwrap_or(DEFAULT_CUSTOMIZATION_WEIGHT)
    }
}
