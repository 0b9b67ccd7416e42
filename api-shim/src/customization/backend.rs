//! What the REST layer needs from a place that keeps custom language models. The embedded
//! backend implements it over its data directory, the Kubernetes backend over LanguageModel
//! resources and the model store; a Kubernetes deployment without a model store answers 501
//! ([`NotServed`]).

use async_trait::async_trait;
use crds::customization::{Corpus, CreateLanguageModel, CustomWord, LanguageModel, Word};
use speechbatch_custom::{CustomError, TrainOptions, WordSort, WordType};

use crate::error::ApiError;

/// The custom language models behind `/v1/customizations`. Every method that names a model
/// answers 404 for an id it does not know; a change refused because an operation runs on the
/// model (training, upgrading) is a 409.
#[async_trait]
pub trait LanguageModels: Send + Sync + 'static {
    /// Creates a model (status `pending`); returns its `customization_id`.
    async fn create_model(&self, request: CreateLanguageModel) -> Result<String, ApiError>;
    /// Every model, oldest first; only those of `language` when it is given.
    async fn list_models(&self, language: Option<String>) -> Result<Vec<LanguageModel>, ApiError>;
    /// One model.
    async fn get_model(&self, id: &str) -> Result<LanguageModel, ApiError>;
    /// Removes a model with its corpora and words (409 while it trains). Jobs that use it keep
    /// their own copy.
    async fn delete_model(&self, id: &str) -> Result<(), ApiError>;
    /// Starts training; returns once the model is `training`, which ends in `available` or
    /// `failed`.
    async fn train(&self, id: &str, options: TrainOptions) -> Result<(), ApiError>;
    /// Drops every corpus and word of the model, keeping its metadata.
    async fn reset(&self, id: &str) -> Result<(), ApiError>;
    /// Trains the model again for the current version of its base model (status `upgrading`,
    /// then back).
    async fn upgrade(&self, id: &str) -> Result<(), ApiError>;
    /// Adds (or, with `allow_overwrite`, replaces) a corpus; returns once it is
    /// `being_processed`, which ends in `analyzed` or `undetermined`.
    async fn add_corpus(
        &self,
        id: &str,
        name: &str,
        text: Vec<u8>,
        allow_overwrite: bool,
    ) -> Result<(), ApiError>;
    /// Every corpus of the model.
    async fn list_corpora(&self, id: &str) -> Result<Vec<Corpus>, ApiError>;
    /// One corpus.
    async fn get_corpus(&self, id: &str, name: &str) -> Result<Corpus, ApiError>;
    /// Removes a corpus and the words only it gave.
    async fn delete_corpus(&self, id: &str, name: &str) -> Result<(), ApiError>;
    /// Adds or replaces user words.
    async fn add_words(&self, id: &str, words: Vec<CustomWord>) -> Result<(), ApiError>;
    /// Adds or replaces one user word; `definition.word` is ignored (the path names the word).
    async fn put_word(&self, id: &str, word: &str, definition: CustomWord) -> Result<(), ApiError>;
    /// The model's words of `word_type`, in `sort` order.
    async fn list_words(
        &self,
        id: &str,
        word_type: WordType,
        sort: WordSort,
    ) -> Result<Vec<Word>, ApiError>;
    /// One word.
    async fn get_word(&self, id: &str, word: &str) -> Result<Word, ApiError>;
    /// Removes a word, whatever its sources.
    async fn delete_word(&self, id: &str, word: &str) -> Result<(), ApiError>;
}

/// Puts a model list in the order `GET /v1/customizations` gives: oldest first, ties (the same
/// millisecond) by id, so that the order is stable. Both backends list through it.
pub fn oldest_first(models: &mut [LanguageModel]) {
    models.sort_by(|a, b| {
        a.created
            .cmp(&b.created)
            .then_with(|| a.customization_id.cmp(&b.customization_id))
    });
}

/// The REST error for an error of the model's rules: 404, 409 or 400 with its message.
pub fn custom_error(e: CustomError) -> ApiError {
    let status = match e {
        CustomError::NotFound(_) => 404,
        CustomError::Conflict(_) => 409,
        CustomError::Invalid(_) => 400,
    };
    ApiError::new(status, e.to_string())
}

/// 404 for a customization id no model has.
pub fn unknown_model(id: &str) -> ApiError {
    ApiError::new(
        404,
        format!(
            "Custom language model '{}' not found: GET /v1/customizations lists the models",
            crate::error::shown(id)
        ),
    )
}

/// Why a deployment without a model store serves no custom language models, and what to do.
pub const NOT_SERVED: &str = "Custom language models are not served by this deployment: it has no model store (set customModels.store in the Helm chart)";

/// The models of a deployment that keeps none: every operation answers 501 with
/// [`NOT_SERVED`].
pub struct NotServed;

fn not_served<T>() -> Result<T, ApiError> {
    Err(ApiError::new(501, NOT_SERVED))
}

#[async_trait]
impl LanguageModels for NotServed {
    async fn create_model(&self, _: CreateLanguageModel) -> Result<String, ApiError> {
        not_served()
    }
    async fn list_models(&self, _: Option<String>) -> Result<Vec<LanguageModel>, ApiError> {
        not_served()
    }
    async fn get_model(&self, _: &str) -> Result<LanguageModel, ApiError> {
        not_served()
    }
    async fn delete_model(&self, _: &str) -> Result<(), ApiError> {
        not_served()
    }
    async fn train(&self, _: &str, _: TrainOptions) -> Result<(), ApiError> {
        not_served()
    }
    async fn reset(&self, _: &str) -> Result<(), ApiError> {
        not_served()
    }
    async fn upgrade(&self, _: &str) -> Result<(), ApiError> {
        not_served()
    }
    async fn add_corpus(&self, _: &str, _: &str, _: Vec<u8>, _: bool) -> Result<(), ApiError> {
        not_served()
    }
    async fn list_corpora(&self, _: &str) -> Result<Vec<Corpus>, ApiError> {
        not_served()
    }
    async fn get_corpus(&self, _: &str, _: &str) -> Result<Corpus, ApiError> {
        not_served()
    }
    async fn delete_corpus(&self, _: &str, _: &str) -> Result<(), ApiError> {
        not_served()
    }
    async fn add_words(&self, _: &str, _: Vec<CustomWord>) -> Result<(), ApiError> {
        not_served()
    }
    async fn put_word(&self, _: &str, _: &str, _: CustomWord) -> Result<(), ApiError> {
        not_served()
    }
    async fn list_words(&self, _: &str, _: WordType, _: WordSort) -> Result<Vec<Word>, ApiError> {
        not_served()
    }
    async fn get_word(&self, _: &str, _: &str) -> Result<Word, ApiError> {
        not_served()
    }
    async fn delete_word(&self, _: &str, _: &str) -> Result<(), ApiError> {
        not_served()
    }
}
