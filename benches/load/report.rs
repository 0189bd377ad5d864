//! What was measured, its medians, the table and the issue's targets.

use crate::client::Window;
use crate::procs::Snapshot;

/// A configuration of the ready server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    MemoryInline,
    MemoryQueued,
    RedisInline,
    RedisQueued,
}

impl Variant {
    pub(crate) const ALL: [Self; 4] = [
        Self::MemoryInline,
        Self::MemoryQueued,
        Self::RedisInline,
        Self::RedisQueued,
    ];

    pub(crate) fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|variant| variant.name() == name.trim())
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::MemoryInline => "memory-inline",
            Self::MemoryQueued => "memory-queued",
            Self::RedisInline => "redis-inline",
            Self::RedisQueued => "redis-queued",
        }
    }

    pub(crate) fn redis(self) -> bool {
        matches!(self, Self::RedisInline | Self::RedisQueued)
    }

    pub(crate) fn mode(self) -> &'static str {
        match self {
            Self::MemoryInline | Self::RedisInline => "inline",
            Self::MemoryQueued | Self::RedisQueued => "queued",
        }
    }
}

/// A server measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Floor,
    Ready(Variant),
}

impl Target {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Floor => "floor",
            Self::Ready(variant) => variant.name(),
        }
    }
}

/// One window's figures (or the medians of several).
#[derive(Debug, Clone, Default)]
pub(crate) struct Sample {
    /// Cores busy with other processes of the machine during the window:
    /// noise (someone else's build, say).
    other_cores: f64,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us: f64,
    redis_cpu_us: Option<f64>,
    /// Listener runs per second over the window (the ready server only):
    /// for queued modes, the events actually handled.
    handled_per_s: Option<f64>,
    /// The queue depth at the window's start and end (the ready server).
    depth: Option<(f64, f64)>,
    allocs: f64,
    reallocs: f64,
    bytes: f64,
    requests: u64,
    errors: u64,
    first_error: Option<String>,
}

/// The counters read at one edge of a window.
pub(crate) struct Edge {
    /// The server's.
    pub(crate) server: Snapshot,
    /// The private `redis-server`'s CPU seconds, for Redis variants.
    pub(crate) redis_cpu: Option<f64>,
    /// This process's (the load generator's) CPU seconds.
    pub(crate) client_cpu: f64,
    /// The whole machine's busy CPU seconds.
    pub(crate) machine_cpu: f64,
    /// The ready server's listener runs and queue depth, from `/metrics`.
    pub(crate) progress: Option<crate::procs::Progress>,
}

impl Sample {
    pub(crate) fn new(window: &Window, before: Edge, after: Edge) -> Self {
        let requests = window.requests.max(1) as f64;
        let seconds = window.elapsed.as_secs_f64();
        let ours = (after.server.cpu_seconds - before.server.cpu_seconds)
            + (after.client_cpu - before.client_cpu)
            + after.redis_cpu.unwrap_or(0.0)
            - before.redis_cpu.unwrap_or(0.0);
        let other_cores = ((after.machine_cpu - before.machine_cpu - ours) / seconds).max(0.0);
        let (redis_before, redis_after) = (before.redis_cpu, after.redis_cpu);
        let progress = before.progress.zip(after.progress);
        let handled_per_s =
            progress.map(|(b, a)| a.handled.saturating_sub(b.handled) as f64 / seconds);
        let depth = progress.map(|(b, a)| (b.queue_depth as f64, a.queue_depth as f64));
        let (before, after) = (before.server, after.server);
        Self {
            other_cores,
            rps: window.requests as f64 / window.elapsed.as_secs_f64(),
            p50_us: window.latency.value_at_quantile(0.50) as f64,
            p99_us: window.latency.value_at_quantile(0.99) as f64,
            cpu_us: (after.cpu_seconds - before.cpu_seconds) * 1e6 / requests,
            redis_cpu_us: redis_before
                .zip(redis_after)
                .map(|(before, after)| (after - before) * 1e6 / requests),
            handled_per_s,
            depth,
            allocs: after.allocs.saturating_sub(before.allocs) as f64 / requests,
            reallocs: after.reallocs.saturating_sub(before.reallocs) as f64 / requests,
            bytes: after.bytes.saturating_sub(before.bytes) as f64 / requests,
            requests: window.requests,
            errors: window.errors,
            first_error: window.first_error.clone(),
        }
    }

    /// Each figure's median over the rounds, errors summed.
    pub(crate) fn median(samples: &[Self]) -> Self {
        let median = |figure: fn(&Self) -> f64| {
            let mut values: Vec<f64> = samples.iter().map(figure).collect();
            values.sort_by(f64::total_cmp);
            match values.len() {
                0 => f64::NAN,
                n if n % 2 == 1 => values[n / 2],
                n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
            }
        };
        Self {
            other_cores: median(|s| s.other_cores),
            rps: median(|s| s.rps),
            p50_us: median(|s| s.p50_us),
            p99_us: median(|s| s.p99_us),
            cpu_us: median(|s| s.cpu_us),
            redis_cpu_us: samples
                .iter()
                .all(|s| s.redis_cpu_us.is_some())
                .then(|| median(|s| s.redis_cpu_us.unwrap_or(f64::NAN))),
            handled_per_s: samples
                .iter()
                .all(|s| s.handled_per_s.is_some())
                .then(|| median(|s| s.handled_per_s.unwrap_or(f64::NAN))),
            depth: samples.iter().all(|s| s.depth.is_some()).then(|| {
                (
                    median(|s| s.depth.map_or(f64::NAN, |d| d.0)),
                    median(|s| s.depth.map_or(f64::NAN, |d| d.1)),
                )
            }),
            allocs: median(|s| s.allocs),
            reallocs: median(|s| s.reallocs),
            bytes: median(|s| s.bytes),
            requests: samples.iter().map(|s| s.requests).sum(),
            errors: samples.iter().map(|s| s.errors).sum(),
            first_error: samples.iter().find_map(|s| s.first_error.clone()),
        }
    }

    /// One line for the progress log.
    pub(crate) fn brief(&self) -> String {
        format!(
            "{:>8.0} req/s  p50 {:>6.0} us  p99 {:>6.0} us  cpu {:>6.1} us/req  allocs {:>5.1}/req  others {:.2} cores{}",
            self.rps,
            self.p50_us,
            self.p99_us,
            self.cpu_us,
            self.allocs,
            self.other_cores,
            if self.errors > 0 {
                format!("  {} errors", self.errors)
            } else {
                String::new()
            }
        )
    }
}

/// The medians of every server for one body size.
pub(crate) struct BodyResult {
    pub(crate) size: usize,
    /// One HMAC-SHA256 of the body in the bench process, microseconds.
    pub(crate) hmac_micros: f64,
    pub(crate) rows: Vec<(Target, Sample)>,
}

pub(crate) fn size_name(size: usize) -> String {
    match size {
        size if size % (1024 * 1024) == 0 => format!("{}m", size / 1024 / 1024),
        size if size % 1024 == 0 => format!("{}k", size / 1024),
        size => size.to_string(),
    }
}

/// The machine, so that figures from different machines are not compared
/// blindly.
pub(crate) fn print_machine(connections: usize, client_threads: usize) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|name| name.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "machine: {cores} cores, {cpu}; load generator in this process: \
         {connections} connections on {client_threads} thread(s)"
    );
}

/// The table and the targets.
pub(crate) fn print(results: &[BodyResult], rounds: usize) {
    println!();
    println!("medians of {rounds} rounds; ratios are to the floor of the same body size;");
    println!(
        "others: cores other processes kept busy meanwhile (noise: above ~0.1 the figures are unreliable)"
    );
    println!(
        "{:<5} {:<14} {:>9} {:>8} {:>8} {:>9} {:>8} {:>10} {:>7} {:>7} {:>7} {:>7} {:>6}  errors",
        "body",
        "server",
        "req/s",
        "p50 us",
        "p99 us",
        "cpu us/r",
        "allocs/r",
        "bytes/r",
        "x rps",
        "x p99",
        "x cpu",
        "+allocs",
        "others"
    );
    for result in results {
        let floor = floor(result);
        for (target, sample) in &result.rows {
            println!(
                "{:<5} {:<14} {:>9.0} {:>8.0} {:>8.0} {:>9.1} {:>8.1} {:>10.0} {:>7.3} {:>7.3} {:>7.3} {:>7.1} {:>6.2}  {}{}",
                size_name(result.size),
                target.name(),
                sample.rps,
                sample.p50_us,
                sample.p99_us,
                sample.cpu_us,
                sample.allocs,
                sample.bytes,
                sample.rps / floor.rps,
                sample.p99_us / floor.p99_us,
                sample.cpu_us / floor.cpu_us,
                sample.allocs - floor.allocs,
                sample.other_cores,
                sample.errors,
                sample
                    .first_error
                    .as_deref()
                    .map(|error| format!(" (first: {error})"))
                    .unwrap_or_default(),
            );
        }
        let redis: Vec<String> = result
            .rows
            .iter()
            .filter_map(|(target, sample)| {
                Some(format!("{} {:.1}", target.name(), sample.redis_cpu_us?))
            })
            .collect();
        if !redis.is_empty() {
            println!(
                "{:<5} redis-server cpu us/req (not in the server's): {}",
                size_name(result.size),
                redis.join(", ")
            );
        }
        for (target, sample) in &result.rows {
            let (Some(handled), Some((start, end))) = (sample.handled_per_s, sample.depth) else {
                continue;
            };
            let system = sample.cpu_us + sample.redis_cpu_us.unwrap_or(0.0);
            println!(
                "{:<5} {}: {handled:.0} listener runs/s for {:.0} answers/s; queue depth {start:.0} -> {end:.0} over the window; whole-system CPU {system:.1} us/answer",
                size_name(result.size),
                target.name(),
                sample.rps,
            );
        }
        println!(
            "{:<5} reallocs/req: {}; one HMAC-SHA256 of the body here: {:.1} us",
            size_name(result.size),
            result
                .rows
                .iter()
                .map(|(target, sample)| format!("{} {:.1}", target.name(), sample.reallocs))
                .collect::<Vec<_>>()
                .join(", "),
            result.hmac_micros
        );
    }
    print_targets(results);
}

fn floor(result: &BodyResult) -> &Sample {
    result
        .rows
        .iter()
        .find(|(target, _)| *target == Target::Floor)
        .map(|(_, sample)| sample)
        .expect("every body has a floor row")
}

/// Issue #13's targets, each a ratio to the floor of the same run.
fn print_targets(results: &[BodyResult]) {
    println!();
    println!("targets (issue 13):");
    let check = |what: String, value: f64, limit: f64, at_least: bool| {
        let met = if at_least {
            value >= limit
        } else {
            value <= limit
        };
        println!(
            "  {:<4} {what}: {value:.3} (limit {} {limit:.3})",
            if met { "met" } else { "MISS" },
            if at_least { ">=" } else { "<=" }
        );
    };
    for result in results {
        let floor = floor(result);
        let body = size_name(result.size);
        for (target, sample) in &result.rows {
            let Target::Ready(variant) = *target else {
                continue;
            };
            let name = variant.name();
            let ratio = |what: &str, limit: f64, at_least: bool, value: f64| {
                check(format!("{name} {body} {what}"), value, limit, at_least);
            };
            if result.size >= 1024 * 1024 {
                let reference = floor.cpu_us + result.hmac_micros;
                let what = format!("cpu/req / (floor + one HMAC = {reference:.1} us)");
                ratio(&what, 1.10, false, sample.cpu_us / reference);
                continue;
            }
            let rps = sample.rps / floor.rps;
            match variant {
                Variant::MemoryInline | Variant::MemoryQueued => {
                    ratio("req/s / floor", 0.95, true, rps);
                    ratio("cpu/req / floor", 1.15, false, sample.cpu_us / floor.cpu_us);
                }
                Variant::RedisInline => ratio("req/s / floor", 0.55, true, rps),
                Variant::RedisQueued => {
                    ratio("req/s / floor", 0.50, true, rps);
                    if let Some((start, end)) = sample.depth {
                        // Bounded: over the window the queue grew by no
                        // more than one reserve of the default workers.
                        ratio(
                            "queue depth growth over the window",
                            64.0,
                            false,
                            end - start,
                        );
                    }
                    let system = sample.cpu_us + sample.redis_cpu_us.unwrap_or(0.0);
                    ratio(
                        "whole-system cpu/event / floor's cpu/req",
                        3.0,
                        false,
                        system / floor.cpu_us,
                    );
                }
            }
            if variant.redis() {
                ratio(
                    &format!("allocs/req - floor's ({:.1})", floor.allocs),
                    12.0,
                    false,
                    sample.allocs - floor.allocs,
                );
            }
        }
    }
}
