//! The in-memory store, the default.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Claim, IdempotencyStore, Lease, StoreError};
use crate::BoxFuture;

const SHARDS: usize = 64;

/// The default store: in process memory, sharded so concurrent deliveries
/// rarely wait on each other.
///
/// Each key is remembered as a 128-bit hash under a secret, per-process
/// SipHash key (two outputs: of the key, and of the key and one more byte),
/// not as text: an entry takes 32 bytes plus the map's
/// overhead whatever the key's length, and claiming allocates nothing. Two
/// distinct keys collide with a probability of about n²/2¹²⁹ (below 10⁻²⁷
/// for a million live keys), and nobody outside the process can aim for a
/// collision without the SipHash keys.
///
/// Expired keys are swept by the inserts themselves (a shard sweeps when it
/// has doubled since its last sweep), so memory stays bounded by what is live
/// and no background task is needed. It is not shared between instances and
/// forgets on restart; use the Redis store for that.
///
/// ```
/// use webhooks_core::InMemoryWebhookEventStore;
///
/// let store = InMemoryWebhookEventStore::new();
/// assert_eq!(store.len(), 0);
/// ```
#[derive(Debug)]
pub struct InMemoryWebhookEventStore {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    next_token: AtomicU64,
    epoch: Instant,
}

#[derive(Debug, Default)]
struct Shard {
    entries: HashMap<u128, Entry, BuildHasherDefault<Prehashed>>,
    sweep_at: usize,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The holder's token; 0 once completed.
    token: u64,
    /// Milliseconds since the store's epoch when the entry lapses.
    expires_at: u64,
}

/// The map's hasher: its keys are already keyed hashes, so it only folds
/// the 128 bits into 64.
#[derive(Debug, Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u128` is used; this keeps any other use correct.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u128(&mut self, value: u128) {
        self.0 = (value as u64) ^ ((value >> 64) as u64);
    }
}

impl InMemoryWebhookEventStore {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            next_token: AtomicU64::new(1),
            epoch: Instant::now(),
        }
    }

    /// The number of keys held or remembered, expired ones not yet swept
    /// included.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| lock(shard).entries.len())
            .sum()
    }

    /// Whether the store holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every expired key now.
    pub fn purge_expired(&self) {
        let now = self.now_ms();
        for shard in &self.shards {
            lock(shard).sweep(now);
        }
    }

    /// The key's shard and its 128-bit hash.
    fn locate(&self, key: &str) -> (&Mutex<Shard>, u128) {
        // The key is absorbed once; the two outputs are SipHash of two
        // distinct messages (the key, then the key and one byte).
        let mut hasher = self.hasher.build_hasher();
        key.hash(&mut hasher);
        let mut extended = hasher.clone();
        extended.write_u8(1);
        let (high, low) = (hasher.finish(), extended.finish());
        let shard = &self.shards[(high >> 58) as usize % SHARDS];
        (shard, (u128::from(high) << 64) | u128::from(low))
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn claim_locked(&self, key: &str, lease: Duration) -> Claim {
        let (shard, hash) = self.locate(key);
        let now = self.now_ms();
        let fresh = |store: &Self| Entry {
            token: store.next_token.fetch_add(1, Ordering::Relaxed),
            expires_at: now + millis(lease),
        };
        let mut shard = lock(shard);
        if let Some(entry) = shard.entries.get_mut(&hash) {
            if entry.expires_at > now {
                return if entry.token == 0 {
                    Claim::Completed
                } else {
                    Claim::InProgress
                };
            }
            *entry = fresh(self);
            return Claim::Acquired(Lease::new(entry.token));
        }
        if shard.entries.len() >= shard.sweep_at {
            shard.sweep(now);
        }
        let entry = fresh(self);
        shard.entries.insert(hash, entry);
        Claim::Acquired(Lease::new(entry.token))
    }

    fn finish(&self, key: &str, lease: &Lease, ttl: Option<Duration>) {
        let (shard, hash) = self.locate(key);
        let now = self.now_ms();
        let mut shard = lock(shard);
        let Some(entry) = shard.entries.get_mut(&hash) else {
            return;
        };
        if entry.token != lease.token() || entry.expires_at <= now {
            return;
        }
        match ttl {
            Some(ttl) => {
                *entry = Entry {
                    token: 0,
                    expires_at: now + millis(ttl),
                };
            }
            None => {
                shard.entries.remove(&hash);
            }
        }
    }
}

impl Default for InMemoryWebhookEventStore {
    fn default() -> Self {
        Self::new()
    }
}

impl Shard {
    fn sweep(&mut self, now: u64) {
        self.entries.retain(|_, entry| entry.expires_at > now);
        self.sweep_at = (self.entries.len() * 2).max(64);
    }
}

fn lock(shard: &Mutex<Shard>) -> std::sync::MutexGuard<'_, Shard> {
    // A panic while holding the lock cannot leave a shard half-updated (each
    // update is one map operation), so a poisoned lock is still consistent.
    shard
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX / 2)
}

impl IdempotencyStore for InMemoryWebhookEventStore {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        let claim = self.claim_locked(key, lease);
        Box::pin(std::future::ready(Ok(claim)))
    }

    fn complete<'a>(
        &'a self,
        key: &'a str,
        lease: &'a Lease,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.finish(key, lease, Some(ttl));
        Box::pin(std::future::ready(Ok(())))
    }

    fn claim_now(&self, key: &str, lease: Duration) -> Option<Result<Claim, StoreError>> {
        Some(Ok(self.claim_locked(key, lease)))
    }

    fn complete_now(
        &self,
        key: &str,
        lease: &Lease,
        ttl: Duration,
    ) -> Option<Result<(), StoreError>> {
        self.finish(key, lease, Some(ttl));
        Some(Ok(()))
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        lease: &'a Lease,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.finish(key, lease, None);
        Box::pin(std::future::ready(Ok(())))
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_keys_are_swept_by_inserts() {
        let store = InMemoryWebhookEventStore::new();
        for i in 0..10_000 {
            let key = format!("k{i}");
            let Claim::Acquired(lease) = store.claim_locked(&key, Duration::from_secs(60)) else {
                panic!("fresh key not acquired");
            };
            store.finish(&key, &lease, Some(Duration::ZERO));
        }
        // Every key expired at once; what is left is at most the unswept tail.
        store.purge_expired();
        assert_eq!(store.len(), 0);
        for i in 0..10_000 {
            let key = format!("k{i}");
            let Claim::Acquired(lease) = store.claim_locked(&key, Duration::from_secs(60)) else {
                panic!("an expired key must be claimable again");
            };
            store.finish(&key, &lease, Some(Duration::ZERO));
        }
        assert!(store.len() < 10_000, "sweeping kept {} keys", store.len());
    }

    #[test]
    fn a_stale_lease_cannot_undo_its_successor() {
        let store = InMemoryWebhookEventStore::new();
        let Claim::Acquired(stale) = store.claim_locked("k", Duration::ZERO) else {
            panic!()
        };
        let Claim::Acquired(fresh) = store.claim_locked("k", Duration::from_secs(60)) else {
            panic!("an expired lease must be claimable again")
        };
        store.finish("k", &stale, None);
        assert_eq!(
            store.claim_locked("k", Duration::from_secs(60)),
            Claim::InProgress
        );
        store.finish("k", &fresh, Some(Duration::from_secs(60)));
        assert_eq!(
            store.claim_locked("k", Duration::from_secs(60)),
            Claim::Completed
        );
    }
}
