//! The same bucket behaviour checked against two independent S3 servers: the embedded s3s-fs
//! and SeaweedFS.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use speechbatch_storage::testing::closed_addr;
use speechbatch_storage::{
    is_input_key, output_key, plan_shards, Bucket, InputObject, OutputKind, StorageErrorKind,
};
use support::{test_config, TestServer, ACCESS_KEY, LOCATION, SECRET_KEY};

/// 1,100 inputs in nested folders, plus outputs, an empty input and a large one.
fn fixture() -> Vec<(String, Vec<u8>)> {
    let mut objects = Vec::new();
    for i in 0..1_100 {
        let key = match i % 4 {
            0 => format!("top{i:04}.wav"),
            1 => format!("calls/{:02}/rec{i:04}.mp3", i % 13),
            2 => format!("calls/deep/er/still/{i:04}.flac"),
            _ => format!("z/{i:04}"),
        };
        objects.push((key, format!("audio {i}").into_bytes()));
    }
    objects.push(("empty.wav".to_owned(), Vec::new()));
    objects.push(("big.wav".to_owned(), vec![7u8; 300_000]));
    // Outputs of an earlier job: never inputs.
    objects.push(("top0000.wav.json".to_owned(), b"{}".to_vec()));
    objects.push(("calls/01/rec0001.mp3.notice".to_owned(), b"bad".to_vec()));
    objects
}

fn expected_inputs(objects: &[(String, Vec<u8>)]) -> Vec<String> {
    let set: BTreeSet<String> = objects
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| is_input_key(k))
        .collect();
    set.into_iter().collect()
}

async fn collect(
    bucket: &Bucket,
    start_after: Option<&str>,
    last: Option<&str>,
) -> Vec<InputObject> {
    bucket
        .list_inputs(start_after.map(str::to_owned), last.map(str::to_owned))
        .try_collect()
        .await
        .unwrap()
}

fn keys(objs: &[InputObject]) -> Vec<String> {
    objs.iter().map(|o| o.key.clone()).collect()
}

/// `byte_order`: whether the server lists keys in S3 byte order across folders.
async fn behaviour(server: TestServer, byte_order: bool) {
    let name = server.name;
    let objects = fixture();
    let want = expected_inputs(&objects);
    let t = Instant::now();
    server.fill("inputs", objects.clone()).await;
    eprintln!(
        "[{name}] wrote {} objects in {:?}",
        objects.len(),
        t.elapsed()
    );

    let bucket = server.bucket("inputs").await;
    bucket.check_access().await.unwrap();

    // Full listing, default pages of 1000 and small pages of 100: same keys, byte order.
    let t = Instant::now();
    let all = collect(&bucket, None, None).await;
    eprintln!(
        "[{name}] listed {} inputs (pages of 1000) in {:?}",
        all.len(),
        t.elapsed()
    );
    assert_eq!(keys(&all), want, "[{name}] full listing");
    let small = bucket.clone().with_page_size(100);
    let t = Instant::now();
    let paged = collect(&small, None, None).await;
    eprintln!(
        "[{name}] listed {} inputs (pages of 100) in {:?}",
        paged.len(),
        t.elapsed()
    );
    assert_eq!(keys(&paged), want, "[{name}] paged listing");
    let sizes: std::collections::HashMap<_, _> =
        all.iter().map(|o| (o.key.as_str(), o.size)).collect();
    assert_eq!(sizes["empty.wav"], 0);
    assert_eq!(sizes["big.wav"], 300_000);
    assert_eq!(sizes["top0004.wav"], "audio 4".len() as u64);

    // Ranges: (start_after, last], also across page boundaries and with absent keys as bounds.
    let ranges: [(Option<&str>, Option<&str>); 7] = [
        (Some("calls/00/rec0000.mp3"), Some("calls/00/zzz")),
        (Some("calls/"), Some("calls/05/zzz")),
        (None, Some("big.wav")),
        (Some(want[150].as_str()), Some(want[720].as_str())),
        (Some(want[want.len() - 2].as_str()), None),
        (Some("zzz"), None),
        (Some("top0500.wav"), Some("top0100.wav")),
    ];
    for (sa, last) in ranges {
        let got = keys(&collect(&small, sa, last).await);
        let exp: Vec<String> = want
            .iter()
            .filter(|k| sa.is_none_or(|a| k.as_str() > a) && last.is_none_or(|l| k.as_str() <= l))
            .cloned()
            .collect();
        assert_eq!(got, exp, "[{name}] range ({sa:?}, {last:?}]");
    }

    // Shard plans: every input in exactly one shard, sizes as listed.
    for max_shards in [1, 7, 64] {
        let plan = plan_shards(&small, max_shards).await.unwrap();
        assert_eq!(plan.total as usize, want.len());
        assert_eq!(plan.len(), max_shards.min(want.len()));
        let mut covered = Vec::new();
        for i in 0..plan.len() {
            let range = plan.shard_range(i);
            let shard =
                keys(&collect(&small, range.start_after.as_deref(), range.last.as_deref()).await);
            assert_eq!(
                shard.len() as u64,
                plan.sizes[i],
                "[{name}] shard {i} of {max_shards}"
            );
            covered.extend(shard);
        }
        assert_eq!(covered, want, "[{name}] shards of {max_shards}");
    }

    // Reads, with the size limit checked before the body is read.
    assert_eq!(bucket.get("top0004.wav", 100).await.unwrap(), b"audio 4");
    assert_eq!(bucket.get("empty.wav", 100).await.unwrap(), b"");
    assert_eq!(bucket.get("big.wav", 300_000).await.unwrap().len(), 300_000);
    let e = bucket.get("big.wav", 299_999).await.unwrap_err();
    assert_eq!(e.kind, StorageErrorKind::TooLarge, "[{name}] {e:?}");
    assert!(
        e.message.contains("big.wav") && e.message.contains("300000"),
        "{e}"
    );
    let e = bucket.get("missing.wav", 100).await.unwrap_err();
    assert_eq!(e.kind, StorageErrorKind::NotFound, "[{name}] {e:?}");
    assert!(
        e.message.contains("missing.wav") && e.message.contains("inputs"),
        "{e}"
    );

    // Outputs: written with the batch id, overwritten by a later batch, read back.
    let out = output_key("calls/03/rec0003.mp3", OutputKind::Json);
    assert_eq!(bucket.output_batch_id(&out).await.unwrap(), None);
    bucket
        .put_output(&out, br#"{"results": []}"#.to_vec(), "batch-1")
        .await
        .unwrap();
    assert_eq!(
        bucket.output_batch_id(&out).await.unwrap().as_deref(),
        Some("batch-1")
    );
    bucket
        .put_output(&out, br#"{"results": [1]}"#.to_vec(), "batch-2")
        .await
        .unwrap();
    assert_eq!(
        bucket.output_batch_id(&out).await.unwrap().as_deref(),
        Some("batch-2")
    );
    assert_eq!(
        bucket.get(&out, 1000).await.unwrap(),
        br#"{"results": [1]}"#
    );
    let head = server
        .admin()
        .head_object()
        .bucket("inputs")
        .key(&out)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("application/json"), "[{name}]");
    // Outputs are not inputs: the listing is unchanged.
    assert_eq!(
        keys(&collect(&bucket, None, None).await),
        want,
        "[{name}] after writing outputs"
    );

    // Credentials and buckets that do not work.
    let wrong = Bucket::connect(
        &server.credentials(ACCESS_KEY, "wrong-secret-value-123"),
        "inputs",
        LOCATION,
        &test_config(),
    )
    .await
    .unwrap();
    let e = wrong.check_access().await.unwrap_err();
    assert_eq!(
        e.kind,
        StorageErrorKind::InvalidCredentials,
        "[{name}] wrong secret: {e:?}"
    );
    assert!(
        e.message.contains("'inputs'") && e.message.contains(&server.endpoint),
        "{e}"
    );
    assert_no_secret(
        &format!("{e} {e:?} {wrong:?}"),
        &["wrong-secret-value-123", SECRET_KEY],
    );
    let e = wrong
        .list_inputs(None, None)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(
        e.kind,
        StorageErrorKind::InvalidCredentials,
        "[{name}] wrong secret, listing: {e:?}"
    );
    let e = wrong
        .put_output("x.json", b"{}".to_vec(), "b")
        .await
        .unwrap_err();
    assert_eq!(
        e.kind,
        StorageErrorKind::InvalidCredentials,
        "[{name}] wrong secret, writing: {e:?}"
    );

    let unknown = Bucket::connect(
        &server.credentials("no-such-access-key", SECRET_KEY),
        "inputs",
        LOCATION,
        &test_config(),
    )
    .await
    .unwrap();
    let e = unknown.check_access().await.unwrap_err();
    assert_eq!(
        e.kind,
        StorageErrorKind::InvalidCredentials,
        "[{name}] unknown key: {e:?}"
    );
    assert_no_secret(&format!("{e} {e:?}"), &[SECRET_KEY]);

    let missing = server.bucket("no-such-bucket").await;
    let e = missing.check_access().await.unwrap_err();
    assert_eq!(e.kind, StorageErrorKind::NoSuchBucket, "[{name}] {e:?}");
    assert!(
        e.message.contains("'no-such-bucket'") && e.message.contains(&server.endpoint),
        "{e}"
    );
    let e = missing
        .list_inputs(None, None)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(e.kind, StorageErrorKind::NoSuchBucket, "[{name}] {e:?}");
    eprintln!("[{name}] example message: {e}");

    // Keys whose byte order differs from a folder-by-folder walk ("a-c" < "a/b" < "a/b-" < "a0",
    // since '-' < '/' < '0'). S3 lists in byte order; SeaweedFS lists folder by folder, which
    // would put shard ranges out of step with the listing, so the listing must fail loudly there
    // instead of skipping or double-counting inputs.
    let order_keys = ["a/b", "a-c", "a/b-", "a0"];
    server
        .fill(
            "order-check",
            order_keys
                .iter()
                .map(|k| (k.to_string(), b"x".to_vec()))
                .collect(),
        )
        .await;
    let order = server.bucket("order-check").await;
    let listed = order.list_inputs(None, None).try_collect::<Vec<_>>().await;
    if byte_order {
        assert_eq!(
            keys(&listed.unwrap()),
            ["a-c", "a/b", "a/b-", "a0"],
            "[{name}]"
        );
    } else {
        let e = listed.unwrap_err();
        assert_eq!(e.kind, StorageErrorKind::Other, "[{name}] {e:?}");
        assert!(
            e.message.contains("out of key order") && e.message.contains("'order-check'"),
            "{e}"
        );
        eprintln!("[{name}] folder-order listing: {e}");
    }

    // Generic objects (the model store): put, get, list a prefix over several pages, delete
    // (twice: deleting what is gone succeeds).
    server
        .fill("models", vec![("other/x.json".to_string(), b"{}".to_vec())])
        .await;
    let models = server.bucket("models").await.with_page_size(2);
    for i in 0..5 {
        models
            .put(
                &format!("customizations/m/corpora/c{i}.txt"),
                format!("text {i}").into_bytes(),
                "text/plain",
            )
            .await
            .unwrap();
    }
    assert_eq!(
        models
            .get("customizations/m/corpora/c3.txt", 100)
            .await
            .unwrap(),
        b"text 3"
    );
    let listed = models.list_keys("customizations/m/").await.unwrap();
    assert_eq!(listed.len(), 5, "[{name}] {listed:?}");
    for k in &listed {
        models.delete(k).await.unwrap();
        models.delete(k).await.unwrap();
    }
    assert!(models
        .list_keys("customizations/m/")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(models.list_keys("other/").await.unwrap(), ["other/x.json"]);
    let gone = models
        .get("customizations/m/corpora/c3.txt", 100)
        .await
        .unwrap_err();
    assert_eq!(gone.kind, StorageErrorKind::NotFound, "[{name}] {gone:?}");
}

fn assert_no_secret(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "a secret appears in: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_on_the_embedded_s3_server_behave_as_the_service_expects() {
    behaviour(TestServer::embedded().await, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_on_seaweedfs_behave_as_the_service_expects() {
    let t = Instant::now();
    let server = TestServer::seaweedfs().await;
    eprintln!("[seaweedfs] ready in {:?}", t.elapsed());
    behaviour(server, false).await;
}

#[tokio::test]
async fn nothing_listening_is_unreachable_and_quick() {
    let endpoint = format!("http://{}", closed_addr());
    let creds = speechbatch_storage::Credentials::Hmac(speechbatch_storage::HmacCredentials {
        end_point: endpoint.clone(),
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
    });
    let bucket = Bucket::connect(&creds, "inputs", LOCATION, &test_config())
        .await
        .unwrap();
    let t = Instant::now();
    let e = bucket.check_access().await.unwrap_err();
    assert_eq!(e.kind, StorageErrorKind::Unreachable, "{e:?}");
    assert!(
        e.message.contains(&endpoint) && e.message.contains("end_point"),
        "{e}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
    assert_no_secret(
        &format!("{e} {e:?} {bucket:?} {creds:?}"),
        &[SECRET_KEY, ACCESS_KEY],
    );
    eprintln!("unreachable after {:?}: {e}", t.elapsed());
}

#[tokio::test]
async fn embedded_server_stops_when_its_task_is_aborted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("folder-bucket/sub")).unwrap();
    std::fs::write(dir.path().join("folder-bucket/sub/a.wav"), b"abc").unwrap();
    let (addr, task) = speechbatch_storage::embedded_s3::serve(
        dir.path().to_owned(),
        "127.0.0.1:0".parse().unwrap(),
        ACCESS_KEY,
        SECRET_KEY,
    )
    .await
    .unwrap();
    let creds = speechbatch_storage::Credentials::Hmac(speechbatch_storage::HmacCredentials {
        end_point: format!("http://{addr}"),
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
    });
    let bucket = Bucket::connect(&creds, "folder-bucket", LOCATION, &test_config())
        .await
        .unwrap();
    // Each top-level folder is a bucket; files already there are objects.
    let listed = collect(&bucket, None, None).await;
    assert_eq!(
        listed,
        [InputObject {
            key: "sub/a.wav".into(),
            size: 3
        }]
    );
    task.abort();
    let _ = task.await;
    let e = bucket.check_access().await.unwrap_err();
    assert_eq!(e.kind, StorageErrorKind::Unreachable, "{e:?}");
}

/// The recording proxy the service tests use to see which input a worker has reached: signed
/// requests pass through it unchanged, and each one is recorded.
#[tokio::test]
async fn the_recording_test_server_forwards_signed_requests_and_records_each() {
    let s3 = speechbatch_storage::testing::EmbeddedTestS3::start_recording().await;
    let admin = support::admin_client(&s3.endpoint());
    admin.create_bucket().bucket("rec").send().await.unwrap();
    admin
        .put_object()
        .bucket("rec")
        .key("calls/a.wav")
        .body(b"0123456789".to_vec().into())
        .send()
        .await
        .unwrap();
    assert!(!s3.was_read("rec", "calls/a.wav"), "{:?}", s3.requests());
    let creds = speechbatch_storage::Credentials::Hmac(speechbatch_storage::HmacCredentials {
        end_point: s3.endpoint(),
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
    });
    let bucket = Bucket::connect(&creds, "rec", LOCATION, &test_config())
        .await
        .unwrap();
    assert_eq!(bucket.get("calls/a.wav", 100).await.unwrap(), b"0123456789");
    let out = output_key("calls/a.wav", OutputKind::Json);
    bucket
        .put_output(&out, b"{}".to_vec(), "batch-1")
        .await
        .unwrap();
    assert_eq!(
        bucket.output_batch_id(&out).await.unwrap().as_deref(),
        Some("batch-1")
    );
    assert!(s3.was_read("rec", "calls/a.wav"), "{:?}", s3.requests());
    let requests = s3.requests();
    assert_eq!(requests[0], "PUT /rec/", "the bucket is created first");
    assert!(
        requests.contains(&"PUT /rec/calls/a.wav.json".to_string()),
        "{requests:?}"
    );
}
