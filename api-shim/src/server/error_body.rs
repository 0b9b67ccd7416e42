//! Error bodies for the answers the HTTP layer gives on its own.
//!
//! Answers from this layer (414, 431, 429) are built with [`crate::error::error_reply`] like
//! every other error. hyper, though, answers a request head it cannot parse (a malformed
//! Content-Length, a head over its buffer, over 100 header fields, a request line past its
//! limit) by itself, with a status line and no body, and offers no hook to change that answer.
//! [`ErrorBodies`] wraps the connection and swaps that bodiless answer for one with the error
//! body as it is written. It can tell hyper's answer apart with certainty: every error the
//! service itself sends has a JSON body, so a 4xx head with `content-length: 0` is hyper's.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::{Body, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The interface's error body with `status`.
pub fn response(status: u16, message: &str) -> Response<Body> {
    crate::error::error_reply(status, message)
}

/// The error body with `status`, and the connection closed after it.
pub fn closing(status: u16, message: &str) -> Response<Body> {
    let mut r = response(status, message);
    r.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    r
}

/// 429 for a client that failed authentication too often, with when to try again.
pub fn too_many_failures(wait: Duration) -> Response<Body> {
    let secs = wait.as_secs().max(1);
    let mut r = response(
        429,
        &format!("Too Many Requests: too many failed authentications from this address; try again in {secs} s"),
    );
    r.headers_mut().insert(
        hyper::header::RETRY_AFTER,
        hyper::header::HeaderValue::from(secs),
    );
    r
}

/// What hyper's own answer says, as the error body's message.
fn message_for(status: u16) -> &'static str {
    match status {
        414 => "URI Too Long: the request line is longer than the server reads",
        431 => "Request Header Fields Too Large: the request head may have at most 64 KiB and 100 header fields",
        _ => "Bad Request: the request head is malformed (a request line, header or Content-Length that is not valid HTTP/1.1)",
    }
}

/// The status of a bodiless 4xx answer at the start of `buf`, if that is what `buf` holds.
fn bodiless_client_error(buf: &[u8]) -> Option<u16> {
    let rest = buf.strip_prefix(b"HTTP/1.1 4")?;
    let digits = rest.get(..2)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = buf[..head_end + 2].to_ascii_lowercase();
    let empty = head.windows(21).any(|w| w == b"\r\ncontent-length: 0\r\n");
    if !empty || head_end + 4 != buf.len() {
        return None;
    }
    Some(400 + u16::from(digits[0] - b'0') * 10 + u16::from(digits[1] - b'0'))
}

/// The bytes of an answer with the error body, closing the connection as hyper's would.
fn with_body(status: u16) -> Vec<u8> {
    let body = serde_json::to_vec(&crds::ErrorBody::new(status, message_for(status)))
        .expect("an error body serialises");
    let reason = hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Bad Request");
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// A connection whose bodiless 4xx answers (hyper's) are written with the error body.
pub struct ErrorBodies<I> {
    inner: I,
    /// The answer being written instead of hyper's, how much of it is out, and the length of
    /// hyper's answer (reported as written once ours is).
    replacing: Option<(Vec<u8>, usize, usize)>,
}

impl<I> ErrorBodies<I> {
    /// Wraps a connection.
    pub fn new(inner: I) -> Self {
        Self {
            inner,
            replacing: None,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for ErrorBodies<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for ErrorBodies<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replacing.is_none() {
            match bodiless_client_error(buf) {
                Some(status) => this.replacing = Some((with_body(status), 0, buf.len())),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        let (bytes, sent, original) = this.replacing.as_mut().expect("set above");
        while *sent < bytes.len() {
            match Pin::new(&mut this.inner).poll_write(cx, &bytes[*sent..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *sent += n,
                other => return other,
            }
        }
        let n = *original;
        this.replacing = None;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    // Not vectored: hyper then writes each head whole, in one buffer, which is what lets
    // `poll_write` recognise its bodiless answers.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_whole_bodiless_4xx_head_is_recognised() {
        let hyper_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Sun, 06 Dec 2026 12:00:00 GMT\r\n\r\n";
        assert_eq!(bodiless_client_error(hyper_431), Some(431));
        let hyper_400 = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(bodiless_client_error(hyper_400), Some(400));
        // A 4xx with a body, a 2xx, a longer Content-Length, and a head followed by more bytes.
        assert_eq!(
            bodiless_client_error(
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 12\r\n\r\n{\"code\":404}"
            ),
            None
        );
        assert_eq!(
            bodiless_client_error(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"),
            None
        );
        assert_eq!(
            bodiless_client_error(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 00\r\n\r\n"),
            None
        );
        assert_eq!(
            bodiless_client_error(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nmore"),
            None
        );
        assert_eq!(bodiless_client_error(b"{\"HTTP/1.1 400"), None);
    }

    #[test]
    fn the_replacement_carries_the_error_body_and_closes() {
        let bytes = String::from_utf8(with_body(431)).unwrap();
        let (head, body) = bytes.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(head.contains("connection: close"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["code"], 431);
        assert!(json["error"].as_str().unwrap().contains("64 KiB"));
    }
}
