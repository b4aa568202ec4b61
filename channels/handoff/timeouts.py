"""The handoff clock: queue timeouts, idle reminders on both sides, message offers that lapse,
and the assignment pass — one tick every ``handoff_tick_s`` seconds.

Every gateway copy runs the loop, but a tick only runs where it wins a short Redis lock,
so N copies do the work once; and every step is a guarded transition, so even two ticks
at once could not time a conversation out twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Dict, Optional

from channels.handoff import queues, service
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


async def tick(now: Optional[float] = None) -> Dict[str, int]:
    """One pass; returns how many conversations each rule touched."""
    s = get_settings()
    now = now or time.time()
    r = get_redis()
    done = {"timed_out": 0, "message_lapsed": 0, "resident_reminded": 0, "resident_idle_closed": 0, "agent_reminded": 0,
            "requeued": 0, "assigned": 0}
    # offers first: a resident timed out in this very tick must get the whole wait to write
    for sender in r.zrangebyscore(queues.MESSAGE_WAIT, "-inf", now - s.handoff_message_wait_s):
        if await service.expire_message(sender):
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
        waiting_on, since = conv.get("waiting_on"), _f(conv.get("waiting_since"))
        reminded, reminded_at = conv.get("reminded") == "1", _f(conv.get("reminded_at"))
        if waiting_on == "resident":
            if not reminded and now - since >= s.handoff_resident_idle_reminder_s:
                r.hset(queues.conv_key(sender), mapping={"reminded": "1", "reminded_at": f"{now:.3f}"})
                minutes = max(1, round(s.handoff_resident_idle_close_s / 60))
                await service.tell(sender, [{"kind": "system", "text": f"请问您还在吗？如 {minutes} 分钟内没有回复，本次人工服务将自动结束。",
                                             "status": service.status_of(sender)}])
                done["resident_reminded"] += 1
            elif reminded and now - reminded_at >= s.handoff_resident_idle_close_s:
                if await service.abandon_idle(sender):
                    done["resident_idle_closed"] += 1
        elif waiting_on == "agent":
            if not reminded and now - since >= s.handoff_agent_idle_reminder_s:
                pipe = r.pipeline()
                pipe.hset(queues.conv_key(sender), mapping={"reminded": "1", "reminded_at": f"{now:.3f}"})
                queues.publish({"type": "agent_idle", "sender": sender, "agent": conv.get("agent", ""),
                                "tier": conv.get("tier", ""), "group": conv.get("group", ""), "state": State.WITH_AGENT,
                                "waited": f"{now - since:.0f}"}, pipe)
                pipe.execute()
                done["agent_reminded"] += 1
            elif reminded and s.handoff_agent_idle_requeue_s and now - reminded_at >= s.handoff_agent_idle_requeue_s:
                if await service.requeue(sender):
                    done["requeued"] += 1
    done["assigned"] = await service.dispatch()
    await service.announce_positions(queues.TIERS)  # places held back by the throttle are told now
    return done


async def run_forever() -> None:
    s = get_settings()
    while True:
        try:
            if get_redis().set(LOCK, "1", nx=True, px=max(100, int(s.handoff_tick_s * 900))):
                await tick()
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
