//! The work of the console's routes.

use std::time::Instant;

use serde::Deserialize;
use serde_json::json;
use warp::http::{header, HeaderValue, StatusCode};
use warp::{Rejection, Reply};

use super::state::service_state;
use super::{assets, docs, session, Caller, Console};
use crate::error::ApiError;

fn rejection(e: ApiError) -> Rejection {
    warp::reject::custom(e)
}

/// The page.
pub fn index() -> warp::reply::Response {
    warp::reply::with_header(
        assets::INDEX_HTML,
        header::CONTENT_TYPE,
        "text/html; charset=utf-8",
    )
    .into_response()
}

/// An embedded asset, or 404.
pub fn asset(name: &str) -> Result<warp::reply::Response, Rejection> {
    let asset = assets::asset(name).ok_or_else(warp::reject::not_found)?;
    Ok(
        warp::reply::with_header(asset.body, header::CONTENT_TYPE, asset.content_type)
            .into_response(),
    )
}

/// The Documentation tab's content.
pub fn docs() -> warp::reply::Json {
    warp::reply::json(docs::docs())
}

/// The sign-in form's body.
#[derive(Debug, Deserialize)]
pub struct Login {
    /// The service's API key.
    api_key: String,
}

/// Starts a session when the key is right: its token in the cookie, its CSRF token in the body.
pub async fn login(
    forwarded_proto: Option<String>,
    form: Login,
    console: Console,
) -> Result<warp::reply::Response, Rejection> {
    if !console.key.matches(form.api_key.trim().as_bytes()) {
        return Err(rejection(ApiError::new(
            401,
            "That is not the service's API key",
        )));
    }
    let new = console.sessions.start();
    let secure = forwarded_proto.is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let mut reply = warp::reply::json(&json!({ "csrf_token": new.csrf })).into_response();
    let cookie = HeaderValue::from_str(&session::cookie(&new.token, secure))
        .map_err(|e| rejection(ApiError::internal("cannot set the session cookie", e)))?;
    reply.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(reply)
}

/// Who is signed in, and the token actions need (`null` for basic auth, which needs none).
pub fn session(caller: Caller) -> warp::reply::Response {
    let body = match caller {
        Caller::Session { csrf, .. } => warp::reply::json(&json!({
            "signed_in_by": "session",
            "csrf_token": csrf,
        })),
        Caller::Basic => warp::reply::json(&json!({
            "signed_in_by": "basic",
            "csrf_token": null,
        })),
    };
    body.into_response()
}

/// Ends the session and removes its cookie.
pub fn logout(caller: Caller, console: Console) -> warp::reply::Response {
    if let Caller::Session { token, .. } = &caller {
        console.sessions.end(token);
    }
    let mut reply = StatusCode::NO_CONTENT.into_response();
    reply.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&session::expired_cookie()).expect("a static cookie"),
    );
    reply
}

/// The dashboard: every job as `GET /v1/batches` lists it, and the service's state.
pub async fn overview(_: Caller, console: Console) -> Result<warp::reply::Response, Rejection> {
    let details = console.backend.list_details().await.map_err(rejection)?;
    console
        .throughput
        .sample(details.iter().map(|d| &d.job), Instant::now());
    let service = service_state(&details, &console.throughput);
    let jobs: Vec<_> = details.iter().map(|d| &d.job).collect();
    Ok(warp::reply::json(&json!({ "jobs": jobs, "service": service })).into_response())
}

/// A job's page.
pub async fn batch(
    id: String,
    _: Caller,
    console: Console,
) -> Result<warp::reply::Response, Rejection> {
    let details = console.backend.details(&id).await.map_err(rejection)?;
    Ok(warp::reply::json(&details).into_response())
}

/// Cancels a job; the job as it is afterwards.
pub async fn cancel(
    id: String,
    _: Caller,
    console: Console,
) -> Result<warp::reply::Response, Rejection> {
    let job = console.backend.cancel(&id).await.map_err(rejection)?;
    tracing::info!(batch_id = %id, "job canceled from the console");
    Ok(warp::reply::json(&job).into_response())
}

/// Deletes a job's record (outputs stay).
pub async fn delete(
    id: String,
    _: Caller,
    console: Console,
) -> Result<warp::reply::Response, Rejection> {
    console.backend.delete(&id).await.map_err(rejection)?;
    tracing::info!(batch_id = %id, "job deleted from the console");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The custom language models, as `GET /v1/customizations` lists them.
pub async fn customizations(
    _: Caller,
    console: Console,
) -> Result<warp::reply::Response, Rejection> {
    let models = console.models.list_models(None).await.map_err(rejection)?;
    Ok(warp::reply::json(&json!({ "customizations": models })).into_response())
}
