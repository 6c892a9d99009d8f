"""The QuotaLedger port on Redis: one counter per user and period that every API process shares.

Each operation is one Lua script, so check-and-reserve is atomic on the server and costs one round trip:
N parallel replies can never together reserve more than the limit (RELIABILITY Q1). Hold expiry uses the
server's TIME, so processes whose clocks disagree still agree on when a hold lapses. Any Redis failure
raises QuotaUnavailable: a ledger that cannot be checked never lets a reply run unmetered (Q4).

Keys, per user and period (the braces make both land in one Redis Cluster slot):
  <prefix>{<user>:<period start, epoch s>}           hash: used, reserved, hold:<id> -> amount,
                                                     granted, grant:<id> -> tokens
  <prefix>{<user>:<period start, epoch s>}:expiries  sorted set: reservation id scored by lapse time (ms)
`reserved` is the sum of the live holds, kept in step by every script so reserve need not add them up;
`granted` is the sum of the grants, each counted once by its id (HSETNX), whether the seed or the grant itself
brought it. A grant may arrive before the seed: the hash then holds grants only, and a counter exists once it
has `used`. The counter expires a week after its period ends; the sorted set never outlives it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from application.conversation.ports import LedgerBalance, NeedsBaseline, Reservation, Settlement
from application.shared.allowance import Allowance, GrantedTokens
from domain.conversation.errors import QuotaExceeded, QuotaUnavailable

COUNTER_KEPT_AFTER_PERIOD = timedelta(days=7)
"""Long enough for late settles and for usage pages to read the period; then Redis forgets it."""

# Every script: KEYS[1] the counter hash, KEYS[2] the expiries sorted set. `purge` drops lapsed holds.
# Millisecond scores stay exact: Lua prints numbers with 14 significant digits, a ms timestamp has 13.
PRELUDE = """
local counter, expiries = KEYS[1], KEYS[2]
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local function purge()
  local lapsed = redis.call('ZRANGEBYSCORE', expiries, '-inf', now_ms)
  for _, id in ipairs(lapsed) do
    local amount = redis.call('HGET', counter, 'hold:' .. id)
    if amount then
      redis.call('HDEL', counter, 'hold:' .. id)
      redis.call('HINCRBY', counter, 'reserved', -tonumber(amount))
    end
  end
  if #lapsed > 0 then
    redis.call('ZREMRANGEBYSCORE', expiries, '-inf', now_ms)
  end
end
-- Drops a hold; returns true only if it was still live (a lapsed hold counts as released).
local function take_hold(id)
  local amount = redis.call('HGET', counter, 'hold:' .. id)
  if not amount then
    return false
  end
  local expires = redis.call('ZSCORE', expiries, id)
  redis.call('HDEL', counter, 'hold:' .. id)
  redis.call('HINCRBY', counter, 'reserved', -tonumber(amount))
  redis.call('ZREM', expiries, id)
  return expires ~= false and tonumber(expires) > now_ms
end
-- Counts the grants given as (id, tokens) pairs in ARGV from index `first`, each once.
local function add_grants(first)
  for i = first, #ARGV, 2 do
    if redis.call('HSETNX', counter, 'grant:' .. ARGV[i], ARGV[i + 1]) == 1 then
      redis.call('HINCRBY', counter, 'granted', ARGV[i + 1])
    end
  end
end
local function seeded()
  return redis.call('HEXISTS', counter, 'used') == 1
end
"""

# ARGV: limit, amount, reservation id, hold ttl ms. Returns {-1} (no counter), {0} (refused) or {1, granted} (held).
RESERVE = (
    PRELUDE
    + """
if not seeded() then
  return {-1}
end
purge()
local limit, amount = tonumber(ARGV[1]), tonumber(ARGV[2])
local values = redis.call('HMGET', counter, 'used', 'reserved', 'granted')
local granted = tonumber(values[3]) or 0
if tonumber(values[1]) + tonumber(values[2]) + amount > limit + granted then
  return {0}
end
redis.call('HSET', counter, 'hold:' .. ARGV[3], amount)
redis.call('HINCRBY', counter, 'reserved', amount)
redis.call('ZADD', expiries, now_ms + tonumber(ARGV[4]), ARGV[3])
local ttl = redis.call('PTTL', counter)
if ttl > 0 then
  redis.call('PEXPIRE', expiries, ttl)
end
return {1, granted}
"""
)

# ARGV: used, counter expiry (epoch ms), hold ttl ms, then (grant id, tokens) pairs. Creates the counter only
# if absent (SET NX). The expiry is never sooner than one hold ttl away, so seeding a period that ended long ago
# still works.
SEED = (
    PRELUDE
    + """
if seeded() then
  return 0
end
redis.call('DEL', expiries)
redis.call('HSET', counter, 'used', ARGV[1], 'reserved', 0)
add_grants(4)
redis.call('PEXPIREAT', counter, math.max(tonumber(ARGV[2]), now_ms + tonumber(ARGV[3])))
return 1
"""
)

# ARGV: counter expiry (epoch ms), hold ttl ms, grant id, tokens. Counts the grant once; a counter not seeded yet
# keeps it for the seed (with the counter's expiry, so it never lingers).
GRANT = (
    PRELUDE
    + """
add_grants(3)
if redis.call('PTTL', counter) < 0 then
  redis.call('PEXPIREAT', counter, math.max(tonumber(ARGV[1]), now_ms + tonumber(ARGV[2])))
end
return 1
"""
)

# ARGV: reservation id, actual tokens. Returns 1 if the hold was live and `actual` was added, else 0.
SETTLE = (
    PRELUDE
    + """
local settled = 0
if take_hold(ARGV[1]) then
  redis.call('HINCRBY', counter, 'used', ARGV[2])
  settled = 1
end
purge()
local values = redis.call('HMGET', counter, 'used', 'reserved', 'granted')
return {settled, tonumber(values[1]) or 0, tonumber(values[2]) or 0, tonumber(values[3]) or 0}
"""
)

# ARGV: reservation id.
RELEASE = (
    PRELUDE
    + """
take_hold(ARGV[1])
return 1
"""
)

# Returns {0} when there is no counter, else {1, used, reserved, granted}.
BALANCE = (
    PRELUDE
    + """
if not seeded() then
  return {0}
end
purge()
local values = redis.call('HMGET', counter, 'used', 'reserved', 'granted')
return {1, tonumber(values[1]), tonumber(values[2]), tonumber(values[3]) or 0}
"""
)


class RedisQuotaLedger:
    """Fails closed: every method raises QuotaUnavailable when Redis is down or slow (the client's
    timeouts bound how long that takes), because the alternative is generation nobody pays for."""

    def __init__(self, client: Redis, prefix: str = "parley:quota:", hold_ttl_seconds: float = 600) -> None:
        self._prefix = prefix
        self._hold_ttl_ms = round(hold_ttl_seconds * 1000)
        self._reserve = client.register_script(RESERVE)
        self._seed = client.register_script(SEED)
        self._settle = client.register_script(SETTLE)
        self._release = client.register_script(RELEASE)
        self._balance = client.register_script(BALANCE)
        self._grant = client.register_script(GRANT)

    async def reserve(self, user_id: UUID, allowance: Allowance, amount: int) -> Reservation:
        _require_not_negative(amount=amount)
        reservation_id = uuid4().hex
        outcome = await self._run(
            self._reserve,
            self._keys(user_id, allowance.period_start),
            [allowance.limit, amount, reservation_id, self._hold_ttl_ms],
        )
        if outcome[0] == -1:
            raise NeedsBaseline()
        if outcome[0] == 0:
            raise QuotaExceeded()
        return Reservation(
            id=reservation_id,
            user_id=user_id,
            period_start=allowance.period_start,
            amount=amount,
            granted=int(outcome[1]),
        )

    async def seed(self, user_id: UUID, allowance: Allowance, used: int) -> None:
        _require_not_negative(used=used)
        expires_at_ms = _epoch_ms(allowance.period_end + COUNTER_KEPT_AFTER_PERIOD)
        grants: list[str | int] = []
        for grant in allowance.period_grants:
            grants += [grant.id.hex, grant.tokens]
        await self._run(
            self._seed, self._keys(user_id, allowance.period_start), [used, expires_at_ms, self._hold_ttl_ms, *grants]
        )

    async def grant(self, user_id: UUID, grant: GrantedTokens) -> None:
        _require_not_negative(tokens=grant.tokens)
        expires_at_ms = _epoch_ms(grant.period_end + COUNTER_KEPT_AFTER_PERIOD)
        await self._run(
            self._grant,
            self._keys(user_id, grant.period_start),
            [expires_at_ms, self._hold_ttl_ms, grant.id.hex, grant.tokens],
        )

    async def settle(self, reservation: Reservation, actual: int) -> Settlement:
        _require_not_negative(actual=actual)
        keys = self._keys(reservation.user_id, reservation.period_start)
        settled, used, reserved, granted = await self._run(self._settle, keys, [reservation.id, actual])
        return Settlement(settled=bool(settled), used=int(used), reserved=int(reserved), granted=int(granted))

    async def release(self, reservation: Reservation) -> None:
        await self._run(self._release, self._keys(reservation.user_id, reservation.period_start), [reservation.id])

    async def balance(self, user_id: UUID, allowance: Allowance) -> LedgerBalance:
        reply = await self._run(self._balance, self._keys(user_id, allowance.period_start), [])
        if not reply[0]:
            raise NeedsBaseline()
        granted = int(reply[3])
        return LedgerBalance(
            limit=allowance.limit + granted, used=int(reply[1]), reserved=int(reply[2]), granted=granted
        )

    def _keys(self, user_id: UUID, period_start: datetime) -> list[str]:
        counter = f"{self._prefix}{{{user_id}:{int(period_start.timestamp())}}}"
        return [counter, f"{counter}:expiries"]

    @staticmethod
    async def _run(script: AsyncScript, keys: list[str], args: list[str | int]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except RedisError as error:
            raise QuotaUnavailable() from error


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _require_not_negative(**values: int) -> None:
    """A negative amount would hand quota back; that is a caller bug, never a refund."""
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{name} must not be negative, got {value}")
