//! One renewer per worker loop: the holds of the loop's running jobs are
//! renewed together, in one queue call per tick, not each by its own timer.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::queue::{Queue, Reservation};

/// A running job's hold, registered while its job keeps it.
#[derive(Debug)]
struct Held {
    reservation: Reservation,
    /// Set when a renewal answers that the hold was taken by someone else.
    lost: Arc<AtomicBool>,
}

/// Where a worker loop's jobs register their holds. Its task renews until
/// every handle is dropped (the loop's and its jobs'), or until abandoned.
#[derive(Debug, Clone)]
pub(crate) struct Renewer {
    holds: mpsc::UnboundedSender<Weak<Held>>,
}

impl Renewer {
    /// A renewer of `queue`'s holds of `visibility`, and its task: every
    /// third of `visibility` while any hold is registered, it renews them
    /// all in one call.
    pub(crate) fn new(
        queue: Queue,
        visibility: Duration,
        abandon: CancellationToken,
    ) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let (holds, joined) = mpsc::unbounded_channel();
        let renewing = renew(queue, visibility, joined);
        let task = async move {
            tokio::select! {
                () = renewing => {}
                () = abandon.cancelled() => {}
            }
        };
        (Self { holds }, task)
    }

    /// Keeps `reservation` renewed, setting `lost` when a renewal answers
    /// that it was taken, until the returned future (which never finishes)
    /// is dropped.
    pub(crate) fn keep(
        &self,
        reservation: &Reservation,
        lost: Arc<AtomicBool>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let held = Arc::new(Held {
            reservation: reservation.clone(),
            lost,
        });
        // Sent nowhere only once abandoned: the run is being cut short.
        let _ = self.holds.send(Arc::downgrade(&held));
        async move {
            // Dropped with the run: the renewer finds the hold gone.
            let _held = held;
            std::future::pending::<()>().await;
        }
    }
}

/// Renews the registered holds every third of `visibility`, the first time
/// a full period after a hold arrives while none was: a hold is renewed at
/// least that often from its registration on. Ends once every handle is
/// dropped.
async fn renew(
    queue: Queue,
    visibility: Duration,
    mut joined: mpsc::UnboundedReceiver<Weak<Held>>,
) {
    let mut ticks = tokio::time::interval(visibility / 3);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut holds: Vec<Weak<Held>> = Vec::new();
    loop {
        if holds.is_empty() {
            let Some(held) = joined.recv().await else {
                return;
            };
            holds.push(held);
            ticks.reset();
        }
        tokio::select! {
            _ = ticks.tick() => {}
            held = joined.recv() => {
                let Some(held) = held else { return };
                holds.push(held);
                continue;
            }
        }
        let live: Vec<Arc<Held>> = holds
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|held| !held.lost.load(Ordering::Relaxed))
            .collect();
        holds = live.iter().map(Arc::downgrade).collect();
        if !live.is_empty() {
            renew_once(&queue, &live, visibility).await;
        }
    }
}

/// One renewal of `holds`; those answered taken are marked lost. A call
/// that fails is retried at the next tick: the settle that follows the
/// work is fenced by the hold anyway.
async fn renew_once(queue: &Queue, holds: &[Arc<Held>], visibility: Duration) {
    let reservations: Vec<&Reservation> = holds.iter().map(|held| &held.reservation).collect();
    match queue.renew_all(&reservations, visibility).await {
        Ok(renewed) => {
            for (held, renewed) in holds.iter().zip(renewed) {
                if !renewed {
                    held.lost.store(true, Ordering::Relaxed);
                }
            }
        }
        Err(error) => {
            tracing::warn!(error = %error, holds = holds.len(), "could not renew holds; retrying");
        }
    }
}
