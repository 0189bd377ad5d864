//! The in-memory event log: a ring of records, oldest first out.

mod arena;

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use hashbrown::{DefaultHashBuilder, HashTable};

use self::arena::{Arena, Part};
use super::{
    Arrival, EventLog, EventPage, EventQuery, EventRecord, EventStatus, ListenerRun, LogBounds,
    Received, RunRecord, merge_runs,
};
use crate::StoreError;

/// The event log of one process, bounded by [`LogBounds`]: at most
/// `max_events` records and none older than `retention` (the oldest go
/// first), and at most `max_body_bytes` of kept bodies and headers (beyond
/// it the oldest records lose their bodies; their metadata stays).
///
/// Bodies under 256 KiB are copied out of the request's buffers, into
/// chunks of 1 MiB apart from the requests' own allocations and freed
/// oldest first, so a kept body holds only its own bytes; a larger one is
/// kept as the request's own buffer, without a copy (a body that came in
/// several frames is one buffer of its own size). Each record costs about
/// 330 bytes beside its body and headers (`cargo bench --bench load --
/// --memory-log 100000`: 100,000 records of a 1 KiB body and 310 bytes of
/// headers hold 159 MiB).
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
    /// foldhash, seeded per log: keys are the provider's, after the
    /// signature, so no client chooses them to collide.
    hasher: DefaultHashBuilder,
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
    /// The records' headers and bodies.
    arena: Arena,
}

/// The smallest body kept by reference rather than copied: below it a
/// copy is cheap, and a body that came in one frame of the connection's
/// read buffer would keep that whole buffer alive.
const SHARE_FROM: usize = 256 << 10;

/// One record, compact: its texts in one allocation (three copies would
/// be three), its headers and body together in the arena, the rest inline.
#[derive(Debug)]
struct Entry {
    hash: u64,
    /// `source`, `id`, then `event_type`.
    texts: Box<[u8]>,
    /// The lengths of the first two texts.
    lens: [u32; 2],
    /// The header lines, then the body unless it is `shared`; `None` when
    /// nothing is kept or both are empty.
    kept_part: Option<Part>,
    headers_len: u32,
    /// A large body, kept as the request's buffer (boxed: rare, and the
    /// box keeps every record 24 bytes smaller).
    shared: Option<Box<bytes::Bytes>>,
    /// Whether the body and headers are kept (else both are empty).
    kept: bool,
    status: EventStatus,
    attempts: u32,
    redeliveries: u32,
    replays: u32,
    received_at: SystemTime,
    finished_at: Option<SystemTime>,
    listeners: Vec<ListenerRun>,
    error: Option<String>,
}

impl Entry {
    fn new(hash: u64, event: &Received<'_>, arena: &mut Arena) -> Self {
        let mut texts =
            Vec::with_capacity(event.source.len() + event.id.len() + event.event_type.len());
        for text in [event.source, event.id, event.event_type] {
            texts.extend_from_slice(text.as_bytes());
        }
        let (kept_part, headers_len, shared) = keep(event, arena);
        // A key is at most 256 bytes, a type 128 and a body far below 4 GiB.
        let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Self {
            hash,
            texts: texts.into_boxed_slice(),
            lens: [len(event.source.len()), len(event.id.len())],
            kept_part,
            headers_len: len(headers_len),
            shared,
            kept: event.body.is_some(),
            status: EventStatus::Processing,
            attempts: 0,
            redeliveries: 0,
            replays: u32::from(event.arrival == Arrival::Replay),
            received_at: event.at,
            finished_at: None,
            listeners: Vec::new(),
            error: None,
        }
    }

    /// The `n`th text: 0 the source, 1 the id, 2 the type.
    fn text(&self, n: usize) -> &str {
        let [source, id] = self.lens.map(|len| len as usize);
        let (start, end) = match n {
            0 => (0, source),
            1 => (source, source + id),
            _ => (source + id, self.texts.len()),
        };
        // Written from `&str`s above.
        std::str::from_utf8(&self.texts[start..end]).unwrap_or_default()
    }

    fn is(&self, source: &str, id: &str) -> bool {
        self.text(1) == id && self.text(0) == source
    }

    /// The kept header lines.
    fn headers<'a>(&self, arena: &'a Arena) -> &'a [u8] {
        self.kept_part.map_or(&[][..], |part| {
            &arena.get(part)[..self.headers_len as usize]
        })
    }

    /// The kept body.
    fn body<'a>(&'a self, arena: &'a Arena) -> &'a [u8] {
        match (&self.shared, self.kept_part) {
            (Some(shared), _) => &shared[..],
            (None, Some(part)) => &arena.get(part)[self.headers_len as usize..],
            (None, None) => &[],
        }
    }

    /// The bytes the kept body and headers take.
    fn body_size(&self) -> usize {
        self.kept_part.map_or(0, Part::len) + self.shared.as_ref().map_or(0, |shared| shared.len())
    }

    /// Drops the body and headers, keeping the rest.
    fn drop_body(&mut self, arena: &mut Arena) {
        if let Some(part) = self.kept_part.take() {
            arena.release(part);
        }
        self.shared = None;
        self.headers_len = 0;
        self.kept = false;
    }

    /// The record, its body and headers only when asked for.
    fn record(&self, arena: &Arena, with_body: bool) -> EventRecord {
        let mut record = EventRecord::new(
            self.text(0),
            self.text(1),
            self.text(2),
            self.status,
            self.received_at,
        );
        record.attempts = self.attempts;
        record.redeliveries = self.redeliveries;
        record.replays = self.replays;
        record.finished_at = self.finished_at;
        record.listeners.clone_from(&self.listeners);
        record.error.clone_from(&self.error);
        if with_body && self.kept {
            record.body = Some(match &self.shared {
                Some(shared) => bytes::Bytes::clone(shared),
                None => bytes::Bytes::copy_from_slice(self.body(arena)),
            });
            record.headers = Some(String::from_utf8_lossy(self.headers(arena)).into_owned());
        }
        record
    }

    fn matches(&self, query: &EventQuery) -> bool {
        query.admits(self.text(0), self.status, self.text(2), self.received_at)
    }

    /// [`EventRecord::arrived_again`], in place.
    fn arrived_again(&mut self, arrival: Arrival) {
        match arrival {
            Arrival::Delivery => self.redeliveries = self.redeliveries.saturating_add(1),
            Arrival::Replay => self.replays = self.replays.saturating_add(1),
        }
        self.status = EventStatus::Processing;
        self.finished_at = None;
    }

    /// [`EventRecord::apply`], in place, taking what the run owns.
    fn apply(&mut self, run: RunRecord) {
        self.attempts = self.attempts.saturating_add(1);
        self.status = run.status;
        self.finished_at = run.status.is_final().then_some(run.at);
        self.error = run.error;
        if self.listeners.is_empty() {
            // The first run: its list is taken, not copied.
            self.listeners = run.listeners;
        } else {
            merge_runs(&mut self.listeners, run.listeners);
        }
    }
}

/// What a record keeps of `event`'s headers and body: their part in the
/// arena, the headers' length in it, and a large body kept as its buffer.
fn keep(
    event: &Received<'_>,
    arena: &mut Arena,
) -> (Option<Part>, usize, Option<Box<bytes::Bytes>>) {
    let headers = event
        .headers
        .filter(|_| event.body.is_some())
        .unwrap_or_default();
    let shared = event
        .shared_body
        .filter(|shared| {
            shared.len() >= SHARE_FROM
                && event
                    .body
                    .is_some_and(|body| std::ptr::eq(body, &shared[..]))
        })
        .map(|shared| Box::new(shared.clone()));
    let body = match shared {
        Some(_) => &[][..],
        None => event.body.unwrap_or_default(),
    };
    let (kept_part, headers_len) = match event.header_lines.filter(|_| event.body.is_some()) {
        // The lines are written in place: no copy of them is made first.
        Some(lines) => {
            let mut headers_len = 0;
            let part = arena.put_with(lines.lines_bound() + body.len(), |bytes| {
                let start = bytes.len();
                lines.write_lines_without_secrets(bytes);
                headers_len = bytes.len() - start;
                bytes.extend_from_slice(body);
            });
            (Some(part), headers_len)
        }
        None => (
            (headers.len() + body.len() > 0).then(|| arena.put(&[headers, body])),
            headers.len(),
        ),
    };
    (kept_part, headers_len, shared)
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
            hasher: DefaultHashBuilder::default(),
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

    /// [`EventLog::ran`], taking the run rather than copying it: what the
    /// core calls.
    pub(crate) fn ran_owned(&self, source: &str, id: &str, run: RunRecord) {
        self.with_entry(source, id, |entry| entry.apply(run));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn hash(&self, source: &str, id: &str) -> u64 {
        self.hasher.hash_one((source, id))
    }

    fn with_entry(&self, source: &str, id: &str, change: impl FnOnce(&mut Entry)) {
        let hash = self.hash(source, id);
        let mut ring = self.lock();
        if let Some(at) = ring.find(hash, source, id) {
            change(&mut ring.entries[at]);
        }
    }
}

impl Ring {
    /// The position in `entries` of the record of (source, id).
    fn find(&self, hash: u64, source: &str, id: &str) -> Option<usize> {
        let first = self.first;
        let entries = &self.entries;
        self.index
            .find(hash, |&seq| entries[(seq - first) as usize].is(source, id))
            .map(|&seq| (seq - first) as usize)
    }

    fn push(&mut self, entry: Entry) {
        self.body_bytes += entry.body_size();
        let (hash, seq) = (entry.hash, self.first + self.entries.len() as u64);
        self.entries.push_back(entry);
        let (first, entries) = (self.first, &self.entries);
        self.index
            .insert_unique(hash, seq, |&seq| entries[(seq - first) as usize].hash);
    }

    fn pop_oldest(&mut self) {
        let Some(mut oldest) = self.entries.pop_front() else {
            return;
        };
        let seq = self.first;
        if let Ok(found) = self.index.find_entry(oldest.hash, |&s| s == seq) {
            found.remove();
        }
        self.body_bytes -= oldest.body_size();
        oldest.drop_body(&mut self.arena);
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
            now.duration_since(entry.received_at)
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
            self.body_bytes -= entry.body_size();
            entry.drop_body(&mut self.arena);
            self.bodies_from += 1;
        }
    }
}

impl EventLog for InMemoryEventLog {
    async fn received(&self, event: &Received<'_>) -> Result<(), StoreError> {
        let hash = self.hash(event.source, event.id);
        let mut ring = self.lock();
        match ring.find(hash, event.source, event.id) {
            Some(at) => ring.entries[at].arrived_again(event.arrival),
            None => {
                let entry = Entry::new(hash, event, &mut ring.arena);
                ring.push(entry);
                ring.trim(&self.bounds, event.at);
            }
        }
        Ok(())
    }

    async fn redelivered(&self, source: &str, id: &str) -> Result<(), StoreError> {
        self.with_entry(source, id, |entry| {
            entry.redeliveries = entry.redeliveries.saturating_add(1);
        });
        Ok(())
    }

    async fn ran(&self, source: &str, id: &str, run: &RunRecord) -> Result<(), StoreError> {
        self.with_entry(source, id, |entry| entry.apply(run.clone()));
        Ok(())
    }

    async fn get(&self, source: &str, id: &str) -> Result<Option<EventRecord>, StoreError> {
        let hash = self.hash(source, id);
        let ring = self.lock();
        Ok(ring
            .find(hash, source, id)
            .map(|at| ring.entries[at].record(&ring.arena, true)))
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
            if seq >= before || !entry.matches(query) {
                continue;
            }
            if events.len() == limit {
                next = Some((seq + 1).to_string());
                break;
            }
            events.push(entry.record(&ring.arena, false));
        }
        Ok(EventPage { events, next })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

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
    fn colliding_hashes_still_find_the_right_record() {
        let at = SystemTime::now();
        let arrive = |source, id| Received::new(source, id, "t", at, Arrival::Delivery);
        let mut ring = Ring::default();
        for (source, id) in [("s", "a"), ("s2", "a"), ("s", "b")] {
            let entry = Entry::new(7, &arrive(source, id), &mut ring.arena);
            ring.push(entry);
        }
        assert_eq!(ring.find(7, "s", "a"), Some(0));
        assert_eq!(ring.find(7, "s2", "a"), Some(1));
        assert_eq!(ring.find(7, "s", "b"), Some(2));
        assert_eq!(ring.find(7, "s2", "b"), None);
    }

    #[test]
    fn the_index_grows_after_the_oldest_went() {
        let log = InMemoryEventLog::new(LogBounds {
            max_events: 1000,
            retention: Duration::from_secs(60),
            max_body_bytes: 1 << 20,
        });
        let now = SystemTime::now();
        for n in 0..5 {
            arrive(
                &log,
                &format!("old-{n}"),
                now - Duration::from_secs(120),
                b"",
            );
        }
        // The first new arrival drops the five expired ones; the index then
        // grows while the ring's first sequence number is 5.
        for n in 0..200 {
            arrive(&log, &format!("new-{n}"), now, b"");
        }
        assert_eq!(log.len(), 200);
        for n in [0, 99, 199] {
            let id = format!("new-{n}");
            assert_eq!(block_on(log.get("s", &id)).unwrap().unwrap().id, id);
        }
        assert!(block_on(log.get("s", "old-0")).unwrap().is_none());
    }

    #[test]
    fn a_listing_filters_and_a_run_merges_listeners_by_name() {
        let log = InMemoryEventLog::default();
        assert!(log.is_empty());
        let now = SystemTime::now();
        arrive(&log, "a", now, b"");
        arrive(&log, "b", now, b"");
        assert!(!log.is_empty());
        let run = |status, listener: &str, error: Option<&str>| {
            let runs = vec![ListenerRun::new(listener, 1, error.map(str::to_owned))];
            RunRecord::new(status, runs, error.map(str::to_owned))
        };
        block_on(log.ran("s", "a", &run(EventStatus::Retrying, "one", Some("boom")))).unwrap();
        block_on(log.ran("s", "a", &run(EventStatus::Retrying, "two", Some("bang")))).unwrap();
        block_on(log.ran("s", "a", &run(EventStatus::Succeeded, "one", None))).unwrap();
        let record = block_on(log.get("s", "a")).unwrap().unwrap();
        let listeners: Vec<_> = record
            .listeners
            .iter()
            .map(|run| (&*run.listener, run.ok))
            .collect();
        assert_eq!(listeners, [("one", true), ("two", false)]);
        let succeeded = EventQuery::default().status(EventStatus::Succeeded);
        let page = block_on(log.list(&succeeded)).unwrap();
        let ids: Vec<_> = page.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a"]);
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
    fn a_budget_met_exactly_keeps_every_body_and_counts_from_the_oldest_left() {
        let bounds = |max_events, max_body_bytes| LogBounds {
            max_events,
            retention: Duration::from_secs(3600),
            max_body_bytes,
        };
        let now = SystemTime::now();
        let log = InMemoryEventLog::new(bounds(10, 20));
        arrive(&log, "a", now, b"0123456789");
        arrive(&log, "b", now, b"0123456789");
        let kept = |log: &InMemoryEventLog, id| block_on(log.get("s", id)).unwrap().unwrap().body;
        assert!(kept(&log, "a").is_some(), "20 bytes in a budget of 20");
        // After the oldest record went, the oldest body left is the one dropped.
        let log = InMemoryEventLog::new(bounds(2, 15));
        for id in ["a", "b", "c"] {
            arrive(&log, id, now, b"0123456789");
        }
        assert_eq!(kept(&log, "b"), None);
        assert!(kept(&log, "c").is_some());
        // One arrival over the budget by two bodies drops both.
        let log = InMemoryEventLog::new(bounds(10, 10));
        arrive(&log, "a", now, b"01234");
        arrive(&log, "b", now, b"56789");
        arrive(&log, "c", now, b"0123456789");
        assert_eq!((kept(&log, "a"), kept(&log, "b")), (None, None));
        assert!(kept(&log, "c").is_some());
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
            vec![ListenerRun::new("l", 3, Some("boom".into()))],
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

    /// The record of `event` kept with its body, as the lifecycle hands it.
    fn arrive_event(log: &InMemoryEventLog, event: &crate::WebhookEvent) {
        let received = Received::of(event, Arrival::Delivery, Some(b"a: 1\r\n"));
        block_on(log.received(&received)).unwrap();
    }

    #[test]
    fn a_large_body_is_kept_without_a_copy_and_a_small_one_is_copied() {
        let log = InMemoryEventLog::default();
        let large = crate::WebhookEvent::new("s", "t", "large", vec![7; SHARE_FROM]);
        let small = crate::WebhookEvent::new("s", "t", "small", vec![7; SHARE_FROM - 1]);
        arrive_event(&log, &large);
        arrive_event(&log, &small);
        let kept = |id| block_on(log.get("s", id)).unwrap().unwrap().body.unwrap();
        assert_eq!(kept("large"), large.body());
        assert_eq!(kept("large").as_ptr(), large.body().as_ptr(), "not copied");
        assert_eq!(kept("small"), small.body());
        assert_ne!(kept("small").as_ptr(), small.body().as_ptr(), "copied");
        assert_eq!(log.lock().body_bytes, 2 * SHARE_FROM - 1 + 2 * 6);

        // The same bytes elsewhere, or a body given without its buffer, are
        // copied: only the buffer the body is may be kept.
        let copy = large.body().to_vec();
        let elsewhere = Received {
            shared_body: Some(large.body()),
            ..Received::new("s", "elsewhere", "t", SystemTime::now(), Arrival::Delivery)
                .with_body(&copy, b"")
        };
        block_on(log.received(&elsewhere)).unwrap();
        assert_ne!(kept("elsewhere").as_ptr(), large.body().as_ptr());
        assert_eq!(kept("elsewhere"), large.body());
    }

    #[test]
    fn a_shared_body_over_the_budget_is_dropped_with_its_bytes() {
        let log = InMemoryEventLog::new(LogBounds {
            max_body_bytes: SHARE_FROM + 100,
            max_events: 2,
            ..LogBounds::default()
        });
        let first = crate::WebhookEvent::new("s", "t", "first", vec![1; SHARE_FROM]);
        let second = crate::WebhookEvent::new("s", "t", "second", vec![2; SHARE_FROM]);
        arrive_event(&log, &first);
        arrive_event(&log, &second);
        let first = block_on(log.get("s", "first")).unwrap().unwrap();
        assert_eq!((first.body, first.headers), (None, None));
        let second = block_on(log.get("s", "second")).unwrap().unwrap();
        assert_eq!(second.body.as_deref(), Some(&[2; SHARE_FROM][..]));
        assert_eq!(log.lock().body_bytes, SHARE_FROM + 6);
        // The first record goes; the bytes it no longer held are not
        // counted out twice.
        arrive(&log, "third", SystemTime::now(), b"{}");
        assert_eq!(log.len(), 2);
        assert_eq!(log.lock().body_bytes, SHARE_FROM + 6 + 2);
    }
}
