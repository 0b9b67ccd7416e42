//! The Whisper weights and input band that serve each of the interface's model names
//! (the names themselves are contract types in `crds`).

pub use crds::{ModelName, UnknownModel};

/// The Whisper weights a model name runs on (directory names under the models folder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Weights {
    /// Whisper tiny.en.
    TinyEn,
    /// Whisper base (multilingual).
    Base,
}

impl Weights {
    /// Directory of the converted model under the models folder.
    pub fn dir_name(self) -> &'static str {
        match self {
            Weights::TinyEn => "whisper-tiny.en",
            Weights::Base => "whisper-base",
        }
    }

    /// The weights that serve `model`; README.md says why (measured in BENCHMARKS.md: base is
    /// the more accurate on both bands, tiny.en the faster for short utterances).
    pub fn serving(model: ModelName) -> Weights {
        match model {
            ModelName::Broadband | ModelName::Narrowband => Weights::Base,
            ModelName::ShortFormNarrowband => Weights::TinyEn,
        }
    }
}
