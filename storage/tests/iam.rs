//! IBM Cloud IAM credentials against a local token endpoint and a loopback proxy that enforces
//! bearer tokens in front of an s3s-fs server without SigV4 (as COS does with IAM).

mod support;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use speechbatch_storage::embedded_s3::EmbeddedS3;
use speechbatch_storage::{
    output_key, Bucket, Credentials, IamCredentials, OutputKind, StorageConfig, StorageErrorKind,
};
use support::{closed_addr, test_config, LOCATION};

const APIKEY: &str = "iam-test-apikey-Huw5KLD1Qlg6a8ftrk8MGhSp";
const INSTANCE: &str = "ec21da8a-b15c-42bd-8ca7-a9d4230107c9";
const TOKEN_LIFETIME: Duration = Duration::from_secs(2);

#[derive(Default)]
struct IamState {
    exchanges: u64,
    /// Issued tokens and when they expire.
    tokens: HashMap<String, Instant>,
    /// Requests the proxy refused (a missing, wrong or expired token, or no instance id).
    refused: Vec<String>,
    forwarded: u64,
}

type Shared = Arc<Mutex<IamState>>;

fn respond(
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

/// Serves `handler` over HTTP/1 on a loopback port.
async fn serve<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
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

/// The IAM token endpoint: exchanges the one good API key for short-lived tokens.
async fn token_endpoint(state: Shared) -> SocketAddr {
    serve(move |req: Request<Incoming>| {
        let state = state.clone();
        async move {
            let ok_form = req.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"application/x-www-form-urlencoded"));
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let form: HashMap<String, String> = form_pairs(&body);
            let good = ok_form
                && form.get("grant_type").map(String::as_str) == Some("urn:ibm:params:oauth:grant-type:apikey")
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
            s.tokens.insert(token.clone(), Instant::now() + TOKEN_LIFETIME);
            let body = serde_json::json!({
                "access_token": token,
                "refresh_token": "not-used",
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME.as_secs(),
                "expiration": 0,
                "scope": "ibm openid",
            });
            respond(StatusCode::OK, "application/json", body.to_string())
        }
    })
    .await
}

fn form_pairs(body: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The COS stand-in: checks the bearer token and instance id, then forwards the request
/// (without the token) to an s3s-fs server that checks no signature.
async fn bearer_proxy(state: Shared, backend: SocketAddr) -> SocketAddr {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    serve(move |req: Request<Incoming>| {
        let state = state.clone();
        let client = client.clone();
        async move {
            let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            let instance = req.headers().get("ibm-service-instance-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            {
                let mut s = state.lock().unwrap();
                let valid = auth
                    .strip_prefix("Bearer ")
                    .and_then(|t| s.tokens.get(t))
                    .is_some_and(|exp| Instant::now() < *exp);
                if !valid || instance != INSTANCE {
                    s.refused.push(format!("{} {} auth={auth:?} instance={instance:?}", req.method(), req.uri()));
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
            let pq = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
            parts.uri = format!("http://{backend}{pq}").parse().unwrap();
            let resp = client.request(Request::from_parts(parts, Full::new(body))).await.unwrap();
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            Response::from_parts(parts, Full::new(body))
        }
    })
    .await
}

fn iam_credentials(endpoint: &str, apikey: &str) -> Credentials {
    Credentials::Iam(IamCredentials {
        apikey: apikey.to_owned(),
        end_point: endpoint.to_owned(),
        resource_instance_id: INSTANCE.to_owned(),
        region: "us-south".to_owned(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_tokens_are_exchanged_sent_and_refreshed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("cos-bucket/folder")).unwrap();
    for i in 0..30 {
        std::fs::write(
            dir.path().join(format!("cos-bucket/folder/clip{i:02}.wav")),
            format!("clip {i}"),
        )
        .unwrap();
    }
    let s3 = EmbeddedS3::start(dir.path().to_owned(), "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let state = Shared::default();
    let iam = token_endpoint(state.clone()).await;
    let proxy = bearer_proxy(state.clone(), s3.addr()).await;
    let cfg = StorageConfig {
        iam_token_url: format!("http://{iam}/identity/token"),
        ..test_config()
    };
    let endpoint = format!("http://{proxy}");

    let bucket = Bucket::connect(
        &iam_credentials(&endpoint, APIKEY),
        "cos-bucket",
        LOCATION,
        &cfg,
    )
    .await
    .unwrap();
    assert_eq!(
        state.lock().unwrap().exchanges,
        0,
        "connect does no network I/O"
    );
    bucket.check_access().await.unwrap();
    assert_eq!(state.lock().unwrap().exchanges, 1);

    // Work for three token lifetimes, through clones (which share the token cache).
    let started = Instant::now();
    let mut rounds = 0;
    while started.elapsed() < 3 * TOKEN_LIFETIME {
        let b = bucket.clone().with_page_size(7);
        let listed: Vec<_> = b.list_inputs(None, None).try_collect().await.unwrap();
        assert_eq!(listed.len(), 30);
        assert_eq!(b.get("folder/clip07.wav", 100).await.unwrap(), b"clip 7");
        let out = output_key("folder/clip07.wav", OutputKind::Json);
        b.put_output(&out, b"{}".to_vec(), &format!("batch-{rounds}"))
            .await
            .unwrap();
        assert_eq!(
            b.output_batch_id(&out).await.unwrap(),
            Some(format!("batch-{rounds}"))
        );
        rounds += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let s = state.lock().unwrap();
    eprintln!(
        "IAM: {rounds} rounds, {} requests forwarded, {} token exchanges in {:?}",
        s.forwarded,
        s.exchanges,
        started.elapsed()
    );
    assert!(s.refused.is_empty(), "the proxy refused: {:?}", s.refused);
    // Refreshed before expiry (at 80 % of 2 s): about one exchange per 1.6 s, not one per request.
    assert!(
        s.exchanges >= 3,
        "the token was not refreshed: {} exchanges",
        s.exchanges
    );
    assert!(
        s.exchanges <= 6,
        "tokens were not reused: {} exchanges for {} requests",
        s.exchanges,
        s.forwarded
    );
    drop(s);
    assert!(dir
        .path()
        .join("cos-bucket/folder/clip07.wav.json")
        .is_file());
}

#[tokio::test]
async fn rejected_apikey_is_invalid_credentials() {
    let state = Shared::default();
    let iam = token_endpoint(state.clone()).await;
    let token_url = format!("http://{iam}/identity/token");
    let cfg = StorageConfig {
        iam_token_url: token_url.clone(),
        ..test_config()
    };
    let wrong = "wrong-apikey-0123456789abcdef";
    let bucket = Bucket::connect(
        &iam_credentials("http://127.0.0.1:9", wrong),
        "cos-bucket",
        LOCATION,
        &cfg,
    )
    .await
    .unwrap();
    let e = bucket.check_access().await.unwrap_err();
    assert_eq!(e.kind, StorageErrorKind::InvalidCredentials, "{e:?}");
    assert!(
        e.message.contains("IAM API key")
            && e.message.contains(&token_url)
            && e.message.contains("'cos-bucket'"),
        "{e}"
    );
    let all = format!("{e} {e:?} {bucket:?} {:?}", iam_credentials("x", wrong));
    assert!(!all.contains(wrong), "the API key leaked: {all}");
    eprintln!("rejected: {e}");
    assert_eq!(state.lock().unwrap().exchanges, 0);
}

#[tokio::test]
async fn unreachable_token_endpoint_is_unreachable() {
    let token_url = format!("http://{}/identity/token", closed_addr());
    let cfg = StorageConfig {
        iam_token_url: token_url.clone(),
        ..test_config()
    };
    let bucket = Bucket::connect(
        &iam_credentials("http://127.0.0.1:9", APIKEY),
        "b",
        LOCATION,
        &cfg,
    )
    .await
    .unwrap();
    let e = bucket.get("k", 10).await.unwrap_err();
    assert_eq!(e.kind, StorageErrorKind::Unreachable, "{e:?}");
    assert!(
        e.message.contains(&token_url) && !e.message.contains(APIKEY),
        "{e}"
    );
}
