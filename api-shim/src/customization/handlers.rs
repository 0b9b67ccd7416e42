//! Handlers of `/v1/customizations`: decode the path, parse the query and body, call the
//! [`LanguageModels`] backend, reply with the interface's status code.

use std::str::FromStr;
use std::sync::Arc;

use crds::customization::{
    CorpusList, CreateLanguageModel, CustomWord, CustomWords, LanguageModelList, WordList,
};
use serde::Serialize;
use speechbatch_custom::{TrainOptions, WordSort, WordType};
use warp::http::StatusCode;
use warp::Reply;

use super::backend::{custom_error, LanguageModels};
use crate::error::ApiError;

type Reply_ = Result<warp::reply::Response, warp::Rejection>;
type Models = Arc<dyn LanguageModels>;
type Query = Vec<(String, String)>;

fn reject(e: ApiError) -> warp::Rejection {
    warp::reject::custom(e)
}

/// `value` as JSON with `status`.
fn reply(status: StatusCode, value: &impl Serialize) -> warp::reply::Response {
    warp::reply::with_status(warp::reply::json(value), status).into_response()
}

/// The empty object the interface answers for an operation that has nothing to return.
fn done(status: StatusCode) -> warp::reply::Response {
    reply(status, &serde_json::json!({}))
}

/// A path segment as the client meant it: warp hands segments over still percent-encoded, and a
/// word or corpus name may hold spaces, apostrophes or any letter (`PUT .../words/caf%C3%A9`).
fn segment(raw: &str, what: &str) -> Result<String, warp::Rejection> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            reject(ApiError::bad_request(format!(
                "The {what} in the path is not UTF-8 text once percent-decoded"
            )))
        })
}

/// A JSON body of type `T`; `what` says what the body should be, for the error message.
fn json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, warp::Rejection> {
    serde_json::from_slice(body).map_err(|e| {
        reject(ApiError::bad_request(format!(
            "The request body is not valid JSON for {what}: {e}"
        )))
    })
}

/// The value of query parameter `name`, refusing a repeat.
fn single<'q>(query: &'q Query, name: &str) -> Result<Option<&'q str>, warp::Rejection> {
    let mut values = query
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str());
    let first = values.next();
    if values.next().is_some() {
        return Err(reject(ApiError::bad_request(format!(
            "Query parameter '{name}' is given more than once"
        ))));
    }
    Ok(first)
}

/// A query parameter of type `T` (its `FromStr` error is the message), or `default`.
fn parsed<T: FromStr>(query: &Query, name: &str, default: T) -> Result<T, warp::Rejection>
where
    T::Err: std::fmt::Display,
{
    match single(query, name)? {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|e: T::Err| reject(ApiError::bad_request(e.to_string()))),
    }
}

/// A boolean query parameter (`true`/`false`, any letter case), or `default`.
fn boolean(query: &Query, name: &str, default: bool) -> Result<bool, warp::Rejection> {
    match single(query, name)?.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(_) => Err(reject(ApiError::bad_request(format!(
            "The value '{}' of query parameter '{name}' is not a boolean: use true or false",
            crate::error::shown(single(query, name)?.unwrap_or_default())
        )))),
    }
}

/// `POST /v1/customizations`: 201 with the new model's id.
pub async fn create_model(body: Vec<u8>, models: Models) -> Reply_ {
    let request: CreateLanguageModel = json(
        &body,
        r#"a custom language model: {"name": "...", "base_model_name": "en-US_BroadbandModel", "description": "..."}"#,
    )?;
    let id = models.create_model(request).await.map_err(reject)?;
    tracing::info!(customization_id = %id, "custom language model created");
    Ok(reply(
        StatusCode::CREATED,
        &serde_json::json!({ "customization_id": id }),
    ))
}

/// `GET /v1/customizations[?language=]`.
pub async fn list_models(query: Query, models: Models) -> Reply_ {
    let language = single(&query, "language")?.map(str::to_string);
    let customizations = models.list_models(language).await.map_err(reject)?;
    Ok(reply(StatusCode::OK, &LanguageModelList { customizations }))
}

/// `GET /v1/customizations/{customization_id}`.
pub async fn get_model(id: String, models: Models) -> Reply_ {
    let id = segment(&id, "customization_id")?;
    let model = models.get_model(&id).await.map_err(reject)?;
    Ok(reply(StatusCode::OK, &model))
}

/// `DELETE /v1/customizations/{customization_id}`.
pub async fn delete_model(id: String, models: Models) -> Reply_ {
    let id = segment(&id, "customization_id")?;
    models.delete_model(&id).await.map_err(reject)?;
    tracing::info!(customization_id = %id, "custom language model deleted");
    Ok(done(StatusCode::OK))
}

/// `POST /v1/customizations/{customization_id}/train[?word_type_to_add=][&customization_weight=][&strict=]`:
/// 200 once training has started. Other parameters (the SDKs' `force`) are ignored.
pub async fn train(id: String, query: Query, models: Models) -> Reply_ {
    let id = segment(&id, "customization_id")?;
    let options = TrainOptions::from_query(
        single(&query, "word_type_to_add")?,
        single(&query, "customization_weight")?,
        single(&query, "strict")?,
    )
    .map_err(|e| reject(custom_error(e)))?;
    models.train(&id, options).await.map_err(reject)?;
    tracing::info!(customization_id = %id, "training started");
    Ok(done(StatusCode::OK))
}

/// `POST /v1/customizations/{customization_id}/reset`.
pub async fn reset(id: String, models: Models) -> Reply_ {
    let id = segment(&id, "customization_id")?;
    models.reset(&id).await.map_err(reject)?;
    tracing::info!(customization_id = %id, "custom language model reset");
    Ok(done(StatusCode::OK))
}

/// `POST /v1/customizations/{customization_id}/upgrade_model`.
pub async fn upgrade(id: String, models: Models) -> Reply_ {
    let id = segment(&id, "customization_id")?;
    models.upgrade(&id).await.map_err(reject)?;
    tracing::info!(customization_id = %id, "upgrade started");
    Ok(done(StatusCode::OK))
}

/// `GET /v1/customizations/{customization_id}/corpora`.
pub async fn list_corpora(id: String, models: Models) -> Reply_ {
    let id = segment(&id, "customization_id")?;
    let corpora = models.list_corpora(&id).await.map_err(reject)?;
    Ok(reply(StatusCode::OK, &CorpusList { corpora }))
}

/// `POST /v1/customizations/{customization_id}/corpora/{corpus_name}[?allow_overwrite=]`: the
/// corpus is the body (plain text, whatever its content type) or the `corpus_file` part of a
/// multipart form, as the SDKs send it. 201 once it is `being_processed`.
pub async fn add_corpus(
    id: String,
    name: String,
    query: Query,
    content_type: Option<String>,
    body: Vec<u8>,
    models: Models,
) -> Reply_ {
    let id = segment(&id, "customization_id")?;
    let name = segment(&name, "corpus name")?;
    let allow_overwrite = boolean(&query, "allow_overwrite", false)?;
    let text = corpus_text(content_type.as_deref(), body)
        .await
        .map_err(reject)?;
    models
        .add_corpus(&id, &name, text, allow_overwrite)
        .await
        .map_err(reject)?;
    tracing::info!(customization_id = %id, corpus = %name, "corpus added");
    Ok(done(StatusCode::CREATED))
}

/// The corpus text of a request body: the body itself, or the `corpus_file` part (else the
/// only part) of a multipart form.
async fn corpus_text(content_type: Option<&str>, body: Vec<u8>) -> Result<Vec<u8>, ApiError> {
    let Some(ct) = content_type.filter(|c| crate::request::is_multipart_form(c)) else {
        return Ok(body);
    };
    let malformed =
        |e: multer::Error| ApiError::bad_request(format!("Malformed multipart body: {e}"));
    let boundary = multer::parse_boundary(ct).map_err(malformed)?;
    let stream = futures::stream::once(async move {
        Ok::<_, std::convert::Infallible>(bytes::Bytes::from(body))
    });
    let mut form = multer::Multipart::new(stream, boundary);
    let mut parts = Vec::new();
    while let Some(field) = form.next_field().await.map_err(malformed)? {
        let name = field.name().unwrap_or_default().to_string();
        let data = field.bytes().await.map_err(malformed)?;
        if name == "corpus_file" {
            return Ok(data.into());
        }
        parts.push(data);
    }
    match parts.len() {
        1 => Ok(parts.pop().expect("one part").into()),
        _ => Err(ApiError::bad_request(
            "The multipart body has no corpus_file part: send the corpus text as the form part corpus_file, or as the whole body (Content-Type: text/plain)",
        )),
    }
}

/// `GET /v1/customizations/{customization_id}/corpora/{corpus_name}`.
pub async fn get_corpus(id: String, name: String, models: Models) -> Reply_ {
    let id = segment(&id, "customization_id")?;
    let name = segment(&name, "corpus name")?;
    let corpus = models.get_corpus(&id, &name).await.map_err(reject)?;
    Ok(reply(StatusCode::OK, &corpus))
}

/// `DELETE /v1/customizations/{customization_id}/corpora/{corpus_name}`.
pub async fn delete_corpus(id: String, name: String, models: Models) -> Reply_ {
    let id = segment(&id, "customization_id")?;
    let name = segment(&name, "corpus name")?;
    models.delete_corpus(&id, &name).await.map_err(reject)?;
    tracing::info!(customization_id = %id, corpus = %name, "corpus deleted");
    Ok(done(StatusCode::OK))
}

/// `POST /v1/customizations/{customization_id}/words`: 201.
pub async fn add_words(id: String, body: Vec<u8>, models: Models) -> Reply_ {
    let id = segment(&id, "customization_id")?;
    let words: CustomWords = json(
        &body,
        r#"a list of words: {"words": [{"word": "...", "sounds_like": ["..."], "display_as": "..."}]}"#,
    )?;
    let n = words.words.len();
    models.add_words(&id, words.words).await.map_err(reject)?;
    tracing::info!(customization_id = %id, words = n, "words added");
    Ok(done(StatusCode::CREATED))
}

/// `GET /v1/customizations/{customization_id}/words[?word_type=][&sort=]` (a `+` before the
/// sort key that arrives unencoded is a space by then, which `WordSort` reads as `+`).
pub async fn list_words(id: String, query: Query, models: Models) -> Reply_ {
    let id = segment(&id, "customization_id")?;
    let word_type = parsed::<WordType>(&query, "word_type", WordType::default())?;
    let sort = parsed::<WordSort>(&query, "sort", WordSort::default())?;
    let words = models
        .list_words(&id, word_type, sort)
        .await
        .map_err(reject)?;
    // Up to 90,000 words: serialised off the async threads.
    let body = tokio::task::spawn_blocking(move || serde_json::to_vec(&WordList { words }))
        .await
        .map_err(|e| reject(ApiError::internal("cannot list the words", e)))?
        .map_err(|e| reject(ApiError::internal("cannot list the words", e)))?;
    Ok(warp::reply::with_header(body, "content-type", "application/json").into_response())
}

/// `PUT /v1/customizations/{customization_id}/words/{word_name}`: 201.
pub async fn put_word(id: String, word: String, body: Vec<u8>, models: Models) -> Reply_ {
    let id = segment(&id, "customization_id")?;
    let word = segment(&word, "word")?;
    let definition: CustomWord = json(
        &body,
        r#"a word definition: {"sounds_like": ["..."], "display_as": "..."}"#,
    )?;
    models
        .put_word(&id, &word, definition)
        .await
        .map_err(reject)?;
    tracing::info!(customization_id = %id, "word added");
    Ok(done(StatusCode::CREATED))
}

/// `GET /v1/customizations/{customization_id}/words/{word_name}`.
pub async fn get_word(id: String, word: String, models: Models) -> Reply_ {
    let id = segment(&id, "customization_id")?;
    let word = segment(&word, "word")?;
    let word = models.get_word(&id, &word).await.map_err(reject)?;
    Ok(reply(StatusCode::OK, &word))
}

/// `DELETE /v1/customizations/{customization_id}/words/{word_name}`.
pub async fn delete_word(id: String, word: String, models: Models) -> Reply_ {
    let id = segment(&id, "customization_id")?;
    let word = segment(&word, "word")?;
    models.delete_word(&id, &word).await.map_err(reject)?;
    tracing::info!(customization_id = %id, "word deleted");
    Ok(done(StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_corpus_comes_as_the_body_or_as_the_corpus_file_part_of_a_form() {
        let text = b"one sentence\nanother one\n".to_vec();
        assert_eq!(
            corpus_text(Some("text/plain"), text.clone()).await.unwrap(),
            text
        );
        assert_eq!(corpus_text(None, text.clone()).await.unwrap(), text);
        let form = |parts: &[(&str, &[u8])]| {
            let mut body = Vec::new();
            for (name, data) in parts {
                body.extend_from_slice(
                    format!("--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\nContent-Type: text/plain\r\n\r\n").as_bytes(),
                );
                body.extend_from_slice(data);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(b"--XyZ--\r\n");
            body
        };
        let ct = Some("multipart/form-data; boundary=XyZ");
        let sdk = form(&[("corpus_file", &text)]);
        assert_eq!(corpus_text(ct, sdk).await.unwrap(), text);
        let two = form(&[("other", b"x"), ("corpus_file", &text)]);
        assert_eq!(corpus_text(ct, two).await.unwrap(), text);
        let only = form(&[("file", &text)]);
        assert_eq!(corpus_text(ct, only).await.unwrap(), text);
        let neither = form(&[("a", b"x"), ("b", b"y")]);
        let e = corpus_text(ct, neither).await.unwrap_err();
        assert!(e.status == 400 && e.message.contains("corpus_file"), "{e}");
        let e = corpus_text(Some("multipart/form-data"), text)
            .await
            .unwrap_err();
        assert_eq!(e.status, 400, "{e}");
    }

    #[test]
    fn path_segments_are_percent_decoded() {
        assert_eq!(segment("caf%C3%A9", "word").unwrap(), "café");
        assert_eq!(segment("I.%20triple%20E.", "word").unwrap(), "I. triple E.");
        assert_eq!(segment("plain", "word").unwrap(), "plain");
        assert!(segment("%FF", "word").is_err());
    }
}
