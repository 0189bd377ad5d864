//! The event lifecycle's promise, on the in-memory backend, over TCP: a
//! claim lives as long as its listeners run, a hung-up client cancels
//! nothing, a listener that never returns is cut off by
//! `listener-timeout-seconds`, a shutdown is bounded by
//! `shutdown-timeout-seconds`, and events waiting for a retry take up queue
//! capacity.
//!
//! Waits are bounded by [`PATIENCE`] (hang guards); the only sleeps let a
//! lease run out or a hang-up reach the server, and nothing asserts how long
//! anything took.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The sum of every series `name{…}` whose labels include all of `labels`
/// (0 when none does): the listener label and others need not be named.
fn total(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut sum = 0.0;
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (series_name, label_text) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.strip_suffix('}').unwrap_or(rest)),
            None => (series, ""),
        };
        if series_name != name {
            continue;
        }
        let found: Vec<(&str, &str)> = label_text
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k, v.trim_matches('"')))
            .collect();
        if labels.iter().all(|wanted| found.contains(wanted)) {
            sum += value.parse::<f64>().expect("a number");
        }
    }
    sum
}

/// Writes `delivery` as one HTTP/1.1 request on a fresh connection and
/// returns the open connection, without reading the answer.
async fn send_raw(addr: std::net::SocketAddr, delivery: &Signed) -> TcpStream {
    let mut head = format!(
        "POST /webhooks/{} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        delivery.source,
        delivery.body.len()
    );
    for (name, value) in &delivery.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("the head");
    stream.write_all(&delivery.body).await.expect("the body");
    stream.flush().await.expect("flushed");
    stream
}

/// Every log line of this test binary, captured once for all its tests;
/// each test looks only for its own event ids.
fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&buffer);
        let _ = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || Capture(Arc::clone(&writer)))
            .try_init();
        buffer
    })
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The captured lines at level ERROR that mention `needle`.
fn error_lines_with(needle: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    text.lines()
        .filter(|line| line.contains("ERROR") && line.contains(needle))
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------
// A claim is kept alive while its listener runs.

/// Inline, `lease-seconds = 1`: the listener's first run outlives the lease
/// twice over. Redeliveries meanwhile get 409 (the claim was renewed, not
/// lost), the listener runs once, and after it ended a redelivery is a
/// duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_listener_outlives_a_short_lease_runs_once_and_redeliveries_get_409() {
    let gate = Gate::default();
    let probe = Probe::new("partner", "*").with({
        let gate = gate.clone();
        move |_, calls| {
            let gate = gate.clone();
            async move {
                // Only the first run is held: a second run (the bug) answers.
                if calls == 0 {
                    gate.pass().await;
                }
                Ok(())
            }
        }
    });
    let seen = probe.seen();
    let tables = "[webhooks.idempotency]\nlease-seconds = 1";
    let server = TestServer::start(config("", tables), |b| b.listener(probe)).await;
    let delivery = partner(Some("slow-1"), r#"{"type":"report.ready"}"#);

    let first = tokio::spawn({
        let (client, delivery) = (server.client(), delivery.clone());
        async move { client.post(&delivery).await }
    });
    gate.arrivals(1).await;
    for round in 1..=2 {
        // Past the lease each time: only a renewal keeps the claim.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let again = server.post(&delivery).await;
        assert_eq!(
            again.status,
            409,
            "redelivery {round}, {} ms into a run with a 1 s lease, while the listener still \
             runs: {again:?} (listener runs so far: {})",
            round * 1_500,
            seen.count()
        );
        assert_eq!(again.error(), "in progress");
        again.expect_retry_later(409);
    }
    assert_eq!(seen.count(), 1, "the listener ran again while it ran");

    gate.let_through(1);
    within("the first delivery's answer", first)
        .await
        .expect("the delivery task")
        .accepted("slow-1");
    server.post(&delivery).await.duplicate("slow-1");
    assert_eq!(seen.count(), 1);
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// A client that hangs up cancels nothing.

/// Inline: the client sends a signed delivery and hangs up while the
/// listener is held. The listener still runs to its end, the event is
/// recorded as done (a redelivery is a duplicate), and it never failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_mid_listener_does_not_cancel_its_event() {
    let gate = Gate::default();
    let finished = Arc::new(AtomicBool::new(false));
    let probe = Probe::new("partner", "*").with({
        let (gate, finished) = (gate.clone(), Arc::clone(&finished));
        move |_, _| {
            let (gate, finished) = (gate.clone(), Arc::clone(&finished));
            async move {
                gate.pass().await;
                finished.store(true, Ordering::SeqCst);
                Ok(())
            }
        }
    });
    let seen = probe.seen();
    let server = TestServer::start(config("", ""), |b| b.listener(probe)).await;
    let delivery = partner(Some("hangup-1"), r#"{"type":"order.paid"}"#);

    let stream = send_raw(server.addr, &delivery).await;
    gate.arrivals(1).await;
    drop(stream);
    // Let the hang-up reach the server before the listener may go on.
    tokio::time::sleep(Duration::from_millis(300)).await;
    gate.open();
    eventually("the listener to finish after its client hung up", || {
        finished.load(Ordering::SeqCst)
    })
    .await;

    // Recorded as done: the provider's resend is a duplicate (it may still
    // be settling for a moment: 409 until then).
    let answer = within("the redelivery to be a duplicate", async {
        loop {
            let answer = server.post(&delivery).await;
            if answer.status != 409 {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    answer.duplicate("hangup-1");
    assert_eq!(seen.count(), 1, "the listener ran again");
    let text = server.metrics().await;
    let handled = "webhooks_handled_total";
    assert_eq!(total(&text, handled, &[("outcome", "ok")]), 1.0, "{text}");
    assert_eq!(
        total(&text, handled, &[("outcome", "error")]),
        0.0,
        "{text}"
    );
    server.shutdown().await;
}

/// Inline: the client hangs up, then the held listener fails. The claim is
/// released, so the provider's resend is processed (not 409 until a lease
/// runs out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_failing_after_its_client_hung_up_releases_the_claim() {
    let gate = Gate::default();
    let probe = Probe::new("partner", "*").with({
        let gate = gate.clone();
        move |_, calls| {
            let gate = gate.clone();
            async move {
                if calls == 0 {
                    gate.pass().await;
                    return Err("the first run fails".into());
                }
                Ok(())
            }
        }
    });
    let seen = probe.seen();
    let server = TestServer::start(config("", ""), |b| b.listener(probe)).await;
    let delivery = partner(Some("hangup-2"), r#"{"type":"order.paid"}"#);

    let stream = send_raw(server.addr, &delivery).await;
    gate.arrivals(1).await;
    drop(stream);
    tokio::time::sleep(Duration::from_millis(300)).await;
    gate.open();

    let answer = within(
        "the resend to be processed (the claim released after the failure)",
        async {
            loop {
                let answer = server.post(&delivery).await;
                if answer.status != 409 {
                    return answer;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        },
    )
    .await;
    answer.accepted("hangup-2");
    assert_eq!(seen.count(), 2, "the failed run, then the resend's");
    let text = server.metrics().await;
    let handled = "webhooks_handled_total";
    assert_eq!(
        total(&text, handled, &[("outcome", "error")]),
        1.0,
        "{text}"
    );
    assert_eq!(total(&text, handled, &[("outcome", "ok")]), 1.0, "{text}");
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// listener-timeout-seconds

/// Inline, `listener-timeout-seconds = 1`: a listener that never returns
/// has failed once the timeout passed (500, claim released), the event's
/// other listener still ran, and the provider's resend is processed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_a_listener_running_past_listener_timeout_has_failed_and_the_others_ran() {
    let stuck = Probe::new("partner", "*")
        .named("stuck")
        .with(|_, calls| async move {
            if calls == 0 {
                std::future::pending::<()>().await;
            }
            Ok(())
        });
    let steady = Probe::new("partner", "*").named("steady");
    let (stuck_seen, steady_seen) = (stuck.seen(), steady.seen());
    let tables = "[webhooks.dispatch]\nlistener-timeout-seconds = 1";
    let server =
        TestServer::start(config("", tables), |b| b.listener(stuck).listener(steady)).await;
    let delivery = partner(Some("timeout-1"), r#"{"type":"sync.requested"}"#);

    let answer = server.post(&delivery).await;
    answer.expect(500, serde_json::json!({"error": "listener failed"}));
    assert_eq!(stuck_seen.count(), 1);
    assert_eq!(steady_seen.count(), 1, "the other listener did not run");
    let text = server.metrics().await;
    let handled = "webhooks_handled_total";
    assert_eq!(
        total(&text, handled, &[("outcome", "error")]),
        1.0,
        "{text}"
    );
    assert_eq!(total(&text, handled, &[("outcome", "ok")]), 1.0, "{text}");

    server.post(&delivery).await.accepted("timeout-1");
    assert_eq!(stuck_seen.count(), 2);
    server.post(&delivery).await.duplicate("timeout-1");
    server.shutdown().await;
}

/// Queued, `listener-timeout-seconds = 1`: the listener that never returns
/// on its first attempt is retried (attempt 2), the one that succeeded is
/// not run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_a_listener_running_past_listener_timeout_is_retried_alone() {
    let stuck = Probe::new("partner", "*")
        .named("stuck")
        .with(|_, calls| async move {
            if calls == 0 {
                std::future::pending::<()>().await;
            }
            Ok(())
        });
    let steady = Probe::new("partner", "*").named("steady");
    let (stuck_seen, steady_seen) = (stuck.seen(), steady.seen());
    let tables = queued("listener-timeout-seconds = 1\nmax-attempts = 3\nbackoff-initial-ms = 10");
    let server =
        TestServer::start(config("", &tables), |b| b.listener(stuck).listener(steady)).await;

    server
        .post(&partner(Some("timeout-2"), r#"{"type":"sync.requested"}"#))
        .await
        .accepted("timeout-2");
    eventually("the stuck listener's retry", || stuck_seen.count() == 2).await;
    assert_eq!(stuck_seen.attempts(), [1, 2]);
    assert_eq!(steady_seen.count(), 1, "the succeeded listener ran again");
    // The first attempt's timeout was counted as the listener's failure.
    let text = server.metrics().await;
    let handled = "webhooks_handled_total";
    assert_eq!(
        total(&text, handled, &[("outcome", "error")]),
        1.0,
        "{text}"
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// shutdown-timeout-seconds

/// Inline, `shutdown-timeout-seconds = 1`: a listener that never returns
/// does not hold the server: it stops (its task returns Ok), and the
/// delivery in flight got no 2xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_shutdown_is_bounded_although_a_listener_never_returns() {
    let gate = Gate::default();
    let probe = Probe::new("partner", "*").gated(&gate);
    let keys = "shutdown-timeout-seconds = 1";
    let mut server = TestServer::start(config(keys, ""), |b| b.listener(probe)).await;
    let delivery = partner(Some("forever-1"), r#"{"type":"export.requested"}"#);
    let in_flight = tokio::spawn({
        let (http, url) = (server.http.clone(), server.url("/webhooks/partner"));
        let delivery = delivery.clone();
        async move {
            let mut request = http.post(url).body(delivery.body.clone());
            for (name, value) in &delivery.headers {
                request = request.header(name, value);
            }
            request
                .send()
                .await
                .map(|response| response.status().as_u16())
        }
    });
    gate.arrivals(1).await;

    server.signal_shutdown();
    // `shutdown` waits at most PATIENCE (15 s): a hang guard well above the
    // 1 s timeout plus any margin.
    server.shutdown().await;
    // Its answer, if it got one (a closed connection is no 2xx either): the
    // event was handed back, not done.
    let answered = tokio::time::timeout(Duration::from_secs(2), in_flight).await;
    if let Ok(Ok(Ok(status))) = answered {
        assert!(
            !(200..300).contains(&status),
            "an unfinished event got {status}"
        );
    }
}

/// Queued, in-memory, `shutdown-timeout-seconds = 1`: the server stops
/// although a listener never returns, and the event it lost (no durable
/// queue to hand it back to) is logged at ERROR with its key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_shutdown_is_bounded_and_logs_each_lost_event_at_error() {
    let _ = logs();
    let gate = Gate::default();
    let probe = Probe::new("partner", "*").gated(&gate);
    let keys = "shutdown-timeout-seconds = 1";
    let server = TestServer::start(config(keys, &queued("")), |b| b.listener(probe)).await;
    for key in ["lost-running-7f3a", "lost-waiting-7f3a"] {
        server
            .post(&partner(Some(key), r#"{"type":"export.requested"}"#))
            .await
            .accepted(key);
    }
    // At least one runs (held forever); the other runs too or waits.
    gate.arrivals(1).await;

    server.shutdown().await;
    for key in ["lost-running-7f3a", "lost-waiting-7f3a"] {
        assert!(
            !error_lines_with(key).is_empty(),
            "the lost event {key} was not logged at ERROR:\n{}",
            String::from_utf8_lossy(&logs().lock().unwrap())
        );
    }
}

// ---------------------------------------------------------------------------
// Queue capacity counts events waiting for a retry.

/// Queued, in-memory, `queue-capacity = 2`: two events whose listener
/// failed wait for their retry (long backoff); a third is refused with 503
/// and `Retry-After`, and nothing was recorded for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_capacity_counts_events_waiting_for_a_retry() {
    let failing = Arc::new(AtomicBool::new(true));
    let probe = Probe::new("partner", "*").with({
        let failing = Arc::clone(&failing);
        move |_, _| {
            let fail = failing.load(Ordering::SeqCst);
            async move {
                if fail {
                    return Err("not yet".into());
                }
                Ok(())
            }
        }
    });
    let seen = probe.seen();
    let tables = queued("queue-capacity = 2\nmax-attempts = 3\nbackoff-initial-ms = 4000");
    let server = TestServer::start(config("", &tables), |b| b.listener(probe)).await;
    let delivery = |key: &str| partner(Some(key), r#"{"type":"invoice.created"}"#);

    for key in ["cap-1", "cap-2"] {
        server.post(&delivery(key)).await.accepted(key);
    }
    eventually("both events' first attempt to fail", || seen.count() == 2).await;
    // Both now wait for their retry, seconds away.
    let third = server.post(&delivery("cap-3")).await;
    assert_eq!(
        third.status, 503,
        "a third event while two wait for a retry in a queue of 2: {third:?}"
    );
    third.expect_retry_later(503);

    failing.store(false, Ordering::SeqCst);
    eventually("the retries to run", || seen.count() == 4).await;
    // Nothing was recorded for the refused one: its resend is new.
    server.post(&delivery("cap-3")).await.accepted("cap-3");
    eventually("the resent event to run", || seen.count() == 5).await;
    server.shutdown().await;
}
