//! The Redis store on a Redis Cluster of the test's own (three primaries):
//! the shared store suite passes, keys spread over the nodes by their hash
//! tag, any one node is enough to find the others, and a lost node turns
//! into "unavailable" (503) until it is back, without a new connection.
#![cfg(feature = "redis")]

mod redis_harness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_harness::RedisCluster;
use redis_harness::suite::{LEASE, Store, TTL};
use webhooks::redis::RedisWebhookEventStore;
use webhooks::{Claim, IdempotencyStore};

const PREFIX: &str = "cluster-test";

async fn start_cluster() -> RedisCluster {
    tokio::task::spawn_blocking(|| RedisCluster::start(3))
        .await
        .expect("start the cluster")
}

async fn connect(nodes: &[String]) -> RedisWebhookEventStore {
    let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
    RedisWebhookEventStore::connect_cluster(&nodes, PREFIX)
        .await
        .unwrap_or_else(|error| panic!("connect to the cluster {nodes:?}: {error}"))
}

/// Every key of the store on each node, as `redis-cli --scan` sees it.
fn keys_per_node(cluster: &RedisCluster) -> Vec<Vec<String>> {
    cluster
        .nodes()
        .iter()
        .map(|node| redis_harness::keys(node.port(), PREFIX))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_suite_passes_on_a_cluster() {
    let cluster = start_cluster().await;
    let store: Store<RedisWebhookEventStore> = Arc::new(connect(&cluster.urls()).await);
    redis_harness::suite::run_all(&store).await;

    // The keys are spread over the nodes (each on the node that owns its
    // hash tag's slot, or Redis would have refused it), carry the prefix,
    // and expire by themselves.
    let per_node = keys_per_node(&cluster);
    let holding = per_node.iter().filter(|keys| !keys.is_empty()).count();
    assert!(
        holding >= 2,
        "the suite's keys all landed on one node: {per_node:?}"
    );
    for (node, keys) in cluster.nodes().iter().zip(&per_node) {
        for key in keys {
            assert!(key.starts_with("cluster-test:idem:{"), "{key}");
            let ttl = redis_harness::pttl(node.port(), key);
            assert!(ttl > 0, "PTTL {key} = {ttl}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_is_enough_and_instances_share_claims() {
    let cluster = start_cluster().await;
    let urls = cluster.urls();
    // Two instances, each told about a different single node.
    let a = connect(&urls[..1]).await;
    let b = connect(&urls[2..]).await;
    let keys: Vec<String> = (0..30).map(|i| format!("github:shared-{i}")).collect();
    for key in &keys {
        let Claim::Acquired(lease) = a.claim(key, LEASE).await.expect("claim on A") else {
            panic!("{key}: a fresh key was not acquired");
        };
        assert_eq!(
            b.claim(key, LEASE).await.expect("claim on B"),
            Claim::InProgress,
            "{key}"
        );
        a.complete(key, &lease, TTL).await.expect("complete on A");
        assert_eq!(
            b.claim(key, LEASE).await.expect("claim on B"),
            Claim::Completed,
            "{key}"
        );
    }
    let holding = keys_per_node(&cluster)
        .iter()
        .filter(|keys| !keys.is_empty())
        .count();
    assert_eq!(holding, 3, "30 keys should reach every node");
    assert!(format!("{a:?}").contains("cluster: true"), "{a:?}");
}

/// A key of the store that the node at `port` holds, from a set of
/// candidates (`CLUSTER KEYSLOT` / `CLUSTER COUNTKEYSINSLOT` would do too;
/// claiming and scanning is what a user would see).
fn key_on_node(cluster: &RedisCluster, index: usize) -> String {
    let port = cluster.nodes()[index].port();
    redis_harness::keys(port, PREFIX)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no key on node {index}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_node_is_unavailable_until_it_is_back() {
    let mut cluster = start_cluster().await;
    let store = connect(&cluster.urls()).await;
    // Place keys on every node, and learn which id lands on node 0.
    for i in 0..30 {
        let key = format!("github:outage-{i}");
        let Claim::Acquired(lease) = store.claim(&key, LEASE).await.expect("claim") else {
            panic!("{key}: a fresh key was not acquired");
        };
        store.complete(&key, &lease, TTL).await.expect("complete");
    }
    let lost = key_on_node(&cluster, 0);
    let id = lost
        .strip_prefix("cluster-test:idem:{")
        .and_then(|rest| rest.strip_suffix('}'))
        .expect("the key format")
        .to_owned();

    cluster.stop_node(0);
    // A key on the lost node cannot be claimed: an error (503 for the
    // provider), within a bounded time, never a wrong answer.
    let asked = Instant::now();
    let claim = tokio::time::timeout(Duration::from_secs(30), store.claim(&id, LEASE))
        .await
        .expect("a claim on a lost node hung");
    eprintln!(
        "a claim on the lost node failed after {:?}",
        asked.elapsed()
    );
    assert!(claim.is_err(), "claim of {id} on a lost node: {claim:?}");

    cluster.restart_node(0);
    // Back (empty: the node persists nothing), the store serves its slots
    // again through the same connection.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout(Duration::from_secs(10), store.claim(&id, LEASE)).await {
            Ok(Ok(Claim::Acquired(_))) => break,
            other => assert!(
                Instant::now() < deadline,
                "{id} still not claimable after the node came back: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    store.ping().await.expect("ping after the node came back");
}

/// The ready server with `cluster = true`, in queued mode: the store and
/// the durable queue both work against the cluster, from one seed node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_runs_store_and_queue_on_a_cluster() {
    use redis_harness::server::{Counter, TestServer, client, config, deliver};

    let cluster = start_cluster().await;
    let seed = cluster.urls()[0].clone();
    // `cluster = true` in the redis table, and queued dispatch.
    let toml = config(&seed, PREFIX).replace(
        &format!("key-prefix = \"{PREFIX}\"\n"),
        &format!("key-prefix = \"{PREFIX}\"\ncluster = true\n"),
    ) + "\n[webhooks.dispatch]\nmode = \"queued\"\nbackoff-initial-ms = 20\n";
    let counter = Counter::default();
    let listener = counter.clone();
    let server = TestServer::start(&toml, move |builder| builder.listener(listener)).await;
    let client = client();
    let url = server.url("/webhooks/github");
    const EVENTS: usize = 24;
    for n in 0..EVENTS {
        let id = format!("cluster-delivery-{n}");
        assert!(
            deliver(&client, &url, &id).await.is_accepted(),
            "{id} not accepted"
        );
        assert!(
            deliver(&client, &url, &id).await.is_duplicate(),
            "{id} not a duplicate"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while counter.runs() < EVENTS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(counter.runs(), EVENTS, "every queued event runs once");

    // The idempotency keys spread over the nodes; the queue lives in the
    // one slot of its `{queue}` tag, and is empty once everything ran.
    let per_node = keys_per_node(&cluster);
    let nodes_with_ids = per_node
        .iter()
        .filter(|keys| keys.iter().any(|key| key.contains(":idem:")))
        .count();
    assert!(nodes_with_ids >= 2, "keys per node: {per_node:?}");
    let queue_nodes: Vec<&Vec<String>> = per_node
        .iter()
        .filter(|keys| keys.iter().any(|key| key.contains("{queue}")))
        .collect();
    assert_eq!(queue_nodes.len(), 1, "keys per node: {per_node:?}");
    assert!(
        queue_nodes[0]
            .iter()
            .all(|key| !key.contains("{queue}:job:")),
        "no job is left: {per_node:?}"
    );
    server.stop().await;
    assert_eq!(counter.runs(), EVENTS);
}
