//! The embedded s3s-fs server in a fresh temporary folder, with the tests' key pair; optionally
//! behind a proxy that records what it was asked, so that a test can wait for the service to
//! reach a file instead of guessing how long that takes.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::Request;

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
        let mut s3 = EmbeddedTestS3::start().await;
        let log = Arc::new(Mutex::new(Vec::new()));
        let backend = s3.server.addr();
        let client = forward_client();
        let seen = log.clone();
        let proxy = serve(move |req: Request<Incoming>| {
            let client = client.clone();
            let seen = seen.clone();
            async move {
                seen.lock()
                    .unwrap()
                    .push(format!("{} {}", req.method(), req.uri().path()));
                let (parts, body) = req.into_parts();
                let body = body.collect().await.unwrap().to_bytes();
                forward(&client, backend, parts, body).await
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
