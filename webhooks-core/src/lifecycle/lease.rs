//! Keeping a hold alive while work runs, and work that outlives its caller.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::StoreError;

/// Runs `work` and, while it runs, calls `renew` every `every`; returns its
/// output and whether a renewal answered that the hold was lost (taken by
/// someone else). A renewal that fails is retried at the next tick: the
/// settle that follows the work is fenced by the hold anyway.
///
/// Work that finishes on its first poll never starts a timer.
pub(crate) async fn keep_alive<W, R, F>(work: W, every: Duration, mut renew: R) -> (W::Output, bool)
where
    W: Future,
    R: FnMut() -> F,
    F: Future<Output = Result<bool, StoreError>>,
{
    let lost = AtomicBool::new(false);
    let keeper = async {
        while !lost.load(Ordering::Relaxed) {
            tokio::time::sleep(every).await;
            match renew().await {
                Ok(true) => {}
                Ok(false) => lost.store(true, Ordering::Relaxed),
                Err(error) => {
                    tracing::warn!(error = %error, "could not renew a hold; retrying");
                }
            }
        }
        std::future::pending::<()>().await;
    };
    tokio::select! {
        biased;
        output = work => (output, lost.load(Ordering::Relaxed)),
        () = keeper => unreachable!("the keeper never finishes"),
    }
}

/// A future that runs to its end even when the caller stops waiting: if it
/// is dropped unfinished, the rest of it is spawned on the runtime. So a
/// client that hangs up does not cut its event's processing short.
pub(crate) struct Detached<T: Send + 'static> {
    future: Option<Pin<Box<dyn Future<Output = T> + Send>>>,
}

impl<T: Send + 'static> Detached<T> {
    pub(crate) fn new(future: impl Future<Output = T> + Send + 'static) -> Self {
        Self {
            future: Some(Box::pin(future)),
        }
    }
}

impl<T: Send + 'static> Future for Detached<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let future = self.future.as_mut().expect("polled after completion");
        let output = std::task::ready!(future.as_mut().poll(cx));
        self.future = None;
        Poll::Ready(output)
    }
}

impl<T: Send + 'static> Drop for Detached<T> {
    fn drop(&mut self) {
        let Some(future) = self.future.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    future.await;
                });
            }
            Err(_) => {
                tracing::error!("processing dropped outside a Tokio runtime: it was cut short")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test(start_paused = true)]
    async fn the_hold_is_renewed_while_the_work_runs() {
        let renewals = AtomicUsize::new(0);
        let (output, lost) = keep_alive(
            tokio::time::sleep(Duration::from_secs(10)),
            Duration::from_secs(1),
            || {
                renewals.fetch_add(1, Ordering::Relaxed);
                std::future::ready(Ok(true))
            },
        )
        .await;
        assert_eq!(output, ());
        assert!(!lost);
        assert!(renewals.load(Ordering::Relaxed) >= 9);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_hold_is_reported_and_renewals_stop() {
        let renewals = AtomicUsize::new(0);
        let (_, lost) = keep_alive(
            tokio::time::sleep(Duration::from_secs(10)),
            Duration::from_secs(1),
            || {
                renewals.fetch_add(1, Ordering::Relaxed);
                std::future::ready(Ok(false))
            },
        )
        .await;
        assert!(lost);
        assert_eq!(renewals.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn dropped_work_still_runs_to_its_end() {
        let finished = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&finished);
        let (started, started_rx) = tokio::sync::oneshot::channel();
        let detached = Detached::new(async move {
            let _ = started.send(());
            tokio::time::sleep(Duration::from_millis(20)).await;
            flag.store(true, Ordering::SeqCst);
        });
        let caller = tokio::spawn(detached);
        started_rx.await.unwrap();
        caller.abort();
        for _ in 0..200 {
            if finished.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the detached work was cut short");
    }
}
