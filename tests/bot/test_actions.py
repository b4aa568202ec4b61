"""Actions run directly on rasa_sdk trackers (how rasa_sdk tests its own actions)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.actions import ActionAnswerElement, ActionChooseOption, ActionRoute


def tracker(text: str, intent: str, ranking: List[Dict[str, Any]], confidence: float, slots: Optional[Dict[str, Any]] = None,
            entities: Optional[List[Dict[str, Any]]] = None) -> Tracker:
    parse = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "intent_ranking": [{"name": intent, "confidence": 0.9}],
             "entities": entities or [], "service_ranking": ranking, "service_confidence": confidence}
    return Tracker("t", slots or {}, parse, [], False, None, None, "action_listen")


def slot_events(events: List[Dict[str, Any]]) -> Dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


CLOSE = [
    {"id": "T138", "name": "退休一件事", "score": 0.41, "phrase": ""},
    {"id": "T144", "name": "灵活就业人员退休一件事", "score": 0.38, "phrase": ""},
    {"id": "T139", "name": "特殊工种提前退休一件事", "score": 0.33, "phrase": ""},
]


def test_close_candidates_get_three_numbered_choices_then_a_number_picks_one() -> None:
    d = CollectingDispatcher()
    events = ActionRoute().run(d, tracker("我想办退休", "ask_service", CLOSE, 0.45), {})
    slots = slot_events(events)
    assert slots["candidates"] == ["T138", "T144", "T139"] and slots["pending"]["type"] == "service_choice"
    assert "1. 退休一件事" in d.messages[-1]["text"] and [b["payload"] for b in d.messages[-1]["buttons"]] == ["1", "2", "3"]

    d2 = CollectingDispatcher()
    events = ActionChooseOption().run(d2, tracker("第二个", "choose_option", [], 0.0, slots), {})
    assert slot_events(events)["service"] == "T144"
    assert "灵活就业人员退休一件事" in d2.messages[0]["text"]


def test_element_question_names_a_new_service_and_switches() -> None:
    d = CollectingDispatcher()
    ent = [{"entity": "service", "value": "T034", "start": 0, "end": 4}]
    events = ActionAnswerElement().run(d, tracker("公司注销要什么材料", "ask_materials", [], 0.2, {"service": "T001"}, ent), {})
    assert slot_events(events)["service"] == "T034"
    assert "企业注销一件事" in d.messages[0]["text"] and "所需材料" in d.messages[0]["text"]


def test_follow_up_uses_the_current_service() -> None:
    d = CollectingDispatcher()
    ActionAnswerElement().run(d, tracker("多久能办好", "ask_time", [], 0.1, {"service": "T034"}), {})
    assert "【企业注销一件事】" in d.messages[0]["text"] and "工作日" in d.messages[0]["text"]
