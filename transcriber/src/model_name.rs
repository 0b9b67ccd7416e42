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

    /// How far the attention that times the words lags behind the sound, in seconds (negative:
    /// it runs ahead); word times are moved this much earlier.
    ///
    /// Measured against speech whose every word time is known (`bench/timing/`: Festival
    /// voices, the times of the segments it synthesised; `bench/eval.sh` scores it): with no
    /// correction, words inside continuous speech came out 64 ms early with base, 106 ms late
    /// with tiny.en and 62 ms early with Moonshine under its earlier 72 ms lag (the mean of
    /// the start and end signed errors, broadband and narrowband alike, each of the three
    /// voices within 20 ms of the mean). Each lag cancels its mean.
    pub fn attention_lag_s(self) -> f64 {
        match self {
            Weights::TinyEn => 0.105,
            Weights::Base => -0.065,
            Weights::MoonshineBase => 0.010,
        }
    }

    /// The weights that serve `model`: those that measure best on the evaluation set
    /// (`bench/eval.sh`), WER first and speed second; README.md ("Models") has the figures.
    /// Whisper base serves every name: on telephone speech it makes the fewest errors (8.73% of
    /// 1,809 words against 10.67% for Moonshine and 11.66% for tiny.en, and on the short
    /// utterances alone 10.3% against 13.2% and 16.0%), and on broadband speech Moonshine's
    /// 7.45% against base's 7.82% (3,490 words) is within the luck of the files, while base runs
    /// long recordings 1.8 times as fast.
    pub fn serving(model: ModelName) -> Weights {
        match model {
            ModelName::Broadband | ModelName::Narrowband | ModelName::ShortFormNarrowband => {
                Weights::Base
            }
        }
    }
}
