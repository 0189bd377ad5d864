//! What the lifecycle asks of an [`Intake`]: a claim with the arrival to
//! record (or none), a queued delivery's one step and how its answers are
//! told to the provider, a done job's ack with its run, and no intake at
//! all when it does not fit the processor's log and queue.
//!
//! The intake here keeps the processor's own in-memory store, log and queue
//! and takes the steps one after the other, as the separate traits would,
//! writing down what it was asked; the Redis intake is tested against Redis
//! in the workspace's `tests/redis_intake.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use webhooks_core::config::EventLogConfig;
use webhooks_core::event_log::{Arrival, LogBounds, Received, RunRecord};
use webhooks_core::intake::{Enqueued, Intake};
use webhooks_core::queue::{DeadLetterBounds, JobState, PushError, Reservation, Reserved};
use webhooks_core::{
    Claim, DeadLetter, Dispatch, EventLog, EventQueue, EventRecord, EventStatus,
    GitHubSignatureValidator, Headers, IdempotencyStore, InMemoryEventLog, InMemoryEventQueue,
    InMemoryWebhookEventStore, Lease, ProcessError, Processed, ProcessorBuilder, StoreError,
    WebhookEvent, WebhookListener, WebhookProcessor,
};

const SECRET: &str = "It's a Secret to Everybody";
const BODY: &[u8] = br#"{"zen":"Keep it logically awesome."}"#;
/// Patience for work done after the answer (hang guard, not a timing).
const PATIENCE: Duration = Duration::from_secs(10);

/// An arrival as the intake was given it.
#[derive(Debug, Clone, PartialEq)]
struct Arrived {
    source: String,
    id: String,
    event_type: String,
    arrival: Arrival,
    body: Option<Vec<u8>>,
    headers: Option<String>,
}

impl Arrived {
    fn of(received: &Received<'_>) -> Self {
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
enum Asked {
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
struct Steps(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    store: Arc<InMemoryWebhookEventStore>,
    log: Arc<InMemoryEventLog>,
    queue: Arc<InMemoryEventQueue>,
    records_log: bool,
    queues: bool,
    /// An answer given instead of taking the step, once set.
    enqueue_answer: Mutex<Option<Result<Enqueued, &'static str>>>,
    /// The key is found no longer the lease's when completed, once set.
    complete_lost: std::sync::atomic::AtomicBool,
    ack_fails: bool,
    asked: Mutex<Vec<Asked>>,
}

impl Steps {
    fn new(records_log: bool, queues: bool) -> Self {
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

    fn failing_acks(self) -> Self {
        let shared = Arc::into_inner(self.0).expect("not shared yet");
        Self(Arc::new(Shared {
            ack_fails: true,
            ..shared
        }))
    }

    fn answer_enqueue(&self, answer: Result<Enqueued, &'static str>) {
        *self.0.enqueue_answer.lock().unwrap() = Some(answer);
    }

    fn asked(&self) -> Vec<Asked> {
        self.0.asked.lock().unwrap().clone()
    }

    fn ask(&self, asked: Asked) {
        self.0.asked.lock().unwrap().push(asked);
    }

    /// A processor for `github` with this intake, its store, and (when
    /// `remote_log`) its log as a log other than the in-memory one.
    fn processor(&self, remote_log: bool) -> ProcessorBuilder {
        let builder = WebhookProcessor::builder()
            .register_validator("github", GitHubSignatureValidator::new(SECRET).unwrap())
            .registered_listeners(false)
            .listener(Done::default())
            .store(Arc::clone(&self.0.store))
            .queue(SharedQueue(Arc::clone(&self.0.queue)))
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

/// The intake's queue, given to the processor too.
#[derive(Debug)]
struct SharedQueue(Arc<InMemoryEventQueue>);

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
    async fn ack(&self, held: &Reservation) -> Result<bool, StoreError> {
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

/// A listener of every `github` event that succeeds, counting its runs.
#[derive(Debug, Default, Clone)]
struct Done(Arc<AtomicUsize>);

impl WebhookListener for Done {
    type Error = std::convert::Infallible;

    fn source(&self) -> &str {
        "github"
    }

    fn event(&self) -> &str {
        "*"
    }

    async fn handle(&self, _: &WebhookEvent) -> Result<(), Self::Error> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn no_log() -> EventLogConfig {
    EventLogConfig {
        enabled: false,
        ..EventLogConfig::default()
    }
}

fn without_bodies() -> EventLogConfig {
    EventLogConfig {
        keep_bodies: false,
        ..EventLogConfig::default()
    }
}

fn queued() -> Dispatch {
    Dispatch {
        mode: webhooks_core::config::DispatchMode::Queued,
        queue_capacity: 7,
        ..Dispatch::default()
    }
}

/// A signed GitHub delivery `d-<n>`, with a credential the queue and the
/// log must not keep.
fn delivery(n: u32) -> Headers {
    Headers::new()
        .with("X-GitHub-Event", "push")
        .with("X-GitHub-Delivery", &format!("d-{n}"))
        .with("Authorization", "Bearer not-for-the-log")
        .with(
            "X-Hub-Signature-256",
            &GitHubSignatureValidator::sign(SECRET.as_bytes(), BODY),
        )
}

async fn deliver(processor: &WebhookProcessor, n: u32) -> Result<Processed, ProcessError> {
    processor.process("github", BODY, delivery(n)).await
}

fn accepted(n: u32) -> Processed {
    Processed::Accepted {
        id: format!("d-{n}"),
    }
}

/// The arrival of delivery `n` as the lifecycle records it.
fn arrived(n: u32, with_body: bool) -> Arrived {
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

/// The record of delivery `n` once `done` holds of it (hang guard).
async fn record_once(
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
fn metric(processor: &WebhookProcessor, name: &str) -> f64 {
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

// ---------------------------------------------------------------------------
// Inline: the claim.

#[tokio::test]
async fn inline_without_a_log_the_intake_claims_with_no_arrival() {
    let intake = Steps::new(false, false);
    let processor = intake
        .processor(false)
        .event_log_config(no_log())
        .build()
        .unwrap();
    assert_eq!(deliver(&processor, 1).await.unwrap(), accepted(1));
    assert_eq!(
        intake.asked(),
        [
            Asked::Claim {
                key: "github:d-1".into(),
                lease: Duration::from_secs(45),
                received: None,
            },
            Asked::Complete {
                key: "github:d-1".into(),
                run: None,
            },
        ]
    );
    // The intake's claim is the store's: completed by the lifecycle.
    assert_eq!(
        deliver(&processor, 1).await.unwrap(),
        Processed::Duplicate { id: "d-1".into() }
    );
}

#[tokio::test]
async fn inline_with_a_remote_log_the_claim_carries_the_arrival_and_its_body() {
    let intake = Steps::new(true, false);
    let processor = intake.processor(true).build().unwrap();
    assert_eq!(deliver(&processor, 2).await.unwrap(), accepted(2));
    let [Asked::Claim { received, .. }, Asked::Complete { run, .. }] = &intake.asked()[..] else {
        panic!("{:?}", intake.asked());
    };
    assert_eq!(received.as_ref(), Some(&arrived(2, true)));
    // The run goes with the completion, in the same step.
    let done = Some((
        "github".to_owned(),
        "d-2".to_owned(),
        EventStatus::Succeeded,
    ));
    assert_eq!(run, &done);
    // Recorded by the intake alone: the arrival, then the run.
    let record = record_once(&intake.0.log, 2, |r| r.status == EventStatus::Succeeded).await;
    assert_eq!((record.attempts, record.redeliveries), (1, 0));
}

#[tokio::test]
async fn without_kept_bodies_the_arrival_has_no_body() {
    let intake = Steps::new(true, false);
    let processor = intake
        .processor(true)
        .event_log_config(without_bodies())
        .build()
        .unwrap();
    assert_eq!(deliver(&processor, 3).await.unwrap(), accepted(3));
    let [Asked::Claim { received, .. }, Asked::Complete { .. }] = &intake.asked()[..] else {
        panic!("{:?}", intake.asked());
    };
    assert_eq!(received.as_ref(), Some(&arrived(3, false)));
}

#[tokio::test]
async fn the_intakes_claim_answers_are_the_deliverys() {
    let intake = Steps::new(false, false);
    let processor = intake
        .processor(false)
        .event_log_config(no_log())
        .build()
        .unwrap();
    let store = &intake.0.store;
    let held = store.claim("github:d-4", Duration::from_secs(60)).await;
    assert!(matches!(held, Ok(Claim::Acquired(_))));
    assert!(matches!(
        deliver(&processor, 4).await,
        Err(ProcessError::InProgress { id }) if id == "d-4"
    ));
    assert_eq!(intake.asked().len(), 1);
}

// ---------------------------------------------------------------------------
// Inline, no intake: the steps one by one.

#[tokio::test]
async fn without_an_intake_the_log_records_the_arrival_and_counts_redeliveries() {
    let log = Arc::new(InMemoryEventLog::new(LogBounds::default()));
    let processor = WebhookProcessor::builder()
        .register_validator("github", GitHubSignatureValidator::new(SECRET).unwrap())
        .registered_listeners(false)
        .listener(Done::default())
        .event_log(Arc::clone(&log))
        .build()
        .unwrap();
    assert_eq!(deliver(&processor, 5).await.unwrap(), accepted(5));
    let record = record_once(&log, 5, |r| r.status == EventStatus::Succeeded).await;
    assert_eq!(record.body.as_deref(), Some(BODY));
    assert_eq!(
        deliver(&processor, 5).await.unwrap(),
        Processed::Duplicate { id: "d-5".into() }
    );
    record_once(&log, 5, |r| r.redeliveries == 1).await;
}

// ---------------------------------------------------------------------------
// The fit check: an intake is used only when it writes the log exactly when
// the processor keeps a remote one, and, queued, when it pushes.

#[tokio::test]
async fn an_intake_that_does_not_fit_is_not_used() {
    let unfit: [(bool, bool, bool, Option<Dispatch>); 4] = [
        // It writes a log, but the processor keeps the in-memory one.
        (true, false, false, None),
        // It writes no log, but the processor keeps a remote one.
        (false, false, true, None),
        // Queued, and it does not push.
        (false, false, false, Some(queued())),
        (true, false, true, Some(queued())),
    ];
    for (n, (records_log, queues, remote_log, dispatch)) in (10..).zip(unfit) {
        let intake = Steps::new(records_log, queues);
        let mut builder = intake.processor(remote_log);
        if !records_log && !remote_log {
            builder = builder.event_log_config(no_log());
        }
        if let Some(dispatch) = dispatch {
            builder = builder.dispatch(dispatch);
        }
        let processor = builder.build().unwrap();
        assert_eq!(deliver(&processor, n).await.unwrap(), accepted(n));
        assert_eq!(intake.asked(), [], "case d-{n}");
        processor.shutdown().await;
    }
}

#[tokio::test]
async fn an_intake_that_fits_is_used() {
    let fit: [(bool, bool, bool, Option<Dispatch>); 4] = [
        (false, false, false, None),
        (true, false, true, None),
        // One that pushes serves inline too.
        (true, true, true, None),
        (false, true, false, Some(queued())),
    ];
    for (n, (records_log, queues, remote_log, dispatch)) in (20..).zip(fit) {
        let intake = Steps::new(records_log, queues);
        let mut builder = intake.processor(remote_log);
        if !records_log && !remote_log {
            builder = builder.event_log_config(no_log());
        }
        if let Some(dispatch) = dispatch {
            builder = builder.dispatch(dispatch);
        }
        let processor = builder.build().unwrap();
        assert_eq!(deliver(&processor, n).await.unwrap(), accepted(n));
        let first = intake.asked().first().cloned();
        let taken = matches!(first, Some(Asked::Claim { .. } | Asked::Enqueue { .. }));
        assert!(taken, "case d-{n}: {:?}", intake.asked());
        processor.shutdown().await;
    }
}

// ---------------------------------------------------------------------------
// Queued: one step through the intake.

#[tokio::test]
async fn queued_the_intake_takes_the_delivery_in_one_step_and_acks_with_its_run() {
    let intake = Steps::new(true, true);
    let processor = intake.processor(true).dispatch(queued()).build().unwrap();
    assert_eq!(deliver(&processor, 30).await.unwrap(), accepted(30));
    let record = record_once(&intake.0.log, 30, |r| r.status == EventStatus::Succeeded).await;
    assert_eq!(record.attempts, 1);
    let asked = intake.asked();
    let Asked::Enqueue {
        key,
        ttl,
        capacity,
        headers,
        received,
    } = &asked[0]
    else {
        panic!("{asked:?}");
    };
    assert_eq!(
        (key.as_str(), *ttl, *capacity),
        ("github:d-30", Duration::from_secs(600), 7)
    );
    // What the queue keeps never holds a credential.
    let headers = String::from_utf8_lossy(headers);
    assert!(headers.contains("x-github-delivery: d-30"), "{headers}");
    assert!(!headers.contains("authorization"), "{headers}");
    assert_eq!(received.as_ref(), Some(&arrived(30, true)));
    assert_eq!(
        asked[1..],
        [Asked::Ack {
            run: Some(("github".into(), "d-30".into(), EventStatus::Succeeded)),
        }]
    );
    assert_eq!(metric(&processor, "webhooks_queue_depth"), 0.0);
    // A redelivery: the intake's answer, and nothing queued.
    assert_eq!(
        deliver(&processor, 30).await.unwrap(),
        Processed::Duplicate { id: "d-30".into() }
    );
    processor.shutdown().await;
}

#[tokio::test]
async fn queued_without_a_log_the_intake_is_given_no_arrival_and_no_run() {
    let intake = Steps::new(false, true);
    let processor = intake
        .processor(false)
        .event_log_config(no_log())
        .dispatch(queued())
        .build()
        .unwrap();
    assert_eq!(deliver(&processor, 31).await.unwrap(), accepted(31));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while intake.asked().len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            intake.asked()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let asked = intake.asked();
    assert!(
        matches!(&asked[0], Asked::Enqueue { received: None, .. }),
        "{asked:?}"
    );
    assert_eq!(asked[1], Asked::Ack { run: None });
    processor.shutdown().await;
}

#[tokio::test]
async fn queued_the_intakes_other_answers_are_the_deliverys() {
    let intake = Steps::new(true, true);
    let processor = intake.processor(true).dispatch(queued()).build().unwrap();
    let answers = [
        (
            Ok(Enqueued::Completed),
            Ok(Processed::Duplicate { id: "d-40".into() }),
        ),
        (Ok(Enqueued::InProgress), Err("in progress")),
        (Err("down"), Err("unavailable")),
    ];
    for (answer, expected) in answers {
        intake.answer_enqueue(answer);
        let processed = deliver(&processor, 40).await;
        match (expected, processed) {
            (Ok(expected), Ok(processed)) => assert_eq!(expected, processed),
            (Err("in progress"), Err(ProcessError::InProgress { id })) => assert_eq!(id, "d-40"),
            (Err("unavailable"), Err(ProcessError::Unavailable(_))) => {}
            (expected, processed) => panic!("{expected:?}: {processed:?}"),
        }
        // Counted while it was being queued, and no more.
        assert_eq!(metric(&processor, "webhooks_queue_depth"), 0.0);
    }
    processor.shutdown().await;
}

#[tokio::test]
async fn queued_a_full_queue_is_503_and_recorded_as_failed() {
    let intake = Steps::new(true, true);
    let processor = intake.processor(true).dispatch(queued()).build().unwrap();
    intake.answer_enqueue(Ok(Enqueued::Full));
    assert!(matches!(
        deliver(&processor, 41).await,
        Err(ProcessError::QueueFull)
    ));
    assert_eq!(metric(&processor, "webhooks_queue_depth"), 0.0);
    let record = record_once(&intake.0.log, 41, |r| r.status == EventStatus::Failed).await;
    let error = record.error.unwrap_or_default();
    assert!(error.contains("queue full"), "{error}");
    processor.shutdown().await;
}

#[tokio::test]
async fn queued_an_ack_that_fails_is_counted_as_a_log_error() {
    let intake = Steps::new(true, true).failing_acks();
    let processor = intake.processor(true).dispatch(queued()).build().unwrap();
    assert_eq!(deliver(&processor, 50).await.unwrap(), accepted(50));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while metric(&processor, "webhooks_event_log_errors_total") < 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            intake.asked()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    processor.shutdown().await;
}

#[tokio::test]
async fn inline_a_claim_lost_at_completion_is_503_and_recorded_with_why() {
    let intake = Steps::new(true, false);
    intake.0.complete_lost.store(true, Ordering::Relaxed);
    let processor = intake.processor(true).build().unwrap();
    assert!(matches!(
        deliver(&processor, 40).await,
        Err(ProcessError::ClaimLost { .. })
    ));
    // Nothing was written by the step that did not take: the lifecycle
    // records the run, with why, itself.
    let record = record_once(&intake.0.log, 40, |r| r.error.is_some()).await;
    assert_eq!(record.status, EventStatus::Succeeded);
    assert!(record.error.unwrap().contains("claim lost"));
    assert_eq!(record.listeners.len(), 1, "the listener's run is kept");
}
