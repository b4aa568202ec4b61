"""Training examples generated from the knowledge base, reproducibly (fixed seed).

Two consumers: the service router (service id labels, many examples) and DIET's intent
classifier (intent labels, a sample of them mixed with hand-written examples).
"""

from __future__ import annotations

import random
from typing import Dict, Iterable, List, Tuple

from knowledge.schema import Service

SEED = 20261123

# How residents ask for a service by name (the name slot is an alias or the service name).
SERVICE_TEMPLATES = [
    "{x}", "{x}怎么办", "{x}怎么办理", "我想办{x}", "我要办{x}", "请问{x}去哪办", "{x}的流程是什么", "办{x}",
    "想咨询一下{x}", "{x}在哪里办理", "{x}怎么弄", "如何办理{x}", "{x}需要准备什么", "我要申请{x}", "{x}咋办",
    "帮我查一下{x}", "关于{x}的问题", "{x}能网上办吗",
]

# Follow-up questions about one element; "{x}" is optional (asked about the current service).
ELEMENT_TEMPLATES: Dict[str, List[str]] = {
    "ask_materials": ["要带什么材料", "需要哪些材料", "材料清单发我一下", "要准备啥资料", "需要带身份证吗", "要交哪些证件",
                      "{x}要什么材料", "{x}需要准备哪些资料", "办{x}带什么", "{x}的材料有哪些", "需要什么手续材料", "要复印件吗"],
    "ask_conditions": ["什么条件才能办", "我符合条件吗", "谁可以申请", "申请条件是什么", "有什么要求", "外地户口能办吗",
                       "{x}需要什么条件", "{x}的申请条件", "办{x}有啥要求", "什么人能办{x}"],
    "ask_time": ["多久能办好", "要多长时间", "几天能拿到", "办结时限是多少", "多久出结果", "当天能办完吗",
                 "{x}要多久", "{x}几个工作日", "{x}多长时间能办下来", "办{x}要等几天"],
    "ask_fee": ["要钱吗", "收费吗", "要交多少钱", "费用是多少", "免费吗", "工本费多少",
                "{x}收费吗", "{x}要多少钱", "办{x}花多少钱", "{x}有没有费用"],
    "ask_location": ["去哪里办", "在哪办理", "办理地点在哪", "地址在哪里", "要去哪个窗口", "哪个大厅能办",
                     "{x}在哪里办", "{x}去哪个部门", "{x}的办理地址", "办{x}去哪"],
    "ask_hours": ["几点上班", "周末能办吗", "办理时间是几点到几点", "中午办公吗", "星期六开门吗", "几点下班",
                  "{x}的办理时间", "{x}周末能办吗", "办{x}几点去"],
    "ask_contact": ["咨询电话是多少", "打哪个电话问", "有联系方式吗", "电话多少", "找谁咨询",
                    "{x}咨询电话", "{x}打什么电话", "问{x}找哪个部门电话"],
    "ask_process": ["怎么办理", "办理流程是什么", "具体步骤是啥", "先办哪个后办哪个", "流程说一下", "分几步",
                    "{x}的流程", "{x}要走哪些步骤", "{x}怎么一步步办"],
    "ask_online": ["能网上办吗", "可以线上办理吗", "手机上能办吗", "要跑现场吗", "不去现场可以吗", "在京通上能办吗",
                   "{x}能网上办吗", "{x}可以在手机上办吗", "{x}需要去现场吗", "{x}线上能申请吗"],
    "ask_appointment": ["要预约吗", "怎么预约", "可以预约吗", "需要提前预约吗", "在哪预约",
                        "{x}要预约吗", "{x}怎么预约", "办{x}需要提前约吗"],
    "ask_result": ["办完给什么证", "能拿到什么", "结果是什么", "办好了怎么拿证", "证件邮寄吗",
                   "{x}办完拿什么", "{x}的结果怎么领取", "{x}办好了给什么"],
}


def service_phrases(svc: Service) -> List[str]:
    base = svc.name.removesuffix("一件事")
    return [base, *svc.aliases]


def service_examples(services: Iterable[Service], per_service: int = 30, seed: int = SEED) -> List[Tuple[str, str]]:
    """(text, service_id) pairs: hand-written resident questions, FAQ questions, names × templates."""
    rng = random.Random(seed)
    out: List[Tuple[str, str]] = []
    for svc in sorted(services, key=lambda s: s.id):
        texts = list(svc.resident_questions) + [f.q for f in svc.faqs]
        phrases = service_phrases(svc)
        texts += phrases
        texts += [f"{i.name}" for i in svc.single_items]
        templated = [t.format(x=p) for p in phrases for t in SERVICE_TEMPLATES[1:]]
        rng.shuffle(templated)
        texts += templated[: max(0, per_service - len(texts))]
        item_templates = [f"{i.name}怎么办" for i in svc.single_items]
        texts += item_templates
        seen = set()
        for t in texts:
            if t not in seen:
                seen.add(t)
                out.append((t, svc.id))
    return out


def element_examples(services: List[Service], per_template: int = 2, seed: int = SEED) -> List[Tuple[str, str]]:
    """(text, intent) follow-up questions, with and without a service name in them."""
    rng = random.Random(seed + 1)
    out: List[Tuple[str, str]] = []
    phrases = [p for svc in services for p in service_phrases(svc)]
    for intent, templates in ELEMENT_TEMPLATES.items():
        for t in templates:
            if "{x}" in t:
                for _ in range(per_template):
                    out.append((t.format(x=rng.choice(phrases)), intent))
            else:
                out.append((t, intent))
    return out


def intent_service_examples(services: List[Service], per_service: int = 4, seed: int = SEED) -> List[str]:
    """A sample of service questions for DIET's ``ask_service`` intent."""
    rng = random.Random(seed + 2)
    out: List[str] = []
    for svc in sorted(services, key=lambda s: s.id):
        pool = list(svc.resident_questions) + [t.format(x=p) for p in service_phrases(svc)[:3] for t in SERVICE_TEMPLATES[1:6]]
        rng.shuffle(pool)
        out += pool[:per_service]
    return out
