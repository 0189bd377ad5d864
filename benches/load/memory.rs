//! `--memory`: the resident memory of the in-memory store holding many
//! remembered delivery ids.

use std::time::{Duration, Instant};

use webhooks::{Claim, IdempotencyStore, InMemoryWebhookEventStore};

use crate::payload::delivery_id;

/// The budget for 1,000,000 remembered keys.
const BUDGET_BYTES: f64 = 120.0 * 1024.0 * 1024.0;

/// Claims and completes `keys` distinct `github:<uuid>` keys, as the
/// processor stores GitHub deliveries, and prints how much resident memory
/// (and live heap) the store grew by.
pub(crate) fn run(keys: u64) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|error| format!("tokio runtime: {error}"))?;
    let store = InMemoryWebhookEventStore::new();
    let heap_before = crate::serve::live_heap_bytes();
    let rss_before = resident_bytes()?;
    let peak_before = peak_resident_bytes()?;
    let started = Instant::now();
    runtime.block_on(async {
        let mut key = String::with_capacity(64);
        for n in 0..keys {
            key.clear();
            key.push_str("github:");
            key.push_str(&delivery_id(n));
            let claim = store
                .claim(&key, Duration::from_secs(60))
                .await
                .map_err(|error| error.to_string())?;
            let Claim::Acquired(lease) = claim else {
                return Err(format!("fresh key {key} not acquired: {claim:?}"));
            };
            store
                .complete(&key, &lease, Duration::from_secs(86_400))
                .await
                .map_err(|error| error.to_string())?;
        }
        Ok(())
    })?;
    let elapsed = started.elapsed();
    let rss = resident_bytes()?.saturating_sub(rss_before) as f64;
    let peak = peak_resident_bytes()?.saturating_sub(peak_before) as f64;
    let heap = crate::serve::live_heap_bytes().saturating_sub(heap_before) as f64;
    let held = store.len();
    let mib = |bytes: f64| bytes / 1024.0 / 1024.0;
    let per_key = |bytes: f64| bytes / keys.max(1) as f64;
    println!("in-memory store, {keys} completed keys like `github:<uuid>` ({held} held)");
    println!(
        "  inserted in {:.2} s ({:.0} ns per claim + complete)",
        elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / keys.max(1) as f64
    );
    println!(
        "  resident memory growth: {:.1} MiB ({:.0} bytes per key)",
        mib(rss),
        per_key(rss)
    );
    println!(
        "  peak resident growth:   {:.1} MiB ({:.0} bytes per key)",
        mib(peak),
        per_key(peak)
    );
    println!(
        "  live heap growth:       {:.1} MiB ({:.0} bytes per key)",
        mib(heap),
        per_key(heap)
    );
    let scaled = peak.max(rss) * 1_000_000.0 / keys.max(1) as f64;
    println!(
        "  budget: 1,000,000 keys in at most 120 MiB resident: {} ({:.1} MiB for 1,000,000)",
        if scaled <= BUDGET_BYTES {
            "met"
        } else {
            "MISSED"
        },
        mib(scaled)
    );
    drop(store);
    Ok(())
}

/// Resident memory of this process, from `/proc/self/statm`.
fn resident_bytes() -> Result<u64, String> {
    let statm = std::fs::read_to_string("/proc/self/statm")
        .map_err(|error| format!("/proc/self/statm: {error}"))?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|pages| pages.parse().ok())
        .ok_or("malformed /proc/self/statm")?;
    Ok(pages * page_size())
}

/// The high-water mark of resident memory, `VmHWM` of `/proc/self/status`.
fn peak_resident_bytes() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|error| format!("/proc/self/status: {error}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kib| kib * 1024)
        .ok_or_else(|| "no VmHWM in /proc/self/status".to_owned())
}

fn page_size() -> u64 {
    std::process::Command::new("getconf")
        .arg("PAGESIZE")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(4096)
}

/// `--memory-log N`: the in-memory event log (its default bounds) after
/// `events` GitHub `push` events with 1 KiB bodies and a delivery's
/// headers, each run once by one listener; prints the memory it holds.
pub(crate) fn run_log(events: u64) -> Result<(), String> {
    use std::time::SystemTime;

    use webhooks::event_log::{
        Arrival, EventLog, EventStatus, ListenerRun, LogBounds, Received, RunRecord,
    };
    use webhooks::{Headers, InMemoryEventLog};

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|error| format!("tokio runtime: {error}"))?;
    let bounds = LogBounds::default();
    let log = InMemoryEventLog::new(bounds);
    let body = crate::payload::push_body(1024, "");
    let headers = Headers::new()
        .with("host", "127.0.0.1:3000")
        .with("user-agent", "GitHub-Hookshot/7c1f2a9")
        .with("content-type", "application/json")
        .with("content-length", "1024")
        .with("x-github-event", "push")
        .with("x-github-hook-id", "292430182")
        .with("x-github-hook-installation-target-type", "repository")
        .with(
            "x-hub-signature-256",
            &format!("sha256={}", "ab".repeat(32)),
        );
    let lines = headers.to_lines_without_secrets();
    let listener: std::sync::Arc<str> = "app::on_push".into();
    let heap_before = crate::serve::live_heap_bytes();
    let rss_before = resident_bytes()?;
    let started = Instant::now();
    runtime.block_on(async {
        for n in 0..events {
            let id = delivery_id(n);
            let received =
                Received::new("github", &id, "push", SystemTime::now(), Arrival::Delivery)
                    .with_body(&body, &lines);
            log.received(&received).await.map_err(|e| e.to_string())?;
            let run = RunRecord::new(
                EventStatus::Succeeded,
                vec![ListenerRun::new(std::sync::Arc::clone(&listener), 1, None)],
                None,
            );
            log.ran("github", &id, &run)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok::<_, String>(())
    })?;
    let elapsed = started.elapsed();
    let rss = resident_bytes()?.saturating_sub(rss_before) as f64;
    let heap = crate::serve::live_heap_bytes().saturating_sub(heap_before) as f64;
    let held = log.len() as f64;
    let kept = (body.len() + lines.len()) as f64;
    println!(
        "in-memory event log, {events} events of a 1 KiB body and {} bytes of headers ({held} held; max-events {}, max-body-megabytes {})",
        lines.len(),
        bounds.max_events,
        bounds.max_body_bytes >> 20
    );
    println!(
        "  recorded in {:.2} s ({:.0} ns per received + ran)",
        elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / events.max(1) as f64
    );
    println!(
        "  live heap: {:.1} MiB, {:.0} bytes per record held, {:.0} beside its body and headers",
        heap / 1024.0 / 1024.0,
        heap / held.max(1.0),
        heap / held.max(1.0) - kept
    );
    println!(
        "  resident growth: {:.1} MiB ({:.0} bytes per record held)",
        rss / 1024.0 / 1024.0,
        rss / held.max(1.0)
    );
    Ok(())
}
