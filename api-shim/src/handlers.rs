//! Handlers of the REST API: parse, call the backend, reply.

use std::sync::Arc;

use crds::{JobList, ModelList, ModelName};
use warp::http::StatusCode;
use warp::Reply;

use crate::backend::Backend;
use crate::error::ApiError;
use crate::request::{parse_create, recognition_query};

/// The checked-in OpenAPI document of this API.
pub const OPENAPI_YAML: &str = include_str!("../openapi.yaml");

type Reply_ = Result<warp::reply::Response, warp::Rejection>;

fn reject(e: ApiError) -> warp::Rejection {
    warp::reject::custom(e)
}

/// `POST /v1/batches?function=recognize`.
pub async fn create(
    content_type: String,
    body: Vec<u8>,
    query: Vec<(String, String)>,
    backend: Arc<dyn Backend>,
) -> Reply_ {
    let request = parse_create(&content_type, body, &query)
        .await
        .map_err(reject)?;
    let job = backend.create(request).await.map_err(reject)?;
    tracing::info!(batch_id = %job.batch_id, "batch created");
    Ok(warp::reply::json(&job).into_response())
}

/// `GET /v1/batches`.
pub async fn list(backend: Arc<dyn Backend>) -> Reply_ {
    let jobs = backend.list().await.map_err(reject)?;
    Ok(warp::reply::json(&JobList { jobs }).into_response())
}

/// `GET /v1/batches/{batch_id}`.
pub async fn get(id: String, backend: Arc<dyn Backend>) -> Reply_ {
    let job = backend.get(&id).await.map_err(reject)?;
    Ok(warp::reply::json(&job).into_response())
}

/// `PUT /v1/batches/{batch_id}?action=cancel`.
pub async fn put(id: String, query: Vec<(String, String)>, backend: Arc<dyn Backend>) -> Reply_ {
    let actions: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "action")
        .map(|(_, v)| v.as_str())
        .collect();
    match actions.as_slice() {
        ["cancel"] => {}
        [] => {
            return Err(reject(ApiError::bad_request(
                "Missing required query parameter 'action': use action=cancel",
            )))
        }
        [one] => {
            return Err(reject(ApiError::bad_request(format!(
                "Unsupported action '{}': the only action is cancel",
                crate::error::shown(one)
            ))))
        }
        _ => {
            return Err(reject(ApiError::bad_request(
                "Query parameter 'action' is given more than once",
            )))
        }
    }
    let job = backend.cancel(&id).await.map_err(reject)?;
    tracing::info!(batch_id = %id, status = %job.status, "cancel requested");
    Ok(warp::reply::json(&job).into_response())
}

/// `DELETE /v1/batches/{batch_id}`: 204 No Content.
pub async fn delete(id: String, backend: Arc<dyn Backend>) -> Reply_ {
    backend.delete(&id).await.map_err(reject)?;
    tracing::info!(batch_id = %id, "batch deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Where the request came in: the address clients use for the service, so that the `url` of a
/// model points back at this service through the same prefix.
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

impl BaseUrl {
    /// `http://HOST` plus `/speech-to-text/api` when the request came in under that prefix.
    pub fn of(host: Option<&str>, path: &str) -> Self {
        let prefix = if path.starts_with("/speech-to-text/api/") {
            "/speech-to-text/api"
        } else {
            ""
        };
        Self(format!("http://{}{prefix}", host.unwrap_or("localhost")))
    }

    fn model(&self, m: ModelName) -> String {
        format!("{}/v1/models/{}", self.0, m.as_str())
    }
}

/// `GET /v1/models`: the base models, in the order of [`ModelName::ALL`].
pub async fn models(base: BaseUrl) -> Reply_ {
    let models = ModelName::ALL
        .iter()
        .map(|&m| m.info(base.model(m)))
        .collect();
    Ok(warp::reply::json(&ModelList { models }).into_response())
}

/// `GET /v1/models/{model_id}`.
pub async fn model(id: String, base: BaseUrl) -> Reply_ {
    let name: ModelName = id.parse().map_err(|_| {
        reject(ApiError::new(
            404,
            format!(
                "Model '{}' not found: the models are {}",
                crate::error::shown(&id),
                ModelName::ALL.map(ModelName::as_str).join(", ")
            ),
        ))
    })?;
    Ok(warp::reply::json(&name.info(base.model(name))).into_response())
}

/// `POST /v1/recognize`: one audio file in the body, the batch's parameters in the query, the
/// result JSON a batch writes to `<file>.json` in the reply.
pub async fn recognize(
    query: Vec<(String, String)>,
    content_type: Option<String>,
    audio: Vec<u8>,
    backend: Arc<dyn Backend>,
) -> Reply_ {
    let (params, language_customization_id) = recognition_query(&query).map_err(reject)?;
    if params.speech_analytics {
        return Err(reject(ApiError::bad_request(
            "speech_analytics applies to batch jobs, whose topics are found across their files: create a batch with POST /v1/batches, or leave the parameter out",
        )));
    }
    // The format is read from the content; the type only tells headerless G.729 apart.
    let name = match content_type.as_deref().map(str::to_ascii_lowercase) {
        Some(t) if t.starts_with("audio/g729") => "audio.g729",
        _ => "audio",
    };
    let json = backend
        .recognize(audio, name, params, language_customization_id)
        .await
        .map_err(reject)?;
    Ok(warp::reply::with_header(json, "content-type", "application/json").into_response())
}

/// `GET /v1/openapi.yaml`.
pub fn openapi() -> warp::reply::Response {
    warp::reply::with_header(OPENAPI_YAML, "content-type", "application/yaml").into_response()
}
