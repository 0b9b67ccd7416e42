//! What the console's Documentation tab is made of: the service's OpenAPI document (the same one
//! `GET /v1/openapi.yaml` serves and the contract tests check every answer against) and the
//! code's own constants (statuses, models, tones, limits). The page renders these; it holds no
//! copy of any parameter, path or limit, so it cannot say something the API does not do.

use std::sync::OnceLock;

use crds::analytics::{SentimentLabel, ToneId, CONVERSATION_ZIP, SPEAKER_ZIP};
use crds::customization::{DEFAULT_CUSTOMIZATION_WEIGHT, MAX_CORPUS_NAME_CHARS, MAX_OOV_WORDS};
use crds::params::RECOGNITION_PARAMS;
use crds::{BatchStatus, ModelName};
use serde_json::{json, Value};

use crate::handlers::OPENAPI_YAML;
use crate::request::{MAX_AUDIO_BODY_BYTES, MAX_BODY_BYTES};

/// The body of `GET /console/api/docs`, built once.
pub fn docs() -> &'static Value {
    static DOCS: OnceLock<Value> = OnceLock::new();
    DOCS.get_or_init(|| {
        let openapi: Value = serde_yaml::from_str(OPENAPI_YAML)
            .expect("openapi.yaml is valid YAML (checked by the contract tests)");
        json!({ "openapi": openapi, "constants": constants() })
    })
}

fn constants() -> Value {
    let labels: Vec<&str> = [
        SentimentLabel::Positive,
        SentimentLabel::Neutral,
        SentimentLabel::Negative,
    ]
    .iter()
    .map(|l| l.as_str())
    .collect();
    json!({
        "statuses": BatchStatus::ALL.iter().map(|s| json!({
            "status": s.as_str(),
            "final": s.is_final(),
            "description": s.description(),
        })).collect::<Vec<_>>(),
        "models": ModelName::ALL.iter().map(|m| json!({
            "name": m.as_str(),
            "rate": m.rate(),
            "description": m.description(),
        })).collect::<Vec<_>>(),
        "default_model": ModelName::default().as_str(),
        "recognition_params": RECOGNITION_PARAMS,
        "tones": ToneId::ALL.iter().map(|t| json!({"tone_id": t.as_str(), "tone_name": t.name()})).collect::<Vec<_>>(),
        "sentiment_labels": labels,
        "archives": [CONVERSATION_ZIP, SPEAKER_ZIP],
        "limits": {
            "request_body_bytes": MAX_BODY_BYTES,
            "recognize_body_bytes": MAX_AUDIO_BODY_BYTES,
            "custom_words": MAX_OOV_WORDS,
            "corpus_name_chars": MAX_CORPUS_NAME_CHARS,
        },
        "default_customization_weight": DEFAULT_CUSTOMIZATION_WEIGHT,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_recognition_parameter_is_documented_with_a_description() {
        let d = docs();
        let params = &d["openapi"]["components"]["parameters"];
        for name in RECOGNITION_PARAMS {
            let p = &params[name];
            assert_eq!(p["name"], name, "{name} is in components.parameters");
            let text = p["description"].as_str().unwrap_or_default();
            assert!(text.len() > 20, "{name} has a description: {p}");
        }
    }

    #[test]
    fn every_operation_has_a_tag_the_document_describes() {
        let d = docs();
        let tags: Vec<&str> = d["openapi"]["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .map(|t| t["name"].as_str().expect("tag name"))
            .collect();
        for (path, item) in d["openapi"]["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                if method == "parameters" {
                    continue;
                }
                let tag = op["tags"][0].as_str().unwrap_or_default();
                assert!(tags.contains(&tag), "{method} {path} has a known tag");
                assert!(op["summary"].is_string(), "{method} {path} has a summary");
            }
        }
    }

    #[test]
    fn the_constants_are_the_codes() {
        let c = &docs()["constants"];
        assert_eq!(c["statuses"].as_array().map(Vec::len), Some(6));
        assert_eq!(c["tones"].as_array().map(Vec::len), Some(ToneId::ALL.len()));
        assert_eq!(c["limits"]["request_body_bytes"], MAX_BODY_BYTES);
        assert_eq!(c["models"][0]["name"], ModelName::ALL[0].as_str());
    }
}
