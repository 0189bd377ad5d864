//! The ready server on `provider = "redis"` while its Redis fails: killed,
//! frozen, or lost in the middle of a delivery. Each delivery is refused
//! with 503 and `Retry-After` (never a 2xx, never a hang), `/readyz` says
//! so, and once Redis is back the same server, without a restart, accepts
//! deliveries again, the refused ones included.
#![cfg(feature = "redis")]

mod redis_harness;

use std::sync::atomic::Ordering;

use redis_harness::RedisServer;
use redis_harness::server::{
    Answer, Counter, Gate, PATIENCE, TestServer, client, config, deliver, get, sample,
    wait_for_status,
};

async fn start_redis() -> RedisServer {
    tokio::task::spawn_blocking(RedisServer::start)
        .await
        .expect("start redis-server")
}

fn assert_refused(answer: &Answer, what: &str) {
    assert!(
        answer.is_unavailable(),
        "{what}: expected 503 with Retry-After, got {answer:?}"
    );
    assert!(
        answer.body.contains("unavailable"),
        "{what}: the body says why: {answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_redis_gives_503_and_the_server_recovers_by_itself() {
    let mut redis = start_redis().await;
    let counter = Counter::default();
    let listener = counter.clone();
    let server = TestServer::start(&config(&redis.url(), "outage"), move |builder| {
        builder.listener(listener)
    })
    .await;
    let client = client();
    let hook = server.url("/webhooks/github");

    assert!(deliver(&client, &hook, "before-1").await.is_accepted());
    assert_eq!(get(&client, &server.url("/readyz")).await.status, 200);

    redis.stop();
    for i in 0..5 {
        let answer = deliver(&client, &hook, &format!("during-{i}")).await;
        assert_refused(&answer, &format!("delivery during-{i} while Redis is down"));
    }
    // Not even a delivery that was recorded before can be answered: the
    // store cannot tell.
    let again = deliver(&client, &hook, "before-1").await;
    assert_refused(&again, "a redelivery while Redis is down");
    wait_for_status(&client, &server.url("/readyz"), 503).await;
    let ready = get(&client, &server.url("/readyz")).await;
    assert!(ready.retry_after.is_some(), "{ready:?}");

    redis.restart();
    wait_for_status(&client, &server.url("/readyz"), 200).await;
    assert!(deliver(&client, &hook, "after-1").await.is_accepted());
    // Nothing was recorded for the refused deliveries: resent, they are
    // processed.
    for i in 0..5 {
        let answer = deliver(&client, &hook, &format!("during-{i}")).await;
        assert!(answer.is_accepted(), "during-{i} resent: {answer:?}");
    }
    let answer = deliver(&client, &hook, "during-0").await;
    assert!(answer.is_duplicate(), "{answer:?}");
    assert_eq!(
        counter.runs(),
        1 + 1 + 5,
        "a listener ran for a refused delivery"
    );

    let metrics = get(&client, &server.url("/metrics")).await.body;
    let labels =
        |outcome: &str| format!(r#"event_type="push",outcome="{outcome}",source="github""#);
    assert_eq!(
        sample(&metrics, "webhooks_received_total", &labels("unavailable")),
        6.0,
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "webhooks_received_total", &labels("accepted")),
        7.0,
        "{metrics}"
    );
    server.stop().await;
}

/// A Redis that hangs (SIGSTOP: connections open, nothing answers) is an
/// outage too: the store's command timeout turns it into 503, not a hung
/// provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_gives_503_not_a_hang() {
    let redis = start_redis().await;
    let server = TestServer::start(&config(&redis.url(), "frozen"), |builder| builder).await;
    let client = client();
    let hook = server.url("/webhooks/github");
    assert!(deliver(&client, &hook, "before-1").await.is_accepted());

    redis.pause();
    for i in 0..3 {
        let answer = deliver(&client, &hook, &format!("during-{i}")).await;
        assert_refused(
            &answer,
            &format!("delivery during-{i} while Redis is frozen"),
        );
    }
    wait_for_status(&client, &server.url("/readyz"), 503).await;

    redis.resume();
    wait_for_status(&client, &server.url("/readyz"), 200).await;
    assert!(deliver(&client, &hook, "after-1").await.is_accepted());
    for i in 0..3 {
        let answer = deliver(&client, &hook, &format!("during-{i}")).await;
        assert!(
            answer.is_accepted(),
            "during-{i}, refused while Redis was frozen, resent: {answer:?}"
        );
    }
    server.stop().await;
}

/// Inline mode: the listener ran, but the store is gone before the event is
/// marked completed. The answer is 503, not 200, so the provider resends,
/// and the resent delivery is processed once Redis is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_lost_while_a_listener_runs_is_no_2xx() {
    let mut redis = start_redis().await;
    let gate = Gate::new();
    let listener = gate.clone();
    let server = TestServer::start(&config(&redis.url(), "midway"), move |builder| {
        builder.listener(listener)
    })
    .await;
    let client = client();
    let hook = server.url("/webhooks/github");

    let entered = gate.entered.notified();
    let in_flight = tokio::spawn({
        let (client, hook) = (client.clone(), hook.clone());
        async move { deliver(&client, &hook, "midway-1").await }
    });
    tokio::time::timeout(PATIENCE, entered)
        .await
        .expect("the listener was not called");
    redis.stop();
    gate.open();
    let answer = tokio::time::timeout(PATIENCE, in_flight)
        .await
        .expect("the delivery hung")
        .expect("the delivery task panicked");
    assert_refused(&answer, "a delivery whose completion could not be recorded");

    redis.restart();
    wait_for_status(&client, &server.url("/readyz"), 200).await;
    let answer = deliver(&client, &hook, "midway-1").await;
    assert!(answer.is_accepted(), "the resent delivery: {answer:?}");
    assert_eq!(gate.runs.load(Ordering::SeqCst), 2, "at least once: twice");
    server.stop().await;
}

/// A server whose Redis is down at start-up starts all the same (it
/// connects on first use), answers 503 meanwhile, and never shows the URL's
/// password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_without_redis_serves_503_without_leaking_the_password() {
    let mut redis = start_redis().await;
    let port = redis.port();
    redis.stop();
    let url = format!("redis://:pa55-Secret-Zt8@127.0.0.1:{port}/0");
    let config = webhooks::Config::from_toml(&config(&url, "down"))
        .expect("a valid configuration")
        .webhooks;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let bound = tokio::time::timeout(
        PATIENCE,
        webhooks::Server::from_config(config)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .bind(),
    )
    .await
    .expect("start-up hung on an unreachable Redis")
    .expect("a server starts while its Redis is down");
    let addr = bound.local_addr();
    let serving = tokio::spawn(std::future::IntoFuture::into_future(bound));
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(PATIENCE)
        .build()
        .unwrap();
    let ready = client
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let shown = ready.text().await.unwrap();
    assert!(!shown.contains("pa55-Secret-Zt8"), "{shown}");
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}
