//! The end point policy against real sockets: refused end points are never connected to, an
//! allowed embedded S3 server and SeaweedFS still work, and every way of not being an S3
//! server reads the same to users.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use speechbatch_storage::endpoint::refused_message;
use speechbatch_storage::testing::{closed_addr, EmbeddedTestS3, SeaweedFs};
use speechbatch_storage::{
    Bucket, Credentials, EndpointPolicy, HmacCredentials, StorageConfig, StorageError,
    StorageErrorKind,
};
use support::{admin_client, ACCESS_KEY, LOCATION, SECRET_KEY};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn creds(end_point: &str) -> Credentials {
    Credentials::Hmac(HmacCredentials {
        end_point: end_point.to_owned(),
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
    })
}

fn config(policy: EndpointPolicy) -> StorageConfig {
    StorageConfig {
        connect_timeout: Duration::from_secs(1),
        operation_timeout: Duration::from_secs(3),
        max_attempts: 2,
        endpoint_policy: policy,
        ..StorageConfig::default()
    }
}

/// A loopback listener that counts the connections it accepts (and closes each at once).
async fn recorder() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (addr, hits)
}

fn assert_refused(e: &StorageError, end_point: &str) {
    assert_eq!(e.kind, StorageErrorKind::AccessDenied, "{end_point}: {e:?}");
    assert!(e.is_permanent());
    assert_eq!(e.message, refused_message(end_point), "{end_point}");
}

/// Refuses a name's end point at each request (resolution happens at the connection), and
/// the message does not say what the name resolved to.
async fn assert_name_refused(end_point: &str, cfg: &StorageConfig) {
    let bucket = Bucket::connect(&creds(end_point), "inputs", LOCATION, cfg)
        .await
        .unwrap();
    let e = bucket.check_access().await.unwrap_err();
    assert_refused(&e, end_point);
    assert!(
        !e.message.contains("127.0.0.1") && !e.message.contains("::1"),
        "{e}"
    );
    let e = bucket.get("a.wav", 10).await.unwrap_err();
    assert_refused(&e, end_point);
    let e = bucket
        .list_inputs(None, None)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_refused(&e, end_point);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_end_points_are_never_connected_to() {
    let (addr, hits) = recorder().await;
    let port = addr.port();
    let default = config(EndpointPolicy::default());
    let literal = format!("http://127.0.0.1:{port}");
    let by_name = format!("http://localhost:{port}");
    let loopback_literals = [
        literal.clone(),
        format!("http://[::ffff:127.0.0.1]:{port}"),
        format!("http://2130706433:{port}"),
    ];

    // Metadata and other addresses the default policy refuses: refused when the bucket is
    // set up, before any client exists (0.0.0.0 would reach the recorder).
    for ep in [
        "http://169.254.169.254".to_owned(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://[::ffff:169.254.169.254]".to_owned(),
        "http://[fd00:ec2::254]".to_owned(),
        format!("http://0.0.0.0:{port}"),
    ] {
        let e = Bucket::connect(&creds(&ep), "inputs", LOCATION, &default)
            .await
            .unwrap_err();
        assert_refused(&e, &ep);
    }

    // The service's own listening address: refused by the default policy, which allows
    // loopback, and with loopback allowed by entry.
    for own in [
        config(EndpointPolicy::default().deny_listener(addr)),
        config(
            EndpointPolicy::default()
                .allow("127.0.0.0/8".parse().unwrap())
                .deny_listener(addr),
        ),
    ] {
        for ep in &loopback_literals {
            let e = Bucket::connect(&creds(ep), "inputs", LOCATION, &own)
                .await
                .unwrap_err();
            assert_refused(&e, ep);
        }
        assert_name_refused(&by_name, &own).await;
    }

    // Loopback with private addresses denied: literals when the bucket is set up, names when
    // resolved.
    let strict = config(EndpointPolicy::default().deny_private(true));
    for ep in loopback_literals
        .iter()
        .cloned()
        .chain([format!("http://[::1]:{port}")])
    {
        let e = Bucket::connect(&creds(&ep), "inputs", LOCATION, &strict)
            .await
            .unwrap_err();
        assert_refused(&e, &ep);
    }
    assert_name_refused(&by_name, &strict).await;

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a refused end point was connected to"
    );

    // The recorder does see the connections the policy allows: the check above can fail.
    // Loopback by default, by address and by name; with private addresses denied, as the
    // service allows its embedded S3 endpoint.
    let allow_listed = config(
        EndpointPolicy::default()
            .allow_listener(addr)
            .deny_private(true),
    );
    for (ep, cfg) in [
        (&literal, &default),
        (&by_name, &default),
        (&literal, &allow_listed),
    ] {
        let before = hits.load(Ordering::SeqCst);
        let bucket = Bucket::connect(&creds(ep), "inputs", LOCATION, cfg)
            .await
            .unwrap();
        let e = bucket.check_access().await.unwrap_err();
        assert!(!e.is_permanent(), "{ep}: {e:?}");
        assert!(
            hits.load(Ordering::SeqCst) > before,
            "{ep} was not connected to"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_listed_embedded_s3_and_seaweedfs_still_work() {
    let s3 = EmbeddedTestS3::start().await;
    let addr = s3.server.addr();
    let admin = admin_client(&s3.endpoint());
    admin.create_bucket().bucket("inputs").send().await.unwrap();
    admin
        .put_object()
        .bucket("inputs")
        .key("a.wav")
        .body(b"abc".to_vec().into())
        .send()
        .await
        .unwrap();

    // Refused with private addresses denied (loopback) ...
    let e = Bucket::connect(
        &creds(&s3.endpoint()),
        "inputs",
        LOCATION,
        &config(EndpointPolicy::default().deny_private(true)),
    )
    .await
    .unwrap_err();
    assert_refused(&e, &s3.endpoint());

    // ... allowed by default, and, with private addresses denied, as the service allows its
    // embedded S3 endpoint, by address, or by name.
    let by_name = format!("http://localhost:{}", addr.port());
    let strict = || EndpointPolicy::default().deny_private(true);
    for (ep, policy) in [
        (s3.endpoint(), EndpointPolicy::default()),
        (by_name.clone(), EndpointPolicy::default()),
        (s3.endpoint(), strict().allow_listener(addr)),
        (
            s3.endpoint(),
            strict().allow(format!("0.0.0.0:{}", addr.port()).parse().unwrap()),
        ),
        (
            by_name.clone(),
            strict().allow(format!("localhost:{}", addr.port()).parse().unwrap()),
        ),
        (by_name.clone(), strict().allow_listener(addr)),
    ] {
        let bucket = Bucket::connect(&creds(&ep), "inputs", LOCATION, &config(policy.clone()))
            .await
            .unwrap();
        bucket
            .check_access()
            .await
            .unwrap_or_else(|e| panic!("{ep} with {policy:?}: {e}"));
        assert_eq!(bucket.get("a.wav", 10).await.unwrap(), b"abc");
    }

    let weed = SeaweedFs::start(ACCESS_KEY, SECRET_KEY).await;
    let admin = admin_client(&weed.endpoint());
    admin.create_bucket().bucket("inputs").send().await.unwrap();
    let policy = EndpointPolicy::default()
        .allow(format!("127.0.0.1:{}", weed.s3_port()).parse().unwrap())
        .deny_private(true);
    let bucket = Bucket::connect(
        &creds(&weed.endpoint()),
        "inputs",
        LOCATION,
        &config(policy),
    )
    .await
    .unwrap();
    bucket.check_access().await.unwrap();
    bucket
        .put_output("a.wav.json", b"{}".to_vec(), "batch-1")
        .await
        .unwrap();
    assert_eq!(
        bucket
            .output_batch_id("a.wav.json")
            .await
            .unwrap()
            .as_deref(),
        Some("batch-1")
    );
}

/// How a test server answers each connection.
#[derive(Clone, Copy)]
enum Answer {
    /// Closes it at once, without reading.
    Close,
    /// Reads the request and never answers.
    Silent,
    /// Reads the request's head and sends these bytes.
    Raw(&'static str),
}

async fn serve(answer: Answer) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                if matches!(answer, Answer::Close) {
                    return;
                }
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                match answer {
                    Answer::Raw(bytes) => {
                        let _ = socket.write_all(bytes.as_bytes()).await;
                        let _ = socket.shutdown().await;
                    }
                    _ => tokio::time::sleep(Duration::from_secs(60)).await,
                }
            });
        }
    });
    addr
}

fn response(status: &str, content_type: &str, body: &str) -> &'static str {
    Box::leak(
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_boxed_str(),
    )
}

async fn first_error(addr: SocketAddr) -> (String, StorageError) {
    let ep = format!("http://{addr}");
    let cfg = StorageConfig {
        max_attempts: 1,
        ..config(EndpointPolicy::default().allow("127.0.0.0/8".parse().unwrap()))
    };
    let bucket = Bucket::connect(&creds(&ep), "inputs", LOCATION, &cfg)
        .await
        .unwrap();
    (ep, bucket.check_access().await.unwrap_err())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_and_non_s3_end_points_all_read_the_same() {
    let secret_code = r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>RedisSaysHello</Code><Message>internal detail of port 6379</Message></Error>"#;
    let targets = [
        ("nothing listening", closed_addr()),
        ("closed at once", serve(Answer::Close).await),
        ("never answers", serve(Answer::Silent).await),
        (
            "a web page",
            serve(Answer::Raw(response(
                "404 Not Found",
                "text/html",
                "<html><body>nginx internal admin</body></html>",
            )))
            .await,
        ),
        (
            "an unknown S3 error code",
            serve(Answer::Raw(response(
                "400 Bad Request",
                "application/xml",
                secret_code,
            )))
            .await,
        ),
        (
            "a server error without a body",
            serve(Answer::Raw(response(
                "500 Internal Server Error",
                "text/plain",
                "",
            )))
            .await,
        ),
        (
            "not XML",
            serve(Answer::Raw(response(
                "200 OK",
                "application/json",
                r#"{"redis": 1}"#,
            )))
            .await,
        ),
        (
            "not HTTP",
            serve(Answer::Raw("SSH-2.0-OpenSSH_9.6\r\n")).await,
        ),
    ];
    let mut messages = Vec::new();
    for (what, addr) in targets {
        let (ep, e) = first_error(addr).await;
        eprintln!("{what}: {:?}: {e}", e.kind);
        assert!(!e.is_permanent(), "{what}: {e:?}");
        // Ports are random: look for leaks in the rest.
        let m = e.message.replace(&ep, "END_POINT");
        for leak in [
            "RedisSaysHello",
            "6379",
            "nginx",
            "redis",
            "SSH",
            "refused",
            "reset",
            "closed",
            "timed out",
            "404",
            "500",
            "400",
        ] {
            assert!(!m.contains(leak), "{what}: '{leak}' in {e}");
        }
        messages.push((what, m));
    }
    for (what, m) in &messages {
        assert_eq!(m, &messages[0].1, "{what} reads differently");
    }
    assert!(
        messages[0]
            .1
            .contains("Could not reach the end point END_POINT")
            && messages[0].1.contains("check end_point"),
        "{}",
        messages[0].1
    );

    // S3's standard answers are still told apart, with their code.
    let denied = serve(Answer::Raw(response(
        "403 Forbidden",
        "application/xml",
        r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>no</Message></Error>"#,
    )))
    .await;
    let (_, e) = first_error(denied).await;
    assert_eq!(e.kind, StorageErrorKind::AccessDenied, "{e:?}");
    assert!(
        e.message.contains("AccessDenied") && e.message.contains("'inputs'"),
        "{e}"
    );
    let missing = serve(Answer::Raw(response(
        "404 Not Found",
        "application/xml",
        r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchBucket</Code><Message>no</Message></Error>"#,
    )))
    .await;
    let (_, e) = first_error(missing).await;
    assert_eq!(e.kind, StorageErrorKind::NoSuchBucket, "{e:?}");
}
