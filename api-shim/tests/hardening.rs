//! The REST API against hostile and broken clients, on the real `speechbatch` binary: bodies
//! that never end, heads that never finish, oversized and malformed heads, guessed keys, the
//! key's own handling, file modes, and HTTPS. RELIABILITY.md lists what each test shows.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use common::{Opts, Service, API_KEY};
use serde_json::Value;

/// The service with short HTTP timeouts and a small failed-authentication allowance, so that
/// each limit shows within seconds.
async fn service() -> Service {
    Service::start(Opts {
        auth_failures_per_minute: 5,
        args: ["--http-header-timeout-s", "1", "--http-body-timeout-s", "1"]
            .map(String::from)
            .to_vec(),
        ..Opts::default()
    })
    .await
}

fn basic(key: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("apikey:{key}"))
    )
}

fn connect(s: &Service) -> TcpStream {
    let c = TcpStream::connect(("127.0.0.1", s.api_port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c
}

/// Everything the server sends until it closes the connection (within the 20 s read timeout
/// of [`connect`]; a reset after the answer, when the server closed with input unread, counts
/// as closed).
fn read_all(c: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "the server kept the connection open ({e}) after {:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The status and the JSON error body of a raw answer; panics unless it has one.
fn error_answer(raw: &str) -> (u16, Value) {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP answer: {raw:?}"));
    let status: u16 = head[9..12].parse().unwrap();
    let json: Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("no error body ({e}) in {raw:?}"));
    assert_eq!(json["code"], status, "{raw}");
    assert!(
        json["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{raw}"
    );
    (status, json)
}

/// Sends `request` whole and returns the answer.
fn exchange(s: &Service, request: &[u8]) -> String {
    let mut c = connect(s);
    c.write_all(request).unwrap();
    read_all(&mut c)
}

#[tokio::test]
async fn a_chunked_form_without_a_boundary_is_refused_at_the_body_limit() {
    let s = service().await;
    let mut c = connect(&s);
    write!(
        c,
        "POST /v1/batches?function=recognize HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\
         Content-Type: multipart/form-data; boundary=never-sent\r\nTransfer-Encoding: chunked\r\n\r\n",
        basic(API_KEY)
    )
    .unwrap();
    // 64 chunks of 64 KiB (4 MiB, four times the limit) while the server still reads.
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..64 {
        if write!(c, "{:x}\r\n", chunk.len()).is_err()
            || c.write_all(&chunk).is_err()
            || c.write_all(b"\r\n").is_err()
        {
            break; // the server answered and closed: what is asserted below
        }
    }
    let (status, body) = error_answer(&read_all(&mut c));
    assert_eq!(status, 413, "{body}");
}

#[tokio::test]
async fn only_multipart_form_data_itself_is_a_form() {
    let s = service().await;
    for ct in [
        "multipart/form-dataX; boundary=b",
        "multipart/mixed; boundary=b",
    ] {
        let body = "--b\r\nContent-Disposition: form-data; name=\"input_bucket_name\"\r\n\r\nx\r\n--b--\r\n";
        let raw = exchange(
            &s,
            format!(
                "POST /v1/batches?function=recognize HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\
                 Content-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                basic(API_KEY),
                body.len()
            )
            .as_bytes(),
        );
        assert_eq!(error_answer(&raw).0, 415, "{ct}: {raw}");
    }
}

#[tokio::test]
async fn idle_connections_and_unfinished_heads_are_closed_after_the_header_timeout() {
    let s = service().await;
    for sent in ["", "GET /v1/batches HTTP/1.1\r\nHost: x\r\n"] {
        let mut c = connect(&s);
        c.write_all(sent.as_bytes()).unwrap();
        let answer = read_all(&mut c);
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer}"
        );
    }
    // A kept-alive connection is served, then closed when idle.
    let mut c = connect(&s);
    write!(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let answer = read_all(&mut c);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_stalled_body_gets_408_with_the_error_body() {
    let s = service().await;
    let mut c = connect(&s);
    write!(
        c,
        "POST /v1/recognize HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: audio/wav\r\n\
         Content-Length: 100000\r\n\r\nRIFF",
        basic(API_KEY)
    )
    .unwrap();
    let (status, body) = error_answer(&read_all(&mut c));
    assert_eq!(status, 408, "{body}");
}

#[tokio::test]
async fn oversized_and_malformed_heads_get_the_error_body() {
    let s = service().await;
    let auth = basic(API_KEY);
    let cases: Vec<(String, u16)> = vec![
        // Over the service's limits: its own answers.
        (format!("GET /v1/batches/{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(10_000)), 414),
        (format!("GET /v1/batches HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "b".repeat(40_000)), 431),
        // Past hyper's own limits: its answers, given the error body.
        (format!("GET /v1/batches HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "b".repeat(100_000)), 431),
        (
            format!(
                "GET /v1/batches HTTP/1.1\r\nHost: x\r\n{}\r\n",
                (0..150).map(|i| format!("X-H{i}: v\r\n")).collect::<String>()
            ),
            431,
        ),
        (
            format!("POST /v1/batches HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Length: abc\r\n\r\n"),
            400,
        ),
        (
            "POST /v1/batches HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n".to_string(),
            400,
        ),
    ];
    for (request, expected) in cases {
        let raw = exchange(&s, request.as_bytes());
        let (status, _) = error_answer(&raw);
        assert_eq!(
            status,
            expected,
            "{}: {raw}",
            &request[..request.len().min(80)]
        );
    }
    // An unknown id is echoed cut short.
    let raw = exchange(
        &s,
        format!(
            "GET /v1/batches/{} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n",
            "z".repeat(6000)
        )
        .as_bytes(),
    );
    let (status, body) = error_answer(&raw);
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().len() < 200, "{body}");
}

#[tokio::test]
async fn failed_authentication_is_throttled_and_logged_once() {
    let s = service().await;
    let warns = |log: String| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains("WARN"))
            .map(String::from)
            .collect()
    };
    let before = warns(s.log()).len();
    let get = |key: &str| {
        s.http
            .get(s.url("/v1/batches"))
            .basic_auth("apikey", Some(key.to_string()))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(get("wrong").await.unwrap().status(), 401);
    }
    // Past the allowance even the right key waits: a guesser learns nothing from the answers.
    for key in ["wrong", API_KEY] {
        let r = get(key).await.unwrap();
        assert_eq!(r.status(), 429);
        let wait: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait));
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], 429);
    }
    // The console's sign-in counts as the same client.
    let r = s
        .http
        .post(s.url("/console/api/login"))
        .json(&serde_json::json!({"api_key": API_KEY}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    // One WARN for the throttled client, with its address; no line per refused request.
    let after = warns(s.log());
    assert_eq!(after.len(), before + 1, "{after:#?}");
    let line = after.last().unwrap();
    assert!(
        line.contains("client=127.0.0.1") && line.contains("path=/v1/batches"),
        "{line}"
    );
}

#[tokio::test]
async fn the_api_key_is_never_a_flag_and_may_come_from_a_file() {
    let out = Command::new(env!("CARGO_BIN_EXE_speechbatch"))
        .args(["--api-key", "in-the-process-list", "--data-dir"])
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--api-key-file"), "{stderr}");
    assert!(!stderr.contains("in-the-process-list"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key");
    std::fs::write(&file, "from-the-file\n").unwrap();
    let s = Service::start(Opts {
        args: vec!["--api-key-file".into(), file.display().to_string()],
        ..Opts::default()
    })
    .await;
    let status = |key: &'static str| {
        let r = s
            .http
            .get(s.url("/v1/batches"))
            .basic_auth("apikey", Some(key))
            .send();
        async move { r.await.unwrap().status() }
    };
    assert_eq!(status("from-the-file").await, 200);
    // The file wins over the environment (where the test harness also put a key).
    assert_eq!(status(API_KEY).await, 401);
}

#[tokio::test]
async fn records_and_credentials_are_private_and_nothing_is_left_behind() {
    let mut s = Service::start(Opts::default()).await;
    let target = s.embedded_s3();
    target.fill("inbox", vec![]).await;
    let id = s
        .create_id(
            "function=recognize",
            common::form(&target.creds_file(), "inbox", None),
        )
        .await;
    let (job, _) = s.wait_final(&id, Duration::from_secs(60)).await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let data = s.data.path().to_path_buf();
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("jobs")), 0o700);
    assert_eq!(mode(&s.record_path(&id)), 0o600);
    for entry in std::fs::read_dir(data.join("credentials")).unwrap() {
        assert_eq!(mode(&entry.unwrap().path()), 0o600);
    }
    // What a crash can leave: a temporary file, credentials of a job never recorded.
    s.kill();
    let stray = [
        data.join("jobs").join(format!("{id}.tmp4242")),
        data.join("credentials/11111111-2222-4333-8444-555555555555.input.json"),
    ];
    for path in &stray {
        std::fs::write(path, b"{}").unwrap();
    }
    s.spawn().await;
    for path in &stray {
        assert!(!path.exists(), "{} left behind", path.display());
    }
    assert!(s.record_path(&id).exists());
    assert_eq!(s.get(&id).await["status"], job["status"]);
}

#[tokio::test]
async fn the_api_is_served_over_https_with_the_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let s = Service::start(Opts {
        args: vec![
            "--tls-cert".into(),
            cert.display().to_string(),
            "--tls-key".into(),
            key.display().to_string(),
        ],
        ..Opts::default()
    })
    .await;
    let curl = |url: String| {
        Command::new("curl")
            .args(["-s", "-u", &format!("apikey:{API_KEY}"), "--cacert"])
            .arg(&cert)
            .arg(url)
            .output()
            .unwrap()
    };
    let out = curl(format!("https://localhost:{}/v1/batches", s.api_port));
    assert!(out.status.success(), "{out:?}");
    let jobs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(jobs["jobs"].is_array(), "{jobs}");
    // Plain HTTP on the TLS port gets no API.
    let out = curl(format!("http://localhost:{}/v1/batches", s.api_port));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("\"jobs\""));
    assert!(s.log().contains("REST API on https://"), "{}", s.log());
}

/// A blocking connection to the service from the loopback address `from`, with a receive
/// buffer of `rcvbuf` bytes where given. Any address of 127/8 is this host on Linux, so each
/// stands for a different client. Not 127.0.0.1: the test's own HTTP client keeps a connection
/// from there, which the limits count too.
async fn connect_from(s: &Service, from: [u8; 4], rcvbuf: Option<u32>) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    if let Some(size) = rcvbuf {
        socket.set_recv_buffer_size(size).unwrap();
    }
    socket
        .bind((std::net::Ipv4Addr::from(from), 0).into())
        .unwrap();
    let stream = socket
        .connect(([127, 0, 0, 1], s.api_port).into())
        .await
        .unwrap()
        .into_std()
        .unwrap();
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

/// `GET /healthz` on `c`, closing; the answer, or "" when the server closed the connection
/// unanswered.
fn healthz(c: &mut TcpStream) -> String {
    // A write to a connection the server already closed may fail: read what it said instead.
    let _ = c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    read_all(c)
}

/// The status line of the answer to a kept-alive `GET /healthz` on `c`, sent first unless
/// `sent` already; `None` when no whole answer came within `wait` (the connection may stay
/// open either way).
fn kept_alive_healthz(c: &mut TcpStream, sent: bool, wait: Duration) -> Option<String> {
    if !sent {
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .ok()?;
    }
    c.set_read_timeout(Some(wait)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length {
                return head.lines().next().map(String::from);
            }
        }
        match c.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn connections_past_the_per_client_cap_are_closed_and_past_the_total_they_wait() {
    // A long header timeout: an idle connection is held for the whole test, and a close seen
    // within seconds is the cap's, not the timeout's.
    let s = Service::start(Opts {
        args: [
            "--http-header-timeout-s",
            "60",
            "--max-connections",
            "6",
            "--max-connections-per-client",
            "4",
        ]
        .map(String::from)
        .to_vec(),
        ..Opts::default()
    })
    .await;
    let a = [127, 0, 0, 11];
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut c = connect_from(&s, a, None).await;
        let answer = kept_alive_healthz(&mut c, false, Duration::from_secs(20));
        assert_eq!(answer.as_deref(), Some("HTTP/1.1 200 OK"));
        held.push(c);
    }
    // The fifth from the same address is closed at once, unanswered.
    let started = std::time::Instant::now();
    let mut fifth = connect_from(&s, a, None).await;
    assert_eq!(healthz(&mut fifth), "", "served past the per-client cap");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Another client is served meanwhile...
    let mut other = connect_from(&s, [127, 0, 0, 12], None).await;
    assert!(healthz(&mut other).starts_with("HTTP/1.1 200"));
    // ...and once a connection of the first closes, the first may open one again.
    drop(held.pop());
    speechbatch_testkit::wait_until(
        "a new connection from the first client to be served",
        Duration::from_secs(20),
        async || healthz(&mut connect_from(&s, a, None).await).starts_with("HTTP/1.1 200"),
    )
    .await;
    // Past the total, a client waits in the listen backlog instead of being refused: clients
    // of their own keep connections open until one gets no answer.
    let mut open = Vec::new();
    let mut waiting = loop {
        let from = [127, 0, 0, 20 + open.len() as u8];
        let mut c = connect_from(&s, from, None).await;
        if kept_alive_healthz(&mut c, false, Duration::from_secs(3)).is_none() {
            break c;
        }
        open.push(c);
        assert!(
            open.len() <= 6,
            "more than --max-connections served at once"
        );
    };
    // The 3 held connections and these fill the 6 places (with the test's own HTTP client's,
    // while it keeps one).
    assert!((2..=3).contains(&open.len()), "{} served", open.len());
    drop(open.pop());
    let answer = kept_alive_healthz(&mut waiting, true, Duration::from_secs(20));
    assert_eq!(
        answer.as_deref(),
        Some("HTTP/1.1 200 OK"),
        "the waiting client was never served"
    );
}

#[tokio::test]
async fn a_client_that_never_reads_its_responses_is_dropped_after_the_body_timeout() {
    // One connection per client, so that the held place shows when the server lets go; the
    // header timeout is long, so that only the write timeout can end the connection in time.
    let s = Service::start(Opts {
        args: [
            "--http-header-timeout-s",
            "120",
            "--http-body-timeout-s",
            "1",
            "--max-connections-per-client",
            "1",
        ]
        .map(String::from)
        .to_vec(),
        ..Opts::default()
    })
    .await;
    let a = [127, 0, 0, 11];
    // A small receive window, and requests pipelined without ever reading an answer: the
    // answers fill the window and the server's send buffer, and its writes stall.
    let mut reader_never = connect_from(&s, a, Some(4096)).await;
    let answer = kept_alive_healthz(&mut reader_never, false, Duration::from_secs(20));
    assert_eq!(answer.as_deref(), Some("HTTP/1.1 200 OK"));
    let mut second = connect_from(&s, a, None).await;
    assert_eq!(
        healthz(&mut second),
        "",
        "the first connection does not hold its place"
    );
    let mut writer = reader_never.try_clone().unwrap();
    let pipelining = std::thread::spawn(move || {
        writer
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let batch = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1000);
        // 16 MB of requests at most: far more answers than any socket buffer holds.
        for _ in 0..480 {
            if writer.write_all(batch.as_bytes()).is_err() {
                break;
            }
        }
    });
    // Well before the header timeout (120 s), so it is the write timeout that let go.
    speechbatch_testkit::wait_until(
        "the server to drop the connection that does not read",
        Duration::from_secs(60),
        async || healthz(&mut connect_from(&s, a, None).await).starts_with("HTTP/1.1 200"),
    )
    .await;
    pipelining.join().unwrap();
    drop(reader_never);
}
