"""The routing decision from one NLU parse: go to a service, ask which one, or say it is out of scope.

Shared by the bot's actions, ``guide route`` and the editor's hit test, so they never
disagree.  Thresholds come from settings and are tuned by ``make eval``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Dict, FrozenSet, List

from guide.settings import get_settings

ROUTE, CLARIFY, OUT_OF_SCOPE, NOT_A_SERVICE = "route", "clarify", "out_of_scope", "not_a_service"
# intents that are about the conversation itself, not about which service
CONVERSATIONAL = {
    "greet", "goodbye", "thanks", "affirm", "deny", "choose_option", "ask_human", "complain", "rate",
    "start_prereview", "finish_upload", "ask_status", "chitchat",
}
ELEMENT_INTENTS = {
    "ask_materials", "ask_conditions", "ask_time", "ask_fee", "ask_location", "ask_hours", "ask_contact",
    "ask_process", "ask_online", "ask_appointment", "ask_result",
}


# words and characters that say what is asked about (time, fee, place …) or nothing at all; a question made
# only of these ("办理时限多久", "收费吗") is a follow-up about the service already under discussion
GENERIC_WORDS = (
    "办理 办 办好 办完 办结 请问 一下 这个 那个 需要 时限 时间 多久 多长 多少 费用 材料 资料 证件 手续 地点 地址 电话 "
    "预约 网上 线上 手机 现场 结果 流程 步骤 条件 要求 工作日 上班 下班 周末 窗口 大厅 部门 咨询 收费 免费 工本费 "
    "复印件 原件 期限 哪里 哪儿 什么 怎么 如何 可以 能否 是否 还是 具体 一般 大概 需不需要 要不要"
).split()
GENERIC_CHARS = frozenset("了的吗呢啊吧呀哦嘛我要办想去哪什么怎能可以是有多少几和在给找问请一下这那个您你他她它们啥咋弄带交拿等跑用还就都也该应会得到把被让吧么个些点儿天号")


@lru_cache(maxsize=1)
def _generic_vocabulary() -> FrozenSet[str]:
    import jieba

    from bot.examples import ELEMENT_TEMPLATES, SERVICE_TEMPLATES

    templates = [t for ts in ELEMENT_TEMPLATES.values() for t in ts] + SERVICE_TEMPLATES
    words = {w for t in templates for w in jieba.lcut(t.replace("{x}", " "))}
    # "身份证" is in a follow-up template ("需要带身份证吗") but is also a service of its own ("办个ID卡要带啥")
    return frozenset(w for w in words | set(GENERIC_WORDS) if w.strip()) - {"身份证"}


def names_something(text: str) -> bool:
    """Whether ``text`` says anything beyond *what* is asked (a service, a thing, a situation).

    "办理时限多久" does not: the router may still rank a service highly on "时限", but the
    resident means the service already under discussion.  "护照办理时限多久" does."""
    import jieba

    vocabulary = _generic_vocabulary()
    for word in jieba.lcut(text):
        if word in vocabulary:
            continue
        if any(ch.isalnum() and ch not in GENERIC_CHARS for ch in word):
            return True
    return False


@dataclass
class RouteDecision:
    kind: str
    intent: str
    intent_confidence: float
    confidence: float
    services: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def service_id(self) -> str | None:
        return self.services[0]["id"] if self.kind == ROUTE and self.services else None

    def as_route_json(self, text: str) -> Dict[str, Any]:
        """The ``guide route`` contract (ARCHITECTURE.md)."""
        return {
            "text": text,
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "services": [{"id": s["id"], "name": s["name"], "score": s["score"]} for s in self.services[:5]],
            "out_of_scope": self.kind == OUT_OF_SCOPE,
        }


def nlu_intent(parse: Dict[str, Any]) -> tuple:
    """The classifier's own intent, looking through ``nlu_fallback``."""
    intent = (parse.get("intent") or {}).get("name") or "nlu_fallback"
    conf = float((parse.get("intent") or {}).get("confidence") or 0.0)
    if intent == "nlu_fallback":
        for item in parse.get("intent_ranking") or []:
            if item.get("name") != "nlu_fallback":
                return item.get("name"), float(item.get("confidence") or 0.0)
    return intent, conf


def decide(parse: Dict[str, Any]) -> RouteDecision:
    s = get_settings()
    intent, intent_conf = nlu_intent(parse)
    ranking = list(parse.get("service_ranking") or [])
    confidence = float(parse.get("service_confidence") or 0.0)
    top = ranking[0] if ranking else None
    phrase_hit = bool(top and top.get("phrase"))
    margin = (ranking[0]["score"] - ranking[1]["score"]) if len(ranking) > 1 else (top["score"] if top else 0.0)

    text = str(parse.get("text") or "")
    if intent == "choose_option" and len(text.strip()) > 8:
        intent = "ask_service"  # a choice is "2" or "第二个"; a long sentence with a number in it is a question
    if intent in CONVERSATIONAL and intent_conf >= 0.6 and not (phrase_hit and confidence >= s.route_accept):
        return RouteDecision(NOT_A_SERVICE, intent, intent_conf, confidence, ranking)
    if top is None:
        return RouteDecision(OUT_OF_SCOPE, intent, intent_conf, 0.0, [])
    if intent == "out_of_scope" and intent_conf >= s.oos_intent and top["score"] < s.oos_override_score and not phrase_hit:
        return RouteDecision(OUT_OF_SCOPE, intent, intent_conf, confidence, ranking)
    if intent in ELEMENT_INTENTS and text and not phrase_hit and not names_something(text):
        # a bare follow-up ("收费吗"): no service is named, whatever the ranking says
        return RouteDecision(NOT_A_SERVICE, intent, intent_conf, confidence, ranking)
    if confidence >= s.route_accept and (margin >= s.route_margin or phrase_hit):
        return RouteDecision(ROUTE, intent, intent_conf, confidence, ranking)
    if top["score"] >= s.clarify_min_score and (confidence >= s.route_reject or phrase_hit):
        return RouteDecision(CLARIFY, intent, intent_conf, confidence, ranking)
    return RouteDecision(OUT_OF_SCOPE, intent, intent_conf, confidence, ranking)
