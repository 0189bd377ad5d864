//! Hostile clients against the real server over TCP: a head or a body
//! trickled byte by byte (408, closed), a connection that never says
//! anything (closed), a head far over `max-header-bytes` (431, closed).
//! Every wait is bounded by `common::PATIENCE`; nothing asserts a time.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How often a trickling client sends its next byte.
const TRICKLE: Duration = Duration::from_millis(200);

/// Connects, writes `head`, then one byte of `drip` every [`TRICKLE`]
/// until the server answers; returns what it sent until it closed.
async fn trickle(addr: SocketAddr, head: &str, drip: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("the head");
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 4096];
    let mut drops = drip.iter().cycle();
    within("the server to answer and close", async {
        loop {
            tokio::select! {
                read = stream.read(&mut buffer) => match read {
                    Ok(n @ 1..) => answer.extend_from_slice(&buffer[..n]),
                    // Closed (or reset after the answer).
                    _ => break,
                },
                () = tokio::time::sleep(TRICKLE), if answer.is_empty() => {
                    let byte = *drops.next().expect("cycles");
                    if stream.write_all(&[byte]).await.is_err() {
                        break;
                    }
                }
            }
        }
    })
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[track_caller]
fn assert_timed_out(answer: &str) {
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer:?}"
    );
    assert!(
        answer.ends_with(r#"{"error":"request timeout"}"#),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_trickled_body_gets_408_and_the_connection_is_closed() {
    let probe = Probe::new("stripe", "*");
    let seen = probe.seen();
    let keys = "request-timeout-seconds = 1";
    let server = TestServer::start(config(keys, ""), |b| b.listener(probe)).await;
    let delivery = stripe("evt_trickled", "x");
    let head = format!(
        "POST /webhooks/stripe HTTP/1.1\r\nHost: {}\r\nStripe-Signature: {}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
        server.addr,
        delivery.header("Stripe-Signature")
    );
    let answer = trickle(server.addr, &head, b" ").await;
    assert_timed_out(&answer);
    assert_eq!(seen.count(), 0);
    // The server is fine for everyone else.
    server
        .post(&stripe("evt_after", "x"))
        .await
        .accepted("evt_after");
    server.shutdown().await;
}

#[tokio::test]
async fn a_trickled_head_gets_408_and_the_connection_is_closed() {
    let server = TestServer::start(config("request-timeout-seconds = 1", ""), |b| b).await;
    let head = format!(
        "POST /webhooks/stripe HTTP/1.1\r\nHost: {}\r\nX-Slow: ",
        server.addr
    );
    let answer = trickle(server.addr, &head, b"abcdefgh").await;
    assert_timed_out(&answer);
    server.shutdown().await;
}

#[tokio::test]
async fn an_idle_connection_fresh_or_kept_alive_is_closed_quietly() {
    let server = TestServer::start(config("request-timeout-seconds = 1", ""), |b| b).await;
    // Never a byte: closed, with no answer (there was no request).
    assert_eq!(raw_exchange(server.addr, "", &[]).await, "");
    // One request answered, then nothing: the kept-alive connection closes.
    let health = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr);
    let answer = raw_exchange(server.addr, &health, &[]).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(answer.ends_with(r#"{"status":"ok"}"#), "{answer:?}");
    server.shutdown().await;
}

/// A signed Stripe delivery's head with a `X-Padding` header of `padding`
/// bytes, and its body.
fn padded(addr: SocketAddr, id: &str, padding: usize) -> (String, Vec<u8>) {
    let delivery = stripe(id, "x");
    let head = format!(
        "POST /webhooks/stripe HTTP/1.1\r\nHost: {addr}\r\nStripe-Signature: {}\r\n\
         X-Padding: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        delivery.header("Stripe-Signature"),
        "p".repeat(padding),
        delivery.body.len()
    );
    (head, delivery.body)
}

#[tokio::test]
async fn a_one_megabyte_head_gets_431_and_the_connection_is_closed() {
    let probe = Probe::new("stripe", "*");
    let seen = probe.seen();
    // The default limits: 16 KiB of head, 1 MiB of body.
    let server = TestServer::start(config("", ""), |b| b.listener(probe)).await;
    let (head, body) = padded(server.addr, "evt_huge_head", 1_000_000);
    let answer = raw_exchange(server.addr, &head, &[body]).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.200}");
    // A head within the limit is served as before.
    let (head, body) = padded(server.addr, "evt_12k_head", 12 * 1024);
    let answer = raw_exchange(server.addr, &head, &[body]).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.200}");
    assert_eq!(seen.ids(), ["evt_12k_head"]);
    server.shutdown().await;
}

#[tokio::test]
async fn the_head_limit_follows_its_key_and_not_the_body_limit() {
    let probe = Probe::new("stripe", "*");
    let seen = probe.seen();
    let keys = "max-header-bytes = 4096\nmax-body-bytes = 2097152";
    let server = TestServer::start(config(keys, ""), |b| b.listener(probe)).await;
    let (head, body) = padded(server.addr, "evt_8k_head", 8 * 1024);
    let answer = raw_exchange(server.addr, &head, &[body]).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.200}");
    // A small head with a large body: the body limit is the body's.
    let padding = "p".repeat(1_500_000);
    let body = format!(r#"{{"id":"evt_big_body","object":"event","type":"x","p":"{padding}"}}"#);
    let delivery = stripe_at(&body, unix_now());
    server.post(&delivery).await.accepted("evt_big_body");
    assert_eq!(seen.ids(), ["evt_big_body"]);
    server.shutdown().await;
}
