//! The in-memory store's claim + complete: alone, from 2 threads with
//! distinct keys, and from 2 threads on one hot key:
//! `cargo bench --bench store`.
//!
//! Keys are fresh `github:<uuid>` ids completed with a zero TTL, so they
//! lapse at once and the store's own sweeps keep it small however many
//! iterations criterion runs: the measured path is insert, complete and the
//! amortized sweep, as for new deliveries.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use webhooks::{Claim, IdempotencyStore, InMemoryWebhookEventStore};

const LEASE: Duration = Duration::from_secs(60);

/// Polls a future that is ready at once, as the in-memory store's are,
/// without a runtime in the measurement.
fn now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the in-memory store never waits"),
    }
}

/// Claims and completes `key`; whether this call held it.
fn claim_complete(store: &InMemoryWebhookEventStore, key: &str) -> bool {
    match now(store.claim(key, LEASE)).expect("the in-memory store answers") {
        Claim::Acquired(lease) => {
            now(store.complete(key, &lease, Duration::ZERO)).expect("the in-memory store answers");
            true
        }
        Claim::InProgress | Claim::Completed => false,
    }
}

/// Fresh keys for one thread, `github:` and 36 characters shaped like a
/// UUID, distinct across threads; written in place, so that making a key
/// costs next to nothing beside the store.
struct Keys {
    next: u64,
    key: [u8; 43],
}

impl Keys {
    fn new(thread: u64) -> Self {
        let mut key = *b"github:00000000-0000-4000-8000-000000000000";
        key[7..15].copy_from_slice(&hex8(thread as u32));
        Self { next: 0, key }
    }

    fn next(&mut self) -> &str {
        self.next += 1;
        // An odd multiplier spreads consecutive counters over the shards
        // and is a bijection: distinct counters, distinct keys.
        let mixed = self.next.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let high = hex8((mixed >> 32) as u32);
        self.key[16..20].copy_from_slice(&high[..4]);
        self.key[26..30].copy_from_slice(&high[4..]);
        self.key[31..39].copy_from_slice(&hex8(mixed as u32));
        std::str::from_utf8(&self.key).expect("hex digits are ASCII")
    }
}

fn hex8(value: u32) -> [u8; 8] {
    let mut digits = [0_u8; 8];
    for (index, digit) in digits.iter_mut().enumerate() {
        let nibble = (value >> (28 - 4 * index)) & 0xf;
        *digit = b"0123456789abcdef"[nibble as usize];
    }
    digits
}

/// `iters` claim + complete on each of `threads` threads at once; the wall
/// time of the slowest.
fn concurrent(
    store: &Arc<InMemoryWebhookEventStore>,
    threads: u64,
    iters: u64,
    hot_key: Option<&'static str>,
    round: u64,
) -> Duration {
    let barrier = Arc::new(Barrier::new(threads as usize + 1));
    let workers: Vec<_> = (0..threads)
        .map(|thread| {
            let store = Arc::clone(store);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let mut keys = Keys::new(round * threads + thread + 1);
                barrier.wait();
                let started = Instant::now();
                for _ in 0..iters {
                    let key = match hot_key {
                        Some(key) => key,
                        None => keys.next(),
                    };
                    black_box(claim_complete(&store, key));
                }
                started.elapsed()
            })
        })
        .collect();
    barrier.wait();
    workers
        .into_iter()
        .map(|worker| worker.join().expect("a bench thread panicked"))
        .max()
        .unwrap_or_default()
}

fn store(c: &mut Criterion) {
    let mut group = c.benchmark_group("in-memory-store");
    group.throughput(Throughput::Elements(1));
    let store = InMemoryWebhookEventStore::new();
    let mut keys = Keys::new(0);
    group.bench_function("claim+complete/1-thread", |b| {
        b.iter(|| claim_complete(&store, keys.next()));
    });
    let store = Arc::new(InMemoryWebhookEventStore::new());
    let mut round = 0;
    // Elements(2): each iteration is one claim + complete on each thread.
    group.throughput(Throughput::Elements(2));
    group.bench_function("claim+complete/2-threads-distinct-keys", |b| {
        b.iter_custom(|iters| {
            round += 1;
            concurrent(&store, 2, iters, None, round)
        });
    });
    group.bench_function("claim+complete/2-threads-one-hot-key", |b| {
        b.iter_custom(|iters| concurrent(&store, 2, iters, Some("github:hot-delivery"), 0));
    });
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    store(&mut criterion);
    criterion.final_summary();
}
