//! What the intake tests share: an intake over the processor's own
//! in-memory store, log and queue that writes down what it was asked, and
//! deliveries to give it.
#![allow(dead_code, reason = "each test file uses part of it")]

pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};
pub(crate) use std::sync::{Arc, Mutex};
pub(crate) use std::time::{Duration, SystemTime};

pub(crate) use webhooks_core::config::EventLogConfig;
pub(crate) use webhooks_core::event_log::{Arrival, LogBounds, Received, RunRecord};
pub(crate) use webhooks_core::intake::{Enqueued, Intake};
pub(crate) use webhooks_core::queue::{
    DeadLetterBounds, JobState, PushError, Reservation, Reserved,
};
pub(crate) use webhooks_core::{
    Claim, DeadLetter, Dispatch, EventLog, EventQueue, EventRecord, EventStatus,
    GitHubSignatureValidator, Headers, IdempotencyStore, InMemoryEventLog, InMemoryEventQueue,
    InMemoryWebhookEventStore, Lease, ProcessError, Processed, ProcessorBuilder, StoreError,
    WebhookEvent, WebhookListener, WebhookProcessor,
};

pub(crate) const SECRET: &str = "It's a Secret to Everybody";
pub(crate) const BODY: &[u8] = br#"{"zen":"Keep it logically awesome."}"#;
/// Patience for work done after the answer (hang guard, not a timing).
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// An arrival as the intake was given it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Arrived {
    pub(crate) source: String,
    pub(crate) id: String,
    pub(crate) event_type: String,
    pub(crate) arrival: Arrival,
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) headers: Option<String>,
}

impl Arrived {
    pub(crate) fn of(received: &Received<'_>) -> Self {
        Self {
            source: received.source.into(),
            id: received.id.into(),
            event_type: received.event_type.into(),
            arrival: received.arrival,
            body: received.body.map(<[u8]>::to_vec),
            headers: received
                .headers
                .map(|lines| String::from_utf8_lossy(lines).into_owned()),
        }
    }
}

/// What the lifecycle asked of the intake.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Asked {
    Claim {
        key: String,
        lease: Duration,
        received: Option<Arrived>,
    },
    Enqueue {
        key: String,
        ttl: Duration,
        capacity: usize,
        headers: Vec<u8>,
        received: Option<Arrived>,
    },
    Complete {
        key: String,
        run: Option<(String, String, EventStatus)>,
    },
    Ack {
        run: Option<(String, String, EventStatus)>,
    },
}

/// An intake over the processor's in-memory store, log and queue.
#[derive(Debug, Clone)]
pub(crate) struct Steps(pub(crate) Arc<Shared>);

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Arc<InMemoryWebhookEventStore>,
    pub(crate) log: Arc<InMemoryEventLog>,
    pub(crate) queue: Arc<InMemoryEventQueue>,
    pub(crate) records_log: bool,
    pub(crate) queues: bool,
    /// An answer given instead of taking the step, once set.
    pub(crate) enqueue_answer: Mutex<Option<Result<Enqueued, &'static str>>>,
    /// The key is found no longer the lease's when completed, once set.
    pub(crate) complete_lost: std::sync::atomic::AtomicBool,
    pub(crate) ack_fails: bool,
    pub(crate) asked: Mutex<Vec<Asked>>,
}

impl Steps {
    pub(crate) fn new(records_log: bool, queues: bool) -> Self {
        Self(Arc::new(Shared {
            store: Arc::new(InMemoryWebhookEventStore::new()),
            log: Arc::new(InMemoryEventLog::new(LogBounds::default())),
            queue: Arc::new(InMemoryEventQueue::new()),
            records_log,
            queues,
            enqueue_answer: Mutex::new(None),
            complete_lost: std::sync::atomic::AtomicBool::new(false),
            ack_fails: false,
            asked: Mutex::new(Vec::new()),
        }))
    }

    pub(crate) fn failing_acks(self) -> Self {
        let shared = Arc::into_inner(self.0).expect("not shared yet");
        Self(Arc::new(Shared {
            ack_fails: true,
            ..shared
        }))
    }

    pub(crate) fn answer_enqueue(&self, answer: Result<Enqueued, &'static str>) {
        *self.0.enqueue_answer.lock().unwrap() = Some(answer);
    }

    pub(crate) fn asked(&self) -> Vec<Asked> {
        self.0.asked.lock().unwrap().clone()
    }

    pub(crate) fn ask(&self, asked: Asked) {
        self.0.asked.lock().unwrap().push(asked);
    }

    /// A processor for `github` with this intake, its store, and (when
    /// `remote_log`) its log as a log other than the in-memory one.
    pub(crate) fn processor(&self, remote_log: bool) -> ProcessorBuilder {
        let builder = WebhookProcessor::builder()
            .register_validator("github", GitHubSignatureValidator::new(SECRET).unwrap())
            .registered_listeners(false)
            .listener(Done::default())
            .store(Arc::clone(&self.0.store))
            .queue(SharedQueue(Arc::clone(&self.0.queue), None))
            .idempotency_ttl(Duration::from_secs(600))
            .claim_lease(Duration::from_secs(45))
            .intake(self.clone());
        if remote_log {
            builder.event_log(Arc::clone(&self.0.log))
        } else {
            builder
        }
    }
}

impl Intake for Steps {
    async fn claim(
        &self,
        key: &str,
        lease: Duration,
        received: Option<&Received<'_>>,
    ) -> Result<Claim, StoreError> {
        self.ask(Asked::Claim {
            key: key.into(),
            lease,
            received: received.map(Arrived::of),
        });
        let claim = self.0.store.claim(key, lease).await?;
        if let (Claim::Acquired(_), Some(received)) = (&claim, received) {
            self.0.log.received(received).await?;
        }
        Ok(claim)
    }

    async fn complete(
        &self,
        key: &str,
        lease: &Lease,
        ttl: Duration,
        run: Option<(&str, &str, &RunRecord)>,
    ) -> Result<bool, StoreError> {
        self.ask(Asked::Complete {
            key: key.into(),
            run: run.map(|(source, id, run)| (source.into(), id.into(), run.status)),
        });
        if self.0.complete_lost.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let completed = self.0.store.complete(key, lease, ttl).await?;
        if let (true, Some((source, id, run))) = (completed, run) {
            self.0.log.ran(source, id, run).await?;
        }
        Ok(completed)
    }

    async fn enqueue(
        &self,
        key: &str,
        ttl: Duration,
        capacity: usize,
        event: &WebhookEvent,
        received: Option<&Received<'_>>,
    ) -> Result<Enqueued, StoreError> {
        self.ask(Asked::Enqueue {
            key: key.into(),
            ttl,
            capacity,
            headers: event.headers().to_lines(),
            received: received.map(Arrived::of),
        });
        let answer = self.0.enqueue_answer.lock().unwrap().take();
        if let Some(answer) = answer {
            if let Some(received) = received {
                self.0.log.received(received).await?;
            }
            return answer.map_err(StoreError::new);
        }
        let lease = match self.0.store.claim(key, ttl).await? {
            Claim::Acquired(lease) => lease,
            Claim::InProgress => return Ok(Enqueued::InProgress),
            Claim::Completed => return Ok(Enqueued::Completed),
        };
        if let Some(received) = received {
            self.0.log.received(received).await?;
        }
        match self.0.queue.push(event.clone(), capacity).await {
            Ok(()) => {
                self.0.store.complete(key, &lease, ttl).await?;
                Ok(Enqueued::Queued)
            }
            Err(PushError::Full) => {
                self.0.store.release(key, &lease).await?;
                Ok(Enqueued::Full)
            }
            Err(PushError::Unavailable(error)) => Err(error),
            Err(error) => Err(StoreError::new(error)),
        }
    }

    async fn ack(
        &self,
        reservation: &Reservation,
        run: Option<(&str, &str, &RunRecord)>,
    ) -> Result<bool, StoreError> {
        self.ask(Asked::Ack {
            run: run.map(|(source, id, run)| (source.into(), id.into(), run.status)),
        });
        if self.0.ack_fails {
            return Err(StoreError::new("the ack's round trip failed"));
        }
        let acked = self.0.queue.ack(reservation).await?;
        if let (true, Some((source, id, run))) = (acked, run) {
            self.0.log.ran(source, id, run).await?;
        }
        Ok(acked)
    }

    fn records_log(&self) -> bool {
        self.0.records_log
    }

    fn queues(&self) -> bool {
        self.0.queues
    }
}

/// The intake's queue, given to the processor too; with a gate, each ack
/// waits for a permit of it (and uses it up).
#[derive(Debug)]
pub(crate) struct SharedQueue(
    pub(crate) Arc<InMemoryEventQueue>,
    pub(crate) Option<Arc<tokio::sync::Semaphore>>,
);

impl EventQueue for SharedQueue {
    async fn push(&self, event: WebhookEvent, capacity: usize) -> Result<(), PushError> {
        self.0.push(event, capacity).await
    }
    async fn reserve(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Reserved>, StoreError> {
        self.0.reserve(max, visibility, wait).await
    }
    async fn renew(&self, held: &Reservation, visibility: Duration) -> Result<bool, StoreError> {
        self.0.renew(held, visibility).await
    }
    async fn renew_all(
        &self,
        holds: &[&Reservation],
        visibility: Duration,
    ) -> Result<Vec<bool>, StoreError> {
        self.0.renew_all(holds, visibility).await
    }
    async fn ack(&self, held: &Reservation) -> Result<bool, StoreError> {
        if let Some(gate) = &self.1 {
            gate.acquire().await.expect("never closed").forget();
        }
        self.0.ack(held).await
    }
    async fn retry_at(
        &self,
        held: &Reservation,
        due: SystemTime,
        state: &JobState,
    ) -> Result<bool, StoreError> {
        self.0.retry_at(held, due, state).await
    }
    async fn dead(
        &self,
        held: &Reservation,
        state: &JobState,
        reason: &str,
        bounds: DeadLetterBounds,
    ) -> Result<bool, StoreError> {
        self.0.dead(held, state, reason, bounds).await
    }
    async fn hand_back(&self, held: &Reservation) -> Result<(), StoreError> {
        self.0.hand_back(held).await
    }
    async fn dead_letters(&self, source: Option<&str>) -> Result<Vec<DeadLetter>, StoreError> {
        self.0.dead_letters(source).await
    }
    async fn requeue(&self, id: &str) -> Result<bool, StoreError> {
        self.0.requeue(id).await
    }
    async fn close(&self) -> Result<Vec<String>, StoreError> {
        self.0.close().await
    }
    fn is_durable(&self) -> bool {
        self.0.is_durable()
    }
}

/// A listener of every `github` event that succeeds, counting its runs;
/// it runs for the second field's time (by default none: it finishes on
/// its first poll).
#[derive(Debug, Default, Clone)]
pub(crate) struct Done(pub(crate) Arc<AtomicUsize>, pub(crate) Duration);

impl WebhookListener for Done {
    type Error = std::convert::Infallible;

    fn source(&self) -> &str {
        "github"
    }

    fn event(&self) -> &str {
        "*"
    }

    async fn handle(&self, _: &WebhookEvent) -> Result<(), Self::Error> {
        if !self.1.is_zero() {
            tokio::time::sleep(self.1).await;
        }
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

pub(crate) fn no_log() -> EventLogConfig {
    EventLogConfig {
        enabled: false,
        ..EventLogConfig::default()
    }
}

pub(crate) fn without_bodies() -> EventLogConfig {
    EventLogConfig {
        keep_bodies: false,
        ..EventLogConfig::default()
    }
}

pub(crate) fn queued() -> Dispatch {
    Dispatch {
        mode: webhooks_core::config::DispatchMode::Queued,
        queue_capacity: 7,
        ..Dispatch::default()
    }
}

/// A signed GitHub delivery `d-<n>`, with a credential the queue and the
/// log must not keep.
pub(crate) fn delivery(n: u32) -> Headers {
    Headers::new()
        .with("X-GitHub-Event", "push")
        .with("X-GitHub-Delivery", &format!("d-{n}"))
        .with("Authorization", "Bearer not-for-the-log")
        .with(
            "X-Hub-Signature-256",
            &GitHubSignatureValidator::sign(SECRET.as_bytes(), BODY),
        )
}

pub(crate) async fn deliver(
    processor: &WebhookProcessor,
    n: u32,
) -> Result<Processed, ProcessError> {
    processor.process("github", BODY, delivery(n)).await
}

pub(crate) fn accepted(n: u32) -> Processed {
    Processed::Accepted {
        id: format!("d-{n}"),
    }
}

/// The arrival of delivery `n` as the lifecycle records it.
pub(crate) fn arrived(n: u32, with_body: bool) -> Arrived {
    Arrived {
        source: "github".into(),
        id: format!("d-{n}"),
        event_type: "push".into(),
        arrival: Arrival::Delivery,
        body: with_body.then(|| BODY.to_vec()),
        headers: with_body.then(|| {
            String::from_utf8(delivery(n).to_lines())
                .unwrap()
                .lines()
                .filter(|line| !line.starts_with("authorization"))
                .map(|line| format!("{line}\r\n"))
                .collect()
        }),
    }
}

/// Waits until `done` holds (hang guard).
pub(crate) async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The record of delivery `n` once `done` holds of it (hang guard).
pub(crate) async fn record_once(
    log: &InMemoryEventLog,
    n: u32,
    done: impl Fn(&EventRecord) -> bool,
) -> EventRecord {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let record = log.get("github", &format!("d-{n}")).await.unwrap();
        match record {
            Some(record) if done(&record) => return record,
            _ if tokio::time::Instant::now() > deadline => panic!("d-{n}: {record:?}"),
            _ => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// The value of the series `name` in `metrics` (0 when absent).
pub(crate) fn metric(processor: &WebhookProcessor, name: &str) -> f64 {
    processor
        .metrics()
        .encode()
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| series.split('{').next() == Some(name))
        .map(|(_, value)| value.parse::<f64>().unwrap())
        .sum()
}
