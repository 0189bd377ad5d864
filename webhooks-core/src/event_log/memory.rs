//! The in-memory event log: a ring of records, oldest first out.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use hashbrown::HashTable;

use super::{EventLog, EventPage, EventQuery, EventRecord, LogBounds, Received, RunRecord};
use crate::StoreError;

/// The event log of one process, bounded by [`LogBounds`]: at most
/// `max_events` records and none older than `retention` (the oldest go
/// first), and at most `max_body_bytes` of kept bodies and headers (beyond
/// it the oldest records lose their bodies; their metadata stays).
///
/// Bodies are copied out of the request's buffers, so a kept body holds
/// only its own bytes. Each record costs about 300 bytes beside its body
/// and headers (measured by `benches/event_log_memory.rs`).
///
/// ```
/// use std::time::SystemTime;
/// use webhooks_core::event_log::{Arrival, EventLog, LogBounds, Received};
/// use webhooks_core::InMemoryEventLog;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let log = InMemoryEventLog::new(LogBounds { max_events: 1, ..LogBounds::default() });
/// for id in ["a", "b"] {
///     log.received(&Received::new("github", id, "push", SystemTime::now(), Arrival::Delivery)).await?;
/// }
/// assert!(log.get("github", "a").await?.is_none(), "the oldest went first");
/// assert!(log.get("github", "b").await?.is_some());
/// # Ok::<_, webhooks_core::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct InMemoryEventLog {
    bounds: LogBounds,
    hasher: RandomState,
    ring: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
    /// Records in the order they were first received; `entries[i]` has the
    /// sequence number `first + i`.
    entries: VecDeque<Entry>,
    first: u64,
    /// Sequence numbers, found by the hash of (source, id).
    index: HashTable<u64>,
    /// Bytes of the bodies and headers kept.
    body_bytes: usize,
    /// Records before this sequence number have had their bodies dropped.
    bodies_from: u64,
}

#[derive(Debug)]
struct Entry {
    hash: u64,
    record: EventRecord,
}

impl Default for InMemoryEventLog {
    fn default() -> Self {
        Self::new(LogBounds::default())
    }
}

impl InMemoryEventLog {
    /// An empty log with these bounds.
    pub fn new(bounds: LogBounds) -> Self {
        Self {
            bounds,
            hasher: RandomState::new(),
            ring: Mutex::default(),
        }
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn hash(&self, source: &str, id: &str) -> u64 {
        self.hasher.hash_one((source, id))
    }

    fn with_record(&self, source: &str, id: &str, change: impl FnOnce(&mut EventRecord)) {
        let hash = self.hash(source, id);
        let mut ring = self.lock();
        if let Some(at) = ring.find(hash, source, id) {
            change(&mut ring.entries[at].record);
        }
    }
}

/// The bytes a record's body and headers take.
fn body_size(record: &EventRecord) -> usize {
    record.body.as_ref().map_or(0, bytes::Bytes::len)
        + record.headers.as_ref().map_or(0, String::len)
}

impl Ring {
    /// The position in `entries` of the record of (source, id).
    fn find(&self, hash: u64, source: &str, id: &str) -> Option<usize> {
        let first = self.first;
        let entries = &self.entries;
        self.index
            .find(hash, |&seq| {
                let record = &entries[(seq - first) as usize].record;
                record.id == id && record.source == source
            })
            .map(|&seq| (seq - first) as usize)
    }

    fn push(&mut self, hash: u64, record: EventRecord) {
        self.body_bytes += body_size(&record);
        let seq = self.first + self.entries.len() as u64;
        self.entries.push_back(Entry { hash, record });
        let (first, entries) = (self.first, &self.entries);
        self.index
            .insert_unique(hash, seq, |&seq| entries[(seq - first) as usize].hash);
    }

    fn pop_oldest(&mut self) {
        let Some(oldest) = self.entries.pop_front() else {
            return;
        };
        let seq = self.first;
        if let Ok(found) = self.index.find_entry(oldest.hash, |&s| s == seq) {
            found.remove();
        }
        self.body_bytes -= body_size(&oldest.record);
        self.first += 1;
        self.bodies_from = self.bodies_from.max(self.first);
    }

    /// Drops what is over the bounds: the oldest records over the count or
    /// past the retention, then the oldest bodies over the byte budget.
    fn trim(&mut self, bounds: &LogBounds, now: SystemTime) {
        while self.entries.len() > bounds.max_events {
            self.pop_oldest();
        }
        let expired = |entry: &Entry| {
            now.duration_since(entry.record.received_at)
                .is_ok_and(|age| age > bounds.retention)
        };
        while self.entries.front().is_some_and(expired) {
            self.pop_oldest();
        }
        while self.body_bytes > bounds.max_body_bytes {
            let at = (self.bodies_from - self.first) as usize;
            let Some(entry) = self.entries.get_mut(at) else {
                break;
            };
            self.body_bytes -= body_size(&entry.record);
            entry.record.body = None;
            entry.record.headers = None;
            self.bodies_from += 1;
        }
    }
}

impl EventLog for InMemoryEventLog {
    async fn received(&self, event: &Received<'_>) -> Result<(), StoreError> {
        let hash = self.hash(event.source, event.id);
        let mut ring = self.lock();
        match ring.find(hash, event.source, event.id) {
            Some(at) => ring.entries[at].record.arrived_again(event.arrival),
            None => {
                let record = event.to_record();
                ring.push(hash, record);
                ring.trim(&self.bounds, event.at);
            }
        }
        Ok(())
    }

    async fn redelivered(&self, source: &str, id: &str) -> Result<(), StoreError> {
        self.with_record(source, id, |record| {
            record.redeliveries = record.redeliveries.saturating_add(1);
        });
        Ok(())
    }

    async fn ran(&self, source: &str, id: &str, run: &RunRecord) -> Result<(), StoreError> {
        self.with_record(source, id, |record| record.apply(run));
        Ok(())
    }

    async fn get(&self, source: &str, id: &str) -> Result<Option<EventRecord>, StoreError> {
        let hash = self.hash(source, id);
        let ring = self.lock();
        Ok(ring
            .find(hash, source, id)
            .map(|at| ring.entries[at].record.clone()))
    }

    async fn list(&self, query: &EventQuery) -> Result<EventPage, StoreError> {
        let before = match &query.cursor {
            None => u64::MAX,
            Some(cursor) => cursor
                .parse::<u64>()
                .map_err(|_| StoreError::new(format!("not a cursor of this log: `{cursor}`")))?,
        };
        let limit = query.limit.clamp(1, EventQuery::MAX_LIMIT);
        let ring = self.lock();
        let mut events = Vec::new();
        let mut next = None;
        let newest_first = ring.entries.iter().enumerate().rev();
        for (at, entry) in newest_first {
            let seq = ring.first + at as u64;
            if seq >= before || !entry.record.matches(query) {
                continue;
            }
            if events.len() == limit {
                next = Some((seq + 1).to_string());
                break;
            }
            events.push(entry.record.clone_without_body());
        }
        Ok(EventPage { events, next })
    }
}

impl EventRecord {
    /// The record without its body and headers, for a listing.
    pub(crate) fn clone_without_body(&self) -> Self {
        Self {
            source: self.source.clone(),
            id: self.id.clone(),
            event_type: self.event_type.clone(),
            status: self.status,
            attempts: self.attempts,
            redeliveries: self.redeliveries,
            replays: self.replays,
            received_at: self.received_at,
            finished_at: self.finished_at,
            listeners: self.listeners.clone(),
            error: self.error.clone(),
            body: None,
            headers: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::event_log::{Arrival, EventStatus};

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    fn arrive(log: &InMemoryEventLog, id: &str, at: SystemTime, body: &[u8]) {
        let received = Received::new("s", id, "t", at, Arrival::Delivery).with_body(body, b"");
        block_on(log.received(&received)).unwrap();
    }

    #[test]
    fn the_body_budget_drops_the_oldest_bodies_and_keeps_their_records() {
        let log = InMemoryEventLog::new(LogBounds {
            max_events: 10,
            retention: Duration::from_secs(3600),
            max_body_bytes: 25,
        });
        let now = SystemTime::now();
        for id in ["a", "b", "c"] {
            arrive(&log, id, now, b"0123456789");
        }
        let get = |id| block_on(log.get("s", id)).unwrap().unwrap();
        assert_eq!(get("a").body, None, "over the budget: the oldest body went");
        assert_eq!(get("b").body.as_deref(), Some(&b"0123456789"[..]));
        assert_eq!(get("c").body.as_deref(), Some(&b"0123456789"[..]));
        assert_eq!(log.lock().body_bytes, 20);
        assert_eq!(log.len(), 3);
    }

    #[test]
    fn records_past_the_retention_go_and_their_bytes_with_them() {
        let log = InMemoryEventLog::new(LogBounds {
            max_events: 10,
            retention: Duration::from_secs(60),
            max_body_bytes: 1000,
        });
        let now = SystemTime::now();
        arrive(&log, "old", now - Duration::from_secs(61), b"xx");
        arrive(&log, "edge", now - Duration::from_secs(60), b"yyy");
        arrive(&log, "new", now, b"z");
        assert!(block_on(log.get("s", "old")).unwrap().is_none());
        assert!(block_on(log.get("s", "edge")).unwrap().is_some());
        assert_eq!(log.lock().body_bytes, 4);
    }

    #[test]
    fn pages_run_newest_first_and_end() {
        let log = InMemoryEventLog::default();
        let now = SystemTime::now();
        for n in 0..5 {
            arrive(&log, &n.to_string(), now, b"");
        }
        let first = block_on(log.list(&EventQuery::default().limit(2))).unwrap();
        let ids: Vec<_> = first.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["4", "3"]);
        let second =
            block_on(log.list(&EventQuery::default().limit(2).after(first.next.unwrap()))).unwrap();
        let ids: Vec<_> = second.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["2", "1"]);
        let last = block_on(log.list(&EventQuery::default().limit(2).after(second.next.unwrap())))
            .unwrap();
        assert_eq!(last.events.len(), 1);
        assert_eq!(last.next, None);
        let exact = block_on(log.list(&EventQuery::default().limit(5))).unwrap();
        assert_eq!((exact.events.len(), exact.next), (5, None));
        assert!(block_on(log.list(&EventQuery::default().after("x"))).is_err());
    }

    #[test]
    fn a_redelivery_and_a_run_update_the_one_record() {
        let log = InMemoryEventLog::default();
        let now = SystemTime::now();
        arrive(&log, "a", now, b"{}");
        block_on(log.redelivered("s", "a")).unwrap();
        let failed = RunRecord::new(
            EventStatus::Failed,
            vec![crate::event_log::ListenerRun::new(
                "l",
                3,
                Some("boom".into()),
            )],
            Some("boom".into()),
        );
        block_on(log.ran("s", "a", &failed)).unwrap();
        arrive(&log, "a", now, b"other");
        let record = block_on(log.get("s", "a")).unwrap().unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!((record.redeliveries, record.attempts), (2, 1));
        assert_eq!(record.status, EventStatus::Processing);
        assert_eq!(
            record.body.as_deref(),
            Some(&b"{}"[..]),
            "the first body stays"
        );
        assert_eq!(record.listeners[0].error.as_deref(), Some("boom"));
        block_on(log.redelivered("s", "unknown")).unwrap();
        assert_eq!(log.len(), 1);
    }
}
