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
    await service.positions_settled()  # the others hear their new places in the background
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
    online(other, status="away")  # two new residents go to the first agent while the other is away
    for _ in range(2):
        await service.request(sid(), "web", "asked")
    online(other)
    assert queues.agent(first)["load"] == 2 and queues.agent(other)["load"] == 0
    # the other agent is idle and less loaded; the returning resident still goes back to the one who served them
    await service.request(sender, "web", "asked")
    assert queues.conv(sender)["agent"] == first and queues.conv(sender)["episode"] == "2"
    assert queues.agent(first)["load"] == 3 and queues.agent(other)["load"] == 0


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
    assert actions(sender) == ["handoff.offer_message", "handoff.leave_message"]
    from channels.handoff import records

    kept = records.recent(sender=sender)
    assert [(r["outcome"], r["category"], r["workorder"]) for r in kept] == [(State.CLOSED, "留言转工单", number)]


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


async def test_transfer_escalate_hand_back_and_close_are_audited(hand, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RASA_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    from guide.settings import get_settings

    get_settings.cache_clear()
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
    # Rasa is unreachable: the agent is told the bot did not get the service
    assert out.error.startswith("智能助手未能接收事项信息：")
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
    await service.positions_settled()  # the one behind hears the new place in the background
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


# ------------------------------------------------------------------ races and guards found in review


async def test_a_message_written_as_the_agent_closes_goes_to_the_bot_not_nowhere(hand) -> None:  # type: ignore[no-untyped-def]
    online("a1")
    sender = sid()
    await service.request(sender, "web", "asked")
    assert service.person_serving(sender)  # what the hub saw …
    await service.close(sender, "a1", "已解答")  # … then the agent closed before the message was handled
    entry = transcript.append(sender, "resident", "还有一个问题：要带户口本吗")
    feed_before = hand.xlen(queues.FEED)
    assert await service.resident_message(sender, "web", "还有一个问题：要带户口本吗", entry) is None  # the hub asks the bot
    assert hand.xlen(queues.FEED) == feed_before  # no "message" event for an agent who is gone
    assert queues.conv(sender)["state"] == State.CLOSED


async def test_cancel_queue_racing_a_claim_reaches_the_agent(hand) -> None:  # type: ignore[no-untyped-def]
    online("a1", status="away")
    sender = sid()
    await service.request(sender, "web", "asked")
    seen = queues.conv(sender)  # the resident's "取消排队" is handled with what was read while queued …
    assert (await service.claim(sender, "a1", "专员a1")).ok  # … and an agent claims in between
    assert service._cancel_queue(sender, seen) is None  # not abandoned under the agent's hands: look again
    assert queues.conv(sender)["state"] == State.WITH_AGENT and queues.agent("a1")["load"] == 1
    entry = transcript.append(sender, "resident", "取消排队")
    assert await service.resident_message(sender, "web", "取消排队", entry) == []  # the agent now serves: they see it
    assert queues.conv(sender)["state"] == State.WITH_AGENT and queues.conv(sender)["waiting_on"] == "agent"


def test_two_quick_messages_after_an_offer_make_one_work_order(hand) -> None:  # type: ignore[no-untyped-def]
    from channels.handoff import left_messages, workorders

    senders = [sid() for _ in range(4)]
    for sender in senders:
        asyncio.run(service.request(sender, "web", "asked"))  # nobody signed in: a message is offered
        assert queues.conv(sender)["state"] == State.MESSAGE
    results: dict = {s: [] for s in senders}
    barrier = threading.Barrier(len(senders) * 2)

    def write(sender: str, text: str) -> None:
        entry = transcript.append(sender, "resident", text)
        barrier.wait()
        results[sender].append(service._resident_message(sender, "web", text, entry, False))

    threads = [threading.Thread(target=write, args=(s, t)) for s in senders
               for t in ("孩子的出生证明丢了，想问怎么补办", "我的电话是13812345678，请工作时间联系")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for sender in senders:
        orders = workorders.listing(sender=sender)
        assert len(orders) == 1, orders  # never two orders for one offer
        made = [o for o in results[sender] if o is not None]
        assert len(made) == 1 and made[0].resident[0]["status"]["workorder"] == orders[0]["number"]
        assert results[sender].count(None) == 1  # the other message is answered by the bot
        conv = queues.conv(sender)
        assert conv["state"] == State.CLOSED and conv["workorder"] == orders[0]["number"] and conv["order_pending"] == ""
    assert hand.zcard(left_messages.ORDERS_PENDING) == 0


async def test_a_work_order_the_database_refused_is_opened_by_the_clock(hand, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from channels.handoff import timeouts, workorders
    from guide.settings import get_settings

    sender = sid()
    await service.request(sender, "web", "asked")
    working = get_settings().database_url
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/missing/folder/down.db")  # the database is unreachable
    get_settings.cache_clear()
    text = "想咨询新生儿医保参保，电话13900001111"
    entry = transcript.append(sender, "resident", text)
    shown = await service.resident_message(sender, "web", text, entry)
    assert "您的留言已收到并保存" in shown[0]["text"] and queues.conv(sender)["order_pending"] == "1"
    monkeypatch.setenv("DATABASE_URL", working)  # the database is back
    get_settings.cache_clear()
    assert (await timeouts.tick(now=time.time() + 5))["orders_recovered"] == 0  # a first attempt may still be running
    assert (await timeouts.tick(now=time.time() + 31))["orders_recovered"] == 1
    (order,) = workorders.listing(sender=sender)
    assert order["source"] == "no_agent" and queues.conv(sender)["workorder"] == order["number"]
    assert f"已为您生成12345工单，编号 {order['number']}" in outbox(sender)[-1]["text"]
    assert (await timeouts.tick(now=time.time() + 62))["orders_recovered"] == 0  # once only
    assert len(workorders.listing(sender=sender)) == 1


def test_concurrent_transfers_never_exceed_the_colleagues_capacity(hand, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HANDOFF_AGENT_CAPACITY", "2")
    from guide.settings import get_settings

    get_settings.cache_clear()
    helpers = [f"h{i}" for i in range(6)]
    convs = []
    for h in helpers:  # six agents, each serving one conversation
        online(h)
        s = sid()
        asyncio.run(service.request(s, "web", "asked"))
        online(h, status="away")
        convs.append(s)
    online("target", status="away")  # signed in, not taking queued ones: room for 2 transfers
    owners = {s: queues.conv(s)["agent"] for s in convs}
    assert sorted(owners.values()) == helpers
    outcomes: list = []
    barrier = threading.Barrier(len(convs))

    def give(sender: str) -> None:
        barrier.wait()
        try:
            asyncio.run(service.transfer(sender, owners[sender], "target", note="请协助"))
            outcomes.append("ok")
        except ValueError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=give, args=(s,)) for s in convs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 2 and outcomes.count("专员target 接待已满") == 4, outcomes
    assert queues.agent("target")["load"] == 2
    moved = [s for s in convs if queues.conv(s)["agent"] == "target"]
    assert len(moved) == 2 and all(queues.conv(s)["agent"] == owners[s] for s in convs if s not in moved)


async def test_a_claim_checks_tier_and_skill_at_the_moment_it_happens(hand) -> None:  # type: ignore[no-untyped-def]
    online("a1")
    online("g2", status="away")
    online("e1", tier="expert", status="away")
    online("biz", skills=["设立变更"], status="away")
    sender = sid()
    await service.request(sender, "web", "asked", service_id="T001")  # 生育收养
    await service.escalate(sender, "a1", "expert", note="需要深度咨询")  # escalated after g2 saw it in the guide queue
    lost = await service.claim(sender, "g2", "专员g2", tier="guide", skills=[])
    assert not lost.ok and lost.state == "tier" and lost.error == "该会话已转入其他层级的队列，您不能接入"
    ok, why = assignment.claim(sender, "g2", "专员g2")  # without the caller's tier: the agent's presence record says guide
    assert (ok, why) == (False, "tier")
    assert queues.conv(sender)["state"] == State.QUEUED and queues.agent("g2")["load"] == 0
    assert (await service.claim(sender, "e1", "专员e1", tier="expert", skills=[])).ok

    other = sid()
    online("a1", status="away")
    await service.request(other, "web", "asked", service_id="T001")
    refused = await service.claim(other, "biz", "专员biz", tier="guide", skills=["设立变更"])
    assert not refused.ok and refused.state == "skill"
    assert (await service.claim(other, "sup", "值班长", supervisor=True)).ok  # a supervisor may take any


async def test_time_out_and_its_message_offer_are_one_step(hand) -> None:  # type: ignore[no-untyped-def]
    online("a1", status="away")
    sender = sid()
    await service.request(sender, "web", "asked")
    with pytest.raises(ValueError):  # a chain whose second step is not allowed writes nothing at all
        service.transition(sender, ("time_out", "claim"), "test")
    assert queues.conv(sender)["state"] == State.QUEUED and queues.position(sender, "guide") == 1
    assert await service.time_out(sender)
    conv = queues.conv(sender)
    assert conv["state"] == State.MESSAGE and conv["offer"] == "timeout" and queues.queue_length("guide") == 0
    events = [f for _, f in hand.xrevrange(queues.FEED, count=2)][::-1]
    assert [(e["type"], e["prev_state"], e["state"]) for e in events] == [
        ("time_out", State.QUEUED, State.TIMED_OUT), ("offer_message", State.TIMED_OUT, State.MESSAGE)]
    assert actions(sender)[-2:] == ["handoff.time_out", "handoff.offer_message"]
    assert not await service.time_out(sender)  # twice: nothing


async def test_lapsed_and_cancelled_message_offers_are_archived(hand) -> None:  # type: ignore[no-untyped-def]
    from channels.handoff import records

    lapsed, cancelled = sid(), sid()
    for s in (lapsed, cancelled):
        transcript.append(s, "resident", "转人工")
        await service.request(s, "web", "asked")  # nobody signed in: a message is offered
    assert await service.expire_message(lapsed, before=time.time() + 1)
    entry = transcript.append(cancelled, "resident", "取消")
    await service.resident_message(cancelled, "web", "取消", entry)
    (row,) = records.recent(sender=lapsed)
    assert (row["outcome"], row["category"], row["episode"]) == ("lapsed", "未留言，回到智能助手", 1)
    assert any(t["text"] == "转人工" for t in row["transcript"])
    (row,) = records.recent(sender=cancelled)
    assert (row["outcome"], row["category"]) == ("cancelled", "居民放弃留言")
    await service.request(lapsed, "web", "asked")  # a new offer …
    assert not await service.expire_message(lapsed, before=time.time() - 60)  # … is not lapsed by a tick that saw the old one
    assert queues.conv(lapsed)["state"] == State.MESSAGE


async def test_a_supervisor_replies_only_after_taking_over_with_a_reason(hand) -> None:  # type: ignore[no-untyped-def]
    online("a1")
    sender = sid()
    await service.request(sender, "web", "asked")
    with pytest.raises(PermissionError, match="请先接管"):
        await service.reply(sender, "sup", "张华", "我来补充一下", supervisor=True)
    with pytest.raises(ValueError, match="须填写原因"):
        await service.supervise(sender, "sup", "张华", "")
    await service.supervise(sender, "sup", "张华", "居民投诉升级，值班长处理")
    conv = queues.conv(sender)
    assert conv["agent"] == "sup" and queues.agent("a1")["load"] == 0
    assert "值班长张华已加入对话" in outbox(sender)[-1]["text"]
    await service.reply(sender, "sup", "张华", "您好，我是值班长，您的问题由我跟进。", supervisor=True)
    with pytest.raises(PermissionError):
        await service.reply(sender, "a1", "专员a1", "我还在吗")
    from channels.audit import trail

    rows = [r for r in reversed(trail(sender))]
    supervised = next(r for r in rows if r["action"] == "handoff.supervise")
    assert supervised["actor"] == "sup" and "原因：居民投诉升级，值班长处理" in supervised["detail"]
    replies = [r for r in rows if r["action"] == "handoff.reply"]
    assert [r["actor"] for r in replies] == ["sup"] and "回复 18 字" in replies[0]["detail"]


async def test_after_a_hand_back_misses_do_not_bounce_the_resident_back_to_the_queue(hand, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RASA_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("HANDOFF_HANDBACK_GUARD_TURNS", "3")
    from guide.settings import get_settings

    get_settings.cache_clear()
    online("a1")
    sender = sid()
    await service.request(sender, "web", "asked", service_id="T001")
    await service.hand_back(sender, "a1", "T001")
    for n in range(2):  # two misses right after the hand back
        transcript.append(sender, "resident", f"第{n + 1}句没听懂的话")
    shown = await service.request(sender, "web", "fallback")
    assert queues.conv(sender)["state"] == State.BOT and shown[0]["buttons"][0]["payload"] == "/ask_human"
    transcript.append(sender, "resident", "第三句")
    assert (await service.request(sender, "web", "fallback")) and queues.conv(sender)["state"] == State.WITH_AGENT
    await service.hand_back(sender, "a1", "T001")
    await service.request(sender, "web", "asked")  # "转人工" always works
    assert queues.conv(sender)["state"] == State.WITH_AGENT and queues.conv(sender)["episode"] == "3"


async def test_wechat_residents_hear_queue_places_sparingly_to_keep_quota_for_the_agent(hand) -> None:  # type: ignore[no-untyped-def]
    online("a1", status="away")
    wx = ["wx-" + uuid.uuid4().hex[:16] for _ in range(6)]
    for s in wx:
        await service.request(s, "wechat", "asked")
        hand.set(f"guide:wechat:quota:{s}", 5)  # what channels.wechat.quota keeps after the resident wrote
    hand.delete(f"guide:wechat:quota:{wx[4]}")  # this one has no 客服 message left at all
    hand.set(f"guide:wechat:quota:{wx[5]}", 2)  # and this one only two: kept for the agent
    service.transition(wx[0], "abandon", "test")  # the first leaves: everyone moves up one place
    now = time.time()
    told = dict(service.position_updates("guide", now=now))
    # only the move into the first three places is worth a 客服 message now; moves within the top three
    # or further back wait, and nobody with two or fewer messages left is told at all
    assert list(told) == [wx[3]] and told[wx[3]]["status"]["position"] == 3
    told = dict(service.position_updates("guide", now=now + 601))  # after the long interval the others hear
    assert sorted(told) == sorted([wx[1], wx[2]]) and told[wx[1]]["status"]["position"] == 1
    web = sid()
    await service.request(web, "web", "asked")
    service.transition(wx[1], "abandon", "test")
    told = dict(service.position_updates("guide", now=now + 602))
    assert told[web]["status"]["position"] == 6 - 1 and wx[2] not in told  # web residents keep the usual rhythm
