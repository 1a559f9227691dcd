#pragma once
// The Lua scripts of the presence registry. Each runs atomically in Redis, so
// "first session", "last session" and "who did this dead node leave offline"
// are decided once, whatever the number of nodes racing.
//
// Keys (ids are decimal):
//   parley:node:<node>:alive     lease, PX = 2 heartbeats, renewed by its node
//   parley:nodes                 sorted set: node -> lease expiry (Redis TIME, ms)
//   parley:node:<node>:sessions  set of "<user>:<session>" registered by the node
//   parley:user:<user>:sessions  set of "<node>:<session>"
// A session is live while its node's lease is. The scripts touch keys they
// derive from values, so they need a single Redis (not Redis Cluster).
#include <string_view>

namespace parley::presence::redis::scripts {

// Helpers shared by every script (prepended to each).
inline constexpr std::string_view kPrelude = R"lua(
local alive_cache = {}
local function alive(node)
  local a = alive_cache[node]
  if a == nil then
    a = redis.call('EXISTS', 'parley:node:' .. node .. ':alive') == 1
    alive_cache[node] = a
  end
  return a
end
-- Whether `user` has a session on a live node. Drops the sessions of dead
-- nodes on the way: whoever drops them decides the user's transition, so a
-- later sweep of those nodes does not report the user a second time.
local function live_or_purge(user)
  local ukey = 'parley:user:' .. user .. ':sessions'
  local live = false
  for _, m in ipairs(redis.call('SMEMBERS', ukey)) do
    local node, session = string.match(m, '^(%d+):(%d+)$')
    if node and alive(node) then
      live = true
    else
      redis.call('SREM', ukey, m)
      if node then redis.call('SREM', 'parley:node:' .. node .. ':sessions', user .. ':' .. session) end
    end
  end
  return live
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Removes every session of `node`; appends to `offline` the users left with
-- no live session (each once, tracked in `seen`).
local function drop_node(node, offline, seen)
  local nkey = 'parley:node:' .. node .. ':sessions'
  local touched = {}
  for _, m in ipairs(redis.call('SMEMBERS', nkey)) do
    local user, session = string.match(m, '^(%d+):(%d+)$')
    if user and redis.call('SREM', 'parley:user:' .. user .. ':sessions', node .. ':' .. session) == 1 then
      touched[#touched + 1] = user
    end
  end
  redis.call('DEL', nkey)
  redis.call('ZREM', 'parley:nodes', node)
  for _, user in ipairs(touched) do
    if not seen[user] then
      seen[user] = true
      if not live_or_purge(user) then offline[#offline + 1] = user end
    end
  end
end
)lua";

// ARGV: user, node, session. 1 when the user had no live session before.
inline constexpr std::string_view kAddSession = R"lua(
local user, node, session = ARGV[1], ARGV[2], ARGV[3]
local first = not live_or_purge(user)
redis.call('SADD', 'parley:user:' .. user .. ':sessions', node .. ':' .. session)
redis.call('SADD', 'parley:node:' .. node .. ':sessions', user .. ':' .. session)
if first then return 1 end
return 0
)lua";

// ARGV: user, node, session. 1 when the session existed and the user has no
// live session left.
inline constexpr std::string_view kRemoveSession = R"lua(
local user, node, session = ARGV[1], ARGV[2], ARGV[3]
local removed = redis.call('SREM', 'parley:user:' .. user .. ':sessions', node .. ':' .. session)
redis.call('SREM', 'parley:node:' .. node .. ':sessions', user .. ':' .. session)
if removed == 0 or live_or_purge(user) then return 0 end
return 1
)lua";

// ARGV: users. One 0/1 per user, in order. Reads only.
inline constexpr std::string_view kOnline = R"lua(
local out = {}
for i, user in ipairs(ARGV) do
  local live = 0
  for _, m in ipairs(redis.call('SMEMBERS', 'parley:user:' .. user .. ':sessions')) do
    local node = string.match(m, '^(%d+):')
    if node and alive(node) then
      live = 1
      break
    end
  end
  out[i] = live
end
return out
)lua";

// ARGV: node, lease ms. Renews the lease; 1 when it had lapsed (or Redis
// lost it: a restart), so the node must register its sessions again.
inline constexpr std::string_view kHeartbeat = R"lua(
local node, ttl = ARGV[1], tonumber(ARGV[2])
local old = redis.call('SET', 'parley:node:' .. node .. ':alive', '1', 'PX', ttl, 'GET')
redis.call('ZADD', 'parley:nodes', now_ms() + ttl, node)
if old then return 0 end
return 1
)lua";

// ARGV: node, then user, session pairs. Registers sessions again (after a
// Redis restart or a lapsed lease); idempotent.
inline constexpr std::string_view kRegister = R"lua(
local node = ARGV[1]
for i = 2, #ARGV - 1, 2 do
  redis.call('SADD', 'parley:user:' .. ARGV[i] .. ':sessions', node .. ':' .. ARGV[i + 1])
  redis.call('SADD', 'parley:node:' .. node .. ':sessions', ARGV[i] .. ':' .. ARGV[i + 1])
end
return 0
)lua";

// ARGV: max nodes. Drops the sessions of nodes whose lease expired; returns
// the users that left offline. Atomic: one sweeper wins each dead node.
inline constexpr std::string_view kSweep = R"lua(
local offline, seen = {}, {}
for _, node in ipairs(redis.call('ZRANGEBYSCORE', 'parley:nodes', '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[1]))) do
  if not alive(node) then drop_node(node, offline, seen) end
end
return offline
)lua";

// ARGV: node. Drops every session a previous run of this node left (a
// restart with the same node id); returns the users that left offline.
inline constexpr std::string_view kResetNode = R"lua(
local offline, seen = {}, {}
redis.call('DEL', 'parley:node:' .. ARGV[1] .. ':alive')
alive_cache[ARGV[1]] = false
drop_node(ARGV[1], offline, seen)
return offline
)lua";

// --- shared limits (SharedLimits: the send buckets and the login throttle) ---
// Keys: parley:limit:<key> (a hash {t: tokens, ts: ms} for a bucket, a
// sorted set of failure times for a throttle count), each with a TTL so an
// idle one goes away; parley:limit:seq names failures uniquely.

// ARGV: key, rate per s, burst, want, now (ms). Refills the bucket (full
// when new) and takes up to `want` tokens; returns {granted, retry_after_ms}
// (the wait until one token is there when none was granted).
inline constexpr std::string_view kTakeTokens = R"lua(
local key = 'parley:limit:' .. ARGV[1]
local rate, burst = tonumber(ARGV[2]), tonumber(ARGV[3])
local want, now = tonumber(ARGV[4]), tonumber(ARGV[5])
local state = redis.call('HMGET', key, 't', 'ts')
local tokens, ts = tonumber(state[1]), tonumber(state[2])
if tokens == nil or ts == nil then tokens, ts = burst, now end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
  ts = now
end
local granted = math.max(0, math.min(want, math.floor(tokens)))
tokens = tokens - granted
redis.call('HSET', key, 't', string.format('%.6f', tokens), 'ts', string.format('%.0f', ts))
redis.call('PEXPIRE', key, math.ceil(burst * 1000 / rate) + 1000)
local retry = 0
if granted == 0 then retry = math.ceil((1 - tokens) * 1000 / rate) end
return {granted, retry}
)lua";

// ARGV: now (ms), window (ms), add ('1' or '0'), then pairs of key, max.
// With add, records a failure at `now` under each key first (keeping the
// newest `max`). Returns the ms until every key holds fewer than its max
// failures within the window (0: now), as auth::LoginThrottle counts.
inline constexpr std::string_view kFailures = R"lua(
local now, window, add = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
local wait = 0
for i = 4, #ARGV - 1, 2 do
  local key, max = 'parley:limit:' .. ARGV[i], tonumber(ARGV[i + 1])
  if add then
    redis.call('ZADD', key, now, now .. ':' .. redis.call('INCR', 'parley:limit:seq'))
    redis.call('ZREMRANGEBYRANK', key, 0, -(max + 1))
    redis.call('PEXPIRE', key, window)
  end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= max then
    local oldest = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
    wait = math.max(wait, oldest + window - now)
  end
end
return wait
)lua";

// --- recent entries (recent_entries.h) -----------------------------------------
// Key: parley:recent:<conv>, a list of entries (codec.h, EncodeEntry: each
// starts with its seq and ':'), ascending by consecutive seq; a TTL so an
// idle conversation's window goes away. These scripts use no prelude.

// ARGV: the window's key, the most entries kept, the TTL (ms), then per
// entry: seq, "1" when it starts a new window (a delete), the encoding. An
// entry at or below the window's last seq is there already (another node
// wrote it during a rebalance, or a retry): skipped. One that does not
// follow the last seq starts a new window, so the window never has a hole.
// Returns the window's last seq.
inline constexpr std::string_view kAppendRecent = R"lua(
local key = ARGV[1]
local last = redis.call('LINDEX', key, -1)  -- false when there is no window
local hi = nil
if last then
  hi = tonumber(string.match(last, '^(%d+):'))
  if hi == nil then redis.call('DEL', key) end  -- not ours: start again
end
for i = 4, #ARGV, 3 do
  local seq = tonumber(ARGV[i])
  if hi == nil or seq > hi then
    if hi ~= nil and (ARGV[i + 1] == '1' or seq ~= hi + 1) then redis.call('DEL', key) end
    redis.call('RPUSH', key, ARGV[i + 2])
    hi = seq
  end
end
redis.call('LTRIM', key, -tonumber(ARGV[2]), -1)
redis.call('PEXPIRE', key, ARGV[3])
return hi
)lua";

// ARGV: the window's key, the first seq wanted. Returns the entries from
// that seq to the window's end, or {} when the window is empty or starts
// after it.
inline constexpr std::string_view kReadRecent = R"lua(
local first = redis.call('LINDEX', ARGV[1], 0)
if not first then return {} end
local lo = tonumber(string.match(first, '^(%d+):'))
local want = tonumber(ARGV[2])
if lo == nil or want < lo then return {} end
return redis.call('LRANGE', ARGV[1], want - lo, -1)
)lua";

}  // namespace parley::presence::redis::scripts
