"""WeChat's retries: one answer per message, delivered once, passively or as 客服 messages.

WeChat waits 5 s for a reply and re-sends the same message up to 3 times, possibly
to another gateway copy and while the first is still being answered.  Each message
(``Incoming.dedupe_key``) has one Redis hash ``guide:wechat:turn:{key}``:

- ``attempts``: deliveries seen; the first one (1) answers, later ones only wait.
- ``state``: ``processing`` → ``ready`` (answer stored, nobody has it yet) →
  ``passive`` (an HTTP response carries it) — or ``processing`` → ``push`` (a waiter
  gave up and said ``success``) → ``pushed`` (the answerer sends 客服 messages).

Only the newest delivery may take the answer: WeChat has already dropped the
connections of older ones, so an answer written to them would be lost.  If a
delivery arrives after the answer went out passively, that reply was lost too and
the same text is sent again (WeChat shows a message's reply at most once).
Transitions are Lua scripts, atomic across processes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Callable, Dict, List, Optional, Tuple

from guide.redis import get_async_redis

TURN_SECONDS = 3600
POLL = 0.1

_CLAIM = """
local n = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if n == 1 then redis.call('HSET', KEYS[1], 'state', 'processing') end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return n
"""
_FINISH = """
local state = redis.call('HGET', KEYS[1], 'state')
redis.call('HSET', KEYS[1], 'result', ARGV[1])
if state == 'push' then redis.call('HSET', KEYS[1], 'state', 'pushed') return 'push' end
redis.call('HSET', KEYS[1], 'state', 'ready')
return 'ready'
"""
_TAKE = """
local state = redis.call('HGET', KEYS[1], 'state')
local n = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
if tonumber(ARGV[1]) < n then return {'superseded', ''} end
if state == 'ready' or state == 'passive' then
  redis.call('HSET', KEYS[1], 'state', 'passive')
  return {'passive', redis.call('HGET', KEYS[1], 'result') or '[]'}
end
if state == 'processing' then
  if ARGV[2] == '1' then redis.call('HSET', KEYS[1], 'state', 'push') return {'push', ''} end
  return {'wait', ''}
end
return {state or 'gone', ''}
"""
_local: Dict[str, asyncio.Event] = {}


def turn_key(key: str) -> str:
    return f"guide:wechat:turn:{key}"


async def claim(key: str) -> int:
    """This delivery's number: 1 means "answer it", more means "a retry, wait for the answer"."""
    n = int(await get_async_redis().eval(_CLAIM, 1, turn_key(key), TURN_SECONDS))
    if n == 1:
        _local[key] = asyncio.Event()
    return n


async def finish(key: str, parts: List[str]) -> str:
    """Store the answer; returns ``push`` when no HTTP response will carry it (send 客服 messages)."""
    try:
        return str(await get_async_redis().eval(_FINISH, 1, turn_key(key), json.dumps(parts, ensure_ascii=False)))
    finally:
        release(key)


def release(key: str) -> None:
    """This process no longer answers ``key``: wake its local waiter and stop counting it as in flight.

    Runs whatever happened to the answer (``finish`` calls it even when Redis fails), so a failed
    turn never leaves the gateway counting a message in flight — which would keep it in busy mode."""
    event = _local.pop(key, None)
    if event is not None:
        event.set()


async def wait(key: str, attempt: int, budget: float, hurry_after: float = float("inf"),
               hurry: Callable[[], bool] = lambda: False) -> Tuple[str, List[str]]:
    """Wait up to ``budget`` seconds; returns (``passive``, parts) to reply with, or (other state, [])
    meaning "answer ``success``" (pushed, superseded by a newer delivery, or given up to 客服).

    From ``hurry_after`` seconds on, the wait also ends as soon as ``hurry()`` says so (the gateway
    became busy while this message waited: acknowledge now, the answer follows as 客服 messages) —
    checked every ``POLL`` seconds, so a burst that starts after a message arrived still gets fast
    acknowledgements.

    When this process is answering the message, the wait is one event (set by ``finish``), looked at
    again every ``POLL`` seconds only for ``hurry()`` (no Redis round trip per tick); a retry that
    reached another process polls Redis every ``POLL`` seconds."""
    r = get_async_redis()
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + budget

    def due() -> bool:
        now = loop.time()
        return now >= deadline or (now - started >= hurry_after and hurry())

    while True:
        final = due()
        state, result = await r.eval(_TAKE, 1, turn_key(key), attempt, "1" if final else "0")
        if state == "passive":
            return "passive", list(json.loads(result))
        if state != "wait":
            return str(state), []
        event = _local.get(key)
        if event is None:
            await asyncio.sleep(min(POLL, max(0.0, deadline - loop.time())))
            continue
        while not event.is_set() and not due():
            remaining = max(0.0, deadline - loop.time())
            try:
                await asyncio.wait_for(event.wait(), timeout=min(remaining, POLL) if hurry_after < budget else remaining)
            except asyncio.TimeoutError:
                pass


def in_flight() -> int:
    """Messages this process is answering right now."""
    return len(_local)


async def first_push(key: str) -> bool:
    """True once per turn: the parts after the first passive one go out as 客服 messages exactly once."""
    return bool(await get_async_redis().hsetnx(turn_key(key), "rest_sent", "1"))


async def state(key: str) -> Optional[str]:
    return await get_async_redis().hget(turn_key(key), "state")
