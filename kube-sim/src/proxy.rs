//! The API endpoint clients talk to: plain HTTP on loopback, forwarding every request to the real
//! apiextensions-apiserver with the administrator's client certificate, and serving the core and
//! `batch` paths from their stand-in CRDs ([`crate::builtin`]). Watch streams are rewritten event
//! by event, so controllers see `batch/v1` Jobs and `v1` Pods arrive as they change.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{Request, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use kube::Client;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::builtin::{merge_string_data, rewrite_api_versions, stand_in_path, Direction};

type ProxyBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// A running proxy; stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Serves on a free loopback port, forwarding through `upstream`.
    pub async fn start(upstream: Client) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let upstream = upstream.clone();
                        async move { Ok::<_, Infallible>(forward(upstream, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Proxy { addr, task })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn error_response(code: StatusCode, message: String) -> Response<ProxyBody> {
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "code": code.as_u16(),
    });
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(full(body.to_string()))
        .expect("a valid response")
}

fn rewrite_json(bytes: &[u8], dir: Direction) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(bytes).ok()?;
    if dir == Direction::ToStandIn {
        merge_string_data(&mut v);
    }
    rewrite_api_versions(&mut v, dir);
    serde_json::to_vec(&v).ok()
}

async fn forward(upstream: Client, req: Request<Incoming>) -> Response<ProxyBody> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let query = parts
        .uri
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let mapped = stand_in_path(&path);
    let watch = query.contains("watch=true") || query.contains("watch=1");
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {e}"),
            )
        }
    };
    let body = match &mapped {
        Some(_) if !body.is_empty() => rewrite_json(&body, Direction::ToStandIn)
            .map(Bytes::from)
            .unwrap_or(body),
        _ => body,
    };
    let uri = format!("{}{query}", mapped.as_deref().unwrap_or(&path));
    let mut builder = Request::builder().method(parts.method).uri(uri);
    for (name, value) in &parts.headers {
        if ![HOST, CONTENT_LENGTH, CONNECTION, TRANSFER_ENCODING].contains(name) {
            builder = builder.header(name, value);
        }
    }
    let request = builder
        .body(kube::client::Body::from(body.to_vec()))
        .expect("a valid request");
    let response = match upstream.send(request).await {
        Ok(r) => r,
        Err(e) => return error_response(StatusCode::BAD_GATEWAY, format!("upstream: {e}")),
    };
    let (parts, body) = response.into_parts();
    let mut out = Response::builder().status(parts.status);
    for (name, value) in &parts.headers {
        if ![CONTENT_LENGTH, CONNECTION, TRANSFER_ENCODING].contains(name) {
            out = out.header(name, value);
        }
    }
    let stream = body
        .into_data_stream()
        .map(|r| r.map_err(std::io::Error::other));
    let body: ProxyBody = match (mapped.is_some(), watch) {
        (false, _) => BodyExt::boxed_unsync(StreamBody::new(stream.map(|r| r.map(Frame::data)))),
        (true, true) => BodyExt::boxed_unsync(StreamBody::new(
            rewrite_lines(stream).map(|r| r.map(Frame::data)),
        )),
        (true, false) => {
            let mut all = Vec::new();
            let mut stream = Box::pin(stream);
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(c) => all.extend_from_slice(&c),
                    Err(e) => {
                        return error_response(StatusCode::BAD_GATEWAY, format!("upstream: {e}"))
                    }
                }
            }
            full(rewrite_json(&all, Direction::FromStandIn).unwrap_or(all))
        }
    };
    out.body(body).expect("a valid response")
}

/// A watch stream is one JSON event per line: each complete line is rewritten on its own.
fn rewrite_lines(
    upstream: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let upstream = Box::pin(upstream);
    futures::stream::unfold(
        (upstream, Vec::<u8>::new(), false),
        |(mut upstream, mut pending, done)| async move {
            if done {
                return None;
            }
            loop {
                if let Some(end) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let mut out = rewrite_json(&line, Direction::FromStandIn).unwrap_or(line);
                    if out.last() != Some(&b'\n') {
                        out.push(b'\n');
                    }
                    return Some((Ok(Bytes::from(out)), (upstream, pending, false)));
                }
                match upstream.next().await {
                    Some(Ok(chunk)) => pending.extend_from_slice(&chunk),
                    Some(Err(e)) => return Some((Err(e), (upstream, pending, true))),
                    None if pending.is_empty() => return None,
                    None => {
                        let rest = std::mem::take(&mut pending);
                        let out = rewrite_json(&rest, Direction::FromStandIn).unwrap_or(rest);
                        return Some((Ok(Bytes::from(out)), (upstream, pending, true)));
                    }
                }
            }
        },
    )
}
