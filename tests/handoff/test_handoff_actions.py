"""The Rasa actions' handoff, rating and work-order parts, run on rasa_sdk trackers against the real stores."""

from __future__ import annotations

from typing import Any, Dict, Optional

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.actions import ActionAskStatus, ActionHandoff, ActionRate
from channels import ratings
from channels.handoff import workorders


def tracker(text: str, intent: str, slots: Optional[Dict[str, Any]] = None, sender: str = "web-act") -> Tracker:
    parse = {"text": text, "intent": {"name": intent, "confidence": 0.95}, "intent_ranking": [], "entities": []}
    return Tracker(sender, slots or {}, parse, [], False, None, None, "action_listen")


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
    ActionRate().run(d, tracker("我要评价", "rate", sender="web-rate2"), {})
    assert any((m.get("custom") or {}).get("rating") for m in d.messages)  # the widget / numbered options


def test_status_by_number_and_by_the_residents_own_orders(hand) -> None:  # type: ignore[no-untyped-def]
    order = workorders.create(sender="web-wo", channel="web", source="off_hours", content="咨询新生儿落户需要哪些材料")
    d = CollectingDispatcher()
    ActionAskStatus().run(d, tracker(f"查询工单{order['number']}", "ask_status"), {})
    assert f"工单 {order['number']}" in d.messages[0]["text"] and "当前环节：受理" in d.messages[0]["text"]
    d = CollectingDispatcher()
    ActionAskStatus().run(d, tracker("我的工单办到哪了", "ask_status", sender="web-wo"), {})
    assert order["number"] in d.messages[0]["text"]
