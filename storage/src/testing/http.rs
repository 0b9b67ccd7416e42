//! A minimal HTTP/1 server and pass-through for the stand-ins in [`super::iam`] and the
//! recording proxy of [`super::EmbeddedTestS3`].

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// The HTTP client the proxies forward with.
pub(super) type ForwardClient = Client<HttpConnector, Full<Bytes>>;

/// A client for [`forward`].
pub(super) fn forward_client() -> ForwardClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends the request made of `parts` and `body` to `backend` (same path, query and headers,
/// the Host header included, so that a SigV4 signature made for the proxy still verifies) and
/// returns the backend's response, body read in full.
pub(super) async fn forward(
    client: &ForwardClient,
    backend: SocketAddr,
    mut parts: Parts,
    body: Bytes,
) -> Response<Full<Bytes>> {
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

/// A response with `status`, `content_type` and `body`.
pub(super) fn respond(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .unwrap()
}

/// Serves `handler` over HTTP/1 on a free loopback port until the runtime ends; returns the
/// address.
pub(super) async fn serve<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    addr
}
