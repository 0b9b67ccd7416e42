//! The recognition options of a batch: parsed and validated once (from the query of
//! `POST /v1/batches`, or by the API server against the CRD schema for a `kubectl apply`), then
//! carried unchanged by every record and process that needs them: the embedded job record, the
//! SpeechBatch spec, the shard environment, the engine and the formatter.

use serde::{Deserialize, Serialize};

use crate::model::ModelName;

/// The speech recognition options of a batch job, as they are applied to every file.
///
/// `timestamps` and `speaker_labels` are not here: the interface always turns them on. The
/// defaults are the interface's, written once in [`Default`] (serde and the CRD schema take
/// them from there). Derived rules are resolved when the options are built
/// ([`RecognitionParams::resolved`]), so a record never says an option is off while it applies.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct RecognitionParams {
    /// The model name (`en-US_BroadbandModel` when the request names none).
    pub model: ModelName,
    /// Return a confidence score for every word.
    #[serde(alias = "word_confidence")]
    pub word_confidence: bool,
    /// Dates, times, numbers and currency as digits and symbols (always on with redaction).
    #[serde(alias = "smart_formatting")]
    pub smart_formatting: bool,
    /// Mask every digit of numbers of three or more digits; turns smart formatting on.
    pub redaction: bool,
    /// Censor profanity with asterisks (on unless turned off).
    #[serde(alias = "profanity_filter")]
    pub profanity_filter: bool,
    /// Weight of a custom language model's words, 0.0 to 1.0.
    #[serde(
        alias = "customization_weight",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "kube", schemars(range(min = 0.0, max = 1.0)))]
    pub customization_weight: Option<f64>,
    /// Whether the channels of a multichannel file are recognised one by one, each channel its
    /// own speaker (`auto`: when they carry different talkers, as two-channel call recordings
    /// do).
    #[serde(alias = "split_channels")]
    pub split_channels: SplitChannels,
    /// Add speech analytics (tones, sentiment, keywords and topics per speaker turn, the
    /// conversation's topics, `Conversation.zip` and `Speaker.zip`) once every file is
    /// recognised.
    #[serde(alias = "speech_analytics")]
    pub speech_analytics: bool,
}

/// How a file with more than one channel is recognised (query parameter `split_channels`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum SplitChannels {
    /// Split when the channels carry separate talkers (each channel louder than the others by a
    /// wide margin while its talker speaks, and the channels not copies of one mix); otherwise
    /// mix them down to one.
    #[default]
    Auto,
    /// Always recognise each channel that carries sound on its own; silent channels are left out.
    True,
    /// Always mix the channels down to one and find the speakers by voice.
    False,
}

impl SplitChannels {
    /// The query parameter's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::True => "true",
            Self::False => "false",
        }
    }
}

impl Default for RecognitionParams {
    /// The interface's defaults: the broadband model, profanity filter on, everything else off.
    fn default() -> Self {
        Self {
            model: ModelName::Broadband,
            word_confidence: false,
            smart_formatting: false,
            redaction: false,
            profanity_filter: true,
            customization_weight: None,
            split_channels: SplitChannels::Auto,
            speech_analytics: false,
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
pub const RECOGNITION_PARAMS: [&str; 10] = [
    "model",
    "split_channels",
    "word_confidence",
    "smart_formatting",
    "redaction",
    "profanity_filter",
    "customization_weight",
    "acoustic_customization_id",
    "language_customization_id",
    "speech_analytics",
];

impl RecognitionParams {
    /// The options with the interface's derived rules applied: redaction turns smart formatting
    /// on ("when you enable redaction, smart formatting is enabled too"). Every place that
    /// builds options from what a user wrote calls this, so the records show what is applied.
    pub fn resolved(mut self) -> Self {
        self.smart_formatting |= self.redaction;
        self
    }

    /// Parses (and resolves) the recognition parameters out of the request's query pairs.
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
                "speech_analytics" => p.speech_analytics = parse_bool(name, value)?,
                "split_channels" => {
                    p.split_channels = match value.to_ascii_lowercase().as_str() {
                        "auto" => SplitChannels::Auto,
                        "true" => SplitChannels::True,
                        "false" => SplitChannels::False,
                        _ => return Err(ParamError(format!(
                            "The value '{}' of query parameter 'split_channels' is not valid: use auto, true or false",
                            crate::shown(value)
                        ))),
                    }
                }
                "customization_weight" => {
                    let w: f64 = value.trim().parse().map_err(|_| {
                        ParamError(format!(
                            "The value '{}' of query parameter 'customization_weight' is not a number: use a value from 0.0 to 1.0",
                            crate::shown(value)
                        ))
                    })?;
                    if !(0.0..=1.0).contains(&w) {
                        return Err(ParamError(format!(
                            "customization_weight must be between 0.0 and 1.0, got {}",
                            crate::shown(value)
                        )));
                    }
                    p.customization_weight = Some(w);
                }
                // A custom language model is named by an id, which is not `Copy`: it is read by
                // [`language_customization_id`] and carried beside these options. Checked here
                // only so that a repeat is refused like any other parameter's.
                "language_customization_id" => {}
                // Custom acoustic models are not served: naming one cannot be honoured, so it is
                // an error rather than a silently different transcript.
                "acoustic_customization_id" => {
                    return Err(ParamError(format!(
                        "Custom acoustic model '{}' (acoustic_customization_id) is not available: this service does not support custom acoustic models; remove the parameter",
                        crate::shown(value)
                    )))
                }
                _ => unreachable!("filtered by RECOGNITION_PARAMS"),
            }
        }
        Ok(p.resolved())
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
        q.push(("split_channels", self.split_channels.as_str().to_string()));
        if self.speech_analytics {
            q.push(("speech_analytics", "true".to_string()));
        }
        q
    }
}

/// The custom language model a request names (`language_customization_id`), if any: checked
/// for a value, not for existence (the backend that keeps the models does that). A repeat is
/// refused by [`RecognitionParams::from_query`].
pub fn language_customization_id<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Option<String>, ParamError> {
    let mut id = None;
    for (name, value) in pairs {
        if name != "language_customization_id" {
            continue;
        }
        if id.is_some() {
            return Err(ParamError(
                "Query parameter 'language_customization_id' is given more than once".into(),
            ));
        }
        let value = value.trim();
        if value.is_empty() {
            return Err(ParamError(
                "Query parameter 'language_customization_id' is empty: give the customization_id of a custom language model, or leave the parameter out".into(),
            ));
        }
        id = Some(value.to_string());
    }
    Ok(id)
}

/// The interface's booleans are `true` and `false` (any letter case).
fn parse_bool(name: &str, value: &str) -> Result<bool, ParamError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ParamError(format!(
            "The value '{}' of query parameter '{name}' is not a boolean: use true or false",
            crate::shown(value)
        ))),
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
    fn missing_fields_of_a_stored_or_applied_record_take_the_same_defaults() {
        let p: RecognitionParams = serde_json::from_str("{}").unwrap();
        assert_eq!(p, RecognitionParams::default());
        let p: RecognitionParams =
            serde_json::from_str(r#"{"model":"en-US_NarrowbandModel"}"#).unwrap();
        assert!(p.profanity_filter && !p.word_confidence);
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
    fn redaction_alone_is_recorded_with_smart_formatting_on() {
        let p = parse(&[("redaction", "true")]).unwrap();
        assert!(p.redaction && p.smart_formatting);
        let applied: RecognitionParams = serde_json::from_str(r#"{"redaction":true}"#).unwrap();
        assert!(
            !applied.smart_formatting,
            "deserializing keeps what was written"
        );
        assert!(applied.resolved().smart_formatting);
        assert!(!parse(&[]).unwrap().smart_formatting);
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
        let e = parse(&[("acoustic_customization_id", "abc")]).unwrap_err();
        assert!(e.0.contains("abc") && e.0.contains("acoustic"), "{e}");
        let e = parse(&[("split_channels", "both")]).unwrap_err();
        assert!(
            e.0.contains("split_channels") && e.0.contains("both"),
            "{e}"
        );
        let e = parse(&[("redaction", "true"), ("redaction", "false")]).unwrap_err();
        assert!(e.0.contains("more than once"), "{e}");
    }

    #[test]
    fn a_language_customization_id_is_carried_beside_the_options() {
        let q = [
            ("function", "recognize"),
            (
                "language_customization_id",
                " 74f4807e-b5ff-4866-824e-6bba1a84fe96 ",
            ),
            ("customization_weight", "0.5"),
        ];
        let p = parse(&q).unwrap();
        assert_eq!(p.customization_weight, Some(0.5));
        assert_eq!(
            language_customization_id(q.iter().copied())
                .unwrap()
                .as_deref(),
            Some("74f4807e-b5ff-4866-824e-6bba1a84fe96")
        );
        assert_eq!(language_customization_id([("model", "x")]).unwrap(), None);
        let e = language_customization_id([("language_customization_id", "")]).unwrap_err();
        assert!(e.0.contains("language_customization_id"), "{e}");
        let twice = [
            ("language_customization_id", "a"),
            ("language_customization_id", "b"),
        ];
        assert!(parse(&twice).unwrap_err().0.contains("more than once"));
        assert!(language_customization_id(twice.iter().copied())
            .unwrap_err()
            .0
            .contains("more than once"));
    }

    #[test]
    fn params_round_trip_through_json_and_query_pairs() {
        let p = parse(&[
            ("smart_formatting", "true"),
            ("customization_weight", "0.5"),
            ("split_channels", "FALSE"),
        ])
        .unwrap();
        assert_eq!(p.split_channels, SplitChannels::False);
        let text = serde_json::to_string(&p).unwrap();
        assert!(text.contains("\"smartFormatting\":true"), "{text}");
        let back: RecognitionParams = serde_json::from_str(&text).unwrap();
        assert_eq!(back, p);
        let q = p.to_query();
        let again = RecognitionParams::from_query(q.iter().map(|(k, v)| (*k, v.as_str()))).unwrap();
        assert_eq!(again, p);
    }

    #[test]
    fn records_written_before_the_camel_case_spelling_still_load() {
        let old = r#"{"model":"en-US_BroadbandModel","word_confidence":true,"smart_formatting":true,"redaction":false,"profanity_filter":false}"#;
        let p: RecognitionParams = serde_json::from_str(old).unwrap();
        assert!(p.word_confidence && p.smart_formatting && !p.profanity_filter);
    }
}
