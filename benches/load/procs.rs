//! The parent's handles on its child processes: a server it can ask for
//! counters, and a private `redis-server`; each is killed when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// How long a child may take to start or to answer.
const PATIENCE: Duration = Duration::from_secs(20);

/// Counters of a process at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Snapshot {
    /// User plus system CPU time, in seconds.
    pub(crate) cpu_seconds: f64,
    /// Heap allocations so far (alloc calls).
    pub(crate) allocs: u64,
    /// Reallocations so far.
    pub(crate) reallocs: u64,
    /// Bytes allocated so far.
    pub(crate) bytes: u64,
}

/// A server running in a child process of this bench binary.
pub(crate) struct ServerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `current_exe <args>` and waits for its `listening <addr>`.
    ///
    /// `WEBHOOKS_BENCH_WRAP` (say `perf record -g -o /tmp/{server}.data --`)
    /// runs each server under a profiler, `{server}` replaced by `name`; its
    /// CPU figures are then meaningless.
    pub(crate) fn start(name: &str, args: &[&str]) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|error| format!("current_exe: {error}"))?;
        let wrapper = std::env::var("WEBHOOKS_BENCH_WRAP").ok();
        let mut command = match wrapper.as_deref().map(str::split_whitespace) {
            Some(mut words) => {
                let program = words.next().ok_or("WEBHOOKS_BENCH_WRAP is empty")?;
                let mut command = Command::new(program);
                command
                    .args(words.map(|word| word.replace("{server}", name)))
                    .arg(&exe);
                command
            }
            None => Command::new(&exe),
        };
        let mut child = command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|error| format!("starting {}: {error}", exe.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut process = Self {
            child,
            stdin,
            lines,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let line = process.line("start")?;
        process.addr = line
            .strip_prefix("listening ")
            .and_then(|addr| addr.parse().ok())
            .ok_or_else(|| format!("unexpected first line from the server: {line:?}"))?;
        Ok(process)
    }

    /// Where it listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its CPU time and allocation counters now.
    pub(crate) fn snapshot(&mut self) -> Result<Snapshot, String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        stdin
            .write_all(b"stats\n")
            .and_then(|()| stdin.flush())
            .map_err(|error| format!("asking for stats: {error}"))?;
        let line = self.line("stats")?;
        let mut words = line.split_whitespace();
        let mut field = |name: &str| -> Result<u64, String> {
            (words.next() == Some(name))
                .then(|| words.next()?.parse().ok())
                .flatten()
                .ok_or_else(|| format!("unexpected stats line {line:?}"))
        };
        Ok(Snapshot {
            allocs: field("allocs")?,
            reallocs: field("reallocs")?,
            bytes: field("bytes")?,
            cpu_seconds: cpu_seconds(self.child.id())?,
        })
    }

    fn line(&mut self, what: &str) -> Result<String, String> {
        match self.lines.recv_timeout(PATIENCE) {
            Ok(line) => Ok(line),
            Err(RecvTimeoutError::Timeout) => Err(format!("server gave no {what} answer")),
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().map(|status| status.to_string());
                Err(format!(
                    "server exited before its {what} answer: {status:?}"
                ))
            }
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Closing stdin makes the server exit by itself (a profiler wrapping
        // it then writes its data); a kill is the fallback.
        drop(self.stdin.take());
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `redis-server` of the bench's own, on a free port, keeping nothing.
#[cfg(feature = "redis")]
pub(crate) struct RedisProcess {
    child: Child,
    port: u16,
}

#[cfg(feature = "redis")]
impl RedisProcess {
    /// Starts it and waits until it answers `PING`.
    pub(crate) fn start() -> Result<Self, String> {
        let port = free_port()?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|error| {
                format!(
                    "cannot start redis-server ({error}); install it with `apt-get install redis-server`"
                )
            })?;
        let redis = Self { child, port };
        let deadline = Instant::now() + PATIENCE;
        while !ping(port) {
            if Instant::now() > deadline {
                return Err(format!("redis-server on port {port} did not answer PING"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(redis)
    }

    /// Its URL.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Its CPU time in seconds.
    pub(crate) fn cpu_seconds(&self) -> Result<f64, String> {
        cpu_seconds(self.child.id())
    }
}

#[cfg(feature = "redis")]
impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|error| format!("finding a free port: {error}"))
}

#[cfg_attr(not(feature = "redis"), allow(dead_code))]
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut answer = [0_u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG\r\n"
}

/// User plus system CPU seconds of a process, from `/proc/<pid>/stat`
/// (threads that ended included).
pub(crate) fn cpu_seconds(pid: u32) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|error| format!("/proc/{pid}/stat: {error}"))?;
    // Fields after the command name, which ends with the last ')': the 3rd
    // field of the file (state) is the first here; utime is the 14th, stime
    // the 15th.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or("malformed /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |index: usize| -> Result<u64, String> {
        fields
            .get(index)
            .and_then(|value| value.parse().ok())
            .ok_or_else(|| "malformed /proc stat".to_owned())
    };
    Ok((ticks(11)? + ticks(12)?) as f64 / clock_ticks_per_second())
}

/// CPU seconds the whole machine spent busy since boot (all cores, every
/// process), from the first line of `/proc/stat`.
pub(crate) fn machine_busy_seconds() -> Result<f64, String> {
    let stat =
        std::fs::read_to_string("/proc/stat").map_err(|error| format!("/proc/stat: {error}"))?;
    let line = stat.lines().next().ok_or("empty /proc/stat")?;
    // cpu user nice system idle iowait irq softirq steal …: all but idle
    // and iowait are busy.
    let ticks: u64 = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .enumerate()
        .filter(|(index, _)| *index != 3 && *index != 4)
        .filter_map(|(_, value)| value.parse::<u64>().ok())
        .sum();
    Ok(ticks as f64 / clock_ticks_per_second())
}

/// `getconf CLK_TCK`, usually 100.
fn clock_ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// What the ready server's `/metrics` says of its listeners and its queue:
/// listener runs so far (every outcome) and the queue depth now.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Progress {
    pub(crate) handled: u64,
    pub(crate) queue_depth: i64,
}

/// Reads `/metrics` of the server at `addr` over one plain HTTP/1.1
/// connection (bounded by a 2 s timeout); `None` for a server without it
/// (the floor).
pub(crate) fn progress(addr: std::net::SocketAddr) -> Option<Progress> {
    use std::io::{Read, Write};

    let timeout = std::time::Duration::from_secs(2);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    if !text.starts_with("HTTP/1.1 200") {
        return None;
    }
    if !text.contains("\nwebhooks_") {
        // Not a ready server: the floor answers every path alike.
        return None;
    }
    let mut progress = Progress::default();
    for line in text.lines() {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        if series.starts_with("webhooks_handled_total{") {
            progress.handled += value.parse::<f64>().unwrap_or(0.0) as u64;
        } else if series.starts_with("webhooks_queue_depth{") {
            progress.queue_depth += value.parse::<f64>().unwrap_or(0.0) as i64;
        }
    }
    Some(progress)
}
