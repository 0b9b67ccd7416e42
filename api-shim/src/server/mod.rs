//! The HTTP server under the REST API and the admin console.
//!
//! `warp::serve` offers no timeouts, no connection limits and no TLS of its own, so the service
//! runs its own accept loop over hyper's connection API (as hyper's own server examples do) and
//! hands each request to the warp filter as a service. What this layer adds, each a defence
//! against a client that never finishes or never stops:
//! - a request head (and the wait for the next one on a kept-alive connection) must arrive
//!   within `--http-header-timeout-s`; a request body may not stall for longer than
//!   `--http-body-timeout-s` between chunks (408); a response that the client does not read
//!   for that long is abandoned;
//! - at most `--max-connections` connections at once, at most `--max-connections-per-client`
//!   from one address (`limits`);
//! - a client that fails authentication too often is answered 429 for a while (`limits`);
//! - over-long request lines and header sections get the interface's error body (414, 431),
//!   as do the malformed heads hyper itself refuses (`error_body`);
//! - one log line per request with client, method, path, status and time, at DEBUG, and at
//!   WARN only for server errors and for clients being throttled, so that hostile traffic
//!   cannot flood the log;
//! - TLS with rustls when `--tls-cert` and `--tls-key` are given (`tls`).

mod body;
mod error_body;
mod idle;
mod limits;
mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hyper::{Body, Request, Response};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use body::BodyStalled;
use limits::{AuthThrottle, ClientConnections};

/// The longest request target (path and query) accepted; longer ones get 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The largest header section accepted (names and values together); larger ones get 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// hyper's read buffer: a request head that does not fit is refused by hyper itself (then
/// [`error_body`] gives that answer its body). Above the two limits above, so that heads
/// between them get an answer that says which limit was passed.
const MAX_HEAD_BUFFER: usize = 64 * 1024;

/// Flags of the HTTP server.
#[derive(clap::Args, Clone, Debug)]
pub struct HttpArgs {
    /// PEM file with the server's certificate chain: with `--tls-key`, the REST API and the
    /// console are served over HTTPS only.
    #[arg(long, env = "SPEECHBATCH_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM file with the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "SPEECHBATCH_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Seconds a client has to send a request head, and that a kept-alive connection may stay
    /// idle before the next one.
    #[arg(long, env = "SPEECHBATCH_HTTP_HEADER_TIMEOUT_S", default_value_t = 15)]
    pub http_header_timeout_s: u64,
    /// Seconds a request body may stall between two chunks (the request then gets 408), and
    /// that a response may wait for the client to read it (the connection is then closed).
    #[arg(long, env = "SPEECHBATCH_HTTP_BODY_TIMEOUT_S", default_value_t = 30)]
    pub http_body_timeout_s: u64,
    /// Connections served at once; further clients wait to be accepted.
    #[arg(long, env = "SPEECHBATCH_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Connections served at once from one client address (an IPv6 client by its /64);
    /// further ones are closed at once.
    #[arg(
        long,
        env = "SPEECHBATCH_MAX_CONNECTIONS_PER_CLIENT",
        default_value_t = 128
    )]
    pub max_connections_per_client: usize,
    /// Failed authentications a client address may have in a minute; after that its requests
    /// get 429 until the minute is over. 0 turns the throttle off (behind a proxy that makes
    /// every client one address, throttle at the proxy instead).
    #[arg(
        long,
        env = "SPEECHBATCH_AUTH_FAILURES_PER_MINUTE",
        default_value_t = 20
    )]
    pub auth_failures_per_minute: u32,
}

impl Default for HttpArgs {
    fn default() -> Self {
        Self {
            tls_cert: None,
            tls_key: None,
            http_header_timeout_s: 15,
            http_body_timeout_s: 30,
            max_connections: 1024,
            max_connections_per_client: 128,
            auth_failures_per_minute: 20,
        }
    }
}

impl HttpArgs {
    /// `https` with TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls_cert.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// A bound server: its address and the task serving it (which ends after `shutdown` is
/// cancelled and open connections finished their requests).
pub struct Server {
    /// The bound address.
    pub addr: SocketAddr,
    /// The accept loop.
    pub task: tokio::task::JoinHandle<()>,
}

/// What every connection task shares.
struct Shared<S> {
    service: S,
    header_timeout: Duration,
    body_timeout: Duration,
    throttle: AuthThrottle,
    clients: ClientConnections,
}

/// Binds `listen` and serves `service` (`warp::service(routes)`) on it until `shutdown` is
/// cancelled.
pub async fn serve<S: WarpService>(
    service: S,
    listen: SocketAddr,
    args: &HttpArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<Server> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        _ => None,
    };
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        service,
        header_timeout: Duration::from_secs(args.http_header_timeout_s.max(1)),
        body_timeout: Duration::from_secs(args.http_body_timeout_s.max(1)),
        throttle: AuthThrottle::new(args.auth_failures_per_minute, Duration::from_secs(60)),
        clients: ClientConnections::new(args.max_connections_per_client.max(1)),
    });
    let slots = Arc::new(Semaphore::new(args.max_connections.max(1)));
    let task = tokio::spawn(accept_loop(listener, tls, shared, slots, shutdown));
    Ok(Server { addr, task })
}

async fn accept_loop<S>(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared<S>>,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
) where
    S: WarpService,
{
    let mut conns = tokio::task::JoinSet::new();
    loop {
        // A connection slot first: past the limit, clients wait in the listen backlog.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = shutdown.cancelled() => break,
        };
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Usually too many open files: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let Some(client) = shared.clients.enter(peer.ip()) else {
            tracing::debug!(client = %peer, "too many connections from this client: closed");
            continue;
        };
        let shared = shared.clone();
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        conns.spawn(async move {
            let _permit = permit;
            let _client = client;
            serve_connection(socket, peer, tls, shared, shutdown).await;
        });
        // Reap finished connection tasks so the set stays as small as the open connections.
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

/// The routes as a hyper service (what `warp::service` makes of a filter).
pub trait WarpService:
    hyper::service::Service<
        Request<Body>,
        Response = Response<Body>,
        Error = Infallible,
        Future = Self::Fut,
    > + Clone
    + Send
    + Sync
    + 'static
{
    /// The service's future.
    type Fut: std::future::Future<Output = Result<Response<Body>, Infallible>> + Send;
}

impl<T> WarpService for T
where
    T: hyper::service::Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    T::Future: Send,
{
    type Fut = T::Future;
}

async fn serve_connection<S: WarpService>(
    socket: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared<S>>,
    shutdown: CancellationToken,
) {
    let _ = socket.set_nodelay(true);
    // A response the client does not read for the body timeout ends the connection.
    let mut io = tokio_io_timeout::TimeoutStream::new(socket);
    io.set_write_timeout(Some(shared.body_timeout));
    let activity = idle::Activity::new();
    let io = idle::IdleTimeout::new(Box::pin(io), activity.clone(), shared.header_timeout);
    match tls {
        None => {
            let io = error_body::ErrorBodies::new(io);
            run_http(io, peer, activity, shared, shutdown).await
        }
        Some(acceptor) => {
            // The handshake counts as part of the request head.
            match tokio::time::timeout(shared.header_timeout, acceptor.accept(io)).await {
                Ok(Ok(stream)) => {
                    let io = error_body::ErrorBodies::new(stream);
                    run_http(io, peer, activity, shared, shutdown).await
                }
                Ok(Err(e)) => tracing::debug!(client = %peer, "TLS handshake failed: {e}"),
                Err(_) => tracing::debug!(client = %peer, "TLS handshake timed out"),
            }
        }
    }
}

async fn run_http<I, S>(
    io: I,
    peer: SocketAddr,
    activity: Arc<idle::Activity>,
    shared: Arc<Shared<S>>,
    shutdown: CancellationToken,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: WarpService,
{
    let handler = {
        let shared = shared.clone();
        hyper::service::service_fn(move |req| {
            let shared = shared.clone();
            let busy = activity.busy();
            async move {
                let response = handle(req, peer, &shared).await;
                drop(busy);
                Ok::<_, Infallible>(response)
            }
        })
    };
    let conn = hyper::server::conn::Http::new()
        .http1_only(true)
        .http1_header_read_timeout(shared.header_timeout)
        .max_buf_size(MAX_HEAD_BUFFER)
        // Each head written whole, in one buffer: what `ErrorBodies` needs to see hyper's own
        // answers.
        .http1_writev(false)
        .serve_connection(io, handler);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = shutdown.cancelled() => {
            // Finish the request in flight, take no new one.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(client = %peer, "connection ended: {e}");
    }
}

/// One request: the throttle, the size limits, the body's stall timeout, the filter, the log.
async fn handle<S: WarpService>(
    req: Request<Body>,
    peer: SocketAddr,
    shared: &Shared<S>,
) -> Response<Body> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = crate::error::cut(req.uri().path(), 256);
    let span = tracing::info_span!("request", client = %peer.ip(), %method, %path);
    async move {
        let response = if let Some(wait) = shared.throttle.blocked(peer.ip()) {
            error_body::too_many_failures(wait)
        } else if let Some(refused) = refuse_head(&req) {
            refused
        } else {
            let (parts, body) = req.into_parts();
            let body = body::stall_limited(body, shared.body_timeout);
            let mut service = shared.service.clone();
            match service.call(Request::from_parts(parts, body)).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        };
        let status = response.status();
        if status == hyper::StatusCode::UNAUTHORIZED && shared.throttle.failed(peer.ip()) {
            tracing::warn!(
                "too many failed authentications from this client: refused for the rest of the minute"
            );
        }
        let ms = started.elapsed().as_millis() as u64;
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), ms, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), ms, "request served");
        }
        response
    }
    .instrument(span)
    .await
}

/// 414 or 431 with the error body for a request line or header section over the limits; the
/// connection is closed after it, as hyper closes it after a head it refuses.
fn refuse_head(req: &Request<Body>) -> Option<Response<Body>> {
    let uri = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri > MAX_URI_BYTES {
        return Some(error_body::closing(
            414,
            &format!("URI Too Long: the path and query may have at most {MAX_URI_BYTES} bytes"),
        ));
    }
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers > MAX_HEADER_BYTES {
        return Some(error_body::closing(
            431,
            &format!(
                "Request Header Fields Too Large: the headers may have at most {MAX_HEADER_BYTES} bytes"
            ),
        ));
    }
    None
}
