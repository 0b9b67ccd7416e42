//! The COS stand-in: a bearer-checking proxy.

use std::net::SocketAddr;
use std::time::Instant;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::{SharedIamState, INSTANCE};
use crate::testing::http::{forward, forward_client, respond, serve};

/// Serves the proxy: a request with a live bearer token and the instance id [`INSTANCE`] goes,
/// without them, to `backend`; any other gets S3's AccessDenied and is recorded as refused.
pub(super) async fn bearer_proxy(state: SharedIamState, backend: SocketAddr) -> SocketAddr {
    let client = forward_client();
    serve(move |req: Request<Incoming>| {
        let state = state.clone();
        let client = client.clone();
        async move {
            let header = |name: &str| {
                req.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned()
            };
            let auth = header("authorization");
            let instance = header("ibm-service-instance-id");
            {
                let mut s = state.lock().unwrap();
                let valid = auth
                    .strip_prefix("Bearer ")
                    .and_then(|t| s.tokens.get(t))
                    .is_some_and(|exp| Instant::now() < *exp);
                if !valid || instance != INSTANCE {
                    s.refused.push(format!(
                        "{} {} auth={auth:?} instance={instance:?}",
                        req.method(),
                        req.uri()
                    ));
                    return respond(
                        StatusCode::FORBIDDEN,
                        "application/xml",
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
                    );
                }
                s.forwarded += 1;
            }
            let (mut parts, body) = req.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            parts.headers.remove("authorization");
            parts.headers.remove("ibm-service-instance-id");
            forward(&client, backend, parts, body).await
        }
    })
    .await
}
