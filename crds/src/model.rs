//! The interface's recognition model names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A recognition model name of the batch interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ModelName {
    /// `en-US_BroadbandModel`, the default: audio sampled at 16 kHz or more.
    #[default]
    Broadband,
    /// `en-US_NarrowbandModel`: 8 kHz telephone audio.
    Narrowband,
    /// `en-US_ShortForm_NarrowbandModel`: short 8 kHz utterances (IVR answers, commands).
    ShortFormNarrowband,
}

impl ModelName {
    /// Every name the service accepts.
    pub const ALL: [ModelName; 3] = [Self::Broadband, Self::Narrowband, Self::ShortFormNarrowband];

    /// The interface's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Broadband => "en-US_BroadbandModel",
            Self::Narrowband => "en-US_NarrowbandModel",
            Self::ShortFormNarrowband => "en-US_ShortForm_NarrowbandModel",
        }
    }

    /// Whether the model is for telephone-band audio (the only ones that accept G.729).
    pub fn is_narrowband(self) -> bool {
        !matches!(self, Self::Broadband)
    }

    /// The language every model recognises.
    pub const LANGUAGE: &'static str = "en-US";

    /// The sampling rate the model is meant for, in Hz (audio at other rates is resampled).
    pub fn rate(self) -> u32 {
        if self.is_narrowband() {
            8_000
        } else {
            16_000
        }
    }

    /// What the model is for, in a sentence.
    pub fn description(self) -> &'static str {
        match self {
            Self::Broadband => "US English broadband model, for audio sampled at 16 kHz or more",
            Self::Narrowband => "US English narrowband model, for 8 kHz telephone audio",
            Self::ShortFormNarrowband => {
                "US English short-form narrowband model, for short 8 kHz utterances such as IVR answers and commands"
            }
        }
    }

    /// The model as `GET /v1/models` describes it; `url` is where `GET /v1/models/{name}` is.
    pub fn info(self, url: String) -> ModelInfo {
        ModelInfo {
            name: self.as_str().to_string(),
            language: Self::LANGUAGE.to_string(),
            rate: self.rate(),
            url,
            description: self.description().to_string(),
            supported_features: SupportedFeatures {
                // Custom language models can be built on every base model (`/v1/customizations`);
                // custom acoustic models are not served, and a client must not be told otherwise.
                custom_language_model: true,
                custom_acoustic_model: false,
                speaker_labels: true,
            },
        }
    }
}

/// One base model of `GET /v1/models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The model name, e.g. `en-US_BroadbandModel`.
    pub name: String,
    /// Its language, e.g. `en-US`.
    pub language: String,
    /// The sampling rate it is meant for, in Hz.
    pub rate: u32,
    /// The address of the model's own resource.
    pub url: String,
    /// What it is for.
    pub description: String,
    /// What can be used with it.
    pub supported_features: SupportedFeatures,
}

/// The features of a base model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportedFeatures {
    /// Whether custom language models can be built on it.
    pub custom_language_model: bool,
    /// Whether custom acoustic models can be built on it.
    pub custom_acoustic_model: bool,
    /// Whether it labels speakers.
    pub speaker_labels: bool,
}

/// The body of `GET /v1/models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    /// Every base model.
    pub models: Vec<ModelInfo>,
}

impl fmt::Display for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a name the service does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Model {} not found. Available models: en-US_BroadbandModel, en-US_NarrowbandModel, en-US_ShortForm_NarrowbandModel", crate::shown(.0))]
pub struct UnknownModel(pub String);

impl FromStr for ModelName {
    type Err = UnknownModel;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownModel(s.to_string()))
    }
}

/// Serialized as the interface's spelling, so that job records, the SpeechBatch spec and the
/// shard environment all carry the name a user typed.
impl Serialize for ModelName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ModelName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The CRD schema lists the names, so that the API server refuses an unknown one at `kubectl
/// apply` time, as the REST API does at creation.
#[cfg(feature = "kube")]
impl schemars::JsonSchema for ModelName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ModelName".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = Self::ALL.iter().map(|m| m.as_str()).collect();
        schemars::json_schema!({ "type": "string", "enum": names })
    }

    fn inline_schema() -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_interface_names_parse_and_others_do_not() {
        for m in ModelName::ALL {
            assert_eq!(m.as_str().parse::<ModelName>(), Ok(m));
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{}\"", m.as_str()));
            assert_eq!(serde_json::from_str::<ModelName>(&json).unwrap(), m);
        }
        let err = "en-GB_BroadbandModel".parse::<ModelName>().unwrap_err();
        assert!(err.to_string().contains("en-GB_BroadbandModel"));
        assert!(serde_json::from_str::<ModelName>("\"en-GB_BroadbandModel\"").is_err());
        assert!(!ModelName::Broadband.is_narrowband());
        assert!(ModelName::ShortFormNarrowband.is_narrowband());
    }
}
