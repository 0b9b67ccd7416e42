//! `POST /v1/customizations/{id}/corpora/{name}`: a corpus text file.

use speechbatch_custom::{analyze, ModelState};

use super::custom_model::{check_refusal, check_words, new_model, now};

/// Any bytes as an uploaded corpus: refused with a 4xx, or analysed into counts that add up
/// and words the model can list and train on.
pub fn corpus_file(data: &[u8]) {
    let text = match ModelState::validate_corpus_text(data) {
        Ok(text) => text,
        Err(e) => return check_refusal(&e),
    };
    let analysis = analyze(&text);
    let oov: u64 = analysis.oov.values().sum();
    assert!(
        oov <= analysis.total_words,
        "{oov} out-of-vocabulary words in a corpus of {}",
        analysis.total_words
    );
    assert!(analysis.oov.keys().all(|w| !w.is_empty()), "an empty word");
    let mut model = new_model();
    model
        .begin_corpus("corpus", false, now())
        .expect("a new corpus on a new model");
    model.finish_corpus("corpus", Ok(analysis), now());
    check_words(&model);
}
