//! A private `redis-server` on a free loopback port, and CPU counters read
//! from `/proc`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// How long the server may take to answer its first `PING`.
const START_PATIENCE: Duration = Duration::from_secs(10);

/// A `redis-server` child, killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Starts `redis-server` on a free port of 127.0.0.1, without
    /// persistence, and waits until it answers `PING`.
    pub fn start() -> Result<Self, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|error| format!("finding a free port: {error}"))?
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|error| {
                format!(
                    "starting redis-server: {error}; it must be on PATH \
                     (Debian/Ubuntu: apt-get install redis-server)"
                )
            })?;
        let mut server = Self { child, port };
        let started = Instant::now();
        while !server.answers_ping() {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("redis-server exited at start: {status}"));
            }
            if started.elapsed() > START_PATIENCE {
                return Err("redis-server did not answer PING in time".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let mut answer = [0; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut answer).is_ok()
            && &answer == b"+PONG\r\n"
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Its CPU time so far, in seconds.
    pub fn cpu_seconds(&self) -> Result<f64, String> {
        cpu_seconds(&format!("/proc/{}/stat", self.child.id()))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // Nothing is persisted: killing it loses nothing.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// This process's CPU time so far (user plus system, all threads), in seconds.
pub fn own_cpu_seconds() -> Result<f64, String> {
    cpu_seconds("/proc/self/stat")
}

/// `utime + stime` of a `/proc/<pid>/stat` file, in seconds.
fn cpu_seconds(path: &str) -> Result<f64, String> {
    let stat = std::fs::read_to_string(path).map_err(|error| format!("{path}: {error}"))?;
    // The command name may hold spaces: fields are counted after its `)`.
    // After it come state (3), …, utime (14) and stime (15).
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("unexpected {path}"))?;
    let mut fields = after_name.split_whitespace().skip(11);
    let mut next = || -> Result<u64, String> {
        fields
            .next()
            .and_then(|field| field.parse().ok())
            .ok_or_else(|| format!("unexpected {path}"))
    };
    let (user, system) = (next()?, next()?);
    Ok((user + system) as f64 / TICKS_PER_SECOND)
}

/// CPU time that the whole machine spent busy so far (all processes), in
/// seconds, from the first line of `/proc/stat`.
pub fn machine_busy_seconds() -> Result<f64, String> {
    let stat =
        std::fs::read_to_string("/proc/stat").map_err(|error| format!("/proc/stat: {error}"))?;
    let line = stat.lines().next().ok_or("empty /proc/stat")?;
    // cpu user nice system idle iowait irq softirq steal guest guest_nice:
    // all but idle and iowait are busy; guest time is counted in user.
    let ticks: u64 = line
        .split_whitespace()
        .skip(1)
        .enumerate()
        .filter(|(index, _)| ![3, 4, 8, 9].contains(index))
        .filter_map(|(_, field)| field.parse::<u64>().ok())
        .sum();
    Ok(ticks as f64 / TICKS_PER_SECOND)
}

/// The first three fields of `/proc/loadavg`.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "?".into())
}
