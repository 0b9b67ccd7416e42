//! The LanguageModel core: pure functions from a resource and what the model store holds to the
//! status the operator writes and the training it runs. Every rule is
//! [`speechbatch_custom::ModelState`]'s, the one the embedded backend applies: the spec and the
//! stored corpus analyses are replayed into a `ModelState` and its status, corpora and words are
//! read back.
//!
//! The store holds, per model: each corpus's analysis (keyed by the text's sha256, so that a new
//! text under the same name is analysed again) and each training's vocabulary. The status is
//! [`derive_status`]'s, shared with the REST shim.

use crds::customization::{LanguageModelStatus, Vocabulary};
use crds::language_model::{
    vocabulary_key, LanguageModel, LanguageModelStatusFields, TrainedStatus, TrainingFailure,
};
use crds::Timestamp;
use speechbatch_custom::ModelState;

pub use speechbatch_custom::resource::{
    analyse_text, corpora_to_analyse, derive_status, fingerprint, model_state, pending_training,
    train_options, StoredAnalysis,
};

/// The training request the operator should run now, if any: the spec's request when it is
/// higher than the last one handled and no corpus is still to be analysed.
pub fn training_due(lm: &LanguageModel, pending_analyses: usize) -> Option<u32> {
    let (request, _) = pending_training(lm)?;
    (pending_analyses == 0).then_some(request)
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
