//! An S3 endpoint over a local folder, served in-process by `s3s-fs`: each top-level directory
//! of the root is a bucket, each file below it an object. The api-shim uses it so that a
//! newcomer can transcribe a folder without running an object store; tests use it as a real
//! SigV4-checking server.
//!
//! s3s-fs is served behind a guard of ours (`guard`): whatever the key, the server never
//! panics and never reads or writes outside a bucket's folder; keys it cannot store are refused
//! with S3 errors; symbolic links are never followed; a listing leaves out (and logs) entries it
//! cannot serve instead of failing. Every key up to S3's 1024 bytes works, as long as each
//! segment fits in a file name (255 bytes) and the whole path in 4095 bytes.

mod guard;
mod listing;
mod long_keys;
mod paths;
mod stale;

#[cfg(feature = "testing")]
pub(crate) use listing::url_encode;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// A running embedded S3 server; dropping it (or [`EmbeddedS3::shutdown`]) stops it, open
/// connections included.
#[derive(Debug)]
pub struct EmbeddedS3 {
    addr: SocketAddr,
    /// `None` only after [`EmbeddedS3::into_task`] handed the task to the caller.
    task: Option<JoinHandle<()>>,
}

impl EmbeddedS3 {
    /// Serves `root` on `addr` (port 0 picks a free port). With `auth = Some((access_key,
    /// secret_key))` every request must be SigV4-signed with that key pair (wrong secrets are
    /// rejected); with `None` every request is accepted, signed or not.
    pub async fn start(
        root: PathBuf,
        addr: SocketAddr,
        auth: Option<(&str, &str)>,
    ) -> io::Result<EmbeddedS3> {
        let mut builder = S3ServiceBuilder::new(guard::Guard::new(&root)?);
        if let Some((ak, sk)) = auth {
            builder.set_auth(SimpleAuth::from_single(ak, sk));
        }
        let service = builder.build();
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            // Connections live in this set, so aborting the server task drops (ends) them too.
            let mut conns = JoinSet::new();
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((socket, _)) => {
                            let conn = http.serve_connection(TokioIo::new(socket), service.clone()).into_owned();
                            conns.spawn(async move {
                                let _ = conn.await;
                            });
                        }
                        Err(e) => {
                            // Usually too many open files: back off instead of spinning.
                            tracing::warn!("embedded S3 server: accept failed: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        }
                    },
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(EmbeddedS3 {
            addr,
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL, `http://<addr>`, for a credentials file's `end_point`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits until its task (and so its listener) is gone.
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// The server task, for callers that manage it themselves: the server stops when the task
    /// is aborted, and no longer when this value is dropped.
    pub fn into_task(mut self) -> (SocketAddr, JoinHandle<()>) {
        let task = self
            .task
            .take()
            .expect("the task is taken only here and in shutdown");
        (self.addr, task)
    }
}

impl Drop for EmbeddedS3 {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Serves `root` on `addr` with SigV4 checked against one key pair; returns the bound address
/// and the server task (abort it to stop the server, connections included).
pub async fn serve(
    root: PathBuf,
    addr: SocketAddr,
    access_key: &str,
    secret_key: &str,
) -> Result<(SocketAddr, JoinHandle<()>), io::Error> {
    Ok(
        EmbeddedS3::start(root, addr, Some((access_key, secret_key)))
            .await?
            .into_task(),
    )
}
