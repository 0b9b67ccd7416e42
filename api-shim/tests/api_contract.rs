//! The REST contract of the real `speechbatch` binary: authentication, validation and error
//! bodies with the right status codes, response bodies that match the checked-in openapi.yaml,
//! timestamps and status-dependent fields, list order, and no secret in any response or log line.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::*;
use reqwest::multipart::Form;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Sends a request with optional basic auth; returns status and the (validated) body.
async fn send(
    svc: &Service,
    method: Method,
    path: &str,
    auth: Option<(&str, &str)>,
    op: Op,
    build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> (StatusCode, Value) {
    let mut rb = svc.http.request(method, svc.url(path));
    if let Some((u, p)) = auth {
        rb = rb.basic_auth(u, Some(p));
    }
    let r = build(rb).send().await.unwrap();
    checked(r, op).await
}

/// POSTs `body` to /v1/batches?function=recognize over a plain socket (with a Content-Length or
/// chunked), ignoring write errors, and reads the answer.
fn raw_post(svc: &Service, content_type: &str, body: &[u8], chunked: bool) -> (StatusCode, Value) {
    use base64::Engine as _;
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", svc.api_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("apikey:{API_KEY}"));
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {}", body.len())
    };
    let head = format!(
        "POST /v1/batches?function=recognize HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\nContent-Type: {content_type}\r\n{framing}\r\nConnection: close\r\n\r\n"
    );
    let _ = s.write_all(head.as_bytes());
    if chunked {
        for c in body.chunks(64 * 1024) {
            if s.write_all(format!("{:x}\r\n", c.len()).as_bytes())
                .is_err()
                || s.write_all(c).is_err()
                || s.write_all(b"\r\n").is_err()
            {
                break;
            }
        }
        let _ = s.write_all(b"0\r\n\r\n");
    } else {
        let _ = s.write_all(body);
    }
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).to_string();
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let code: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let payload = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut r = rest;
        while let Some((len, after)) = r.split_once("\r\n") {
            let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&after[..n]);
            r = &after[n + 2..];
        }
        out
    } else {
        rest.to_string()
    };
    let body: Value = serde_json::from_str(&payload).unwrap_or_else(|e| panic!("{e}: {text}"));
    let st = StatusCode::from_u16(code).unwrap();
    responses_seen().lock().unwrap().push(payload);
    validate(Op::Create, st, &body);
    (st, body)
}

fn error_text(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error text: {body}"))
}

fn assert_error(st: StatusCode, body: &Value, want: u16, mentions: &[&str], what: &str) {
    assert_eq!(st.as_u16(), want, "{what}: {body}");
    let e = error_text(body);
    for m in mentions {
        assert!(e.contains(m), "{what}: error should mention {m:?}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_backend_keeps_the_rest_contract() {
    rest_contract(Backend::Embedded).await;
}

/// The same contract with SpeechBatch resources, the operator and shard Jobs behind it (on a
/// kube-sim cluster: see tests/kubernetes_e2e.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubernetes_backend_keeps_the_rest_contract() {
    rest_contract(Backend::Kubernetes).await;
}

async fn rest_contract(backend: Backend) {
    // IAM token exchanges go to a closed port: a job with IAM credentials fails quickly.
    let svc = Service::start(Opts {
        backend,
        iam_token_url: Some(format!("http://{}/identity/token", closed_addr())),
        ..Opts::default()
    })
    .await;
    // Jobs take longer through the operator and shard pods (process start, model load).
    let settle = match backend {
        Backend::Embedded => Duration::from_secs(60),
        Backend::Kubernetes => Duration::from_secs(240),
    };
    let s3 = svc.embedded_s3();
    let creds = s3.creds_file();
    s3.fill("contract-empty", vec![]).await;
    s3.fill(
        "contract-one",
        vec![("a/clip02.flac".into(), read_testdata("asr/clip02.flac"))],
    )
    .await;

    // --- The OpenAPI document is served, identical to the checked-in one, without auth.
    let r = svc
        .http
        .get(svc.url("/v1/openapi.yaml"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), OPENAPI_YAML);

    // --- Authentication on every route, with and without the interface's prefix.
    let good_job = svc
        .create("function=recognize", form(&creds, "contract-empty", None))
        .await;
    let id = good_job["batch_id"].as_str().unwrap().to_string();
    let bad_auths: [(Option<(&str, &str)>, &str); 5] = [
        (None, "no credentials"),
        (Some(("apikey", "wrong-key")), "wrong key"),
        (Some(("admin", API_KEY)), "wrong user name"),
        (Some(("APIKEY", API_KEY)), "user name in capitals"),
        (Some(("apikey", "")), "empty key"),
    ];
    for prefix in ["", "/speech-to-text/api"] {
        let routes: Vec<(Method, String, Op)> = vec![
            (
                Method::POST,
                format!("{prefix}/v1/batches?function=recognize"),
                Op::Create,
            ),
            (Method::GET, format!("{prefix}/v1/batches"), Op::List),
            (Method::GET, format!("{prefix}/v1/batches/{id}"), Op::Job),
            (
                Method::PUT,
                format!("{prefix}/v1/batches/{id}?action=cancel"),
                Op::Job,
            ),
            (
                Method::DELETE,
                format!("{prefix}/v1/batches/{id}"),
                Op::Delete,
            ),
            (
                Method::GET,
                format!("{prefix}/v1/batches/no-such-id"),
                Op::Job,
            ),
            (Method::GET, format!("{prefix}/v1/models"), Op::Models),
            (
                Method::GET,
                format!("{prefix}/v1/models/en-US_BroadbandModel"),
                Op::Model,
            ),
            (
                Method::POST,
                format!("{prefix}/v1/recognize"),
                Op::Recognize,
            ),
        ];
        for (m, path, op) in &routes {
            for (auth, what) in &bad_auths {
                let (st, body) = send(&svc, m.clone(), path, *auth, *op, |rb| {
                    if *m == Method::POST {
                        rb.multipart(form(&creds, "contract-empty", None))
                    } else {
                        rb
                    }
                })
                .await;
                assert_error(
                    st,
                    &body,
                    401,
                    &["apikey"],
                    &format!("{m} {path} with {what}"),
                );
            }
            // A bearer token is not basic authentication.
            let (st, body) = send(&svc, m.clone(), path, None, *op, |rb| {
                rb.bearer_auth(API_KEY)
            })
            .await;
            assert_error(
                st,
                &body,
                401,
                &[],
                &format!("{m} {path} with a bearer token"),
            );
        }
    }
    let r = svc.http.get(svc.url("/v1/batches")).send().await.unwrap();
    assert!(
        r.headers()
            .get("www-authenticate")
            .is_some_and(|v| v.to_str().unwrap().starts_with("Basic")),
        "401 without WWW-Authenticate: Basic"
    );
    // None of the unauthenticated requests changed the job.
    let (after, _) = svc.wait_final(&id, settle).await;
    assert_eq!(after["status"], "completed", "{after}");
    assert_eq!(after["total_count"], 0);
    // The same key works under the prefix.
    let (st, body) = send(
        &svc,
        Method::GET,
        &format!("/speech-to-text/api/v1/batches/{id}"),
        Some(("apikey", API_KEY)),
        Op::Job,
        |rb| rb,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body, after);

    // --- The base models, on both backends, with and without the prefix.
    let auth = Some(("apikey", API_KEY));
    check_models(&svc).await;
    if backend == Backend::Kubernetes {
        // The shim links no engine there: one file is refused with what to do instead.
        let (st, body) = send(
            &svc,
            Method::POST,
            "/v1/recognize",
            auth,
            Op::Recognize,
            |rb| rb.body(read_testdata("asr/clip02.flac")),
        )
        .await;
        assert_error(st, &body, 501, &["batch"], "recognize on Kubernetes");
    }

    // --- function.
    for (query, mentions) in [
        ("", vec!["function", "recognize"]),
        ("model=en-US_BroadbandModel", vec!["function"]),
        ("function=transcribe", vec!["transcribe", "recognize"]),
        ("function=", vec!["function"]),
        (
            "function=recognize&function=recognize",
            vec!["function", "more than once"],
        ),
    ] {
        let (st, body) = send(
            &svc,
            Method::POST,
            &format!("/v1/batches?{query}"),
            auth,
            Op::Create,
            |rb| rb.multipart(form(&creds, "contract-empty", None)),
        )
        .await;
        assert_error(st, &body, 400, &mentions, &format!("POST ?{query}"));
    }

    // --- action.
    for (query, mentions) in [
        ("", vec!["action", "cancel"]),
        ("?action=stop", vec!["stop", "cancel"]),
        ("?action=", vec!["action"]),
        ("?action=cancel&action=cancel", vec!["more than once"]),
    ] {
        let (st, body) = send(
            &svc,
            Method::PUT,
            &format!("/v1/batches/{id}{query}"),
            auth,
            Op::Job,
            |rb| rb,
        )
        .await;
        assert_error(st, &body, 400, &mentions, &format!("PUT {query}"));
    }

    // --- Missing and partial form fields, each named.
    let creds_part = || file_part(creds.clone());
    let cases: Vec<(Form, Vec<&str>, &str)> = vec![
        (
            Form::new().text("input_bucket_location", LOCATION),
            vec!["input_credentials_file", "input_bucket_name"],
            "only a location",
        ),
        (
            Form::new()
                .text("input_bucket_name", "contract-empty")
                .text("input_bucket_location", LOCATION),
            vec!["input_credentials_file"],
            "no input credentials",
        ),
        (
            Form::new()
                .part("input_credentials_file", creds_part())
                .text("input_bucket_location", LOCATION),
            vec!["input_bucket_name"],
            "no input bucket name",
        ),
        (
            Form::new()
                .part("input_credentials_file", creds_part())
                .text("input_bucket_name", "contract-empty"),
            vec!["input_bucket_location"],
            "no input location",
        ),
        (
            form(&creds, "contract-empty", None).text("output_bucket_name", "out"),
            vec!["output_credentials_file", "output_bucket_location"],
            "only output_bucket_name",
        ),
        (
            form(&creds, "contract-empty", None).part("output_credentials_file", creds_part()),
            vec!["output_bucket_location", "output_bucket_name"],
            "only output_credentials_file",
        ),
        (
            form(&creds, "contract-empty", None)
                .part("output_credentials_file", creds_part())
                .text("output_bucket_location", LOCATION),
            vec!["output_bucket_name"],
            "output without its name",
        ),
        (
            form(&creds, "contract-empty", None).text("input_bucket_name", "again"),
            vec!["input_bucket_name", "more than once"],
            "a field twice",
        ),
        (
            form(&creds, "contract-empty", None).text("input_bucket", "x"),
            vec!["input_bucket"],
            "an unknown field",
        ),
        (
            Form::new()
                .part("input_credentials_file", creds_part())
                .text("input_bucket_location", LOCATION)
                .text("input_bucket_name", "  "),
            vec!["input_bucket_name"],
            "a blank bucket name",
        ),
    ];
    for (f, mentions, what) in cases {
        let (st, body) = send(
            &svc,
            Method::POST,
            "/v1/batches?function=recognize",
            auth,
            Op::Create,
            |rb| rb.multipart(f),
        )
        .await;
        assert_error(st, &body, 400, &mentions, what);
    }

    // --- Credentials files in neither format.
    for (bytes, what) in [
        (
            br#"{"endpoint": "http://x", "user": "u", "password": "p"}"#.to_vec(),
            "unknown fields",
        ),
        (
            br#"{"end_point": "http://x", "access_key": "only-the-access-key"}"#.to_vec(),
            "no secret_key",
        ),
        (
            br#"{"apikey": "k", "region": "us-south"}"#.to_vec(),
            "IAM without end_point",
        ),
        (
            b"end_point=http://x\naccess_key=a\nsecret_key=b".to_vec(),
            "not JSON",
        ),
        (b"[]".to_vec(), "a JSON array"),
        (Vec::new(), "empty"),
    ] {
        let f = Form::new()
            .part("input_credentials_file", file_part(bytes))
            .text("input_bucket_location", LOCATION)
            .text("input_bucket_name", "contract-empty");
        let (st, body) = send(
            &svc,
            Method::POST,
            "/v1/batches?function=recognize",
            auth,
            Op::Create,
            |rb| rb.multipart(f),
        )
        .await;
        assert_error(
            st,
            &body,
            400,
            &["input_credentials_file"],
            &format!("credentials: {what}"),
        );
    }
    // The same for the output bucket's file.
    let f = form(&creds, "contract-empty", Some((b"{}", "out")));
    let (st, body) = send(
        &svc,
        Method::POST,
        "/v1/batches?function=recognize",
        auth,
        Op::Create,
        |rb| rb.multipart(f),
    )
    .await;
    assert_error(
        st,
        &body,
        400,
        &["output_credentials_file"],
        "output credentials {}",
    );

    // --- Recognition parameters.
    for (q, mentions) in [
        ("smart_formatting=yes", vec!["smart_formatting", "yes"]),
        ("redaction=1", vec!["redaction"]),
        ("word_confidence=", vec!["word_confidence"]),
        ("profanity_filter=on", vec!["profanity_filter"]),
        ("customization_weight=1.5", vec!["customization_weight"]),
        ("customization_weight=-0.1", vec!["customization_weight"]),
        ("customization_weight=heavy", vec!["customization_weight"]),
        ("model=fr-FR_BroadbandModel", vec!["fr-FR_BroadbandModel"]),
        ("model=", vec!["model"]),
        ("acoustic_customization_id=abc123", vec!["abc123"]),
        ("language_customization_id=def456", vec!["def456"]),
        (
            "redaction=true&redaction=false",
            vec!["redaction", "more than once"],
        ),
    ] {
        let (st, body) = send(
            &svc,
            Method::POST,
            &format!("/v1/batches?function=recognize&{q}"),
            auth,
            Op::Create,
            |rb| rb.multipart(form(&creds, "contract-empty", None)),
        )
        .await;
        assert_error(st, &body, 400, &mentions, q);
    }
    // Valid values are accepted (booleans in any case, weights at the bounds, every model).
    for q in [
        "smart_formatting=TRUE&redaction=false&word_confidence=True&profanity_filter=false",
        "customization_weight=0&model=en-US_NarrowbandModel",
        "customization_weight=1.0&model=en-US_ShortForm_NarrowbandModel",
        "model=en-US_BroadbandModel&timestamps=false&speaker_labels=false",
    ] {
        let (st, body) = send(
            &svc,
            Method::POST,
            &format!("/v1/batches?function=recognize&{q}"),
            auth,
            Op::Create,
            |rb| rb.multipart(form(&creds, "contract-empty", None)),
        )
        .await;
        assert_eq!(st, 200, "{q}: {body}");
    }

    // --- Oversized bodies: 413 with a Content-Length and without one (chunked).
    // The service answers before the body is in (the client may see its write cut off), so
    // these go over a plain socket that reads the answer whatever happens to the write.
    let boundary = "XbOuNdArYx";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"input_bucket_name\"\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend(std::iter::repeat_n(b'x', 1024 * 1024 + 10));
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let ct = format!("multipart/form-data; boundary={boundary}");
    let (st, b) = raw_post(&svc, &ct, &body, false);
    assert_error(st, &b, 413, &[], "1 MiB + 10 bytes with a Content-Length");
    let (st, b) = raw_post(&svc, &ct, &body, true);
    assert_error(st, &b, 413, &[], "1 MiB + 10 bytes chunked");
    // Just under the limit is not refused for its size.
    let mut ok = Vec::new();
    ok.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"input_bucket_name\"\r\n\r\n"
        )
        .as_bytes(),
    );
    ok.extend(std::iter::repeat_n(b'x', 1000));
    ok.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let (st, b) = raw_post(&svc, &ct, &ok, false);
    assert_error(
        st,
        &b,
        400,
        &["input_credentials_file"],
        "a small form without credentials",
    );
    let (st, b) = raw_post(&svc, &ct, &ok, true);
    assert_error(
        st,
        &b,
        400,
        &["input_credentials_file"],
        "a small chunked form without credentials",
    );
    // A valid form sent chunked (no Content-Length) is accepted.
    let mut good = Vec::new();
    for (name, value) in [
        ("input_credentials_file", creds.clone()),
        ("input_bucket_location", LOCATION.as_bytes().to_vec()),
        ("input_bucket_name", b"contract-empty".to_vec()),
    ] {
        good.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n")
                .as_bytes(),
        );
        good.extend_from_slice(&value);
        good.extend_from_slice(b"\r\n");
    }
    good.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let (st, b) = raw_post(&svc, &ct, &good, true);
    assert_eq!(st, 200, "a valid chunked form: {b}");

    // --- Not multipart: 415.
    for (ct, payload) in [
        (
            Some("application/json"),
            r#"{"input_bucket_name": "contract-empty"}"#,
        ),
        (
            Some("application/x-www-form-urlencoded"),
            "input_bucket_name=contract-empty",
        ),
        (Some("text/plain"), "hello"),
        (None, ""),
    ] {
        let (st, body) = send(
            &svc,
            Method::POST,
            "/v1/batches?function=recognize",
            auth,
            Op::Create,
            |rb| {
                let rb = rb.body(payload.to_string());
                match ct {
                    Some(ct) => rb.header("content-type", ct),
                    None => rb,
                }
            },
        )
        .await;
        assert_error(
            st,
            &body,
            415,
            &["multipart/form-data"],
            &format!("content type {ct:?}"),
        );
    }

    // --- Unknown batch ids: 404, with and without the prefix.
    for prefix in ["", "/speech-to-text/api"] {
        for (m, q, op) in [
            (Method::GET, "", Op::Job),
            (Method::PUT, "?action=cancel", Op::Job),
            (Method::DELETE, "", Op::Delete),
        ] {
            let path = format!("{prefix}/v1/batches/6829a370-c214-b219-8223-890a109a7644{q}");
            let (st, body) = send(&svc, m.clone(), &path, auth, op, |rb| rb).await;
            assert_error(
                st,
                &body,
                404,
                &["6829a370-c214-b219-8223-890a109a7644"],
                &format!("{m} {path}"),
            );
        }
    }
    // Unknown paths: 404 error body.
    for path in ["/v1/batch", "/v2/batches", "/v1/batches/a/b", "/"] {
        let (st, body) = send(&svc, Method::GET, path, auth, Op::Job, |rb| rb).await;
        assert_error(st, &body, 404, &[], path);
    }

    // --- Wrong methods: 405.
    for (m, path) in [
        (Method::PATCH, format!("/v1/batches/{id}")),
        (Method::POST, format!("/v1/batches/{id}")),
        (Method::DELETE, "/v1/batches".to_string()),
        (Method::PUT, "/v1/batches".to_string()),
        (Method::PATCH, "/speech-to-text/api/v1/batches".to_string()),
        (
            Method::PATCH,
            format!("/speech-to-text/api/v1/batches/{id}"),
        ),
    ] {
        let (st, body) = send(&svc, m.clone(), &path, auth, Op::Job, |rb| rb).await;
        assert_error(st, &body, 405, &[m.as_str()], &format!("{m} {path}"));
    }
    // The job is untouched by all of the above.
    assert_eq!(svc.get(&id).await, after);

    // --- Statuses and their fields; list newest first.
    let secret_wrong = "Wr0ngSecretValue/ForTheContractTest+xyz";
    let apikey = "IamApiKeyNeverToBeShown0123456789abcdef";
    let one = svc
        .create("function=recognize", form(&creds, "contract-one", None))
        .await;
    let missing = svc
        .create("function=recognize", form(&creds, "no-such-bucket", None))
        .await;
    let wrong = svc
        .create(
            "function=recognize",
            form(
                &hmac_file(&s3.endpoint, &s3.access_key, secret_wrong),
                "contract-one",
                None,
            ),
        )
        .await;
    let iam_creds = serde_json::to_vec(&serde_json::json!({
        "apikey": apikey,
        "end_point": s3.endpoint,
        "resource_instance_id": "ec21da8a-b15c-42bd-8ca7-a9d4230107c9",
        "region": "us-south",
    }))
    .unwrap();
    let iam = svc
        .create("function=recognize", form(&iam_creds, "contract-one", None))
        .await;
    let ids: Vec<String> = [&one, &missing, &wrong, &iam]
        .iter()
        .map(|j| j["batch_id"].as_str().unwrap().to_string())
        .collect();
    for j in [&one, &missing, &wrong, &iam] {
        assert_eq!(j["function"], "recognize");
        assert_eq!(j["total_count"], 0);
        assert_eq!(j["progress"], 0.0);
        assert_eq!(j["created"], j["updated"], "{j}");
        assert_eq!(j["input_bucket_location"], LOCATION);
        assert_eq!(
            j["output_bucket_name"], j["input_bucket_name"],
            "same bucket when no output is given"
        );
        assert_eq!(j["output_bucket_location"], LOCATION);
    }
    let (done, seen) = svc.wait_final(&ids[0], settle).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        (
            done["total_count"].as_u64(),
            done["successful_count"].as_u64()
        ),
        (Some(1), Some(1)),
        "{done}"
    );
    assert!(
        seen.iter()
            .all(|s| ["initializing", "waiting", "running", "completed"].contains(&s.as_str())),
        "{seen:?}"
    );
    assert!(done["finished"].as_str().unwrap() >= done["created"].as_str().unwrap());
    let fails = [
        (&ids[1], vec!["no-such-bucket"]),
        (&ids[2], vec!["contract-one", "secret_key"]),
        (&ids[3], vec!["IAM"]),
    ];
    for (id, mentions) in fails {
        let (j, _) = svc.wait_final(id, settle).await;
        assert_eq!(j["status"], "failed", "{j}");
        let m = j["error_message"].as_str().unwrap();
        for want in mentions {
            assert!(
                m.contains(want),
                "error_message should mention {want:?}: {m}"
            );
        }
        assert_eq!(j["successful_count"], 0);
        assert_eq!(j["failed_count"], 0);
    }
    // A canceled job, for the list.
    let canceled = svc.cancel(&ids[0]).await; // completed: unchanged
    assert_eq!(canceled, svc.get(&ids[0]).await);
    assert_eq!(canceled["status"], "completed");

    let list = svc.list().await;
    let listed: Vec<&str> = list
        .iter()
        .map(|j| j["batch_id"].as_str().unwrap())
        .collect();
    let created_order: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    let pos = |id: &str| {
        listed
            .iter()
            .position(|l| *l == id)
            .unwrap_or_else(|| panic!("{id} not listed"))
    };
    for w in created_order.windows(2) {
        assert!(pos(w[0]) < pos(w[1]), "not newest first: {listed:?}");
    }
    assert_eq!(
        listed.last(),
        Some(&id.as_str()),
        "the first job is last: {listed:?}"
    );
    for w in list.windows(2) {
        assert!(
            w[0]["created"].as_str() >= w[1]["created"].as_str(),
            "not newest first by created"
        );
    }
    for j in &list {
        let single = svc.get(j["batch_id"].as_str().unwrap()).await;
        assert_eq!(&single, j, "list and get disagree");
    }

    // --- Delete: 204, then 404 and gone from the list.
    svc.delete(&ids[1]).await;
    assert!(svc
        .list()
        .await
        .iter()
        .all(|j| j["batch_id"] != ids[1].as_str()));

    // --- Credentials are stored 0600 (embedded) or in Secrets, never in a SpeechBatch
    // (Kubernetes); no secret in any response or log line (the operator's and the shards' too).
    match &svc.kube {
        None => {
            for e in std::fs::read_dir(svc.data.path().join("credentials")).unwrap() {
                let mode = e.unwrap().metadata().unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "credentials file mode");
            }
        }
        Some(k) => {
            let batches: kube::Api<crds::resource::SpeechBatch> =
                kube::Api::namespaced(k.client().await, common::cluster::NAMESPACE);
            let all = batches.list(&Default::default()).await.unwrap();
            assert!(
                all.items.len() >= 4,
                "the batches are SpeechBatch resources"
            );
            let text = serde_json::to_string(&all).unwrap();
            for secret in [s3.secret_key.as_str(), secret_wrong, apikey] {
                assert!(!text.contains(secret), "a secret in a SpeechBatch");
            }
        }
    }
    let log = svc.log();
    assert!(log.contains("REST API on"), "the log was captured: {log}");
    let responses = responses_seen().lock().unwrap().join("\n");
    for (secret, what) in [
        (s3.secret_key.as_str(), "the S3 secret key"),
        (s3.access_key.as_str(), "the S3 access key"),
        (secret_wrong, "a wrong secret key"),
        (apikey, "an IAM apikey"),
        (API_KEY, "the service's API key"),
    ] {
        assert!(!responses.contains(secret), "{what} appears in a response");
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(secret)).collect();
        assert!(lines.is_empty(), "{what} appears in the log: {lines:?}");
    }
}

/// `GET /v1/models` and `/v1/models/{model_id}`: the three names with their rates, each `url`
/// answering with the same model, under the prefix the request used; unknown names are 404s
/// that name them (shortened when huge).
async fn check_models(svc: &Service) {
    let auth = Some(("apikey", API_KEY));
    for prefix in ["", "/speech-to-text/api"] {
        let (st, list) = send(
            svc,
            Method::GET,
            &format!("{prefix}/v1/models"),
            auth,
            Op::Models,
            |rb| rb,
        )
        .await;
        assert_eq!(st, 200, "{list}");
        let models = list["models"].as_array().unwrap();
        let rates: Vec<(&str, u64)> = models
            .iter()
            .map(|m| (m["name"].as_str().unwrap(), m["rate"].as_u64().unwrap()))
            .collect();
        assert_eq!(
            rates,
            [
                ("en-US_BroadbandModel", 16000),
                ("en-US_NarrowbandModel", 8000),
                ("en-US_ShortForm_NarrowbandModel", 8000)
            ]
        );
        for m in models {
            assert_eq!(m["language"], "en-US");
            assert_eq!(m["supported_features"]["speaker_labels"], true);
            let url = m["url"].as_str().unwrap();
            let path = url.split_once("127.0.0.1").map(|(_, p)| p).unwrap_or(url);
            let path = path.trim_start_matches(|c: char| c == ':' || c.is_ascii_digit());
            assert!(path.starts_with(&format!("{prefix}/v1/models/")), "{url}");
            let (st, one) = send(svc, Method::GET, path, auth, Op::Model, |rb| rb).await;
            assert_eq!(st, 200, "{one}");
            assert_eq!(&one, m);
        }
    }
    let (st, body) = send(
        svc,
        Method::GET,
        "/v1/models/fr-FR_BroadbandModel",
        auth,
        Op::Model,
        |rb| rb,
    )
    .await;
    assert_error(
        st,
        &body,
        404,
        &["fr-FR_BroadbandModel", "en-US_BroadbandModel"],
        "unknown model",
    );
    // An id under the URI limit is echoed cut short; past the limit the request is refused.
    for (len, status) in [(6_000, 404), (60_000, 414)] {
        let huge = "x".repeat(len);
        let (st, body) = send(
            svc,
            Method::GET,
            &format!("/v1/models/{huge}"),
            auth,
            Op::Model,
            |rb| rb,
        )
        .await;
        assert_eq!(st, status, "{body}");
        assert!(
            error_text(&body).len() < 400,
            "a huge id is not echoed whole"
        );
    }
    let (st, body) = send(svc, Method::DELETE, "/v1/models", auth, Op::Models, |rb| rb).await;
    assert_error(st, &body, 405, &["GET"], "DELETE /v1/models");
}

/// Sends `head` (a request without a body, ending in a blank line) over a plain socket and
/// reads the answer.
fn raw_request(svc: &Service, head: &str, op: Op) -> (StatusCode, Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", svc.api_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).to_string();
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let code: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body: Value = serde_json::from_str(rest).unwrap_or_else(|e| panic!("{e}: {text}"));
    let st = StatusCode::from_u16(code).unwrap();
    validate(op, st, &body);
    (st, body)
}

/// `POST /v1/recognize` answers with exactly what a batch writes for the same file and
/// parameters: the `.json`, or the `.notice`'s error body with its code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_file_is_recognised_as_a_batch_would() {
    let svc = Service::start(Opts::default()).await;
    let s3 = svc.embedded_s3();
    let creds = s3.creds_file();
    let clip = read_testdata("asr/clip02.flac");
    let bad = read_testdata("bad/truncated.flac");
    s3.fill(
        "single",
        vec![
            ("clip.flac".into(), clip.clone()),
            ("bad.flac".into(), bad.clone()),
        ],
    )
    .await;
    let query = "smart_formatting=true&word_confidence=true&profanity_filter=false";
    let job = svc
        .create(
            &format!("function=recognize&{query}"),
            form(&creds, "single", None),
        )
        .await;
    let (job, _) = svc
        .wait_final(job["batch_id"].as_str().unwrap(), Duration::from_secs(120))
        .await;
    assert_eq!(job["status"], "completed", "{job}");
    let from_batch: Value =
        serde_json::from_slice(&s3.read("single", "clip.flac.json").await).unwrap();
    let notice: Value =
        serde_json::from_slice(&s3.read("single", "bad.flac.notice").await).unwrap();

    let auth = Some(("apikey", API_KEY));
    for prefix in ["", "/speech-to-text/api"] {
        let (st, single) = send(
            &svc,
            Method::POST,
            &format!("{prefix}/v1/recognize?{query}"),
            auth,
            Op::Recognize,
            |rb| rb.header("content-type", "audio/flac").body(clip.clone()),
        )
        .await;
        assert_eq!(st, 200, "{single}");
        assert_eq!(
            single, from_batch,
            "the same result JSON as the batch's clip.flac.json"
        );
    }
    assert!(
        from_batch["results"][0]["alternatives"][0]["word_confidence"].is_array(),
        "the parameters were applied: {from_batch}"
    );
    let (st, body) = send(
        &svc,
        Method::POST,
        "/v1/recognize",
        auth,
        Op::Recognize,
        |rb| rb.header("content-type", "audio/flac").body(bad.clone()),
    )
    .await;
    assert_eq!(
        st.as_u16() as u64,
        notice["code"].as_u64().unwrap(),
        "{body}"
    );
    assert_eq!(
        body, notice,
        "the same error body as the batch's bad.flac.notice"
    );

    // Bad requests: each a 4xx error body that says what to fix.
    let (st, body) = send(
        &svc,
        Method::POST,
        "/v1/recognize",
        auth,
        Op::Recognize,
        |rb| rb,
    )
    .await;
    assert_error(st, &body, 400, &["empty"], "no body");
    let (st, body) = send(
        &svc,
        Method::POST,
        "/v1/recognize?model=en-GB_BroadbandModel",
        auth,
        Op::Recognize,
        |rb| rb.body(clip.clone()),
    )
    .await;
    assert_error(st, &body, 400, &["en-GB_BroadbandModel"], "unknown model");
    let (st, body) = send(
        &svc,
        Method::POST,
        "/v1/recognize?split_channels=sometimes",
        auth,
        Op::Recognize,
        |rb| rb.body(clip.clone()),
    )
    .await;
    assert_error(
        st,
        &body,
        400,
        &["split_channels", "sometimes"],
        "bad split_channels",
    );
    let (st, body) = send(
        &svc,
        Method::GET,
        "/v1/recognize",
        auth,
        Op::Recognize,
        |rb| rb,
    )
    .await;
    assert_error(st, &body, 405, &["POST"], "GET /v1/recognize");
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD.encode(format!("apikey:{API_KEY}"));
    let (st, body) = raw_request(
        &svc,
        &format!(
            "POST /v1/recognize HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {key}\r\nContent-Type: audio/wav\r\nContent-Length: 104857601\r\nConnection: close\r\n\r\n"
        ),
        Op::Recognize,
    );
    assert_error(
        st,
        &body,
        413,
        &["100 MB"],
        "an announced body over the limit",
    );
}
