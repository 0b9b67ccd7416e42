//! The admin console at `/console`: a page to watch, inspect and manage batch jobs, served by the
//! service itself over whichever backend it runs (so it shows exactly what `GET /v1/batches`
//! shows), with the Documentation tab generated from the API's own description.
//!
//! Routes (filters here, work in `handlers`):
//! - `GET /console/` and `GET /console/assets/{file}`: the page; public, it holds no data.
//! - `GET /console/api/docs`: what the Documentation tab renders; public, as `/v1/openapi.yaml`.
//! - `POST /console/api/login` with `{"api_key": ...}`: starts a session (cookie).
//! - Signed in (session cookie, or the API key as basic auth like the REST API):
//!   `GET /console/api/session`, `GET /console/api/overview` (jobs and service state),
//!   `GET /console/api/batches/{id}`, `GET /console/api/customizations`.
//! - Actions, signed in and from this origin with the session's CSRF token in `X-CSRF-Token`:
//!   `POST /console/api/batches/{id}/cancel`, `DELETE /console/api/batches/{id}`,
//!   `POST /console/api/logout`.
//!
//! Every console response carries [`assets::security_headers`]. A request without a session
//! gets a 401 error body without `WWW-Authenticate`, so the browser shows the console's own
//! sign-in form instead of its basic-auth prompt.

pub mod assets;
pub mod docs;
mod handlers;
pub mod session;
pub mod state;

use std::convert::Infallible;
use std::sync::Arc;

use warp::http::{Method, StatusCode};
use warp::{Filter, Rejection, Reply};

use crate::auth::ApiKey;
use crate::backend::Backend;
use crate::customization::LanguageModels;
use crate::error::ApiError;
use crate::filters::not_allowed;
use session::Sessions;
use state::Throughput;

/// What the console's handlers share.
#[derive(Clone)]
pub struct Console {
    backend: Arc<dyn Backend>,
    models: Arc<dyn LanguageModels>,
    key: ApiKey,
    sessions: Arc<Sessions>,
    throughput: Arc<Throughput>,
}

impl Console {
    /// The console over `backend` and `models`, signing in with `key`. Inside a Tokio runtime it
    /// starts sampling the job list for the files-per-minute figure.
    pub fn new(backend: Arc<dyn Backend>, models: Arc<dyn LanguageModels>, key: ApiKey) -> Self {
        let throughput = Arc::new(Throughput::default());
        if tokio::runtime::Handle::try_current().is_ok() {
            throughput.start_sampling(backend.clone());
        }
        Self {
            backend,
            models,
            key,
            sessions: Arc::new(Sessions::default()),
            throughput,
        }
    }
}

/// Who is asking.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A browser signed in through the form; actions need its CSRF token.
    Session {
        /// The cookie's token.
        token: String,
        /// The token actions must carry.
        csrf: String,
    },
    /// A client sending the API key as basic auth, as to the REST API.
    Basic,
}

/// A console request that is not signed in.
#[derive(Debug)]
struct SignInNeeded;
impl warp::reject::Reject for SignInNeeded {}

/// Every console route, under `/console`.
pub fn routes(console: Console) -> warp::filters::BoxedFilter<(warp::reply::Response,)> {
    let inner = page()
        .or(api(console))
        .unify()
        .recover(recover)
        .unify()
        .with(warp::reply::with::headers(assets::security_headers()))
        .map(Reply::into_response);
    warp::path("console").and(inner).boxed()
}

fn with<T: Clone + Send>(value: T) -> impl Filter<Extract = (T,), Error = Infallible> + Clone {
    warp::any().map(move || value.clone())
}

/// The page, its assets, and `/console` itself (which redirects to `/console/`, so that the
/// page's relative links resolve under it).
fn page() -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let bare = warp::path::end()
        .and(warp::get())
        .and(warp::path::full())
        .and_then(|full: warp::path::FullPath| async move {
            if full.as_str().ends_with('/') {
                Ok(handlers::index())
            } else {
                Err(warp::reject::not_found())
            }
        });
    let redirect = warp::path::end().and(warp::get()).map(|| {
        warp::http::Response::builder()
            .status(StatusCode::PERMANENT_REDIRECT)
            .header("location", "/console/")
            .body(warp::hyper::Body::empty())
            .expect("a static redirect")
    });
    let asset = warp::path!("assets" / String)
        .and(warp::get())
        .and_then(|name: String| async move { handlers::asset(&name) });
    bare.or(redirect).unify().or(asset).unify()
}

/// The JSON routes under `/console/api`.
fn api(
    console: Console,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let docs = warp::path!("api" / "docs")
        .and(warp::get())
        .map(handlers::docs);
    let login = warp::path!("api" / "login").and(
        warp::post()
            .and(same_origin())
            .and(warp::header::optional::<String>("x-forwarded-proto"))
            .and(warp::body::content_length_limit(4096))
            .and(warp::body::json())
            .and(with(console.clone()))
            .and_then(handlers::login)
            .or(not_allowed(&[Method::POST]))
            .unify(),
    );
    let session = warp::path!("api" / "session")
        .and(warp::get())
        .and(signed_in(&console))
        .map(handlers::session);
    let logout = warp::path!("api" / "logout")
        .and(warp::post())
        .and(action(&console))
        .and(with(console.clone()))
        .map(handlers::logout);
    let overview = warp::path!("api" / "overview")
        .and(warp::get())
        .and(signed_in(&console))
        .and(with(console.clone()))
        .and_then(handlers::overview);
    let batch = warp::path!("api" / "batches" / String)
        .and(warp::get())
        .and(signed_in(&console))
        .and(with(console.clone()))
        .and_then(handlers::batch);
    let cancel = warp::path!("api" / "batches" / String / "cancel")
        .and(warp::post())
        .and(action(&console))
        .and(with(console.clone()))
        .and_then(handlers::cancel);
    let delete = warp::path!("api" / "batches" / String)
        .and(warp::delete())
        .and(action(&console))
        .and(with(console.clone()))
        .and_then(handlers::delete);
    let models = warp::path!("api" / "customizations")
        .and(warp::get())
        .and(signed_in(&console))
        .and(with(console))
        .and_then(handlers::customizations);
    docs.map(Reply::into_response)
        .or(login)
        .unify()
        .or(session)
        .unify()
        .or(logout)
        .unify()
        .or(overview)
        .unify()
        .or(batch)
        .unify()
        .or(cancel)
        .unify()
        .or(delete)
        .unify()
        .or(models)
        .unify()
}

/// The caller, signed in by session cookie or by the API key as basic auth; otherwise 401.
fn signed_in(console: &Console) -> impl Filter<Extract = (Caller,), Error = Rejection> + Clone {
    let key = console.key.clone();
    let sessions = console.sessions.clone();
    warp::header::optional::<String>("authorization")
        .and(warp::cookie::optional::<String>(session::COOKIE))
        .and_then(move |auth: Option<String>, cookie: Option<String>| {
            let caller = if key.accepts(auth.as_deref()) {
                Some(Caller::Basic)
            } else {
                cookie.and_then(|token| {
                    let csrf = sessions.csrf_of(&token)?;
                    Some(Caller::Session { token, csrf })
                })
            };
            async move { caller.ok_or_else(|| warp::reject::custom(SignInNeeded)) }
        })
}

/// A signed-in caller allowed to act: the request comes from this origin (by `Origin` and
/// `Sec-Fetch-Site`, where the browser sends them) and carries `X-CSRF-Token`, which must be
/// the session's own token for a cookie session. A basic-auth client only needs the header to
/// be there: the point is that no cross-site form can add it and no cross-origin script can
/// without a CORS preflight, which this service never answers with permission.
fn action(console: &Console) -> impl Filter<Extract = (Caller,), Error = Rejection> + Clone {
    same_origin()
        .and(signed_in(console))
        .and(warp::header::optional::<String>("x-csrf-token"))
        .and_then(|caller: Caller, sent: Option<String>| async move {
            let Some(sent) = sent.filter(|s| !s.is_empty()) else {
                return Err(forbidden("The X-CSRF-Token header is missing: console actions must come from the console page"));
            };
            match &caller {
                Caller::Session { csrf, .. } if !session::same_token(&sent, csrf) => Err(
                    forbidden("The X-CSRF-Token header does not match this session: reload the console"),
                ),
                _ => Ok(caller),
            }
        })
}

/// Refuses a request a browser says came from another site or origin.
fn same_origin() -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>("origin")
        .and(warp::header::optional::<String>("sec-fetch-site"))
        .and(warp::header::optional::<String>("host"))
        .and_then(
            |origin: Option<String>, site: Option<String>, host: Option<String>| async move {
                if let Some(site) = site {
                    if !matches!(site.as_str(), "same-origin" | "none") {
                        return Err(forbidden("Cross-site requests may not act on the console"));
                    }
                }
                if let Some(origin) = origin {
                    let origin_host = origin
                        .split_once("://")
                        .map(|(_, rest)| rest)
                        .unwrap_or_default();
                    let same = host.is_some_and(|h| h.eq_ignore_ascii_case(origin_host));
                    if !same {
                        return Err(forbidden(
                            "Requests from another origin may not act on the console",
                        ));
                    }
                }
                Ok(())
            },
        )
        .untuple_one()
}

fn forbidden(message: &str) -> Rejection {
    warp::reject::custom(ApiError::new(403, message))
}

/// Console errors as the interface's error body. Unlike the REST API's 401, the console's has
/// no `WWW-Authenticate`: the page signs in with its own form.
async fn recover(err: Rejection) -> Result<warp::reply::Response, Infallible> {
    if err.find::<SignInNeeded>().is_some() {
        return Ok(error(401, "Sign in with the service's API key"));
    }
    if err.is_not_found() {
        return Ok(error(404, "Not Found: the console is at /console/"));
    }
    let mut reply = crate::error::recover(err).await?;
    reply
        .headers_mut()
        .remove(warp::http::header::WWW_AUTHENTICATE);
    Ok(reply)
}

fn error(status: u16, message: &str) -> warp::reply::Response {
    let mut reply = crate::error::error_reply(status, message);
    reply
        .headers_mut()
        .remove(warp::http::header::WWW_AUTHENTICATE);
    reply
}
