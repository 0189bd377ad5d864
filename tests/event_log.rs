//! The event log as the lifecycle writes it, on the in-memory backend: one
//! record per event whatever its redeliveries, each run's outcome in both
//! dispatch modes, replays, the bounds, and a log that fails changing no
//! answer.
//!
//! Waits are bounded (hang guards); nothing asserts how long anything took.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use webhooks::config::{DispatchConfig, DispatchMode, EventLogConfig};
use webhooks::event_log::{
    EventLog, EventPage, EventQuery, EventRecord, Received, ReplayError, RunRecord,
};
use webhooks::{
    BoxError, EventStatus, GitHubSignatureValidator, ProcessError, Processed, StoreError,
    WebhookEvent, WebhookListener, WebhookProcessor, testing,
};

const SECRET: &str = "event-log-secret";
const PATIENCE: Duration = Duration::from_secs(10);

/// Fails while `failing` is set; counts its runs.
#[derive(Clone, Default)]
struct Flaky {
    failing: Arc<AtomicBool>,
    runs: Arc<AtomicU32>,
}

impl WebhookListener for Flaky {
    type Error = BoxError;

    fn source(&self) -> &str {
        "github"
    }

    fn event(&self) -> &str {
        "push"
    }

    async fn handle(&self, _: &WebhookEvent) -> Result<(), BoxError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err("the database said no".into());
        }
        Ok(())
    }

    fn name(&self) -> &str {
        "flaky"
    }
}

fn builder(listener: &Flaky) -> webhooks::ProcessorBuilder {
    WebhookProcessor::builder()
        .registered_listeners(false)
        .register_validator("github", GitHubSignatureValidator::new(SECRET).unwrap())
        .listener(listener.clone())
}

fn queued() -> DispatchConfig {
    DispatchConfig {
        mode: DispatchMode::Queued,
        max_attempts: 2,
        backoff_initial_ms: 10,
        workers: Some(2),
        ..DispatchConfig::default()
    }
}

fn push(id: &str) -> testing::SignedEvent {
    testing::github(SECRET, "push", r#"{"ref":"refs/heads/main"}"#)
        .with_header("X-GitHub-Delivery", id)
        .with_header("Authorization", "Bearer not-for-the-log")
}

async fn record(processor: &WebhookProcessor, id: &str) -> EventRecord {
    processor
        .event("github", id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no record of {id}"))
}

/// Waits until the record of `id` is in `status`.
async fn until_status(processor: &WebhookProcessor, id: &str, status: EventStatus) -> EventRecord {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let record = processor.event("github", id).await.unwrap();
        if let Some(record) = record.filter(|r| r.status == status) {
            return record;
        }
        assert!(Instant::now() < deadline, "{id} never became {status}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn an_inline_event_is_recorded_once_with_its_listener_and_its_redeliveries() {
    let listener = Flaky::default();
    let processor = builder(&listener).build().unwrap();
    let answer = push("d-ok").send_to(&processor, "github").await.unwrap();
    assert_eq!(answer, Processed::Accepted { id: "d-ok".into() });
    let again = push("d-ok").send_to(&processor, "github").await.unwrap();
    assert_eq!(again, Processed::Duplicate { id: "d-ok".into() });

    let record = record(&processor, "d-ok").await;
    assert_eq!(record.status, EventStatus::Succeeded);
    assert_eq!(
        (record.attempts, record.redeliveries, record.replays),
        (1, 1, 0)
    );
    assert_eq!(record.event_type, "push");
    assert!(record.finished_at.is_some());
    assert_eq!(record.listeners.len(), 1);
    assert_eq!(&*record.listeners[0].listener, "flaky");
    assert!(record.listeners[0].ok);
    assert_eq!(
        record.body.as_deref(),
        Some(&br#"{"ref":"refs/heads/main"}"#[..])
    );
    let headers = record.headers.unwrap();
    assert!(headers.contains("x-github-event: push"), "{headers}");
    assert!(
        !headers.to_lowercase().contains("authorization"),
        "{headers}"
    );
    assert!(!headers.contains("not-for-the-log"), "{headers}");

    let page = processor
        .events(&EventQuery::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.events.len(), 1, "a duplicate makes no second record");
    assert_eq!(page.events[0].body, None, "listings carry no body");
}

#[tokio::test]
async fn an_inline_failure_is_failed_then_the_providers_retry_succeeds() {
    let listener = Flaky::default();
    listener.failing.store(true, Ordering::SeqCst);
    let processor = builder(&listener).build().unwrap();
    let failed = push("d-fail").send_to(&processor, "github").await;
    assert!(matches!(failed, Err(ProcessError::ListenerFailed { .. })));
    let record = record(&processor, "d-fail").await;
    assert_eq!(record.status, EventStatus::Failed);
    assert_eq!(record.error.as_deref(), Some("the database said no"));
    assert_eq!(
        record.listeners[0].error.as_deref(),
        Some("the database said no")
    );

    listener.failing.store(false, Ordering::SeqCst);
    push("d-fail").send_to(&processor, "github").await.unwrap();
    let record = self::record(&processor, "d-fail").await;
    assert_eq!(record.status, EventStatus::Succeeded);
    assert_eq!((record.attempts, record.redeliveries), (2, 1));
    assert_eq!(record.error, None);
    assert!(record.listeners[0].ok);
}

#[tokio::test]
async fn an_inline_replay_runs_the_listeners_again_whatever_the_dedupe_says() {
    let listener = Flaky::default();
    let processor = builder(&listener).build().unwrap();
    push("d-replay")
        .send_to(&processor, "github")
        .await
        .unwrap();
    let before = processor.replay("github", "d-replay").await.unwrap();
    assert_eq!(before.status, EventStatus::Succeeded);
    let record = until_status(&processor, "d-replay", EventStatus::Succeeded).await;
    // The replay's run is recorded once it ended.
    let deadline = Instant::now() + PATIENCE;
    let mut record = record;
    while record.attempts < 2 {
        assert!(Instant::now() < deadline, "the replay never ran");
        tokio::time::sleep(Duration::from_millis(10)).await;
        record = self::record(&processor, "d-replay").await;
    }
    assert_eq!(listener.runs.load(Ordering::SeqCst), 2);
    assert_eq!((record.attempts, record.replays), (2, 1));
    let missing = processor.replay("github", "nope").await;
    assert!(matches!(missing, Err(ReplayError::NotFound)));
}

#[tokio::test]
async fn a_queued_failure_retries_then_dies_and_a_replay_after_the_fix_succeeds() {
    let listener = Flaky::default();
    listener.failing.store(true, Ordering::SeqCst);
    let processor = builder(&listener).dispatch(queued()).build().unwrap();
    push("d-dead").send_to(&processor, "github").await.unwrap();
    let dead = until_status(&processor, "d-dead", EventStatus::Dead).await;
    assert_eq!(dead.attempts, 2);
    let reason = dead.error.unwrap();
    assert!(reason.contains("the database said no"), "{reason}");
    assert!(reason.contains("flaky"), "{reason}");
    let dead_only = EventQuery::default().status(EventStatus::Dead);
    let page = processor.events(&dead_only).await.unwrap().unwrap();
    assert_eq!(page.events.len(), 1);

    listener.failing.store(false, Ordering::SeqCst);
    processor.replay("github", "d-dead").await.unwrap();
    let fixed = until_status(&processor, "d-dead", EventStatus::Succeeded).await;
    assert_eq!((fixed.attempts, fixed.replays), (3, 1));
    assert_eq!(fixed.error, None);
    let letters = processor.dead_letters().await.unwrap();
    assert!(
        letters.is_empty(),
        "a replayed dead event leaves the dead letters"
    );
    // A replay of an event that is not dead is a new job.
    processor.replay("github", "d-dead").await.unwrap();
    let deadline = Instant::now() + PATIENCE;
    while record(&processor, "d-dead").await.attempts < 4 {
        assert!(Instant::now() < deadline, "the second replay never ran");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(record(&processor, "d-dead").await.replays, 2);
    processor.shutdown().await;
}

#[tokio::test]
async fn a_requeued_dead_letter_is_recorded_as_running_again() {
    let listener = Flaky::default();
    listener.failing.store(true, Ordering::SeqCst);
    let processor = builder(&listener).dispatch(queued()).build().unwrap();
    push("d-requeue")
        .send_to(&processor, "github")
        .await
        .unwrap();
    until_status(&processor, "d-requeue", EventStatus::Dead).await;
    listener.failing.store(false, Ordering::SeqCst);
    assert!(
        processor
            .requeue_dead_event("github", "d-requeue")
            .await
            .unwrap()
    );
    let done = until_status(&processor, "d-requeue", EventStatus::Succeeded).await;
    assert_eq!(done.replays, 1);
    assert!(
        !processor
            .requeue_dead_event("github", "d-requeue")
            .await
            .unwrap()
    );
    processor.shutdown().await;
}

#[tokio::test]
async fn without_bodies_the_metadata_stays_and_a_replay_says_why_not() {
    let listener = Flaky::default();
    let config = EventLogConfig {
        keep_bodies: false,
        ..EventLogConfig::default()
    };
    let processor = builder(&listener).event_log_config(config).build().unwrap();
    push("d-nobody")
        .send_to(&processor, "github")
        .await
        .unwrap();
    let record = record(&processor, "d-nobody").await;
    assert_eq!((record.body, record.headers), (None, None));
    assert_eq!(record.status, EventStatus::Succeeded);
    let replay = processor.replay("github", "d-nobody").await;
    assert!(
        matches!(replay, Err(ReplayError::BodyNotKept)),
        "{replay:?}"
    );
}

#[tokio::test]
async fn the_log_off_records_nothing() {
    let listener = Flaky::default();
    let config = EventLogConfig {
        enabled: false,
        ..EventLogConfig::default()
    };
    let processor = builder(&listener).event_log_config(config).build().unwrap();
    push("d-off").send_to(&processor, "github").await.unwrap();
    assert!(!processor.has_event_log());
    assert!(processor.events(&EventQuery::default()).await.is_none());
    assert!(processor.event("github", "d-off").await.unwrap().is_none());
    let replay = processor.replay("github", "d-off").await;
    assert!(matches!(replay, Err(ReplayError::NoEventLog)));
}

#[tokio::test]
async fn max_events_keeps_the_newest() {
    let listener = Flaky::default();
    let config = EventLogConfig {
        max_events: 3,
        ..EventLogConfig::default()
    };
    let processor = builder(&listener).event_log_config(config).build().unwrap();
    for n in 0..5 {
        push(&format!("d-{n}"))
            .send_to(&processor, "github")
            .await
            .unwrap();
    }
    let page = processor
        .events(&EventQuery::default())
        .await
        .unwrap()
        .unwrap();
    let ids: Vec<_> = page.events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["d-4", "d-3", "d-2"]);
}

/// A log whose every write fails, as a backend that is down would.
#[derive(Debug)]
struct Broken;

impl EventLog for Broken {
    async fn received(&self, _: &Received<'_>) -> Result<(), StoreError> {
        Err(StoreError::new("log down"))
    }
    async fn redelivered(&self, _: &str, _: &str) -> Result<(), StoreError> {
        Err(StoreError::new("log down"))
    }
    async fn ran(&self, _: &str, _: &str, _: &RunRecord) -> Result<(), StoreError> {
        Err(StoreError::new("log down"))
    }
    async fn get(&self, _: &str, _: &str) -> Result<Option<EventRecord>, StoreError> {
        Err(StoreError::new("log down"))
    }
    async fn list(&self, _: &EventQuery) -> Result<EventPage, StoreError> {
        Err(StoreError::new("log down"))
    }
}

fn log_errors(processor: &WebhookProcessor) -> f64 {
    let text = processor.metrics().encode();
    let line = text
        .lines()
        .find(|line| line.starts_with("webhooks_event_log_errors_total"))
        .expect("the counter is exposed");
    line.rsplit_once(' ').unwrap().1.parse().unwrap()
}

#[tokio::test]
async fn a_log_that_fails_changes_no_answer_and_is_counted() {
    for dispatch in [DispatchConfig::default(), queued()] {
        let listener = Flaky::default();
        let processor = builder(&listener)
            .event_log(Broken)
            .dispatch(dispatch)
            .build()
            .unwrap();
        let answer = push("d-broken")
            .send_to(&processor, "github")
            .await
            .unwrap();
        assert_eq!(
            answer,
            Processed::Accepted {
                id: "d-broken".into()
            }
        );
        let again = push("d-broken")
            .send_to(&processor, "github")
            .await
            .unwrap();
        assert_eq!(
            again,
            Processed::Duplicate {
                id: "d-broken".into()
            }
        );
        let deadline = Instant::now() + PATIENCE;
        // received, ran and redelivered each failed (the last two may be
        // written after the answer).
        while log_errors(&processor) < 3.0 {
            assert!(Instant::now() < deadline, "the failures were not counted");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(listener.runs.load(Ordering::SeqCst), 1);
        assert!(
            processor
                .events(&EventQuery::default())
                .await
                .unwrap()
                .is_err()
        );
        processor.shutdown().await;
    }
}
