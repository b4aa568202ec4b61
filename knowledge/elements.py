"""The 26 standard guide elements (《北京市政务服务标准化管理办法》第六条), computed from a service.

Elements that can be derived (codes, implementing bodies, overall time limits, results,
places, hours, contacts) are computed from typed data and the city profile, so they
never disagree with the parts they summarise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List

from knowledge.schema import CityProfile, MaterialType, Service, SingleItem, TimeLimit

ELEMENTS: List[str] = [
    "事项名称", "事项编码", "事项类型", "设定依据", "实施主体", "受理条件", "服务对象", "法定办结时限",
    "承诺办结时限", "结果名称", "结果样本", "收费标准", "收费依据", "所需材料", "容缺受理", "办理流程",
    "办理形式", "审查标准", "通办范围", "预约办理", "网上支付", "物流快递", "办理地点", "办理时间",
    "咨询方式", "监督投诉方式",
]


@dataclass(frozen=True)
class Context:
    """What rendering needs besides the service: the city and the catalogue."""

    profile: CityProfile
    materials: Dict[str, MaterialType]
    base_url: str = ""

    def dept(self, key: str) -> str:
        d = self.profile.departments.get(key)
        return d.full_name if d else key


def critical_path(items: List[SingleItem], limit: Callable[[SingleItem], TimeLimit]) -> int:
    """Days along the longest chain of ``after`` dependencies; parallel items overlap."""
    by_name = {i.name: i for i in items}
    memo: Dict[str, int] = {}

    def finish(name: str, depth: int = 0) -> int:
        if name in memo:
            return memo[name]
        item = by_name[name]
        start = max((finish(a, depth + 1) for a in item.after if a in by_name and depth < len(items)), default=0)
        memo[name] = start + limit(item).days
        return memo[name]

    return max((finish(i.name) for i in items), default=0)


def item_code(svc: Service, profile: CityProfile) -> str:
    """Implementation code: region + 'YJS' (一件事) + sequence, unique within the city's catalogue."""
    return f"{profile.region_code}YJS{svc.id[1:]}"


def total_limit(svc: Service, legal: bool, scenario: str | None = None) -> TimeLimit:
    items = svc.items_for(scenario)
    days = critical_path(items, (lambda i: i.legal_limit) if legal else (lambda i: i.promised_limit))
    return TimeLimit(days=days)


def _numbered(lines: List[str]) -> str:
    return "\n".join(f"{n}. {line}" for n, line in enumerate(lines, 1))


def material_line(svc: Service, name: str, ctx: Context) -> str:
    m = svc.material(name)
    if m is None:
        return name
    if not m.must_submit:
        return f"{m.name}（{m.source.value}）"
    parts = [m.form.value]
    if m.copies and m.copies != 1:
        parts.append(f"{m.copies}份")
    parts.append(m.medium.value)
    if m.requirement.value == "按情形提供":
        names = [s.name for s in svc.scenarios if s.id in m.scenarios]
        parts.append("适用：" + "、".join(names))
    text = f"{m.name}（{'，'.join(parts)}）"
    return f"{text}：{m.note}" if m.note else text


def materials_text(svc: Service, ctx: Context, scenario: str | None = None) -> str:
    mats = svc.materials_for(scenario)
    submit = [material_line(svc, m.name, ctx) for m in mats if m.must_submit]
    exempt = [f"{m.name}（{m.source.value}）" for m in mats if not m.must_submit]
    text = "需提交：\n" + _numbered(submit) if submit else "无需提交纸质或电子材料"
    if exempt:
        text += "\n无需提交（部门通过电子证照或数据共享获取）：" + "、".join(exempt)
    return text


def hours_text(svc: Service, ctx: Context) -> str:
    lines = []
    for place in svc.places:
        hall = ctx.profile.halls.get(place.hall)
        if hall is None:
            continue
        hours = "；".join(f"{h.days} {h.open}-{h.close}" + (f"（{h.note}）" if h.note else "") for h in hall.hours)
        lines.append(f"{hall.name}：{hours}")
    return "\n".join(lines)


def places_text(svc: Service, ctx: Context) -> str:
    lines = []
    for place in svc.places:
        hall = ctx.profile.halls.get(place.hall)
        if hall is None:
            continue
        window = f"（{place.window}）" if place.window and place.window not in hall.name else ""
        line = f"{hall.name}{window}，地址：{hall.address}"
        if place.note:
            line += f"（{place.note}）"
        lines.append(line)
    return _numbered(lines)


def contacts(svc: Service, ctx: Context) -> List[str]:
    keys = [svc.lead_department, *svc.cooperating_departments]
    seen, out = set(), []
    for key in keys:
        d = ctx.profile.departments.get(key)
        if d and d.hotline and d.hotline not in seen:
            seen.add(d.hotline)
            out.append(f"{d.full_name}：{d.hotline}")
    if ctx.profile.hotline not in seen:
        out.append(f"政务服务便民热线：{ctx.profile.hotline}")
    out.append(f"{ctx.profile.app_name}、{ctx.profile.portal_name}（{ctx.profile.portal_url}）在线咨询")
    return out


def _flag(flag: Any, yes: str = "支持", no: str = "不支持") -> str:
    text = yes if flag.supported else no
    if flag.channels:
        text += "：" + "、".join(flag.channels)
    if flag.note:
        text += f"（{flag.note}）"
    return text


def element_texts(svc: Service, ctx: Context, scenario: str | None = None) -> Dict[str, str]:
    """All 26 elements as readable Chinese text, in the standard order."""
    legal, promised = total_limit(svc, True, scenario), total_limit(svc, False, scenario)
    items = svc.items_for(scenario)
    results = [i.result for i in items]
    fee = svc.fee
    if fee.free:
        fee_text = "不收费" + (f"（{fee.note}）" if fee.note else "")
        basis_text = "不收费，无收费依据"
    else:
        fee_text = "；".join(f"{f.name}：{f.amount:g}{f.unit}" + (f"（{f.note}）" if f.note else "") for f in fee.items)
        if fee.note:
            fee_text += f"。{fee.note}"
        basis_text = "；".join(b.cite() for b in fee.basis)
    deferral = svc.deferral
    if deferral.allowed:
        deferral_text = f"可容缺受理：{'、'.join(deferral.materials)}，受理后{deferral.deadline_days}个工作日内补交" + (f"（{deferral.note}）" if deferral.note else "")
    else:
        deferral_text = "不适用容缺受理" + (f"（{deferral.note}）" if deferral.note else "")
    link = f"{ctx.base_url}/guide/{svc.id}" if ctx.base_url else f"/guide/{svc.id}"
    texts = {
        "事项名称": svc.name,
        "事项编码": item_code(svc, ctx.profile),
        "事项类型": svc.item_type.value + "（含：" + "、".join(sorted({i.item_type.value for i in svc.single_items})) + "）",
        "设定依据": _numbered([b.cite() + (f"：{b.note}" if b.note else "") for b in svc.legal_basis]),
        "实施主体": f"牵头部门：{ctx.dept(svc.lead_department)}"
        + (f"；协同部门：{'、'.join(ctx.dept(d) for d in svc.cooperating_departments)}" if svc.cooperating_departments else ""),
        "受理条件": _numbered(svc.conditions),
        "服务对象": "、".join(o.value for o in svc.service_objects),
        "法定办结时限": f"{legal.text()}（{legal.kind}）；分项：" + "；".join(f"{i.name}{i.legal_limit.text()}" for i in items),
        "承诺办结时限": f"{promised.text()}（{promised.kind}）；分项：" + "；".join(f"{i.name}{i.promised_limit.text()}" for i in items),
        "结果名称": "、".join(results),
        "结果样本": "、".join(results) + f"的样式见办事指南页面：{link}#results",
        "收费标准": fee_text,
        "收费依据": basis_text,
        "所需材料": materials_text(svc, ctx, scenario),
        "容缺受理": deferral_text,
        "办理流程": _numbered([f"{s.step}（{s.actor}{'，' + s.time_limit if s.time_limit else ''}）：{s.description}" for s in svc.process]),
        "办理形式": "、".join(c.value for c in svc.channels) + f"；到现场次数：{svc.visits}次",
        "审查标准": _numbered(svc.review_standards),
        "通办范围": svc.scope.value,
        "预约办理": _flag(svc.appointment),
        "网上支付": _flag(svc.online_payment),
        "物流快递": _flag(svc.delivery),
        "办理地点": places_text(svc, ctx),
        "办理时间": hours_text(svc, ctx),
        "咨询方式": "；".join(contacts(svc, ctx)),
        "监督投诉方式": "；".join(ctx.profile.complaint_channels),
    }
    return {name: texts[name] for name in ELEMENTS}
