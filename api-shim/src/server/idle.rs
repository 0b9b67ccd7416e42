//! Closing kept-alive connections that stay idle.
//!
//! hyper 0.14's header read timeout covers a request head once its first byte arrived, but not
//! the wait for that first byte on a kept-alive connection: an idle client would hold its
//! connection forever. A read timeout on the socket cannot tell that wait from a long request
//! (while a handler runs, hyper keeps a read pending to notice a hang-up), so the connection
//! counts its requests in flight and only a read pending with none in flight runs the clock.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// What a connection is doing: requests in flight, and when it last did something.
#[derive(Debug)]
pub struct Activity {
    in_flight: AtomicUsize,
    last: Mutex<Instant>,
}

impl Activity {
    /// A connection that just opened.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            in_flight: AtomicUsize::new(0),
            last: Mutex::new(Instant::now()),
        })
    }

    fn touch(&self) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    fn last(&self) -> Instant {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks a request in flight until the guard is dropped.
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }
}

/// A request in flight on a connection.
pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A connection whose reads fail with `TimedOut` once it has been idle (no request in flight,
/// no byte received) for `idle`.
pub struct IdleTimeout<I> {
    inner: I,
    activity: Arc<Activity>,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
}

impl<I> IdleTimeout<I> {
    /// Wraps a connection.
    pub fn new(inner: I, activity: Arc<Activity>, idle: Duration) -> Self {
        let timer = Box::pin(tokio::time::sleep(idle));
        Self {
            inner,
            activity,
            idle,
            timer,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for IdleTimeout<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.activity.touch();
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                // The clock always runs while a read is pending, so that the task wakes when
                // it may have run out; only then does it ask whether the connection was idle
                // all that time (a request may have been in flight, or ended since).
                loop {
                    if this.timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    let now = Instant::now();
                    if this.activity.in_flight.load(Ordering::SeqCst) > 0 {
                        this.timer.as_mut().reset(now + this.idle);
                        continue;
                    }
                    let deadline = this.activity.last() + this.idle;
                    if deadline > now {
                        this.timer.as_mut().reset(deadline);
                        continue;
                    }
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection idle",
                    )));
                }
            }
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
