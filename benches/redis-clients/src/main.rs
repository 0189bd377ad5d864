//! Compares Redis clients on the webhooks store's hot path (issue #13,
//! point 3): CPU, heap allocations and latency per op, client side and
//! server side, with many tasks sharing one client.
//!
//! See README.md for what it measures and how to run it.

mod clients;
mod counting;
mod server;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use clients::{Client, Shared, Task, Variant, Workload};
use server::RedisServer;

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

/// What to run; see [`USAGE`].
#[derive(Debug)]
struct Options {
    rounds: usize,
    seconds: f64,
    warm_up: f64,
    tasks: u32,
    threads: usize,
    body: usize,
    nodelay: bool,
    variants: Vec<Variant>,
    workloads: Vec<Workload>,
}

const USAGE: &str = "\
usage: redis-clients [options]
  --rounds N        windows per client and workload, interleaved [3]
  --seconds S       measured window [3]
  --warm-up S       load before each window, not measured [1]
  --tasks N         concurrent tasks sharing one client [64]
  --threads N       tokio worker threads [2]
  --body BYTES      body stored by the accept script [1024]
  --nodelay         set TCP_NODELAY on every client's socket (off by default in both crates)
  --variants A,B    among redis-manager, redis-manager-reuse, redis-mux,
                    redis-mux-reuse, fred, fred-poolN [all, fred-pool2]
  --workloads A,B   among inline, accept [both]";

impl Options {
    fn parse() -> Result<Self, String> {
        let mut options = Self {
            rounds: 3,
            seconds: 3.0,
            warm_up: 1.0,
            tasks: 64,
            threads: 2,
            body: 1024,
            nodelay: false,
            variants: Variant::all(),
            workloads: vec![Workload::Inline, Workload::Accept],
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
            let number = |text: String| -> Result<f64, String> {
                text.parse::<f64>()
                    .ok()
                    .filter(|number| number.is_finite() && *number >= 0.0)
                    .ok_or_else(|| format!("not a number: {text}"))
            };
            match arg.as_str() {
                "--rounds" => options.rounds = number(value()?)?.max(1.0) as usize,
                "--seconds" => options.seconds = number(value()?)?.clamp(0.5, 60.0),
                "--warm-up" => options.warm_up = number(value()?)?.min(60.0),
                "--tasks" => options.tasks = number(value()?)?.clamp(1.0, 10_000.0) as u32,
                "--threads" => options.threads = number(value()?)?.clamp(1.0, 64.0) as usize,
                "--body" => options.body = number(value()?)?.min(1e8) as usize,
                "--nodelay" => options.nodelay = true,
                "--variants" => {
                    options.variants = value()?
                        .split(',')
                        .map(|name| {
                            Variant::parse(name).ok_or_else(|| format!("unknown variant {name}"))
                        })
                        .collect::<Result<_, _>>()?;
                }
                "--workloads" => {
                    options.workloads = value()?
                        .split(',')
                        .map(|name| match name {
                            "inline" => Ok(Workload::Inline),
                            "accept" => Ok(Workload::Accept),
                            _ => Err(format!("unknown workload {name}")),
                        })
                        .collect::<Result<_, _>>()?;
                }
                "--help" | "-h" => return Err(USAGE.into()),
                _ => return Err(format!("unknown option {arg}\n{USAGE}")),
            }
        }
        Ok(options)
    }
}

/// The figures of one measured window.
#[derive(Debug, Clone, Copy)]
struct Window {
    ops_per_second: f64,
    client_cpu_us: f64,
    server_cpu_us: f64,
    allocs: f64,
    bytes: f64,
    p50_us: f64,
    p99_us: f64,
    others: f64,
}

/// Counters at one edge of a window.
#[derive(Debug, Clone, Copy)]
struct Edge {
    at: Instant,
    ops: u64,
    own_cpu: f64,
    server_cpu: f64,
    busy: f64,
    allocs: u64,
    bytes: u64,
}

impl Edge {
    fn now(ops: &AtomicU64, server: &RedisServer) -> Result<Self, String> {
        let (allocs, bytes) = counting::snapshot();
        Ok(Self {
            at: Instant::now(),
            ops: ops.load(Ordering::Relaxed),
            own_cpu: server::own_cpu_seconds()?,
            server_cpu: server.cpu_seconds()?,
            busy: server::machine_busy_seconds()?,
            allocs,
            bytes,
        })
    }
}

/// What the tasks of one window share.
#[derive(Debug, Default)]
struct Control {
    running: AtomicBool,
    measuring: AtomicBool,
    ops: AtomicU64,
    failure: Mutex<Option<String>>,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("redis-clients: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let options = Options::parse()?;
    let server = RedisServer::start()?;
    let shared = Shared::load(&server.url(), options.body)?;
    println!(
        "clients: {}; {}",
        versions(),
        std::process::Command::new("redis-server")
            .arg("--version")
            .output()
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
            .unwrap_or_default()
    );
    println!(
        "{} tasks on {} worker threads, {} rounds of {} s (after {} s warm-up), body {} B, TCP_NODELAY {}; load average at start {}",
        options.tasks,
        options.threads,
        options.rounds,
        options.seconds,
        options.warm_up,
        options.body,
        if options.nodelay { "on" } else { "off" },
        server::load_average()
    );
    let mut results: BTreeMap<(usize, usize), Vec<Window>> = BTreeMap::new();
    for round in 0..options.rounds {
        for (w, &workload) in options.workloads.iter().enumerate() {
            // Each round starts with another client, so that no client is
            // always first after a workload change.
            let count = options.variants.len();
            for offset in 0..count {
                let v = (offset + round) % count;
                let variant = options.variants[v];
                let window = run_window(variant, workload, &options, &server, &shared)?;
                flush(&server)?;
                println!(
                    "round {} {:<27} {:<20} {}",
                    round + 1,
                    workload.name(),
                    variant.name(),
                    line(&window)
                );
                results.entry((w, v)).or_default().push(window);
            }
        }
    }
    println!("\nload average at end {}", server::load_average());
    for (w, workload) in options.workloads.iter().enumerate() {
        print_table(*workload, w, &options.variants, &results);
    }
    println!(
        "\nmedians over the rounds; client CPU is this whole process (the 64 tasks' loop included), \
         server CPU is redis-server's; allocs counts allocations and reallocations; \
         others: cores other processes kept busy meanwhile (above ~0.1 the figures are noisy)"
    );
    Ok(())
}

/// One window of `variant` on `workload`: a fresh runtime and client,
/// warm-up, then the measured window.
fn run_window(
    variant: Variant,
    workload: Workload,
    options: &Options,
    server: &RedisServer,
    shared: &Shared,
) -> Result<Window, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads)
        .enable_all()
        .build()
        .map_err(|error| format!("tokio runtime: {error}"))?;
    let window = runtime.block_on(async {
        let client = Client::connect(variant, &server.url(), options.nodelay).await?;
        let control = Arc::new(Control::default());
        control.running.store(true, Ordering::Relaxed);
        let tasks: Vec<_> = (0..options.tasks)
            .map(|number| {
                let mut task = Task::new(client.clone(), variant, number);
                let (control, shared) = (control.clone(), shared.clone());
                tokio::spawn(async move {
                    // 1 µs to 10 s, 2 significant digits: allocated here,
                    // before the window.
                    let mut latencies =
                        Histogram::<u64>::new_with_bounds(1, 10_000_000, 2).expect("valid bounds");
                    while control.running.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        if let Err(error) = task.op(workload, &shared).await {
                            control
                                .failure
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .get_or_insert(error);
                            control.running.store(false, Ordering::Relaxed);
                            break;
                        }
                        if control.measuring.load(Ordering::Relaxed) {
                            let micros = started.elapsed().as_micros();
                            latencies.saturating_record(u64::try_from(micros).unwrap_or(u64::MAX));
                        }
                        control.ops.fetch_add(1, Ordering::Relaxed);
                    }
                    latencies
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs_f64(options.warm_up)).await;
        control.measuring.store(true, Ordering::Relaxed);
        let start = Edge::now(&control.ops, server)?;
        tokio::time::sleep(Duration::from_secs_f64(options.seconds)).await;
        let end = Edge::now(&control.ops, server)?;
        control.measuring.store(false, Ordering::Relaxed);
        control.running.store(false, Ordering::Relaxed);
        let mut latencies =
            Histogram::<u64>::new_with_bounds(1, 10_000_000, 2).expect("valid bounds");
        for task in tasks {
            let task = task
                .await
                .map_err(|error| format!("a task failed: {error}"))?;
            latencies
                .add(&task)
                .map_err(|error| format!("merging latencies: {error}"))?;
        }
        client.close().await;
        if let Some(failure) = control.failure.lock().expect("not poisoned").take() {
            return Err(format!(
                "{} on {}: {failure}",
                variant.name(),
                workload.name()
            ));
        }
        Ok(figures(&start, &end, &latencies))
    });
    runtime.shutdown_timeout(Duration::from_secs(5));
    window
}

/// The figures between two edges.
fn figures(start: &Edge, end: &Edge, latencies: &Histogram<u64>) -> Window {
    let ops = (end.ops - start.ops).max(1) as f64;
    let elapsed = (end.at - start.at).as_secs_f64();
    let own = end.own_cpu - start.own_cpu;
    let server = end.server_cpu - start.server_cpu;
    Window {
        ops_per_second: ops / elapsed,
        client_cpu_us: own / ops * 1e6,
        server_cpu_us: server / ops * 1e6,
        allocs: (end.allocs - start.allocs) as f64 / ops,
        bytes: (end.bytes - start.bytes) as f64 / ops,
        p50_us: latencies.value_at_quantile(0.5) as f64,
        p99_us: latencies.value_at_quantile(0.99) as f64,
        others: ((end.busy - start.busy - own - server) / elapsed).max(0.0),
    }
}

/// Empties the server between windows, outside them.
fn flush(server: &RedisServer) -> Result<(), String> {
    let error = |error: redis::RedisError| format!("FLUSHALL: {error}");
    let mut connection = redis::Client::open(server.url())
        .and_then(|client| client.get_connection())
        .map_err(error)?;
    redis::cmd("FLUSHALL").exec(&mut connection).map_err(error)
}

fn line(window: &Window) -> String {
    format!(
        "{:>8.0} ops/s  client {:>5.1} us/op  server {:>5.1} us/op  allocs {:>5.1}/op {:>6.0} B/op  p50 {:>5.0} us  p99 {:>6.0} us  others {:.2}",
        window.ops_per_second,
        window.client_cpu_us,
        window.server_cpu_us,
        window.allocs,
        window.bytes,
        window.p50_us,
        window.p99_us,
        window.others,
    )
}

/// The medians of one workload, each variant against the first.
fn print_table(
    workload: Workload,
    w: usize,
    variants: &[Variant],
    results: &BTreeMap<(usize, usize), Vec<Window>>,
) {
    println!("\n## {}", workload.name());
    println!(
        "| client | ops/s | client CPU us/op | server CPU us/op | allocs/op | bytes/op | p50 us | p99 us | others |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let medians: Vec<Window> = (0..variants.len())
        .map(|v| median(&results[&(w, v)]))
        .collect();
    let base = medians[0];
    for (variant, window) in variants.iter().zip(&medians) {
        println!(
            "| {} | {:.0} | {:.1} ({:+.0}%) | {:.1} | {:.1} ({:+.0}%) | {:.0} | {:.0} | {:.0} | {:.2} |",
            variant.name(),
            window.ops_per_second,
            window.client_cpu_us,
            (window.client_cpu_us / base.client_cpu_us - 1.0) * 100.0,
            window.server_cpu_us,
            window.allocs,
            (window.allocs / base.allocs - 1.0) * 100.0,
            window.bytes,
            window.p50_us,
            window.p99_us,
            window.others,
        );
    }
}

/// The median of each figure, separately.
fn median(windows: &[Window]) -> Window {
    let of = |figure: fn(&Window) -> f64| {
        let mut values: Vec<f64> = windows.iter().map(figure).collect();
        values.sort_by(f64::total_cmp);
        let middle = values.len() / 2;
        if values.len() % 2 == 1 {
            values[middle]
        } else {
            (values[middle - 1] + values[middle]) / 2.0
        }
    };
    Window {
        ops_per_second: of(|w| w.ops_per_second),
        client_cpu_us: of(|w| w.client_cpu_us),
        server_cpu_us: of(|w| w.server_cpu_us),
        allocs: of(|w| w.allocs),
        bytes: of(|w| w.bytes),
        p50_us: of(|w| w.p50_us),
        p99_us: of(|w| w.p99_us),
        others: of(|w| w.others),
    }
}

/// The versions of the clients and of tokio, from this crate's Cargo.lock.
fn versions() -> String {
    let lock = include_str!("../Cargo.lock");
    ["redis", "fred", "tokio"]
        .iter()
        .map(|name| {
            let wanted = format!("name = \"{name}\"\nversion = \"");
            let version = lock
                .split_once(&wanted)
                .and_then(|(_, rest)| rest.split_once('"'))
                .map_or("?", |(version, _)| version);
            format!("{name} {version}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}
