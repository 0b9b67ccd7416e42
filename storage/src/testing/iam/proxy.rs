//! The COS stand-in: a bearer-checking proxy.

use std::net::SocketAddr;
use std::time::Instant;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::{SharedIamState, INSTANCE};
use crate::testing::http::{respond, serve};

/// Serves the proxy: a request with a live bearer token and the instance id [`INSTANCE`] goes,
/// without them, to `backend`; any other gets S3's AccessDenied and is recorded as refused.
pub(super) async fn bearer_proxy(state: SharedIamState, backend: SocketAddr) -> SocketAddr {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
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
            let pq = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
                .to_owned();
            parts.uri = format!("http://{backend}{pq}").parse().unwrap();
            let resp = client
                .request(Request::from_parts(parts, Full::new(body)))
                .await
                .unwrap();
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            Response::from_parts(parts, Full::new(body))
        }
    })
    .await
}
