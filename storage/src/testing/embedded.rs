//! The embedded s3s-fs server in a fresh temporary folder, with the tests' key pair; optionally
//! behind a proxy that records what it was asked, so that a test can wait for the service to
//! reach a file instead of guessing how long that takes, and that can show listed keys under
//! other names (keys the embedded server refuses to store, as S3 servers that store them would
//! list them).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response};

use super::http::{forward, forward_client, serve};
use crate::embedded_s3::EmbeddedS3;

/// The access key of the tests' S3 servers.
pub const ACCESS_KEY: &str = "speechbatch-test-ak";
/// The secret key of the tests' S3 servers (with `/` and `+`, which signing must escape).
pub const SECRET_KEY: &str = "Sup3rSecretTestKey/With+Chars0123456789";

/// s3s-fs on a free loopback port, serving a temporary folder; stopped and removed on drop.
pub struct EmbeddedTestS3 {
    /// The folder it serves (one sub-folder per bucket).
    pub root: tempfile::TempDir,
    /// The server.
    pub server: EmbeddedS3,
    /// With [`EmbeddedTestS3::start_recording`]: the proxy's address and what it forwarded.
    recorder: Option<(SocketAddr, Arc<Mutex<Vec<String>>>)>,
}

impl EmbeddedTestS3 {
    /// Starts it with [`ACCESS_KEY`] and [`SECRET_KEY`].
    pub async fn start() -> EmbeddedTestS3 {
        let root = tempfile::tempdir().expect("a temporary folder");
        let server = EmbeddedS3::start(
            root.path().to_owned(),
            "127.0.0.1:0".parse().expect("a socket address"),
            Some((ACCESS_KEY, SECRET_KEY)),
        )
        .await
        .expect("the embedded S3 server starts");
        EmbeddedTestS3 {
            root,
            server,
            recorder: None,
        }
    }

    /// Like [`EmbeddedTestS3::start`], with a loopback proxy in front that forwards every
    /// request unchanged and records its method and path ([`EmbeddedTestS3::requests`]);
    /// [`EmbeddedTestS3::endpoint`] is then the proxy's. The proxy runs until the runtime ends.
    pub async fn start_recording() -> EmbeddedTestS3 {
        EmbeddedTestS3::start_proxied(Vec::new()).await
    }

    /// Like [`EmbeddedTestS3::start_recording`], and listings (ListObjectsV2) show each
    /// `(stored, listed)` pair's `stored` key as `listed`: a stand-in for S3 servers, AWS among
    /// them, that store keys the embedded server refuses, such as `a/../b.wav`. Only listings
    /// are rewritten; every other request goes to the embedded server unchanged, so a request
    /// for a `listed` key is answered as the embedded server answers it. `listed` must sort
    /// among the other keys (outputs written later included) where `stored` does, and below it.
    pub async fn start_listing_as(aliases: &[(&str, &str)]) -> EmbeddedTestS3 {
        let aliases = aliases
            .iter()
            .map(|(stored, listed)| (stored.to_string(), listed.to_string()))
            .collect();
        EmbeddedTestS3::start_proxied(aliases).await
    }

    async fn start_proxied(aliases: Vec<(String, String)>) -> EmbeddedTestS3 {
        let mut s3 = EmbeddedTestS3::start().await;
        let log = Arc::new(Mutex::new(Vec::new()));
        let backend = s3.server.addr();
        let client = forward_client();
        let seen = log.clone();
        let aliases = Arc::new(aliases);
        let proxy = serve(move |req: Request<Incoming>| {
            let client = client.clone();
            let seen = seen.clone();
            let aliases = aliases.clone();
            async move {
                seen.lock()
                    .unwrap()
                    .push(format!("{} {}", req.method(), req.uri().path()));
                let query = req.uri().query().unwrap_or("").to_owned();
                let listing = req.method() == Method::GET && query.contains("list-type=2");
                let (parts, body) = req.into_parts();
                let body = body.collect().await.unwrap().to_bytes();
                let resp = forward(&client, backend, parts, body).await;
                if !listing || aliases.is_empty() {
                    return resp;
                }
                let encoded = query.contains("encoding-type=url");
                rename_listed(resp, &aliases, encoded).await
            }
        })
        .await;
        s3.recorder = Some((proxy, log));
        s3
    }

    /// `http://127.0.0.1:PORT`: the proxy's when recording, else the server's.
    pub fn endpoint(&self) -> String {
        match &self.recorder {
            Some((proxy, _)) => format!("http://{proxy}"),
            None => self.server.endpoint(),
        }
    }

    /// Every request the recording proxy forwarded so far, in order of arrival, as
    /// `"METHOD /bucket/key"` (path-style, percent-encoded as sent, without the query).
    /// Panics unless started with [`EmbeddedTestS3::start_recording`].
    pub fn requests(&self) -> Vec<String> {
        let (_, log) = self
            .recorder
            .as_ref()
            .expect("requests are recorded only by EmbeddedTestS3::start_recording");
        log.lock().unwrap().clone()
    }

    /// Whether the object `key` of `bucket` has been read (a GET of it was forwarded): the
    /// moment a worker starts on an input.
    pub fn was_read(&self, bucket: &str, key: &str) -> bool {
        let wanted = format!("GET /{bucket}/{key}");
        self.requests().contains(&wanted)
    }
}

/// A listing response with each `(stored, listed)` key renamed.
async fn rename_listed(
    resp: Response<Full<Bytes>>,
    aliases: &[(String, String)],
    encoded: bool,
) -> Response<Full<Bytes>> {
    let (mut parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let mut text = String::from_utf8(bytes.to_vec()).expect("a listing is UTF-8 XML");
    let shown = |k: &str| {
        if encoded {
            crate::embedded_s3::url_encode(k)
        } else {
            k.replace('&', "&amp;").replace('<', "&lt;")
        }
    };
    for (stored, listed) in aliases {
        text = text.replace(
            &format!("<Key>{}</Key>", shown(stored)),
            &format!("<Key>{}</Key>", shown(listed)),
        );
    }
    parts
        .headers
        .insert(hyper::header::CONTENT_LENGTH, text.len().into());
    Response::from_parts(parts, Full::new(Bytes::from(text)))
}
