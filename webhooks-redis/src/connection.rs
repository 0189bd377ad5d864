//! Connecting lazily, with bounded timeouts and reconnection.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{
    Cmd, ErrorKind, FromRedisValue, Pipeline, RedisError, RedisFuture, RedisResult, Script, Value,
};
use tokio::sync::OnceCell;

/// How often a cluster command is retried after a redirection or a lost
/// node, before the delivery is refused with 503.
const CLUSTER_RETRIES: u32 = 3;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// After a failed connection attempt, commands fail at once for this long
/// instead of each trying again: an outage costs deliveries no wait.
const RECONNECT_PAUSE: Duration = Duration::from_millis(250);

/// A connection made on first use, so a server starts while Redis is down
/// and recovers when it is back; once made, it reconnects by itself.
#[derive(Clone)]
pub(crate) struct Connection {
    inner: Arc<Lazy>,
}

struct Lazy {
    target: Target,
    timeout: Duration,
    made: OnceCell<Made>,
    failed_at: Mutex<Option<Instant>>,
}

enum Target {
    Single(redis::Client),
    Cluster(ClusterClient),
}

/// A connection to a single server or to a cluster.
#[derive(Clone)]
pub(crate) enum Made {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Connection {
    /// To the server at `url`; commands give up after `timeout`.
    pub(crate) fn single(url: &str, timeout: Duration) -> Result<Self, RedisError> {
        Ok(Self::new(
            Target::Single(redis::Client::open(url)?),
            timeout,
        ))
    }

    /// To the Redis Cluster that `nodes` belong to, following redirections
    /// and failovers; commands give up after `timeout`.
    pub(crate) fn cluster(nodes: &[&str], timeout: Duration) -> Result<Self, RedisError> {
        let client = ClusterClient::builder(nodes.iter().copied())
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(timeout)
            // The default (16 retries, waits growing to minutes) would hold
            // a delivery for far longer than a provider waits for an answer.
            .retries(CLUSTER_RETRIES)
            .min_retry_wait(50)
            .max_retry_wait(500)
            .build()?;
        Ok(Self::new(Target::Cluster(client), timeout))
    }

    fn new(target: Target, timeout: Duration) -> Self {
        Self {
            inner: Arc::new(Lazy {
                target,
                timeout,
                made: OnceCell::new(),
                failed_at: Mutex::new(None),
            }),
        }
    }

    /// Whether this is a cluster connection.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.inner.target, Target::Cluster(_))
    }

    /// The connection, made now if it is not yet.
    ///
    /// Making it is boxed: every command's future holds this one, and the
    /// connecting state (several KiB) would otherwise be part of each.
    pub(crate) async fn get(&self) -> Result<Made, RedisError> {
        match self.inner.made.get() {
            Some(made) => Ok(made.clone()),
            None => Box::pin(self.make()).await,
        }
    }

    async fn make(&self) -> Result<Made, RedisError> {
        let lazy = &*self.inner;
        let recently_failed = lazy
            .failed_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some_and(|at| at.elapsed() < RECONNECT_PAUSE);
        if recently_failed {
            return Err(RedisError::from((
                ErrorKind::IoError,
                "Redis unreachable; reconnecting",
            )));
        }
        let made = lazy.made.get_or_try_init(|| lazy.connect()).await;
        if made.is_err() {
            *lazy
                .failed_at
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
        }
        made.cloned()
    }
}

impl Lazy {
    async fn connect(&self) -> Result<Made, RedisError> {
        match &self.target {
            Target::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(CONNECT_TIMEOUT)
                    .set_response_timeout(self.timeout)
                    .set_number_of_retries(1);
                let manager = ConnectionManager::new_with_config(client.clone(), config).await?;
                Ok(Made::Single(manager))
            }
            Target::Cluster(client) => Ok(Made::Cluster(client.get_async_connection().await?)),
        }
    }
}

impl ConnectionLike for Made {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

/// A Redis that did not answer, as the core's error (503 at the door).
pub(crate) fn unavailable(error: RedisError) -> webhooks_core::StoreError {
    webhooks_core::StoreError::new(error)
}

/// `names` as a Lua table literal of strings: `{'a', 'b'}`, for a script
/// that takes a list of field names from Rust (names are plain words).
pub(crate) fn lua_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("'{name}'")).collect();
    format!("{{{}}}", quoted.join(", "))
}

/// A Lua script run by its SHA-1 (`EVALSHA`), its text kept to send
/// (`EVAL`) only when the server has not cached it: after a restart or a
/// failover.
pub(crate) struct Lua {
    hash: String,
    text: String,
}

impl Lua {
    pub(crate) fn new(text: String) -> Self {
        Self {
            hash: Script::new(&text).get_hash().to_owned(),
            text,
        }
    }

    /// Runs the script with `keys` keys; `fill` writes the keys, then the
    /// arguments, into one command pre-sized for `args` arguments of
    /// `bytes` bytes in all, so writing them allocates once.
    pub(crate) async fn run<T: FromRedisValue>(
        &self,
        connection: &mut Made,
        keys: usize,
        (args, bytes): (usize, usize),
        fill: impl Fn(&mut Cmd),
    ) -> RedisResult<T> {
        let call = |command: &str, body: &str| {
            let mut cmd = Cmd::with_capacity(3 + args, body.len() + bytes + 32);
            cmd.arg(command).arg(body).arg(keys);
            fill(&mut cmd);
            cmd
        };
        match call("EVALSHA", &self.hash).query_async(connection).await {
            Err(error) if error.kind() == ErrorKind::NoScriptError => {
                call("EVAL", &self.text).query_async(connection).await
            }
            answer => answer,
        }
    }
}
