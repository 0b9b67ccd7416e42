//! A request body that may not stall.

use std::time::Duration;

use hyper::body::HttpBody as _;
use hyper::Body;

/// The error a request body gives when the client sent nothing for the body timeout; the body
/// readers (`crate::body`) answer it with 408.
#[derive(Debug, thiserror::Error)]
#[error("the client sent no part of the request body for {} s", .0.as_secs())]
pub struct BodyStalled(pub Duration);

/// `body`, failing with [`BodyStalled`] when no chunk arrives for `stall`. A body that is
/// already complete (every GET) is passed on as it is.
pub fn stall_limited(body: Body, stall: Duration) -> Body {
    if body.is_end_stream() {
        return body;
    }
    let chunks = futures::stream::unfold(Some(body), move |body| async move {
        let mut body = body?;
        match tokio::time::timeout(stall, body.data()).await {
            Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(body))),
            Ok(Some(Err(e))) => Some((Err(Box::new(e) as BoxError), None)),
            Ok(None) => None,
            Err(_) => Some((Err(Box::new(BodyStalled(stall)) as BoxError), None)),
        }
    });
    Body::wrap_stream(chunks)
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
