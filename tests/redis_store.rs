//! The shared store suite against the in-memory store and against a Redis
//! of the test's own, plus what only Redis has: namespaced keys that expire
//! by themselves, and instances (processes) that share one Redis.
#![cfg(feature = "redis")]

mod redis_harness;

use std::sync::Arc;
use std::time::Duration;

use redis_harness::RedisServer;
use redis_harness::suite::{LEASE, SHORT, Store, TTL};
use webhooks::redis::RedisWebhookEventStore;
use webhooks::{Claim, IdempotencyStore, InMemoryWebhookEventStore, Lease};

const PREFIX: &str = "webhooks-test";

async fn in_memory_store() -> (Store<InMemoryWebhookEventStore>, ()) {
    (Arc::new(InMemoryWebhookEventStore::new()), ())
}

/// A fresh `redis-server` and a store connected to it.
async fn redis_store() -> (Store<RedisWebhookEventStore>, RedisServer) {
    let server = start_redis().await;
    let store = connect(&server, PREFIX).await;
    (Arc::new(store), server)
}

async fn start_redis() -> RedisServer {
    tokio::task::spawn_blocking(RedisServer::start)
        .await
        .expect("start redis-server")
}

async fn connect(server: &RedisServer, prefix: &str) -> RedisWebhookEventStore {
    RedisWebhookEventStore::connect(&server.url(), prefix)
        .await
        .unwrap_or_else(|error| panic!("connect to {}: {error}", server.url()))
}

mod in_memory {
    use super::in_memory_store;
    use super::redis_harness::suite::{for_each_case, store_tests};

    for_each_case!(store_tests!(in_memory_store));
}

mod redis {
    use super::redis_harness::suite::{for_each_case, store_tests};
    use super::redis_store;

    for_each_case!(store_tests!(redis_store));
}

async fn acquire(store: &RedisWebhookEventStore, key: &str, lease: Duration) -> Lease {
    match store.claim(key, lease).await.expect("claim") {
        Claim::Acquired(lease) => lease,
        other => panic!("claim {key}: expected Acquired, got {other:?}"),
    }
}

#[tokio::test]
async fn keys_carry_the_prefix_and_a_ttl() {
    let server = start_redis().await;
    let store = connect(&server, "shop-7").await;
    acquire(&store, "github:held", LEASE).await;
    let done = acquire(&store, "stripe:evt_done", LEASE).await;
    store
        .complete("stripe:evt_done", &done, TTL)
        .await
        .expect("complete");

    let held = "shop-7:idem:{github:held}";
    let completed = "shop-7:idem:{stripe:evt_done}";
    assert_eq!(
        redis_harness::keys(server.port(), ""),
        [held, completed],
        "every key of the store, and only those, under its prefix"
    );
    // A claim lives for its lease, a completed key for its TTL: both
    // expire by themselves.
    let held_ttl = redis_harness::pttl(server.port(), held);
    assert!(
        held_ttl > 0 && held_ttl <= LEASE.as_millis() as i64,
        "PTTL {held} = {held_ttl}"
    );
    let completed_ttl = redis_harness::pttl(server.port(), completed);
    assert!(
        completed_ttl > LEASE.as_millis() as i64 && completed_ttl <= TTL.as_millis() as i64,
        "PTTL {completed} = {completed_ttl}"
    );
    // The lease token and the completed marker are what Redis holds.
    assert_eq!(server.cli(&["GET", completed]).trim(), "done");
    assert_ne!(server.cli(&["GET", held]).trim(), "done");
}

#[tokio::test]
async fn stores_with_other_prefixes_do_not_share_keys() {
    let server = start_redis().await;
    let shop = connect(&server, "shop").await;
    let blog = connect(&server, "blog").await;
    let lease = acquire(&shop, "github:d-1", LEASE).await;
    shop.complete("github:d-1", &lease, TTL)
        .await
        .expect("complete");
    acquire(&blog, "github:d-1", LEASE).await;
    assert_eq!(
        shop.claim("github:d-1", LEASE).await.expect("claim"),
        Claim::Completed
    );
}

#[tokio::test]
async fn instances_with_one_prefix_share_claims() {
    let server = start_redis().await;
    let a = connect(&server, PREFIX).await;
    let b = connect(&server, PREFIX).await;
    let lease = acquire(&a, "github:d-1", LEASE).await;
    assert_eq!(
        b.claim("github:d-1", LEASE).await.expect("claim"),
        Claim::InProgress
    );
    a.complete("github:d-1", &lease, TTL)
        .await
        .expect("complete");
    assert_eq!(
        b.claim("github:d-1", LEASE).await.expect("claim"),
        Claim::Completed
    );
    // A release by A lets B process the redelivery.
    let lease = acquire(&a, "github:d-2", LEASE).await;
    a.release("github:d-2", &lease).await.expect("release");
    acquire(&b, "github:d-2", LEASE).await;
}

/// Each instance counts its leases from 1: the lease of one instance must
/// not match the successor claim of another that happens to have the same
/// count.
#[tokio::test]
async fn a_stale_lease_of_another_instance_cannot_undo_a_claim() {
    let server = start_redis().await;
    let a = connect(&server, PREFIX).await;
    let b = connect(&server, PREFIX).await;
    let stale = acquire(&a, "github:d-1", SHORT).await;
    // Wait past the lease without claiming, so B's first claim is its first
    // lease.
    tokio::time::sleep(SHORT * 4).await;
    let fresh = acquire(&b, "github:d-1", LEASE).await;
    assert_eq!(stale.token(), fresh.token(), "both instances' first lease");
    a.complete("github:d-1", &stale, TTL)
        .await
        .expect("complete");
    a.release("github:d-1", &stale).await.expect("release");
    assert_eq!(
        a.claim("github:d-1", LEASE).await.expect("claim"),
        Claim::InProgress,
        "A's stale lease undid B's claim"
    );
    b.complete("github:d-1", &fresh, TTL)
        .await
        .expect("complete");
    assert_eq!(
        a.claim("github:d-1", LEASE).await.expect("claim"),
        Claim::Completed
    );
}

/// A claim whose answer does not come (a frozen server: the command
/// times out) is refused, but Redis runs it when it resumes. The store
/// undoes it then, so the provider's retry of the refused delivery is
/// processed rather than held as "in progress" for the whole lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_that_timed_out_does_not_hold_the_key() {
    let server = start_redis().await;
    let store = connect(&server, PREFIX).await;
    // The scripts are cached by a first claim, as in a running server.
    acquire(&store, "github:warm", LEASE).await;

    server.pause();
    let refused = tokio::time::timeout(Duration::from_secs(10), store.claim("github:d-1", LEASE))
        .await
        .expect("a claim on a frozen Redis hung");
    assert!(refused.is_err(), "a frozen Redis answered: {refused:?}");
    server.resume();

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match store.claim("github:d-1", LEASE).await.expect("claim") {
            Claim::Acquired(_) => break,
            other => assert!(
                std::time::Instant::now() < deadline,
                "the refused claim still holds the key: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_suite_passes_on_one_shared_redis() {
    let (store, _server) = redis_store().await;
    redis_harness::suite::run_all(&store).await;
}

/// The harness itself: a private server, never the machine's Redis, that
/// a test can stop and start again on the same port.
#[test]
fn the_harness_starts_stops_and_restarts_a_private_server() {
    let mut server = RedisServer::start();
    assert_ne!(server.port(), 6379);
    assert_eq!(
        server.url(),
        format!("redis://127.0.0.1:{}/0", server.port())
    );
    assert!(redis_harness::ping(server.port()));
    server.stop();
    assert!(!redis_harness::ping(server.port()));
    server.restart();
    assert!(redis_harness::ping(server.port()));
}
