"""命中测试: how production routes a resident's question, and the answer the bot would give.

The parse comes from the running Rasa server (the bot's own model and ServiceRouter);
the decision is ``bot.routing.decide`` and the answer is rendered by ``actions.answers``
with the thresholds of ``actions.actions`` — the same code as ``guide route`` and the bot.
"""

from __future__ import annotations

from typing import Any, Dict, List

import httpx

from actions.answers import clarify_text, element_answer, faq_answer, out_of_scope_text, overview, split_message
from bot.guard import precheck
from bot.routing import CLARIFY, ELEMENT_INTENTS, NOT_A_SERVICE, OUT_OF_SCOPE, ROUTE, RouteDecision, decide
from guide.settings import get_settings
from knowledge.base import KnowledgeBase
from knowledge.faq import best_faq

KIND_NAMES = {ROUTE: "直接路由到事项", CLARIFY: "追问澄清（给出候选）", OUT_OF_SCOPE: "超出服务范围", NOT_A_SERVICE: "对话类意图（不是办事问题）"}
RASA_DOWN = "无法连接 Rasa 服务（{url}）：命中测试需要正在运行的机器人。请先用 make run 或 guide serve 启动服务后再试。"


class RasaUnavailable(Exception):
    pass


# the action server's thresholds: one place decides how an FAQ beats an overview or an element answer
def _faq_thresholds() -> tuple:
    try:
        from actions.actions import FAQ_ON_ROUTE, FAQ_OVER_ELEMENT

        return FAQ_ON_ROUTE, FAQ_OVER_ELEMENT
    except Exception:  # noqa: BLE001 - rasa_sdk missing: the documented defaults
        return 0.55, 0.6


async def parse(text: str) -> Dict[str, Any]:
    url = f"{get_settings().rasa_base}/model/parse"
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            r = await client.post(url, json={"text": text})
            r.raise_for_status()
            return dict(r.json())
    except (httpx.HTTPError, ValueError) as exc:
        raise RasaUnavailable(RASA_DOWN.format(url=get_settings().rasa_base)) from exc


def answer_for(decision: RouteDecision, kb: KnowledgeBase, text: str) -> str:
    """The first answer the bot gives to this question in a fresh conversation."""
    on_route, over_element = _faq_thresholds()
    if decision.kind == ROUTE and decision.service_id in kb.services:
        svc = kb.services[decision.service_id]  # type: ignore[index]
        element = decision.intent if decision.intent in ELEMENT_INTENTS else None
        hit = best_faq(svc, text, over_element if element else on_route)
        if hit is not None:
            return faq_answer(svc, kb, hit[0].q, hit[0].a)
        if element:
            return element_answer(svc, kb, element)
        return overview(svc, kb)
    if decision.kind == CLARIFY:
        return clarify_text([{"id": s["id"], "name": s["name"]} for s in decision.services[:3]])
    if decision.kind == NOT_A_SERVICE:
        return f"（对话类意图 {decision.intent}：由对话规则回答，不查询办事指南）"
    return out_of_scope_text(kb, offer_human=False)


async def hit_test(text: str, kb: KnowledgeBase) -> Dict[str, Any]:
    reply, clean = precheck(text)
    if reply:
        return {"text": text, "kind": "guard", "kind_name": "输入检查直接回复", "messages": [reply], "route": None}
    parsed = await parse(clean)
    decision = decide(parsed)
    route = decision.as_route_json(text)
    ranking: List[Dict[str, Any]] = []
    for s in (parsed.get("service_ranking") or [])[:5]:
        ranking.append({"id": s.get("id"), "name": s.get("name"), "score": round(float(s.get("score") or 0), 4),
                        "phrase": s.get("phrase") or ""})
    answer = answer_for(decision, kb, clean)
    return {
        "text": text,
        "route": route,
        "kind": decision.kind,
        "kind_name": KIND_NAMES.get(decision.kind, decision.kind),
        "intent": decision.intent,
        "intent_confidence": round(decision.intent_confidence, 4),
        "service_confidence": round(decision.confidence, 4),
        "ranking": ranking,
        "messages": split_message(answer),
    }
