//! The clients and modes compared, and one op of each workload on each.
//!
//! Every variant sends the same commands with the same arguments; they
//! differ only in the client and in how the commands are built and sent.

use std::fmt::Write as _;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use fred::bytes_utils::Str;
use fred::prelude::{
    Builder, ClientLike, Config, Expiration, Key, KeysInterface, LuaInterface, SetOptions,
    Value as FredValue,
};
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::io::tcp::TcpSettings;
use redis::{AsyncConnectionConfig, Cmd, RedisResult, Value};

/// As webhooks-redis has them.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The claim's lease, and the completed key's TTL, in milliseconds.
const LEASE_MS: u64 = 60_000;
const TTL_MS: u64 = 86_400_000;
const LEASE: &[u8] = b"60000";
const TTL: &[u8] = b"86400000";
const DONE: &[u8] = b"done";

/// The store's complete script (webhooks-redis/src/store.rs).
pub const COMPLETE: &str = r"
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] or not current then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
";

/// A queued accept in one script: claim the key unless it is known, store
/// the job's fields, and append the job to the stream.
pub const ACCEPT: &str = r"
if redis.call('GET', KEYS[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 4))
redis.call('XADD', KEYS[3], '*', 'job', ARGV[3])
return 1
";

/// The stream that accepted jobs are appended to.
const STREAM: &str = "bench:queue";

/// A made-up signature header, as stored with each job.
const SIGNATURE: &[u8] = b"sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// What one op does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// An inline delivery: `SET NX PX` (claim), then `EVALSHA` complete.
    Inline,
    /// A queued accept: one `EVALSHA` doing GET/SET, HSET of 8 fields (the
    /// body among them) and XADD.
    Accept,
}

impl Workload {
    /// Its name in options and tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Inline => "inline (claim + complete)",
            Self::Accept => "queued accept (one script)",
        }
    }
}

/// A client and a way of using it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// `ConnectionManager`, a pre-sized `Cmd` per command sent with
    /// `query_async`, the manager cloned per op: what webhooks-redis does.
    Manager,
    /// `ConnectionManager`, one `Cmd` per task cleared and refilled for each
    /// command (no `Cmd` allocation), sent with the inherent
    /// `send_packed_command` (no boxed future).
    ManagerReuse,
    /// `MultiplexedConnection` used as [`Variant::Manager`] uses its manager.
    Mux,
    /// `MultiplexedConnection` used as [`Variant::ManagerReuse`].
    MuxReuse,
    /// One `fred::Client` (pipelines across tasks by itself).
    Fred,
    /// A round-robin `fred::Pool` of this many clients.
    FredPool(usize),
}

impl Variant {
    /// Every variant, in the default order.
    pub fn all() -> Vec<Self> {
        vec![
            Self::Manager,
            Self::ManagerReuse,
            Self::Mux,
            Self::MuxReuse,
            Self::Fred,
            Self::FredPool(2),
        ]
    }

    /// Its name in options and tables.
    pub fn name(self) -> String {
        match self {
            Self::Manager => "redis-manager".into(),
            Self::ManagerReuse => "redis-manager-reuse".into(),
            Self::Mux => "redis-mux".into(),
            Self::MuxReuse => "redis-mux-reuse".into(),
            Self::Fred => "fred".into(),
            Self::FredPool(size) => format!("fred-pool{size}"),
        }
    }

    /// The variant called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "redis-manager" => Some(Self::Manager),
            "redis-manager-reuse" => Some(Self::ManagerReuse),
            "redis-mux" => Some(Self::Mux),
            "redis-mux-reuse" => Some(Self::MuxReuse),
            "fred" => Some(Self::Fred),
            _ => name
                .strip_prefix("fred-pool")
                .and_then(|size| size.parse().ok())
                .filter(|size| *size > 0)
                .map(Self::FredPool),
        }
    }

    fn reuses_commands(self) -> bool {
        matches!(self, Self::ManagerReuse | Self::MuxReuse)
    }
}

/// A connected client, shared by all tasks (each holds a clone).
#[derive(Clone)]
pub enum Client {
    /// `redis::aio::ConnectionManager`.
    Manager(ConnectionManager),
    /// `redis::aio::MultiplexedConnection`.
    Mux(MultiplexedConnection),
    /// `fred::clients::Client`.
    Fred(fred::clients::Client),
    /// `fred::clients::Pool`.
    FredPool(fred::clients::Pool),
}

impl Client {
    /// Connects `variant`'s client to `url`, with the same timeouts as
    /// webhooks-redis; `nodelay` sets `TCP_NODELAY` (both clients leave it
    /// off by default).
    pub async fn connect(variant: Variant, url: &str, nodelay: bool) -> Result<Self, String> {
        let redis_client = || redis::Client::open(url).map_err(|error| error.to_string());
        let tcp = TcpSettings::default().set_nodelay(nodelay);
        let fred_builder = || -> Result<Builder, String> {
            let config = Config::from_url(url).map_err(|error| error.to_string())?;
            let mut builder = Builder::from_config(config);
            builder
                .with_performance_config(|performance| {
                    performance.default_command_timeout = COMMAND_TIMEOUT;
                })
                .with_connection_config(|connection| {
                    connection.connection_timeout = CONNECT_TIMEOUT;
                    connection.tcp.nodelay = Some(nodelay);
                });
            Ok(builder)
        };
        let error = |error: redis::RedisError| error.to_string();
        let fred_error = |error: fred::error::Error| error.to_string();
        Ok(match variant {
            Variant::Manager | Variant::ManagerReuse => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(CONNECT_TIMEOUT)
                    .set_response_timeout(COMMAND_TIMEOUT)
                    .set_number_of_retries(1)
                    .set_tcp_settings(tcp);
                Self::Manager(
                    ConnectionManager::new_with_config(redis_client()?, config)
                        .await
                        .map_err(error)?,
                )
            }
            Variant::Mux | Variant::MuxReuse => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(CONNECT_TIMEOUT)
                    .set_response_timeout(COMMAND_TIMEOUT)
                    .set_tcp_settings(tcp);
                Self::Mux(
                    redis_client()?
                        .get_multiplexed_async_connection_with_config(&config)
                        .await
                        .map_err(error)?,
                )
            }
            Variant::Fred => {
                let client = fred_builder()?.build().map_err(fred_error)?;
                client.init().await.map_err(fred_error)?;
                Self::Fred(client)
            }
            Variant::FredPool(size) => {
                let pool = fred_builder()?.build_pool(size).map_err(fred_error)?;
                pool.init().await.map_err(fred_error)?;
                Self::FredPool(pool)
            }
        })
    }

    /// Closes fred's connections (the redis crate's close when dropped).
    pub async fn close(self) {
        match self {
            Self::Manager(_) | Self::Mux(_) => {}
            Self::Fred(client) => {
                let _ = client.quit().await;
            }
            Self::FredPool(pool) => {
                let _ = pool.quit().await;
            }
        }
    }
}

/// What every task shares: the scripts' SHA-1s and the body.
#[derive(Debug, Clone)]
pub struct Shared {
    /// SHA-1 of [`COMPLETE`].
    pub complete: String,
    /// SHA-1 of [`ACCEPT`].
    pub accept: String,
    /// The delivery body stored by the accept script.
    pub body: Bytes,
    complete_str: Str,
    accept_str: Str,
    stream: Key,
}

impl Shared {
    /// Loads both scripts into the server at `url` and keeps their SHA-1s.
    pub fn load(url: &str, body_size: usize) -> Result<Self, String> {
        let error = |error: redis::RedisError| error.to_string();
        let mut connection = redis::Client::open(url)
            .and_then(|client| client.get_connection())
            .map_err(error)?;
        let mut load = |text: &str| -> Result<String, String> {
            redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(text)
                .query(&mut connection)
                .map_err(error)
        };
        let (complete, accept) = (load(COMPLETE)?, load(ACCEPT)?);
        // A JSON-looking body of the asked size.
        let mut body = b"{\"ref\":\"refs/heads/main\",\"padding\":\"".to_vec();
        body.resize(body_size.saturating_sub(2).max(body.len()), b'x');
        body.extend_from_slice(b"\"}");
        Ok(Self {
            complete_str: Str::from(complete.as_str()),
            accept_str: Str::from(accept.as_str()),
            complete,
            accept,
            body: Bytes::from(body),
            stream: Key::from(STREAM),
        })
    }
}

/// One task's state, reused from op to op.
pub struct Task {
    client: Client,
    variant: Variant,
    number: u32,
    next: u64,
    id: String,
    key: String,
    job_key: String,
    token: [u8; 32],
    commands: [Cmd; 2],
}

impl Task {
    /// Task `number` of `variant`, on its own clone of `client`.
    pub fn new(client: Client, variant: Variant, number: u32) -> Self {
        Self {
            client,
            variant,
            number,
            next: 0,
            id: String::with_capacity(32),
            key: String::with_capacity(64),
            job_key: String::with_capacity(64),
            token: [0; 32],
            commands: [Cmd::new(), Cmd::new()],
        }
    }

    /// Runs one op of `workload` on a fresh key; an error if Redis failed
    /// or answered other than a first delivery's answer.
    pub async fn op(&mut self, workload: Workload, shared: &Shared) -> Result<(), String> {
        self.next_delivery();
        match (workload, self.client.clone()) {
            (Workload::Inline, Client::Manager(connection)) => {
                self.redis_inline(connection, shared).await
            }
            (Workload::Inline, Client::Mux(connection)) => {
                self.redis_inline(connection, shared).await
            }
            (Workload::Inline, Client::Fred(client)) => self.fred_inline(&client, shared).await,
            (Workload::Inline, Client::FredPool(pool)) => self.fred_inline(&pool, shared).await,
            (Workload::Accept, Client::Manager(connection)) => {
                self.redis_accept(connection, shared).await
            }
            (Workload::Accept, Client::Mux(connection)) => {
                self.redis_accept(connection, shared).await
            }
            (Workload::Accept, Client::Fred(client)) => self.fred_accept(&client, shared).await,
            (Workload::Accept, Client::FredPool(pool)) => self.fred_accept(&pool, shared).await,
        }
    }

    /// A fresh delivery id, its keys and its token, in place.
    fn next_delivery(&mut self) {
        self.next += 1;
        self.id.clear();
        write!(self.id, "{}-{}", self.number, self.next).expect("a String takes any write");
        self.key.clear();
        write!(self.key, "bench:idem:{{src:{}}}", self.id).expect("a String takes any write");
        self.job_key.clear();
        write!(self.job_key, "bench:job:{{src:{}}}", self.id).expect("a String takes any write");
        let value = (u128::from(self.number) << 64) | u128::from(self.next);
        for (index, digit) in self.token.iter_mut().enumerate() {
            let nibble = (value >> (4 * (31 - index))) & 0xf;
            *digit = b"0123456789abcdef"[nibble as usize];
        }
    }

    async fn redis_inline<C>(&mut self, connection: C, shared: &Shared) -> Result<(), String>
    where
        C: ConnectionLike + SendPacked + Clone + Send,
    {
        let (key, token) = (self.key.as_bytes(), &self.token[..]);
        let complete_args: [&[u8]; 3] = [token, DONE, TTL];
        let (claimed, completed) = if self.variant.reuses_commands() {
            let [set, script] = &mut self.commands;
            let mut connection = connection;
            set.clear();
            set.arg("SET")
                .arg(key)
                .arg(token)
                .arg("NX")
                .arg("PX")
                .arg(LEASE_MS);
            let claimed = connection.send(set).await;
            evalsha_into(script, &shared.complete, &[key], &complete_args);
            (claimed, connection.send(script).await)
        } else {
            // As webhooks-redis: the connection cloned per command (its
            // `Connection::get`), a pre-sized `Cmd` per command.
            let mut set = Cmd::with_capacity(6, key.len() + token.len() + 32);
            set.arg("SET")
                .arg(key)
                .arg(token)
                .arg("NX")
                .arg("PX")
                .arg(LEASE_MS);
            let claimed = set.query_async(&mut connection.clone()).await;
            let script = evalsha(&shared.complete, &[key], &complete_args);
            let completed = script.query_async(&mut connection.clone()).await;
            (claimed, completed)
        };
        expect(claimed, Value::Okay, "claim")?;
        expect(completed, Value::Int(1), "complete")
    }

    async fn redis_accept<C>(&mut self, connection: C, shared: &Shared) -> Result<(), String>
    where
        C: ConnectionLike + SendPacked + Clone + Send,
    {
        let mut digits = [0; 20];
        let received = decimal(self.next, &mut digits);
        let args = accept_args(&self.token, &self.job_key, &self.id, &shared.body, received);
        let keys: [&[u8]; 3] = [
            self.key.as_bytes(),
            self.job_key.as_bytes(),
            STREAM.as_bytes(),
        ];
        let accepted = if self.variant.reuses_commands() {
            let (script, mut connection) = (&mut self.commands[0], connection);
            evalsha_into(script, &shared.accept, &keys, &args);
            connection.send(script).await
        } else {
            let script = evalsha(&shared.accept, &keys, &args);
            script.query_async(&mut connection.clone()).await
        };
        expect(accepted, Value::Int(1), "accept")
    }

    async fn fred_inline<C>(&mut self, client: &C, shared: &Shared) -> Result<(), String>
    where
        C: KeysInterface + LuaInterface + Sync,
    {
        let key = Key::from(self.key.as_str());
        let token = Bytes::copy_from_slice(&self.token);
        let claimed: FredValue = client
            .set(
                &key,
                token.clone(),
                Some(Expiration::PX(LEASE_MS as i64)),
                Some(SetOptions::NX),
                false,
            )
            .await
            .map_err(|error| format!("claim: {error}"))?;
        if claimed.is_null() {
            return Err("claim: the key was taken".into());
        }
        let args = vec![
            FredValue::Bytes(token),
            FredValue::Bytes(Bytes::from_static(DONE)),
            FredValue::Integer(TTL_MS as i64),
        ];
        let completed: i64 = client
            .evalsha(shared.complete_str.clone(), key, args)
            .await
            .map_err(|error| format!("complete: {error}"))?;
        match completed {
            1 => Ok(()),
            other => Err(format!("complete answered {other}")),
        }
    }

    async fn fred_accept<C>(&mut self, client: &C, shared: &Shared) -> Result<(), String>
    where
        C: LuaInterface + Sync,
    {
        let mut digits = [0; 20];
        let received = decimal(self.next, &mut digits);
        // Constant arguments are shared, not copied; so is the body.
        let dynamic = |arg: &[u8]| FredValue::Bytes(Bytes::copy_from_slice(arg));
        let fixed = |arg: &'static [u8]| FredValue::Bytes(Bytes::from_static(arg));
        let args = vec![
            dynamic(&self.token),
            fixed(LEASE),
            dynamic(self.job_key.as_bytes()),
            fixed(b"source"),
            fixed(b"github"),
            fixed(b"id"),
            dynamic(self.id.as_bytes()),
            fixed(b"event"),
            fixed(b"push"),
            fixed(b"received_ms"),
            dynamic(received),
            fixed(b"attempts"),
            fixed(b"0"),
            fixed(b"content_type"),
            fixed(b"application/json"),
            fixed(b"signature"),
            fixed(SIGNATURE),
            fixed(b"body"),
            FredValue::Bytes(shared.body.clone()),
        ];
        let keys = vec![
            Key::from(self.key.as_str()),
            Key::from(self.job_key.as_str()),
            shared.stream.clone(),
        ];
        let accepted: i64 = client
            .evalsha(shared.accept_str.clone(), keys, args)
            .await
            .map_err(|error| format!("accept: {error}"))?;
        match accepted {
            1 => Ok(()),
            other => Err(format!("accept answered {other}")),
        }
    }
}

/// The redis crate's inherent `send_packed_command`, which the manager and
/// the multiplexed connection both have: no boxed future, unlike
/// `ConnectionLike::req_packed_command`.
pub trait SendPacked {
    /// Sends `cmd` and reads its answer.
    fn send(&mut self, cmd: &Cmd) -> impl Future<Output = RedisResult<Value>> + Send;
}

impl SendPacked for ConnectionManager {
    fn send(&mut self, cmd: &Cmd) -> impl Future<Output = RedisResult<Value>> + Send {
        self.send_packed_command(cmd)
    }
}

impl SendPacked for MultiplexedConnection {
    fn send(&mut self, cmd: &Cmd) -> impl Future<Output = RedisResult<Value>> + Send {
        self.send_packed_command(cmd)
    }
}

/// `EVALSHA <sha> <keys> <keys…> <args…>` in one pre-sized `Cmd`, as
/// webhooks-redis's `run_script` builds it.
fn evalsha(sha: &str, keys: &[&[u8]], args: &[&[u8]]) -> Cmd {
    let size = sha.len() + keys.iter().chain(args).map(|arg| arg.len()).sum::<usize>();
    let mut cmd = Cmd::with_capacity(3 + keys.len() + args.len(), size + 16);
    evalsha_into(&mut cmd, sha, keys, args);
    cmd
}

/// Clears `cmd` and fills it with `EVALSHA <sha> <keys> <keys…> <args…>`.
fn evalsha_into(cmd: &mut Cmd, sha: &str, keys: &[&[u8]], args: &[&[u8]]) {
    cmd.clear();
    cmd.arg("EVALSHA").arg(sha).arg(keys.len());
    for arg in keys.iter().chain(args) {
        cmd.arg(*arg);
    }
}

/// The accept script's arguments after its keys: token, lease, job id,
/// then the job's 8 fields and values (`fred_accept` lists the same).
fn accept_args<'a>(
    token: &'a [u8],
    job_key: &'a str,
    id: &'a str,
    body: &'a [u8],
    received: &'a [u8],
) -> [&'a [u8]; 19] {
    [
        token,
        LEASE,
        job_key.as_bytes(),
        b"source",
        b"github",
        b"id",
        id.as_bytes(),
        b"event",
        b"push",
        b"received_ms",
        received,
        b"attempts",
        b"0",
        b"content_type",
        b"application/json",
        b"signature",
        SIGNATURE,
        b"body",
        body,
    ]
}

/// `Ok` when Redis answered `wanted`.
fn expect(answer: RedisResult<Value>, wanted: Value, what: &str) -> Result<(), String> {
    match answer {
        Ok(value) if value == wanted => Ok(()),
        Ok(value) => Err(format!("{what} answered {value:?}")),
        Err(error) => Err(format!("{what}: {error}")),
    }
}

/// `value` in decimal, written into `digits`.
fn decimal(mut value: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return &digits[start..];
        }
    }
}
