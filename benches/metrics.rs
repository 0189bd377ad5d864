//! What recording one delivery costs: our sharded series (`Metrics`)
//! against the `prometheus` crate's own vectors doing the same (a counter
//! and a histogram observation, found by their labels), from one thread and
//! from two threads on the same series: `cargo bench --bench metrics`.
//!
//! The sharded series exist for the second case, where every delivery of
//! a busy source bumps the same counters from every core.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};
use webhooks::Metrics;
use webhooks::metrics::Received;

/// One delivery's records, as the processor makes them.
trait Record: Send + Sync + 'static {
    fn record(&self);
}

impl Record for Metrics {
    fn record(&self) {
        self.received("github", "push", Received::Accepted);
        self.observe_processing("github", "push", black_box(0.000_4));
    }
}

struct Vectors {
    received: IntCounterVec,
    processing: HistogramVec,
}

impl Vectors {
    fn new() -> Self {
        let received = IntCounterVec::new(
            Opts::new("webhooks_received_total", "Deliveries."),
            &["event_type", "outcome", "source"],
        )
        .expect("valid");
        let processing = HistogramVec::new(
            HistogramOpts::new("webhooks_processing_seconds", "Time to answer."),
            &["event_type", "source"],
        )
        .expect("valid");
        Self {
            received,
            processing,
        }
    }
}

impl Record for Vectors {
    fn record(&self) {
        self.received
            .with_label_values(&["push", "accepted", "github"])
            .inc();
        self.processing
            .with_label_values(&["push", "github"])
            .observe(black_box(0.000_4));
    }
}

/// `iters` records on each of `threads` threads at once; the slowest
/// thread's time.
fn concurrent(recorder: &Arc<dyn Record>, threads: usize, iters: u64) -> Duration {
    let barrier = Arc::new(Barrier::new(threads));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (recorder, barrier) = (Arc::clone(recorder), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                let started = Instant::now();
                for _ in 0..iters {
                    recorder.record();
                }
                started.elapsed()
            })
        })
        .collect();
    workers
        .into_iter()
        .map(|worker| worker.join().expect("a bench thread panicked"))
        .max()
        .unwrap_or_default()
}

fn record(c: &mut Criterion) {
    let mut group = c.benchmark_group("record-one-delivery");
    let recorders: [(&str, Arc<dyn Record>); 2] = [
        ("sharded", Arc::new(Metrics::new())),
        ("prometheus-vec", Arc::new(Vectors::new())),
    ];
    for (name, recorder) in &recorders {
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("{name}/1-thread"), |b| {
            b.iter(|| recorder.record());
        });
        group.throughput(Throughput::Elements(2));
        group.bench_function(format!("{name}/2-threads"), |b| {
            b.iter_custom(|iters| concurrent(recorder, 2, iters));
        });
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    record(&mut criterion);
    criterion.final_summary();
}
