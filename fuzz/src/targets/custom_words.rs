//! `POST /v1/customizations/{id}/words`: a JSON list of words, their spellings and how they
//! sound.

use crds::customization::CustomWords;

use super::custom_model::{check_refusal, check_words, new_model, now};

/// Any bytes as the request body: not JSON for a word list (the handler's 400), refused with a
/// 4xx, or added so that every word can be listed, found and trained on.
pub fn words_body(data: &[u8]) {
    let Ok(words) = serde_json::from_slice::<CustomWords>(data) else {
        return;
    };
    let mut model = new_model();
    match model.add_words(&words.words, now()) {
        Ok(()) => {
            for w in words.words.iter().filter_map(|w| w.word.as_deref()) {
                model
                    .word(w)
                    .unwrap_or_else(|e| panic!("added word {w:?} not found: {e}"));
            }
            check_words(&model);
        }
        Err(e) => check_refusal(&e),
    }
}
