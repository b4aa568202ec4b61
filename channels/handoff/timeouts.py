"""The handoff clock: queue timeouts, idle reminders on both sides, message offers that lapse,
and the assignment pass — one tick every ``handoff_tick_s`` seconds.

Every gateway copy runs the loop, but a tick only runs where it wins a Redis lock (a token
renewed while the tick runs, released only by its holder), so N copies do the work once; and
every step is a guarded, compare-and-set transition, so even two ticks at once could not time a
conversation out twice, nor overwrite a reply that arrived while the tick was looking.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator, Dict, Optional

from starlette.concurrency import run_in_threadpool

from channels.handoff import left_messages, queues, service
from channels.handoff.states import State
from guide.redis import get_redis
from guide.settings import get_settings

log = logging.getLogger(__name__)
LOCK = f"{queues.PREFIX}:tick"
_task: Optional[asyncio.Task] = None


def _f(value: Optional[str]) -> float:
    try:
        return float(value or 0)
    except ValueError:
        return 0.0


REMIND_LUA = """
local c = redis.call('HMGET', KEYS[1], 'state', 'waiting_on', 'waiting_since', 'reminded')
if c[1] ~= 'with_agent' or c[2] ~= ARGV[1] or (c[3] or '') ~= ARGV[2] or c[4] == '1' then return 0 end
redis.call('HSET', KEYS[1], 'reminded', '1', 'reminded_at', ARGV[3])
return 1
"""


def mark_reminded(sender: str, waiting_on: str, since: str, now: float) -> bool:
    """Note a reminder only if nobody answered since the tick looked (the resident's reply wins)."""
    return bool(service.script(REMIND_LUA)(keys=[queues.conv_key(sender)], args=[waiting_on, since, f"{now:.3f}"]))


async def tick(now: Optional[float] = None) -> Dict[str, int]:
    """One pass; returns how many conversations each rule touched."""
    s = get_settings()
    now = now or time.time()
    r = get_redis()
    done = {"timed_out": 0, "message_lapsed": 0, "resident_reminded": 0, "resident_idle_closed": 0, "agent_reminded": 0,
            "requeued": 0, "assigned": 0, "orders_recovered": 0, "ratings_notified": 0}
    # offers first: a resident timed out in this very tick must get the whole wait to write
    for sender in r.zrangebyscore(queues.MESSAGE_WAIT, "-inf", now - s.handoff_message_wait_s):
        if await service.expire_message(sender, before=now - s.handoff_message_wait_s):
            done["message_lapsed"] += 1
    for tier in queues.TIERS:
        for sender in r.zrangebyscore(queues.queue_key(tier), "-inf", now - s.handoff_queue_timeout_s):
            if await service.time_out(sender):
                done["timed_out"] += 1
        if done["timed_out"]:
            await service.announce_positions([tier])
    for sender in r.smembers(queues.ACTIVE):
        conv = queues.conv(sender)
        if conv.get("state") != State.WITH_AGENT:
            r.srem(queues.ACTIVE, sender)
            continue
        waiting_on, since_raw = conv.get("waiting_on") or "", conv.get("waiting_since") or ""
        since = _f(since_raw)
        reminded, reminded_at = conv.get("reminded") == "1", _f(conv.get("reminded_at"))
        if waiting_on == "resident":
            if not reminded and now - since >= s.handoff_resident_idle_reminder_s:
                if not mark_reminded(sender, "resident", since_raw, now):
                    continue  # the resident answered meanwhile
                minutes = max(1, round(s.handoff_resident_idle_close_s / 60))
                await service.tell(sender, [{"kind": "system", "text": f"请问您还在吗？如 {minutes} 分钟内没有回复，本次人工服务将自动结束。",
                                             "status": service.status_of(sender)}])
                done["resident_reminded"] += 1
            elif reminded and now - reminded_at >= s.handoff_resident_idle_close_s:
                if await service.abandon_idle(sender, since=since_raw):
                    done["resident_idle_closed"] += 1
        elif waiting_on == "agent":
            if not reminded and now - since >= s.handoff_agent_idle_reminder_s:
                if not mark_reminded(sender, "agent", since_raw, now):
                    continue  # the agent answered meanwhile
                queues.publish({"type": "agent_idle", "sender": sender, "agent": conv.get("agent", ""),
                                "tier": conv.get("tier", ""), "group": conv.get("group", ""), "state": State.WITH_AGENT,
                                "waited": f"{now - since:.0f}"})
                done["agent_reminded"] += 1
            elif reminded and s.handoff_agent_idle_requeue_s and now - reminded_at >= s.handoff_agent_idle_requeue_s:
                if await service.requeue(sender, since=since_raw):
                    done["requeued"] += 1
    done["orders_recovered"] = await left_messages.recover_orders(now)
    done["ratings_notified"] = await _retry_rating_notices(now)
    done["assigned"] = await service.dispatch()
    await service.announce_positions(queues.TIERS)  # places held back by the throttle are told now
    return done


RATING_SCAN = f"{queues.PREFIX}:rating_scan"
RATING_SCAN_EVERY_S = 30


async def _retry_rating_notices(now: float) -> int:
    """Tell residents rectification outcomes their channel refused before (bounded, with backoff)."""
    from datetime import datetime, timezone

    from channels import delivery, ratings, transcript

    r = get_redis()
    if now - _f(r.get(RATING_SCAN)) < RATING_SCAN_EVERY_S:
        return 0  # a database scan every 30 s is plenty for a backoff that starts at a minute
    r.set(RATING_SCAN, f"{now:.3f}", ex=3600)
    at = datetime.fromtimestamp(now, timezone.utc).replace(tzinfo=None)
    told = 0
    for item in await run_in_threadpool(ratings.notifications_due, at):
        msg = ratings.outcome_message(item)
        report = await delivery.push(item["sender"], [msg])
        if report.get("ok"):
            await run_in_threadpool(transcript.append, item["sender"], "system", msg["text"])
            told += 1
        await run_in_threadpool(ratings.mark_notified, item["id"], bool(report.get("ok")), str(report.get("error") or ""))
    return told


# ------------------------------------------------------------------ the tick lock

RENEW_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) <= 0 then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
"""


class TickLock:
    """The lock one gateway copy holds while it ticks: a token, renewed while the tick runs (a slow tick
    keeps it), released only by its holder (a late holder never frees another copy's lock)."""

    def __init__(self, ttl_ms: int) -> None:
        self.ttl_ms = max(100, int(ttl_ms))
        self.token = secrets.token_hex(8)

    def acquire(self) -> bool:
        return bool(get_redis().set(LOCK, self.token, nx=True, px=self.ttl_ms))

    def renew(self, ms: Optional[int] = None) -> bool:
        return bool(service.script(RENEW_LUA)(keys=[LOCK], args=[self.token, int(self.ttl_ms if ms is None else ms)]))

    def release(self, keep_ms: int = 0) -> bool:
        """Give the lock up; ``keep_ms`` > 0 keeps it that much longer (one tick per period across copies)."""
        return bool(service.script(RENEW_LUA)(keys=[LOCK], args=[self.token, int(keep_ms)]))


@asynccontextmanager
async def holding(period_s: float) -> AsyncIterator[bool]:
    """Hold the tick lock for the body (yields False when another copy holds it): renewed every third of
    its life while the body runs, then kept until the period is over, or freed at once if the body overran."""
    lock = TickLock(int(period_s * 900))
    if not await asyncio.to_thread(lock.acquire):
        yield False
        return
    started = time.monotonic()

    async def keep() -> None:
        while True:
            await asyncio.sleep(lock.ttl_ms / 3000)
            if not await asyncio.to_thread(lock.renew):
                log.warning("handoff tick lock lost while ticking")
                return

    keeper = asyncio.create_task(keep())
    try:
        yield True
    finally:
        keeper.cancel()
        elapsed_ms = int((time.monotonic() - started) * 1000)
        await asyncio.to_thread(lock.release, lock.ttl_ms - elapsed_ms)


async def run_once(period_s: Optional[float] = None) -> bool:
    """Tick once if this copy wins the lock; True when it ticked."""
    async with holding(period_s if period_s is not None else get_settings().handoff_tick_s) as won:
        if won:
            await tick()
    return won


async def run_forever() -> None:
    s = get_settings()
    while True:
        try:
            await run_once()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - one bad tick (Redis restarting) must not stop the clock
            log.exception("handoff tick failed")
        await asyncio.sleep(s.handoff_tick_s)


def warm() -> None:
    """Create the tables handoff writes to before the first requests race to create them."""
    from channels import ratings
    from channels.audit import trail
    from channels.handoff import records, workorders
    from guide.analytics import counts, days_ago

    trail(limit=1)
    counts(days_ago(1))
    records.engine()
    workorders.listing(limit=1)
    ratings.rectification_list(limit=1)


def start() -> None:
    """Start the loop in the running event loop (gateway startup); once per process."""
    global _task
    try:
        warm()
    except Exception:  # noqa: BLE001 - no database yet: each table is still created on first use
        log.exception("handoff tables not prepared at start")
    if _task is None or _task.done():
        _task = asyncio.get_running_loop().create_task(run_forever())


async def stop() -> None:
    global _task
    if _task is not None:
        _task.cancel()
        try:
            await _task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001
            pass
        _task = None
