//! What the custom-model targets share: a fresh model to add data to.

use crds::customization::CreateLanguageModel;
use crds::Timestamp;
use speechbatch_custom::{CustomError, ModelState};

/// A new, empty custom model, as `POST /v1/customizations` makes it.
pub(super) fn new_model() -> ModelState {
    let req = CreateLanguageModel {
        name: "fuzz".to_string(),
        base_model_name: "en-US_NarrowbandModel".to_string(),
        dialect: None,
        description: None,
    };
    ModelState::new("fuzz-model".to_string(), &req, now()).expect("a valid create request")
}

/// A fixed time: the targets must not depend on the clock.
pub(super) fn now() -> Timestamp {
    Timestamp::parse("2026-01-01T00:00:00.000+0000").expect("a valid timestamp")
}

/// A refusal of user data is a 4xx with a message.
pub(super) fn check_refusal(e: &CustomError) {
    let status = e.status_code();
    assert!(
        (400..500).contains(&status),
        "bad input answered {status}: {e}"
    );
    assert!(!e.to_string().is_empty(), "a refusal without a message");
}

/// Every word the model lists can be trained on: it has a spelling to show and at least one
/// way it sounds, none of them empty.
pub(super) fn check_words(model: &ModelState) {
    use speechbatch_custom::{WordSort, WordType};
    for w in model.words(WordType::All, WordSort::AlphabeticalAscending) {
        assert!(!w.word.is_empty(), "an empty word");
        assert!(!w.display_as.is_empty(), "{}: an empty display_as", w.word);
        assert!(!w.sounds_like.is_empty(), "{}: no sounds_like", w.word);
        assert!(
            w.sounds_like.iter().all(|s| !s.trim().is_empty()),
            "{}: an empty sounds_like {:?}",
            w.word,
            w.sounds_like
        );
        model
            .word(&w.word)
            .unwrap_or_else(|e| panic!("listed word {:?} not found: {e}", w.word));
    }
}
