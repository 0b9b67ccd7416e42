//! The recognition query parameters of `POST /v1/batches`, parsed and validated once so that
//! every backend (embedded, Kubernetes) and the shard workers see the same values.

use serde::{Deserialize, Serialize};

use crate::model::ModelName;

/// The speech recognition parameters a batch job was created with.
///
/// `timestamps` and `speaker_labels` are not here: the interface always turns them on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecognitionParams {
    /// The model name (`en-US_BroadbandModel` when the request names none).
    #[serde(with = "model_serde")]
    pub model: ModelName,
    /// Return a confidence score for every word.
    #[serde(default)]
    pub word_confidence: bool,
    /// Dates, times, numbers and currency as digits and symbols.
    #[serde(default)]
    pub smart_formatting: bool,
    /// Mask numbers of three or more digits.
    #[serde(default)]
    pub redaction: bool,
    /// Censor profanity (the service's default is on).
    #[serde(default = "default_true")]
    pub profanity_filter: bool,
    /// Weight of a custom language model's words, 0.0 to 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customization_weight: Option<f64>,
}

fn default_true() -> bool {
    true
}

impl Default for RecognitionParams {
    fn default() -> Self {
        Self {
            model: ModelName::Broadband,
            word_confidence: false,
            smart_formatting: false,
            redaction: false,
            profanity_filter: true,
            customization_weight: None,
        }
    }
}

/// A query parameter of `POST /v1/batches` that cannot be accepted; the message is the error
/// body's `error` text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ParamError(pub String);

/// The query parameters that set recognition options; others, apart from `function`, are
/// ignored, because the interface uses the defaults for every parameter it does not list.
pub const RECOGNITION_PARAMS: [&str; 8] = [
    "model",
    "word_confidence",
    "smart_formatting",
    "redaction",
    "profanity_filter",
    "customization_weight",
    "acoustic_customization_id",
    "language_customization_id",
];

impl RecognitionParams {
    /// Parses the recognition parameters out of the request's query pairs.
    pub fn from_query<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ParamError> {
        let mut p = Self::default();
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in pairs {
            if !RECOGNITION_PARAMS.contains(&name) {
                continue;
            }
            if seen.contains(&name) {
                return Err(ParamError(format!(
                    "Query parameter '{name}' is given more than once"
                )));
            }
            seen.push(name);
            match name {
                "model" => {
                    p.model = value.parse().map_err(|e: crate::model::UnknownModel| {
                        ParamError(e.to_string())
                    })?
                }
                "word_confidence" => p.word_confidence = parse_bool(name, value)?,
                "smart_formatting" => p.smart_formatting = parse_bool(name, value)?,
                "redaction" => p.redaction = parse_bool(name, value)?,
                "profanity_filter" => p.profanity_filter = parse_bool(name, value)?,
                "customization_weight" => {
                    let w: f64 = value.trim().parse().map_err(|_| {
                        ParamError(format!(
                            "The value '{value}' of query parameter 'customization_weight' is not a number: use a value from 0.0 to 1.0"
                        ))
                    })?;
                    if !(0.0..=1.0).contains(&w) {
                        return Err(ParamError(format!(
                            "customization_weight must be between 0.0 and 1.0, got {value}"
                        )));
                    }
                    p.customization_weight = Some(w);
                }
                // This service has no custom models: naming one cannot be honoured, so it is an
                // error rather than a silently different transcript.
                "acoustic_customization_id" | "language_customization_id" => {
                    return Err(ParamError(format!(
                        "Custom model '{value}' ({name}) is not available: this service has no custom models; remove the parameter"
                    )))
                }
                _ => unreachable!("filtered by RECOGNITION_PARAMS"),
            }
        }
        Ok(p)
    }

    /// The parameters as query pairs, in the interface's spelling (for listings and manifests).
    pub fn to_query(&self) -> Vec<(&'static str, String)> {
        let mut q = vec![
            ("model", self.model.as_str().to_string()),
            ("word_confidence", self.word_confidence.to_string()),
            ("smart_formatting", self.smart_formatting.to_string()),
            ("redaction", self.redaction.to_string()),
            ("profanity_filter", self.profanity_filter.to_string()),
        ];
        if let Some(w) = self.customization_weight {
            q.push(("customization_weight", w.to_string()));
        }
        q
    }
}

/// The interface's booleans are `true` and `false` (any letter case).
fn parse_bool(name: &str, value: &str) -> Result<bool, ParamError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ParamError(format!(
            "The value '{value}' of query parameter '{name}' is not a boolean: use true or false"
        ))),
    }
}

mod model_serde {
    use super::ModelName;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(m: &ModelName, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(m.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ModelName, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &[(&str, &str)]) -> Result<RecognitionParams, ParamError> {
        RecognitionParams::from_query(q.iter().copied())
    }

    #[test]
    fn no_parameters_give_the_interface_defaults() {
        let p = parse(&[("function", "recognize")]).unwrap();
        assert_eq!(p, RecognitionParams::default());
        assert_eq!(p.model, ModelName::Broadband);
        assert!(p.profanity_filter);
    }

    #[test]
    fn the_documented_example_sets_smart_formatting_and_redaction() {
        let p = parse(&[
            ("function", "recognize"),
            ("smart_formatting", "true"),
            ("redaction", "TRUE"),
            ("profanity_filter", "false"),
            ("model", "en-US_NarrowbandModel"),
        ])
        .unwrap();
        assert!(p.smart_formatting && p.redaction && !p.profanity_filter);
        assert_eq!(p.model, ModelName::Narrowband);
    }

    #[test]
    fn bad_booleans_weights_models_and_custom_ids_are_refused_with_the_parameter_named() {
        let e = parse(&[("word_confidence", "yes")]).unwrap_err();
        assert!(
            e.0.contains("word_confidence") && e.0.contains("yes"),
            "{e}"
        );
        for w in ["1.5", "-0.1", "heavy", "NaN"] {
            let e = parse(&[("customization_weight", w)]).unwrap_err();
            assert!(e.0.contains("customization_weight"), "{e}");
        }
        assert_eq!(
            parse(&[("customization_weight", "0.3")])
                .unwrap()
                .customization_weight,
            Some(0.3)
        );
        let e = parse(&[("model", "fr-FR_BroadbandModel")]).unwrap_err();
        assert!(e.0.contains("fr-FR_BroadbandModel"), "{e}");
        let e = parse(&[("language_customization_id", "abc")]).unwrap_err();
        assert!(e.0.contains("abc"), "{e}");
        let e = parse(&[("redaction", "true"), ("redaction", "false")]).unwrap_err();
        assert!(e.0.contains("more than once"), "{e}");
    }

    #[test]
    fn params_round_trip_through_json_and_query_pairs() {
        let p = parse(&[
            ("smart_formatting", "true"),
            ("customization_weight", "0.5"),
        ])
        .unwrap();
        let back: RecognitionParams =
            serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        let q = p.to_query();
        let again = RecognitionParams::from_query(q.iter().map(|(k, v)| (*k, v.as_str()))).unwrap();
        assert_eq!(again, p);
    }
}
