//! The Kubernetes backend's requests to the API server, checked request by request with a
//! tower-test mock in the style of kube-rs controller-rs: credentials go into Secrets owned by
//! the SpeechBatch and never into its spec; cancel patches `spec.cancel`; unknown ids are 404.
//! (A real API server with core/v1 cannot run here; see README.)

use api_shim::backend::{Backend, BucketRequest, CreateBatch};
use api_shim::kubernetes::Kubernetes;
use crds::RecognitionParams;
use http::{Request, Response};
use kube::client::Body;
use kube::Client;
use speechbatch_storage::{Credentials, HmacCredentials};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

const SECRET: &str = "s3cr3t-value-that-must-stay-in-a-secret";

fn backend() -> (Kubernetes, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "speech");
    (Kubernetes::new(client, "speech"), handle)
}

async fn next(
    handle: &mut Handle,
) -> (
    Request<Body>,
    serde_json::Value,
    tower_test::mock::SendResponse<Response<Body>>,
) {
    let (request, send) = handle.next_request().await.expect("a request");
    let (parts, body) = request.into_parts();
    let bytes = body.collect_bytes().await.unwrap();
    let json = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (Request::from_parts(parts, Body::empty()), json, send)
}

fn reply(
    send: tower_test::mock::SendResponse<Response<Body>>,
    status: u16,
    body: serde_json::Value,
) {
    send.send_response(
        Response::builder()
            .status(status)
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap(),
    );
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
        let (req, body, send) = next(&mut handle).await;
        assert_eq!(req.method(), "POST");
        assert_eq!(req.uri().path(), "/api/v1/namespaces/speech/secrets");
        let stored = String::from_utf8(base64_decode(
            body["data"]["credentials.json"].as_str().unwrap(),
        ))
        .unwrap();
        assert!(
            stored.contains(SECRET),
            "the Secret holds the credentials file"
        );
        let secret_name = body["metadata"]["name"].as_str().unwrap().to_string();
        reply(send, 201, body.clone());

        let (req, body, send) = next(&mut handle).await;
        assert_eq!(
            req.uri().path(),
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
        reply(send, 201, created);

        let (req, body, send) = next(&mut handle).await;
        assert_eq!(req.method(), "PATCH");
        assert_eq!(
            req.uri().path(),
            format!("/api/v1/namespaces/speech/secrets/{secret_name}")
        );
        let owner = &body["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "SpeechBatch");
        assert_eq!(owner["uid"], "uid-1");
        reply(
            send,
            200,
            serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret_name}}),
        );
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
    };
    let job = k8s.create(request).await.unwrap();
    server.await.unwrap();
    assert_eq!(job.status, crds::BatchStatus::Initializing);
    assert_eq!(job.input_bucket_name, "calls");
    assert_eq!(job.output_bucket_name, "calls");
}

#[tokio::test]
async fn cancel_of_a_running_batch_patches_spec_cancel_and_reports_canceled() {
    let (k8s, mut handle) = backend();
    let server = tokio::spawn(async move {
        let (req, _, send) = next(&mut handle).await;
        assert_eq!(req.method(), "GET");
        reply(send, 200, speechbatch("b1", Some("running")));
        let (req, body, send) = next(&mut handle).await;
        assert_eq!(req.method(), "PATCH");
        assert_eq!(body, serde_json::json!({"spec": {"cancel": true}}));
        reply(send, 200, speechbatch("b1", Some("running")));
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
        let (req, _, send) = next(&mut handle).await;
        assert_eq!(req.method(), "GET");
        reply(send, 200, speechbatch("b2", Some("completed")));
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(200), handle.next_request())
                .await
                .is_err(),
            "no patch for a finished batch"
        );
    });
    let job = k8s.cancel("b2").await.unwrap();
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
            let (req, _, send) = next(&mut handle).await;
            assert_eq!(req.method(), "GET");
            reply(send, 404, not_found.clone());
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
        let (req, _, send) = next(&mut handle).await;
        assert_eq!(req.method(), "GET");
        reply(send, 200, list);
        // get, cancel and delete each read the batch once and go no further.
        for _ in 0..3 {
            let (req, _, send) = next(&mut handle).await;
            assert_eq!(req.method(), "GET");
            reply(send, 200, deleting.clone());
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

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}
