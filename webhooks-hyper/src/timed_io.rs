//! One connection's clock: how long it may sit idle, and how long a
//! request's head may take to arrive.
//!
//! hyper's own `header_read_timeout` starts when the connection begins to
//! wait for a head, not when the head's first byte arrives, and it closes
//! the connection without an answer. So the server measures itself: the
//! socket is wrapped in [`TimedIo`], which notes when a request's first
//! byte arrives, and the service (through [`ConnClock`]) notes when a head
//! reached it and when its answer was ready. Each request then has one
//! deadline, `request-timeout-seconds` after its first byte:
//!
//! - head not complete by then: [`TimedIo`] answers 408 itself and closes;
//! - body not complete by then: the service answers 408 and closes;
//! - no byte of a new request for as long (a fresh or a kept-alive
//!   connection): the connection is closed quietly, as an idle one.
//!
//! The idle limit is the same value on purpose: an idle connection holds a
//! descriptor and a `max-connections` slot that a delivery may need, while a
//! provider that finds its kept-alive connection closed just opens another
//! (one round trip). It is also what hyper's header timeout gave before.
//!
//! Exactly: the deadline runs from the first read that returned bytes while
//! the connection was idle. A head that was read ahead together with the
//! previous request's body (pipelining) starts its clock when it reaches the
//! service. While the service has a request, the socket enforces nothing:
//! the service bounds the body, and listeners take as long as they take.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The answer to a head that did not arrive in time.
const REQUEST_TIMEOUT: &[u8] = b"HTTP/1.1 408 Request Timeout\r\n\
connection: close\r\n\
content-type: application/json\r\n\
content-length: 27\r\n\
\r\n\
{\"error\":\"request timeout\"}";

/// Where the connection is in its current request.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for the first byte of a request, since then.
    Idle(Instant),
    /// A head is arriving; its first byte came then.
    Head(Instant),
    /// The service has the request: it enforces the body's deadline, and
    /// its listeners take as long as they take.
    Serving,
}

/// What the socket and the service of one connection share.
#[derive(Debug)]
pub(crate) struct ConnClock {
    timeout: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// The connection's task, as its last read that had to wait left it:
    /// woken when the service is done, so that hyper reads again and the
    /// idle deadline is armed (hyper itself does not read until the socket
    /// is readable).
    reader: Option<Waker>,
}

impl ConnClock {
    /// A clock for a connection accepted now; `timeout` is
    /// `request-timeout-seconds`.
    pub(crate) fn new(timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            timeout,
            state: Mutex::new(State {
                phase: Phase::Idle(Instant::now()),
                reader: None,
            }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes arrived: the first of a request starts its clock.
    fn bytes_arrived(&self) {
        let mut state = self.state();
        if let Phase::Idle(_) = state.phase {
            state.phase = Phase::Head(Instant::now());
        }
    }

    /// A read has to wait: when the deadline of the phase comes, or, while
    /// the service has the request, when it is done.
    fn wait(&self, reader: &Waker) -> Option<(Instant, bool)> {
        let mut state = self.state();
        if !state
            .reader
            .as_ref()
            .is_some_and(|known| known.will_wake(reader))
        {
            state.reader = Some(reader.clone());
        }
        match state.phase {
            Phase::Idle(since) => Some((since + self.timeout, false)),
            Phase::Head(since) => Some((since + self.timeout, true)),
            Phase::Serving => None,
        }
    }

    /// A head reached the service: when the request's first byte arrived
    /// (now, if its head was read ahead with an earlier request).
    pub(crate) fn request_started(&self) -> Instant {
        let mut state = self.state();
        let started = match state.phase {
            Phase::Head(since) => since,
            Phase::Idle(_) | Phase::Serving => Instant::now(),
        };
        state.phase = Phase::Serving;
        started
    }

    /// The service has its answer: the connection waits for the next
    /// request from now.
    pub(crate) fn request_finished(&self) {
        let reader = {
            let mut state = self.state();
            state.phase = Phase::Idle(Instant::now());
            state.reader.take()
        };
        if let Some(reader) = reader {
            reader.wake();
        }
    }
}

/// A socket that enforces its connection's [`ConnClock`] whenever hyper
/// waits to read from it.
#[derive(Debug)]
pub(crate) struct TimedIo<S> {
    inner: S,
    clock: Arc<ConnClock>,
    sleep: Pin<Box<Sleep>>,
    armed_for: Option<Instant>,
    /// hyper wrote and has not flushed yet: an answer of its own may be
    /// half sent, so no 408 is written into it.
    unflushed: bool,
    /// Bytes of the 408 written so far, once the head's time is up.
    answered: Option<usize>,
}

impl<S> TimedIo<S> {
    pub(crate) fn new(inner: S, clock: Arc<ConnClock>) -> Self {
        let sleep = Box::pin(tokio::time::sleep_until(Instant::now() + clock.timeout));
        Self {
            inner,
            clock,
            sleep,
            armed_for: None,
            unflushed: false,
            answered: None,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TimedIo<S> {
    /// Writes the 408, reads away what the client sent meanwhile (up to
    /// 64 KiB, so that closing does not reset the connection under the
    /// answer), then ends the connection with an error.
    fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut written = self.answered.unwrap_or(0);
        while written < REQUEST_TIMEOUT.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &REQUEST_TIMEOUT[written..]) {
                Poll::Ready(Ok(0)) => break,
                Poll::Ready(Ok(n)) => written += n,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => {
                    self.answered = Some(written);
                    return Poll::Pending;
                }
            }
        }
        self.answered = Some(written);
        let _ = Pin::new(&mut self.inner).poll_shutdown(cx);
        let mut scratch = [0_u8; 1024];
        for _ in 0..64 {
            let mut discard = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.inner).poll_read(cx, &mut discard) {
                Poll::Ready(Ok(())) if !discard.filled().is_empty() => {}
                _ => break,
            }
        }
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "request head not received within request-timeout-seconds",
        )))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TimedIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.answered.is_some() {
            return this.poll_answer(cx);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.clock.bytes_arrived();
                }
                return Poll::Ready(Ok(()));
            }
            Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            Poll::Pending => {}
        }
        let Some((deadline, in_head)) = this.clock.wait(cx.waker()) else {
            return Poll::Pending;
        };
        if this.armed_for != Some(deadline) {
            this.sleep.as_mut().reset(deadline);
            this.armed_for = Some(deadline);
        }
        if this.sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if !in_head {
            // Idle for the whole timeout: an end of stream, which hyper
            // takes as the quiet close of an idle connection.
            return Poll::Ready(Ok(()));
        }
        if this.unflushed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request head not received within request-timeout-seconds",
            )));
        }
        this.answered = Some(0);
        this.poll_answer(cx)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TimedIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.unflushed = true;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.unflushed = true;
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let flushed = Pin::new(&mut this.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = flushed {
            this.unflushed = false;
        }
        flushed
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_408_is_well_formed() {
        let text = std::str::from_utf8(REQUEST_TIMEOUT).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        serde_json::from_str::<serde_json::Value>(body).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn phases_give_deadlines_from_the_first_byte() {
        let timeout = Duration::from_secs(30);
        let clock = ConnClock::new(timeout);
        let reader = Waker::noop();
        let accepted = Instant::now();
        assert_eq!(clock.wait(reader), Some((accepted + timeout, false)));
        tokio::time::advance(Duration::from_secs(10)).await;
        clock.bytes_arrived();
        let first_byte = Instant::now();
        assert_eq!(clock.wait(reader), Some((first_byte + timeout, true)));
        tokio::time::advance(Duration::from_secs(5)).await;
        clock.bytes_arrived();
        assert_eq!(clock.request_started(), first_byte);
        assert_eq!(clock.wait(reader), None);
        clock.bytes_arrived(); // body bytes: still the service's
        assert_eq!(clock.wait(reader), None);
        tokio::time::advance(Duration::from_secs(100)).await;
        clock.request_finished();
        assert!(clock.state().reader.is_none(), "the reader was woken");
        assert_eq!(clock.wait(reader), Some((Instant::now() + timeout, false)));
        // A head read ahead with the previous request starts when served.
        assert_eq!(clock.request_started(), Instant::now());
    }
}
