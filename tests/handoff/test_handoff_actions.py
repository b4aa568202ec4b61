"""The Rasa actions' handoff, rating and work-order parts, run on rasa_sdk trackers against the real stores;
the handoff triggers are fed through the hub's real control-payload handling into the real handoff service."""

from __future__ import annotations

import uuid
from typing import Any, Dict, List, Optional

from handoff_helpers import actions, online, outbox
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.actions import ActionAskStatus, ActionHandoff, ActionRate, ActionRoute
from channels import hub, ratings
from channels.handoff import queues, workorders
from channels.handoff.states import State


def tracker(text: str, intent: str, slots: Optional[Dict[str, Any]] = None, sender: str = "web-act") -> Tracker:
    parse = {"text": text, "intent": {"name": intent, "confidence": 0.95}, "intent_ranking": [], "entities": []}
    return Tracker(sender, slots or {}, parse, [], False, None, None, "action_listen")


def as_bot_reply(d: CollectingDispatcher) -> List[Dict[str, Any]]:
    """The dispatcher's messages as the hub receives them from Rasa's REST channel (``hub.bot_turn``)."""
    out = []
    for m in d.messages:
        item: Dict[str, Any] = {"kind": "bot"}
        if m.get("text"):
            item["text"] = m["text"]
        if m.get("custom"):
            item["custom"] = m["custom"]
        out.append(item)
    return out


def sid() -> str:
    return "web-" + uuid.uuid4().hex[:12]


def test_handoff_action_asks_the_gateway_for_a_person_with_the_service(hand) -> None:  # type: ignore[no-untyped-def]
    d = CollectingDispatcher()
    events = ActionHandoff().run(d, tracker("转人工", "ask_human", {"service": "T001"}), {})
    control = next(m["custom"] for m in d.messages if m.get("custom"))
    assert control == {"handoff": {"reason": "asked", "service": "T001", "note": ""}}
    assert "转接人工" in d.messages[0]["text"]
    assert {e["name"]: e["value"] for e in events}["fallback_count"] == 0


def test_rating_in_words_is_stored_and_a_bad_one_opens_a_rectification(hand) -> None:  # type: ignore[no-untyped-def]
    d = CollectingDispatcher()
    ActionRate().run(d, tracker("非常不满意，说了半天没说清楚", "rate", {"service": "T034"}, sender="web-rate1"), {})
    assert "整改单号" in d.messages[0]["text"]
    item = ratings.rectification_list()[0]
    assert item["sender"] == "web-rate1" and item["service_id"] == "T034" and item["context"] == "bot"
    d = CollectingDispatcher()
    ActionRate().run(d, tracker("非常不满意", "rate", sender="web-rate1"), {})  # said again: one rating per episode
    assert "您已评价过本次智能助手" in d.messages[0]["text"] and len(ratings.rectification_list()) == 1
    d = CollectingDispatcher()
    ActionRate().run(d, tracker("我要评价", "rate", sender="web-rate2"), {})
    assert any((m.get("custom") or {}).get("rating") for m in d.messages)  # the widget / numbered options


def _ask(text: str, sender: str) -> str:
    d = CollectingDispatcher()
    ActionAskStatus().run(d, tracker(text, "ask_status", sender=sender), {})
    return "\n".join(m.get("text") or "" for m in d.messages)


def test_status_by_number_only_for_the_resident_who_submitted_it(hand) -> None:  # type: ignore[no-untyped-def]
    owner, other = sid(), sid()
    order = workorders.create(sender=owner, channel="web", source="off_hours", content="孩子出生证明丢了怎么落户，电话13812345678",
                              phone="13812345678")
    n = order["number"]
    workorders.advance(n, "agent1", department="区公安分局")
    workorders.advance(n, "agent1", note="已转派出所核实")
    workorders.advance(n, "agent1", reply="请携带住院记录到出生医院补办出生医学证明")
    mine = _ask(f"查询工单{n}", owner)
    assert f"工单 {n}" in mine and "当前环节：答复" in mine and "承办单位：区公安分局" in mine and "补办出生医学证明" in mine

    refused = _ask(f"查询工单{n}", other)  # the next sequential number is easy to guess: not enough
    assert "只能由提交人查询" in refused and "同一账号" in refused and "12345" in refused and "尾号" in refused
    for secret in ("区公安分局", "出生医学证明", "当前环节", "出生证明丢了"):
        assert secret not in refused
    wrong = _ask(f"查询工单 {n} 尾号1234", other)
    assert "只能由提交人查询" in wrong and "当前环节" not in wrong
    proved = _ask(f"查询工单 {n} 尾号5678", other)  # the phone number's last four digits prove it
    assert f"工单 {n} 当前环节：答复" in proved
    for secret in ("区公安分局", "出生医学证明", "出生证明丢了"):
        assert secret not in proved
    assert "workorder.status_by_phone" in [row["action"] for row in __import__("channels.audit", fromlist=["trail"]).trail(n)]

    guesser = sid()
    for tail in ("0000", "1111", "2222", "3333"):  # with the wrong guess above: five on this order
        assert "只能由提交人查询" in _ask(f"查询工单 {n} 尾号{tail}", guesser)
    assert "验证次数过多" in _ask(f"查询工单 {n} 尾号5678", guesser)  # the four digits cannot be tried one by one
    assert "验证次数过多" in _ask(f"查询工单 {n} 尾号5678", sid())  # … nor from a fresh account against the same order

    assert n in _ask("我的工单办到哪了", owner)  # no number: the resident's own orders
    assert n not in _ask("我的工单办到哪了", other)
    assert "没有查到编号为 GD20000101000001" in _ask("查询工单GD20000101000001", other)


async def test_complaint_words_call_a_person_through_the_hub(hand) -> None:  # type: ignore[no-untyped-def]
    sender = sid()
    text = "你们窗口工作人员态度差，推诿了我三次"
    d = CollectingDispatcher()
    ActionRoute().run(d, tracker(text, "out_of_scope", sender=sender), {})  # nothing matched: the complaint words decide
    online("a1")  # after the action: its first run in a process loads the knowledge base, longer than a presence lasts
    control = next(m["custom"]["handoff"] for m in d.messages if (m.get("custom") or {}).get("handoff"))
    assert control["reason"] == "complaint" and control["note"] == text
    shown = await hub._after_bot(hub.Inbound(channel="web", sender=sender, text=text), as_bot_reply(d))
    conv = queues.conv(sender)
    assert conv["state"] == State.WITH_AGENT and conv["reason"] == "complaint" and conv["note"] == text and conv["agent"] == "a1"
    assert any("专员a1已接入" in m.get("text", "") for m in shown)
    assert "handoff.request" in actions(sender)


async def test_pre_review_that_cannot_read_the_photos_twice_calls_a_person(hand, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VAR_DIR", str(tmp_path))  # uploads and notices of this test stay in its own folder
    from guide.settings import get_settings

    get_settings.cache_clear()
    from actions.prereview_flow import ActionFinishUpload
    from prereview import uploads
    from prereview.corpus import blur, id_front, jpg, photograph, world

    online("a1", status="away")  # signed in, busy: the resident waits in the queue for a person
    sender = sid()
    photo = jpg(blur(photograph(id_front(world(7).applicant))))
    stored = uploads.store(photo, "身份证人像面.jpg")
    state = {"service": "T068", "scenario": "own_house", "unreadable_before": True,
             "files": [{"upload_id": stored.id, "filename": stored.name, "size": stored.size}]}
    d = CollectingDispatcher()
    ActionFinishUpload().run(d, tracker("上传完了", "finish_upload", {"prereview": state, "service": "T068"}, sender=sender), {})
    control = next(m["custom"]["handoff"] for m in d.messages if (m.get("custom") or {}).get("handoff"))
    assert control["reason"] == "prereview" and control["service"] == "T068" and "无法辨认" in control["note"]
    shown = await hub._after_bot(hub.Inbound(channel="web", sender=sender, text="上传完了"), as_bot_reply(d))
    conv = queues.conv(sender)
    assert conv["state"] == State.QUEUED and conv["reason"] == "prereview" and conv["service"] == "T068"
    assert "无法辨认" in conv["note"] and queues.position(sender, "guide") == 1
    assert any("已为您转接人工客服" in m.get("text", "") for m in shown)
    assert any("照片仍然无法辨认" in m.get("text", "") for m in shown)
    assert outbox(sender) == []  # everything came back in the turn's answer, nothing was pushed twice
