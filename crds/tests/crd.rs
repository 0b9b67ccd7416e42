//! The checked-in CRD matches the Rust types, and the example manifests satisfy its schema.
#![cfg(feature = "kube")]

use std::path::Path;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn crd_schema() -> serde_json::Value {
    let crd: serde_json::Value = serde_yaml::from_str(&crds::resource::crd_yaml()).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

#[test]
fn the_checked_in_crd_is_what_crdgen_prints() {
    let path = root().join("charts/speechbatch/crds/speechbatches.speechbatch.io.yaml");
    let checked_in = std::fs::read_to_string(&path).unwrap();
    assert!(
        checked_in == crds::resource::crd_yaml(),
        "{} drifted from the Rust types: run `cargo run -p crds --features kube --bin crdgen > {}`",
        path.display(),
        path.display()
    );
}

#[test]
fn the_checked_in_language_model_crd_is_what_crdgen_prints() {
    let path = root().join("charts/speechbatch/crds/languagemodels.speechbatch.io.yaml");
    let checked_in = std::fs::read_to_string(&path).unwrap();
    assert!(
        checked_in == crds::language_model::crd_yaml(),
        "{} drifted from the Rust types: run `cargo run -p crds --features kube --bin crdgen languagemodels > {}`",
        path.display(),
        path.display()
    );
}

#[test]
fn example_language_models_satisfy_the_schema_and_deserialize() {
    let crd: serde_json::Value = serde_yaml::from_str(&crds::language_model::crd_yaml()).unwrap();
    let schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut seen = 0;
    for entry in std::fs::read_dir(root().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
            if v["kind"] != "LanguageModel" {
                continue;
            }
            let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{}: {errors:?}", path.display());
            let lm: crds::language_model::LanguageModel = serde_json::from_value(v).unwrap();
            assert!(!lm.spec.words.is_empty(), "{}", path.display());
            assert!(lm.spec.training.is_some(), "{}", path.display());
            seen += 1;
        }
    }
    assert!(seen >= 1, "expected an example LanguageModel manifest");
    // The schema refuses a weight outside 0.0–1.0 and a model without a name.
    let mut bad = serde_json::json!({
        "apiVersion": "speechbatch.io/v1alpha1", "kind": "LanguageModel",
        "metadata": {"name": "x"},
        "spec": {"name": "n", "training": {"request": 1, "customizationWeight": 1.5}}
    });
    assert!(!validator.is_valid(&bad));
    bad["spec"] = serde_json::json!({"baseModelName": "en-US_BroadbandModel"});
    assert!(!validator.is_valid(&bad));
}

#[test]
fn example_manifests_satisfy_the_schema_and_deserialize() {
    let validator = jsonschema::validator_for(&crd_schema()).unwrap();
    let mut seen = 0;
    for entry in std::fs::read_dir(root().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
            if v["kind"] != "SpeechBatch" {
                continue;
            }
            let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{}: {errors:?}", path.display());
            let sb: crds::resource::SpeechBatch = serde_json::from_value(v).unwrap();
            assert!(sb.batch_id().is_ok(), "{}", path.display());
            seen += 1;
        }
    }
    assert!(seen >= 2, "expected example SpeechBatch manifests");
}

#[test]
fn the_schema_refuses_what_the_rest_api_refuses() {
    let validator = jsonschema::validator_for(&crd_schema()).unwrap();
    let base = serde_json::json!({
        "apiVersion": "speechbatch.io/v1alpha1", "kind": "SpeechBatch",
        "metadata": {"name": "x"},
        "spec": {"input": {"name": "b", "location": "us-geo", "credentialsSecret": {"name": "s"}}}
    });
    assert!(validator.is_valid(&base));
    let mut bad_model = base.clone();
    bad_model["spec"]["recognition"] = serde_json::json!({"model": "fr-FR_BroadbandModel"});
    assert!(!validator.is_valid(&bad_model));
    let mut bad_weight = base.clone();
    bad_weight["spec"]["recognition"] = serde_json::json!({"customizationWeight": 1.5});
    assert!(!validator.is_valid(&bad_weight));
    let mut no_secret = base.clone();
    no_secret["spec"]["input"] = serde_json::json!({"name": "b", "location": "us-geo"});
    assert!(!validator.is_valid(&no_secret));
}

#[test]
fn created_comes_from_the_millisecond_annotation_when_the_shim_set_it() {
    let yaml = |annotations: &str| {
        format!(
            "apiVersion: speechbatch.io/v1alpha1\nkind: SpeechBatch\nmetadata:\n  name: b\n  creationTimestamp: \"2026-11-26T10:00:00Z\"\n{annotations}spec:\n  input: {{name: calls, location: us-geo, credentialsSecret: {{name: c}}}}\n"
        )
    };
    let shim: crds::resource::SpeechBatch = serde_yaml::from_str(&yaml(
        "  annotations:\n    speechbatch.io/created: \"2026-11-26T10:00:00.734+0000\"\n",
    ))
    .unwrap();
    assert_eq!(
        shim.to_batch_job().created.to_string(),
        "2026-11-26T10:00:00.734+0000"
    );
    let applied: crds::resource::SpeechBatch = serde_yaml::from_str(&yaml("")).unwrap();
    let job = applied.to_batch_job();
    assert_eq!(job.created.to_string(), "2026-11-26T10:00:00.000+0000");
    assert_eq!(
        job.updated, job.created,
        "no status yet: updated is created"
    );
}
