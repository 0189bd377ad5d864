//! The Redis idempotency store.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::{Cmd, FromRedisValue, RedisError, RedisResult};

use crate::connection::{Connection, Lua, Made, unavailable};
use webhooks_core::{Claim, IdempotencyStore, Lease, StoreError};

/// Every command gives up after this long, so an unreachable Redis turns
/// into a 503 quickly instead of a hung request.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// The value of a completed key.
pub(crate) const DONE: &str = "done";

/// How many times a claim that found the key taken, then gone when it read
/// it, tries again before answering "in progress".
const CLAIM_RACES: usize = 3;

/// Complete: the holder's token, or no key at all (the lease lapsed and
/// nobody took it), turns into `done` for the TTL; another holder's token or
/// `done` is left alone (0). `STEP` is where [`complete_with`] puts a step
/// of its own, taken only when the key is completed.
const COMPLETE: &str = r"
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] or not current then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  STEP
  return 1
end
return 0
";

/// The store's complete, with `step` (Lua) taken when the key is
/// completed; keys and arguments as the complete's, the step's own after.
pub(crate) fn complete_with(step: &str) -> String {
    COMPLETE.replace("STEP", step)
}

/// Renew: the holder's token gets a fresh lease; a lapsed key nobody took is
/// taken again; another holder's token or `done` answers 0.
const RENEW: &str = r"
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";

/// Release: only the holder's token deletes the key.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// An [`IdempotencyStore`] on Redis, shared by every instance.
///
/// Each transition is one atomic round trip: a claim is a native
/// `SET NX PX` (followed by a `GET` only when the key is taken, to tell a
/// redelivery from one in progress); completing and releasing are scripts
/// that compare the holder's token and act. Keys are
/// `<prefix>:idem:{<source>:<id>}` and expire by themselves (a claim after
/// its lease, a completed key after its TTL), so no cleanup job is needed.
/// The connection reconnects by itself after an outage.
///
/// A single server or a Redis Cluster: each script touches one key, whose
/// `{…}` hash tag names its slot, so the cluster routes it to one node.
///
/// ```no_run
/// # async fn run() -> Result<(), redis::RedisError> {
/// use webhooks_redis::RedisWebhookEventStore;
///
/// let store = RedisWebhookEventStore::connect("redis://127.0.0.1:6379/0", "webhooks").await?;
/// let nodes = ["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"];
/// let clustered = RedisWebhookEventStore::connect_cluster(&nodes, "webhooks").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisWebhookEventStore {
    connection: Connection,
    prefix: String,
    instance: u64,
    next_token: Arc<AtomicU64>,
    complete: Arc<Lua>,
    renew: Arc<Lua>,
    release: Arc<Lua>,
}

impl RedisWebhookEventStore {
    /// Connects to the single server at `url` now; keys start with `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, RedisError> {
        let store = Self::lazy(url, prefix)?;
        store.connection.get().await?;
        Ok(store)
    }

    /// Connects to the Redis Cluster that `nodes` (`redis://host:port`
    /// URLs, any of its primaries) belong to now; keys start with `prefix`.
    ///
    /// The slot map is learnt from the nodes and followed through
    /// `MOVED`/`ASK` redirections and failovers.
    pub async fn connect_cluster(nodes: &[&str], prefix: &str) -> Result<Self, RedisError> {
        let store = Self::lazy_cluster(nodes, prefix)?;
        store.connection.get().await?;
        Ok(store)
    }

    /// The store of the server at `url`, connecting on first use (and again
    /// after an outage): a server that starts while Redis is down answers
    /// 503 until it is back. Fails only for a malformed URL.
    pub fn lazy(url: &str, prefix: &str) -> Result<Self, RedisError> {
        Ok(Self::new(Connection::single(url, COMMAND_TIMEOUT)?, prefix))
    }

    /// [`RedisWebhookEventStore::lazy`] for a Redis Cluster.
    pub fn lazy_cluster(nodes: &[&str], prefix: &str) -> Result<Self, RedisError> {
        Ok(Self::new(
            Connection::cluster(nodes, COMMAND_TIMEOUT)?,
            prefix,
        ))
    }

    fn new(connection: Connection, prefix: &str) -> Self {
        Self {
            connection,
            prefix: prefix.to_owned(),
            instance: RandomState::new().hash_one(std::process::id()),
            next_token: Arc::new(AtomicU64::new(1)),
            complete: Arc::new(Lua::new(complete_with(""))),
            renew: Arc::new(Lua::new(RENEW.to_owned())),
            release: Arc::new(Lua::new(RELEASE.to_owned())),
        }
    }

    /// A lease with a token no other claim has.
    pub(crate) fn new_lease(&self) -> Lease {
        Lease::new(self.next_token.fetch_add(1, Ordering::Relaxed))
    }

    /// The connection its commands take.
    pub(crate) fn connection(&self) -> &Connection {
        &self.connection
    }

    /// `<prefix>:idem:{<key>}`, allocated once at its exact size.
    pub(crate) fn key(&self, key: &str) -> String {
        let mut full = String::with_capacity(self.prefix.len() + 8 + key.len());
        full.push_str(&self.prefix);
        full.push_str(":idem:{");
        full.push_str(key);
        full.push('}');
        full
    }

    /// After a claim that failed, releases it in case it still reaches
    /// Redis: a claim that timed out on a slow or frozen server runs when
    /// the server resumes, and would hold the key for the whole lease,
    /// answering the provider's retry of the refused delivery with 409
    /// instead of processing it. The release is sent on the same
    /// connection, so Redis runs it after the claim; it is a no-op when the
    /// claim never arrived or another token holds the key. It is a plain
    /// `EVAL`, not `EVALSHA`: its answer may come too late to load a script
    /// that the server does not have cached.
    pub(crate) fn undo_claim(&self, key: String, token: Vec<u8>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let connection = self.connection.clone();
        runtime.spawn(async move {
            let Ok(mut connection) = connection.get().await else {
                return;
            };
            let undone: Result<i64, RedisError> = redis::cmd("EVAL")
                .arg(RELEASE)
                .arg(1)
                .arg(key)
                .arg(token)
                .query_async(&mut connection)
                .await;
            if let Err(error) = undone {
                tracing::debug!(error = %error, "could not undo a failed claim (nothing to undo if it never arrived)");
            }
        });
    }

    /// Tokens are unique across instances: a random instance part and a
    /// counter. The lease keeps the counter; the instance part is checked by
    /// value in Redis.
    pub(crate) fn token_value(&self, lease: &Lease) -> Token {
        let mut token = [0; 32];
        let mut parts = [0; 16];
        parts[..8].copy_from_slice(&self.instance.to_be_bytes());
        parts[8..].copy_from_slice(&lease.token().to_be_bytes());
        hex::encode_to_slice(parts, &mut token).expect("16 bytes are 32 hex digits");
        Token(token)
    }
}

/// A lease token as Redis holds it: 32 hex digits, on the stack.
pub(crate) struct Token([u8; 32]);

impl Token {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Runs a one-key script of the store.
async fn run_script<T: FromRedisValue>(
    connection: &mut Made,
    script: &Lua,
    key: &str,
    args: &[&[u8]],
) -> RedisResult<T> {
    let bytes = key.len() + args.iter().map(|arg| arg.len()).sum::<usize>();
    script
        .run(connection, 1, (1 + args.len(), bytes), |cmd| {
            cmd.arg(key);
            for arg in args {
                cmd.arg(*arg);
            }
        })
        .await
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

/// A duration in whole milliseconds, at least 1 (Redis refuses `PX 0`).
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

impl IdempotencyStore for RedisWebhookEventStore {
    async fn claim(&self, key: &str, lease: Duration) -> Result<Claim, StoreError> {
        let granted = self.new_lease();
        let (key, token) = (self.key(key), self.token_value(&granted));
        let mut connection = self.connection.get().await.map_err(unavailable)?;
        for _ in 0..CLAIM_RACES {
            // `SET NX` is the atomic claim, one native command.
            let mut set = Cmd::with_capacity(6, key.len() + token.as_bytes().len() + 32);
            // `OK` when set, nil when the key exists: read as a `Value`, the
            // answer costs no allocation.
            let answer: redis::Value = match set
                .arg("SET")
                .arg(&key)
                .arg(token.as_bytes())
                .arg("NX")
                .arg("PX")
                .arg(millis(lease))
                .query_async(&mut connection)
                .await
            {
                Ok(answer) => answer,
                Err(error) => {
                    self.undo_claim(key, token.as_bytes().to_vec());
                    return Err(unavailable(error));
                }
            };
            if !matches!(answer, redis::Value::Nil) {
                return Ok(Claim::Acquired(granted));
            }
            // Taken: a redelivery or a concurrent one. Reading which is a
            // second command, only on this path.
            let current: Option<String> = redis::cmd("GET")
                .arg(&key)
                .query_async(&mut connection)
                .await
                .map_err(unavailable)?;
            match current.as_deref() {
                Some(DONE) => return Ok(Claim::Completed),
                Some(_) => return Ok(Claim::InProgress),
                // Released or lapsed in between: claim again.
                None => {}
            }
        }
        Ok(Claim::InProgress)
    }

    async fn renew(
        &self,
        key: &str,
        lease: &Lease,
        duration: Duration,
    ) -> Result<bool, StoreError> {
        let mut connection = self.connection.get().await.map_err(unavailable)?;
        let mut digits = [0_u8; 20];
        let duration = decimal(millis(duration), &mut digits);
        let renewed: i64 = run_script(
            &mut connection,
            &self.renew,
            &self.key(key),
            &[self.token_value(lease).as_bytes(), duration],
        )
        .await
        .map_err(unavailable)?;
        Ok(renewed == 1)
    }

    async fn complete(&self, key: &str, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        let mut connection = self.connection.get().await.map_err(unavailable)?;
        let mut digits = [0_u8; 20];
        let ttl = decimal(millis(ttl), &mut digits);
        let completed: i64 = run_script(
            &mut connection,
            &self.complete,
            &self.key(key),
            &[self.token_value(lease).as_bytes(), DONE.as_bytes(), ttl],
        )
        .await
        .map_err(unavailable)?;
        Ok(completed == 1)
    }

    async fn release(&self, key: &str, lease: &Lease) -> Result<(), StoreError> {
        let mut connection = self.connection.get().await.map_err(unavailable)?;
        let _: i64 = run_script(
            &mut connection,
            &self.release,
            &self.key(key),
            &[self.token_value(lease).as_bytes()],
        )
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.connection.get().await.map_err(unavailable)?;
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map(drop)
            .map_err(unavailable)
    }
}

impl fmt::Debug for RedisWebhookEventStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: it is not kept, and never printed.
        f.debug_struct("RedisWebhookEventStore")
            .field("prefix", &self.prefix)
            .field("cluster", &self.connection.is_cluster())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::decimal;

    #[test]
    fn decimals_are_written_in_place() {
        let mut digits = [0; 20];
        assert_eq!(decimal(0, &mut digits), b"0");
        assert_eq!(decimal(86_400_000, &mut digits), b"86400000");
        assert_eq!(
            decimal(u64::MAX, &mut digits),
            u64::MAX.to_string().as_bytes()
        );
    }
}
