//! The event log's server-side steps, each one atomic script.
//!
//! A record is the hash `<prefix>:{events}:event:<source>:<id>`; the index
//! is the sorted set `<prefix>:{events}:index` of `<source>:<id>` members
//! scored by a sequence number (`<prefix>:{events}:seq`, `INCR`ed once per
//! new record), so the newest record has the highest score. Every key shares
//! the `{events}` hash tag: a script that touches the index and the records
//! it names stays in one slot of a Redis Cluster.

use redis::Script;

use crate::connection::{Lua, lua_list};

/// Upserts an arrival. KEYS[1] the record, KEYS[2] the index, KEYS[3] the
/// sequence; ARGV[1] the index member, ARGV[2] `delivery` or `replay`,
/// ARGV[3] the source, ARGV[4] the id, ARGV[5] the type, ARGV[6] the arrival
/// time (ms), ARGV[7] when the record expires (ms), ARGV[8] the oldest
/// arrival time the retention keeps (ms), ARGV[9] the retention (ms),
/// ARGV[10] `max_events`, ARGV[11] the prefix of record keys, then the body
/// and headers as `field, value` pairs, when kept.
///
/// A key it has: counts the redelivery or the replay and sets it
/// `processing` again; its first body stays. A new key: a record, indexed
/// under the next sequence number; then the oldest records over
/// `max_events`, and, every `AGE_TRIM_EVERY`th new record, the oldest past
/// the retention (or gone already), are deleted with their index entries:
/// at most `COUNT_TRIM_BATCH` and `TRIM_BATCH` per call, so that a call's
/// work stays bounded when `max_events` was lowered (Redis runs one script
/// at a time). A new record is one `HSET`, and the records over
/// `max_events` leave the index with one `ZPOPMIN` and one `DEL`: each call
/// from a script costs Redis about 2 µs beyond the command's own work
/// (`INFO commandstats` under the load benchmark).
const RECEIVED: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  local counter = 'redeliveries'
  if ARGV[2] == 'replay' then counter = 'replays' end
  redis.call('HINCRBY', KEYS[1], counter, 1)
  redis.call('HSET', KEYS[1], 'status', 'processing')
  redis.call('HDEL', KEYS[1], 'finished_ms')
  return 0
end
local replays = 0
if ARGV[2] == 'replay' then replays = 1 end
redis.call('HSET', KEYS[1], 'source', ARGV[3], 'id', ARGV[4], 'type', ARGV[5],
  'status', 'processing', 'attempts', 0, 'redeliveries', 0, 'replays', replays,
  'received_ms', ARGV[6], unpack(ARGV, 12))
redis.call('PEXPIREAT', KEYS[1], ARGV[7])
local seq = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[2], seq, ARGV[1])
local over = math.min(redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[10]), COUNT_TRIM_BATCH)
if over > 0 then
  local popped, dropped = redis.call('ZPOPMIN', KEYS[2], over), {}
  for i = 1, #popped, 2 do dropped[#dropped + 1] = ARGV[11] .. popped[i] end
  redis.call('DEL', unpack(dropped))
end
if seq % AGE_TRIM_EVERY == 0 then
  local oldest_kept = tonumber(ARGV[8])
  for _ = 1, TRIM_BATCH do
    local member = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
    if not member then break end
    local received = tonumber(redis.call('HGET', ARGV[11] .. member, 'received_ms'))
    if received and received >= oldest_kept then break end
    redis.call('DEL', ARGV[11] .. member)
    redis.call('ZREM', KEYS[2], member)
  end
end
redis.call('PEXPIRE', KEYS[2], ARGV[9])
redis.call('PEXPIRE', KEYS[3], ARGV[9])
return 1
";

/// How many of the oldest index entries an arrival looks at for the
/// retention, when it looks.
const TRIM_BATCH: usize = 100;

/// Every how many new records the index is trimmed by age: the records
/// themselves expire on time (`PEXPIREAT`) and a listing skips an entry
/// whose record is gone, so looking at every arrival would cost two calls
/// per record for entries no reader sees. Up to `TRIM_BATCH` entries per
/// look keeps the index well ahead of any arrival rate.
const AGE_TRIM_EVERY: usize = 16;

/// How many records over `max_events` one arrival deletes at most: one in
/// the steady state; a log whose `max_events` was lowered shrinks by this
/// many per new record.
const COUNT_TRIM_BATCH: usize = 1000;

/// Counts a caught redelivery on the record KEYS[1], if there is one.
const REDELIVERED: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'redeliveries', 1)
return 1
";

/// A run's outcome on the record KEYS[1], if there is one
/// (`EventRecord::apply`): ARGV[1] the status, ARGV[2] the finish time (ms)
/// or empty when the status is not final, ARGV[3] `1` with the error in
/// ARGV[4] or `0` for none, ARGV[5] the listeners' runs as a JSON array
/// (`[]` for none, as `serde_json` writes an empty list), each merged by name into the record's `listeners` array (its last run
/// replaces the one kept; a new name is appended). A record with no runs
/// yet takes the array as it came, without decoding it: the lifecycle sends
/// each listener once per run. One `HMGET` and one `HSET`, and an `HDEL`
/// only when a field it had must go; JSON is decoded only for a record that
/// ran before.
const RAN: &str = r"
local kept = redis.call('HMGET', KEYS[1], 'source', 'attempts', 'listeners', 'finished_ms', 'error')
if not kept[1] then return 0 end
local set, unset = {'attempts', (tonumber(kept[2]) or 0) + 1, 'status', ARGV[1]}, {}
if ARGV[2] ~= '' then
  set[#set + 1] = 'finished_ms'; set[#set + 1] = ARGV[2]
elseif kept[4] then
  unset[#unset + 1] = 'finished_ms'
end
if ARGV[3] == '1' then
  set[#set + 1] = 'error'; set[#set + 1] = ARGV[4]
elseif kept[5] then
  unset[#unset + 1] = 'error'
end
if ARGV[5] ~= '[]' then
  set[#set + 1] = 'listeners'
  if kept[3] then
    local merged = cjson.decode(kept[3])
    for _, run in ipairs(cjson.decode(ARGV[5])) do
      local at = #merged + 1
      for i, last in ipairs(merged) do
        if last.listener == run.listener then at = i; break end
      end
      merged[at] = run
    end
    set[#set + 1] = cjson.encode(merged)
  else
    set[#set + 1] = ARGV[5]
  end
end
redis.call('HSET', KEYS[1], unpack(set))
if #unset > 0 then redis.call('HDEL', KEYS[1], unpack(unset)) end
return 1
";

/// The fields a listing reads of each record, in the order `LIST` returns
/// them (never the body or the headers).
pub(super) const LISTED: [&str; 11] = [
    "source",
    "id",
    "type",
    "status",
    "attempts",
    "redeliveries",
    "replays",
    "received_ms",
    "finished_ms",
    "error",
    "listeners",
];

/// A page, newest first. KEYS[1] the index; ARGV[1] the prefix of record
/// keys, ARGV[2] the cursor (only sequence numbers below it; empty for the
/// newest), ARGV[3] the page size, ARGV[4] the most index entries to look
/// at, then the filters, each empty when not asked for: ARGV[5] the source,
/// ARGV[6] the status, ARGV[7] the type, ARGV[8] received at or after (ms),
/// ARGV[9] received before (ms).
///
/// Answers the next cursor (empty on the last page) followed by the `LISTED`
/// fields of each record. The cursor is the sequence number of the last
/// record returned, or, when the scan stopped at its bound first, of the
/// last entry looked at, so paging goes on past a long run of records that
/// do not match. An entry whose record expired is skipped.
const LIST: &str = r"
local prefix, limit, budget = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local source, status, kind = ARGV[5], ARGV[6], ARGV[7]
local since, before = tonumber(ARGV[8]), tonumber(ARGV[9])
local source_prefix = source .. ':'
local answer = {''}
local found, scanned, last = 0, 0, nil
local max = '+inf'
if ARGV[2] ~= '' then max = '(' .. ARGV[2] end
while scanned < budget do
  local batch = redis.call('ZREVRANGEBYSCORE', KEYS[1], max, '-inf', 'WITHSCORES',
    'LIMIT', 0, math.min(LIST_BATCH, budget - scanned))
  if #batch == 0 then return answer end
  for i = 1, #batch, 2 do
    local member, seq = batch[i], batch[i + 1]
    scanned = scanned + 1
    if source == '' or string.sub(member, 1, #source_prefix) == source_prefix then
      -- A missing field is `false`, which the answer carries as nil.
      local f = redis.call('HMGET', prefix .. member, unpack(fields))
      local received = tonumber(f[8])
      if f[1] and (status == '' or f[4] == status) and (kind == '' or f[3] == kind)
        and (not since or (received and received >= since))
        and (not before or (received and received < before)) then
        if found == limit then
          answer[1] = last
          return answer
        end
        found = found + 1
        for j = 1, #fields do answer[#answer + 1] = f[j] end
        last = seq
      end
    end
    max = '(' .. seq
  end
end
answer[1] = string.sub(max, 2)
return answer
";

/// Index entries read per `ZREVRANGEBYSCORE` of a listing.
const LIST_BATCH: usize = 200;

pub(super) struct Scripts {
    pub(super) received: Lua,
    pub(super) redelivered: Script,
    pub(super) ran: Lua,
    pub(super) list: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        let fields = lua_list(&LISTED);
        Self {
            received: Lua::new(format!("{}{RECEIVED}", received_constants())),
            redelivered: Script::new(REDELIVERED),
            ran: Lua::new(RAN.to_owned()),
            list: Script::new(&format!(
                "local LIST_BATCH, fields = {LIST_BATCH}, {fields}{LIST}"
            )),
        }
    }
}

/// The constants `RECEIVED` reads, as Lua locals.
fn received_constants() -> String {
    format!(
        "local TRIM_BATCH, COUNT_TRIM_BATCH, AGE_TRIM_EVERY = {TRIM_BATCH}, {COUNT_TRIM_BATCH}, {AGE_TRIM_EVERY}\n"
    )
}

/// The log's steps as Lua functions of `(KEYS, ARGV)`, for a script that
/// takes them with others: `received`, `redelivered` and `ran`, their keys
/// and arguments those of `RECEIVED`, `REDELIVERED` and `RAN`. Each
/// returns what its script does.
pub(crate) fn functions() -> String {
    format!(
        "{}local function received(KEYS, ARGV)\n{RECEIVED}\nend\n\
         local function redelivered(KEYS, ARGV)\n{REDELIVERED}\nend\n\
         local function ran(KEYS, ARGV)\n{RAN}\nend\n",
        received_constants()
    )
}
