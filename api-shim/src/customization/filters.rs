//! The routes of `/v1/customizations` (filters only; the work is in [`super::handlers`]), and
//! the clear refusals for what this service does not keep: grammars and custom acoustic models.

use std::sync::Arc;

use warp::http::Method;
use warp::Filter;

use super::backend::LanguageModels;
use super::handlers;
use crate::auth::{self, ApiKey};
use crate::error::ApiError;
use crate::filters::not_allowed;

/// The largest corpus `POST .../corpora/{corpus_name}` takes: 64 MiB. A model holds at most 10
/// million corpus words in all, about 60 MB of English text, so one corpus may carry the whole
/// budget; anything larger could never be used.
pub const MAX_CORPUS_BYTES: u64 = 64 * 1024 * 1024;

/// The largest JSON body (models, words): 16 MiB, room for the 90,000 words a model may hold
/// with their spellings.
pub const MAX_JSON_BYTES: u64 = 16 * 1024 * 1024;

type Response = warp::reply::Response;
type Query = Vec<(String, String)>;

fn with_models(
    models: Arc<dyn LanguageModels>,
) -> impl Filter<Extract = (Arc<dyn LanguageModels>,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || models.clone())
}

fn query() -> impl Filter<Extract = (Query,), Error = warp::Rejection> + Clone {
    warp::query::<Query>()
}

/// Every `/v1/customizations...` route and the refusals for grammars and
/// `/v1/acoustic_customizations...`, behind basic authentication.
pub fn routes(
    models: Arc<dyn LanguageModels>,
    key: ApiKey,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    language_models(models.clone(), key.clone())
        .or(corpora(models.clone(), key.clone()))
        .unify()
        .or(words(models, key.clone()))
        .unify()
        .or(unsupported(key))
        .unify()
        .boxed()
}

/// The models themselves: create, list, get, delete, train, reset, upgrade.
fn language_models(
    models: Arc<dyn LanguageModels>,
    key: ApiKey,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let m = || with_models(models.clone());
    let collection = warp::path!("v1" / "customizations")
        .and(auth::require(key.clone()))
        .and(
            warp::post()
                .and(json_body())
                .and(m())
                .and_then(handlers::create_model)
                .or(warp::get()
                    .and(query())
                    .and(m())
                    .and_then(handlers::list_models))
                .unify()
                .or(not_allowed(&[Method::POST, Method::GET]))
                .unify(),
        );

    let item = warp::path!("v1" / "customizations" / String).and(auth::require(key.clone()));
    let get = item
        .clone()
        .and(warp::get())
        .and(m())
        .and_then(handlers::get_model);
    let delete = item
        .clone()
        .and(warp::delete())
        .and(m())
        .and_then(handlers::delete_model);
    let item_other = item
        .and(not_allowed(&[Method::GET, Method::DELETE]))
        .map(|_: String, r| r);

    let train = warp::path!("v1" / "customizations" / String / "train")
        .and(auth::require(key.clone()))
        .and(warp::post())
        .and(query())
        .and(m())
        .and_then(handlers::train);
    let reset = warp::path!("v1" / "customizations" / String / "reset")
        .and(auth::require(key.clone()))
        .and(warp::post())
        .and(m())
        .and_then(handlers::reset);
    let upgrade = warp::path!("v1" / "customizations" / String / "upgrade_model")
        .and(auth::require(key.clone()))
        .and(warp::post())
        .and(m())
        .and_then(handlers::upgrade);
    let actions_other = warp::path!("v1" / "customizations" / String / String)
        .and_then(|_: String, action: String| async move {
            if matches!(action.as_str(), "train" | "reset" | "upgrade_model") {
                Ok(())
            } else {
                Err(warp::reject::not_found())
            }
        })
        .untuple_one()
        .and(auth::require(key))
        .and(not_allowed(&[Method::POST]));

    collection
        .or(get)
        .unify()
        .or(delete)
        .unify()
        .or(item_other)
        .unify()
        .or(train)
        .unify()
        .or(reset)
        .unify()
        .or(upgrade)
        .unify()
        .or(actions_other)
        .unify()
        .boxed()
}

/// `.../corpora` and `.../corpora/{corpus_name}`.
fn corpora(
    models: Arc<dyn LanguageModels>,
    key: ApiKey,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let m = || with_models(models.clone());
    let collection =
        warp::path!("v1" / "customizations" / String / "corpora").and(auth::require(key.clone()));
    let list = collection
        .clone()
        .and(warp::get())
        .and(m())
        .and_then(handlers::list_corpora);
    let collection_other = collection
        .and(not_allowed(&[Method::GET]))
        .map(|_: String, r| r);
    let item =
        warp::path!("v1" / "customizations" / String / "corpora" / String).and(auth::require(key));
    let add = item
        .clone()
        .and(warp::post())
        .and(query())
        .and(warp::header::optional::<String>("content-type"))
        .and(crate::body::limited(MAX_CORPUS_BYTES, corpus_too_large))
        .and(m())
        .and_then(handlers::add_corpus);
    let get = item
        .clone()
        .and(warp::get())
        .and(m())
        .and_then(handlers::get_corpus);
    let delete = item
        .clone()
        .and(warp::delete())
        .and(m())
        .and_then(handlers::delete_corpus);
    let other = item
        .and(not_allowed(&[Method::POST, Method::GET, Method::DELETE]))
        .map(|_: String, _: String, r| r);
    list.or(collection_other)
        .unify()
        .or(add)
        .unify()
        .or(get)
        .unify()
        .or(delete)
        .unify()
        .or(other)
        .unify()
        .boxed()
}

/// `.../words` and `.../words/{word_name}`.
fn words(
    models: Arc<dyn LanguageModels>,
    key: ApiKey,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let m = || with_models(models.clone());
    let collection =
        warp::path!("v1" / "customizations" / String / "words").and(auth::require(key.clone()));
    let add = collection
        .clone()
        .and(warp::post())
        .and(json_body())
        .and(m())
        .and_then(handlers::add_words);
    let list = collection
        .clone()
        .and(warp::get())
        .and(query())
        .and(m())
        .and_then(handlers::list_words);
    let collection_other = collection
        .and(not_allowed(&[Method::POST, Method::GET]))
        .map(|_: String, r| r);
    let item =
        warp::path!("v1" / "customizations" / String / "words" / String).and(auth::require(key));
    let put = item
        .clone()
        .and(warp::put())
        .and(json_body())
        .and(m())
        .and_then(handlers::put_word);
    let get = item
        .clone()
        .and(warp::get())
        .and(m())
        .and_then(handlers::get_word);
    let delete = item
        .clone()
        .and(warp::delete())
        .and(m())
        .and_then(handlers::delete_word);
    let item_other = item
        .and(not_allowed(&[Method::PUT, Method::GET, Method::DELETE]))
        .map(|_: String, _: String, r| r);
    add.or(list)
        .unify()
        .or(collection_other)
        .unify()
        .or(put)
        .unify()
        .or(get)
        .unify()
        .or(delete)
        .unify()
        .or(item_other)
        .unify()
        .boxed()
}

/// Grammars (`/v1/customizations/{id}/grammars...`) and custom acoustic models
/// (`/v1/acoustic_customizations...`), whatever the method: refused with what to do instead.
fn unsupported(key: ApiKey) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let grammars = warp::path("v1")
        .and(warp::path("customizations"))
        .and(warp::path::param::<String>())
        .and(warp::path("grammars"))
        .and(warp::path::tail())
        .and(auth::require(key.clone()))
        .and_then(|_: String, _| async {
            Err::<Response, _>(warp::reject::custom(ApiError::bad_request(
                "Grammars are not kept by this service: batch jobs ignore grammar_name, so a grammar would never be used; teach the model words with corpora and words instead",
            )))
        });
    let acoustic = warp::path("v1")
        .and(warp::path("acoustic_customizations"))
        .and(warp::path::tail())
        .and(auth::require(key))
        .and_then(|_| async {
            Err::<Response, _>(warp::reject::custom(ApiError::new(
                501,
                "Custom acoustic models are not supported by this service: use a custom language model (/v1/customizations) to teach it domain words",
            )))
        });
    grammars.or(acoustic).unify()
}

/// A JSON request body of at most [`MAX_JSON_BYTES`] (parsed by the handler, which names what
/// is wrong with it).
fn json_body() -> impl Filter<Extract = (Vec<u8>,), Error = warp::Rejection> + Clone {
    crate::body::limited(MAX_JSON_BYTES, json_too_large)
}

fn json_too_large() -> warp::Rejection {
    warp::reject::custom(ApiError::new(
        413,
        format!("The request body is larger than {MAX_JSON_BYTES} bytes (16 MiB)"),
    ))
}

fn corpus_too_large() -> warp::Rejection {
    warp::reject::custom(ApiError::new(
        413,
        format!(
            "The corpus is larger than {MAX_CORPUS_BYTES} bytes (64 MiB), more text than the 10 million words a model may hold"
        ),
    ))
}
