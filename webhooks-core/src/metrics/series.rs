//! Series sharded per thread, and each thread's way to them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::{BUCKETS, HANDLED, RECEIVED};

/// Metrics id, then source, then event type: a position.
type Positions = HashMap<u64, HashMap<Box<str>, HashMap<Box<str>, usize>>>;

/// Shards per series: enough that threads rarely share one.
const SHARDS: usize = 16;

/// The counters of one source and event type.
pub(super) struct Series {
    shards: [Shard; SHARDS],
    /// Per shard, per listener slot (0: no listener; then the source's
    /// listeners in order): `slots` counters per shard, shard after shard.
    listeners: Box<[ListenerCounts]>,
    slots: usize,
}

/// One thread's counters of one listener in a series, alone on its cache
/// line.
#[repr(align(64))]
#[derive(Default)]
pub(super) struct ListenerCounts {
    pub(super) handled: [AtomicU64; HANDLED.len()],
    /// Failed runs scheduled for another attempt.
    pub(super) retries: AtomicU64,
}

/// One thread's counters of a series, alone on its cache lines.
#[repr(align(128))]
#[derive(Default)]
pub(super) struct Shard {
    pub(super) received: [AtomicU64; RECEIVED.len()],
    /// Observations per bucket (not cumulative); above the last bound only
    /// in `count`.
    pub(super) buckets: [AtomicU64; BUCKETS.len()],
    pub(super) count: AtomicU64,
    pub(super) sum_nanos: AtomicU64,
    /// Events queued minus events settled, wrapping: only the sum over the
    /// shards means something (one thread queues, another settles).
    pub(super) queue_depth: AtomicU64,
}

impl Series {
    /// Series for a source with `listeners` listeners.
    pub(super) fn new(listeners: usize) -> Self {
        let slots = listeners + 1;
        Self {
            shards: std::array::from_fn(|_| Shard::default()),
            listeners: (0..SHARDS * slots)
                .map(|_| ListenerCounts::default())
                .collect(),
            slots,
        }
    }

    /// The calling thread's shard.
    pub(super) fn shard(&self) -> &Shard {
        &self.shards[THREAD_SHARD.with(|shard| *shard)]
    }

    /// The calling thread's counters of listener `slot`; `None` past the
    /// source's listeners.
    pub(super) fn listener(&self, slot: usize) -> Option<&ListenerCounts> {
        if slot >= self.slots {
            return None;
        }
        self.listeners
            .get(THREAD_SHARD.with(|shard| *shard) * self.slots + slot)
    }

    /// Listener slots: the source's listeners, and one for none.
    pub(super) fn slots(&self) -> usize {
        self.slots
    }

    /// A listener slot's counter, every shard summed.
    pub(super) fn sum_listener(
        &self,
        slot: usize,
        field: impl Fn(&ListenerCounts) -> &AtomicU64,
    ) -> u64 {
        self.listeners
            .iter()
            .skip(slot)
            .step_by(self.slots)
            .map(|counts| field(counts).load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }

    pub(super) fn sum(&self, field: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|shard| field(shard).load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

static NEXT_THREAD_SHARD: AtomicUsize = AtomicUsize::new(0);

/// The most series a thread's cache keeps before it starts over, so
/// threads that outlive many processors do not keep their series forever.
const THREAD_CACHE_LIMIT: usize = 1024;

thread_local! {
    /// This thread's shard, the same in every series.
    static THREAD_SHARD: usize = NEXT_THREAD_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
    /// The series this thread has met.
    pub(super) static THREAD_SERIES: RefCell<ThreadCache> = RefCell::new(ThreadCache::default());
}

/// A thread's way to its series without locking, allocating or touching a
/// shared reference count: the last one used first (a delivery records
/// three times in the same series), then an index.
#[derive(Default)]
pub(super) struct ThreadCache {
    last: Option<usize>,
    entries: Vec<CachedSeries>,
    /// Metrics id, then source, then event type: position in `entries`.
    index: Positions,
}

struct CachedSeries {
    id: u64,
    source: Box<str>,
    event_type: Box<str>,
    series: Arc<Series>,
}

impl ThreadCache {
    pub(super) fn find(&mut self, id: u64, source: &str, event_type: &str) -> Option<&Series> {
        let last = self.last.filter(|&last| {
            let entry = &self.entries[last];
            entry.id == id && *entry.source == *source && *entry.event_type == *event_type
        });
        let position = match last {
            Some(position) => position,
            None => *self.index.get(&id)?.get(source)?.get(event_type)?,
        };
        self.last = Some(position);
        Some(&self.entries[position].series)
    }

    pub(super) fn insert(&mut self, id: u64, source: &str, event_type: &str, series: Arc<Series>) {
        if self.entries.len() >= THREAD_CACHE_LIMIT {
            *self = Self::default();
        }
        self.index
            .entry(id)
            .or_default()
            .entry(source.into())
            .or_default()
            .insert(event_type.into(), self.entries.len());
        self.entries.push(CachedSeries {
            id,
            source: source.into(),
            event_type: event_type.into(),
            series,
        });
    }
}
