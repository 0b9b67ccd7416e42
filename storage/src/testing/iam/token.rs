//! The IAM token endpoint.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::{SharedIamState, APIKEY};
use crate::testing::http::{respond, serve};

/// Serves the token endpoint: exchanges [`APIKEY`] (form-encoded, grant type apikey) for a new
/// bearer token that lives `lifetime`; any other request gets IAM's "API key not found" error.
pub(super) async fn token_endpoint(state: SharedIamState, lifetime: Duration) -> SocketAddr {
    serve(move |req: Request<Incoming>| {
        let state = state.clone();
        async move {
            let ok_form = req.headers().get("content-type").is_some_and(|v| {
                v.as_bytes()
                    .starts_with(b"application/x-www-form-urlencoded")
            });
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let form: HashMap<String, String> =
                form_urlencoded::parse(&body).into_owned().collect();
            let good = ok_form
                && form.get("grant_type").map(String::as_str)
                    == Some("urn:ibm:params:oauth:grant-type:apikey")
                && form.get("apikey").map(String::as_str) == Some(APIKEY);
            if !good {
                return respond(
                    StatusCode::BAD_REQUEST,
                    "application/json",
                    r#"{"errorCode":"BXNIM0415E","errorMessage":"Provided API key could not be found.","context":{}}"#,
                );
            }
            let mut s = state.lock().unwrap();
            s.exchanges += 1;
            let token = format!("token-{}", s.exchanges);
            s.tokens.insert(token.clone(), Instant::now() + lifetime);
            let body = serde_json::json!({
                "access_token": token,
                "refresh_token": "not-used",
                "token_type": "Bearer",
                "expires_in": lifetime.as_secs(),
                "expiration": 0,
                "scope": "ibm openid",
            });
            respond(StatusCode::OK, "application/json", body.to_string())
        }
    })
    .await
}
