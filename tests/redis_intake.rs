//! The Redis intake: each delivery's claim, arrival record and (queued)
//! push and completion in one script, against a `redis-server` of the
//! test's own, checked in Redis itself: what the script wrote, and that it
//! was one command.
#![cfg(feature = "redis")]

mod redis_harness;

use std::time::Duration;

use redis_harness::RedisServer;
use webhooks::event_log::{
    Arrival, EventLog, EventStatus, ListenerRun, LogBounds, Received, RunRecord,
};
use webhooks::intake::{Enqueued, Intake};
use webhooks::redis::{RedisEventLog, RedisEventQueue, RedisIntake, RedisWebhookEventStore};
use webhooks::{Claim, EventQueue, IdempotencyStore, WebhookEvent};

const PREFIX: &str = "intake-test";
const LEASE: Duration = Duration::from_secs(60);
const TTL: Duration = Duration::from_secs(3600);

struct Backend {
    server: RedisServer,
    store: RedisWebhookEventStore,
    queue: RedisEventQueue,
    log: RedisEventLog,
    intake: RedisIntake,
}

async fn backend(with_log: bool) -> Backend {
    let server = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .expect("start redis-server");
    let url = server.url();
    let store = RedisWebhookEventStore::connect(&url, PREFIX)
        .await
        .expect("connect");
    let queue = RedisEventQueue::lazy(&url, PREFIX).expect("queue");
    let log = RedisEventLog::lazy(&url, PREFIX, LogBounds::default()).expect("log");
    let intake = RedisIntake::new(&store, Some(&queue), with_log.then_some(&log))
        .expect("one server: an intake");
    Backend {
        server,
        store,
        queue,
        log,
        intake,
    }
}

fn event(id: &str) -> WebhookEvent {
    WebhookEvent::new("github", "push", id, &b"{\"ref\":\"main\"}"[..])
}

fn arrival(event: &WebhookEvent) -> Received<'_> {
    Received::new(
        event.source(),
        event.id(),
        event.event_type(),
        event.received_at(),
        Arrival::Delivery,
    )
}

impl Backend {
    fn cli(&self, args: &[&str]) -> String {
        self.server.cli(args).trim().to_owned()
    }

    fn stream_len(&self) -> String {
        self.cli(&["XLEN", &format!("{PREFIX}:{{queue}}:stream")])
    }

    fn idem(&self, key: &str) -> String {
        self.cli(&["GET", &format!("{PREFIX}:idem:{{{key}}}")])
    }

    /// The commands clients sent while `work` ran, by name: read with
    /// `MONITOR`, which marks the commands a script ran as `lua`'s.
    async fn commands_sent(&self, work: impl std::future::Future<Output = ()>) -> Vec<String> {
        use std::io::{BufRead as _, BufReader};
        let mut monitor = std::process::Command::new("redis-cli")
            .args(["-p", &self.server.port().to_string(), "monitor"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run redis-cli monitor");
        let mut lines = BufReader::new(monitor.stdout.take().expect("piped"));
        let mut first = String::new();
        lines.read_line(&mut first).expect("monitor answers");
        assert_eq!(first.trim(), "OK", "monitor started");
        work.await;
        // A marker after the work: everything before it was the work's.
        self.cli(&["ECHO", "end-of-work"]);
        let mut sent = Vec::new();
        for line in lines.lines() {
            let line = line.expect("monitor output");
            if line.contains("\"end-of-work\"") {
                break;
            }
            if line.contains(" lua]") {
                continue;
            }
            let command = line.split('"').nth(1).expect("a quoted command name");
            sent.push(command.to_ascii_lowercase());
        }
        let _ = monitor.kill();
        let _ = monitor.wait();
        sent
    }

    async fn enqueue(&self, event: &WebhookEvent, capacity: usize) -> Enqueued {
        let received = arrival(event);
        self.intake
            .enqueue(
                &format!("github:{}", event.id()),
                TTL,
                capacity,
                event,
                Some(&received),
            )
            .await
            .expect("redis answers")
    }
}

#[tokio::test]
async fn a_queued_delivery_is_claimed_recorded_pushed_and_completed_by_one_command() {
    let backend = backend(true).await;
    // The first run loads the script (`NOSCRIPT`, then `EVAL`).
    assert_eq!(
        backend.enqueue(&event("warm-up"), 100).await,
        Enqueued::Queued
    );
    let sent = backend
        .commands_sent(async {
            assert_eq!(backend.enqueue(&event("d-1"), 100).await, Enqueued::Queued);
        })
        .await;

    assert_eq!(sent, ["evalsha"]);
    assert_eq!(backend.idem("github:d-1"), "done");
    assert_eq!(backend.stream_len(), "2");
    let record = backend
        .log
        .get("github", "d-1")
        .await
        .expect("log answers")
        .expect("recorded");
    assert_eq!(record.status, EventStatus::Processing);
    assert_eq!(record.event_type, "push");
    // The job a worker reserves is the event pushed.
    let reserved = backend
        .queue
        .reserve(10, Duration::from_secs(30), Duration::ZERO)
        .await
        .expect("reserve");
    let ids: Vec<&str> = reserved.iter().map(|job| job.event.id()).collect();
    assert_eq!(ids, ["warm-up", "d-1"]);
    assert_eq!(&reserved[1].event.body()[..], b"{\"ref\":\"main\"}");
}

#[tokio::test]
async fn a_redelivery_changes_nothing_but_its_count() {
    let backend = backend(true).await;
    assert_eq!(backend.enqueue(&event("d-1"), 100).await, Enqueued::Queued);
    assert_eq!(
        backend.enqueue(&event("d-1"), 100).await,
        Enqueued::Completed
    );
    assert_eq!(
        backend.enqueue(&event("d-1"), 100).await,
        Enqueued::Completed
    );

    assert_eq!(backend.stream_len(), "1");
    let record = backend.log.get("github", "d-1").await.unwrap().unwrap();
    assert_eq!(
        (record.redeliveries, record.status),
        (2, EventStatus::Processing)
    );
}

#[tokio::test]
async fn a_key_held_by_a_claim_is_in_progress_and_nothing_is_pushed() {
    let backend = backend(true).await;
    let Claim::Acquired(_) = backend.store.claim("github:d-1", LEASE).await.unwrap() else {
        panic!("a free key is acquired");
    };
    assert_eq!(
        backend.enqueue(&event("d-1"), 100).await,
        Enqueued::InProgress
    );
    assert_eq!(backend.stream_len(), "0");
    assert_ne!(backend.idem("github:d-1"), "done");
}

#[tokio::test]
async fn a_full_queue_takes_nothing_and_leaves_the_key_free_for_the_retry() {
    let backend = backend(true).await;
    assert_eq!(backend.enqueue(&event("d-1"), 1).await, Enqueued::Queued);
    assert_eq!(backend.enqueue(&event("d-2"), 1).await, Enqueued::Full);

    assert_eq!(backend.stream_len(), "1");
    assert_eq!(backend.idem("github:d-2"), "");
    // Recorded, so the lifecycle can record why it was refused.
    let record = backend.log.get("github", "d-2").await.unwrap();
    assert!(record.is_some(), "the refused arrival is recorded");
    // The provider's retry, once there is room, is queued.
    backend
        .queue
        .reserve(1, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap()
        .into_iter()
        .for_each(drop);
    assert_eq!(backend.enqueue(&event("d-2"), 2).await, Enqueued::Queued);
}

#[tokio::test]
async fn of_concurrent_deliveries_of_one_event_exactly_one_is_queued() {
    let backend = std::sync::Arc::new(backend(true).await);
    let mut deliveries = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let backend = std::sync::Arc::clone(&backend);
        deliveries.spawn(async move { backend.enqueue(&event("d-1"), 1000).await });
    }
    let answers = deliveries.join_all().await;
    let queued = answers.iter().filter(|a| **a == Enqueued::Queued).count();
    assert_eq!(queued, 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Enqueued::Queued | Enqueued::Completed))
    );
    assert_eq!(backend.stream_len(), "1");
    let record = backend.log.get("github", "d-1").await.unwrap().unwrap();
    assert_eq!(record.redeliveries, 63);
}

#[tokio::test]
async fn an_inline_claim_is_the_stores_and_records_the_arrival_in_the_same_command() {
    let backend = backend(true).await;
    let first = event("d-1");
    assert!(matches!(
        backend
            .intake
            .claim("github:warm-up", LEASE, None)
            .await
            .unwrap(),
        Claim::Acquired(_)
    ));
    let mut claimed = None;
    let sent = backend
        .commands_sent(async {
            let received = arrival(&first);
            claimed = Some(
                backend
                    .intake
                    .claim("github:d-1", LEASE, Some(&received))
                    .await,
            );
        })
        .await;
    assert_eq!(sent, ["evalsha"]);
    let Some(Ok(Claim::Acquired(lease))) = claimed else {
        panic!("a free key is acquired: {claimed:?}");
    };
    let record = backend.log.get("github", "d-1").await.unwrap().unwrap();
    assert_eq!(record.status, EventStatus::Processing);

    // Held: in progress, and counted.
    let received = arrival(&first);
    let again = backend.intake.claim("github:d-1", LEASE, Some(&received));
    assert_eq!(again.await.unwrap(), Claim::InProgress);
    // The lease is the store's: it renews and completes the key.
    assert!(
        backend
            .store
            .renew("github:d-1", &lease, LEASE)
            .await
            .unwrap()
    );
    assert!(
        backend
            .store
            .complete("github:d-1", &lease, TTL)
            .await
            .unwrap()
    );
    let done = backend.intake.claim("github:d-1", LEASE, Some(&received));
    assert_eq!(done.await.unwrap(), Claim::Completed);
    let record = backend.log.get("github", "d-1").await.unwrap().unwrap();
    assert_eq!(record.redeliveries, 2);
}

#[tokio::test]
async fn without_a_log_the_intake_writes_no_record() {
    let backend = backend(false).await;
    assert!(!backend.intake.records_log());
    let one = event("d-1");
    let received = arrival(&one);
    let answer = backend
        .intake
        .enqueue("github:d-1", TTL, 100, &one, Some(&received))
        .await
        .unwrap();
    assert_eq!(answer, Enqueued::Queued);
    assert_eq!(backend.stream_len(), "1");
    assert!(backend.log.get("github", "d-1").await.unwrap().is_none());
}

#[test]
fn a_cluster_has_no_intake() {
    let nodes = ["redis://127.0.0.1:1"];
    let store = RedisWebhookEventStore::lazy_cluster(&nodes, PREFIX).unwrap();
    let queue = RedisEventQueue::lazy_cluster(&nodes, PREFIX).unwrap();
    assert!(RedisIntake::new(&store, Some(&queue), None).is_none());
}

#[tokio::test]
async fn a_done_job_is_acked_and_its_run_recorded_by_one_command() {
    let backend = backend(true).await;
    assert_eq!(
        backend.enqueue(&event("warm-up"), 100).await,
        Enqueued::Queued
    );
    assert_eq!(backend.enqueue(&event("d-1"), 100).await, Enqueued::Queued);
    let mut jobs = backend
        .queue
        .reserve(2, Duration::from_secs(30), Duration::ZERO)
        .await
        .expect("reserve");
    let job = jobs.pop().expect("the job");
    let warm_up = jobs.pop().expect("the warm-up job");
    // The first run loads the script.
    assert!(
        backend
            .intake
            .ack(&warm_up.reservation, None)
            .await
            .unwrap()
    );
    let run = RunRecord::new(
        EventStatus::Succeeded,
        vec![ListenerRun::new("app::on_push", 3, None)],
        None,
    );
    let mut acked = None;
    let sent = backend
        .commands_sent(async {
            acked = Some(
                backend
                    .intake
                    .ack(&job.reservation, Some(("github", "d-1", &run)))
                    .await,
            );
        })
        .await;
    assert_eq!(sent, ["evalsha"]);
    assert!(matches!(acked, Some(Ok(true))), "{acked:?}");
    assert_eq!(backend.stream_len(), "0");
    assert_eq!(
        backend.cli(&[
            "EXISTS",
            &format!("{PREFIX}:{{queue}}:job:{}", job_id(&job))
        ]),
        "0"
    );
    let record = backend.log.get("github", "d-1").await.unwrap().unwrap();
    assert_eq!(
        (record.status, record.attempts),
        (EventStatus::Succeeded, 1)
    );
    assert_eq!(&*record.listeners[0].listener, "app::on_push");
    // A hold that no longer holds settles nothing and records nothing.
    let again = backend
        .intake
        .ack(&job.reservation, Some(("github", "d-1", &run)));
    assert!(!again.await.unwrap());
    let record = backend.log.get("github", "d-1").await.unwrap().unwrap();
    assert_eq!(record.attempts, 1);
}

/// The job id of a Redis reservation (`<entry>|<job>`).
fn job_id(job: &webhooks::queue::Reserved) -> &str {
    job.reservation.id.split_once('|').expect("entry|job").1
}

#[tokio::test]
async fn an_inline_run_completes_its_key_and_records_the_run_by_one_command() {
    let backend = backend(true).await;
    let first = event("d-1");
    let received = arrival(&first);
    let Claim::Acquired(warm_up) = backend.intake.claim("github:w", LEASE, None).await.unwrap()
    else {
        panic!("a free key is acquired");
    };
    assert!(
        backend
            .intake
            .complete("github:w", &warm_up, TTL, None)
            .await
            .unwrap()
    );
    let Claim::Acquired(lease) = backend
        .intake
        .claim("github:d-1", LEASE, Some(&received))
        .await
        .unwrap()
    else {
        panic!("a free key is acquired");
    };
    let run = RunRecord::new(
        EventStatus::Succeeded,
        vec![ListenerRun::new("app::on_push", 3, None)],
        None,
    );
    let mut completed = None;
    let sent = backend
        .commands_sent(async {
            let logged = Some(("github", "d-1", &run));
            completed = Some(
                backend
                    .intake
                    .complete("github:d-1", &lease, TTL, logged)
                    .await,
            );
        })
        .await;
    assert_eq!(sent, ["evalsha"]);
    assert!(matches!(completed, Some(Ok(true))), "{completed:?}");
    assert_eq!(backend.idem("github:d-1"), "done");
    let record = backend.log.get("github", "d-1").await.unwrap().unwrap();
    assert_eq!(
        (record.status, record.attempts),
        (EventStatus::Succeeded, 1)
    );

    // A lease that no longer holds the key completes nothing, records
    // nothing.
    let stale = backend
        .intake
        .complete("github:d-1", &lease, TTL, Some(("github", "d-1", &run)));
    assert!(!stale.await.unwrap());
    let record = backend.log.get("github", "d-1").await.unwrap().unwrap();
    assert_eq!(record.attempts, 1);
}
