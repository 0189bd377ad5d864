//! The load benchmark (issue 4): the ready server against a bare hyper
//! floor, each in a process of its own, driven with the same signed GitHub
//! `push` deliveries over 64 keep-alive connections, alternated over rounds.
//!
//! ```text
//! cargo bench --bench load [--features redis] -- [--rounds 3] [--seconds 3]
//!     [--warm-up 1] [--connections 64] [--client-threads 1]
//!     [--variants memory-inline,memory-queued,redis-inline,redis-queued]
//!     [--bodies 1k,64k,1m]
//! cargo bench --bench load -- --memory [1000000]
//! cargo bench --bench load -- --memory-log [100000]
//! ```
//!
//! Prints, per body size and server: requests/s, p50 and p99 latency, server
//! CPU per request, heap allocations per request, and each ratio to the
//! floor (medians of the rounds), then which of the issue's targets are met.
//! It runs only under `cargo bench` (with `--bench`); as a test it does
//! nothing.

#[path = "../common/payload.rs"]
mod payload;

mod client;
mod memory;
mod procs;
mod report;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::HeaderValue;
use sha2::Sha256;
use webhooks::GitHubSignatureValidator;

use crate::client::Load;
use crate::procs::ServerProcess;
use crate::report::{Edge, Sample, Target, Variant};

/// What the command line asks for.
struct Options {
    rounds: usize,
    seconds: f64,
    warm_up: f64,
    connections: usize,
    client_threads: usize,
    variants: Vec<Variant>,
    bodies: Vec<usize>,
    /// `[webhooks.event-log] enabled` of the ready servers.
    event_log: bool,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("--serve") => match args.get(1).map(String::as_str) {
            Some("floor") => serve::run(serve::Kind::Floor, None),
            Some("ready") => serve::run(serve::Kind::Ready, args.get(2).map(std::path::Path::new)),
            other => Err(format!("--serve floor | ready <config>, not {other:?}")),
        },
        _ if args.iter().any(|arg| arg == "--memory-log") => {
            let events = value_after(&args, "--memory-log")
                .and_then(|events| events.replace('_', "").parse().ok())
                .unwrap_or(100_000);
            memory::run_log(events)
        }
        _ if args.iter().any(|arg| arg == "--memory") => {
            let keys = value_after(&args, "--memory")
                .and_then(|keys| keys.replace('_', "").parse().ok())
                .unwrap_or(1_000_000);
            memory::run(keys)
        }
        _ if !args.iter().any(|arg| arg == "--bench") => {
            println!(
                "load benchmark: run it with `cargo bench --bench load` (see benches/README.md)"
            );
            Ok(())
        }
        _ => parse_options(&args).and_then(|options| run(&options)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The argument after `flag`, unless that is another flag.
fn value_after<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let index = args.iter().position(|arg| arg == flag)?;
    args.get(index + 1)
        .map(String::as_str)
        .filter(|value| !value.starts_with("--"))
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    fn number<T: std::str::FromStr>(args: &[String], flag: &str, default: T) -> Result<T, String> {
        match value_after(args, flag) {
            Some(value) => value
                .parse()
                .map_err(|_| format!("{flag}: not a number: {value}")),
            None => Ok(default),
        }
    }
    let variants = match value_after(args, "--variants") {
        Some(list) => list
            .split(',')
            .map(|name| Variant::parse(name).ok_or_else(|| format!("unknown variant {name:?}")))
            .collect::<Result<_, _>>()?,
        None => Variant::ALL.to_vec(),
    };
    let bodies = match value_after(args, "--bodies") {
        Some(list) => list
            .split(',')
            .map(|size| payload::parse_size(size).ok_or_else(|| format!("bad body size {size:?}")))
            .collect::<Result<_, _>>()?,
        None => vec![1024, 64 * 1024, 1024 * 1024],
    };
    let options = Options {
        rounds: number(args, "--rounds", 3)?,
        seconds: number(args, "--seconds", 3.0)?,
        warm_up: number(args, "--warm-up", 1.0)?,
        connections: number(args, "--connections", 64)?,
        client_threads: number(args, "--client-threads", 1)?,
        variants,
        bodies,
        event_log: match value_after(args, "--event-log") {
            None | Some("on") => true,
            Some("off") => false,
            Some(other) => return Err(format!("--event-log on | off, not {other:?}")),
        },
    };
    let bounded = (1..=20).contains(&options.rounds)
        && (0.1..=120.0).contains(&options.seconds)
        && (0.0..=30.0).contains(&options.warm_up)
        && (1..=1024).contains(&options.connections)
        && (1..=16).contains(&options.client_threads)
        && options
            .bodies
            .iter()
            .all(|&size| (1024..=16 << 20).contains(&size));
    if !bounded {
        return Err(
            "out of bounds: rounds 1-20, seconds 0.1-120, warm-up 0-30, connections 1-1024, \
             client threads 1-16, bodies 1k-16m"
                .into(),
        );
    }
    Ok(options)
}

fn run(options: &Options) -> Result<(), String> {
    let mut variants = Vec::new();
    for &variant in &options.variants {
        if variant.redis() && !cfg!(feature = "redis") {
            println!(
                "{}: skipped, the `redis` feature is not compiled in \
                 (cargo bench --bench load --features redis)",
                variant.name()
            );
        } else {
            variants.push(variant);
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.client_threads)
        .enable_all()
        .build()
        .map_err(|error| format!("client runtime: {error}"))?;
    let ids = Arc::new(AtomicU64::new(0));
    let mut targets = vec![Target::Floor];
    targets.extend(variants.iter().copied().map(Target::Ready));
    let windows = options.bodies.len() * targets.len() * options.rounds;
    println!(
        "{} rounds x {} servers x {} bodies, {} s warm-up + {} s each: about {:.0} s",
        options.rounds,
        targets.len(),
        options.bodies.len(),
        options.warm_up,
        options.seconds,
        windows as f64 * (options.warm_up + options.seconds + 0.3)
    );
    report::print_machine(options.connections, options.client_threads);
    let mut results = Vec::new();
    for &size in &options.bodies {
        let body = Bytes::from(payload::push_body(size, ""));
        let hmac_micros = hmac_micros(&body);
        let load = Load {
            signature: HeaderValue::from_str(&GitHubSignatureValidator::sign(
                payload::SECRET.as_bytes(),
                &body,
            ))
            .expect("hex is a valid header"),
            body,
            connections: options.connections,
            ids: Arc::clone(&ids),
        };
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); targets.len()];
        for round in 0..options.rounds {
            // Rotate the order each round so no server always goes first.
            for offset in 0..targets.len() {
                let index = (offset + round) % targets.len();
                let sample = measure(targets[index], &load, options, &runtime)?;
                eprintln!(
                    "  round {}/{} {:>5} {:<14} {}",
                    round + 1,
                    options.rounds,
                    report::size_name(size),
                    targets[index].name(),
                    sample.brief()
                );
                samples[index].push(sample);
            }
        }
        results.push(report::BodyResult {
            size,
            hmac_micros,
            rows: targets
                .iter()
                .copied()
                .zip(samples.iter().map(|samples| Sample::median(samples)))
                .collect(),
        });
    }
    report::print(&results, options.rounds);
    Ok(())
}

/// One measured window of one server, in fresh processes.
fn measure(
    target: Target,
    load: &Load,
    options: &Options,
    runtime: &tokio::runtime::Runtime,
) -> Result<Sample, String> {
    #[cfg(feature = "redis")]
    let redis = match target {
        Target::Ready(variant) if variant.redis() => Some(procs::RedisProcess::start()?),
        _ => None,
    };
    #[cfg(feature = "redis")]
    let redis_url = redis.as_ref().map(procs::RedisProcess::url);
    #[cfg(not(feature = "redis"))]
    let redis_url: Option<String> = None;
    let config = match target {
        Target::Floor => None,
        Target::Ready(variant) => Some(write_config(
            variant,
            redis_url.as_deref(),
            options.event_log,
        )?),
    };
    let mut server = match &config {
        None => ServerProcess::start(target.name(), &["--serve", "floor"])?,
        Some(path) => ServerProcess::start(
            target.name(),
            &[
                "--serve",
                "ready",
                path.to_str().ok_or("temp path not UTF-8")?,
            ],
        )?,
    };
    let addr = server.addr();
    let redis_cpu = || -> Result<Option<f64>, String> {
        #[cfg(feature = "redis")]
        if let Some(redis) = &redis {
            return redis.cpu_seconds().map(Some);
        }
        Ok(None)
    };
    let (window, before, after) = client::drive(
        runtime,
        addr,
        load,
        Duration::from_secs_f64(options.warm_up),
        Duration::from_secs_f64(options.seconds),
        || {
            Ok(Edge {
                progress: procs::progress(addr),
                server: server.snapshot()?,
                redis_cpu: redis_cpu()?,
                client_cpu: procs::cpu_seconds(std::process::id())?,
                machine_cpu: procs::machine_busy_seconds()?,
            })
        },
    )?;
    drop(server);
    if let Some(path) = config {
        let _ = std::fs::remove_file(path);
    }
    Ok(Sample::new(&window, before, after))
}

/// The `server` example's configuration reduced to the GitHub source,
/// on a free port, with the variant's store and dispatch.
fn write_config(
    variant: Variant,
    redis_url: Option<&str>,
    event_log: bool,
) -> Result<PathBuf, String> {
    let mut text = String::from(concat!(
        "[webhooks]\n",
        "bind = \"127.0.0.1:0\"\n",
        "max-body-bytes = 1048576\n",
        "\n[webhooks.idempotency]\n",
        "ttl-seconds = 86400\n",
    ));
    match redis_url {
        Some(url) if variant.redis() => text.push_str(&format!(
            "provider = \"redis\"\n\n[webhooks.idempotency.redis]\nurl = \"{url}\"\n"
        )),
        _ if variant.redis() => return Err("a Redis variant without Redis".into()),
        _ => text.push_str("provider = \"in-memory\"\n"),
    }
    text.push_str(&format!(
        "\n[webhooks.dispatch]\nmode = \"{}\"\n\n[webhooks.sources.github]\nvalidator = \"github\"\nsecret = \"{}\"\n",
        variant.mode(),
        payload::SECRET
    ));
    if !event_log {
        text.push_str("\n[webhooks.event-log]\nenabled = false\n");
    }
    let path = std::env::temp_dir().join(format!(
        "webhooks-bench-{}-{}.toml",
        std::process::id(),
        variant.name()
    ));
    std::fs::write(&path, text).map_err(|error| format!("{}: {error}", path.display()))?;
    Ok(path)
}

/// The raw HMAC-SHA256 of `body`: the reference cost the report compares
/// the server with.
fn mac(body: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(payload::SECRET.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// One HMAC-SHA256 of `body` here, in microseconds (the fastest of a few).
fn hmac_micros(body: &[u8]) -> f64 {
    let runs = (64 * 1024 * 1024 / body.len()).clamp(5, 5_000);
    (0..5)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..runs {
                std::hint::black_box(mac(std::hint::black_box(body)));
            }
            started.elapsed().as_secs_f64() * 1e6 / runs as f64
        })
        .fold(f64::INFINITY, f64::min)
}
