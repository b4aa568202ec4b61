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


def test_only_one_gateway_copy_runs_a_tick(hand) -> None:  # type: ignore[no-untyped-def]
    got = [bool(hand.set(timeouts.LOCK, "1", nx=True, px=1800)) for _ in range(3)]
    assert got == [True, False, False]
