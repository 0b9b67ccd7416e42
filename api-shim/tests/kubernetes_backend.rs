//! The Kubernetes backend's requests to the API server, checked request by request with a
//! tower-test mock in the style of kube-rs controller-rs: credentials go into Secrets owned by
//! the SpeechBatch and never into its spec; cancel patches `spec.cancel`; unknown ids are 404.
//! (A real API server with core/v1 cannot run here; see README.)

use api_shim::backend::{Backend, BucketRequest, CreateBatch};
use api_shim::kubernetes::Kubernetes;
use crds::RecognitionParams;
use speechbatch_storage::{Credentials, HmacCredentials};
use speechbatch_testkit::kube_mock::{mock_client, MockApiServer};

const SECRET: &str = "s3cr3t-value-that-must-stay-in-a-secret";

fn backend() -> (Kubernetes, MockApiServer) {
    let (client, server) = mock_client("speech");
    (Kubernetes::new(client, "speech", None), server)
}

fn speechbatch(name: &str, status: Option<&str>) -> serde_json::Value {
    let mut sb = serde_json::json!({
        "apiVersion": "speechbatch.io/v1alpha1", "kind": "SpeechBatch",
        "metadata": {"name": name, "namespace": "speech", "uid": "uid-1",
                     "creationTimestamp": "2026-11-26T10:00:00Z"},
        "spec": {"input": {"name": "calls", "location": "us-geo",
                           "credentialsSecret": {"name": format!("{name}-input")}}}
    });
    if let Some(s) = status {
        sb["status"] = serde_json::json!({"status": s, "totalCount": 4, "successfulCount": 1,
                                          "failedCount": 0, "progress": 0.25});
    }
    sb
}

#[tokio::test]
async fn create_puts_credentials_in_an_owned_secret_and_never_in_the_spec() {
    let (k8s, mut handle) = backend();
    let server = tokio::spawn(async move {
        let req = handle.next().await;
        let body = req.body.clone();
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/api/v1/namespaces/speech/secrets");
        let stored = String::from_utf8(base64_decode(
            body["data"]["credentials.json"].as_str().unwrap(),
        ))
        .unwrap();
        assert!(
            stored.contains(SECRET),
            "the Secret holds the credentials file"
        );
        let secret_name = body["metadata"]["name"].as_str().unwrap().to_string();
        req.reply(201, &body);

        let req = handle.next().await;
        let body = req.body.clone();
        assert_eq!(
            req.path,
            "/apis/speechbatch.io/v1alpha1/namespaces/speech/speechbatches"
        );
        assert!(
            !body.to_string().contains(SECRET),
            "no credential in the SpeechBatch: {body}"
        );
        assert_eq!(
            body["spec"]["input"]["credentialsSecret"]["name"],
            secret_name
        );
        assert_eq!(body["spec"]["recognition"]["smartFormatting"], true);
        let mut created = body.clone();
        created["metadata"]["uid"] = "uid-1".into();
        created["metadata"]["creationTimestamp"] = "2026-11-26T10:00:00Z".into();
        req.reply(201, &created);

        let req = handle.next().await;
        let body = req.body.clone();
        assert_eq!(req.method, "PATCH");
        assert_eq!(
            req.path,
            format!("/api/v1/namespaces/speech/secrets/{secret_name}")
        );
        let owner = &body["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "SpeechBatch");
        assert_eq!(owner["uid"], "uid-1");
        req.reply(200, &serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret_name}}));
    });
    let request = CreateBatch {
        input: BucketRequest {
            name: "calls".into(),
            location: "us-geo".into(),
            credentials: Credentials::Hmac(HmacCredentials {
                end_point: "http://s3.example".into(),
                access_key: "ak".into(),
                secret_key: SECRET.into(),
            }),
        },
        output: None,
        params: RecognitionParams {
            smart_formatting: true,
            ..Default::default()
        },
        language_customization_id: None,
    };
    let job = k8s.create(request).await.unwrap();
    server.await.unwrap();
    assert_eq!(job.status, crds::BatchStatus::Initializing);
    assert_eq!(job.input_bucket_name, "calls");
    assert_eq!(job.output_bucket_name, "calls");
}

#[tokio::test]
async fn a_custom_model_without_a_model_store_is_refused_before_anything_is_created() {
    // The mock server fails the test on any request: nothing may be stored for a refused job.
    let (k8s, _handle) = backend();
    let request = CreateBatch {
        input: BucketRequest {
            name: "calls".into(),
            location: "us-geo".into(),
            credentials: Credentials::Hmac(HmacCredentials {
                end_point: "http://s3.example".into(),
                access_key: "ak".into(),
                secret_key: SECRET.into(),
            }),
        },
        output: None,
        params: RecognitionParams::default(),
        language_customization_id: Some("0b9f3c2e-1d4a-4c1e-9f7a-2b6d8e5c4a10".into()),
    };
    let e = k8s.create(request).await.unwrap_err();
    assert_eq!(e.status, 400);
    assert!(e.message.contains("model store"), "{}", e.message);
}

#[tokio::test]
async fn cancel_of_a_running_batch_patches_spec_cancel_and_reports_canceled() {
    let (k8s, mut handle) = backend();
    let server = tokio::spawn(async move {
        let req = handle.next().await;
        assert_eq!(req.method, "GET");
        req.reply(200, &speechbatch("b1", Some("running")));
        let req = handle.next().await;
        let body = req.body.clone();
        assert_eq!(req.method, "PATCH");
        assert_eq!(body, serde_json::json!({"spec": {"cancel": true}}));
        req.reply(200, &speechbatch("b1", Some("running")));
    });
    let job = k8s.cancel("b1").await.unwrap();
    server.await.unwrap();
    assert_eq!(job.status, crds::BatchStatus::Canceled);
    assert_eq!(job.successful_count, 1);
}

#[tokio::test]
async fn cancel_of_a_completed_batch_changes_nothing() {
    let (k8s, mut handle) = backend();
    let server = tokio::spawn(async move {
        let req = handle.next().await;
        assert_eq!(req.method, "GET");
        req.reply(200, &speechbatch("b2", Some("completed")));
        // The handle ends once the backend is dropped: any request made is seen first.
        assert!(
            handle.try_next().await.is_none(),
            "no patch for a finished batch"
        );
    });
    let job = k8s.cancel("b2").await.unwrap();
    drop(k8s);
    server.await.unwrap();
    assert_eq!(job.status, crds::BatchStatus::Completed);
}

#[tokio::test]
async fn unknown_batches_are_404_for_get_and_delete() {
    let (k8s, mut handle) = backend();
    let not_found = serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "reason": "NotFound", "code": 404, "message": "speechbatches \"nope\" not found"});
    let server = tokio::spawn(async move {
        // DELETE of an unknown batch stops at its GET.
        for _ in 0..2 {
            let req = handle.next().await;
            assert_eq!(req.method, "GET");
            req.reply(404, &not_found);
        }
    });
    assert_eq!(k8s.get("nope").await.unwrap_err().status, 404);
    assert_eq!(k8s.delete("nope").await.unwrap_err().status, 404);
    server.await.unwrap();
}

#[tokio::test]
async fn a_batch_being_deleted_is_already_gone_for_get_list_cancel_and_delete() {
    let (k8s, mut handle) = backend();
    let mut deleting = speechbatch("going", Some("running"));
    deleting["metadata"]["deletionTimestamp"] = serde_json::json!("2026-11-26T10:05:00Z");
    deleting["metadata"]["finalizers"] = serde_json::json!(["speechbatch.io/stop-shards"]);
    let kept = speechbatch("kept", Some("running"));
    let list = serde_json::json!({"apiVersion": "speechbatch.io/v1alpha1",
        "kind": "SpeechBatchList", "metadata": {}, "items": [deleting.clone(), kept]});
    let server = tokio::spawn(async move {
        let req = handle.next().await;
        assert_eq!(req.method, "GET");
        req.reply(200, &list);
        // get, cancel and delete each read the batch once and go no further.
        for _ in 0..3 {
            let req = handle.next().await;
            assert_eq!(req.method, "GET");
            req.reply(200, &deleting);
        }
    });
    let listed = k8s.list().await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|j| j.batch_id.as_str())
            .collect::<Vec<_>>(),
        ["kept"]
    );
    assert_eq!(k8s.get("going").await.unwrap_err().status, 404);
    assert_eq!(k8s.cancel("going").await.unwrap_err().status, 404);
    assert_eq!(k8s.delete("going").await.unwrap_err().status, 404);
    server.await.unwrap();
}

#[tokio::test]
async fn details_read_the_model_from_the_spec_and_audio_and_analytics_from_the_status() {
    let (k8s, mut handle) = backend();
    let mut analysed = speechbatch("analysed", Some("completed"));
    analysed["spec"]["languageModel"] = serde_json::json!({
        "customizationId": "74f4807e-b5ff-4866-824e-6bba1a84fe96",
        "vocabularyObject": "batches/analysed/vocabulary.json"});
    analysed["status"]["audioMs"] = serde_json::json!(61_500);
    analysed["status"]["analytics"] = serde_json::json!({
        "files": 1, "turns": 4,
        "sentiment": {"negative": 0, "neutral": 3, "positive": 1},
        "tones": {"polite": 2},
        "topics": [{"topic_name": "pharmacy_prescription", "files": 1}],
        "keywords": [{"text": "prescription", "count": 2}]});
    // As an operator of an earlier release left it: neither field.
    let older = speechbatch("older", Some("completed"));
    let server = tokio::spawn(async move {
        for batch in [analysed, older] {
            let req = handle.next().await;
            assert_eq!(req.method, "GET");
            req.reply(200, &batch);
        }
    });
    let d = k8s.details("analysed").await.unwrap();
    assert_eq!(
        d.language_customization_id.as_deref(),
        Some("74f4807e-b5ff-4866-824e-6bba1a84fe96")
    );
    assert_eq!(d.audio_seconds, 61.5);
    let summary = d.analytics.expect("the status's summary");
    assert_eq!((summary.files, summary.turns), (1, 4));
    assert_eq!(summary.topics[0].topic_name, "pharmacy_prescription");
    assert_eq!(summary.keywords[0].count, 2);
    let d = k8s.details("older").await.unwrap();
    assert_eq!(
        (d.language_customization_id, d.audio_seconds, d.analytics),
        (None, 0.0, None)
    );
    assert_eq!(d.job.status, crds::BatchStatus::Completed);
    server.await.unwrap();
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}
