//! The load generator: keep-alive HTTP/1.1 connections, each sending signed
//! GitHub `push` deliveries with unique ids back to back, a warm-up, then a
//! measured window.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{HeaderValue, Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

use crate::payload::delivery_id;

const WARM_UP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

/// What every request of a run carries.
#[derive(Clone)]
pub(crate) struct Load {
    /// The signed body.
    pub(crate) body: Bytes,
    /// Its `X-Hub-Signature-256`.
    pub(crate) signature: HeaderValue,
    /// Connections kept open at once.
    pub(crate) connections: usize,
    /// Unique delivery ids for the whole bench run.
    pub(crate) ids: Arc<AtomicU64>,
}

/// What the measured window saw.
pub(crate) struct Window {
    /// Requests answered within the window.
    pub(crate) requests: u64,
    /// Of them, answers other than 200 `accepted`.
    pub(crate) errors: u64,
    /// The first such answer, for the report.
    pub(crate) first_error: Option<String>,
    /// Its length.
    pub(crate) elapsed: Duration,
    /// Latency of each request answered in it, in microseconds.
    pub(crate) latency: Histogram<u64>,
}

struct Shared {
    phase: AtomicU8,
}

struct Tally {
    requests: u64,
    errors: u64,
    first_error: Option<String>,
    latency: Histogram<u64>,
}

/// Drives `addr` with `load`: a warm-up, then `window` measured, calling
/// `at_start` and `at_end` (which read the server's counters) at the
/// window's edges.
pub(crate) fn drive<T>(
    runtime: &Runtime,
    addr: SocketAddr,
    load: &Load,
    warm_up: Duration,
    window: Duration,
    mut at_edge: impl FnMut() -> Result<T, String>,
) -> Result<(Window, T, T), String> {
    let shared = Arc::new(Shared {
        phase: AtomicU8::new(WARM_UP),
    });
    let tasks: Vec<_> = (0..load.connections)
        .map(|_| runtime.spawn(connection(addr, load.clone(), Arc::clone(&shared))))
        .collect();
    std::thread::sleep(warm_up);
    let before = at_edge();
    shared.phase.store(MEASURE, Ordering::SeqCst);
    let started = Instant::now();
    std::thread::sleep(window);
    shared.phase.store(STOP, Ordering::SeqCst);
    let elapsed = started.elapsed();
    let after = at_edge();
    let mut total = Window {
        requests: 0,
        errors: 0,
        first_error: None,
        elapsed,
        latency: new_histogram(),
    };
    for task in tasks {
        let tally = runtime
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(30), task)
                    .await
                    .map_err(|_| "a connection did not finish within 30 s".to_owned())
            })?
            .map_err(|error| format!("connection task: {error}"))??;
        total.requests += tally.requests;
        total.errors += tally.errors;
        total.first_error = total.first_error.or(tally.first_error);
        total
            .latency
            .add(&tally.latency)
            .map_err(|error| format!("histogram: {error}"))?;
    }
    Ok((total, before?, after?))
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

async fn connection(addr: SocketAddr, load: Load, shared: Arc<Shared>) -> Result<Tally, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|error| format!("connect {addr}: {error}"))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| format!("handshake: {error}"))?;
    tokio::spawn(connection);
    let host = HeaderValue::from_str(&addr.to_string()).expect("an address is a valid header");
    let mut tally = Tally {
        requests: 0,
        errors: 0,
        first_error: None,
        latency: new_histogram(),
    };
    loop {
        if shared.phase.load(Ordering::Relaxed) == STOP {
            return Ok(tally);
        }
        let id = delivery_id(load.ids.fetch_add(1, Ordering::Relaxed));
        let request = Request::post("/webhooks/github")
            .header(header::HOST, host.clone())
            .header(header::USER_AGENT, "GitHub-Hookshot/bench")
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-github-event", "push")
            .header("x-github-hook-id", "292430182")
            .header("x-github-delivery", id.as_str())
            .header("x-hub-signature-256", load.signature.clone())
            .body(Full::new(load.body.clone()))
            .expect("a valid request");
        sender
            .ready()
            .await
            .map_err(|error| format!("connection closed: {error}"))?;
        let sent = Instant::now();
        let response = sender
            .send_request(request)
            .await
            .map_err(|error| format!("request: {error}"))?;
        let status = response.status();
        let answer = response
            .into_body()
            .collect()
            .await
            .map_err(|error| format!("response body: {error}"))?
            .to_bytes();
        let latency = sent.elapsed();
        if shared.phase.load(Ordering::Relaxed) != MEASURE {
            continue;
        }
        tally.requests += 1;
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        tally.latency.saturating_record(micros.max(1));
        if status != 200 || !answer.starts_with(br#"{"status":"accepted""#) {
            tally.errors += 1;
            if tally.first_error.is_none() {
                tally.first_error = Some(format!(
                    "{status} {}",
                    String::from_utf8_lossy(&answer[..answer.len().min(200)])
                ));
            }
        }
    }
}
