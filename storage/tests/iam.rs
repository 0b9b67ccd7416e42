//! IBM Cloud IAM credentials against a local token endpoint and a loopback proxy that enforces
//! bearer tokens in front of an s3s-fs server without SigV4 (as COS does with IAM).

mod support;

use std::time::{Duration, Instant};

use futures::TryStreamExt;
use speechbatch_storage::testing::closed_addr;
use speechbatch_storage::testing::iam::{credentials as iam_credentials, Iam, APIKEY};
use speechbatch_storage::{output_key, Bucket, OutputKind, StorageConfig, StorageErrorKind};
use speechbatch_testkit::wait_until;
use support::{test_config, LOCATION};

const TOKEN_LIFETIME: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_tokens_are_exchanged_sent_and_refreshed() {
    let iam = Iam::with_token_lifetime(TOKEN_LIFETIME).await;
    let dir = iam.root.path();
    std::fs::create_dir_all(dir.join("cos-bucket/folder")).unwrap();
    for i in 0..30 {
        std::fs::write(
            dir.join(format!("cos-bucket/folder/clip{i:02}.wav")),
            format!("clip {i}"),
        )
        .unwrap();
    }
    let state = &iam.state;
    let cfg = StorageConfig {
        iam_token_url: iam.token_url.clone(),
        ..test_config()
    };

    let bucket = Bucket::connect(&iam.credentials(APIKEY), "cos-bucket", LOCATION, &cfg)
        .await
        .unwrap();
    assert_eq!(
        state.lock().unwrap().exchanges,
        0,
        "connect does no network I/O"
    );
    bucket.check_access().await.unwrap();
    assert_eq!(state.lock().unwrap().exchanges, 1);

    // Work through clones (which share the token cache) until the token has been replaced
    // twice: at 80 % of its 2 s lifetime, so about 3.2 s from the first exchange.
    let started = Instant::now();
    let mut rounds = 0;
    wait_until(
        "the IAM token has been refreshed twice",
        4 * TOKEN_LIFETIME,
        async || {
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
            state.lock().unwrap().exchanges >= 3
        },
    )
    .await;
    let took = started.elapsed();
    let s = state.lock().unwrap();
    eprintln!(
        "IAM: {rounds} rounds, {} requests forwarded, {} token exchanges in {took:?}",
        s.forwarded, s.exchanges,
    );
    // Every request carried a token the proxy still accepted: refreshed before expiry.
    assert!(s.refused.is_empty(), "the proxy refused: {:?}", s.refused);
    // Each token served requests until its refresh point instead of one token per request:
    // two refreshes took two refresh intervals (1.6 s each), over many requests.
    assert!(
        took >= Duration::from_millis(3_000),
        "tokens were not reused: {} exchanges in {took:?} for {} requests",
        s.exchanges,
        s.forwarded
    );
    assert!(s.forwarded > 10 * s.exchanges, "{} requests", s.forwarded);
    drop(s);
    assert!(dir.join("cos-bucket/folder/clip07.wav.json").is_file());
}

#[tokio::test]
async fn rejected_apikey_is_invalid_credentials() {
    let iam = Iam::start().await;
    let token_url = iam.token_url.clone();
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
    assert_eq!(iam.state.lock().unwrap().exchanges, 0);
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
        "cos-bucket",
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
