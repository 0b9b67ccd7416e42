//! Custom language models through the real `speechbatch` binary: every `/v1/customizations`
//! route with its status codes and error bodies, each answer checked against openapi.yaml; the
//! life of a model (corpus analysed, words derived, added, changed and deleted, training,
//! upgrade, reset); models surviving restarts, and work interrupted by one resumed; and batch
//! jobs (and `POST /v1/recognize`) that name a model, refused with the reason when they cannot
//! use it.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::*;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use speechbatch_testkit::wait_for;

/// Long enough for a loaded machine; reached only when something is wrong.
const SETTLE: Duration = Duration::from_secs(60);

/// What a request carries.
enum Body {
    None,
    Json(Value),
    Text(Vec<u8>),
    Form(Form),
}

/// Sends an authenticated request; the status and body, checked against `schema` (a success)
/// or the error body.
async fn call(
    svc: &Service,
    method: Method,
    path: &str,
    body: Body,
    schema: &str,
) -> (StatusCode, Value) {
    let rb = svc.authed(svc.http.request(method, svc.url(path)));
    let rb = match body {
        Body::None => rb,
        Body::Json(v) => rb.json(&v),
        Body::Text(t) => rb.header("content-type", "text/plain").body(t),
        Body::Form(f) => rb.multipart(f),
    };
    checked_as(rb.send().await.unwrap(), schema).await
}

async fn ok(
    svc: &Service,
    method: Method,
    path: &str,
    body: Body,
    schema: &str,
    want: u16,
) -> Value {
    let (st, v) = call(svc, method.clone(), path, body, schema).await;
    assert_eq!(st.as_u16(), want, "{method} {path}: {v}");
    v
}

async fn refused(
    svc: &Service,
    method: Method,
    path: &str,
    body: Body,
    want: u16,
    mentions: &[&str],
) {
    let (st, v) = call(svc, method.clone(), path, body, "ErrorBody").await;
    assert_eq!(st.as_u16(), want, "{method} {path}: {v}");
    let e = v["error"].as_str().unwrap();
    for m in mentions {
        assert!(
            e.contains(m),
            "{method} {path}: the error should mention {m:?}: {e}"
        );
    }
}

async fn model(svc: &Service, id: &str) -> Value {
    ok(
        svc,
        Method::GET,
        &format!("/v1/customizations/{id}"),
        Body::None,
        "LanguageModel",
        200,
    )
    .await
}

/// Polls the model until `done` holds; returns it.
async fn wait_model(svc: &Service, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    wait_for(format!("model {id} is {what}"), SETTLE, async || {
        let m = model(svc, id).await;
        done(&m).then_some(m)
    })
    .await
}

async fn wait_available(svc: &Service, id: &str) -> Value {
    let m = wait_model(svc, id, "available or failed", |m| {
        matches!(m["status"].as_str(), Some("available" | "failed"))
    })
    .await;
    assert_eq!(m["status"], "available", "{m}");
    assert_eq!(m["progress"], 100, "{m}");
    m
}

/// Polls a corpus until its analysis is over; returns it and every status seen.
async fn wait_analyzed(svc: &Service, id: &str, corpus: &str) -> (Value, Vec<String>) {
    let mut seen: Vec<String> = Vec::new();
    let c = wait_for(format!("corpus {corpus} is analysed"), SETTLE, async || {
        let c = ok(
            svc,
            Method::GET,
            &format!("/v1/customizations/{id}/corpora/{corpus}"),
            Body::None,
            "Corpus",
            200,
        )
        .await;
        let st = c["status"].as_str().unwrap().to_string();
        if seen.last() != Some(&st) {
            seen.push(st.clone());
        }
        (st != "being_processed").then_some(c)
    })
    .await;
    (c, seen)
}

async fn words(svc: &Service, id: &str, query: &str) -> Vec<Value> {
    let v = ok(
        svc,
        Method::GET,
        &format!("/v1/customizations/{id}/words{query}"),
        Body::None,
        "Words",
        200,
    )
    .await;
    v["words"].as_array().unwrap().clone()
}

fn word_named<'a>(words: &'a [Value], word: &str) -> Option<&'a Value> {
    words
        .iter()
        .find(|w| w["word"].as_str().unwrap().eq_ignore_ascii_case(word))
}

async fn create_model(svc: &Service, name: &str, base: &str) -> String {
    let v = ok(
        svc,
        Method::POST,
        "/v1/customizations",
        Body::Json(json!({"name": name, "base_model_name": base, "description": "test model"})),
        "CustomizationId",
        201,
    )
    .await;
    v["customization_id"].as_str().unwrap().to_string()
}

/// `POST /v1/batches?{query}` over the bucket of one short clip.
async fn create_batch(svc: &Service, creds: &[u8], query: String) -> (StatusCode, Value) {
    svc.create_raw(&query, form(creds, "custom-one", None))
        .await
}

/// A job's own copy of the vocabulary it recognises with.
fn copy(svc: &Service, batch: &str) -> std::path::PathBuf {
    svc.data
        .path()
        .join("jobs")
        .join(format!("{batch}.vocabulary.json"))
}

fn corpus_text() -> Vec<u8> {
    read_testdata("custom/corpus.txt")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_language_models_keep_the_contract_through_their_life_and_restarts() {
    let mut svc = Service::start(Opts::default()).await;

    // --- Every route wants the API key, with and without the interface's prefix.
    for prefix in ["", "/speech-to-text/api"] {
        for (m, path) in [
            (Method::GET, "/v1/customizations"),
            (Method::POST, "/v1/customizations"),
            (Method::GET, "/v1/customizations/x/words"),
            (Method::POST, "/v1/customizations/x/corpora/c"),
            (Method::GET, "/v1/customizations/x/grammars"),
            (Method::GET, "/v1/acoustic_customizations"),
        ] {
            let r = svc
                .http
                .request(m.clone(), svc.url(&format!("{prefix}{path}")))
                .send()
                .await
                .unwrap();
            let (st, _) = checked_as(r, "ErrorBody").await;
            assert_eq!(st, 401, "{m} {prefix}{path} without the key");
        }
    }

    // --- Base models say that custom language models can be built on them.
    let r = svc
        .authed(svc.http.get(svc.url("/v1/models")))
        .send()
        .await
        .unwrap();
    let (_, list) = checked_as(r, "ModelList").await;
    for m in list["models"].as_array().unwrap() {
        assert_eq!(
            m["supported_features"]["custom_language_model"], true,
            "{m}"
        );
        assert_eq!(
            m["supported_features"]["custom_acoustic_model"], false,
            "{m}"
        );
    }

    // --- Creation: 201 with an id; the model is pending, with the interface's fields.
    let id = create_model(&svc, "telco", "en-US_BroadbandModel").await;
    let m = model(&svc, &id).await;
    assert_eq!(m["customization_id"], id.as_str());
    assert_eq!(m["status"], "pending");
    assert_eq!(m["progress"], 0);
    assert_eq!(m["name"], "telco");
    assert_eq!(m["description"], "test model");
    assert_eq!(m["base_model_name"], "en-US_BroadbandModel");
    assert_eq!(
        (m["language"].as_str(), m["dialect"].as_str()),
        (Some("en-US"), Some("en-US"))
    );
    assert!(is_timestamp(m["created"].as_str().unwrap()), "{m}");
    let prefixed = ok(
        &svc,
        Method::GET,
        &format!("/speech-to-text/api/v1/customizations/{id}"),
        Body::None,
        "LanguageModel",
        200,
    )
    .await;
    assert_eq!(prefixed, m);
    for (body, mentions) in [
        (
            json!({"base_model_name": "en-US_BroadbandModel"}),
            vec!["name"],
        ),
        (json!({"name": "x"}), vec!["base_model_name"]),
        (
            json!({"name": "x", "base_model_name": "fr-FR_BroadbandModel"}),
            vec!["fr-FR_BroadbandModel"],
        ),
        (
            json!({"name": " ", "base_model_name": "en-US_BroadbandModel"}),
            vec!["name"],
        ),
        (
            json!({"name": "x", "base_model_name": "en-US_BroadbandModel", "dialect": "en-GB"}),
            vec!["en-GB"],
        ),
    ] {
        refused(
            &svc,
            Method::POST,
            "/v1/customizations",
            Body::Json(body.clone()),
            400,
            &mentions,
        )
        .await;
    }
    refused(
        &svc,
        Method::POST,
        "/v1/customizations",
        Body::Text(b"name=x".to_vec()),
        400,
        &["JSON", "name"],
    )
    .await;

    // --- Listing, by language.
    let narrow = create_model(&svc, "ivr", "en-US_NarrowbandModel").await;
    let listed = ok(
        &svc,
        Method::GET,
        "/v1/customizations",
        Body::None,
        "LanguageModels",
        200,
    )
    .await;
    let ids: Vec<&str> = listed["customizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["customization_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str(), narrow.as_str()], "oldest first");
    let en = ok(
        &svc,
        Method::GET,
        "/v1/customizations?language=en-US",
        Body::None,
        "LanguageModels",
        200,
    )
    .await;
    assert_eq!(en["customizations"].as_array().unwrap().len(), 2);
    let fr = ok(
        &svc,
        Method::GET,
        "/v1/customizations?language=fr-FR",
        Body::None,
        "LanguageModels",
        200,
    )
    .await;
    assert_eq!(fr["customizations"], json!([]));

    // --- A corpus as plain text: 201, analysed in the background, then listed with its counts.
    ok(
        &svc,
        Method::POST,
        &format!("/v1/customizations/{id}/corpora/support"),
        Body::Text(corpus_text()),
        "Empty",
        201,
    )
    .await;
    let (corpus, seen) = wait_analyzed(&svc, &id, "support").await;
    assert!(
        seen.iter()
            .all(|s| s == "being_processed" || s == "analyzed"),
        "{seen:?}"
    );
    assert_eq!(corpus["status"], "analyzed", "{corpus}");
    assert_eq!(corpus["name"], "support");
    let total = corpus["total_words"].as_u64().unwrap();
    let oov = corpus["out_of_vocabulary_words"].as_u64().unwrap();
    assert!(total > 300 && oov > 0 && oov < total, "{corpus}");
    assert_eq!(model(&svc, &id).await["status"], "ready");
    let corpora = ok(
        &svc,
        Method::GET,
        &format!("/v1/customizations/{id}/corpora"),
        Body::None,
        "Corpora",
        200,
    )
    .await;
    assert_eq!(corpora["corpora"], json!([corpus]));

    // Its out-of-vocabulary words, with counts, sources and derived spellings.
    let all = words(&svc, &id, "").await;
    assert_eq!(
        all.len() as u64,
        oov,
        "one word per out-of-vocabulary word: {all:?}"
    );
    let zentraphone = word_named(&all, "Zentraphone").expect("Zentraphone is out of vocabulary");
    assert_eq!(zentraphone["count"], 6, "{zentraphone}");
    assert_eq!(zentraphone["source"], json!(["support"]));
    assert_eq!(zentraphone["display_as"], "Zentraphone");
    assert!(
        !zentraphone["sounds_like"].as_array().unwrap().is_empty(),
        "derived: {zentraphone}"
    );
    assert!(
        word_named(&all, "the").is_none(),
        "known words are not listed"
    );
    let names = |ws: &[Value]| {
        ws.iter()
            .map(|w| w["word"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let counts = |ws: &[Value]| {
        ws.iter()
            .map(|w| w["count"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    let mut sorted = names(&all);
    sorted.sort();
    assert_eq!(names(&all), sorted, "alphabetical by default");
    let by_count = words(&svc, &id, "?sort=count").await;
    assert!(
        counts(&by_count).windows(2).all(|w| w[0] >= w[1]),
        "{:?}",
        counts(&by_count)
    );
    let rising = words(&svc, &id, "?sort=%2Bcount").await;
    assert!(
        counts(&rising).windows(2).all(|w| w[0] <= w[1]),
        "{:?}",
        counts(&rising)
    );
    let backwards = words(&svc, &id, "?sort=-alphabetical").await;
    assert_eq!(
        names(&backwards),
        sorted.iter().rev().cloned().collect::<Vec<_>>()
    );
    assert_eq!(
        words(&svc, &id, "?word_type=corpora").await.len(),
        all.len()
    );
    assert!(words(&svc, &id, "?word_type=user").await.is_empty());
    assert!(words(&svc, &id, "?word_type=grammars").await.is_empty());
    refused(
        &svc,
        Method::GET,
        &format!("/v1/customizations/{id}/words?sort=loudest"),
        Body::None,
        400,
        &["loudest", "sort"],
    )
    .await;
    refused(
        &svc,
        Method::GET,
        &format!("/v1/customizations/{id}/words?word_type=nouns"),
        Body::None,
        400,
        &["nouns", "word_type"],
    )
    .await;

    // --- The same corpus as the SDKs send it: the corpus_file part of a form.
    let sdk_form = Form::new().part(
        "corpus_file",
        Part::bytes(b"The Orlessa plan covers the Zentraphone.\n".to_vec())
            .mime_str("text/plain")
            .unwrap(),
    );
    ok(
        &svc,
        Method::POST,
        &format!("/speech-to-text/api/v1/customizations/{id}/corpora/sdk%20upload"),
        Body::Form(sdk_form),
        "Empty",
        201,
    )
    .await;
    let (sdk, _) = wait_analyzed(&svc, &id, "sdk%20upload").await;
    assert_eq!(
        (
            sdk["name"].as_str(),
            sdk["status"].as_str(),
            sdk["total_words"].as_u64()
        ),
        (Some("sdk upload"), Some("analyzed"), Some(6)),
        "{sdk}"
    );
    let z = word_named(&words(&svc, &id, "").await, "Zentraphone")
        .unwrap()
        .clone();
    assert_eq!(
        (z["count"].as_u64(), z["source"].clone()),
        (Some(7), json!(["sdk upload", "support"])),
        "{z}"
    );
    // An existing corpus is replaced only when asked.
    refused(
        &svc,
        Method::POST,
        &format!("/v1/customizations/{id}/corpora/sdk%20upload"),
        Body::Text(b"Quorbit".to_vec()),
        409,
        &["allow_overwrite"],
    )
    .await;
    ok(
        &svc,
        Method::POST,
        &format!("/v1/customizations/{id}/corpora/sdk%20upload?allow_overwrite=true"),
        Body::Text(b"Quorbit again".to_vec()),
        "Empty",
        201,
    )
    .await;
    assert_eq!(
        wait_analyzed(&svc, &id, "sdk%20upload").await.0["total_words"],
        2
    );
    ok(
        &svc,
        Method::DELETE,
        &format!("/v1/customizations/{id}/corpora/sdk%20upload"),
        Body::None,
        "Empty",
        200,
    )
    .await;
    refused(
        &svc,
        Method::GET,
        &format!("/v1/customizations/{id}/corpora/sdk%20upload"),
        Body::None,
        404,
        &["sdk upload"],
    )
    .await;
    refused(
        &svc,
        Method::DELETE,
        &format!("/v1/customizations/{id}/corpora/sdk%20upload"),
        Body::None,
        404,
        &["sdk upload"],
    )
    .await;
    // Corpora that cannot be taken.
    for name in ["user", "base_lm", "default_lm"] {
        refused(
            &svc,
            Method::POST,
            &format!("/v1/customizations/{id}/corpora/{name}"),
            Body::Text(corpus_text()),
            400,
            &[name, "reserved"],
        )
        .await;
    }
    let long = "c".repeat(129);
    refused(
        &svc,
        Method::POST,
        &format!("/v1/customizations/{id}/corpora/{long}"),
        Body::Text(corpus_text()),
        400,
        &["128"],
    )
    .await;
    refused(
        &svc,
        Method::POST,
        &format!("/v1/customizations/{id}/corpora/binary"),
        Body::Text(vec![0, 159, 146, 150]),
        400,
        &["text"],
    )
    .await;
    refused(
        &svc,
        Method::POST,
        &format!("/v1/customizations/{id}/corpora/empty"),
        Body::Text(Vec::new()),
        400,
        &["empty"],
    )
    .await;
    refused(
        &svc,
        Method::POST,
        &format!("/v1/customizations/{id}/corpora/form"),
        Body::Form(Form::new().text("a", "x").text("b", "y")),
        400,
        &["corpus_file"],
    )
    .await;

    // --- Words from a user: added, merged with the corpus's, changed, read and deleted.
    let words_json: Value = serde_json::from_slice(&read_testdata("custom/words.json")).unwrap();
    ok(
        &svc,
        Method::POST,
        &format!("/v1/customizations/{id}/words"),
        Body::Json(words_json.clone()),
        "Empty",
        201,
    )
    .await;
    let user = words(&svc, &id, "?word_type=user").await;
    assert_eq!(user.len(), 3, "{user:?}");
    let z = ok(
        &svc,
        Method::GET,
        &format!("/v1/customizations/{id}/words/zentraphone"),
        Body::None,
        "Word",
        200,
    )
    .await;
    assert_eq!(
        z["sounds_like"],
        json!(["zen tra phone"]),
        "the user's spelling: {z}"
    );
    assert_eq!(z["source"], json!(["support", "user"]), "{z}");
    assert_eq!(z["count"], 6, "{z}");
    let esim = ok(
        &svc,
        Method::GET,
        &format!("/v1/customizations/{id}/words/eSIM"),
        Body::None,
        "Word",
        200,
    )
    .await;
    assert_eq!(esim["display_as"], "eSIM", "{esim}");
    ok(
        &svc,
        Method::PUT,
        &format!("/v1/customizations/{id}/words/IEEE"),
        Body::Json(json!({"sounds_like": ["I. triple E."], "display_as": "IEEE"})),
        "Empty",
        201,
    )
    .await;
    let ieee = ok(
        &svc,
        Method::GET,
        &format!("/v1/customizations/{id}/words/IEEE"),
        Body::None,
        "Word",
        200,
    )
    .await;
    assert_eq!(
        (
            ieee["sounds_like"].clone(),
            ieee["count"].as_u64(),
            ieee["source"].clone()
        ),
        (json!(["I. triple E."]), Some(0), json!(["user"])),
        "{ieee}"
    );
    // A word the path must encode.
    ok(
        &svc,
        Method::PUT,
        &format!("/v1/customizations/{id}/words/caf%C3%A9-Orlessa"),
        Body::Json(json!({"word": "ignored", "display_as": "Café Orlessa"})),
        "Empty",
        201,
    )
    .await;
    let cafe = ok(
        &svc,
        Method::GET,
        &format!("/v1/customizations/{id}/words/caf%C3%A9-orlessa"),
        Body::None,
        "Word",
        200,
    )
    .await;
    assert_eq!(
        (cafe["word"].as_str(), cafe["display_as"].as_str()),
        (Some("café-Orlessa"), Some("Café Orlessa")),
        "{cafe}"
    );
    assert!(
        !cafe["sounds_like"].as_array().unwrap().is_empty(),
        "derived when none given: {cafe}"
    );
    ok(
        &svc,
        Method::DELETE,
        &format!("/v1/customizations/{id}/words/caf%C3%A9-Orlessa"),
        Body::None,
        "Empty",
        200,
    )
    .await;
    refused(
        &svc,
        Method::GET,
        &format!("/v1/customizations/{id}/words/caf%C3%A9-Orlessa"),
        Body::None,
        404,
        &["café-Orlessa"],
    )
    .await;
    refused(
        &svc,
        Method::DELETE,
        &format!("/v1/customizations/{id}/words/nonesuch"),
        Body::None,
        404,
        &["nonesuch"],
    )
    .await;
    // Words that cannot be taken; nothing of a refused request is stored.
    let six: Vec<String> = (1..=6)
        .map(|i| format!("spelling {}", "a".repeat(i)))
        .collect();
    for (body, mentions) in [
        (
            json!({"words": [{"word": "okay"}, {"word": "toomany", "sounds_like": six}]}),
            vec!["toomany", "5"],
        ),
        (
            json!({"words": [{"word": "ieee3", "sounds_like": ["I 3 E"]}]}),
            vec!["ieee3", "digit"],
        ),
        (json!({"words": [{"word": "two words"}]}), vec!["two words"]),
        (json!({"words": []}), vec!["words"]),
        (json!({"word": "not a list"}), vec!["words"]),
    ] {
        refused(
            &svc,
            Method::POST,
            &format!("/v1/customizations/{id}/words"),
            Body::Json(body),
            400,
            &mentions,
        )
        .await;
    }
    refused(
        &svc,
        Method::PUT,
        &format!("/v1/customizations/{id}/words/long"),
        Body::Json(json!({"sounds_like": ["x".repeat(41)]})),
        400,
        &["40"],
    )
    .await;
    assert!(
        word_named(&words(&svc, &id, "").await, "okay").is_none(),
        "all or none"
    );

    // --- Training: 200 at once, then training, then available with the weight saved.
    for (q, mentions) in [
        ("customization_weight=1.5", vec!["customization_weight"]),
        ("customization_weight=heavy", vec!["customization_weight"]),
        ("word_type_to_add=nouns", vec!["word_type_to_add"]),
        ("strict=maybe", vec!["strict"]),
        ("strict=true&strict=false", vec!["more than once"]),
    ] {
        refused(
            &svc,
            Method::POST,
            &format!("/v1/customizations/{id}/train?{q}"),
            Body::None,
            400,
            &mentions,
        )
        .await;
    }
    refused(
        &svc,
        Method::POST,
        &format!("/v1/customizations/{narrow}/train"),
        Body::None,
        400,
        &["train"],
    )
    .await;
    ok(
        &svc,
        Method::POST,
        &format!("/v1/customizations/{id}/train?customization_weight=0.5"),
        Body::None,
        "Empty",
        200,
    )
    .await;
    let trained = wait_available(&svc, &id).await;
    assert!(
        trained["updated"].as_str() >= m["updated"].as_str(),
        "{trained}"
    );

    // --- Batches and single requests that name a model.
    let s3 = svc.embedded_s3();
    let creds = s3.creds_file();
    s3.fill(
        "custom-one",
        vec![("clip02.flac".into(), read_testdata("asr/clip02.flac"))],
    )
    .await;
    for (query, mentions) in [
        (
            format!("language_customization_id={narrow}"),
            vec![narrow.as_str(), "train"],
        ),
        (
            format!("language_customization_id={id}&model=en-US_NarrowbandModel"),
            vec![id.as_str(), "en-US_BroadbandModel", "en-US_NarrowbandModel"],
        ),
        (
            "language_customization_id=0f6c7d6e-0000-4000-8000-000000000000".to_string(),
            vec!["0f6c7d6e-0000-4000-8000-000000000000"],
        ),
        (
            "language_customization_id=".to_string(),
            vec!["language_customization_id"],
        ),
        (
            format!("language_customization_id={id}&language_customization_id={id}"),
            vec!["more than once"],
        ),
        (
            format!("language_customization_id={id}&acoustic_customization_id=abc"),
            vec!["abc", "acoustic"],
        ),
    ] {
        let (st, body) = create_batch(&svc, &creds, format!("function=recognize&{query}")).await;
        assert_eq!(st, 400, "{query}: {body}");
        let e = body["error"].as_str().unwrap();
        for m in mentions {
            assert!(
                e.contains(m),
                "{query}: the error should mention {m:?}: {e}"
            );
        }
    }
    let (st, job) = create_batch(
        &svc,
        &creds,
        format!("function=recognize&language_customization_id={id}"),
    )
    .await;
    assert_eq!(st, 200, "{job}");
    let job_id = job["batch_id"].as_str().unwrap().to_string();
    let (st, weighted) = create_batch(
        &svc,
        &creds,
        format!("function=recognize&language_customization_id={id}&customization_weight=0.8"),
    )
    .await;
    assert_eq!(st, 200, "{weighted}");
    let weighted_id = weighted["batch_id"].as_str().unwrap().to_string();
    // Each job has its own private copy of the vocabulary, with the weight it will use: the
    // request's, else the one saved at training.
    for (batch, weight) in [(&job_id, 0.5), (&weighted_id, 0.8)] {
        let path = copy(&svc, batch);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["customization_id"], id.as_str());
        assert_eq!(v["customization_weight"], weight, "{batch}");
        assert!(
            v["words"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w["display_as"] == "MyVeltrix"),
            "{v}"
        );
    }
    let (done, _) = svc.wait_final(&job_id, SETTLE).await;
    assert_eq!(
        (done["status"].as_str(), done["successful_count"].as_u64()),
        (Some("completed"), Some(1)),
        "{done}"
    );
    svc.delete(&weighted_id).await;
    assert!(
        !copy(&svc, &weighted_id).exists(),
        "the copy goes with its job"
    );
    // One file, as a batch would.
    let r = svc
        .authed(
            svc.http
                .post(svc.url(&format!("/v1/recognize?language_customization_id={id}"))),
        )
        .body(read_testdata("asr/clip02.flac"))
        .send()
        .await
        .unwrap();
    let (st, results) = checked_as(r, "RecognitionResults").await;
    assert_eq!(st, 200, "{results}");
    let r = svc
        .authed(
            svc.http
                .post(svc.url(&format!("/v1/recognize?language_customization_id={narrow}"))),
        )
        .body(read_testdata("asr/clip02.flac"))
        .send()
        .await
        .unwrap();
    assert_eq!(checked_as(r, "RecognitionResults").await.0, 400);

    // --- A change after training makes the model ready again; jobs still get the trained copy.
    ok(
        &svc,
        Method::DELETE,
        &format!("/v1/customizations/{id}/words/IEEE"),
        Body::None,
        "Empty",
        200,
    )
    .await;
    assert_eq!(model(&svc, &id).await["status"], "ready");
    let (st, body) = create_batch(
        &svc,
        &creds,
        format!("function=recognize&language_customization_id={id}"),
    )
    .await;
    assert_eq!(st, 200, "the trained version stays usable: {body}");
    svc.delete(body["batch_id"].as_str().unwrap()).await;
    ok(
        &svc,
        Method::POST,
        &format!("/v1/customizations/{id}/train"),
        Body::None,
        "Empty",
        200,
    )
    .await;
    let available = wait_available(&svc, &id).await;

    // --- Upgrade: trained again with the options of the last training.
    ok(
        &svc,
        Method::POST,
        &format!("/v1/customizations/{id}/upgrade_model"),
        Body::None,
        "Empty",
        200,
    )
    .await;
    wait_available(&svc, &id).await;
    refused(
        &svc,
        Method::POST,
        &format!("/v1/customizations/{narrow}/upgrade_model"),
        Body::None,
        400,
        &["train"],
    )
    .await;

    // --- Restart: the model is there as it was.
    let before_words = words(&svc, &id, "").await;
    svc.kill();
    svc.spawn().await;
    let after = model(&svc, &id).await;
    assert_eq!(after["status"], "available", "{after}");
    assert_eq!(
        (after["name"].clone(), after["created"].clone()),
        (available["name"].clone(), available["created"].clone())
    );
    assert_eq!(words(&svc, &id, "").await, before_words);
    let (st, body) = create_batch(
        &svc,
        &creds,
        format!("function=recognize&language_customization_id={id}"),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    svc.delete(body["batch_id"].as_str().unwrap()).await;

    // --- A restart in the middle of training, then one in the middle of an analysis: each is
    // done again. (The service never trains while a corpus is analysed, so one at a time.)
    let state_path = svc
        .data
        .path()
        .join("customizations")
        .join(&id)
        .join("model.json");
    let edit_state = |edit: &dyn Fn(&mut Value)| {
        assert_eq!(
            std::fs::metadata(&state_path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let mut state: Value =
            serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
        edit(&mut state);
        std::fs::write(&state_path, serde_json::to_vec(&state).unwrap()).unwrap();
    };
    svc.kill();
    edit_state(&|state| {
        state["model"]["status"] = json!("training");
        state["model"]["progress"] = json!(0);
    });
    svc.spawn().await;
    wait_available(&svc, &id).await;
    svc.kill();
    edit_state(&|state| {
        state["model"]["status"] = json!("pending");
        let c = &mut state["corpora"]["support"];
        c["corpus"]["status"] = json!("being_processed");
        c["corpus"]["total_words"] = json!(0);
        c["corpus"]["out_of_vocabulary_words"] = json!(0);
        c["oov"] = json!({});
    });
    svc.spawn().await;
    let (again, _) = wait_analyzed(&svc, &id, "support").await;
    assert_eq!(again, corpus, "analysed again after the restart");
    assert_eq!(model(&svc, &id).await["status"], "ready");

    // --- 404s, 405s, and what the service does not keep.
    let unknown = "6f1f0c3a-1111-4222-8333-444455556666";
    for (m, path) in [
        (Method::GET, format!("/v1/customizations/{unknown}")),
        (Method::DELETE, format!("/v1/customizations/{unknown}")),
        (Method::POST, format!("/v1/customizations/{unknown}/train")),
        (Method::POST, format!("/v1/customizations/{unknown}/reset")),
        (
            Method::POST,
            format!("/v1/customizations/{unknown}/upgrade_model"),
        ),
        (Method::GET, format!("/v1/customizations/{unknown}/corpora")),
        (
            Method::GET,
            format!("/v1/customizations/{unknown}/corpora/support"),
        ),
        (Method::GET, format!("/v1/customizations/{unknown}/words")),
        (
            Method::GET,
            format!("/v1/customizations/{unknown}/words/Zentraphone"),
        ),
        (
            Method::GET,
            format!("/speech-to-text/api/v1/customizations/{unknown}"),
        ),
    ] {
        refused(&svc, m, &path, Body::None, 404, &[unknown]).await;
    }
    refused(
        &svc,
        Method::POST,
        &format!("/v1/customizations/{unknown}/corpora/c"),
        Body::Text(corpus_text()),
        404,
        &[unknown],
    )
    .await;
    refused(
        &svc,
        Method::POST,
        &format!("/v1/customizations/{unknown}/words"),
        Body::Json(words_json.clone()),
        404,
        &[unknown],
    )
    .await;
    refused(
        &svc,
        Method::GET,
        &format!("/v1/customizations/{id}/corpora/nonesuch"),
        Body::None,
        404,
        &["nonesuch"],
    )
    .await;
    for (m, path, allowed) in [
        (Method::PATCH, "/v1/customizations".to_string(), "GET"),
        (Method::PUT, format!("/v1/customizations/{id}"), "DELETE"),
        (
            Method::GET,
            format!("/v1/customizations/{id}/train"),
            "POST",
        ),
        (
            Method::PUT,
            format!("/v1/customizations/{id}/corpora/support"),
            "POST",
        ),
        (
            Method::DELETE,
            format!("/v1/customizations/{id}/words"),
            "POST",
        ),
        (
            Method::POST,
            format!("/v1/customizations/{id}/words/x"),
            "PUT",
        ),
    ] {
        refused(&svc, m, &path, Body::None, 405, &[allowed]).await;
    }
    for m in [Method::GET, Method::POST, Method::DELETE] {
        refused(
            &svc,
            m.clone(),
            &format!("/v1/customizations/{id}/grammars"),
            Body::None,
            400,
            &["grammar"],
        )
        .await;
        refused(
            &svc,
            m.clone(),
            &format!("/v1/customizations/{id}/grammars/menu"),
            Body::None,
            400,
            &["grammar"],
        )
        .await;
        refused(
            &svc,
            m.clone(),
            "/v1/acoustic_customizations",
            Body::None,
            501,
            &["acoustic"],
        )
        .await;
        refused(
            &svc,
            m,
            &format!("/speech-to-text/api/v1/acoustic_customizations/{id}/audio/a"),
            Body::None,
            501,
            &["acoustic"],
        )
        .await;
    }

    // --- Reset keeps the model and drops its data; delete drops the model, not its jobs' copies.
    ok(
        &svc,
        Method::POST,
        &format!("/v1/customizations/{id}/reset"),
        Body::None,
        "Empty",
        200,
    )
    .await;
    let reset = model(&svc, &id).await;
    assert_eq!(
        (reset["status"].as_str(), reset["name"].as_str()),
        (Some("pending"), Some("telco")),
        "{reset}"
    );
    assert!(words(&svc, &id, "").await.is_empty());
    let corpora = ok(
        &svc,
        Method::GET,
        &format!("/v1/customizations/{id}/corpora"),
        Body::None,
        "Corpora",
        200,
    )
    .await;
    assert_eq!(corpora["corpora"], json!([]));
    let corpus_dir = svc
        .data
        .path()
        .join("customizations")
        .join(&id)
        .join("corpora");
    assert_eq!(
        std::fs::read_dir(&corpus_dir).unwrap().count(),
        0,
        "corpus texts go with a reset"
    );
    let (st, body) = create_batch(
        &svc,
        &creds,
        format!("function=recognize&language_customization_id={id}"),
    )
    .await;
    assert_eq!(st, 400, "a reset model has no trained version: {body}");
    ok(
        &svc,
        Method::DELETE,
        &format!("/v1/customizations/{id}"),
        Body::None,
        "Empty",
        200,
    )
    .await;
    refused(
        &svc,
        Method::GET,
        &format!("/v1/customizations/{id}"),
        Body::None,
        404,
        &[&id],
    )
    .await;
    assert!(!svc.data.path().join("customizations").join(&id).exists());
    assert!(
        copy(&svc, &job_id).exists(),
        "a job keeps its copy of a deleted model"
    );
    svc.kill();
    svc.spawn().await;
    refused(
        &svc,
        Method::GET,
        &format!("/v1/customizations/{id}"),
        Body::None,
        404,
        &[&id],
    )
    .await;
    let listed = ok(
        &svc,
        Method::GET,
        "/v1/customizations",
        Body::None,
        "LanguageModels",
        200,
    )
    .await;
    assert_eq!(
        listed["customizations"].as_array().unwrap().len(),
        1,
        "{listed}"
    );
}
