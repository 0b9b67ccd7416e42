//! A LanguageModel resource read back as a [`ModelState`]: the spec (words, corpora by
//! reference, training options) and the corpus analyses the operator keeps in the model store
//! are replayed into a `ModelState`, so that the operator (which writes the status) and the REST
//! shim (which lists words and checks changes) apply the embedded service's rules exactly.
//!
//! Whether the model is `available` is decided by a [`fingerprint`] of what training read (the
//! words, the corpora's hashes, the training options): [`derive_status`] says `available` when
//! the last successful training's fingerprint is the current one, `ready` once anything
//! changed (the trained vocabulary stays usable by jobs, as on the embedded backend).
//!
//! [`fingerprint`]: crate::resource::fingerprint
//! [`derive_status`]: crate::resource::derive_status

use std::collections::BTreeMap;

use crds::customization::{
    CorpusStatus, CreateLanguageModel, CustomWord, LanguageModel as RestModel, LanguageModelStatus,
    Vocabulary,
};
use crds::language_model::{
    CorpusRef, LanguageModel, LanguageModelSpec, LanguageModelStatusFields, WordTypeToAdd,
};
use crds::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{CorpusAnalysis, ModelState, TrainOptions, WordSort, WordType};

/// A corpus's analysis as the operator stores it (`<corpus>.analysis.json`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAnalysis {
    /// The sha256 of the text analysed (the spec's `corpora[].sha256` at the time).
    pub sha256: String,
    /// Words in the corpus.
    #[serde(default)]
    pub total_words: u64,
    /// Its out-of-vocabulary words, with counts.
    #[serde(default)]
    pub oov: BTreeMap<String, u64>,
    /// Why the text could not be analysed (not UTF-8, empty, missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl StoredAnalysis {
    /// The result of analysing a text with hash `sha256`.
    pub fn new(sha256: &str, result: Result<CorpusAnalysis, String>) -> Self {
        match result {
            Ok(a) => StoredAnalysis {
                sha256: sha256.to_owned(),
                total_words: a.total_words,
                oov: a.oov,
                error: None,
            },
            Err(e) => StoredAnalysis {
                sha256: sha256.to_owned(),
                error: Some(e),
                ..Default::default()
            },
        }
    }

    fn result(&self) -> Result<CorpusAnalysis, String> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(CorpusAnalysis {
                total_words: self.total_words,
                oov: self.oov.clone(),
            }),
        }
    }
}

/// Analyses a corpus text (bytes as stored): the checks of `POST .../corpora` first, then
/// [`crate::analyze`]. Slow for large texts: run it on a blocking thread.
pub fn analyse_text(sha256: &str, bytes: &[u8]) -> StoredAnalysis {
    let result = ModelState::validate_corpus_text(bytes)
        .map(|text| crate::analyze(&text))
        .map_err(|e| e.to_string());
    StoredAnalysis::new(sha256, result)
}

/// The corpora whose analysis is missing or was made from another text.
pub fn corpora_to_analyse<'a>(
    spec: &'a LanguageModelSpec,
    analyses: &BTreeMap<String, StoredAnalysis>,
) -> Vec<&'a CorpusRef> {
    spec.corpora
        .iter()
        .filter(|c| analyses.get(&c.name).is_none_or(|a| a.sha256 != c.sha256))
        .collect()
}

/// The training options of a spec.
pub fn train_options(spec: &LanguageModelSpec) -> TrainOptions {
    let t = spec.training.clone().unwrap_or_default();
    TrainOptions {
        word_type_to_add: match t.word_type_to_add.unwrap_or_default() {
            WordTypeToAdd::All => crate::WordTypeToAdd::All,
            WordTypeToAdd::User => crate::WordTypeToAdd::User,
        },
        customization_weight: t.customization_weight,
        strict: t.strict,
    }
}

/// A fingerprint of what training reads: words, corpora (by hash) and options. Stable across
/// processes and versions (FNV-1a over canonical JSON).
pub fn fingerprint(spec: &LanguageModelSpec) -> String {
    let mut corpora: Vec<(&str, &str, &[String])> = spec
        .corpora
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.sha256.as_str(),
                c.excluded_words.as_slice(),
            )
        })
        .collect();
    corpora.sort();
    let opts = train_options(spec);
    let canonical = serde_json::json!({
        "base": spec.base_model_name.as_str(),
        "words": spec.words,
        "corpora": corpora,
        "wordTypeToAdd": opts.word_type_to_add,
        "weight": opts.customization_weight,
        "strict": opts.strict,
    })
    .to_string();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in canonical.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The user words of a spec as `POST .../words` takes them.
fn custom_words(spec: &LanguageModelSpec) -> Vec<CustomWord> {
    spec.words
        .iter()
        .map(|w| CustomWord {
            word: Some(w.word.clone()),
            sounds_like: (!w.sounds_like.is_empty()).then(|| w.sounds_like.clone()),
            display_as: w.display_as.clone(),
        })
        .collect()
}

/// Replays a model's spec into a [`ModelState`]: created, its corpora added (each analysed one
/// finished with its stored analysis, less its `excluded_words`; the others left
/// `being_processed`), its words added.
/// `trained` is the last successful training's vocabulary, when known. Errs with the message
/// of the first rule the spec breaks (an empty name, a bad word, a reserved corpus name...).
pub fn model_state(
    id: &str,
    spec: &LanguageModelSpec,
    analyses: &BTreeMap<String, StoredAnalysis>,
    trained: Option<Vocabulary>,
    now: Timestamp,
) -> Result<ModelState, String> {
    let create = CreateLanguageModel {
        name: spec.name.clone(),
        base_model_name: spec.base_model_name.as_str().to_owned(),
        dialect: spec.dialect.clone(),
        description: Some(spec.description.clone()),
    };
    let mut state = ModelState::new(id.to_owned(), &create, now).map_err(|e| e.to_string())?;
    for c in &spec.corpora {
        state
            .begin_corpus(&c.name, false, now)
            .map_err(|e| e.to_string())?;
    }
    for c in &spec.corpora {
        if let Some(a) = analyses.get(&c.name).filter(|a| a.sha256 == c.sha256) {
            state.finish_corpus(&c.name, a.result(), now);
            // As `DELETE .../words/{word}` leaves a corpus: its counts as analysed, the word
            // out of its list.
            if let Some(kept) = state.corpora.get_mut(&c.name) {
                kept.oov.retain(|w, _| {
                    !c.excluded_words
                        .iter()
                        .any(|x| x.trim().eq_ignore_ascii_case(w))
                });
            }
        }
    }
    if !spec.words.is_empty() {
        state
            .add_words(&custom_words(spec), now)
            .map_err(|e| e.to_string())?;
    }
    state.trained = trained;
    Ok(state)
}

/// The status of a model from its replayed state (`Err`: the spec breaks a rule, which the
/// status names) and the status it has (which keeps the training record). A spec with no words
/// and no corpora (a reset model) has nothing trained.
pub fn derive_status(
    lm: &LanguageModel,
    state: Result<&ModelState, &str>,
    now: Timestamp,
) -> LanguageModelStatusFields {
    let prev = lm.status.clone().unwrap_or_default();
    let empty = lm.spec.words.is_empty() && lm.spec.corpora.is_empty();
    let mut status = LanguageModelStatusFields {
        trained: prev.trained.clone().filter(|_| !empty),
        handled_request: prev.handled_request,
        last_failure: prev.last_failure.clone(),
        observed_generation: lm.metadata.generation,
        updated: prev.updated.clone(),
        ..Default::default()
    };
    let state = match state {
        Ok(s) => s,
        Err(e) => {
            status.status = Some(LanguageModelStatus::Failed);
            status.error = Some(format!("The LanguageModel's spec is not valid: {e}"));
            return with_updated(status, &prev, now);
        }
    };
    status.corpora = state.corpora();
    status.words = state.words(WordType::All, WordSort::default()).len() as u64;
    let current = fingerprint(&lm.spec);
    let analysing = status
        .corpora
        .iter()
        .any(|c| c.status == CorpusStatus::BeingProcessed);
    if let Some(f) = prev.last_failure.as_ref().filter(|f| f.inputs == current) {
        status.status = Some(LanguageModelStatus::Failed);
        status.error = Some(f.error.clone());
    } else if let Some(t) = status
        .trained
        .as_ref()
        .filter(|t| t.inputs == current && !analysing)
    {
        status.status = Some(LanguageModelStatus::Available);
        status.progress = 100;
        status.warnings = t.warnings.clone();
    } else {
        // Pending or ready, by ModelState's rule (pending while a corpus is analysed).
        status.status = Some(state.model.status);
    }
    with_updated(status, &prev, now)
}

/// `updated` moves only when what users see changed.
fn with_updated(
    mut status: LanguageModelStatusFields,
    prev: &LanguageModelStatusFields,
    now: Timestamp,
) -> LanguageModelStatusFields {
    let same = status.status == prev.status
        && status.corpora == prev.corpora
        && status.words == prev.words
        && status.error == prev.error;
    if !same || status.updated.is_none() {
        status.updated = Some(now.to_string());
    }
    status
}

/// The training request not handled yet, if any, and whether it is an upgrade: from the
/// moment it is made until the operator has trained it, the model is `training` (or
/// `upgrading`) for the REST API.
pub fn pending_training(lm: &LanguageModel) -> Option<(u32, bool)> {
    let t = lm.spec.training.as_ref()?;
    let handled = lm
        .status
        .as_ref()
        .and_then(|s| s.handled_request)
        .unwrap_or(0);
    (t.request > handled).then_some((t.request, t.upgrade))
}

/// The number of the next training request: above every request made or handled.
pub fn next_training_request(lm: &LanguageModel) -> u32 {
    let made = lm.spec.training.as_ref().map_or(0, |t| t.request);
    let handled = lm
        .status
        .as_ref()
        .and_then(|s| s.handled_request)
        .unwrap_or(0);
    made.max(handled) + 1
}

/// The model as `GET /v1/customizations/{id}` shows it: metadata from the spec, status from
/// `status` (see [`derive_status`]), `training` or `upgrading` while a request is pending.
pub fn rest_model(lm: &LanguageModel, status: &LanguageModelStatusFields) -> RestModel {
    let created = lm.created();
    let base = lm.spec.base_model_name;
    let mut model = RestModel {
        customization_id: lm.metadata.name.clone().unwrap_or_default(),
        created,
        updated: status
            .updated
            .as_deref()
            .and_then(Timestamp::parse)
            .unwrap_or(created),
        language: crds::ModelName::LANGUAGE.to_string(),
        dialect: crds::ModelName::LANGUAGE.to_string(),
        versions: vec![format!("{base}.{}", crate::state::BASE_MODEL_VERSION)],
        owner: crate::state::OWNER.to_string(),
        name: lm.spec.name.clone(),
        description: lm.spec.description.clone(),
        base_model_name: base,
        status: status.status.unwrap_or(LanguageModelStatus::Pending),
        progress: status.progress,
        warnings: status.warnings.clone(),
        error: status.error.clone(),
    };
    if let Some((_, upgrade)) = pending_training(lm) {
        model.status = if upgrade {
            LanguageModelStatus::Upgrading
        } else {
            LanguageModelStatus::Training
        };
        model.progress = 0;
        model.error = None;
        model.warnings = None;
    }
    model
}
