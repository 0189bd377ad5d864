#![cfg(feature = "redis")]
//! The one suite of queue cases that every [`EventQueue`] passes (the
//! in-memory queue and Redis), so the backends cannot drift apart: written
//! once, generic over the queue, and run as one `#[tokio::test]` per case
//! per backend (`for_each_case!`).
//!
//! Every Redis test starts a `redis-server` of its own (never the machine's
//! 6379). Waits are bounded polls and every case runs under a hang guard;
//! nothing asserts how long anything took.

#[macro_use]
mod redis_harness;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis_harness::{RedisServer, redis_cli};
use webhooks::queue::{DeadLetterBounds, JobState, PushError, Reservation, Reserved};
use webhooks::redis::RedisEventQueue;
use webhooks::{EventQueue, Headers, InMemoryEventQueue, WebhookEvent};

/// A visibility timeout that does not run out during a case.
const LONG: Duration = Duration::from_secs(60);
/// How long one `reserve` of a poll waits.
const POLL: Duration = Duration::from_millis(50);
/// Upper bound of every poll; a hang guard only.
const PATIENCE: Duration = Duration::from_secs(10);
/// Upper bound of a whole case; a hang guard only.
const CASE_LIMIT: Duration = Duration::from_secs(60);
/// The Redis queue's key prefix.
const PREFIX: &str = "webhooks-test";
/// The Redis queue's consumer group.
const GROUP: &str = "workers";

/// A queue under test and, for Redis, its server and consumer name.
struct Backend<Q> {
    queue: Q,
    redis: Option<RedisSide>,
}

struct RedisSide {
    server: RedisServer,
    consumer: String,
}

async fn in_memory() -> Backend<InMemoryEventQueue> {
    Backend {
        queue: InMemoryEventQueue::new(),
        redis: None,
    }
}

/// A fresh `redis-server` and a queue connected to it.
async fn redis() -> Backend<RedisEventQueue> {
    let server = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .expect("start redis-server");
    let queue = connect(&server).await;
    let consumer = queue.consumer_name().to_owned();
    Backend {
        queue,
        redis: Some(RedisSide { server, consumer }),
    }
}

async fn connect(server: &RedisServer) -> RedisEventQueue {
    RedisEventQueue::lazy(&server.url(), PREFIX)
        .unwrap_or_else(|error| panic!("connect to {}: {error}", server.url()))
}

/// Calls `$callback!` with the name of every case, so the list of cases is
/// written once: `for_each_case!(backend_tests!(make))`.
macro_rules! for_each_case {
    ($callback:ident ! ( $($args:tt)* )) => {
        $callback! {
            $($args)* ;
            push_then_reserve_hands_out_once,
            capacity_counts_held_jobs_and_retries,
            a_lapsed_hold_is_handed_out_again_and_the_old_one_settles_nothing,
            renew_keeps_a_hold,
            renew_all_keeps_the_live_holds_and_answers_for_each,
            retry_at_brings_the_job_back_with_its_state,
            dead_letters_are_kept_bounded_and_requeued,
            hand_back_makes_the_job_reservable_at_once,
            close_reports_what_is_lost,
        }
    };
}

mod in_memory {
    for_each_case!(backend_tests!(super::in_memory));
}

mod redis {
    for_each_case!(backend_tests!(super::redis));
}

// ---------------------------------------------------------------------------
// Helpers

/// When every test event was received: whole milliseconds, as a queue
/// keeps it.
const RECEIVED_AT_MS: u64 = 1_700_000_000_123;

fn event(id: &str) -> WebhookEvent {
    let headers = Headers::new()
        .with("X-Multi", "a")
        .with("X-Multi", "b: c")
        .with("Content-Type", "application/json");
    WebhookEvent::new("s", "t", id, "{}")
        .with_headers(headers)
        .with_received_at(UNIX_EPOCH + Duration::from_millis(RECEIVED_AT_MS))
}

async fn push<Q: EventQueue>(queue: &Q, id: &str, capacity: usize) {
    queue
        .push(event(id), capacity)
        .await
        .unwrap_or_else(|error| panic!("push {id}: {error}"));
}

async fn reserve<Q: EventQueue>(queue: &Q, max: usize, visibility: Duration) -> Vec<Reserved> {
    queue
        .reserve(max, visibility, Duration::ZERO)
        .await
        .unwrap_or_else(|error| panic!("reserve: {error}"))
}

/// Reserves exactly one job now (`wait` zero).
async fn reserve_one<Q: EventQueue>(queue: &Q, visibility: Duration) -> Reserved {
    let mut jobs = reserve(queue, 10, visibility).await;
    assert_eq!(jobs.len(), 1, "expected one job, got {jobs:?}");
    jobs.pop().expect("one job")
}

/// Asserts that a reserve now (`wait` zero) hands out nothing.
async fn reserve_nothing<Q: EventQueue>(queue: &Q, visibility: Duration, why: &str) {
    let jobs = reserve(queue, 10, visibility).await;
    assert!(jobs.is_empty(), "{why}: reserved {jobs:?}");
}

/// Reserves until one job comes: a bounded poll, so the case waits as long
/// as the queue needs and no longer.
async fn reserve_next<Q: EventQueue>(queue: &Q, visibility: Duration) -> Reserved {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut jobs = queue
            .reserve(1, visibility, POLL)
            .await
            .unwrap_or_else(|error| panic!("reserve: {error}"));
        assert!(jobs.len() <= 1, "reserve(1) handed out {jobs:?}");
        if let Some(job) = jobs.pop() {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "nothing was reserved within {PATIENCE:?}"
        );
    }
}

async fn renew_all<Q: EventQueue>(
    queue: &Q,
    holds: &[&Reservation],
    visibility: Duration,
) -> Vec<bool> {
    queue
        .renew_all(holds, visibility)
        .await
        .unwrap_or_else(|error| panic!("renew_all: {error}"))
}

fn bounds(max: usize) -> DeadLetterBounds {
    DeadLetterBounds {
        max,
        retention: LONG,
    }
}

fn assert_reserved(job: &Reserved, id: &str, attempts: u32) {
    assert_eq!(job.event.id(), id, "{job:?}");
    assert_eq!(job.event.source(), "s", "{job:?}");
    assert_eq!(job.state.attempts, attempts, "state.attempts of {job:?}");
    assert_eq!(job.event.attempt(), attempts, "event.attempt() of {job:?}");
}

/// The `XINFO CONSUMERS` answer of the Redis queue's group.
fn consumers(side: &RedisSide) -> String {
    let stream = format!("{PREFIX}:{{queue}}:stream");
    redis_cli(side.server.port(), &["XINFO", "CONSUMERS", &stream, GROUP])
}

// ---------------------------------------------------------------------------
// Cases

/// Case 1: A pushed event is handed out once, counted as started; while it is
/// held nothing else comes; once acked it is gone.
async fn push_then_reserve_hands_out_once<Q: EventQueue>(backend: &Backend<Q>) {
    let queue = &backend.queue;
    push(queue, "id-1", 10).await;
    let job = reserve_one(queue, LONG).await;
    assert_reserved(&job, "id-1", 1);
    assert_eq!(job.event.event_type(), "t");
    assert_eq!(job.event.body().as_ref(), b"{}");
    let headers = job.event.headers();
    assert_eq!(
        headers.get_all("x-multi").collect::<Vec<_>>(),
        ["a", "b: c"]
    );
    assert_eq!(headers.get("content-type"), Some("application/json"));
    assert_eq!(headers.len(), 3, "{headers:?}");
    assert_eq!(
        job.event.received_at(),
        UNIX_EPOCH + Duration::from_millis(RECEIVED_AT_MS)
    );
    assert_eq!(job.state.failures, 0);
    assert!(job.state.done.is_empty());
    assert_eq!(job.state.last_error, None);
    reserve_nothing(queue, LONG, "a held job was handed out twice").await;
    assert!(queue.ack(&job.reservation).await.expect("ack"));
    reserve_nothing(queue, LONG, "an acked job came back").await;
    assert!(
        !queue.ack(&job.reservation).await.expect("second ack"),
        "a spent hold acked again"
    );
}

/// Case 2: Capacity counts every job inside: ready, held and waiting for a retry.
async fn capacity_counts_held_jobs_and_retries<Q: EventQueue>(backend: &Backend<Q>) {
    let queue = &backend.queue;
    push(queue, "a", 2).await;
    push(queue, "b", 2).await;
    assert!(matches!(
        queue.push(event("c"), 2).await,
        Err(PushError::Full)
    ));
    let mut held = reserve(queue, 1, LONG).await;
    assert_eq!(held.len(), 1, "{held:?}");
    let held = held.pop().expect("one job");
    assert!(
        matches!(queue.push(event("c"), 2).await, Err(PushError::Full)),
        "a held job was not counted"
    );
    let later = SystemTime::now() + LONG;
    assert!(
        queue
            .retry_at(&held.reservation, later, &held.state)
            .await
            .expect("retry_at")
    );
    assert!(
        matches!(queue.push(event("c"), 2).await, Err(PushError::Full)),
        "a job waiting for its retry was not counted"
    );
    // Acking the other job frees one place, and only one.
    let other = reserve_one(queue, LONG).await;
    assert_ne!(other.event.id(), held.event.id());
    assert!(queue.ack(&other.reservation).await.expect("ack"));
    push(queue, "c", 2).await;
    assert!(matches!(
        queue.push(event("d"), 2).await,
        Err(PushError::Full)
    ));
}

/// Case 3: A hold neither renewed nor settled lapses: the job is handed out
/// again, counted once more, and the old hold settles nothing.
async fn a_lapsed_hold_is_handed_out_again_and_the_old_one_settles_nothing<Q: EventQueue>(
    backend: &Backend<Q>,
) {
    let queue = &backend.queue;
    let visibility = Duration::from_millis(200);
    push(queue, "id-1", 10).await;
    let first = reserve_one(queue, visibility).await;
    assert_reserved(&first, "id-1", 1);
    let second = reserve_next(queue, visibility).await;
    assert_reserved(&second, "id-1", 2);
    assert_ne!(first.reservation, second.reservation);
    // Keep the new hold for the rest of the case.
    assert!(queue.renew(&second.reservation, LONG).await.expect("renew"));

    let old = &first.reservation;
    let stale_state = JobState {
        failures: 7,
        done: vec!["stale".into()],
        last_error: Some("stale".into()),
        ..first.state.clone()
    };
    assert!(!queue.renew(old, LONG).await.expect("stale renew"));
    assert!(!queue.ack(old).await.expect("stale ack"));
    let past = SystemTime::now() - Duration::from_secs(1);
    assert!(
        !queue
            .retry_at(old, past, &stale_state)
            .await
            .expect("stale retry_at")
    );
    assert!(
        !queue
            .dead(old, &stale_state, "stale", bounds(10))
            .await
            .expect("stale dead")
    );

    // Nothing changed: no retry scheduled, no dead letter, the job still
    // the new hold's.
    reserve_nothing(queue, LONG, "a stale settle let the job out").await;
    let dead = queue.dead_letters(None).await.expect("dead_letters");
    assert!(dead.is_empty(), "a stale dead took: {dead:?}");
    assert!(queue.renew(&second.reservation, LONG).await.expect("renew"));
    assert!(queue.ack(&second.reservation).await.expect("ack"));
    reserve_nothing(queue, LONG, "an acked job came back").await;
}

/// Case 4: Renewing keeps a hold past its first visibility timeout; once the
/// renewals stop, it lapses.
async fn renew_keeps_a_hold<Q: EventQueue>(backend: &Backend<Q>) {
    let queue = &backend.queue;
    let visibility = Duration::from_millis(300);
    push(queue, "id-1", 10).await;
    let job = reserve_one(queue, visibility).await;
    assert_reserved(&job, "id-1", 1);
    // 6 × 75 ms: well past the first visibility timeout.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(75)).await;
        assert!(
            queue
                .renew(&job.reservation, visibility)
                .await
                .expect("renew"),
            "a renewed hold was lost"
        );
        reserve_nothing(queue, visibility, "a renewed hold was handed out again").await;
    }
    // Without renewals the hold lapses: the renewals were what kept it.
    let again = reserve_next(queue, visibility).await;
    assert_reserved(&again, "id-1", 2);
    assert!(!queue.renew(&job.reservation, LONG).await.expect("renew"));
    assert!(queue.ack(&again.reservation).await.expect("ack"));
}

/// Case 4b: One call renews many holds and answers hold by hold, in
/// order: a hold settled meanwhile, or lapsed and taken over, answers
/// `false`; the live ones are kept past their first visibility timeout.
async fn renew_all_keeps_the_live_holds_and_answers_for_each<Q: EventQueue>(backend: &Backend<Q>) {
    let queue = &backend.queue;
    let visibility = Duration::from_millis(300);
    for id in ["a", "b", "c"] {
        push(queue, id, 10).await;
    }
    let mut jobs = reserve(queue, 10, visibility).await;
    jobs.sort_by(|x, y| x.event.id().cmp(y.event.id()));
    let [a, b, c] = <[Reserved; 3]>::try_from(jobs).expect("three jobs");
    assert!(queue.ack(&b.reservation).await.expect("ack"));
    let (a, b, c) = (&a.reservation, &b.reservation, &c.reservation);

    // Renewing `a` (and the settled `b`) but not `c`: only `c` lapses and
    // is handed out again.
    let deadline = Instant::now() + PATIENCE;
    let taken = loop {
        assert_eq!(renew_all(queue, &[a, b], visibility).await, [true, false]);
        let jobs = reserve(queue, 10, visibility).await;
        if let Some(job) = jobs.first() {
            assert_eq!(jobs.len(), 1, "a renewed hold was handed out: {jobs:?}");
            break job.clone();
        }
        assert!(Instant::now() < deadline, "c's hold never lapsed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_reserved(&taken, "c", 2);
    let taken = &taken.reservation;
    assert_eq!(
        renew_all(queue, &[a, b, c, taken], visibility).await,
        [true, false, false, true]
    );
    // 6 × 75 ms: well past the first visibility timeout.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(75)).await;
        assert_eq!(
            renew_all(queue, &[taken, a], visibility).await,
            [true, true]
        );
        reserve_nothing(queue, visibility, "a renewed hold was handed out again").await;
    }
    assert!(renew_all(queue, &[], visibility).await.is_empty());
    assert!(queue.ack(a).await.expect("ack a"));
    assert!(queue.ack(taken).await.expect("ack c"));
    assert_eq!(renew_all(queue, &[a, taken], LONG).await, [false, false]);
    reserve_nothing(queue, LONG, "an acked job came back").await;
}

/// Case 5: A retry comes back once due, counted once more, with the state the
/// worker wrote.
async fn retry_at_brings_the_job_back_with_its_state<Q: EventQueue>(backend: &Backend<Q>) {
    let queue = &backend.queue;
    push(queue, "id-1", 10).await;
    let first = reserve_one(queue, LONG).await;
    assert_reserved(&first, "id-1", 1);

    // Due in the near past.
    let state = JobState {
        failures: 1,
        done: vec!["listener-a".into()],
        last_error: Some("boom 1".into()),
        ..first.state.clone()
    };
    let past = SystemTime::now() - Duration::from_millis(100);
    assert!(
        queue
            .retry_at(&first.reservation, past, &state)
            .await
            .expect("retry_at")
    );
    assert!(
        !queue.ack(&first.reservation).await.expect("ack"),
        "a retried hold still settles"
    );
    let second = reserve_next(queue, LONG).await;
    assert_reserved(&second, "id-1", 2);
    assert_eq!(
        second.state,
        JobState {
            attempts: 2,
            ..state
        }
    );

    // Due a little ahead.
    let state = JobState {
        failures: 2,
        done: vec!["listener-a".into(), "listener-b".into()],
        last_error: Some("boom 2: with\nnewline".into()),
        ..second.state.clone()
    };
    let soon = SystemTime::now() + Duration::from_millis(100);
    assert!(
        queue
            .retry_at(&second.reservation, soon, &state)
            .await
            .expect("retry_at")
    );
    let third = reserve_next(queue, LONG).await;
    assert_reserved(&third, "id-1", 3);
    assert_eq!(
        third.state,
        JobState {
            attempts: 3,
            ..state
        }
    );
    assert!(queue.ack(&third.reservation).await.expect("ack"));
    reserve_nothing(queue, LONG, "an acked job came back").await;
}

/// Case 6: A dead job keeps its reason and state, is listed (by source too), the
/// oldest go past `bounds.max`, and a requeue puts it back once with fresh
/// attempts and its succeeded listeners kept.
async fn dead_letters_are_kept_bounded_and_requeued<Q: EventQueue>(backend: &Backend<Q>) {
    let queue = &backend.queue;
    let before = SystemTime::now() - Duration::from_secs(1);
    let mut first_dead = None;
    for id in ["d1", "d2", "d3"] {
        push(queue, id, 10).await;
        let job = reserve_one(queue, LONG).await;
        assert_reserved(&job, id, 1);
        let state = JobState {
            failures: 1,
            done: vec![format!("{id}-listener")],
            last_error: Some(format!("{id} failed")),
            ..job.state.clone()
        };
        let reason = format!("{id} gave up");
        assert!(
            queue
                .dead(&job.reservation, &state, &reason, bounds(2))
                .await
                .expect("dead")
        );
        assert!(
            !queue.ack(&job.reservation).await.expect("ack"),
            "a dead job's hold still settles"
        );
        if id == "d1" {
            let dead = queue.dead_letters(None).await.expect("dead_letters");
            assert_eq!(dead.len(), 1, "{dead:?}");
            let letter = &dead[0];
            assert_eq!(letter.event.id(), "d1");
            assert_eq!(letter.event.source(), "s");
            assert_eq!(letter.event.event_type(), "t");
            assert_eq!(letter.event.attempt(), 1);
            assert_eq!(letter.reason, reason);
            assert_eq!(letter.state.done, ["d1-listener"]);
            assert_eq!(letter.state.attempts, 1);
            assert_eq!(letter.state.failures, 1);
            let now = SystemTime::now() + Duration::from_secs(1);
            assert!(
                letter.failed_at >= before && letter.failed_at <= now,
                "failed_at {:?}",
                letter.failed_at
            );
            assert_eq!(
                letter.state, state,
                "the dead letter's state is not the state it was given up with"
            );
            first_dead = Some(letter.id.clone());
        }
    }
    reserve_nothing(queue, LONG, "a dead job was handed out").await;

    let dead = queue.dead_letters(None).await.expect("dead_letters");
    let ids: Vec<&str> = dead.iter().map(|letter| letter.event.id()).collect();
    assert_eq!(
        ids,
        ["d2", "d3"],
        "max 2 keeps the two newest, oldest first"
    );
    let reasons: Vec<&str> = dead.iter().map(|letter| letter.reason.as_str()).collect();
    assert_eq!(reasons, ["d2 gave up", "d3 gave up"]);
    let of_source = queue.dead_letters(Some("s")).await.expect("dead_letters");
    assert_eq!(of_source.len(), 2, "{of_source:?}");
    let other = queue
        .dead_letters(Some("other"))
        .await
        .expect("dead_letters");
    assert!(other.is_empty(), "{other:?}");

    let trimmed = first_dead.expect("d1's dead letter id");
    assert!(
        !queue.requeue(&trimmed).await.expect("requeue"),
        "a trimmed dead letter was requeued"
    );
    assert!(queue.requeue(&dead[0].id).await.expect("requeue"));
    assert!(
        !queue.requeue(&dead[0].id).await.expect("requeue"),
        "a dead letter was requeued twice"
    );
    let left = queue.dead_letters(None).await.expect("dead_letters");
    let ids: Vec<&str> = left.iter().map(|letter| letter.event.id()).collect();
    assert_eq!(ids, ["d3"]);

    let again = reserve_next(queue, LONG).await;
    assert_reserved(&again, "d2", 1);
    assert_eq!(
        again.state,
        JobState {
            attempts: 1,
            failures: 0,
            done: vec!["d2-listener".into()],
            last_error: None,
        }
    );
    assert!(queue.ack(&again.reservation).await.expect("ack"));
    reserve_nothing(queue, LONG, "a requeued job came back twice").await;
}

/// Case 7: A handed-back job is reserved again at once, its state kept, and the
/// hold that handed it back settles nothing.
///
/// Where the backends differ: whether the handed-back run counts. The
/// in-memory queue keeps it counted (the next hold has one attempt more);
/// Redis takes it back (`HINCRBY attempts -1`: the next hold has the same
/// count as the handed-back one). Only what both do is asserted here.
async fn hand_back_makes_the_job_reservable_at_once<Q: EventQueue>(backend: &Backend<Q>) {
    let queue = &backend.queue;
    push(queue, "id-1", 10).await;
    let first = reserve_one(queue, LONG).await;
    assert_reserved(&first, "id-1", 1);
    let state = JobState {
        failures: 1,
        done: vec!["listener-a".into()],
        last_error: Some("boom".into()),
        ..first.state.clone()
    };
    let past = SystemTime::now() - Duration::from_millis(100);
    assert!(
        queue
            .retry_at(&first.reservation, past, &state)
            .await
            .expect("retry_at")
    );
    let run = reserve_next(queue, LONG).await;
    assert_reserved(&run, "id-1", 2);

    queue.hand_back(&run.reservation).await.expect("hand_back");
    let again = reserve_one(queue, LONG).await;
    assert_eq!(again.event.id(), "id-1");
    assert_eq!(again.event.attempt(), again.state.attempts);
    let attempts = again.state.attempts;
    assert!(
        (2..=3).contains(&attempts),
        "after a hand-back of run 2 the next run is 2 (not counted) or 3 (counted), got {attempts}"
    );
    eprintln!(
        "hand_back: the run after a hand-back of run 2 has attempts {attempts} (durable: {})",
        queue.is_durable()
    );
    assert_eq!(
        JobState {
            attempts: 0,
            ..again.state.clone()
        },
        JobState {
            attempts: 0,
            ..state
        },
        "a hand-back lost the job's state"
    );
    assert_ne!(again.reservation, run.reservation);

    // The hold that handed the job back is spent.
    assert!(!queue.ack(&run.reservation).await.expect("ack"));
    assert!(!queue.renew(&run.reservation, LONG).await.expect("renew"));
    queue
        .hand_back(&run.reservation)
        .await
        .expect("a second hand_back");
    reserve_nothing(queue, LONG, "a spent hold handed the job back again").await;
    assert!(queue.ack(&again.reservation).await.expect("ack"));
    reserve_nothing(queue, LONG, "an acked job came back").await;
}

/// Case 8: Closing: the in-memory queue reports the events lost with it; Redis
/// loses nothing and forgets this worker's consumer name.
async fn close_reports_what_is_lost<Q: EventQueue>(backend: &Backend<Q>) {
    let queue = &backend.queue;
    push(queue, "a", 10).await;
    push(queue, "b", 10).await;
    let mut first = reserve(queue, 1, LONG).await;
    assert_eq!(first.len(), 1, "{first:?}");
    let first = first.pop().expect("one job");
    assert_eq!(first.event.id(), "a");
    assert!(queue.ack(&first.reservation).await.expect("ack"));
    if let Some(side) = &backend.redis {
        assert!(
            consumers(side).contains(&side.consumer),
            "the consumer is in the group before close"
        );
    }

    let lost = queue.close().await.expect("close");
    if queue.is_durable() {
        assert!(lost.is_empty(), "a durable queue lost {lost:?}");
        let side = backend
            .redis
            .as_ref()
            .expect("a durable queue is Redis here");
        let consumers = consumers(side);
        assert!(
            !consumers.contains(&side.consumer),
            "the closed consumer {} is still in the group:\n{consumers}",
            side.consumer
        );
        // The event still inside survives for the next instance.
        let next = connect(&side.server).await;
        let job = reserve_next(&next, LONG).await;
        assert_reserved(&job, "b", 1);
        assert!(next.ack(&job.reservation).await.expect("ack"));
    } else {
        assert_eq!(lost, ["s:b"]);
        reserve_nothing(queue, LONG, "a closed in-memory queue kept a job").await;
    }
}

// ---------------------------------------------------------------------------
// Redis only

/// An entry whose job is gone (settled by an earlier holder) is
/// acknowledged and dropped by the next reserve, which hands out the jobs
/// beside it and creates no job of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_an_entry_whose_job_is_gone_is_dropped() {
    let backend = redis().await;
    let side = backend.redis.as_ref().expect("a Redis side");
    let port = side.server.port();
    let jobs = format!("{PREFIX}:{{queue}}:job:");
    let stream = format!("{PREFIX}:{{queue}}:stream");
    push(&backend.queue, "gone", 10).await;
    let gone = tokio::task::block_in_place(|| redis_harness::keys(port, &jobs));
    assert_eq!(gone.len(), 1, "{gone:?}");
    tokio::task::block_in_place(|| redis_cli(port, &["DEL", &gone[0]]));
    push(&backend.queue, "kept", 10).await;

    let held = reserve(&backend.queue, 10, LONG).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_reserved(&held[0], "kept", 1);
    let left = tokio::task::block_in_place(|| redis_harness::keys(port, &jobs));
    assert_eq!(left.len(), 1, "only the kept job: {left:?}");
    let length = tokio::task::block_in_place(|| redis_cli(port, &["XLEN", &stream]));
    assert_eq!(length.trim(), "1", "the gone job's entry was deleted");
    let pending = tokio::task::block_in_place(|| redis_cli(port, &["XPENDING", &stream, GROUP]));
    assert_eq!(
        pending.lines().next(),
        Some("1"),
        "only the kept job is pending"
    );
    assert!(backend.queue.ack(&held[0].reservation).await.expect("ack"));
}
