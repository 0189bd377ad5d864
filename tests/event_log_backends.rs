#![cfg(feature = "redis")]
//! The one suite of event log cases that every [`EventLog`] passes (the
//! in-memory log and Redis), so the backends cannot drift apart: written
//! once, generic over the log, and run as one `#[tokio::test]` per case per
//! backend (`for_each_case!`); then the Redis log under the ready server,
//! over TCP, inline and queued.
//!
//! Every Redis test starts a `redis-server` of its own (never the machine's
//! 6379). Waits are bounded polls and every case runs under a hang guard;
//! nothing asserts how long anything took.

#[macro_use]
mod redis_harness;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis_harness::server::{Counter, PATIENCE, PUSH, TestServer, client, config, deliver};
use redis_harness::{RedisCluster, RedisServer, keys, pttl, redis_cli};
use webhooks::event_log::{
    Arrival, EventPage, EventQuery, EventStatus, ListenerRun, LogBounds, Received, RunRecord,
};
use webhooks::redis::RedisEventLog;
use webhooks::{EventLog, EventRecord, InMemoryEventLog};

/// Upper bound of a whole case; a hang guard only.
const CASE_LIMIT: Duration = Duration::from_secs(60);
/// Bounds no case runs into unless it means to.
const ROOMY: LogBounds = LogBounds {
    max_events: 10_000,
    retention: Duration::from_secs(3600),
    max_body_bytes: 1 << 20,
};

/// Where a case gets its logs: each call a fresh, empty one.
trait Backend: Send + Sync {
    type Log: EventLog;
    fn log(&self, bounds: LogBounds) -> Self::Log;
}

struct Memory;

impl Backend for Memory {
    type Log = InMemoryEventLog;

    fn log(&self, bounds: LogBounds) -> InMemoryEventLog {
        InMemoryEventLog::new(bounds)
    }
}

/// A `redis-server` of the test's own; each log under a prefix of its own.
struct Redis {
    server: RedisServer,
    logs: AtomicUsize,
}

impl Backend for Redis {
    type Log = RedisEventLog;

    fn log(&self, bounds: LogBounds) -> RedisEventLog {
        let prefix = format!("log-{}", self.logs.fetch_add(1, Ordering::Relaxed));
        RedisEventLog::lazy(&self.server.url(), &prefix, bounds)
            .unwrap_or_else(|error| panic!("connect to {}: {error}", self.server.url()))
    }
}

/// A three-node Redis Cluster of the test's own.
struct Cluster {
    cluster: RedisCluster,
    logs: AtomicUsize,
}

impl Backend for Cluster {
    type Log = RedisEventLog;

    fn log(&self, bounds: LogBounds) -> RedisEventLog {
        let prefix = format!("log-{}", self.logs.fetch_add(1, Ordering::Relaxed));
        let urls = self.cluster.urls();
        let nodes: Vec<&str> = urls.iter().map(String::as_str).collect();
        RedisEventLog::lazy_cluster(&nodes, &prefix, bounds)
            .unwrap_or_else(|error| panic!("connect to the cluster {nodes:?}: {error}"))
    }
}

async fn memory() -> Memory {
    Memory
}

async fn redis() -> Redis {
    let server = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .expect("start redis-server");
    Redis {
        server,
        logs: AtomicUsize::new(0),
    }
}

/// Calls `$callback!` with the name of every case, so the list of cases is
/// written once: `for_each_case!(backend_tests!(make))`.
macro_rules! for_each_case {
    ($callback:ident ! ( $($args:tt)* )) => {
        $callback! {
            $($args)* ;
            a_new_key_is_recorded_processing_with_what_was_kept,
            redeliveries_runs_and_a_replay_update_the_one_record,
            a_run_clears_the_finish_and_error_it_does_not_set,
            listener_runs_are_merged_by_name,
            listings_leave_bodies_out,
            listings_filter_by_source_status_type_and_time,
            pages_run_newest_first_to_the_end,
            max_events_drops_the_oldest,
            the_retention_drops_old_records,
            an_unknown_key_is_left_alone,
            a_bad_cursor_is_an_error,
        }
    };
}

mod in_memory {
    for_each_case!(backend_tests!(super::memory));
}

mod redis {
    for_each_case!(backend_tests!(super::redis));
}

/// Every case in turn, against one backend.
macro_rules! in_turn {
    ($backend:expr ; $($case:ident),* $(,)?) => {
        {
            $( $case($backend).await; )*
        }
    };
}

/// On a Redis Cluster: each script reads and deletes records it finds in
/// the index, keys it was not given, which the `{events}` hash tag keeps in
/// the slot of the keys it was given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_passes_on_a_cluster() {
    let cluster = tokio::task::spawn_blocking(|| RedisCluster::start(3))
        .await
        .expect("start a cluster");
    let backend = Cluster {
        cluster,
        logs: AtomicUsize::new(0),
    };
    let all = async { for_each_case!(in_turn!(&backend)) };
    tokio::time::timeout(CASE_LIMIT, all)
        .await
        .expect("the suite hung on a cluster");
}

// ---------------------------------------------------------------------------
// Helpers

/// Now, to the millisecond a backend keeps.
fn now() -> SystemTime {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).expect("a u64 of ms"))
}

async fn arrive<L: EventLog>(log: &L, received: Received<'_>) {
    log.received(&received)
        .await
        .unwrap_or_else(|error| panic!("received {}: {error}", received.id));
}

/// A delivery of `source`/`id` of type `t` at `at`, without a body.
async fn delivery<L: EventLog>(log: &L, source: &str, id: &str, at: SystemTime) {
    arrive(log, Received::new(source, id, "t", at, Arrival::Delivery)).await;
}

async fn get<L: EventLog>(log: &L, source: &str, id: &str) -> Option<EventRecord> {
    log.get(source, id)
        .await
        .unwrap_or_else(|error| panic!("get {source}/{id}: {error}"))
}

async fn must_get<L: EventLog>(log: &L, source: &str, id: &str) -> EventRecord {
    get(log, source, id)
        .await
        .unwrap_or_else(|| panic!("no record of {source}/{id}"))
}

async fn list<L: EventLog>(log: &L, query: &EventQuery) -> EventPage {
    log.list(query)
        .await
        .unwrap_or_else(|error| panic!("list {query:?}: {error}"))
}

fn ids(page: &EventPage) -> Vec<&str> {
    page.events.iter().map(|event| event.id.as_str()).collect()
}

/// A run that ended at `at` (to the millisecond).
fn run(
    status: EventStatus,
    at: SystemTime,
    runs: Vec<ListenerRun>,
    error: Option<&str>,
) -> RunRecord {
    let mut run = RunRecord::new(status, runs, error.map(str::to_owned));
    run.at = at;
    run
}

async fn ran<L: EventLog>(log: &L, id: &str, run: &RunRecord) {
    log.ran("s", id, run)
        .await
        .unwrap_or_else(|error| panic!("ran {id}: {error}"));
}

// ---------------------------------------------------------------------------
// Cases

/// A new key: `processing`, no attempt, its body and headers only when
/// given; a replay of a key the log does not have counts as one.
async fn a_new_key_is_recorded_processing_with_what_was_kept<B: Backend>(backend: &B) {
    let log = backend.log(ROOMY);
    let at = now();
    let headers = b"content-type: application/json\r\nx-github-event: push\r\n";
    let kept = Received::new("s", "kept", "push", at, Arrival::Delivery)
        .with_body(PUSH.as_bytes(), headers);
    arrive(&log, kept).await;
    let record = must_get(&log, "s", "kept").await;
    assert_eq!(record, kept.to_record(), "{record:?}");
    assert_eq!(
        (record.status, record.attempts),
        (EventStatus::Processing, 0)
    );
    assert_eq!(record.received_at, at);
    assert_eq!(record.body.as_deref(), Some(PUSH.as_bytes()));
    assert_eq!(
        record.headers.as_deref().map(str::as_bytes),
        Some(&headers[..])
    );

    let bare = Received::new("s", "bare", "", at, Arrival::Delivery);
    arrive(&log, bare).await;
    let record = must_get(&log, "s", "bare").await;
    assert_eq!(record, bare.to_record());
    assert_eq!((record.body, record.headers), (None, None));

    let replayed = Received::new("s", "replayed", "t", at, Arrival::Replay);
    arrive(&log, replayed).await;
    let record = must_get(&log, "s", "replayed").await;
    assert_eq!((record.replays, record.redeliveries), (1, 0));
    assert_eq!(record, replayed.to_record());
}

/// A caught redelivery, a retrying run, a dead one, a replay's arrival and
/// its success: the record is what [`EventRecord::apply`] and
/// [`EventRecord::arrived_again`] make of it, step by step; the first body
/// stays.
async fn redeliveries_runs_and_a_replay_update_the_one_record<B: Backend>(backend: &B) {
    let log = backend.log(ROOMY);
    let at = now();
    let first =
        Received::new("s", "e", "t", at, Arrival::Delivery).with_body(b"first", b"a: 1\r\n");
    arrive(&log, first).await;
    let mut expected = first.to_record();

    log.redelivered("s", "e").await.expect("redelivered");
    expected.redeliveries += 1;
    assert_eq!(must_get(&log, "s", "e").await, expected);

    let failing = vec![ListenerRun::new("l", 7, Some("boom".into()))];
    let steps = [
        run(
            EventStatus::Retrying,
            at + Duration::from_millis(10),
            failing.clone(),
            Some("boom"),
        ),
        run(
            EventStatus::Dead,
            at + Duration::from_millis(20),
            failing,
            Some("gave up: boom"),
        ),
    ];
    for step in &steps {
        ran(&log, "e", step).await;
        expected.apply(step);
        let record = must_get(&log, "s", "e").await;
        assert_eq!(record, expected, "after a {} run", step.status);
    }
    let dead = must_get(&log, "s", "e").await;
    assert_eq!((dead.status, dead.attempts), (EventStatus::Dead, 2));
    assert_eq!(dead.finished_at, Some(at + Duration::from_millis(20)));
    assert_eq!(dead.error.as_deref(), Some("gave up: boom"));

    let replay = Received::new("s", "e", "t", at + Duration::from_secs(1), Arrival::Replay)
        .with_body(b"other", b"");
    arrive(&log, replay).await;
    expected.arrived_again(Arrival::Replay);
    let replayed = must_get(&log, "s", "e").await;
    assert_eq!(replayed, expected);
    assert_eq!(
        (replayed.status, replayed.finished_at),
        (EventStatus::Processing, None)
    );
    assert_eq!(replayed.replays, 1);
    assert_eq!(
        replayed.body.as_deref(),
        Some(&b"first"[..]),
        "the first body stays"
    );

    let done = run(
        EventStatus::Succeeded,
        at + Duration::from_secs(2),
        vec![ListenerRun::new("l", 3, None)],
        None,
    );
    ran(&log, "e", &done).await;
    expected.apply(&done);
    let succeeded = must_get(&log, "s", "e").await;
    assert_eq!(succeeded, expected);
    assert_eq!(
        (succeeded.status, succeeded.attempts),
        (EventStatus::Succeeded, 3)
    );
    assert_eq!(succeeded.error, None);
    assert_eq!(succeeded.listeners, [ListenerRun::new("l", 3, None)]);

    arrive(&log, Received::new("s", "e", "t", at, Arrival::Delivery)).await;
    expected.arrived_again(Arrival::Delivery);
    assert_eq!(must_get(&log, "s", "e").await, expected);
    assert_eq!(expected.redeliveries, 2);
}

/// A dead letter requeued runs again: a run that is not final clears the
/// finish time, and a run without an error clears the last one.
async fn a_run_clears_the_finish_and_error_it_does_not_set<B: Backend>(backend: &B) {
    let log = backend.log(ROOMY);
    let at = now();
    let received = Received::new("s", "e", "t", at, Arrival::Delivery);
    arrive(&log, received).await;
    let mut expected = received.to_record();
    let steps = [
        run(EventStatus::Dead, at, vec![], Some("gave up")),
        run(EventStatus::Processing, at, vec![], None),
    ];
    for step in &steps {
        ran(&log, "e", step).await;
        expected.apply(step);
        assert_eq!(
            must_get(&log, "s", "e").await,
            expected,
            "after {}",
            step.status
        );
    }
    let record = must_get(&log, "s", "e").await;
    assert_eq!((record.finished_at, record.error), (None, None));
    assert_eq!(record.attempts, 2);
}

/// Each listener's last run replaces the one kept, by name, in the order
/// the listeners first ran; a run without listeners leaves them.
async fn listener_runs_are_merged_by_name<B: Backend>(backend: &B) {
    let log = backend.log(ROOMY);
    let at = now();
    delivery(&log, "s", "m", at).await;
    let mut expected = must_get(&log, "s", "m").await;
    let runs = [
        run(
            EventStatus::Retrying,
            at,
            vec![
                ListenerRun::new("a", 1, Some("a failed: \"quoted\" / ünïcode\nline".into())),
                ListenerRun::new("b", 2, None),
            ],
            Some("a failed"),
        ),
        run(
            EventStatus::Retrying,
            at,
            vec![
                ListenerRun::new("c", 3, None),
                ListenerRun::new("a", 4, Some("again".into())),
            ],
            Some("again"),
        ),
        run(
            EventStatus::Succeeded,
            at,
            vec![ListenerRun::new("a", 5, None)],
            None,
        ),
        run(EventStatus::Failed, at, Vec::new(), Some("not queued")),
    ];
    for step in &runs {
        ran(&log, "m", step).await;
        expected.apply(step);
        assert_eq!(must_get(&log, "s", "m").await, expected);
    }
    let merged = must_get(&log, "s", "m").await;
    assert_eq!(
        merged.listeners,
        [
            ListenerRun::new("a", 5, None),
            ListenerRun::new("b", 2, None),
            ListenerRun::new("c", 3, None),
        ]
    );
    assert_eq!((merged.attempts, merged.status), (4, EventStatus::Failed));
    assert_eq!(merged.finished_at, Some(at));
}

/// `get` gives the body (any bytes) and headers; a listing never does, and
/// otherwise lists the same record.
async fn listings_leave_bodies_out<B: Backend>(backend: &B) {
    let log = backend.log(ROOMY);
    let body = b"\xff\x00binary";
    let received =
        Received::new("s", "b", "t", now(), Arrival::Delivery).with_body(body, b"x: y\r\n");
    arrive(&log, received).await;
    ran(
        &log,
        "b",
        &run(
            EventStatus::Succeeded,
            now(),
            vec![ListenerRun::new("l", 1, None)],
            None,
        ),
    )
    .await;
    let full = must_get(&log, "s", "b").await;
    assert_eq!(full.body.as_deref(), Some(&body[..]));
    assert_eq!(full.headers.as_deref(), Some("x: y\r\n"));
    let page = list(&log, &EventQuery::default()).await;
    assert_eq!(page.events.len(), 1);
    let listed = &page.events[0];
    assert_eq!((&listed.body, &listed.headers), (&None, &None));
    let mut without_body = full.clone();
    without_body.body = None;
    without_body.headers = None;
    assert_eq!(*listed, without_body);
}

/// Filters by source, status, type, and `[since, until)` of the arrival.
async fn listings_filter_by_source_status_type_and_time<B: Backend>(backend: &B) {
    let log = backend.log(ROOMY);
    let t0 = now() - Duration::from_secs(60);
    let at = |seconds: u64| t0 + Duration::from_secs(seconds);
    for (source, id, event_type, second) in [
        ("stripe", "s1", "invoice.paid", 0),
        ("github", "g1", "push", 10),
        ("stripe", "s2", "invoice.paid", 20),
        ("stripe", "s3", "charge.failed", 30),
        ("github", "g2", "issues.opened", 40),
    ] {
        arrive(
            &log,
            Received::new(source, id, event_type, at(second), Arrival::Delivery),
        )
        .await;
    }
    let done = run(EventStatus::Succeeded, at(50), Vec::new(), None);
    for (source, id) in [("stripe", "s2"), ("github", "g1")] {
        log.ran(source, id, &done).await.expect("ran");
    }
    let dead = run(EventStatus::Dead, at(50), Vec::new(), Some("gave up"));
    log.ran("stripe", "s3", &dead).await.expect("ran");

    let cases: [(EventQuery, &[&str]); 9] = [
        (EventQuery::default(), &["g2", "s3", "s2", "g1", "s1"]),
        (EventQuery::default().source("stripe"), &["s3", "s2", "s1"]),
        (EventQuery::default().source("strip"), &[]),
        (
            EventQuery::default().status(EventStatus::Succeeded),
            &["s2", "g1"],
        ),
        (
            EventQuery::default()
                .source("stripe")
                .status(EventStatus::Processing),
            &["s1"],
        ),
        (
            EventQuery::default().event_type("invoice.paid"),
            &["s2", "s1"],
        ),
        (EventQuery::default().event_type("issues"), &[]),
        (
            EventQuery::default().received(Some(at(10)), Some(at(30))),
            &["s2", "g1"],
        ),
        (
            EventQuery::default()
                .source("github")
                .received(Some(at(11)), None),
            &["g2"],
        ),
    ];
    for (query, expected) in cases {
        let page = list(&log, &query).await;
        assert_eq!(ids(&page), expected, "{query:?}");
        assert_eq!(page.next, None, "{query:?}");
        assert!(page.events.iter().all(|event| event.matches(&query)));
    }
    let until = list(&log, &EventQuery::default().received(None, Some(at(20)))).await;
    assert_eq!(ids(&until), ["g1", "s1"], "`until` is exclusive");
    let dead = list(&log, &EventQuery::default().status(EventStatus::Dead)).await;
    assert_eq!(dead.events[0].error.as_deref(), Some("gave up"));
}

/// Pages run newest first, each cursor picking up where the last page
/// ended, with no cursor on the last page; filters hold across pages; a
/// record that arrives meanwhile is not on the later pages.
async fn pages_run_newest_first_to_the_end<B: Backend>(backend: &B) {
    let log = backend.log(ROOMY);
    let at = now();
    for n in 0..7 {
        let source = if n % 2 == 0 { "even" } else { "odd" };
        delivery(&log, source, &n.to_string(), at).await;
    }
    let mut seen = Vec::new();
    let mut query = EventQuery::default().limit(3);
    let mut sizes = Vec::new();
    loop {
        let page = list(&log, &query).await;
        sizes.push(page.events.len());
        seen.extend(ids(&page).into_iter().map(str::to_owned));
        if seen.len() == 3 {
            delivery(&log, "even", "late", at).await;
        }
        match page.next {
            Some(next) => query = query.after(next),
            None => break,
        }
    }
    assert_eq!(seen, ["6", "5", "4", "3", "2", "1", "0"]);
    assert_eq!(sizes, [3, 3, 1]);

    let exact = list(&log, &EventQuery::default().limit(8)).await;
    assert_eq!(
        (exact.events.len(), exact.next),
        (8, None),
        "a full last page has no cursor"
    );

    let first = list(&log, &EventQuery::default().source("even").limit(2)).await;
    assert_eq!(ids(&first), ["late", "6"]);
    let cursor = first.next.expect("more even ones");
    let rest = list(
        &log,
        &EventQuery::default().source("even").limit(2).after(cursor),
    )
    .await;
    assert_eq!(ids(&rest), ["4", "2"]);
    let cursor = rest.next.expect("one more even one");
    let last = list(
        &log,
        &EventQuery::default().source("even").limit(2).after(cursor),
    )
    .await;
    assert_eq!((ids(&last), &last.next), (vec!["0"], &None));
}

/// Over `max_events`, the oldest records go, and only they.
async fn max_events_drops_the_oldest<B: Backend>(backend: &B) {
    let log = backend.log(LogBounds {
        max_events: 3,
        ..ROOMY
    });
    let at = now();
    for id in ["a", "b", "c", "d", "e"] {
        delivery(&log, "s", id, at).await;
    }
    for gone in ["a", "b"] {
        assert_eq!(
            get(&log, "s", gone).await,
            None,
            "{gone} was among the oldest"
        );
    }
    let page = list(&log, &EventQuery::default()).await;
    assert_eq!(ids(&page), ["e", "d", "c"]);
    // An arrival of a key it has adds nothing: nothing goes.
    delivery(&log, "s", "c", at).await;
    assert_eq!(
        ids(&list(&log, &EventQuery::default()).await),
        ["e", "d", "c"]
    );
    assert_eq!(must_get(&log, "s", "c").await.redeliveries, 1);
    // Nor does a run or a redelivery of a key it dropped come back.
    log.redelivered("s", "a").await.expect("redelivered");
    ran(
        &log,
        "a",
        &run(EventStatus::Succeeded, at, Vec::new(), None),
    )
    .await;
    assert_eq!(get(&log, "s", "a").await, None);
}

/// A record older than the retention is gone once a newer one arrived.
async fn the_retention_drops_old_records<B: Backend>(backend: &B) {
    let log = backend.log(LogBounds {
        retention: Duration::from_secs(3600),
        ..ROOMY
    });
    let at = now();
    delivery(&log, "s", "old", at - Duration::from_secs(2 * 3600)).await;
    delivery(&log, "s", "recent", at - Duration::from_secs(60)).await;
    delivery(&log, "s", "new", at).await;
    assert_eq!(get(&log, "s", "old").await, None);
    assert!(get(&log, "s", "recent").await.is_some());
    let page = list(&log, &EventQuery::default()).await;
    assert_eq!(ids(&page), ["new", "recent"]);
}

/// A run or a redelivery of a key the log does not have records nothing.
async fn an_unknown_key_is_left_alone<B: Backend>(backend: &B) {
    let log = backend.log(ROOMY);
    delivery(&log, "s", "known", now()).await;
    log.redelivered("s", "unknown").await.expect("redelivered");
    log.redelivered("other", "known")
        .await
        .expect("redelivered");
    ran(
        &log,
        "unknown",
        &run(
            EventStatus::Dead,
            now(),
            vec![ListenerRun::new("l", 1, None)],
            Some("x"),
        ),
    )
    .await;
    assert_eq!(get(&log, "s", "unknown").await, None);
    assert_eq!(get(&log, "other", "known").await, None);
    let known = must_get(&log, "s", "known").await;
    assert_eq!((known.redeliveries, known.attempts), (0, 0));
    assert_eq!(ids(&list(&log, &EventQuery::default()).await), ["known"]);
}

/// A cursor this log did not give is an error, not a panic or a page.
async fn a_bad_cursor_is_an_error<B: Backend>(backend: &B) {
    let log = backend.log(ROOMY);
    delivery(&log, "s", "a", now()).await;
    for cursor in ["x", "-1", "", "1.5", "99999999999999999999999"] {
        let listed = log.list(&EventQuery::default().after(cursor)).await;
        assert!(listed.is_err(), "cursor {cursor:?} gave {listed:?}");
    }
}

// ---------------------------------------------------------------------------
// Redis only: what the log leaves in Redis, and a listing's bound.

/// Records expire after the retention, and so do the index and the
/// sequence of an idle log; records trimmed over `max_events` are deleted
/// with their index entries, and so are entries past the retention.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_records_expire_and_trimmed_ones_are_deleted() {
    let backend = redis().await;
    let port = backend.server.port();
    let retention = Duration::from_secs(3600);
    let bounds = LogBounds {
        max_events: 2,
        retention,
        ..ROOMY
    };
    let log = RedisEventLog::lazy(&backend.server.url(), "kept", bounds).expect("a log");
    for id in ["a", "b", "c"] {
        let received = Received::new("s", id, "t", now(), Arrival::Delivery).with_body(b"{}", b"");
        arrive(&log, received).await;
    }
    let stored = tokio::task::block_in_place(|| keys(port, "kept:"));
    assert_eq!(
        stored,
        [
            "kept:{events}:event:s:b",
            "kept:{events}:event:s:c",
            "kept:{events}:index",
            "kept:{events}:seq",
        ]
    );
    let most = i64::try_from(retention.as_millis()).expect("ms") + 1;
    for key in &stored {
        let left = tokio::task::block_in_place(|| pttl(port, key));
        assert!(0 < left && left <= most, "{key} expires in {left} ms");
    }
    let index = tokio::task::block_in_place(|| {
        redis_cli(port, &["ZRANGE", "kept:{events}:index", "0", "-1"])
    });
    assert_eq!(index.lines().collect::<Vec<_>>(), ["s:b", "s:c"]);

    // Past the retention: the record is gone at once, and listings skip
    // its index entry, which goes with the 16th new record.
    let bounds = LogBounds {
        max_events: 100,
        ..bounds
    };
    let log = RedisEventLog::lazy(&backend.server.url(), "aged", bounds).expect("a log");
    delivery(&log, "s", "old", now() - 2 * retention).await;
    let aged_index = || {
        let index = tokio::task::block_in_place(|| {
            redis_cli(port, &["ZRANGE", "aged:{events}:index", "0", "-1"])
        });
        index.lines().map(str::to_owned).collect::<Vec<_>>()
    };
    let fresh: Vec<String> = (2..=16).map(|n| format!("s:{n}")).collect();
    for (n, member) in fresh.iter().enumerate() {
        assert_eq!(aged_index().first().map(String::as_str), Some("s:old"));
        assert_eq!(get(&log, "s", "old").await, None);
        let page = list(&log, &EventQuery::default()).await;
        assert_eq!(page.events.len(), n, "only the live records are listed");
        delivery(&log, "s", &member[2..], now()).await;
    }
    assert_eq!(aged_index(), fresh);
    let stored = tokio::task::block_in_place(|| keys(port, "aged:{events}:event:"));
    assert_eq!(stored.len(), 15);
    assert!(!stored.contains(&"aged:{events}:event:s:old".to_owned()));
}

/// A log whose `max_events` was lowered (a restart with a new config)
/// shrinks to it over a few arrivals, 1000 records each at most, rather
/// than holding Redis for one long script.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_lowered_max_events_is_reached_in_bounded_steps() {
    let backend = redis().await;
    let port = backend.server.port();
    let url = backend.server.url();
    let at = now();
    let big = RedisEventLog::lazy(&url, "shrunk", ROOMY).expect("a log");
    for n in 0..1005 {
        delivery(&big, "s", &n.to_string(), at).await;
    }
    let small = LogBounds {
        max_events: 3,
        ..ROOMY
    };
    let log = RedisEventLog::lazy(&url, "shrunk", small).expect("a log");
    let indexed = || {
        let count = redis_cli(port, &["ZCARD", "shrunk:{events}:index"]);
        count.trim().parse::<usize>().expect("a count")
    };
    delivery(&log, "s", "next", at).await;
    assert_eq!(tokio::task::block_in_place(indexed), 6);
    assert_eq!(get(&log, "s", "999").await, None);
    assert!(get(&log, "s", "1000").await.is_some());
    delivery(&log, "s", "last", at).await;
    assert_eq!(tokio::task::block_in_place(indexed), 3);
    let page = list(&log, &EventQuery::default()).await;
    assert_eq!(ids(&page), ["last", "next", "1004"]);
    let records = tokio::task::block_in_place(|| keys(port, "shrunk:{events}:event:"));
    assert_eq!(records.len(), 3, "{records:?}");
}

/// A listing looks at a bounded number of index entries: past a long run of
/// records that do not match, it answers a short page with a cursor, and
/// the next page goes on from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_listings_scan_a_bounded_stretch_and_page_on() {
    let backend = redis().await;
    let log = backend.log(ROOMY);
    let at = now();
    arrive(
        &log,
        Received::new("s", "rare", "rare", at, Arrival::Delivery),
    )
    .await;
    for n in 0..5100 {
        delivery(&log, "s", &n.to_string(), at).await;
    }
    let query = EventQuery::default().event_type("rare");
    let first = list(&log, &query).await;
    assert!(first.events.is_empty(), "{first:?}");
    let cursor = first.next.expect("a cursor past the scanned stretch");
    let second = list(&log, &query.clone().after(cursor)).await;
    assert_eq!((ids(&second), &second.next), (vec!["rare"], &None));
    let newest = list(&log, &EventQuery::default().limit(2)).await;
    assert_eq!(ids(&newest), ["5099", "5098"]);
}

// ---------------------------------------------------------------------------
// The ready server on Redis, over TCP: what the log says of real deliveries.

/// Polls the record of `github`/`id` until `done` says so; bounded.
async fn wait_for_record(
    log: &RedisEventLog,
    id: &str,
    done: impl Fn(&EventRecord) -> bool,
) -> EventRecord {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let record = get(log, "github", id).await;
        if let Some(record) = record.filter(&done) {
            return record;
        }
        assert!(
            Instant::now() < deadline,
            "the record of {id} is still {:?} after {PATIENCE:?}",
            get(log, "github", id).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A delivery and its redelivery, inline or queued: the record, written by
/// the server in Redis and read by another client, says `succeeded` after
/// one attempt, with its listener's run, its body and headers, and the redelivery counted.
async fn a_delivery_and_its_redelivery_are_recorded_in_redis(dispatch: &str) {
    let redis = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .expect("start redis-server");
    let prefix = "e2e";
    let toml = format!(
        "{}\n[webhooks.dispatch]\nmode = \"{dispatch}\"\n",
        config(&redis.url(), prefix)
    );
    let counter = Counter::default();
    let listener = counter.clone();
    let server = TestServer::start(&toml, move |builder| builder.listener(listener)).await;
    let client = client();
    let url = server.url("/webhooks/github");
    let log = RedisEventLog::lazy(&redis.url(), prefix, LogBounds::default()).expect("a log");

    let answer = deliver(&client, &url, "delivery-1").await;
    assert!(answer.is_accepted(), "{answer:?}");
    let record = wait_for_record(&log, "delivery-1", |r| r.status.is_final()).await;
    assert_eq!(record.status, EventStatus::Succeeded, "{record:?}");
    assert_eq!((record.attempts, record.redeliveries), (1, 0));
    assert_eq!(record.event_type, "push");
    assert_eq!(record.body.as_deref(), Some(PUSH.as_bytes()));
    let headers = record
        .headers
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(headers.contains("x-github-event: push"), "{headers}");
    assert_eq!(record.listeners.len(), 1, "{record:?}");
    assert!(record.listeners[0].ok, "{record:?}");
    assert!(record.finished_at.is_some());

    let again = deliver(&client, &url, "delivery-1").await;
    assert!(again.is_duplicate(), "{again:?}");
    let record = wait_for_record(&log, "delivery-1", |r| r.redeliveries == 1).await;
    assert_eq!(
        (record.status, record.attempts),
        (EventStatus::Succeeded, 1)
    );
    assert_eq!(counter.runs(), 1);

    let page = list(&log, &EventQuery::default().source("github")).await;
    assert_eq!(ids(&page), ["delivery-1"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_deliveries_are_recorded_in_redis() {
    tokio::time::timeout(
        CASE_LIMIT,
        a_delivery_and_its_redelivery_are_recorded_in_redis("inline"),
    )
    .await
    .expect("the case hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_deliveries_are_recorded_in_redis() {
    tokio::time::timeout(
        CASE_LIMIT,
        a_delivery_and_its_redelivery_are_recorded_in_redis("queued"),
    )
    .await
    .expect("the case hung");
}
