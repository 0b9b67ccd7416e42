//! Request bodies, read whole but never past a limit: the one way every route with a body
//! reads it (a batch's form, a recognition's audio, a model's JSON or corpus).

use bytes::Buf;
use futures::TryStreamExt;
use warp::Filter;

use crate::error::ApiError;
use crate::server::BodyStalled;

/// A request body of at most `max` bytes: a Content-Length over it is refused before anything
/// is read, a chunked body as soon as it passes it (`too_large` says how).
pub fn limited(
    max: u64,
    too_large: fn() -> warp::Rejection,
) -> impl Filter<Extract = (Vec<u8>,), Error = warp::Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and_then(move |len: Option<u64>| async move {
            match len {
                Some(n) if n > max => Err(too_large()),
                _ => Ok(()),
            }
        })
        .untuple_one()
        .and(warp::body::stream())
        .and_then(move |body| read(body, max, too_large))
}

async fn read<S, B>(
    body: S,
    max: u64,
    too_large: fn() -> warp::Rejection,
) -> Result<Vec<u8>, warp::Rejection>
where
    S: futures::Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut body = Box::pin(body);
    let mut bytes = Vec::new();
    while let Some(mut chunk) = body.try_next().await.map_err(unreadable)? {
        if (bytes.len() + chunk.remaining()) as u64 > max {
            return Err(too_large());
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            bytes.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(bytes)
}

/// 408 for a body the client stopped sending (the HTTP layer's stall timeout), 400 otherwise.
fn unreadable(e: warp::Error) -> warp::Rejection {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if let Some(stalled) = err.downcast_ref::<BodyStalled>() {
            return warp::reject::custom(ApiError::new(408, format!("Request Timeout: {stalled}")));
        }
        source = err.source();
    }
    warp::reject::custom(ApiError::bad_request(format!(
        "The request body could not be read: {e}"
    )))
}
