//! Handlers of the REST API: parse, call the backend, reply.

use std::sync::Arc;

use crds::JobList;
use warp::http::StatusCode;
use warp::multipart::FormData;
use warp::Reply;

use crate::backend::Backend;
use crate::error::ApiError;
use crate::request::parse_create;

/// The checked-in OpenAPI document of this API.
pub const OPENAPI_YAML: &str = include_str!("../openapi.yaml");

type Reply_ = Result<warp::reply::Response, warp::Rejection>;

fn reject(e: ApiError) -> warp::Rejection {
    warp::reject::custom(e)
}

/// `POST /v1/batches?function=recognize`.
pub async fn create(
    form: FormData,
    query: Vec<(String, String)>,
    backend: Arc<dyn Backend>,
) -> Reply_ {
    let request = parse_create(form, &query).await.map_err(reject)?;
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
                "Unsupported action '{one}': the only action is cancel"
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

/// `GET /v1/openapi.yaml`.
pub fn openapi() -> warp::reply::Response {
    warp::reply::with_header(OPENAPI_YAML, "content-type", "application/yaml").into_response()
}
