"""Answers rendered from the knowledge base, short enough for a phone screen.

Pure functions of (service, knowledge base, scenario): the actions call them, the tests
pin them, and an edit in the knowledge base changes them without retraining.
"""

from __future__ import annotations

import re
from typing import Dict, List

from knowledge.base import KnowledgeBase
from knowledge.elements import contacts, hours_text, materials_text, places_text, total_limit
from knowledge.schema import Service

MAX_CHARS = 600

# intent → (element names it answers, short label)
ELEMENT_OF_INTENT: Dict[str, str] = {
    "ask_materials": "所需材料",
    "ask_conditions": "受理条件",
    "ask_time": "办结时限",
    "ask_fee": "收费标准",
    "ask_location": "办理地点",
    "ask_hours": "办理时间",
    "ask_contact": "咨询方式",
    "ask_process": "办理流程",
    "ask_online": "办理形式",
    "ask_appointment": "预约办理",
    "ask_result": "办理结果",
}

FOLLOW_UPS = "您可以接着问：要带什么材料、多久能办好、收费吗、在哪里办、能网上办吗；回复“预审”可先检查材料。"
PREREVIEW_OFFER = "预审我的材料"
PREREVIEW_OFFER_LINE = f"材料备齐后，可点“{PREREVIEW_OFFER}”（或回复“预审”），拍照上传，我一次性告诉您哪些需要补正。"


def prereview_offer(service_id: str) -> List[Dict[str, str]]:
    """The choice that ends a materials answer: start pre-review of this service (an intent payload, so the
    button works whatever the classifier would make of its words)."""
    payload = '/start_prereview{"service": "%s"}' % service_id
    return [{"title": PREREVIEW_OFFER, "payload": payload}]


def split_message(text: str, limit: int = MAX_CHARS) -> List[str]:
    """Split on line breaks so each message fits the limit; a single long line is cut at punctuation."""
    parts: List[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            cut = max(line.rfind(p, 0, limit) for p in "。；，、") + 1 or limit
            chunk, line = line[:cut], line[cut:]
            if current:
                parts.append(current)
                current = ""
            parts.append(chunk)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _numbered(lines: List[str]) -> str:
    return "\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1))


def overview(svc: Service, kb: KnowledgeBase) -> str:
    promised = total_limit(svc, legal=False)
    how = "可全程网办" if svc.online and svc.visits == 0 else ("可网上申请" if svc.online else "需到现场办理")
    items = "、".join(i.name for i in svc.single_items)
    lines = [
        f"已为您找到：【{svc.name}】",
        svc.summary,
        f"一次办好{len(svc.single_items)}个事项：{items}。",
        f"{how}，到现场{svc.visits}次；承诺办结时限{promised.text()}；{'不收费' if svc.fee.free else '涉及收费'}。",
    ]
    if svc.scenarios:
        lines.append("材料因情形不同：" + "；".join(f"{n}. {s.name}" for n, s in enumerate(svc.scenarios, 1)) + "。回复序号告诉我您属于哪种情形。")
    lines.append(FOLLOW_UPS)
    lines.append(f"完整办事指南：{kb.guide_url(svc.id)}")
    return "\n".join(lines)


def scenario_name(svc: Service, scenario: str | None) -> str | None:
    return next((s.name for s in svc.scenarios if s.id == scenario), None)


def element_answer(svc: Service, kb: KnowledgeBase, intent: str, scenario: str | None = None) -> str:
    """Answer one follow-up about the current service."""
    ctx = kb.context
    head = f"【{svc.name}】"
    if intent == "ask_materials":
        sc = scenario_name(svc, scenario)
        body = materials_text(svc, ctx, scenario)
        text = head + (f"（{sc}）" if sc else "") + "所需材料：\n" + body
        if svc.scenarios and not sc:
            text += "\n不同情形材料不同，回复序号选择您的情形：" + "；".join(f"{n}. {s.name}" for n, s in enumerate(svc.scenarios, 1))
        else:
            names = {m.name for m in svc.materials_for(scenario)}
            deferred = [m for m in svc.deferral.materials if m in names]
            if svc.deferral.allowed and deferred:
                text += f"\n可容缺受理：{'、'.join(deferred)}，受理后{svc.deferral.deadline_days}个工作日内补交。"
        if any(m.must_submit for m in svc.materials):
            text += "\n" + PREREVIEW_OFFER_LINE
        return text
    if intent == "ask_conditions":
        return head + "受理条件：\n" + _numbered(svc.conditions)
    if intent == "ask_time":
        legal, promised = total_limit(svc, True, scenario), total_limit(svc, False, scenario)
        lines = [f"{head}承诺{promised.text()}办结（法定时限{legal.text()}）。", "各事项时限："]
        for item in svc.items_for(scenario):
            order = f"，在{'、'.join(item.after)}之后办理" if item.after else "，并联办理"
            lines.append(f"- {item.name}：承诺{item.promised_limit.text()}{order}")
        return "\n".join(lines)
    if intent == "ask_fee":
        fee = svc.fee
        if fee.free:
            return head + "不收费。" + (fee.note if fee.note else "")
        items = "\n".join(f"- {f.name}：{f.amount:g}{f.unit}" + (f"（{f.note}）" if f.note else "") for f in fee.items)
        basis = "；".join(b.cite() for b in fee.basis)
        pay = "支持网上支付。" if svc.online_payment.supported else "需现场缴费。"
        return f"{head}收费标准：\n{items}\n收费依据：{basis}\n{pay}" + (f"\n{fee.note}" if fee.note else "")
    if intent == "ask_location":
        return head + "办理地点：\n" + places_text(svc, ctx) + f"\n通办范围：{svc.scope.value}。"
    if intent == "ask_hours":
        return head + "办理时间：\n" + hours_text(svc, ctx)
    if intent == "ask_contact":
        return head + "咨询方式：\n" + "\n".join(contacts(svc, ctx)) + "\n回复“转人工”可联系人工导办专员。"
    if intent == "ask_process":
        steps = [f"{st.step}（{st.actor}{'，' + st.time_limit if st.time_limit else ''}）：{st.description}" for st in svc.process]
        return head + "办理流程：\n" + _numbered(steps)
    if intent == "ask_online":
        channels = "、".join(c.value for c in svc.channels)
        if svc.online and svc.visits == 0:
            verdict = f"可以全程网上办理，不用跑现场。请在{kb.profile.app_name}或{kb.profile.portal_name}搜索“{svc.name}”。"
        elif svc.online:
            verdict = f"可以网上申请，但需到现场{svc.visits}次。"
        else:
            verdict = f"需要到现场办理，到现场{svc.visits}次。"
        return f"{head}{verdict}\n办理形式：{channels}。"
    if intent == "ask_appointment":
        ap = svc.appointment
        if not ap.supported:
            return head + "无需预约，按办理时间直接前往即可。" + (ap.note or "")
        return head + "支持预约：" + "、".join(ap.channels) + "。" + (ap.note or "")
    if intent == "ask_result":
        results = "\n".join(f"- {i.name}：{i.result}" for i in svc.items_for(scenario))
        deliver = ("支持邮寄：" + (svc.delivery.note or "、".join(svc.delivery.channels))) if svc.delivery.supported else "需到现场领取结果。"
        return f"{head}办理结果：\n{results}\n{deliver}"
    return overview(svc, kb)


def faq_answer(svc: Service, kb: KnowledgeBase, question: str, answer: str) -> str:
    return f"【{svc.name}】{question}\n{answer}\n完整办事指南：{kb.guide_url(svc.id)}"


def clarify_text(options: List[Dict[str, str]]) -> str:
    lines = ["您是想办理："] + [f"{n}. {o['name']}" for n, o in enumerate(options, 1)]
    lines.append("请回复序号；都不是的话，换个说法告诉我您的情况，或回复“转人工”。")
    return "\n".join(lines)


def out_of_scope_text(kb: KnowledgeBase, offer_human: bool) -> str:
    text = (
        "抱歉，这个问题我暂时帮不上忙。我能帮您办理政务服务“一件事”，比如新生儿出生、户口迁移、结婚登记、"
        "退休、开办或注销企业、社保医保、公积金等：告诉我您想办的事，我会说明材料、时限、费用和地点。"
    )
    if offer_human:
        text += f"\n需要的话，回复“转人工”联系人工导办专员，或拨打{kb.profile.hotline}。"
    return text


CN_NUMBERS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def parse_choice(text: str, count: int) -> int | None:
    """'2', '第二个', '选3', '最后一个' → a 0-based index, or None."""
    t = text.strip()
    if "最后" in t and count:
        return count - 1
    m = re.search(r"\d+", t)
    if m:
        n = int(m.group(0))
    else:
        found = [CN_NUMBERS[c] for c in t if c in CN_NUMBERS]
        if not found:
            return None
        n = found[0]
    return n - 1 if 1 <= n <= count else None
