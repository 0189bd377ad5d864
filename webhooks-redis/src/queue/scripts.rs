//! The queue's server-side steps, each one atomic script.
//!
//! Settle scripts share their arguments: KEYS[1] the stream, KEYS[2] the
//! job's hash; ARGV[1] the group, ARGV[2] the entry, ARGV[3] the consumer,
//! ARGV[4] the hold's token (the job's attempts when it was handed out),
//! ARGV[5] the job id; their own arguments follow. Each first checks that
//! the hold is still this worker's: the entry pending on this consumer and
//! the job not handed out again since.

use redis::Script;

use super::job::STARTED;
use crate::connection::{Lua, lua_list};

/// Whether a hold still holds: its entry pending on this consumer in the
/// group, and its job not handed out again since (its attempts still the
/// hold's token). The one check of every settle and of the renewals.
const HELD_FUNCTION: &str = r"
local function held(stream, job, group, entry, consumer, token)
  local pending = redis.call('XPENDING', stream, group, entry, entry, 1)
  if not pending[1] or pending[1][2] ~= consumer then return false end
  return redis.call('HGET', job, 'attempts') == token
end
";

/// A settle's prelude: answers 0 unless the hold of ARGV[2..4] on
/// KEYS[1..2] still holds.
const HELD: &str = r"
if not held(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4]) then return 0 end
";

/// Appends a job unless the queue holds `capacity` (ARGV[1]) jobs: entries
/// in the stream (ready or running) and retries waiting in the delayed set.
const PUSH: &str = r"
if redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[3], unpack(ARGV, 3))
redis.call('XADD', KEYS[1], '*', 'job', ARGV[2])
return 1
";

/// For each entry (ARGV[2..]) and its job (KEYS[2..]): counts a start of
/// the job and returns the values of its `STARTED` fields (`started`, a
/// Lua list of their names; `ATTEMPTS_AT`, the place of `attempts`, comes
/// back counted); an entry whose job is gone (settled elsewhere) is
/// acknowledged, dropped and answered with no values.
const START: &str = r"
local jobs = {}
for i = 2, #KEYS do
  local values = redis.call('HMGET', KEYS[i], unpack(started))
  if not values[1] then
    redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
    redis.call('XDEL', KEYS[1], ARGV[i])
    values = {}
  else
    values[ATTEMPTS_AT] = tostring(redis.call('HINCRBY', KEYS[i], 'attempts', 1))
  end
  jobs[i - 1] = values
end
return jobs
";

/// Renews holds, each of its own job (KEYS[2..]) and with its own entry
/// and token (ARGV[3..], two by two), for the consumer ARGV[2] of the group
/// ARGV[1]: a hold that still holds has its entry's idle time reset
/// (`JUSTID`: its delivery count stays). Answers 1 or 0 per hold, in order.
const RENEW_ALL: &str = r"
local renewed = {}
for i = 2, #KEYS do
  local entry, token = ARGV[2 * i - 1], ARGV[2 * i]
  if held(KEYS[1], KEYS[i], ARGV[1], entry, ARGV[2], token) then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, entry, 'JUSTID')
    renewed[i - 1] = 1
  else
    renewed[i - 1] = 0
  end
end
return renewed
";

/// Done: the entry and the job are forgotten.
const ACK: &str = r"
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
return 1
";

/// Retry: the job waits in the delayed set (KEYS[3]) until ARGV[6], with its
/// failures (ARGV[7]), succeeded listeners (ARGV[8]) and error (ARGV[9]).
const RETRY: &str = r"
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], 'failures', ARGV[7], 'done', ARGV[8], 'error', ARGV[9])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[5])
return 1
";

/// Dead: the job becomes an entry of the dead-letter stream (KEYS[3]) with
/// its failures, succeeded listeners, reason and time (ARGV[6..9]) and last
/// error (ARGV[13]); its hash expires after the retention (ARGV[10] ms); the
/// stream keeps at most ARGV[11] entries, none older than ARGV[12].
const DEAD: &str = r"
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], 'failures', ARGV[6], 'done', ARGV[7], 'reason', ARGV[8], 'failed_ms', ARGV[9], 'error', ARGV[13])
redis.call('PEXPIRE', KEYS[2], ARGV[10])
redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[11], '*', 'job', ARGV[5])
redis.call('XTRIM', KEYS[3], 'MINID', ARGV[12])
return 1
";

/// Hand back (shutdown): the run did not happen, so it does not count; the
/// job is appended again for any worker to take at once.
const HAND_BACK: &str = r"
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HINCRBY', KEYS[2], 'attempts', -1)
redis.call('XADD', KEYS[1], '*', 'job', ARGV[5])
return 1
";

/// Moves due retries (KEYS[2]) back into the stream.
const PROMOTE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, job in ipairs(due) do
  redis.call('XADD', KEYS[1], '*', 'job', job)
  redis.call('ZREM', KEYS[2], job)
end
return #due
";

/// Puts a dead letter (ARGV[1] of KEYS[2]) back with fresh attempts.
const REQUEUE: &str = r"
if redis.call('XDEL', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[3], 'attempts', 0, 'failures', 0)
redis.call('HDEL', KEYS[3], 'error', 'reason', 'failed_ms')
redis.call('PERSIST', KEYS[3])
redis.call('XADD', KEYS[1], '*', 'job', ARGV[2])
return 1
";

/// Removes this consumer from the group, unless it still has pending
/// entries (they would become unclaimable).
const FORGET_CONSUMER: &str = r"
local pending = redis.pcall('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if type(pending) ~= 'table' or pending.err or #pending > 0 then return 0 end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
";

pub(super) struct Scripts {
    pub(super) push: Lua,
    pub(super) start: Lua,
    pub(super) renew_all: Lua,
    pub(super) ack: Lua,
    pub(super) retry: Lua,
    pub(super) dead: Lua,
    pub(super) hand_back: Lua,
    pub(super) promote: Script,
    pub(super) requeue: Script,
    pub(super) forget_consumer: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        let held = |body: &str| Lua::new(format!("{HELD_FUNCTION}{HELD}{body}"));
        Self {
            push: Lua::new(PUSH.to_owned()),
            start: Lua::new(format!("{}{START}", started_constants())),
            renew_all: Lua::new(format!("{HELD_FUNCTION}{RENEW_ALL}")),
            ack: held(ACK),
            retry: held(RETRY),
            dead: held(DEAD),
            hand_back: held(HAND_BACK),
            promote: Script::new(PROMOTE),
            requeue: Script::new(REQUEUE),
            forget_consumer: Script::new(FORGET_CONSUMER),
        }
    }
}

/// The names `START` reads, and where `attempts` is among them, as Lua
/// locals.
fn started_constants() -> String {
    let names = lua_list(&STARTED);
    let attempts = 1 + STARTED
        .iter()
        .position(|name| *name == "attempts")
        .expect("a start counts attempts");
    format!("local started, ATTEMPTS_AT = {names}, {attempts}\n")
}

/// The queue's push as a Lua function of `(KEYS, ARGV)` (those of `PUSH`),
/// for a script that takes it with other steps; it returns what `PUSH` does.
pub(crate) fn push_function() -> String {
    format!("local function push(KEYS, ARGV)\n{PUSH}\nend\n")
}

/// The ack, with `step` (Lua) run after the hold is found to hold and
/// before the job is forgotten; keys and arguments as every settle's.
pub(crate) fn ack_with(step: &str) -> String {
    format!("{HELD_FUNCTION}{HELD}{step}\n{ACK}")
}
