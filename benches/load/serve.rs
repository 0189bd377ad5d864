//! The server side: the ready server and the floor, each in a process of its
//! own, counting its heap allocations and telling them on request.

use std::convert::Infallible;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use tokio::net::TcpListener;
use webhooks::{WebhookEvent, WebhookListener};

/// Every process of the bench counts its allocations; only the servers'
/// counts are read.
#[global_allocator]
static ALLOCATOR: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

/// Bytes allocated and not yet freed by this process.
pub(crate) fn live_heap_bytes() -> u64 {
    let stats = ALLOCATOR.stats();
    // Growth by realloc is already in bytes_allocated, shrinking in
    // bytes_deallocated.
    stats
        .bytes_allocated
        .saturating_sub(stats.bytes_deallocated) as u64
}

/// Which server a child process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Bare hyper: reads the body, answers the accepted JSON.
    Floor,
    /// `webhooks::Server` from a configuration file.
    Ready,
}

/// Runs a server in this process until its standard input closes. Prints
/// `listening <addr>` once it accepts connections, then answers each
/// `stats` line on standard input with `allocs <n> reallocs <n> bytes <n>`.
pub(crate) fn run(kind: Kind, config: Option<&Path>) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("tokio runtime: {error}"))?;
    runtime.block_on(async {
        match kind {
            Kind::Floor => floor().await,
            Kind::Ready => ready(config.ok_or("--serve ready needs a config path")?).await,
        }
    })
}

fn announce(addr: SocketAddr) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "listening {addr}");
    let _ = stdout.flush();
    drop(stdout);
    std::thread::spawn(answer_stats);
}

/// Answers `stats` lines; exits the process when the parent closes stdin
/// (or dies), so no server outlives its bench.
fn answer_stats() {
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim() == "stats" {
            let stats = ALLOCATOR.stats();
            // Includes what reallocations grew by.
            let bytes = stats.bytes_allocated;
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(
                stdout,
                "allocs {} reallocs {} bytes {bytes}",
                stats.allocations, stats.reallocations
            );
            let _ = stdout.flush();
        }
    }
    std::process::exit(0);
}

/// The ready server of the `server` example with a no-op `push` listener.
async fn ready(path: &Path) -> Result<(), String> {
    let config = webhooks::Config::load(path)
        .map_err(|error| format!("{}: {error}", path.display()))?
        .webhooks;
    let server = webhooks::Server::from_config(config)
        .configure(|builder| builder.listener(NoOpListener))
        .with_graceful_shutdown(std::future::pending())
        .bind()
        .await
        .map_err(|error| format!("ready server: {error}"))?;
    announce(server.local_addr());
    server
        .await
        .map_err(|error| format!("ready server: {error}"))
}

/// Listens to GitHub `push` and does nothing.
struct NoOpListener;

impl WebhookListener for NoOpListener {
    type Error = Infallible;

    fn source(&self) -> &str {
        "github"
    }

    fn event(&self) -> &str {
        "push"
    }

    async fn handle(&self, _event: &WebhookEvent) -> Result<(), Infallible> {
        Ok(())
    }
}

/// The floor: hyper 1.x over HTTP/1.1 with the ready server's connection
/// settings, reading the whole body and answering what the ready server
/// answers for a new delivery, nothing else.
async fn floor() -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|error| format!("floor bind: {error}"))?;
    let addr = listener
        .local_addr()
        .map_err(|error| format!("floor address: {error}"))?;
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .keep_alive(true);
    announce(addr);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = http.serve_connection(TokioIo::new(stream), service_fn(floor_answer));
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}

async fn floor_answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    if body.collect().await.is_err() {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::BAD_REQUEST;
        return Ok(response);
    }
    let id = parts
        .headers
        .get("x-github-delivery")
        .map_or(&b""[..], HeaderValue::as_bytes);
    let mut json = Vec::with_capacity(29 + id.len());
    json.extend_from_slice(br#"{"status":"accepted","id":""#);
    json.extend_from_slice(id);
    json.extend_from_slice(br#""}"#);
    let mut response = Response::new(Full::new(Bytes::from(json)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
