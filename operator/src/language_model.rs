//! The LanguageModel core: pure functions from a resource and what the model store holds to the
//! status the operator writes and the training it runs. Every rule is
//! [`speechbatch_custom::ModelState`]'s, the one the embedded backend applies: the spec and the
//! stored corpus analyses are replayed into a `ModelState` and its status, corpora and words are
//! read back.
//!
//! The store holds, per model: each corpus's analysis (keyed by the text's sha256, so that a new
//! text under the same name is analysed again) and each training's vocabulary. Whether the
//! model is `available` is decided by a fingerprint of what training read (the words, the
//! corpora's hashes, the training options): the status says `available` when the last
//! successful training's fingerprint is the current one, `ready` once anything changed (the
//! trained vocabulary stays usable by jobs, as on the embedded backend).

use std::collections::BTreeMap;

use crds::customization::{
    CorpusStatus, CreateLanguageModel, CustomWord, LanguageModelStatus, Vocabulary,
};
use crds::language_model::{
    vocabulary_key, CorpusRef, LanguageModel, LanguageModelSpec, LanguageModelStatusFields,
    TrainedStatus, TrainingFailure, WordTypeToAdd,
};
use crds::Timestamp;
use serde::{Deserialize, Serialize};
use speechbatch_custom::{CorpusAnalysis, ModelState, TrainOptions, WordSort, WordType};

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
/// [`speechbatch_custom::analyze`]. Slow for large texts: run it on a blocking thread.
pub fn analyse_text(sha256: &str, bytes: &[u8]) -> StoredAnalysis {
    let result = ModelState::validate_corpus_text(bytes)
        .map(|text| speechbatch_custom::analyze(&text))
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
            WordTypeToAdd::All => speechbatch_custom::WordTypeToAdd::All,
            WordTypeToAdd::User => speechbatch_custom::WordTypeToAdd::User,
        },
        customization_weight: t.customization_weight,
        strict: t.strict,
    }
}

/// A fingerprint of what training reads: words, corpora (by hash) and options. Stable across
/// processes and versions (FNV-1a over canonical JSON).
pub fn fingerprint(spec: &LanguageModelSpec) -> String {
    let mut corpora: Vec<(&str, &str)> = spec
        .corpora
        .iter()
        .map(|c| (c.name.as_str(), c.sha256.as_str()))
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
/// finished with its stored analysis, the others left `being_processed`), its words added.
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

/// The training request the operator should run now, if any: the spec's request when it is
/// higher than the last one handled and no corpus is still to be analysed.
pub fn training_due(lm: &LanguageModel, pending_analyses: usize) -> Option<u32> {
    let request = lm.spec.training.as_ref()?.request;
    let handled = lm
        .status
        .as_ref()
        .and_then(|s| s.handled_request)
        .unwrap_or(0);
    (request > handled && pending_analyses == 0).then_some(request)
}

/// The status of a model from its replayed state (`None`: the spec breaks a rule, `spec_error`
/// says which) and the previous status (which keeps the training record).
pub fn derive_status(
    lm: &LanguageModel,
    state: Result<&ModelState, &str>,
    now: Timestamp,
) -> LanguageModelStatusFields {
    let prev = lm.status.clone().unwrap_or_default();
    let mut status = LanguageModelStatusFields {
        trained: prev.trained.clone(),
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
    } else if let Some(t) = prev
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

/// The status while request `request` trains: `training` (or `upgrading`), progress 0.
pub fn training_status(
    status: &LanguageModelStatusFields,
    upgrade: bool,
    now: Timestamp,
) -> LanguageModelStatusFields {
    LanguageModelStatusFields {
        status: Some(if upgrade {
            LanguageModelStatus::Upgrading
        } else {
            LanguageModelStatus::Training
        }),
        progress: 0,
        error: None,
        warnings: None,
        updated: Some(now.to_string()),
        ..status.clone()
    }
}

/// What one training produced.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainingOutcome {
    /// Trained: the vocabulary to store, and the record for the status.
    Trained(Box<Vocabulary>, TrainedStatus),
    /// Refused or failed: the record for the status.
    Failed(TrainingFailure),
}

/// Runs training request `request` on the replayed state: the checks of `POST .../train` (or
/// `upgrade_model`), then [`ModelState::train`]. Pure; fast (no audio, no model weights).
pub fn train(
    id: &str,
    lm: &LanguageModel,
    mut state: ModelState,
    request: u32,
    now: Timestamp,
) -> TrainingOutcome {
    let inputs = fingerprint(&lm.spec);
    let upgrade = lm.spec.training.as_ref().is_some_and(|t| t.upgrade);
    let opts = train_options(&lm.spec);
    let begun = if upgrade && state.trained.is_some() {
        state.train_options = Some(opts.clone());
        state.begin_upgrade(now)
    } else {
        state.begin_training(&opts, now)
    };
    let fail = |error: String| {
        TrainingOutcome::Failed(TrainingFailure {
            request,
            inputs: inputs.clone(),
            error,
        })
    };
    if let Err(e) = begun {
        return fail(e.to_string());
    }
    let result = state.train(&opts, now);
    state.finish_training(result.clone(), now);
    match result {
        Ok(v) => TrainingOutcome::Trained(
            Box::new(v.clone()),
            TrainedStatus {
                request,
                object: vocabulary_key(id, request),
                trained: v.trained.to_string(),
                customization_weight: v.customization_weight,
                inputs,
                warnings: state.model.warnings.clone(),
            },
        ),
        Err(e) => fail(e),
    }
}

/// The status after a training: the record kept, then derived again.
pub fn after_training(
    lm: &LanguageModel,
    state: Result<&ModelState, &str>,
    outcome: &TrainingOutcome,
    now: Timestamp,
) -> LanguageModelStatusFields {
    let mut prev = lm.status.clone().unwrap_or_default();
    match outcome {
        TrainingOutcome::Trained(_, t) => {
            prev.handled_request = Some(t.request);
            prev.trained = Some(t.clone());
            prev.last_failure = None;
        }
        TrainingOutcome::Failed(f) => {
            prev.handled_request = Some(f.request);
            prev.last_failure = Some(f.clone());
        }
    }
    let mut with_record = lm.clone();
    with_record.status = Some(prev);
    derive_status(&with_record, state, now)
}
