//! The in-memory store, the default.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Claim, IdempotencyStore, Lease, StoreError};

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

    pub(crate) fn claim_sync(&self, key: &str, lease: Duration) -> Claim {
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

    /// Extends a held key: its own token (lapsed or not), or the key
    /// absent (nobody took it since), is still this lease's.
    pub(crate) fn renew_sync(&self, key: &str, lease: &Lease, duration: Duration) -> bool {
        let (shard, hash) = self.locate(key);
        let expires_at = self.now_ms() + millis(duration);
        let mut shard = lock(shard);
        match shard.entries.get_mut(&hash) {
            Some(entry) if entry.token == lease.token() => {
                entry.expires_at = expires_at;
                true
            }
            // Completed (token 0) or another holder's.
            Some(entry) if entry.expires_at > self.now_ms() || entry.token == 0 => false,
            // Lapsed and not taken, or swept: nobody else holds it.
            _ => {
                let entry = Entry {
                    token: lease.token(),
                    expires_at,
                };
                shard.entries.insert(hash, entry);
                true
            }
        }
    }

    /// Completes (`ttl`) or releases (`None`) a held key; whether it was
    /// this lease's. A release never takes a key that is not its own.
    pub(crate) fn finish_sync(&self, key: &str, lease: &Lease, ttl: Option<Duration>) -> bool {
        let (shard, hash) = self.locate(key);
        let now = self.now_ms();
        let mut shard = lock(shard);
        let held = match shard.entries.get(&hash) {
            Some(entry) => {
                entry.token == lease.token() || (entry.token != 0 && entry.expires_at <= now)
            }
            None => true,
        };
        if !held {
            return false;
        }
        match ttl {
            Some(ttl) => {
                let done = Entry {
                    token: 0,
                    expires_at: now + millis(ttl),
                };
                shard.entries.insert(hash, done);
            }
            None => {
                if shard
                    .entries
                    .get(&hash)
                    .is_some_and(|entry| entry.token == lease.token())
                {
                    shard.entries.remove(&hash);
                }
            }
        }
        true
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
    async fn claim(&self, key: &str, lease: Duration) -> Result<Claim, StoreError> {
        Ok(self.claim_sync(key, lease))
    }

    async fn renew(
        &self,
        key: &str,
        lease: &Lease,
        duration: Duration,
    ) -> Result<bool, StoreError> {
        Ok(self.renew_sync(key, lease, duration))
    }

    async fn complete(&self, key: &str, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        Ok(self.finish_sync(key, lease, Some(ttl)))
    }

    async fn release(&self, key: &str, lease: &Lease) -> Result<(), StoreError> {
        self.finish_sync(key, lease, None);
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
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
            let Claim::Acquired(lease) = store.claim_sync(&key, Duration::from_secs(60)) else {
                panic!("fresh key not acquired");
            };
            store.finish_sync(&key, &lease, Some(Duration::ZERO));
        }
        // Every key expired at once; what is left is at most the unswept tail.
        store.purge_expired();
        assert_eq!(store.len(), 0);
        for i in 0..10_000 {
            let key = format!("k{i}");
            let Claim::Acquired(lease) = store.claim_sync(&key, Duration::from_secs(60)) else {
                panic!("an expired key must be claimable again");
            };
            store.finish_sync(&key, &lease, Some(Duration::ZERO));
        }
        assert!(store.len() < 10_000, "sweeping kept {} keys", store.len());
    }

    #[test]
    fn a_stale_lease_cannot_undo_its_successor() {
        let store = InMemoryWebhookEventStore::new();
        let Claim::Acquired(stale) = store.claim_sync("k", Duration::ZERO) else {
            panic!()
        };
        let Claim::Acquired(fresh) = store.claim_sync("k", Duration::from_secs(60)) else {
            panic!("an expired lease must be claimable again")
        };
        store.finish_sync("k", &stale, None);
        assert_eq!(
            store.claim_sync("k", Duration::from_secs(60)),
            Claim::InProgress
        );
        store.finish_sync("k", &fresh, Some(Duration::from_secs(60)));
        assert_eq!(
            store.claim_sync("k", Duration::from_secs(60)),
            Claim::Completed
        );
    }
}
