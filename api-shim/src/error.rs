//! Errors of the REST API, and the one `recover` that turns every rejection into the interface's
//! error body (as in warp's `rejections` example).

use std::convert::Infallible;

use crds::ErrorBody;
use warp::http::StatusCode;
use warp::reject::Reject;
use warp::{Rejection, Reply};

/// An error a handler or backend returns; it becomes an error body with `status`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    /// The HTTP status code.
    pub status: u16,
    /// The error body's `error` text.
    pub message: String,
}

impl ApiError {
    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    /// 404 Not Found for a batch id.
    pub fn unknown_batch(id: &str) -> Self {
        Self::new(404, format!("Batch job '{}' not found", shown(id)))
    }

    /// 500 Internal Server Error; the detail goes to the log, not to the client.
    pub fn internal(context: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "{context}");
        Self::new(500, format!("Internal error: {context}"))
    }

    /// An error with any status.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl Reject for ApiError {}

pub use crds::error_body::{cut, shown};

/// A request without valid `apikey` credentials.
#[derive(Debug)]
pub struct Unauthorized;

impl Reject for Unauthorized {}

/// The error body reply for `status` and `message`.
pub fn error_reply(status: u16, message: impl Into<String>) -> warp::reply::Response {
    let body = ErrorBody::new(status, message);
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut reply = warp::reply::with_status(warp::reply::json(&body), code).into_response();
    if status == 401 {
        reply.headers_mut().insert(
            warp::http::header::WWW_AUTHENTICATE,
            warp::http::HeaderValue::from_static("Basic realm=\"speechbatch\""),
        );
    }
    reply
}

/// Turns every rejection into the interface's error body with the right status code.
pub async fn recover(err: Rejection) -> Result<warp::reply::Response, Infallible> {
    let (status, message) = if let Some(e) = err.find::<ApiError>() {
        (e.status, e.message.clone())
    } else if err.find::<Unauthorized>().is_some() {
        (
            401,
            "Unauthorized: use basic authentication with user name 'apikey' and the service's API key"
                .to_string(),
        )
    } else if err.is_not_found() {
        (
            404,
            "Not Found: the API has /v1/batches, /v1/batches/{batch_id}, /v1/models, /v1/models/{model_id}, /v1/recognize and /v1/customizations (with /{customization_id}, /train, /reset, /upgrade_model, /corpora[/{corpus_name}] and /words[/{word_name}] under it)".to_string(),
        )
    } else if err.find::<warp::reject::PayloadTooLarge>().is_some() {
        (
            413,
            "Payload Too Large: the request body may be at most 1 MiB".to_string(),
        )
    } else if err.find::<warp::reject::UnsupportedMediaType>().is_some() {
        (
            415,
            "Unsupported Media Type: send the request as multipart/form-data".to_string(),
        )
    } else if let Some(e) = err.find::<warp::reject::InvalidQuery>() {
        (400, format!("Invalid query string: {e}"))
    } else if let Some(e) = err.find::<warp::reject::MissingHeader>() {
        (400, format!("Missing header: {e}"))
    } else if let Some(e) = err.find::<warp::reject::InvalidHeader>() {
        (400, format!("Invalid header: {e}"))
    } else if let Some(e) = err.find::<warp::filters::body::BodyDeserializeError>() {
        (
            400,
            format!("The request body is not valid JSON of the expected shape: {e}"),
        )
    } else if err.find::<warp::reject::LengthRequired>().is_some() {
        (
            411,
            "Length Required: send this request body with a Content-Length header".to_string(),
        )
    } else if err.find::<warp::reject::MethodNotAllowed>().is_some() {
        (405, "Method Not Allowed".to_string())
    } else {
        tracing::warn!(rejection = ?err, "unhandled rejection");
        (500, "Internal Server Error".to_string())
    };
    Ok(error_reply(status, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_id_is_quoted_short() {
        let long = "x".repeat(60_000);
        assert!(ApiError::unknown_batch(&long).message.len() < 150);
    }
}
