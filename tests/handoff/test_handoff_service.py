"""The handoff service on the real Redis: requests, queues, atomic claims, assignment, agent actions."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
import uuid

import pytest
from handoff_helpers import actions, online, outbox

from channels import transcript
from channels.handoff import assignment, queues, service
from channels.handoff.states import State


def sid() -> str:
    return "web-" + uuid.uuid4().hex[:12]


async def test_asking_twice_queues_once_and_tells_position_and_wait(hand) -> None:  # type: ignore[no-untyped-def]
    online("a1", status="away")  # signed in, not taking new conversations: the queue is kept
    first, second = sid(), sid()
    shown = await service.request(first, "web", "asked")
    assert "已为您转接人工客服，您前面还有 0 位，预计等待约" in shown[0]["text"] and shown[0]["status"]["state"] == State.QUEUED
    shown = await service.request(second, "web", "asked")
    assert "您前面还有 1 位" in shown[0]["text"] and shown[0]["status"]["position"] == 2
    again = await service.request(second, "web", "asked")  # a second "转人工" while queued
    assert "正在排队" in again[0]["text"] and "前面还有 1 位" in again[0]["text"]
    assert queues.queue_length("guide") == 2
    assert queues.conv(second)["episode"] == "1"
    assert actions(second).count("handoff.request") == 1
    assert service.person_serving(second) and not service.person_serving(sid())


def test_concurrent_requests_for_one_conversation_make_one_handoff(hand) -> None:  # type: ignore[no-untyped-def]
    online("a1", status="away")
    sender = sid()
    results = []

    def ask() -> None:
        results.append(asyncio.run(service.request(sender, "web", "asked")))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    assert sum("已为您转接" in r[0]["text"] for r in results) == 1
    assert queues.conv(sender)["episode"] == "1" and actions(sender).count("handoff.request") == 1


def test_twenty_agents_racing_for_one_conversation_one_wins(hand) -> None:  # type: ignore[no-untyped-def]
    online("a0", status="away")
    sender = sid()
    asyncio.run(service.request(sender, "web", "asked"))
    wins = []
    barrier = threading.Barrier(20)

    def grab(i: int) -> None:
        barrier.wait()
        ok, _ = assignment.claim(sender, f"a{i}", f"专员{i}")
        if ok:
            wins.append(i)

    threads = [threading.Thread(target=grab, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    owner = f"a{wins[0]}"
    assert queues.conv(sender)["agent"] == owner and queues.queue_length("guide") == 0
    served_by = [i for i in range(20) if hand.sismember(queues.agent_convs_key(f"a{i}"), sender)]
    assert served_by == [wins[0]]


def _claim_in_process(sender: str, username: str, url: str, out) -> None:  # type: ignore[no-untyped-def]
    import os

    os.environ["REDIS_URL"] = url
    from guide import redis as guide_redis
    from guide.settings import get_settings

    get_settings.cache_clear()
    guide_redis.reset_client()
    ok, _ = assignment.claim(sender, username, username)
    out.put((username, ok))


def test_agents_in_separate_processes_never_claim_the_same_conversation(hand) -> None:  # type: ignore[no-untyped-def]
    from handoff_helpers import REDIS_TEST_URL

    online("a0", status="away")
    senders = [sid() for _ in range(10)]
    for s in senders:
        asyncio.run(service.request(s, "web", "asked"))
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_claim_in_process, args=(s, f"p{i}", REDIS_TEST_URL, out)) for s in senders for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(20)
    results = [out.get(timeout=5) for _ in procs]
    assert sum(ok for _, ok in results) == len(senders)  # each conversation claimed exactly once
    owners = [queues.conv(s)["agent"] for s in senders]
    assert all(owners) and all(hand.sismember(queues.agent_convs_key(o), s) for s, o in zip(senders, owners))


async def test_dispatch_respects_capacity_oldest_first_and_tells_the_rest_their_new_place(hand, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HANDOFF_AGENT_CAPACITY", "2")
    from guide.settings import get_settings

    get_settings.cache_clear()
    online("a1", status="away")
    senders = [sid() for _ in range(4)]
    for s in senders:
        await service.request(s, "web", "asked")
        await asyncio.sleep(0.01)
    online("a1")  # comes online: the two oldest are assigned
    assert await service.dispatch() == 2
    assert [queues.conv(s)["state"] for s in senders] == [State.WITH_AGENT, State.WITH_AGENT, State.QUEUED, State.QUEUED]
    assert "人工导办专员专员a1已接入" in outbox(senders[0])[-1]["text"]
    assert outbox(senders[3])[-1]["text"].startswith("排队进度更新：您前面还有 1 位")
    assert outbox(senders[2])[-1]["status"]["position"] == 1


async def test_returning_resident_goes_to_their_last_agent_first(hand) -> None:  # type: ignore[no-untyped-def]
    online("a1")
    online("a2")
    sender = sid()
    await service.request(sender, "web", "asked")
    first = queues.conv(sender)["agent"]
    await service.close(sender, first, "已解答", "第一次咨询")
    other = "a1" if first == "a2" else "a2"
    # the other agent is less loaded now; the returning resident still goes back to the first one
    for _ in range(2):
        s = sid()
        await service.request(s, "web", "asked")
    assert queues.agent(first)["load"] >= 1
    await service.request(sender, "web", "asked")
    assert queues.conv(sender)["agent"] == first and queues.conv(sender)["episode"] == "2"
    assert other


async def test_skill_groups_route_by_service_domain(hand) -> None:  # type: ignore[no-untyped-def]
    online("birth", skills=["生育收养"])
    online("biz", skills=["设立变更"])
    sender = sid()
    await service.request(sender, "web", "asked", service_id="T001")  # 新生儿出生一件事, 生育收养
    assert queues.conv(sender)["group"] == "生育收养" and queues.conv(sender)["agent"] == "birth"


async def test_no_agent_signed_in_offers_a_message_that_becomes_a_work_order(hand) -> None:  # type: ignore[no-untyped-def]
    sender = sid()
    transcript.append(sender, "resident", "转人工")
    shown = await service.request(sender, "web", "asked", service_id="T001")
    assert "没有在线的人工专员" in shown[0]["text"] and shown[0]["status"]["state"] == State.MESSAGE
    assert service.person_serving(sender)
    entry = transcript.append(sender, "resident", "好")
    again = await service.resident_message(sender, "web", "好", entry)  # too short to be a message: asked again
    assert "直接输入留言" in again[0]["text"]
    text = "孩子出生证明丢了，落户怎么办？联系电话13812345678"
    entry = transcript.append(sender, "resident", text)
    done = await service.resident_message(sender, "web", text, entry)
    number = done[0]["status"]["workorder"]
    assert number.startswith("GD") and len(number) == 16 and number in done[0]["text"]
    assert not service.person_serving(sender) and queues.conv(sender)["state"] == State.CLOSED
    from channels.handoff import workorders

    order = workorders.get(number)
    assert order["stage"] == "受理" and order["phone"] == "13812345678" and order["source"] == "no_agent"
    assert workorders.listing()[0]["phone"] == "138****5678"
    assert actions(sender)[-2:] == ["handoff.offer_message", "handoff.leave_message"] or "handoff.leave_message" in actions(sender)


async def test_off_hours_offer_and_cancel_back_to_the_bot(hand) -> None:  # type: ignore[no-untyped-def]
    queues.set_desk_mode("closed")
    online("a1")
    sender = sid()
    shown = await service.request(sender, "web", "asked")
    assert "现在是非工作时间（人工服务时间：" in shown[0]["text"]
    assert queues.queue_length("guide") == 0
    entry = transcript.append(sender, "resident", "取消")
    back = await service.resident_message(sender, "web", "取消", entry)
    assert "已取消留言" in back[0]["text"] and queues.conv(sender)["state"] == State.BOT
    assert not service.person_serving(sender)


def test_working_hours_follow_the_configuration(hand, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from guide.settings import get_settings

    monkeypatch.setenv("HANDOFF_WORKING_HOURS", "09:00-12:00,13:00-17:30")
    get_settings.cache_clear()
    tz = ZoneInfo("Asia/Shanghai")
    assert queues.within_hours(datetime(2026, 11, 23, 10, 0, tzinfo=tz))  # Monday morning
    assert not queues.within_hours(datetime(2026, 11, 23, 12, 30, tzinfo=tz))  # lunch
    assert not queues.within_hours(datetime(2026, 11, 22, 10, 0, tzinfo=tz))  # Sunday
    assert queues.hours_text() == "工作日 09:00—12:00、13:00—17:30"
    queues.set_desk_mode("")
    assert queues.desk_open(datetime(2026, 11, 23, 10, 0, tzinfo=tz))


async def test_messages_while_served_reach_the_agent_not_the_bot_and_replies_reach_the_resident(hand) -> None:  # type: ignore[no-untyped-def]
    online("a1")
    sender = sid()
    await service.request(sender, "web", "asked")
    assert queues.conv(sender)["agent"] == "a1"
    entry = transcript.append(sender, "resident", "我的身份证号是110101199003071234")
    feed_before = hand.xlen(queues.FEED)
    assert await service.resident_message(sender, "web", "我的身份证号是110101199003071234", entry) == []
    event = hand.xrevrange(queues.FEED, count=1)[0][1]
    assert hand.xlen(queues.FEED) == feed_before + 1 and event["type"] == "message" and event["entry"] == entry
    assert event["agent"] == "a1" and "110101199003071234" not in str(event)
    result = await service.reply(sender, "a1", "专员a1", "您好，请问孩子是哪天出生的？")
    assert result["delivery"]["ok"]
    shown = outbox(sender)[-1]
    assert shown["kind"] == "agent" and shown["text"] == "您好，请问孩子是哪天出生的？"
    with pytest.raises(PermissionError):
        await service.reply(sender, "a2", "专员a2", "不是我的会话")


async def test_transfer_escalate_hand_back_and_close_are_audited(hand) -> None:  # type: ignore[no-untyped-def]
    online("a1")
    online("a2", status="away")
    online("e1", tier="expert", status="away")
    sender = sid()
    await service.request(sender, "web", "asked", service_id="T001")
    await service.transfer(sender, "a1", "a2", note="涉及户籍迁移")
    assert queues.conv(sender)["agent"] == "a2" and queues.agent("a1")["load"] == 0
    assert "已为您转接给人工导办专员专员a2" in outbox(sender)[-1]["text"]
    await service.escalate(sender, "a2", "expert", note="需要深度咨询")
    assert queues.conv(sender)["state"] == State.QUEUED and queues.position(sender, "expert") == 1
    assert "深度咨询专员" in outbox(sender)[-1]["text"]
    assert (await service.claim(sender, "e1", "专员e1")).ok
    out = await service.hand_back(sender, "e1", "T001")
    assert queues.conv(sender)["state"] == State.BOT and not service.person_serving(sender)
    assert "【新生儿出生一件事】" in outbox(sender)[-1]["text"]
    assert out.error  # no Rasa in this test: the agent is told the bot did not get the service
    await service.request(sender, "web", "asked")
    await service.claim(sender, "a1", "专员a1")
    await service.close(sender, "a1", "已解答", "已告知落户材料")
    assert outbox(sender)[-1]["kind"] == "rating"
    trail = actions(sender)
    for name in ("request", "transfer", "escalate", "claim", "hand_back", "close"):
        assert f"handoff.{name}" in trail
    from channels.handoff import records

    kept = records.recent(sender=sender)
    assert [r["outcome"] for r in kept] == [State.CLOSED, State.BOT] and kept[0]["category"] == "已解答"
    assert any(t["role"] == "system" for t in kept[0]["transcript"])


async def test_a_closed_conversation_never_requeues_by_itself(hand) -> None:  # type: ignore[no-untyped-def]
    online("a1")
    sender = sid()
    await service.request(sender, "web", "complaint")
    await service.close(sender, "a1", "已解答")
    again = await service.request(sender, "web", "fallback")  # the bot missed twice right after the close
    assert queues.conv(sender)["state"] == State.CLOSED and again[0]["buttons"][0]["payload"] == "/ask_human"
    await service.request(sender, "web", "asked")  # an explicit request does re-open
    assert queues.conv(sender)["state"] == State.WITH_AGENT and queues.conv(sender)["episode"] == "2"


async def test_resident_cancels_the_queue(hand) -> None:  # type: ignore[no-untyped-def]
    online("a1", status="away")
    first, second = sid(), sid()
    await service.request(first, "web", "asked")
    await service.request(second, "web", "asked")
    entry = transcript.append(first, "resident", "取消排队")
    shown = await service.resident_message(first, "web", "取消排队", entry)
    assert "已为您取消排队" in shown[0]["text"] and queues.conv(first)["state"] == State.ABANDONED
    assert outbox(second)[-1]["status"]["position"] == 1


async def test_supervisor_takes_over_a_live_bot_conversation(hand) -> None:  # type: ignore[no-untyped-def]
    sender = sid()
    transcript.append(sender, "resident", "宝宝出生要办什么")
    assert not service.person_serving(sender)
    assert sender in hand.zrange(queues.LIVE, 0, -1)
    await service.take_over(sender, "supervisor", "张华")
    assert service.person_serving(sender) and queues.conv(sender)["agent"] == "supervisor"
    assert "张华已加入对话" in outbox(sender)[-1]["text"]


async def test_state_survives_a_new_connection(hand) -> None:  # type: ignore[no-untyped-def]
    from handoff_helpers import reset_clients

    online("a1", status="away")
    sender = sid()
    await service.request(sender, "web", "asked")
    reset_clients()  # a restarted process: a brand-new client sees the same queue
    assert service.person_serving(sender) and queues.position(sender, "guide") == 1
    assert time.time() - float(queues.conv(sender)["queued_at"]) < 60
