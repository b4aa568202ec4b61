"""Rasa custom actions. Thin: they read slots and the parse, call routing and the answer renderer.

Slots: ``service`` (current service id), ``scenario`` (chosen 情形 id), ``candidates``
(services offered in a clarifying question), ``pending`` (what a bare "2" or "好的"
answers: a service choice, a scenario choice, an offer), ``fallback_count``.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import prereview_flow
from actions.answers import (
    ELEMENT_OF_INTENT,
    clarify_text,
    element_answer,
    faq_answer,
    out_of_scope_text,
    overview,
    parse_choice,
    prereview_offer,
    split_message,
)
from bot.routing import CLARIFY, ELEMENT_INTENTS, OUT_OF_SCOPE, ROUTE, decide, nlu_intent
from channels import ui_text
from knowledge.base import KnowledgeBase, current
from knowledge.faq import best_faq
from knowledge.schema import Service

log = logging.getLogger(__name__)


def _listen_for_published_guides() -> None:
    """Reload this action server's knowledge base whenever an editor publishes (Redis pub/sub)."""
    try:
        from knowledge.events import start_listening

        start_listening()
    except Exception as exc:  # no Redis: answers still work, refreshed on restart
        log.warning("knowledge change listener not started: %s", exc)


_listen_for_published_guides()
SWITCH_CONFIDENCE = 0.8
ELEMENT_CLARIFY_SCORE = 0.35
FAQ_OVER_ELEMENT = 0.6  # an FAQ this close beats the generic element answer
FAQ_ON_ROUTE = 0.55  # … beats the overview when a service is first found
FAQ_FOLLOW_UP = 0.5  # … answers a follow-up the classifier did not place


def say(dispatcher: CollectingDispatcher, text: str, buttons: List[Dict[str, str]] | None = None) -> None:
    """Send text in phone-sized parts; buttons go with the last part."""
    parts = split_message(text)
    for i, part in enumerate(parts):
        if buttons and i == len(parts) - 1:
            dispatcher.utter_message(text=part, buttons=buttons)
        else:
            dispatcher.utter_message(text=part)


def numbered_buttons(labels: List[str]) -> List[Dict[str, str]]:
    return [{"title": f"{n}. {label}", "payload": str(n)} for n, label in enumerate(labels, 1)]


def mentioned_service(tracker: Tracker) -> str | None:
    """A service named verbatim (name or alias) in the latest message."""
    for ent in tracker.latest_message.get("entities") or []:
        if ent.get("entity") == "service" and ent.get("value"):
            return str(ent["value"])
    return None


def answer_faq(svc: Service, kb: KnowledgeBase, dispatcher: CollectingDispatcher, text: str, threshold: float) -> bool:
    """Answer from the service's FAQ when the question is close to one; True if answered."""
    hit = best_faq(svc, text, threshold) if text else None
    if hit is None:
        return False
    say(dispatcher, faq_answer(svc, kb, hit[0].q, hit[0].a))
    return True


def present_service(
    svc: Service, kb: KnowledgeBase, dispatcher: CollectingDispatcher, element: str | None, previous: str | None, text: str = ""
) -> List[EventType]:
    """Answer about a newly chosen service: a matching FAQ, the asked element, or an overview (+ scenario question)."""
    events: List[EventType] = [SlotSet("service", svc.id), SlotSet("candidates", None), SlotSet("fallback_count", 0)]
    if previous != svc.id:
        events.append(SlotSet("scenario", None))
    if answer_faq(svc, kb, dispatcher, text, FAQ_OVER_ELEMENT if element else FAQ_ON_ROUTE):
        events.append(SlotSet("pending", None))
    elif element in ELEMENT_INTENTS:
        say(dispatcher, element_answer(svc, kb, element), prereview_offer(svc.id) if element == "ask_materials" else None)
        pending = {"type": "scenario"} if element == "ask_materials" and svc.scenarios else None
        events.append(SlotSet("pending", pending))
    else:
        buttons = numbered_buttons([s.name for s in svc.scenarios]) if svc.scenarios else None
        say(dispatcher, overview(svc, kb), buttons)
        events.append(SlotSet("pending", {"type": "scenario"} if svc.scenarios else None))
    return events


def offer_choices(decision_services: List[Dict[str, Any]], dispatcher: CollectingDispatcher, element: str | None,
                  then: str | None = None) -> List[EventType]:
    options = decision_services[:3]
    say(dispatcher, clarify_text(options), numbered_buttons([o["name"] for o in options]))
    return [
        SlotSet("candidates", [o["id"] for o in options]),
        SlotSet("pending", {"type": "service_choice", "element": element, **({"then": then} if then else {})}),
    ]


def note(tracker: Tracker, kind: str, service_id: str, score: float) -> None:
    """One routing fact for the editors' dashboard and knowledge-gap inbox (queued, never blocks the answer)."""
    from guide.analytics import record

    record(kind, sender=tracker.sender_id, service_id=service_id, text=tracker.latest_message.get("text") or "",
           score=round(float(score), 4))


def is_bare_choice(text: str) -> bool:
    return len(text.strip()) <= 6 and parse_choice(text, 9) is not None


def request_person(dispatcher: CollectingDispatcher, tracker: Tracker, reason: str, text: str, note: str = "") -> None:
    """Ask the gateway's handoff service for a person: a short text plus the control payload the hub acts on."""
    say(dispatcher, text)
    dispatcher.utter_message(json_message={"handoff": {"reason": reason, "service": tracker.get_slot("service") or "",
                                                       "note": note}})


def complaint_words(text: str) -> List[str]:
    from guide.settings import get_settings

    words = [w.strip() for w in get_settings().handoff_complaint_words.split(",") if w.strip()]
    return [w for w in words if w in (text or "")]


def not_understood(tracker: Tracker, dispatcher: CollectingDispatcher, kb: KnowledgeBase) -> List[EventType]:
    from guide.settings import get_settings

    text = tracker.latest_message.get("text") or ""
    if complaint_words(text):
        request_person(dispatcher, tracker, "complaint", "很抱歉给您带来不好的体验，正在为您转接人工专员记录您的诉求。", note=text[:200])
        return [SlotSet("fallback_count", 0), SlotSet("pending", None)]
    count = int(tracker.get_slot("fallback_count") or 0) + 1
    if count >= get_settings().handoff_after_fallbacks:
        say(dispatcher, out_of_scope_text(kb, offer_human=False))
        request_person(dispatcher, tracker, "fallback",
                       f"我暂时没能理解您的问题，已为您申请转人工服务；如急需办理，也可以拨打{kb.profile.hotline}。")
        return [SlotSet("fallback_count", 0), SlotSet("pending", None)]
    say(dispatcher, out_of_scope_text(kb, offer_human=False))
    return [SlotSet("fallback_count", count)]


class ActionGreet(Action):
    def name(self) -> str:
        return "action_greet"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[EventType]:
        dispatcher.utter_message(response="utter_greet")
        return []


class ActionRoute(Action):
    """Find the service for the resident's question, ask which one, or say what we can do."""

    def name(self) -> str:
        return "action_route"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[EventType]:
        kb = current()
        parse = tracker.latest_message
        pending = tracker.get_slot("pending") or {}
        if pending.get("type") in ("service_choice", "scenario") and is_bare_choice(parse.get("text") or ""):
            return ActionChooseOption().run(dispatcher, tracker, domain)  # "2" answers the open question, whatever NLU thought
        decision = decide(parse)
        element = pending.get("element") if pending.get("type") == "element" else None
        element = element or (decision.intent if decision.intent in ELEMENT_INTENTS else None)
        text = parse.get("text") or ""
        if decision.kind == ROUTE and decision.service_id and kb.service(decision.service_id):
            svc = kb.service(decision.service_id)
            assert svc is not None
            note(tracker, "routed", svc.id, decision.confidence)
            if prereview_flow.waiting_for_service(tracker):  # pre-review asked which service: carry on with it
                return [SlotSet("candidates", None), SlotSet("fallback_count", 0)] + prereview_flow.resume(svc, dispatcher, tracker)
            return present_service(svc, kb, dispatcher, element, tracker.get_slot("service"), text)
        here = kb.service(tracker.get_slot("service") or "")
        if here is not None and answer_faq(here, kb, dispatcher, text, FAQ_FOLLOW_UP):
            note(tracker, "routed", here.id, decision.confidence)
            return [SlotSet("fallback_count", 0)]
        if decision.kind == CLARIFY:
            options = [s for s in decision.services if kb.service(s["id"])]
            note(tracker, "clarify", options[0]["id"] if options else "", decision.confidence)
            return offer_choices(options, dispatcher, element,
                                 "prereview" if prereview_flow.waiting_for_service(tracker) else None)
        note(tracker, "out_of_scope" if decision.kind == OUT_OF_SCOPE else "fallback", "", decision.confidence)
        return not_understood(tracker, dispatcher, kb)


class ActionAnswerElement(Action):
    """Materials, time, fee, place … for the current service (or a service named in the question)."""

    def name(self) -> str:
        return "action_answer_element"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[EventType]:
        kb = current()
        parse = tracker.latest_message
        intent, _ = nlu_intent(parse)
        current_id = tracker.get_slot("service")
        named = mentioned_service(tracker)
        decision = decide(parse)
        target = named
        if target is None and decision.kind == ROUTE and decision.confidence >= SWITCH_CONFIDENCE:
            target = decision.service_id
        if target and target != current_id and kb.service(target):
            svc = kb.service(target)
            assert svc is not None
            return present_service(svc, kb, dispatcher, intent, current_id, parse.get("text") or "")
        svc = kb.service(current_id) if current_id else None
        if svc is not None and answer_faq(svc, kb, dispatcher, parse.get("text") or "", FAQ_OVER_ELEMENT):
            return []
        if svc is None:
            # "要带什么材料" alone names no service: only offer candidates the question itself points to
            if decision.kind == CLARIFY and decision.services[0]["score"] >= ELEMENT_CLARIFY_SCORE:
                return offer_choices(decision.services, dispatcher, intent)
            label = ELEMENT_OF_INTENT.get(intent, "情况")
            say(dispatcher, f"您想了解哪件事的{label}？告诉我事项名称或您的情况，比如“新生儿落户”“企业注销”。")
            return [SlotSet("pending", {"type": "element", "element": intent})]
        say(dispatcher, element_answer(svc, kb, intent, tracker.get_slot("scenario")),
            prereview_offer(svc.id) if intent == "ask_materials" else None)
        if intent == "ask_materials" and svc.scenarios and not tracker.get_slot("scenario"):
            return [SlotSet("pending", {"type": "scenario"})]
        return []


class ActionChooseOption(Action):
    """A bare number or "第二个": picks an offered service or scenario."""

    def name(self) -> str:
        return "action_choose_option"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[EventType]:
        kb = current()
        pending = tracker.get_slot("pending") or {}
        text = tracker.latest_message.get("text") or ""
        if pending.get("type") == "service_choice":
            candidates = tracker.get_slot("candidates") or []
            idx = parse_choice(text, len(candidates))
            if idx is None:
                say(dispatcher, f"请回复 1 到 {len(candidates)} 之间的序号。")
                return []
            svc = kb.service(candidates[idx])
            if svc is None:
                return not_understood(tracker, dispatcher, kb)
            if pending.get("then") == "prereview":
                return [SlotSet("candidates", None)] + prereview_flow.resume(svc, dispatcher, tracker)
            return present_service(svc, kb, dispatcher, pending.get("element"), tracker.get_slot("service"))
        svc = kb.service(tracker.get_slot("service") or "")
        if pending.get("type") == "scenario" and svc is not None and svc.scenarios:
            idx = parse_choice(text, len(svc.scenarios))
            if idx is None:
                say(dispatcher, f"请回复 1 到 {len(svc.scenarios)} 之间的序号选择情形。")
                return []
            scenario = svc.scenarios[idx]
            then = pending.get("then")
            if then == "prereview":
                from actions.prereview_flow import needed_text

                state = tracker.get_slot("prereview") or {}
                say(dispatcher, needed_text(svc, scenario.id))
                return [SlotSet("scenario", scenario.id), SlotSet("pending", None),
                        SlotSet("prereview", {**state, "service": svc.id, "scenario": scenario.id,
                                              "files": state.get("files", []) if state.get("service") == svc.id else []})]
            if then == "prereview_finish":
                state = tracker.get_slot("prereview") or {}
                say(dispatcher, f"已选择：{scenario.name}。请回复“上传完了”开始预审。")
                return [SlotSet("scenario", scenario.id), SlotSet("pending", None),
                        SlotSet("prereview", {**state, "scenario": scenario.id})]
            say(dispatcher, element_answer(svc, kb, "ask_materials", scenario.id), prereview_offer(svc.id))
            return [SlotSet("scenario", scenario.id), SlotSet("pending", None)]
        say(dispatcher, "请先告诉我您想办什么事，比如“宝宝出生要办什么”。")
        return []


class ActionAffirmDeny(Action):
    def name(self) -> str:
        return "action_affirm_deny"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[EventType]:
        intent, _ = nlu_intent(tracker.latest_message)
        pending = tracker.get_slot("pending") or {}
        if pending.get("type") == "offer_human":
            if intent == "affirm":
                return ActionHandoff().run(dispatcher, tracker, domain)
            say(dispatcher, "好的。您可以换个说法描述要办的事，我再帮您找找。")
            return [SlotSet("pending", None)]
        if intent == "affirm":
            if tracker.get_slot("service"):
                say(dispatcher, "好的。" + "您想了解材料、时限、费用、地点还是能否网上办？")
            else:
                say(dispatcher, "好的，请告诉我您想办的事。")
        else:
            say(dispatcher, "好的，还有其他需要办理的事吗？")
        return [SlotSet("pending", None)]


class ActionHandoff(Action):
    """Asks for a person: the gateway's handoff service queues the conversation (or offers a 12345 message)."""

    def name(self) -> str:
        return "action_handoff"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[EventType]:
        request_person(dispatcher, tracker, "asked", ui_text.HANDOFF_ASKED)
        return [SlotSet("pending", None), SlotSet("fallback_count", 0)]


class ActionComplain(Action):
    """A complaint: say where complaints go and call a person to record it."""

    def name(self) -> str:
        return "action_complain"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[EventType]:
        kb = current()
        channels = "\n".join(f"{n}. {c}" for n, c in enumerate(kb.profile.complaint_channels, 1))
        say(dispatcher, f"很抱歉给您带来不好的体验。您也可以通过以下方式投诉，我们会按规定时限核实处理并答复：\n{channels}")
        request_person(dispatcher, tracker, "complaint", "正在为您转接人工专员记录您的诉求。",
                       note=(tracker.latest_message.get("text") or "")[:200])
        return [SlotSet("pending", None), SlotSet("fallback_count", 0)]


class ActionRate(Action):
    """好差评 in words ("非常满意" … "非常不满意"): stored through channels.ratings (bad ones open a rectification)."""

    def name(self) -> str:
        return "action_rate"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[EventType]:
        from channels import delivery, ratings

        text = tracker.latest_message.get("text") or ""
        level = ratings.level_of(text)
        if level is None:
            say(dispatcher, "请为本次服务评价（非常满意、满意、基本满意、不满意、非常不满意）：")
            dispatcher.utter_message(json_message={"rating": {"context": "bot"}})
            return [SlotSet("pending", {"type": "rating"})]
        try:
            result = ratings.submit(tracker.sender_id, delivery.channel_of(tracker.sender_id), level, comment=text,
                                    context="bot", service_id=tracker.get_slot("service") or "")
            say(dispatcher, result["text"])
        except Exception:  # noqa: BLE001 - the database is down: thank the resident, never fail the turn
            log.exception("rating not stored")
            say(dispatcher, f"已收到您的评价：{ratings.LEVELS[level]}。感谢您的反馈！")
        return [SlotSet("pending", None)]


class ActionAskStatus(Action):
    """A 12345 work order's progress, by the number in the message or the resident's own latest orders.

    Numbers are sequential: only the resident who submitted the order sees it by number, anyone else
    must add the last four digits of the phone number on it (``workorders.status_for``)."""

    def name(self) -> str:
        return "action_ask_status"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[EventType]:
        from channels.handoff import workorders

        text = tracker.latest_message.get("text") or ""
        number = workorders.find_number(text)
        try:
            if number:
                say(dispatcher, workorders.status_for(number, tracker.sender_id, text))
                return []
            mine = workorders.listing(limit=3, sender=tracker.sender_id)
        except Exception:  # noqa: BLE001 - the database is down: say where else to ask
            log.exception("work order lookup failed")
            mine = []
        if mine:
            say(dispatcher, "\n".join(workorders.status_text(o["number"]) for o in mine))
        else:
            kb = current()
            say(dispatcher, f"请告诉我工单编号（如 GD20261123000123），我帮您查询办理进度；也可以拨打{kb.profile.hotline}"
                            f"或在{kb.profile.app_name}“我的诉求”中查看。")
        return []
