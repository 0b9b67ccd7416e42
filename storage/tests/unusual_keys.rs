//! Unusual keys and folder contents on the embedded S3 server (s3s-fs behind its guard), and
//! keys with control characters on SeaweedFS: long keys round-trip with their metadata, what
//! the server cannot serve is refused with an S3 error or left out of listings, nothing is read
//! or written outside a bucket's folder, a bucket is deleted only when empty, multipart parts
//! are listed only for a real upload, and nothing panics the server.

mod support;

use std::path::Path;

use aws_sdk_s3::error::ProvideErrorMetadata;
use futures::TryStreamExt;
use speechbatch_storage::testing::EmbeddedTestS3;
use speechbatch_storage::{Bucket, Credentials, HmacCredentials, StorageErrorKind};
use support::{admin_client, test_config, TestServer, ACCESS_KEY, LOCATION, SECRET_KEY};

async fn bucket(endpoint: &str, name: &str) -> Bucket {
    let creds = Credentials::Hmac(HmacCredentials {
        end_point: endpoint.to_owned(),
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
    });
    Bucket::connect(&creds, name, LOCATION, &test_config())
        .await
        .unwrap()
}

/// The embedded server, an admin client and its bucket `calls`.
async fn embedded_calls() -> (EmbeddedTestS3, aws_sdk_s3::Client, Bucket) {
    let s3 = EmbeddedTestS3::start().await;
    let admin = admin_client(&s3.endpoint());
    admin.create_bucket().bucket("calls").send().await.unwrap();
    let calls = bucket(&s3.endpoint(), "calls").await;
    (s3, admin, calls)
}

async fn inputs(bucket: &Bucket) -> Vec<String> {
    bucket
        .list_inputs(None, None)
        .map_ok(|o| o.key)
        .try_collect()
        .await
        .unwrap()
}

/// Every path under `dir`, relative, sorted (links not followed).
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let rel = e
                .path()
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let is_dir = e.file_type().unwrap().is_dir();
            out.push(rel);
            if is_dir {
                walk(base, &e.path(), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A key of exactly `len` bytes in folders of 100 bytes, ending in `.wav`.
fn nested_key(len: usize) -> String {
    let mut key = String::new();
    while len - key.len() > 104 {
        key.push_str(&"f".repeat(99));
        key.push('/');
    }
    key.push_str(&"k".repeat(len - key.len() - 4));
    key.push_str(".wav");
    assert_eq!(key.len(), len);
    key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_up_to_1024_bytes_round_trip_with_their_metadata() {
    let (s3, admin, calls) = embedded_calls().await;

    // 163 bytes is the longest key s3s-fs keeps attributes for in bucket "calls"; longer ones
    // are kept by the guard. Every one behaves the same.
    let keys = [
        "k".repeat(159) + ".wav",
        "k".repeat(160) + ".wav",
        nested_key(350),
        nested_key(1024),
    ];
    for (i, key) in keys.iter().enumerate() {
        let body = format!("{{\"n\": {i}}}").into_bytes();
        calls
            .put_output(key, body.clone(), "batch-1")
            .await
            .unwrap();
        assert_eq!(
            calls.output_batch_id(key).await.unwrap().as_deref(),
            Some("batch-1"),
            "{} bytes",
            key.len()
        );
        assert_eq!(calls.get(key, 1000).await.unwrap(), body);
        let head = admin
            .head_object()
            .bucket("calls")
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.content_type(),
            Some("application/json"),
            "{}",
            key.len()
        );
        assert_eq!(head.content_length(), Some(body.len() as i64));
        // Written again by another batch: the new batch id.
        calls
            .put_output(key, b"{}".to_vec(), "batch-2")
            .await
            .unwrap();
        assert_eq!(
            calls.output_batch_id(key).await.unwrap().as_deref(),
            Some("batch-2")
        );
        assert!(s3.root.path().join("calls").join(key).is_file());
    }
    // An SDK with its default CRC32 checksum trailer (aws-chunked body) writes one too.
    let trailer_key = nested_key(400);
    admin
        .put_object()
        .bucket("calls")
        .key(&trailer_key)
        .body(b"with a checksum".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(
        calls.get(&trailer_key, 100).await.unwrap(),
        b"with a checksum"
    );

    let mut want: Vec<String> = keys.to_vec();
    want.push(trailer_key.clone());
    want.sort();
    assert_eq!(inputs(&calls).await, want);
    assert_eq!(calls.list_keys("").await.unwrap(), want);

    // A long key replaced on disk by a user is not served with the old object's batch id.
    let replaced = &keys[2];
    std::fs::write(s3.root.path().join("calls").join(replaced), b"dropped").unwrap();
    assert_eq!(calls.output_batch_id(replaced).await.unwrap(), None);
    assert_eq!(calls.get(replaced, 100).await.unwrap(), b"dropped");

    // Deleting forgets the attributes too.
    for key in &want {
        calls.delete(key).await.unwrap();
        assert_eq!(calls.output_batch_id(key).await.unwrap(), None);
    }
    assert!(inputs(&calls).await.is_empty());
    let attributes = s3.root.path().join(".speechbatch-long-keys");
    assert_eq!(
        std::fs::read_dir(&attributes).unwrap().count(),
        0,
        "{:?}",
        tree(&attributes)
    );

    // Over S3's 1024 bytes, or a segment over a file name's 255 bytes: refused, permanently,
    // before anything is written.
    let before = tree(s3.root.path());
    for key in [nested_key(1025), "k".repeat(252) + ".wav"] {
        let e = calls
            .put_output(&key, b"{}".to_vec(), "batch-1")
            .await
            .unwrap_err();
        assert_eq!(
            e.kind,
            StorageErrorKind::InvalidKey,
            "{} bytes: {e:?}",
            key.len()
        );
        assert!(
            e.is_permanent() && e.message.contains("KeyTooLongError"),
            "{e}"
        );
    }
    assert_eq!(tree(s3.root.path()), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_control_characters_and_over_long_paths_on_disk_do_not_break_listings() {
    let s3 = EmbeddedTestS3::start().await;
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), b"secret").unwrap();
    let dir = s3.root.path().join("calls");
    std::fs::create_dir_all(dir.join("day1")).unwrap();
    std::fs::write(dir.join("day1/good.wav"), b"good").unwrap();
    std::fs::write(dir.join("zz.wav"), b"zz").unwrap();
    // What a user may leave in the folder: a control character and a backslash in a name, a
    // link to a folder and to a file outside, folders nested past 1024 bytes of key.
    std::fs::write(dir.join("ctl\u{1}.wav"), b"c").unwrap();
    std::fs::write(dir.join("back\\slash.wav"), b"b").unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.join("linked")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), dir.join("secret.wav")).unwrap();
    let deep = dir.join("d/".repeat(400) + &"e".repeat(250));
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("deep.wav"), b"deep").unwrap();
    // And a bucket that is a link to a folder outside.
    std::os::unix::fs::symlink(outside.path(), s3.root.path().join("linked-bucket")).unwrap();

    let calls = bucket(&s3.endpoint(), "calls").await;
    calls.check_access().await.unwrap();
    for page_size in [1000, 1] {
        assert_eq!(
            inputs(&calls.clone().with_page_size(page_size)).await,
            ["day1/good.wav", "zz.wav"],
            "pages of {page_size}"
        );
    }
    assert_eq!(
        speechbatch_storage::plan_shards(&calls, 4)
            .await
            .unwrap()
            .total,
        2
    );

    // Links are never followed: not read, not written through, not removed.
    for key in ["secret.wav", "linked/secret.txt"] {
        let e = calls.get(key, 100).await.unwrap_err();
        assert_eq!(e.kind, StorageErrorKind::NotFound, "{key}: {e:?}");
    }
    let e = calls
        .put_output("linked/new.wav.json", b"{}".to_vec(), "batch-1")
        .await
        .unwrap_err();
    assert_eq!(e.kind, StorageErrorKind::InvalidKey, "{e:?}");
    calls.delete("secret.wav").await.unwrap();
    calls.delete("linked/secret.txt").await.unwrap();
    assert_eq!(tree(outside.path()), ["secret.txt"]);
    assert_eq!(
        std::fs::read(outside.path().join("secret.txt")).unwrap(),
        b"secret"
    );
    assert!(std::fs::symlink_metadata(dir.join("secret.wav")).is_ok());
    let linked = bucket(&s3.endpoint(), "linked-bucket").await;
    let e = linked.check_access().await.unwrap_err();
    assert_eq!(e.kind, StorageErrorKind::NoSuchBucket, "{e:?}");
    let e = linked.get("secret.txt", 100).await.unwrap_err();
    assert!(e.is_permanent(), "{e:?}");

    // A file where a folder is needed, or a folder where the object goes: refused, permanently.
    for key in ["zz.wav/x.json", "day1"] {
        let e = calls
            .put_output(key, b"{}".to_vec(), "batch-1")
            .await
            .unwrap_err();
        assert_eq!(e.kind, StorageErrorKind::InvalidKey, "{key}: {e:?}");
    }
    // The served objects still work.
    assert_eq!(calls.get("day1/good.wav", 100).await.unwrap(), b"good");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_with_dot_segments_and_odd_characters_are_refused_without_a_panic() {
    let s3 = EmbeddedTestS3::start().await;
    let admin = admin_client(&s3.endpoint());
    admin.create_bucket().bucket("calls").send().await.unwrap();
    admin.create_bucket().bucket("other").send().await.unwrap();
    let calls = bucket(&s3.endpoint(), "calls").await;
    calls
        .put_output("a/kept.json", b"{}".to_vec(), "batch-1")
        .await
        .unwrap();
    let before = tree(s3.root.path());
    for key in [
        "..",
        "../x",
        "../other/x",
        "a/../../x",
        "a/..",
        ".",
        "./a",
        "a/./b",
        "/abs",
        "a\\b",
        "a\u{1}b",
        "a\nb",
    ] {
        let shown = key.escape_debug();
        let e = calls
            .put_output(key, b"{}".to_vec(), "batch-1")
            .await
            .unwrap_err();
        assert_eq!(e.kind, StorageErrorKind::InvalidKey, "put {shown}: {e:?}");
        assert!(
            e.message.contains("InvalidArgument") && e.is_permanent(),
            "{e}"
        );
        let e = calls.get(key, 100).await.unwrap_err();
        assert_eq!(e.kind, StorageErrorKind::InvalidKey, "get {shown}: {e:?}");
        assert!(calls.delete(key).await.is_err(), "delete {shown}");
        // A HEAD answer has no body: refused, not a dropped connection.
        let head = admin.head_object().bucket("calls").key(key).send().await;
        let e = head.unwrap_err();
        assert_eq!(
            e.raw_response().map(|r| r.status().as_u16()),
            Some(400),
            "head {shown}: {}",
            aws_sdk_s3::error::DisplayErrorContext(&e)
        );
        // The server still serves, on the same connections.
        assert_eq!(
            calls
                .output_batch_id("a/kept.json")
                .await
                .unwrap()
                .as_deref(),
            Some("batch-1"),
            "after {shown}"
        );
    }
    assert_eq!(tree(s3.root.path()), before, "nothing was written");
    let copy = admin
        .copy_object()
        .bucket("other")
        .key("copy.json")
        .copy_source("calls/a/../../x")
        .send()
        .await;
    assert!(copy.is_err());
    assert_eq!(inputs(&calls).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_replaced_on_disk_is_served_as_it_is_now() {
    let (s3, admin, calls) = embedded_calls().await;
    for key in ["replaced.wav", "deleted.wav"] {
        admin
            .put_object()
            .bucket("calls")
            .key(key)
            .body(b"uploaded through S3".to_vec().into())
            .send()
            .await
            .unwrap();
        assert_eq!(calls.get(key, 100).await.unwrap(), b"uploaded through S3");
    }
    // The README's way to fill a bucket: copy files into its folder.
    let folder = s3.root.path().join("calls");
    std::fs::write(folder.join("replaced.wav"), b"copied over it by hand").unwrap();
    calls.delete("deleted.wav").await.unwrap();
    std::fs::write(folder.join("deleted.wav"), b"copied in after the delete").unwrap();
    assert_eq!(
        calls.get("replaced.wav", 100).await.unwrap(),
        b"copied over it by hand"
    );
    assert_eq!(
        calls.get("deleted.wav", 100).await.unwrap(),
        b"copied in after the delete"
    );
    // An SDK with its default checksum validation (the aws CLI's too) reads them as well.
    for (key, now) in [
        ("replaced.wav", &b"copied over it by hand"[..]),
        ("deleted.wav", b"copied in after the delete"),
    ] {
        let got = admin.get_object().bucket("calls").key(key).send().await;
        let got = got.unwrap().body.collect().await;
        let got = got.map(|b| b.into_bytes());
        assert_eq!(got.as_deref().ok(), Some(now), "{key}: {got:?}");
    }
    // A copy of it is read as well.
    admin
        .copy_object()
        .bucket("calls")
        .key("copy.wav")
        .copy_source("calls/replaced.wav")
        .send()
        .await
        .unwrap();
    let got = admin
        .get_object()
        .bucket("calls")
        .key("copy.wav")
        .send()
        .await;
    let got = got.unwrap().body.collect().await.map(|b| b.into_bytes());
    assert_eq!(
        got.as_deref().ok(),
        Some(&b"copied over it by hand"[..]),
        "{got:?}"
    );
    // Its ETag is the one an upload of the same bytes gets, and no checksum is claimed.
    admin
        .put_object()
        .bucket("calls")
        .key("same.wav")
        .body(b"copied over it by hand".to_vec().into())
        .send()
        .await
        .unwrap();
    let head = |key: &'static str| {
        admin
            .head_object()
            .bucket("calls")
            .key(key)
            .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
            .send()
    };
    let (replaced, same) = (
        head("replaced.wav").await.unwrap(),
        head("same.wav").await.unwrap(),
    );
    assert_eq!(replaced.e_tag(), same.e_tag());
    assert_eq!(head("copy.wav").await.unwrap().e_tag(), same.e_tag());
    assert!(same.checksum_crc32().is_some());
    assert_eq!(replaced.checksum_crc32(), None);
    // Written through S3 again, the object has attributes again.
    calls
        .put_output("replaced.wav", b"{}".to_vec(), "batch-2")
        .await
        .unwrap();
    let batch = calls.output_batch_id("replaced.wav").await.unwrap();
    assert_eq!(batch.as_deref(), Some("batch-2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_is_deleted_only_once_it_is_empty() {
    let (s3, admin, calls) = embedded_calls().await;
    calls
        .put_output("2026/kept.json", b"{}".to_vec(), "batch-1")
        .await
        .unwrap();
    let delete = || admin.delete_bucket().bucket("calls").send();
    let e = delete().await.unwrap_err();
    assert_eq!(
        e.raw_response().map(|r| r.status().as_u16()),
        Some(409),
        "{}",
        aws_sdk_s3::error::DisplayErrorContext(&e)
    );
    assert_eq!(e.code(), Some("BucketNotEmpty"));
    assert_eq!(
        calls
            .output_batch_id("2026/kept.json")
            .await
            .unwrap()
            .as_deref(),
        Some("batch-1"),
        "the object is still served"
    );
    // A link dropped into the bucket's folder is never listed, but it is not nothing either.
    calls.delete("2026/kept.json").await.unwrap();
    let link = s3.root.path().join("calls/2026/link.wav");
    std::os::unix::fs::symlink("/etc/hostname", &link).unwrap();
    let e = delete().await.unwrap_err();
    assert_eq!(e.code(), Some("BucketNotEmpty"));
    std::fs::remove_file(&link).unwrap();
    // The empty folder the key left behind lists as nothing, and does not keep the bucket.
    assert!(s3.root.path().join("calls/2026").is_dir());
    delete().await.unwrap();
    assert!(admin.head_bucket().bucket("calls").send().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_are_listed_only_for_an_upload_the_server_started() {
    let s3 = EmbeddedTestS3::start().await;
    let admin = admin_client(&s3.endpoint());
    admin.create_bucket().bucket("calls").send().await.unwrap();
    let upload = admin
        .create_multipart_upload()
        .bucket("calls")
        .key("long.wav")
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    admin
        .upload_part()
        .bucket("calls")
        .key("long.wav")
        .upload_id(id)
        .part_number(1)
        .body(vec![7u8; 1024].into())
        .send()
        .await
        .unwrap();
    let parts = |upload_id: String| {
        let admin = admin.clone();
        async move {
            admin
                .list_parts()
                .bucket("calls")
                .key("long.wav")
                .upload_id(upload_id)
                .send()
                .await
        }
    };
    let listed = parts(id.to_owned()).await.unwrap();
    let sizes: Vec<_> = listed.parts().iter().map(|p| p.size()).collect();
    assert_eq!(sizes, [Some(1024)]);
    // An id the server never handed out, well formed or not, is no upload at all.
    for made_up in [
        "00000000-0000-0000-0000-000000000000",
        "not-an-upload",
        &id[..8],
    ] {
        let e = parts(made_up.to_owned()).await.unwrap_err();
        assert_eq!(
            e.raw_response().map(|r| r.status().as_u16()),
            Some(404),
            "{made_up}: {}",
            aws_sdk_s3::error::DisplayErrorContext(&e)
        );
        assert_eq!(e.code(), Some("NoSuchUpload"), "{made_up}");
    }
    admin
        .abort_multipart_upload()
        .bucket("calls")
        .key("long.wav")
        .upload_id(id)
        .send()
        .await
        .unwrap();
    assert!(parts(id.to_owned()).await.is_err(), "aborted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_with_control_characters_list_exactly_on_seaweedfs() {
    let server = TestServer::seaweedfs().await;
    let keys = [
        "a\u{1}b.wav",
        "cr\rlf\n.wav",
        "plain.wav",
        "sp ace+plus%25.wav",
        "tab\t.wav",
    ];
    server
        .fill(
            "calls",
            keys.iter()
                .map(|k| (k.to_string(), b"x".to_vec()))
                .collect(),
        )
        .await;
    let calls = server.bucket("calls").await;
    for page_size in [1000, 2] {
        assert_eq!(
            inputs(&calls.clone().with_page_size(page_size)).await,
            keys,
            "pages of {page_size}"
        );
    }
    assert_eq!(calls.list_keys("").await.unwrap(), keys);
    for key in keys {
        assert_eq!(calls.get(key, 10).await.unwrap(), b"x", "{key:?}");
    }
}
