//! A stand-in for the Kubernetes API server in request-sequence tests, in the style of kube-rs
//! `controller-rs`: a `kube::Client` over a tower-test mock, and the other end of it, which the
//! test drives request by request (check the method, path and body; answer with a status and a
//! JSON body). The operator's reconcile tests and the REST shim's Kubernetes-backend tests both
//! use it.

use http::{Method, Request, Response};
use kube::client::Body;
use kube::Client;
use serde_json::Value;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;
type Responder = tower_test::mock::SendResponse<Response<Body>>;

/// The API server's side of the mock.
pub struct MockApiServer(Handle);

/// A client whose requests go to the returned [`MockApiServer`]; `namespace` is the client's
/// default namespace.
pub fn mock_client(namespace: &str) -> (Client, MockApiServer) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, namespace), MockApiServer(handle))
}

/// One request the client made, with its body read as JSON (`Null` when empty).
pub struct ApiRequest {
    /// The HTTP method.
    pub method: Method,
    /// The path, e.g. `/api/v1/namespaces/default/secrets`.
    pub path: String,
    /// The query string (empty when none).
    pub query: String,
    /// The body as JSON.
    pub body: Value,
    responder: Responder,
}

impl MockApiServer {
    /// The next request; panics when the client is gone without making one.
    pub async fn next(&mut self) -> ApiRequest {
        self.try_next()
            .await
            .expect("the client made another request")
    }

    /// The next request, or `None` once every client clone is dropped with none queued.
    pub async fn try_next(&mut self) -> Option<ApiRequest> {
        let (request, responder) = self.0.next_request().await?;
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.expect("the request body reads");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("the request body is JSON")
        };
        Some(ApiRequest {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            body,
            responder,
        })
    }

    /// The next request, checked to be `method` on `path`.
    pub async fn expect(&mut self, method: Method, path: &str) -> ApiRequest {
        let request = self.next().await;
        assert_eq!(
            (&request.method, request.path.as_str()),
            (&method, path),
            "unexpected request"
        );
        request
    }
}

impl ApiRequest {
    /// Answers with `status` and `body`.
    pub fn reply(self, status: u16, body: &Value) {
        self.responder.send_response(
            Response::builder()
                .status(status)
                .body(Body::from(
                    serde_json::to_vec(body).expect("a JSON value serializes"),
                ))
                .expect("a response builds"),
        );
    }

    /// Answers with the API server's `Status` object for a missing object.
    pub fn not_found(self) {
        let status = serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "not found", "reason": "NotFound", "code": 404
        });
        self.reply(404, &status);
    }
}
