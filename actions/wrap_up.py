"""End of a bot conversation: say goodbye and, once per conversation, ask for a rating (好差评).

The rating request is a control payload; each channel shows it its own way (the web
chat a five-level widget, WeChat numbered options) and stores it through channels.ratings.
"""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

RATING_PROMPT = "您对本次咨询满意吗？请为我们的服务评价，您的意见会帮助我们改进。"


class ActionWrapUp(Action):
    def name(self) -> str:
        return "action_wrap_up"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[EventType]:
        dispatcher.utter_message(response="utter_goodbye")
        helped = bool(tracker.get_slot("service"))
        if not helped or tracker.get_slot("rating_asked"):
            return []
        dispatcher.utter_message(text=RATING_PROMPT, json_message={"rating": {"context": "bot", "service": tracker.get_slot("service")}})
        return [SlotSet("rating_asked", True), SlotSet("pending", {"type": "rating"})]
