//! The holds of a worker loop's running jobs are renewed together: one
//! `renew_all` call per tick carries every held job, and no job renews its
//! own; a hold a renewal answers lost is not settled by this worker.
//!
//! Time is paused (Tokio's clock jumps to the next timer when every task
//! waits), so the listeners' long waits take no real time and the ticks
//! fall at known instants.

mod intake_support;

use std::collections::HashMap;

use intake_support::*;
use webhooks_core::config::DispatchMode;

/// How long each listener runs: past several renewal periods (a third of
/// the one-second visibility timeout), and not on a tick.
const WORK: Duration = Duration::from_millis(2500);

/// What the worker asked of the queue, by event id.
#[derive(Debug, Default, Clone)]
struct Calls {
    /// The event of each hold handed out, by token.
    events: HashMap<u64, String>,
    /// Calls of `renew`, one hold each.
    renews: usize,
    /// Calls of `renew_all`: the events of the holds each carried.
    batches: Vec<Vec<String>>,
    /// Settles of any kind (ack, retry, dead, hand back), in order.
    settles: Vec<String>,
    /// Acks that took.
    acked: Vec<String>,
}

/// The in-memory queue, writing down the worker's calls; a renewal of the
/// hold on `stolen`'s event answers that it was taken over, and the first
/// `failing` calls of `renew_all` fail as an unreachable store would.
#[derive(Debug, Default)]
struct Counting {
    queue: InMemoryEventQueue,
    stolen: Option<String>,
    failing: usize,
    calls: Mutex<Calls>,
}

impl Counting {
    fn event(&self, held: &Reservation) -> String {
        let calls = self.calls.lock().unwrap();
        calls.events.get(&held.token).cloned().unwrap_or_default()
    }

    fn is_stolen(&self, held: &Reservation) -> bool {
        self.stolen.as_deref() == Some(&*self.event(held))
    }

    fn settled(&self, held: &Reservation) {
        let event = self.event(held);
        self.calls.lock().unwrap().settles.push(event);
    }
}

/// The counting queue, shared with the test.
#[derive(Debug, Clone)]
struct Shared(Arc<Counting>);

impl EventQueue for Shared {
    async fn push(&self, event: WebhookEvent, capacity: usize) -> Result<(), PushError> {
        self.0.queue.push(event, capacity).await
    }
    async fn reserve(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Reserved>, StoreError> {
        let jobs = self.0.queue.reserve(max, visibility, wait).await?;
        let mut calls = self.0.calls.lock().unwrap();
        for job in &jobs {
            let event = job.event.id().to_owned();
            calls.events.insert(job.reservation.token, event);
        }
        Ok(jobs)
    }
    async fn renew(&self, held: &Reservation, visibility: Duration) -> Result<bool, StoreError> {
        self.0.calls.lock().unwrap().renews += 1;
        if self.0.is_stolen(held) {
            return Ok(false);
        }
        self.0.queue.renew(held, visibility).await
    }
    async fn renew_all(
        &self,
        holds: &[&Reservation],
        visibility: Duration,
    ) -> Result<Vec<bool>, StoreError> {
        let events = holds.iter().map(|held| self.0.event(held)).collect();
        let call = {
            let mut calls = self.0.calls.lock().unwrap();
            calls.batches.push(events);
            calls.batches.len()
        };
        if call <= self.0.failing {
            return Err(StoreError::new("the queue is unreachable"));
        }
        let renewed = self.0.queue.renew_all(holds, visibility).await?;
        let stolen = holds.iter().map(|held| self.0.is_stolen(held));
        Ok(renewed.iter().zip(stolen).map(|(&r, s)| r && !s).collect())
    }
    async fn ack(&self, held: &Reservation) -> Result<bool, StoreError> {
        self.0.settled(held);
        let acked = self.0.queue.ack(held).await?;
        if acked {
            let event = self.0.event(held);
            self.0.calls.lock().unwrap().acked.push(event);
        }
        Ok(acked)
    }
    async fn retry_at(
        &self,
        held: &Reservation,
        due: SystemTime,
        state: &JobState,
    ) -> Result<bool, StoreError> {
        self.0.settled(held);
        self.0.queue.retry_at(held, due, state).await
    }
    async fn dead(
        &self,
        held: &Reservation,
        state: &JobState,
        reason: &str,
        bounds: DeadLetterBounds,
    ) -> Result<bool, StoreError> {
        self.0.settled(held);
        self.0.queue.dead(held, state, reason, bounds).await
    }
    async fn hand_back(&self, held: &Reservation) -> Result<(), StoreError> {
        self.0.settled(held);
        self.0.queue.hand_back(held).await
    }
    async fn dead_letters(&self, source: Option<&str>) -> Result<Vec<DeadLetter>, StoreError> {
        self.0.queue.dead_letters(source).await
    }
    async fn requeue(&self, id: &str) -> Result<bool, StoreError> {
        self.0.queue.requeue(id).await
    }
    async fn close(&self) -> Result<Vec<String>, StoreError> {
        self.0.queue.close().await
    }
    fn is_durable(&self) -> bool {
        self.0.queue.is_durable()
    }
}

/// A listener of every `github` event that runs for [`WORK`], counting
/// the runs that finished.
fn slow() -> Done {
    Done(Arc::default(), WORK)
}

/// A queued processor of `workers` workers, a one-second visibility
/// timeout and the [`slow`] listener, over `queue`.
fn processor(queue: &Shared, runs: &Done, workers: usize) -> WebhookProcessor {
    WebhookProcessor::builder()
        .register_validator("github", GitHubSignatureValidator::new(SECRET).unwrap())
        .registered_listeners(false)
        .listener(runs.clone())
        .queue(queue.clone())
        .dispatch(Dispatch {
            mode: DispatchMode::Queued,
            workers: Some(workers),
            visibility_timeout_seconds: 1,
            ..Dispatch::default()
        })
        .build()
        .unwrap()
}

fn ids(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|n| format!("d-{n}")).collect()
}

#[tokio::test(start_paused = true)]
async fn one_call_per_tick_renews_every_running_job() {
    let queue = Shared(Arc::default());
    let runs = slow();
    let processor = processor(&queue, &runs, 5);
    for n in 1..=5 {
        assert_eq!(deliver(&processor, n).await.unwrap(), accepted(n));
    }
    until("every job acked", || {
        queue.0.calls.lock().unwrap().acked.len() == 5
    })
    .await;
    assert_eq!(runs.0.load(Ordering::SeqCst), 5);

    // A copy: the lock is not held across the shutdown's await.
    let calls = queue.0.calls.lock().unwrap().clone();
    assert_eq!(calls.renews, 0, "a job renewed its own hold: {calls:?}");
    // A tick every third of a second from when the jobs first waited, while
    // they run 2.5 s: 7 ticks (time is paused, so exactly).
    assert_eq!(calls.batches.len(), 7, "{calls:?}");
    for batch in &calls.batches {
        let mut batch = batch.clone();
        batch.sort();
        assert_eq!(batch, ids(1..=5), "a renewal left a job out: {calls:?}");
    }
    let mut acked = calls.acked.clone();
    acked.sort();
    assert_eq!(acked, ids(1..=5), "each job acked once");
    assert_eq!(calls.settles.len(), 5, "{calls:?}");
    processor.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_hold_answered_lost_is_not_settled_and_the_other_is() {
    let queue = Shared(Arc::new(Counting {
        stolen: Some("d-2".into()),
        ..Counting::default()
    }));
    let runs = slow();
    let processor = processor(&queue, &runs, 2);
    for n in 1..=2 {
        assert_eq!(deliver(&processor, n).await.unwrap(), accepted(n));
    }
    until("both listeners ran", || runs.0.load(Ordering::SeqCst) == 2).await;
    until("d-1 acked", || {
        !queue.0.calls.lock().unwrap().acked.is_empty()
    })
    .await;
    // Time for a settle of d-2 to come, were one coming.
    tokio::time::sleep(Duration::from_secs(1)).await;

    // A copy: the lock is not held across the shutdown's await.
    let calls = queue.0.calls.lock().unwrap().clone();
    assert_eq!(calls.settles, ids(1..=1), "d-2 was settled: {calls:?}");
    assert_eq!(calls.acked, ids(1..=1));
    // Once answered lost, d-2 is renewed no more; d-1 still is.
    let lost_at = calls
        .batches
        .iter()
        .position(|batch| batch.contains(&"d-2".to_owned()))
        .expect("d-2's hold was renewed once");
    for batch in &calls.batches[lost_at + 1..] {
        assert_eq!(batch, &ids(1..=1), "{calls:?}");
    }
    assert!(calls.batches.len() > lost_at + 1, "{calls:?}");
    assert_eq!(metric(&processor, "webhooks_queue_depth"), 1.0, "d-2 left");
    processor.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_renewal_is_tried_again_at_the_next_tick() {
    // The first tick's call fails; the hold, taken for a second, is renewed
    // at the second tick (two thirds of a second in), before it lapses.
    let queue = Shared(Arc::new(Counting {
        failing: 1,
        ..Counting::default()
    }));
    let runs = slow();
    let processor = processor(&queue, &runs, 1);
    assert_eq!(deliver(&processor, 1).await.unwrap(), accepted(1));
    until("d-1 acked", || {
        !queue.0.calls.lock().unwrap().acked.is_empty()
    })
    .await;

    // A copy: the lock is not held across the shutdown's await.
    let calls = queue.0.calls.lock().unwrap().clone();
    assert_eq!(
        calls.batches.len(),
        7,
        "a tick after the failure was skipped: {calls:?}"
    );
    assert!(
        calls.batches.iter().all(|batch| batch == &ids(1..=1)),
        "{calls:?}"
    );
    assert_eq!(calls.settles, ids(1..=1), "{calls:?}");
    assert_eq!(
        calls.acked,
        ids(1..=1),
        "the hold was kept through the failure"
    );
    assert_eq!(runs.0.load(Ordering::SeqCst), 1, "run once");
    processor.shutdown().await;
}
