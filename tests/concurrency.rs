//! Concurrent deliveries over real TCP: one event delivered many times at
//! once runs once; many events at once each run once.

mod common;

use std::sync::Arc;

use common::*;
use tokio::sync::Barrier;

const AT_ONCE: usize = 64;

/// Sends every delivery from its own task, all released together.
async fn post_all_at_once(server: &TestServer, deliveries: Vec<Signed>) -> Vec<Reply> {
    let barrier = Arc::new(Barrier::new(deliveries.len()));
    let tasks: Vec<_> = deliveries
        .into_iter()
        .map(|delivery| {
            let (client, barrier) = (server.client(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                client.post(&delivery).await
            })
        })
        .collect();
    let mut replies = Vec::with_capacity(tasks.len());
    for task in tasks {
        replies.push(within("a reply", task).await.expect("the client task"));
    }
    replies
}

/// A listener that stays a little while inside, so concurrent deliveries
/// overlap it.
fn slowish(source: &str) -> Probe {
    Probe::new(source, "*").with(|_, _| async {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        Ok(())
    })
}

async fn one_event_delivered_many_times_at_once_runs_once(tables: &str) {
    let probe = slowish("stripe");
    let seen = probe.seen();
    // Queued mode answers as soon as the claim is completed: a sluggish
    // store keeps that window open, so the claims really overlap.
    let server = TestServer::start(config("", tables), |b| {
        b.store(FlakyStore::sluggish()).listener(probe)
    })
    .await;
    let delivery = stripe("evt_storm", "charge.succeeded");

    let replies = post_all_at_once(&server, vec![delivery; AT_ONCE]).await;
    let mut accepted = 0;
    for reply in &replies {
        match reply.status {
            200 => {
                let json = reply.json();
                assert_eq!(json["id"], "evt_storm", "{json}");
                match json["status"].as_str() {
                    Some("accepted") => accepted += 1,
                    Some("duplicate") => {}
                    _ => panic!("unexpected answer {json}"),
                }
            }
            409 => {
                reply.expect_retry_later(409);
                assert_eq!(reply.error(), "in progress");
            }
            other => panic!("unexpected status {other}: {}", reply.body),
        }
    }
    assert_eq!(accepted, 1, "exactly one delivery is accepted");

    server.shutdown().await;
    assert_eq!(seen.ids(), ["evt_storm"], "the listener ran exactly once");
}

async fn distinct_events_at_once_each_run_once(tables: &str) {
    let probe = slowish("github");
    let seen = probe.seen();
    let server = TestServer::start(config("", tables), |b| b.listener(probe)).await;
    let ids: Vec<String> = (0..AT_ONCE).map(|n| format!("delivery-{n:02}")).collect();
    let deliveries = ids
        .iter()
        .map(|id| github(id, "push", &format!(r#"{{"ref":"refs/heads/{id}"}}"#)))
        .collect();

    let replies = post_all_at_once(&server, deliveries).await;
    for (reply, id) in replies.iter().zip(&ids) {
        reply.expect(200, serde_json::json!({"status": "accepted", "id": id}));
    }

    server.shutdown().await;
    let mut ran = seen.ids();
    ran.sort();
    assert_eq!(ran, ids, "each event ran exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn inline_one_event_delivered_64_times_at_once_runs_once() {
    one_event_delivered_many_times_at_once_runs_once("").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queued_one_event_delivered_64_times_at_once_runs_once() {
    one_event_delivered_many_times_at_once_runs_once(&queued("")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn inline_64_distinct_events_at_once_each_run_once() {
    distinct_events_at_once_each_run_once("").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queued_64_distinct_events_at_once_each_run_once() {
    distinct_events_at_once_each_run_once(&queued("")).await;
}
