//! One module per input a user controls.

pub mod analytics;
pub mod audio;
pub mod batch_form;
pub mod credentials;
pub mod custom_corpus;
mod custom_model;
pub mod custom_words;
