//! Fuzz targets: one function per input a user controls, each feeding arbitrary bytes to the
//! parser the service runs on that input and checking what must hold whatever the bytes are
//! (no panic, no 5xx for bad input, no secret in an error, decoded audio in range).
//!
//! The same functions run in two places: the AFL++ binary (`src/bin/afl.rs`, built by
//! `scripts/fuzz` with `cargo afl`, coverage-guided) and `tests/replay.rs`, which runs every
//! file of `corpus/<target>/` and `crashes/<target>/` on every `cargo test`, so a crash once
//! found stays fixed.

#![warn(missing_docs)]

mod targets;

pub use targets::{analytics, audio, batch_form, credentials, custom_corpus, custom_words};

/// A fuzz target: takes any bytes; panics when it finds a bug.
pub type Target = fn(&[u8]);

/// Every target by name (the name is its corpus folder and the argument of the AFL++ binary).
pub const TARGETS: &[(&str, Target)] = &[
    ("audio", audio::sniffed),
    ("audio_g729", audio::raw_g729),
    ("batch_form", batch_form::create_request),
    ("credentials", credentials::file),
    ("custom_corpus", custom_corpus::corpus_file),
    ("custom_words", custom_words::words_body),
    ("analytics", analytics::result_json),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}
