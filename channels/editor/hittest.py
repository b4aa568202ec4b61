"""命中测试: how production routes a resident's question, and the answer the bot would give.

The parse comes from the running Rasa server (the bot's own model and ServiceRouter);
the decision shown is ``bot.routing.decide``; the answer is produced by running the very
action the action server runs for that intent (``channels.editor.replies``) on a fresh
conversation, so it is the bot's reply, not a re-rendering of it.
"""

from __future__ import annotations

from typing import Any, Dict, List

import httpx

from bot.guard import long_note, precheck
from bot.routing import CLARIFY, NOT_A_SERVICE, OUT_OF_SCOPE, ROUTE, decide
from channels.editor import replies
from guide.settings import get_settings
from knowledge.base import KnowledgeBase

KIND_NAMES = {ROUTE: "直接路由到事项", CLARIFY: "追问澄清（给出候选）", OUT_OF_SCOPE: "超出服务范围", NOT_A_SERVICE: "对话类意图（不是办事问题）"}
RASA_DOWN = "无法连接 Rasa 服务（{url}）：命中测试需要正在运行的机器人。请先用 make run 或 guide serve 启动服务后再试。"


class RasaUnavailable(Exception):
    pass


async def parse(text: str) -> Dict[str, Any]:
    url = f"{get_settings().rasa_base}/model/parse"
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            r = await client.post(url, json={"text": text})
            r.raise_for_status()
            return dict(r.json())
    except (httpx.HTTPError, ValueError) as exc:
        raise RasaUnavailable(RASA_DOWN.format(url=get_settings().rasa_base)) from exc


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
    ran = await replies.run_action(parsed)
    if ran["responses"] is None:
        messages = [f"（意图 {decision.intent} 由对话规则 {ran['action']} 回答，不查询办事指南）"]
    else:
        messages = [m["text"] for m in replies.hub_messages(ran["responses"]) if m.get("text")]
        templates = [str(r.get("response") or r.get("template")) for r in ran["responses"] if r.get("response") or r.get("template")]
        messages += [f"（回复模板 {t}，文字见 domain.yml）" for t in templates]
    note = long_note(text)
    if note:
        messages.insert(0, note)
    return {
        "text": text,
        "route": route,
        "kind": decision.kind,
        "kind_name": KIND_NAMES.get(decision.kind, decision.kind),
        "intent": decision.intent,
        "intent_confidence": round(decision.intent_confidence, 4),
        "service_confidence": round(decision.confidence, 4),
        "ranking": ranking,
        "action": ran["action"],
        "messages": messages,
    }
