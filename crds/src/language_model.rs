//! The LanguageModel custom resource: one custom language model on Kubernetes. `spec` is what
//! users (or the REST shim) want: the model's metadata, its user words (so a model can live in a
//! GitOps repository), references to its corpora (the texts stay in the model store, never in
//! etcd) and a training request. `status` is written by the operator: the interface's status,
//! the corpora's analysis, and where the trained vocabulary is stored.
//!
//! Model store layout (one S3 bucket, configured in the chart), for a model whose resource is
//! named `<id>`: [`corpus_text_key`], [`corpus_analysis_key`], [`vocabulary_key`], and for a batch
//! naming a model, its frozen copy [`batch_vocabulary_key`].

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::customization::{Corpus, LanguageModelStatus};
use crate::model::ModelName;

/// The annotation where the REST shim records a model's creation time to the millisecond (the
/// same one as a SpeechBatch's).
pub use crate::resource::CREATED_ANNOTATION;

/// The finalizer through which the operator deletes a model's store objects.
pub const FINALIZER: &str = "speechbatch.io/language-model-store";

/// A custom language model: words (in the spec) and corpora (texts in the model store) that
/// teach the engine a domain's vocabulary. Set `spec.training.request` higher to train it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "speechbatch.io",
    version = "v1alpha1",
    kind = "LanguageModel",
    plural = "languagemodels",
    shortname = "slm",
    namespaced,
    status = "LanguageModelStatusFields",
    printcolumn = r#"{"name":"Model","type":"string","jsonPath":".spec.name"}"#,
    printcolumn = r#"{"name":"Base","type":"string","jsonPath":".spec.baseModelName"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.status"}"#,
    printcolumn = r#"{"name":"Words","type":"integer","jsonPath":".status.words"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct LanguageModelSpec {
    /// The model's name, as `GET /v1/customizations` shows it.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The base model it customizes.
    #[serde(default)]
    pub base_model_name: ModelName,
    /// A description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The dialect; only `en-US` exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialect: Option<String>,
    /// The words users added: each with how it sounds and how transcripts show it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<SpecWord>,
    /// The corpora: plain-text files in the model store (their texts never go into etcd).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub corpora: Vec<CorpusRef>,
    /// Training: the operator trains whenever `request` is higher than the one it last trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainingSpec>,
}

/// One user word of a model.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpecWord {
    /// The word (no whitespace: join parts with `-` or `_`).
    #[schemars(length(min = 1))]
    pub word: String,
    /// Up to five English spellings of how it sounds (derived when none are given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sounds_like: Vec<String>,
    /// What transcripts show for it (the word itself when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_as: Option<String>,
}

/// A corpus: a text in the model store.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CorpusRef {
    /// The corpus name (at most 128 characters; `user`, `base_lm` and `default_lm` are
    /// reserved).
    #[schemars(length(min = 1, max = 128))]
    pub name: String,
    /// The object key of its text in the model store (usually
    /// `customizations/<model>/corpora/<name>.txt`).
    #[schemars(length(min = 1))]
    pub object: String,
    /// The sha256 of the text (hex): a new text under the same key is analysed again.
    #[schemars(length(min = 1))]
    pub sha256: String,
    /// Words deleted from the model that this corpus gave: they stay out of its word list
    /// until the corpus is added again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_words: Vec<String>,
}

/// A training request.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrainingSpec {
    /// Raise it to train again (the operator trains when it is higher than
    /// `status.trained.request`).
    #[serde(default)]
    pub request: u32,
    /// Which words to train on: `all` (corpora and users) or `user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub word_type_to_add: Option<WordTypeToAdd>,
    /// The weight saved with the trained model (0.0–1.0), used when a job gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub customization_weight: Option<f64>,
    /// Refuse to train when a corpus could not be analysed.
    #[serde(default)]
    pub strict: bool,
    /// True when the request is an upgrade (status `upgrading` while it runs).
    #[serde(default)]
    pub upgrade: bool,
}

/// Which words training puts into the vocabulary.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WordTypeToAdd {
    /// Words from corpora and from users.
    #[default]
    All,
    /// Only the words users added.
    User,
}

/// What the operator reports about a model.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LanguageModelStatusFields {
    /// The interface's status (`pending`, `ready`, `training`, `available`, `upgrading`,
    /// `failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<LanguageModelStatus>,
    /// Training progress, 0–100.
    #[serde(default)]
    pub progress: u32,
    /// Why the last training failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Problems that did not stop training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<String>,
    /// Each corpus's analysis, as `GET .../corpora` shows it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corpora: Vec<Corpus>,
    /// Words of the model (corpus out-of-vocabulary words and user words, merged).
    #[serde(default)]
    pub words: u64,
    /// The last successful training, which jobs use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trained: Option<TrainedStatus>,
    /// The last training request handled (successfully or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handled_request: Option<u32>,
    /// The last training that was refused or failed, while the spec is still what it read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<TrainingFailure>,
    /// When the model last changed, in the interface's format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Where the last successful training is.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrainedStatus {
    /// The training request it answered.
    pub request: u32,
    /// The key of the trained vocabulary in the model store.
    pub object: String,
    /// When it was trained, in the interface's format.
    pub trained: String,
    /// The weight saved with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customization_weight: Option<f64>,
    /// A fingerprint of what it was trained from (words, corpora, options): the model is
    /// `available` while the spec still has these.
    pub inputs: String,
    /// Problems that did not stop that training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<String>,
}

/// A training that was refused or failed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrainingFailure {
    /// The training request.
    pub request: u32,
    /// The fingerprint of the spec it read.
    pub inputs: String,
    /// Why.
    pub error: String,
}

impl LanguageModel {
    /// When the model was created: the [`CREATED_ANNOTATION`] when the REST shim made it, else
    /// the creation timestamp.
    pub fn created(&self) -> crate::Timestamp {
        crate::resource::created_at(&self.metadata)
    }
}

/// Where a corpus's text goes in the model store.
pub fn corpus_text_key(model: &str, corpus: &str) -> String {
    format!("customizations/{model}/corpora/{corpus}.txt")
}

/// Where the operator writes a corpus's analysis.
pub fn corpus_analysis_key(model: &str, corpus: &str) -> String {
    format!("customizations/{model}/corpora/{corpus}.analysis.json")
}

/// Where the operator writes the vocabulary of training request `request`.
pub fn vocabulary_key(model: &str, request: u32) -> String {
    format!("customizations/{model}/vocabulary/{request}.json")
}

/// Every object of a model starts with this prefix.
pub fn model_prefix(model: &str) -> String {
    format!("customizations/{model}/")
}

/// A batch's frozen copy of the vocabulary it recognises with.
pub fn batch_vocabulary_key(batch_id: &str) -> String {
    format!("batches/{batch_id}/vocabulary.json")
}

/// The CustomResourceDefinition as YAML, as `crdgen languagemodels` prints it.
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    serde_yaml::to_string(&LanguageModel::crd()).expect("the CRD serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gitops_manifest_reads_as_a_spec() {
        let spec: LanguageModelSpec = serde_json::from_value(serde_json::json!({
            "name": "products",
            "baseModelName": "en-US_NarrowbandModel",
            "words": [{"word": "Nimbra", "soundsLike": ["nim bra"]}],
            "corpora": [{"name": "c1", "object": "customizations/x/corpora/c1.txt", "sha256": "ab"}],
            "training": {"request": 2, "customizationWeight": 0.5}
        }))
        .unwrap();
        assert_eq!(spec.base_model_name, ModelName::Narrowband);
        assert_eq!(spec.words[0].sounds_like, vec!["nim bra".to_string()]);
        assert_eq!(spec.training.as_ref().unwrap().request, 2);
        assert_eq!(
            spec.training.unwrap().word_type_to_add.unwrap_or_default(),
            WordTypeToAdd::All
        );
    }

    #[test]
    fn store_keys_follow_the_layout() {
        assert_eq!(corpus_text_key("m", "c"), "customizations/m/corpora/c.txt");
        assert!(corpus_analysis_key("m", "c").starts_with(&model_prefix("m")));
        assert_eq!(vocabulary_key("m", 3), "customizations/m/vocabulary/3.json");
        assert_eq!(batch_vocabulary_key("b"), "batches/b/vocabulary.json");
    }

    #[test]
    fn the_crd_has_the_columns_and_short_name() {
        let yaml = crd_yaml();
        assert!(yaml.contains("slm"), "{yaml}");
        for col in ["Model", "Base", "Status", "Words", "Age"] {
            assert!(yaml.contains(&format!("name: {col}")), "{col}");
        }
    }
}
