//! A worker slot is held while listeners run, not while the job is
//! settled: with one worker and a store slow to settle, the next job's
//! listeners run while the last job's ack is still on its way.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::Semaphore;
use webhooks_core::config::DispatchMode;
use webhooks_core::queue::{DeadLetterBounds, JobState, PushError, Reservation, Reserved};
use webhooks_core::{
    DeadLetter, Dispatch, EventQueue, GitHubSignatureValidator, Headers, InMemoryEventQueue,
    Processed, StoreError, WebhookEvent, WebhookListener, WebhookProcessor,
};

const SECRET: &str = "It's a Secret to Everybody";
const BODY: &[u8] = br#"{"zen":"Design for failure."}"#;
/// Hang guard for work done after the answer, never a timing.
const PATIENCE: Duration = Duration::from_secs(10);

/// The in-memory queue, its acks held at a gate until it opens.
#[derive(Debug, Clone)]
struct GatedAcks {
    queue: Arc<InMemoryEventQueue>,
    gate: Arc<Semaphore>,
    /// Acks that went through and settled their job.
    acked: Arc<AtomicUsize>,
}

impl EventQueue for GatedAcks {
    async fn push(&self, event: WebhookEvent, capacity: usize) -> Result<(), PushError> {
        self.queue.push(event, capacity).await
    }
    async fn reserve(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Reserved>, StoreError> {
        self.queue.reserve(max, visibility, wait).await
    }
    async fn renew(&self, held: &Reservation, visibility: Duration) -> Result<bool, StoreError> {
        self.queue.renew(held, visibility).await
    }
    async fn ack(&self, held: &Reservation) -> Result<bool, StoreError> {
        let _passed = self.gate.acquire().await.expect("never closed");
        let acked = self.queue.ack(held).await?;
        self.acked.fetch_add(usize::from(acked), Ordering::SeqCst);
        Ok(acked)
    }
    async fn retry_at(
        &self,
        held: &Reservation,
        due: SystemTime,
        state: &JobState,
    ) -> Result<bool, StoreError> {
        self.queue.retry_at(held, due, state).await
    }
    async fn dead(
        &self,
        held: &Reservation,
        state: &JobState,
        reason: &str,
        bounds: DeadLetterBounds,
    ) -> Result<bool, StoreError> {
        self.queue.dead(held, state, reason, bounds).await
    }
    async fn hand_back(&self, held: &Reservation) -> Result<(), StoreError> {
        self.queue.hand_back(held).await
    }
    async fn dead_letters(&self, source: Option<&str>) -> Result<Vec<DeadLetter>, StoreError> {
        self.queue.dead_letters(source).await
    }
    async fn requeue(&self, id: &str) -> Result<bool, StoreError> {
        self.queue.requeue(id).await
    }
    async fn close(&self) -> Result<Vec<String>, StoreError> {
        self.queue.close().await
    }
    fn is_durable(&self) -> bool {
        self.queue.is_durable()
    }
}

/// Writes down the id of each event it ran.
#[derive(Debug, Clone, Default)]
struct Ran(Arc<Mutex<Vec<String>>>);

impl WebhookListener for Ran {
    type Error = std::convert::Infallible;

    fn source(&self) -> &str {
        "github"
    }

    fn event(&self) -> &str {
        "push"
    }

    async fn handle(&self, event: &WebhookEvent) -> Result<(), Self::Error> {
        self.0.lock().unwrap().push(event.id().to_owned());
        Ok(())
    }
}

fn delivery(id: &str) -> Headers {
    Headers::new()
        .with("X-GitHub-Event", "push")
        .with("X-GitHub-Delivery", id)
        .with(
            "X-Hub-Signature-256",
            &GitHubSignatureValidator::sign(SECRET.as_bytes(), BODY),
        )
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn one_worker_runs_the_next_job_while_the_last_one_is_settled() {
    let gate = Arc::new(Semaphore::new(0));
    let acked = Arc::new(AtomicUsize::new(0));
    let ran = Ran::default();
    let processor = WebhookProcessor::builder()
        .register_validator("github", GitHubSignatureValidator::new(SECRET).unwrap())
        .registered_listeners(false)
        .listener(ran.clone())
        .queue(GatedAcks {
            queue: Arc::new(InMemoryEventQueue::new()),
            gate: Arc::clone(&gate),
            acked: Arc::clone(&acked),
        })
        .dispatch(Dispatch {
            mode: DispatchMode::Queued,
            workers: Some(1),
            ..Dispatch::default()
        })
        .build()
        .unwrap();
    for id in ["a", "b"] {
        let answer = processor.process("github", BODY, delivery(id)).await;
        assert_eq!(answer.unwrap(), Processed::Accepted { id: id.into() });
    }
    let ran_both = || ran.0.lock().unwrap().len() == 2;
    until("both jobs ran while no ack could pass", ran_both).await;
    assert_eq!(*ran.0.lock().unwrap(), ["a", "b"]);

    gate.add_permits(2);
    until("both jobs were acked", || acked.load(Ordering::SeqCst) == 2).await;
    processor.shutdown().await;
}
