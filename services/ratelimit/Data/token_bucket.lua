-- One token-bucket decision, atomic on the Redis server. Mirrors TokenBucket.cs.
-- KEYS[1]  the bucket's hash: t = tokens (fractional), ts = last refill (Redis TIME, microseconds)
-- ARGV[1]  refill rate, tokens per second (may be fractional)
-- ARGV[2]  burst (capacity)
-- ARGV[3]  tokens to take, or to give back
-- ARGV[4]  "1" to give back (ReturnLease), "0" to take (AcquireLease)
-- Returns  { granted, whole tokens remaining, retry-after ms, Redis TIME in microseconds }
--
-- Redis TIME is the only clock, so every replica of the service and every edge agree on it.
-- Redis 7 replicates scripts by effects, so reading TIME before writing is allowed.
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local amount = tonumber(ARGV[3])
local giving_back = ARGV[4] == '1'
local epsilon = 1e-9

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])

local state = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  -- Unknown (or expired) bucket: it starts full.
  tokens = burst
  ts = now
elseif now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000000)
  ts = now
else
  -- The clock went back (failover to a replica with a slower clock): refill nothing until it
  -- catches up, which can only under-admit. A lower burst than last time trims the level.
  tokens = math.min(burst, tokens)
end

local granted = 0
local retry_after = 0
if giving_back then
  tokens = math.min(burst, tokens + amount)
else
  granted = math.min(amount, math.floor(tokens + epsilon))
  tokens = math.max(0, tokens - granted)
  if amount > 0 and granted == 0 then
    retry_after = math.max(1, math.ceil((1 - tokens) * 1000 / rate - 1e-6))
  end
end

-- %.17g round-trips a double exactly; Lua's default tostring keeps only 14 digits, which would
-- round a microsecond timestamp to 100 us and drift the level.
redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'ts', string.format('%.17g', ts))
-- Once the bucket would be full again its state equals "absent", so let Redis drop it then
-- (plus a second of slack for clock granularity): idle buckets cost no memory. Capped at about
-- 30 years, and formatted by hand: a Lua number passed to redis.call is printed with 14 digits.
local ttl_ms = math.min(math.ceil((burst - tokens) * 1000 / rate) + 1000, 1000000000000)
redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl_ms))

return { granted, math.floor(tokens + epsilon), retry_after, now }
