"""The bot's replies produced by the bot's own code, for the hit test and the preview.

The hit test runs the very action the action server would run for a parsed question
(``rasa_sdk``'s executor over the ``actions`` package, the action chosen by the rule in
``bot/data/rules.yml`` for the intent), on a fresh conversation.  The preview calls the
same helpers those actions call (``present_service``, ``say``) on the unsaved guide, and
shapes the result with ``channels.wechat.messages`` exactly as the WeChat channel does.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List

from ruamel.yaml import YAML

RULES = Path(__file__).resolve().parents[2] / "bot" / "data" / "rules.yml"
HIT_TEST_SENDER = "editor-hit-test"  # analytics rows of this sender are not residents' (insights leaves them out)
# actions that only answer; the others store ratings, uploads or pre-review results and are not run by a hit test
ANSWERING = {"action_route", "action_answer_element", "action_choose_option", "action_affirm_deny", "action_greet",
             "action_handoff", "action_complain", "action_start_prereview", "action_ask_status"}


@lru_cache(maxsize=1)
def action_of_intent() -> Dict[str, str]:
    """intent → the action its rule runs (every intent has exactly one rule)."""
    doc = YAML(typ="safe").load(RULES.read_text(encoding="utf-8")) or {}
    out: Dict[str, str] = {}
    for rule in doc.get("rules") or []:
        steps = rule.get("steps") or []
        intent = next((s["intent"] for s in steps if isinstance(s, dict) and "intent" in s), None)
        action = next((s["action"] for s in steps if isinstance(s, dict) and "action" in s), None)
        if intent and action and len(steps) == 2:
            out.setdefault(str(intent), str(action))
    return out


@lru_cache(maxsize=1)
def _executor() -> Any:
    from rasa_sdk.executor import ActionExecutor

    executor = ActionExecutor()
    executor.register_package("actions")
    return executor


def hub_messages(responses: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Action responses as the hub hands them to a channel: text, buttons and a link (control payloads dropped)."""
    out: List[Dict[str, Any]] = []
    for r in responses:
        item: Dict[str, Any] = {"kind": "bot"}
        for k in ("text", "buttons", "image"):
            if r.get(k):
                item[k] = r[k]
        custom = r.get("custom") if isinstance(r.get("custom"), dict) else {}
        link = custom.get("link") if custom else None
        if isinstance(link, dict):
            item["link"] = link
            item.setdefault("text", str(link.get("title") or ""))
        if item.get("text") or item.get("buttons"):
            out.append(item)
    return out


async def run_action(parsed: Dict[str, Any]) -> Dict[str, Any]:
    """Run the action the bot would run for ``parsed`` in a fresh conversation.

    Returns ``{"action", "responses"}``; ``responses`` is None when the intent is answered by a response
    template (thanks, small talk) or by an action with side effects (rating, uploads), which is not run."""
    intent = str((parsed.get("intent") or {}).get("name") or "nlu_fallback")
    action = action_of_intent().get(intent) or action_of_intent().get("nlu_fallback", "action_route")
    if action not in ANSWERING:
        return {"action": action, "responses": None}
    tracker = {"sender_id": HIT_TEST_SENDER, "slots": {}, "latest_message": parsed, "events": [], "paused": False,
               "followup_action": None, "active_loop": {}, "latest_action_name": "action_listen"}
    result = await _executor().run({"next_action": action, "sender_id": HIT_TEST_SENDER, "tracker": tracker, "domain": {},
                                    "version": ""})
    return {"action": action, "responses": list((result or {}).get("responses") or [])}


# ------------------------------------------------------------------ preview of an unsaved guide


def _collect(fill: Any) -> List[str]:
    """WeChat parts of what ``fill(dispatcher)`` says, shaped as the WeChat channel sends them."""
    from rasa_sdk.executor import CollectingDispatcher

    from channels.wechat.messages import chunks

    dispatcher = CollectingDispatcher()
    fill(dispatcher)
    parts, _ = chunks(hub_messages(dispatcher.messages))
    return parts


def wechat_preview(svc: Any, kb: Any) -> List[Dict[str, Any]]:
    """Each reply a resident can get about this guide on WeChat: the overview, every element, every FAQ and the
    material list of every scenario — each as the exact text parts (≤ 2048 bytes, numbered options) WeChat shows."""
    from actions.actions import present_service, say
    from actions.answers import ELEMENT_OF_INTENT, element_answer, faq_answer

    blocks = [{"title": "居民问到这个事项", "messages": _collect(lambda d: present_service(svc, kb, d, None, None))}]
    for intent, label in ELEMENT_OF_INTENT.items():
        blocks.append({"title": f"追问：{label}",
                       "messages": _collect(lambda d, i=intent: say(d, element_answer(svc, kb, i)))})
    for sc in svc.scenarios:
        blocks.append({"title": f"选择情形“{sc.name}”后的材料清单",
                       "messages": _collect(lambda d, s=sc.id: say(d, element_answer(svc, kb, "ask_materials", s)))})
    for faq in svc.faqs:
        blocks.append({"title": f"常见问题：{faq.q}",
                       "messages": _collect(lambda d, f=faq: say(d, faq_answer(svc, kb, f.q, f.a)))})
    return blocks
