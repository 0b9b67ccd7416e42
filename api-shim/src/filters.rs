//! The routes of the REST API (filters only; the work is in `handlers`).

use std::sync::Arc;

use warp::http::Method;
use warp::Filter;

use crate::auth::{self, ApiKey};
use crate::backend::Backend;
use crate::error::{recover, ApiError};
use crate::handlers;
use crate::request::MAX_BODY_BYTES;

/// Query pairs in order, possibly repeated (so that repeats can be refused).
type Query = Vec<(String, String)>;

/// The whole API: `/v1/batches...` and the same under `/speech-to-text/api`, the prefix the
/// interface's examples use; errors become the interface's error body.
pub fn api(
    backend: Arc<dyn Backend>,
    key: ApiKey,
) -> impl Filter<Extract = (impl warp::Reply,), Error = std::convert::Infallible> + Clone {
    let batches = batches(backend, key);
    let prefixed = warp::path("speech-to-text")
        .and(warp::path("api"))
        .and(batches.clone());
    let health = warp::path!("healthz")
        .and(warp::get())
        .map(|| warp::reply::json(&serde_json::json!({"status": "ok"})));
    let openapi = warp::path!("v1" / "openapi.yaml")
        .and(warp::get())
        .map(handlers::openapi);
    health
        .map(warp::Reply::into_response)
        .or(openapi.map(warp::Reply::into_response))
        .unify()
        .or(batches)
        .unify()
        .or(prefixed)
        .unify()
        .recover(recover)
        .unify()
        .with(warp::trace::request())
}

fn with_backend(
    backend: Arc<dyn Backend>,
) -> impl Filter<Extract = (Arc<dyn Backend>,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || backend.clone())
}

fn query() -> impl Filter<Extract = (Query,), Error = warp::Rejection> + Clone {
    warp::query::<Query>()
}

/// `/v1/batches` and `/v1/batches/{batch_id}` behind basic authentication.
fn batches(
    backend: Arc<dyn Backend>,
    key: ApiKey,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let collection = warp::path!("v1" / "batches").and(auth::require(key.clone()));
    let create = warp::post()
        .and(require_multipart())
        .and(body_limit())
        .and(warp::multipart::form().max_length(None))
        .and(query())
        .and(with_backend(backend.clone()))
        .and_then(handlers::create);
    let list = warp::get()
        .and(with_backend(backend.clone()))
        .and_then(handlers::list);
    let collection = collection.and(
        create
            .or(list)
            .unify()
            .or(not_allowed(&[Method::POST, Method::GET]))
            .unify(),
    );

    let item = warp::path!("v1" / "batches" / String).and(auth::require(key));
    let get = item
        .clone()
        .and(warp::get())
        .and(with_backend(backend.clone()))
        .and_then(handlers::get);
    let put = item
        .clone()
        .and(warp::put())
        .and(query())
        .and(with_backend(backend.clone()))
        .and_then(handlers::put);
    let delete = item
        .clone()
        .and(warp::delete())
        .and(with_backend(backend))
        .and_then(handlers::delete);
    let other = item
        .and(not_allowed(&[Method::GET, Method::PUT, Method::DELETE]))
        .map(|_id: String, r| r);
    collection
        .or(get)
        .unify()
        .or(put)
        .unify()
        .or(delete)
        .unify()
        .or(other)
        .unify()
}

/// A request to a known path with a method it does not have: 405 naming the allowed ones.
/// (An allowed method that got here was rejected by its own route, which says why.)
fn not_allowed(
    allowed: &'static [Method],
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    warp::method().and_then(move |m: Method| async move {
        if allowed.contains(&m) {
            return Err(warp::reject::not_found());
        }
        let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
        Err::<warp::reply::Response, _>(warp::reject::custom(ApiError::new(
            405,
            format!("Method {m} is not allowed here: use {}", names.join(" or ")),
        )))
    })
}

/// A Content-Length over the limit is refused before the body is read (413). A chunked body has
/// no Content-Length (warp's own limits would reject it, and it would surface as a 405): its
/// size is bounded while it is read, field by field (`request::MAX_FIELD_BYTES`, each field at
/// most once).
fn body_limit() -> impl Filter<Extract = (), Error = warp::Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and_then(|len: Option<u64>| async move {
            match len {
                Some(n) if n > MAX_BODY_BYTES => Err(warp::reject::custom(ApiError::new(
                    413,
                    format!("Request body is larger than {MAX_BODY_BYTES} bytes"),
                ))),
                _ => Ok(()),
            }
        })
        .untuple_one()
}

/// `POST /v1/batches` takes `multipart/form-data` only (415 otherwise).
fn require_multipart() -> impl Filter<Extract = (), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and_then(|ct: Option<String>| async move {
            match ct {
                Some(ct) if ct.to_ascii_lowercase().starts_with("multipart/form-data") => Ok(()),
                other => Err(warp::reject::custom(ApiError::new(
                    415,
                    format!(
                        "Unsupported Media Type {}: send the COS parameters as multipart/form-data",
                        other.unwrap_or_else(|| "(none)".into())
                    ),
                ))),
            }
        })
        .untuple_one()
}
