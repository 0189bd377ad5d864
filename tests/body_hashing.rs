//! Hashing the body as it arrives, over real TCP: a 1 MiB body sent in
//! many frames is verified as it arrives and accepted whole, and a tampered
//! one is 401. That every scheme decides the same with the MACs as without
//! them is `webhooks-core`'s `tests/body_hashing.rs`.

mod common;

use std::net::SocketAddr;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use webhooks::testing;

/// The body with one byte changed: same length.
fn flipped(body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    let middle = body.len() / 2;
    body[middle] ^= 0x01;
    body
}

/// A 1 MiB `push` body: JSON, its middle a long string.
fn large_body() -> Vec<u8> {
    let mut body = br#"{"ref":"refs/heads/main","padding":""#.to_vec();
    body.resize(1024 * 1024 - 2, b'x');
    body.extend_from_slice(b"\"}");
    body
}

/// POSTs `body` to `/webhooks/github` with `headers`, in frames of 64 KiB,
/// chunked or with a `Content-Length`; the status of the answer.
async fn post_in_frames(
    addr: SocketAddr,
    headers: &[(String, String)],
    body: &[u8],
    chunked: bool,
) -> u16 {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut head =
        format!("POST /webhooks/github HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&if chunked {
        "Transfer-Encoding: chunked\r\n\r\n".to_owned()
    } else {
        format!("Content-Length: {}\r\n\r\n", body.len())
    });
    within("the request to be sent", async {
        stream.write_all(head.as_bytes()).await.expect("the head");
        for frame in body.chunks(64 * 1024) {
            if chunked {
                let size = format!("{:x}\r\n", frame.len());
                stream
                    .write_all(size.as_bytes())
                    .await
                    .expect("a chunk size");
            }
            stream.write_all(frame).await.expect("a frame");
            if chunked {
                stream.write_all(b"\r\n").await.expect("a chunk end");
            }
            stream.flush().await.expect("flushed");
            tokio::task::yield_now().await;
        }
        if chunked {
            stream
                .write_all(b"0\r\n\r\n")
                .await
                .expect("the last chunk");
        }
    })
    .await;
    let mut answer = Vec::new();
    within("the answer", stream.read_to_end(&mut answer))
        .await
        .expect("the answer");
    let answer = String::from_utf8_lossy(&answer);
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

#[tokio::test]
async fn a_large_body_in_many_frames_is_verified_as_it_arrives() {
    let probe = Probe::new("github", "push");
    let seen = probe.seen();
    let keys = "max-body-bytes = 2097152";
    let server = TestServer::start(config(keys, ""), |b| b.listener(probe)).await;
    let body = large_body();
    for (round, chunked) in [true, false].into_iter().enumerate() {
        let delivery = format!("large-{round}");
        let event = testing::github(GITHUB_SECRET, "push", &body)
            .with_header("X-GitHub-Delivery", &delivery);
        let headers: Vec<(String, String)> = event
            .headers()
            .iter()
            .map(|(name, value)| (name.to_owned(), String::from_utf8_lossy(value).into_owned()))
            .collect();
        let status = post_in_frames(server.addr, &headers, &flipped(&body), chunked).await;
        assert_eq!(status, 401, "a tampered body, chunked: {chunked}");
        assert_eq!(seen.count(), round);
        let status = post_in_frames(server.addr, &headers, &body, chunked).await;
        assert_eq!(status, 200, "chunked: {chunked}");
        assert_eq!(seen.count(), round + 1);
        assert_eq!(seen.ids()[round], delivery);
        assert!(
            seen.bodies()[round] == body,
            "the listener got the body whole"
        );
    }
}
