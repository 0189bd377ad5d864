//! Keeping a hold alive while work runs, and work that outlives its caller.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::StoreError;

/// How a kept-alive run ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Kept<T> {
    /// The work finished; `lost`: a renewal answered that the hold was
    /// taken by someone else meanwhile.
    Done { output: T, lost: bool },
    /// Shutdown's deadline passed first: the work was cut short.
    Abandoned,
}

/// Runs `work` while a keeper keeps its hold alive, until it finishes or
/// `abandon` is cancelled. The keeper is what `keeper` makes from the
/// run's `lost` flag, which it sets when it learns that the hold was taken
/// by someone else: [`renew_every`] for a hold of its own, or a worker
/// loop's renewer for a queued job.
///
/// Work that finishes on its first poll (quick listeners, the common case)
/// costs no keeper: it is made, boxed, only when the work first waits.
/// `work` is pinned by the caller, so its state is kept once, in the
/// caller's.
pub(crate) fn keep_alive<'w, W, K, F>(
    work: Pin<&'w mut W>,
    keeper: K,
    abandon: &'w CancellationToken,
) -> KeepAlive<'w, W, K>
where
    W: Future + ?Sized,
    K: FnOnce(Arc<AtomicBool>) -> F + Unpin,
    F: Future<Output = ()> + Send + 'w,
{
    KeepAlive {
        work,
        make: Some(keeper),
        abandon,
        keeper: None,
    }
}

/// The keeper of a run that waits: keeps the hold until abandoned.
type Keeper<'w> = Pin<Box<dyn Future<Output = ()> + Send + 'w>>;

/// The future of [`keep_alive`].
pub(crate) struct KeepAlive<'w, W: ?Sized, K> {
    work: Pin<&'w mut W>,
    make: Option<K>,
    abandon: &'w CancellationToken,
    /// Made when the work first waits: finishes only when abandoned.
    keeper: Option<(Keeper<'w>, Arc<AtomicBool>)>,
}

impl<'w, W, K, F> Future for KeepAlive<'w, W, K>
where
    W: Future + ?Sized,
    K: FnOnce(Arc<AtomicBool>) -> F + Unpin,
    F: Future<Output = ()> + Send + 'w,
{
    type Output = Kept<W::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Poll::Ready(output) = this.work.as_mut().poll(cx) {
            let lost = this
                .keeper
                .as_ref()
                .is_some_and(|(_, lost)| lost.load(Ordering::Relaxed));
            return Poll::Ready(Kept::Done { output, lost });
        }
        let (keeper, _) = this.keeper.get_or_insert_with(|| {
            let make = this.make.take().expect("the keeper is made once");
            let lost = Arc::new(AtomicBool::new(false));
            let keeper = until_abandoned(make(Arc::clone(&lost)), this.abandon);
            (Box::pin(keeper), lost)
        });
        keeper.as_mut().poll(cx).map(|()| Kept::Abandoned)
    }
}

/// Runs `keeper` (and, should it finish, waits on) until `abandon` is
/// cancelled.
async fn until_abandoned<F: Future<Output = ()>>(keeper: F, abandon: &CancellationToken) {
    let keeping = async {
        keeper.await;
        std::future::pending::<()>().await;
    };
    tokio::select! {
        () = keeping => {}
        () = abandon.cancelled() => {}
    }
}

/// A keeper of a hold of its own: renews every `every` until a renewal
/// answers that the hold was lost (setting `lost`). A renewal that fails
/// is retried at the next tick: the settle that follows the work is fenced
/// by the hold anyway.
pub(crate) async fn renew_every<R, F>(every: Duration, mut renew: R, lost: Arc<AtomicBool>)
where
    R: FnMut() -> F,
    F: Future<Output = Result<bool, StoreError>>,
{
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
}

/// `future`'s output, or `None` once it has run for `limit`. A future that
/// finishes on its first poll (a quick listener) never starts a timer: the
/// clock is read and the timer made (boxed) only when it first waits.
pub(crate) fn within<F: Future>(limit: Duration, future: F) -> Within<F> {
    Within {
        future,
        limit,
        timer: None,
    }
}

pin_project_lite::pin_project! {
    /// The future of [`within`]: no larger than the future it limits, plus
    /// the limit and a pointer.
    pub(crate) struct Within<F> {
        #[pin]
        future: F,
        limit: Duration,
        timer: Option<Pin<Box<tokio::time::Sleep>>>,
    }
}

impl<F: Future> Future for Within<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Some(output));
        }
        let limit = *this.limit;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        timer.as_mut().poll(cx).map(|()| None)
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
    use std::sync::atomic::AtomicUsize;

    #[tokio::test(start_paused = true)]
    async fn the_hold_is_renewed_while_the_work_runs() {
        let renewals = AtomicUsize::new(0);
        let work = std::pin::pin!(tokio::time::sleep(Duration::from_secs(10)));
        let never = CancellationToken::new();
        let renew = || {
            renewals.fetch_add(1, Ordering::Relaxed);
            std::future::ready(Ok(true))
        };
        let keeper = |lost| renew_every(Duration::from_secs(1), renew, lost);
        let kept = keep_alive(work, keeper, &never).await;
        assert_eq!(
            kept,
            Kept::Done {
                output: (),
                lost: false
            }
        );
        assert!(renewals.load(Ordering::Relaxed) >= 9);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_hold_is_reported_and_renewals_stop() {
        let renewals = AtomicUsize::new(0);
        let work = std::pin::pin!(tokio::time::sleep(Duration::from_secs(10)));
        let never = CancellationToken::new();
        let renew = || {
            renewals.fetch_add(1, Ordering::Relaxed);
            std::future::ready(Ok(false))
        };
        let keeper = |lost| renew_every(Duration::from_secs(1), renew, lost);
        let kept = keep_alive(work, keeper, &never).await;
        assert_eq!(
            kept,
            Kept::Done {
                output: (),
                lost: true
            }
        );
        assert_eq!(renewals.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn abandoned_work_is_cut_short_and_quick_work_never_waits() {
        let abandon = CancellationToken::new();
        let stuck = std::pin::pin!(std::future::pending::<()>());
        let cancel = abandon.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            cancel.cancel();
        });
        let renew = || std::future::ready(Ok(true));
        let keeper = |lost| renew_every(Duration::from_secs(1), renew, lost);
        let kept = keep_alive(stuck, keeper, &abandon).await;
        assert_eq!(kept, Kept::Abandoned);
        // Cancelled already: work that is ready at once still finishes.
        let quick = std::pin::pin!(async { 7 });
        let keeper = |lost| renew_every(Duration::from_secs(1), renew, lost);
        let kept = keep_alive(quick, keeper, &abandon).await;
        assert_eq!(
            kept,
            Kept::Done {
                output: 7,
                lost: false
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn within_gives_up_after_its_limit_and_not_before() {
        let limit = Duration::from_secs(5);
        assert_eq!(within(limit, async { 7 }).await, Some(7));
        let slow = tokio::time::sleep(Duration::from_secs(4));
        assert_eq!(within(limit, slow).await, Some(()));
        let stuck = std::future::pending::<()>();
        let started = tokio::time::Instant::now();
        assert_eq!(within(limit, stuck).await, None);
        assert_eq!(started.elapsed(), limit);
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
