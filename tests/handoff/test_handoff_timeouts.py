"""The handoff clock on the real Redis: queue timeout, idle reminders and closes on both sides, lapsed offers, the tick lock."""

from __future__ import annotations

import time
import uuid

from handoff_helpers import actions, online, outbox

from channels import transcript
from channels.handoff import queues, service, timeouts
from channels.handoff.states import State


def sid() -> str:
    return "web-" + uuid.uuid4().hex[:12]


async def test_queue_timeout_offers_a_message_and_the_message_becomes_a_work_order(hand) -> None:  # type: ignore[no-untyped-def]
    online("a1", status="away")
    late, fresh = sid(), sid()
    await service.request(late, "web", "asked")
    await service.request(fresh, "web", "asked")
    done = await timeouts.tick(now=time.time() + 601)  # the clock moved past the 600 s queue timeout for both
    assert done["timed_out"] == 2
    assert queues.conv(late)["state"] == State.MESSAGE and queues.queue_length("guide") == 0
    assert "您已等待较长时间" in outbox(late)[-1]["text"]
    assert "handoff.time_out" in actions(late) and "handoff.offer_message" in actions(late)
    text = "等了很久没人接，想问新生儿落户要不要父母都到场，电话13700001111"
    entry = transcript.append(late, "resident", text)
    shown = await service.resident_message(late, "web", text, entry)
    assert shown[0]["status"]["workorder"].startswith("GD")
    from channels.handoff import workorders

    assert workorders.get(shown[0]["status"]["workorder"])["source"] == "queue_timeout"


async def test_before_the_timeout_nothing_happens(hand) -> None:  # type: ignore[no-untyped-def]
    online("a1", status="away")
    sender = sid()
    await service.request(sender, "web", "asked")
    assert (await timeouts.tick(now=time.time() + 599))["timed_out"] == 0
    assert queues.conv(sender)["state"] == State.QUEUED


async def test_a_silent_resident_is_reminded_then_the_conversation_ends(hand) -> None:  # type: ignore[no-untyped-def]
    online("a1")
    sender = sid()
    await service.request(sender, "web", "asked")
    await service.reply(sender, "a1", "专员a1", "请问您要办理哪一项？")
    now = time.time()
    assert (await timeouts.tick(now=now + 60))["resident_reminded"] == 0
    assert (await timeouts.tick(now=now + 121))["resident_reminded"] == 1
    assert "请问您还在吗" in outbox(sender)[-1]["text"]
    assert (await timeouts.tick(now=now + 130))["resident_reminded"] == 0  # reminded once only
    done = await timeouts.tick(now=now + 121 + 121)
    assert done["resident_idle_closed"] == 1 and queues.conv(sender)["state"] == State.ABANDONED
    assert outbox(sender)[-1]["kind"] == "rating" and "长时间未回复" in outbox(sender)[-2]["text"]
    assert queues.agent("a1")["load"] == 0


async def test_a_resident_answering_resets_the_reminder(hand) -> None:  # type: ignore[no-untyped-def]
    online("a1")
    sender = sid()
    await service.request(sender, "web", "asked")
    await service.reply(sender, "a1", "专员a1", "请问孩子出生在本市吗？")
    now = time.time()
    await timeouts.tick(now=now + 121)
    entry = transcript.append(sender, "resident", "是的，在本市医院")
    await service.resident_message(sender, "web", "是的，在本市医院", entry)
    assert queues.conv(sender)["waiting_on"] == "agent" and queues.conv(sender)["reminded"] == "0"
    assert (await timeouts.tick(now=now + 250))["resident_idle_closed"] == 0
    assert queues.conv(sender)["state"] == State.WITH_AGENT


async def test_a_silent_agent_is_reminded_then_the_resident_is_queued_again(hand) -> None:  # type: ignore[no-untyped-def]
    online("a1")
    sender = sid()
    await service.request(sender, "web", "asked")
    first_queued = queues.conv(sender)["queued_at"]
    online("a1", status="away")  # the agent walked away without answering
    now = time.time()
    done = await timeouts.tick(now=now + 121)
    assert done["agent_reminded"] == 1
    event = hand.xrevrange(queues.FEED, count=5)
    assert any(f["type"] == "agent_idle" and f["agent"] == "a1" for _, f in event)
    done = await timeouts.tick(now=now + 121 + 121)
    assert done["requeued"] == 1 and queues.conv(sender)["state"] == State.QUEUED
    assert queues.conv(sender)["queued_at"] == first_queued  # keeps the original place
    assert outbox(sender)[-1]["text"].startswith("专员暂时未能回复，已为您优先重新排队")


async def test_an_offered_message_lapses_back_to_the_bot(hand) -> None:  # type: ignore[no-untyped-def]
    queues.set_desk_mode("closed")
    sender = sid()
    await service.request(sender, "web", "asked")
    assert (await timeouts.tick(now=time.time() + 601))["message_lapsed"] == 1
    assert queues.conv(sender)["state"] == State.BOT and not service.person_serving(sender)


async def test_the_tick_assigns_waiting_residents_when_an_agent_frees_up(hand) -> None:  # type: ignore[no-untyped-def]
    online("a1", status="away")
    sender = sid()
    await service.request(sender, "web", "asked")
    queues.set_presence("a1", "online", "专员a1", "guide", [])
    assert (await timeouts.tick())["assigned"] == 1 and queues.conv(sender)["agent"] == "a1"


def test_only_one_gateway_copy_runs_a_tick_and_a_long_tick_keeps_its_lock(hand) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    mine, other = timeouts.TickLock(300), timeouts.TickLock(300)
    assert mine.acquire() and not other.acquire()
    time.sleep(0.2)
    assert mine.renew()  # a tick still running extends its lock …
    time.sleep(0.2)
    assert not other.acquire() and hand.get(timeouts.LOCK) == mine.token  # … past the first 300 ms
    assert not other.release() and not other.renew()  # a copy that does not hold the lock can neither free nor extend it
    assert hand.get(timeouts.LOCK) == mine.token
    assert mine.release(0) and hand.get(timeouts.LOCK) is None
    assert other.acquire() and not mine.release(0)  # a holder whose lock lapsed never frees the next holder's lock
    assert hand.get(timeouts.LOCK) == other.token
    other.release(0)

    async def a_long_tick() -> list:
        won = []
        async with timeouts.holding(0.2) as got:  # a lock of 180 ms, renewed while the tick runs …
            won.append(got)
            await asyncio.sleep(0.6)  # … through a tick three times longer
            won.append(await timeouts.run_once(period_s=0.2))  # another copy cannot tick meanwhile
            won.append(hand.get(timeouts.LOCK) is not None)
        return won

    assert asyncio.run(a_long_tick()) == [True, False, True]
    assert hand.get(timeouts.LOCK) is None  # a tick longer than its period frees the lock when done


async def test_a_reply_that_arrives_while_the_tick_looks_is_not_overwritten(hand) -> None:  # type: ignore[no-untyped-def]
    online("a1")
    sender = sid()
    await service.request(sender, "web", "asked")
    await service.reply(sender, "a1", "专员a1", "请问孩子出生在本市吗？")
    seen = queues.conv(sender)  # what the tick read …
    entry = transcript.append(sender, "resident", "是的")
    await service.resident_message(sender, "web", "是的", entry)  # … before the resident's answer was stored
    assert not timeouts.mark_reminded(sender, "resident", seen["waiting_since"], time.time() + 121)
    conv = queues.conv(sender)
    assert conv["reminded"] == "0" and conv["waiting_on"] == "agent"
    assert not await service.abandon_idle(sender, since=seen["waiting_since"])  # the idle close re-checks too
    assert queues.conv(sender)["state"] == State.WITH_AGENT
    waiting = queues.conv(sender)["waiting_since"]
    assert timeouts.mark_reminded(sender, "agent", waiting, time.time() + 121)  # the agent is silent now: reminded
    await service.reply(sender, "a1", "专员a1", "好的，请稍等")  # the agent answers just as the tick requeues
    assert not await service.requeue(sender, since=waiting)
    conv = queues.conv(sender)
    assert conv["state"] == State.WITH_AGENT and conv["agent"] == "a1" and conv["waiting_on"] == "resident"


async def test_a_refused_rectification_outcome_is_retried_with_backoff_then_given_up(hand, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from channels import delivery, ratings

    monkeypatch.setenv("RATING_NOTIFY_ATTEMPTS", "3")
    from guide.settings import get_settings

    get_settings.cache_clear()
    fixed, lost = sid(), sid()
    rects = {}
    for s in (fixed, lost):
        delivery.remember_channel(s, "sms")  # a channel this gateway cannot deliver to right now
        rect = ratings.submit(s, "sms", 1, comment="回答不清楚")["rectification"]
        done = ratings.work(rect, "supervisor", "已整改", outcome="已对坐席开展业务培训")
        report = await service.tell(s, [ratings.outcome_message(done)])  # what the workbench does when it finishes one
        assert not report["ok"] and ratings.mark_notified(rect, False, report["error"]) == "failed"
        rects[s] = rect
    now = time.time()
    assert (await timeouts.tick(now=now + 30))["ratings_notified"] == 0  # the first retry waits a minute
    assert [h["status"] for h in ratings.rectification(rects[fixed])["history"]].count("通知失败") == 1
    assert (await timeouts.tick(now=now + 62))["ratings_notified"] == 0  # still undeliverable: a second failure
    delivery.remember_channel(fixed, "web")  # the resident is reachable again
    assert (await timeouts.tick(now=now + 93))["ratings_notified"] == 0  # the backoff doubled: not yet
    assert (await timeouts.tick(now=now + 62 + 121))["ratings_notified"] == 1
    assert ratings.rectification(rects[fixed])["notified"] == "yes"
    assert "已对坐席开展业务培训" in outbox(fixed)[-1]["text"]
    assert ratings.rectification(rects[lost])["notified"] == "gaveup"  # three attempts, then the supervisor sees it
    assert (await timeouts.tick(now=now + 3600))["ratings_notified"] == 0
    assert [h["status"] for h in ratings.rectification(rects[lost])["history"]].count("通知失败") == 3
