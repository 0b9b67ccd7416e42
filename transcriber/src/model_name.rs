//! The weights and input band that serve each of the interface's model names
//! (the names themselves are contract types in `crds`).

pub use crds::{ModelName, UnknownModel};

/// The weights a model name runs on (directory names under the models folder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Weights {
    /// Whisper tiny.en.
    TinyEn,
    /// Whisper base (multilingual).
    Base,
    /// Moonshine Base (English), converted by `setup/convert_moonshine.py`.
    MoonshineBase,
}

/// The model families the engine runs: each has its own graphs, vocabulary and decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Whisper: log-mel windows of 30 s, timestamps from its alignment heads.
    Whisper,
    /// Moonshine: the waveform of speech only, timestamps from chosen cross-attention heads.
    Moonshine,
}

impl Weights {
    /// Directory of the converted model under the models folder.
    pub fn dir_name(self) -> &'static str {
        match self {
            Weights::TinyEn => "whisper-tiny.en",
            Weights::Base => "whisper-base",
            Weights::MoonshineBase => "moonshine-base-en",
        }
    }

    /// The family of the weights.
    pub fn family(self) -> Family {
        match self {
            Weights::TinyEn | Weights::Base => Family::Whisper,
            Weights::MoonshineBase => Family::Moonshine,
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
