//! The routes of the REST API (filters only; the work is in `handlers`).

use std::sync::Arc;

use warp::http::Method;
use warp::Filter;

use crate::auth::{self, ApiKey};
use crate::backend::Backend;
use crate::console;
use crate::customization::{self, LanguageModels};
use crate::error::{recover, ApiError};
use crate::handlers;
use crate::request::{MAX_AUDIO_BODY_BYTES, MAX_BODY_BYTES};

/// Query pairs in order, possibly repeated (so that repeats can be refused).
type Query = Vec<(String, String)>;

/// The whole API: `/v1/batches...`, `/v1/models...`, `/v1/recognize`, `/v1/customizations...`,
/// and the same under `/speech-to-text/api`, the prefix the interface's examples use; errors
/// become the interface's error body. The admin console is beside it at `/console`. Each request
/// is logged by the server (`crate::server`), which knows the client.
pub fn api(
    backend: Arc<dyn Backend>,
    language_models: Arc<dyn LanguageModels>,
    key: ApiKey,
) -> impl Filter<Extract = (impl warp::Reply,), Error = std::convert::Infallible> + Clone {
    let console = console::routes(console::Console::new(
        backend.clone(),
        language_models.clone(),
        key.clone(),
    ));
    let batches = batches(backend.clone(), key.clone())
        .or(models(key.clone()))
        .unify()
        .or(recognize(backend, key.clone()))
        .unify()
        .or(customization::filters::routes(language_models, key))
        .unify()
        .boxed();
    let prefixed = warp::path("speech-to-text")
        .and(warp::path("api"))
        .and(batches.clone());
    let health = warp::path!("healthz")
        .and(warp::get())
        .map(|| warp::reply::json(&serde_json::json!({"status": "ok"})));
    let openapi = warp::path!("v1" / "openapi.yaml")
        .and(warp::get())
        .map(handlers::openapi);
    console
        .or(health.map(warp::Reply::into_response))
        .unify()
        .or(openapi.map(warp::Reply::into_response))
        .unify()
        .or(batches)
        .unify()
        .or(prefixed)
        .unify()
        .recover(recover)
        .unify()
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
        .and(multipart_content_type())
        .and(crate::body::limited(MAX_BODY_BYTES, body_too_large))
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

/// The address the request came in at.
fn base_url() -> impl Filter<Extract = (handlers::BaseUrl,), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("host")
        .and(warp::path::full())
        .map(|host: Option<String>, path: warp::path::FullPath| {
            handlers::BaseUrl::of(host.as_deref(), path.as_str())
        })
}

/// `/v1/models` and `/v1/models/{model_id}` behind basic authentication.
fn models(
    key: ApiKey,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let list = warp::path!("v1" / "models")
        .and(auth::require(key.clone()))
        .and(
            warp::get()
                .and(base_url())
                .and_then(handlers::models)
                .or(not_allowed(&[Method::GET]))
                .unify(),
        );
    let item = warp::path!("v1" / "models" / String).and(auth::require(key));
    let one = item
        .clone()
        .and(warp::get())
        .and(base_url())
        .and_then(handlers::model);
    let other = item
        .and(not_allowed(&[Method::GET]))
        .map(|_id: String, r| r);
    list.or(one).unify().or(other).unify()
}

/// `POST /v1/recognize` behind basic authentication.
fn recognize(
    backend: Arc<dyn Backend>,
    key: ApiKey,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    warp::path!("v1" / "recognize").and(auth::require(key)).and(
        warp::post()
            .and(query())
            .and(warp::header::optional::<String>("content-type"))
            .and(audio_body())
            .and(with_backend(backend))
            .and_then(handlers::recognize)
            .or(not_allowed(&[Method::POST]))
            .unify(),
    )
}

/// The audio of `POST /v1/recognize`, at most [`MAX_AUDIO_BODY_BYTES`], and not empty.
fn audio_body() -> impl Filter<Extract = (Vec<u8>,), Error = warp::Rejection> + Clone {
    crate::body::limited(MAX_AUDIO_BODY_BYTES, audio_too_large).and_then(
        |audio: Vec<u8>| async move {
            if audio.is_empty() {
                return Err(warp::reject::custom(ApiError::bad_request(
                    "The request body is empty: send the audio file as the body",
                )));
            }
            Ok(audio)
        },
    )
}

fn audio_too_large() -> warp::Rejection {
    warp::reject::custom(ApiError::new(
        413,
        format!("The audio is larger than {MAX_AUDIO_BODY_BYTES} bytes (100 MB), the most one file may have"),
    ))
}

/// A request to a known path with a method it does not have: 405 naming the allowed ones.
/// (An allowed method that got here was rejected by its own route, which says why.)
pub(crate) fn not_allowed(
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

fn body_too_large() -> warp::Rejection {
    warp::reject::custom(ApiError::new(
        413,
        format!("Request body is larger than {MAX_BODY_BYTES} bytes"),
    ))
}

/// `POST /v1/batches` takes `multipart/form-data` only (415 otherwise); the Content-Type, with
/// its boundary, goes to the form's parser.
fn multipart_content_type() -> impl Filter<Extract = (String,), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("content-type").and_then(|ct: Option<String>| async move {
        match ct {
            Some(ct) if crate::request::is_multipart_form(&ct) => Ok(ct),
            other => Err(warp::reject::custom(ApiError::new(
                415,
                format!(
                    "Unsupported Media Type {}: send the COS parameters as multipart/form-data",
                    crate::error::shown(other.as_deref().unwrap_or("(none)"))
                ),
            ))),
        }
    })
}
