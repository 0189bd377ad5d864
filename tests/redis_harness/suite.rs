//! The one suite of store tests that every [`IdempotencyStore`] passes (the
//! in-memory store, Redis, a Redis Cluster), so the backends cannot drift
//! apart.
//!
//! Each case uses keys of its own, so the cases may share one store
//! ([`run_all`]) or each get a fresh one ([`store_tests!`]). The waits are
//! bounded polls: a broken store fails the case instead of hanging it, and
//! nothing asserts how long anything took.
#![allow(unused_imports, unused_macros)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use webhooks::{Claim, IdempotencyStore, Lease};

/// A store under test, shared with the tasks a case spawns.
pub type Store<S> = Arc<S>;

/// A lease that does not run out during a case.
pub const LEASE: Duration = Duration::from_secs(60);
/// A TTL that does not run out during a case.
pub const TTL: Duration = Duration::from_secs(86_400);
/// A lease or TTL short enough to wait out.
pub const SHORT: Duration = Duration::from_millis(50);
/// Upper bound of a wait for an expiry; a hang guard only.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Calls `$callback!` with the name of every case, so the list of cases is
/// written once: `for_each_case!(store_tests!(make_store))`.
macro_rules! for_each_case {
    ($callback:ident ! ( $($args:tt)* )) => {
        $callback! {
            $($args)* ;
            fresh_claim_acquires,
            second_claim_is_in_progress,
            completed_key_is_completed,
            released_key_can_be_claimed_again,
            stale_lease_cannot_undo_its_successor,
            an_expired_key_nobody_took_is_still_its_holders,
            renewal_keeps_a_claim_and_reports_a_lost_one,
            completion_reports_a_lost_claim,
            completed_key_expires_after_its_ttl,
            sources_do_not_collide,
            distinct_keys_are_independent,
            concurrent_claims_have_one_winner,
            ping_answers,
        }
    };
}
pub(crate) use for_each_case;

/// One `#[tokio::test]` per case, each against a fresh store from `$make`, an
/// async fn that returns the store and a guard kept alive for the test
/// (`for_each_case!(store_tests!(make_store))`).
macro_rules! store_tests {
    ($make:path ; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, _guard) = $make().await;
                $crate::redis_harness::suite::$case(&store).await;
            }
        )*
    };
}
pub(crate) use store_tests;

macro_rules! define_run_all {
    (; $($case:ident),* $(,)?) => {
        /// Runs every case, one after the other, on one store.
        pub async fn run_all<S: IdempotencyStore>(store: &Store<S>) {
            $(
                eprintln!("store suite: {}", stringify!($case));
                $case(store).await;
            )*
        }
    };
}
for_each_case!(define_run_all!());

async fn claim<S: IdempotencyStore>(store: &Store<S>, key: &str, lease: Duration) -> Claim {
    store
        .claim(key, lease)
        .await
        .unwrap_or_else(|error| panic!("claim {key}: {error}"))
}

async fn acquire<S: IdempotencyStore>(store: &Store<S>, key: &str, lease: Duration) -> Lease {
    match claim(store, key, lease).await {
        Claim::Acquired(lease) => lease,
        other => panic!("claim {key}: expected Acquired, got {other:?}"),
    }
}

async fn complete<S: IdempotencyStore>(
    store: &Store<S>,
    key: &str,
    lease: &Lease,
    ttl: Duration,
) -> bool {
    store
        .complete(key, lease, ttl)
        .await
        .unwrap_or_else(|error| panic!("complete {key}: {error}"))
}

async fn renew<S: IdempotencyStore>(
    store: &Store<S>,
    key: &str,
    lease: &Lease,
    duration: Duration,
) -> bool {
    store
        .renew(key, lease, duration)
        .await
        .unwrap_or_else(|error| panic!("renew {key}: {error}"))
}

async fn release<S: IdempotencyStore>(store: &Store<S>, key: &str, lease: &Lease) {
    store
        .release(key, lease)
        .await
        .unwrap_or_else(|error| panic!("release {key}: {error}"));
}

/// Claims `key` until it is acquired (its lease or TTL ran out): a bounded
/// poll, so the case waits as long as the store needs and no longer.
async fn acquire_once_expired<S: IdempotencyStore>(store: &Store<S>, key: &str) -> Lease {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match claim(store, key, LEASE).await {
            Claim::Acquired(lease) => return lease,
            other => assert!(
                Instant::now() < deadline,
                "{key} was still {other:?} {PATIENCE:?} after its expiry"
            ),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn fresh_claim_acquires<S: IdempotencyStore>(store: &Store<S>) {
    acquire(store, "github:fresh-1", LEASE).await;
}

pub async fn second_claim_is_in_progress<S: IdempotencyStore>(store: &Store<S>) {
    let key = "github:second-1";
    acquire(store, key, LEASE).await;
    assert_eq!(claim(store, key, LEASE).await, Claim::InProgress);
    assert_eq!(claim(store, key, LEASE).await, Claim::InProgress);
}

pub async fn completed_key_is_completed<S: IdempotencyStore>(store: &Store<S>) {
    let key = "github:completed-1";
    let lease = acquire(store, key, LEASE).await;
    complete(store, key, &lease, TTL).await;
    assert_eq!(claim(store, key, LEASE).await, Claim::Completed);
    assert_eq!(claim(store, key, LEASE).await, Claim::Completed);
    // Completing again with the spent lease changes nothing.
    complete(store, key, &lease, SHORT).await;
    release(store, key, &lease).await;
    assert_eq!(claim(store, key, LEASE).await, Claim::Completed);
}

pub async fn released_key_can_be_claimed_again<S: IdempotencyStore>(store: &Store<S>) {
    let key = "github:released-1";
    let first = acquire(store, key, LEASE).await;
    release(store, key, &first).await;
    let second = acquire(store, key, LEASE).await;
    assert_ne!(first, second, "each claim gets a lease of its own");
    // The first holder's lease is spent: it can neither release nor
    // complete the second claim.
    release(store, key, &first).await;
    assert_eq!(claim(store, key, LEASE).await, Claim::InProgress);
    complete(store, key, &first, TTL).await;
    assert_eq!(claim(store, key, LEASE).await, Claim::InProgress);
    complete(store, key, &second, TTL).await;
    assert_eq!(claim(store, key, LEASE).await, Claim::Completed);
}

pub async fn stale_lease_cannot_undo_its_successor<S: IdempotencyStore>(store: &Store<S>) {
    let key = "github:stale-1";
    let stale = acquire(store, key, SHORT).await;
    let fresh = acquire_once_expired(store, key).await;
    assert_ne!(stale, fresh);
    complete(store, key, &stale, TTL).await;
    assert_eq!(
        claim(store, key, LEASE).await,
        Claim::InProgress,
        "a stale lease completed its successor's claim"
    );
    release(store, key, &stale).await;
    assert_eq!(
        claim(store, key, LEASE).await,
        Claim::InProgress,
        "a stale lease released its successor's claim"
    );
    complete(store, key, &fresh, TTL).await;
    assert_eq!(claim(store, key, LEASE).await, Claim::Completed);
}

/// A holder whose lease lapsed while nobody took the key still holds it:
/// its completion counts (its listeners ran once, and nobody else's did).
pub async fn an_expired_key_nobody_took_is_still_its_holders<S: IdempotencyStore>(
    store: &Store<S>,
) {
    let key = "github:expired-1";
    let stale = acquire(store, key, SHORT).await;
    // Wait past the lease (no claim meanwhile, so nothing takes the key).
    tokio::time::sleep(SHORT * 4).await;
    assert!(complete(store, key, &stale, TTL).await);
    assert_eq!(claim(store, key, LEASE).await, Claim::Completed);
}

/// A renewal keeps a claim past its first lease; once another holder has
/// the key, or it is completed, renewing answers `false`.
pub async fn renewal_keeps_a_claim_and_reports_a_lost_one<S: IdempotencyStore>(store: &Store<S>) {
    let key = "github:renew-1";
    let holder = acquire(store, key, SHORT).await;
    for _ in 0..4 {
        assert!(renew(store, key, &holder, LEASE).await);
        tokio::time::sleep(SHORT).await;
        assert_eq!(claim(store, key, LEASE).await, Claim::InProgress);
    }
    let other = "github:renew-2";
    let stale = acquire(store, other, SHORT).await;
    let thief = acquire_once_expired(store, other).await;
    assert!(
        !renew(store, other, &stale, LEASE).await,
        "a renewal took a key another holds"
    );
    assert!(complete(store, other, &thief, TTL).await);
    assert!(
        !renew(store, other, &thief, LEASE).await,
        "a renewal revived a completed key"
    );
    assert_eq!(claim(store, other, LEASE).await, Claim::Completed);
}

/// A completion that finds another holder answers `false` and changes
/// nothing.
pub async fn completion_reports_a_lost_claim<S: IdempotencyStore>(store: &Store<S>) {
    let key = "github:lost-1";
    let stale = acquire(store, key, SHORT).await;
    let thief = acquire_once_expired(store, key).await;
    assert!(!complete(store, key, &stale, TTL).await);
    assert_eq!(claim(store, key, LEASE).await, Claim::InProgress);
    assert!(complete(store, key, &thief, TTL).await);
}

pub async fn completed_key_expires_after_its_ttl<S: IdempotencyStore>(store: &Store<S>) {
    let key = "github:ttl-1";
    let lease = acquire(store, key, LEASE).await;
    complete(store, key, &lease, SHORT).await;
    acquire_once_expired(store, key).await;
}

pub async fn sources_do_not_collide<S: IdempotencyStore>(store: &Store<S>) {
    let stripe = "stripe:collide-1";
    let github = "github:collide-1";
    let stripe_lease = acquire(store, stripe, LEASE).await;
    acquire(store, github, LEASE).await;
    complete(store, stripe, &stripe_lease, TTL).await;
    assert_eq!(claim(store, stripe, LEASE).await, Claim::Completed);
    assert_eq!(claim(store, github, LEASE).await, Claim::InProgress);
    // Ids with the characters a key format could trip on.
    for id in [
        "partner:collide {1}",
        "partner:collide }{",
        "partner:collide:1",
        "partner:collide é",
        "partner:",
        "partner",
    ] {
        acquire(store, id, LEASE).await;
    }
}

pub async fn distinct_keys_are_independent<S: IdempotencyStore>(store: &Store<S>) {
    // Enough keys to land on every node of a cluster.
    let keys: Vec<String> = (0..60).map(|i| format!("github:spread-{i}")).collect();
    let mut leases = Vec::new();
    for key in &keys {
        leases.push(acquire(store, key, LEASE).await);
    }
    for (key, lease) in keys.iter().zip(&leases) {
        complete(store, key, lease, TTL).await;
    }
    for key in &keys {
        assert_eq!(claim(store, key, LEASE).await, Claim::Completed, "{key}");
    }
}

pub async fn concurrent_claims_have_one_winner<S: IdempotencyStore>(store: &Store<S>) {
    const CLAIMS: usize = 200;
    let key = "github:race-1";
    let start = Arc::new(tokio::sync::Barrier::new(CLAIMS));
    let tasks: Vec<_> = (0..CLAIMS)
        .map(|_| {
            let store = Arc::clone(store);
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                store.claim(key, LEASE).await
            })
        })
        .collect();
    let mut acquired = 0;
    let mut in_progress = 0;
    for task in tasks {
        let claim = tokio::time::timeout(PATIENCE, task)
            .await
            .expect("a claim hung")
            .expect("a claim task panicked")
            .expect("a claim failed");
        match claim {
            Claim::Acquired(_) => acquired += 1,
            Claim::InProgress => in_progress += 1,
            Claim::Completed => panic!("nothing completed {key}"),
        }
    }
    assert_eq!((acquired, in_progress), (1, CLAIMS - 1));
}

pub async fn ping_answers<S: IdempotencyStore>(store: &Store<S>) {
    store.ping().await.expect("ping");
}
