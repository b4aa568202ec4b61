"""Cross-reference checks that a single file's schema cannot see.

The same checks run in ``guide kb validate``, on import, and inline in the editor, so a
guide that the bot serves has always passed them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, Dict, List, Sequence, Set

from knowledge.loader import CatalogueRow, Problem, Sources, line_of
from knowledge.schema import CityProfile, MaterialSource, MaterialType, Service

PLACEHOLDERS = re.compile(r"TODO|TBD|待补充|待完善|占位|示例|XXX|xxx|××|lorem ipsum|其他材料|法律法规规定的其他")


def _walk_strings(node: Any, path: List[Any]) -> Any:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk_strings(v, path + [k])
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk_strings(v, path + [i])
    elif isinstance(node, str):
        yield path, node


def check_service(
    svc: Service,
    file: str,
    node: Any,
    profile: CityProfile | None,
    materials: Dict[str, MaterialType],
    row: CatalogueRow | None,
) -> List[Problem]:
    """Every check that concerns one service on its own."""
    out: List[Problem] = []

    def err(path: Sequence[Any], message: str, severity: str = "error") -> None:
        out.append(Problem(file, line_of(node, list(path)) if node is not None else 1, message, severity))

    if file.startswith("services/") and file != f"services/{svc.id}.yml":
        err(["id"], f"文件名须与事项 id 一致（{svc.id}.yml）")
    if row is None:
        err(["id"], f"{svc.id} 不在主题事项目录中")
    else:
        if svc.name != row.name:
            err(["name"], f"事项名称须与目录一致：{row.name}")
        if svc.domain != row.domain:
            err(["domain"], f"领域须与目录一致：{row.domain}")
        if svc.audience.value != row.audience:
            err(["audience"], f"服务对象类别须与目录一致：{row.audience}")
        if svc.lead_department != row.lead_department:
            err(["lead_department"], f"牵头部门须与目录一致：{row.lead_department}")
        names = [i.name for i in svc.single_items]
        if set(names) != set(row.single_items):
            missing = [n for n in row.single_items if n not in names]
            extra = [n for n in names if n not in row.single_items]
            err(["single_items"], f"单一事项须与目录一致；缺少：{'、'.join(missing) or '无'}；多出：{'、'.join(extra) or '无'}")

    scenario_ids = [s.id for s in svc.scenarios]
    if len(set(scenario_ids)) != len(scenario_ids):
        err(["scenarios"], "情形 id 重复")
    item_names = [i.name for i in svc.single_items]
    if len(set(item_names)) != len(item_names):
        err(["single_items"], "单一事项名称重复")

    if profile is not None:
        depts = [svc.lead_department, *svc.cooperating_departments]
        for i, d in enumerate(depts):
            if d not in profile.departments:
                err(["lead_department"] if i == 0 else ["cooperating_departments", i - 1], f"部门“{d}”不在城市配置 departments 中")
        for i, item in enumerate(svc.single_items):
            if item.department not in profile.departments:
                err(["single_items", i, "department"], f"部门“{item.department}”不在城市配置 departments 中")
        for i, place in enumerate(svc.places):
            if place.hall not in profile.halls:
                err(["places", i, "hall"], f"办理地点“{place.hall}”不在城市配置 halls 中")

    for i, item in enumerate(svc.single_items):
        for a in item.after:
            if a not in item_names:
                err(["single_items", i, "after"], f"前置事项“{a}”不是本事项的单一事项")
            if a == item.name:
                err(["single_items", i, "after"], "单一事项不能以自身为前置")
        for s in item.scenarios:
            if s not in scenario_ids:
                err(["single_items", i, "scenarios"], f"情形“{s}”未在 scenarios 中定义")
    if _has_cycle({i.name: i.after for i in svc.single_items}):
        err(["single_items"], "单一事项的先后顺序存在循环")

    seen_names: Set[str] = set()
    seen_kinds: Dict[tuple, str] = {}
    for i, m in enumerate(svc.materials):
        where = ["materials", i]
        if m.name in seen_names:
            err(where + ["name"], f"材料“{m.name}”重复，一件事只列一套材料")
        seen_names.add(m.name)
        kind = (m.catalogue, m.holder, tuple(sorted(m.scenarios)))
        if kind in seen_kinds:
            err(where, f"材料“{m.name}”与“{seen_kinds[kind]}”为同一持有人的同一种材料，请合并", "warning")
        seen_kinds[kind] = m.name
        entry = materials.get(m.catalogue)
        if entry is None:
            err(where + ["catalogue"], f"材料目录中没有“{m.catalogue}”")
        elif m.source == MaterialSource.电子证照免提交 and not entry.e_certificate:
            err(where + ["source"], f"“{entry.name}”在材料目录中未标记可用电子证照，不能写“电子证照免提交”")
        elif m.source == MaterialSource.申请人提交 and entry.e_certificate and not m.note:
            err(where + ["note"], f"“{entry.name}”可通过电子证照获取；若仍需申请人提交，请在 note 中说明原因")
        for u in m.used_by:
            if u not in item_names:
                err(where + ["used_by"], f"“{u}”不是本事项的单一事项")
        for s in m.scenarios:
            if s not in scenario_ids:
                err(where + ["scenarios"], f"情形“{s}”未在 scenarios 中定义")

    material_names = {m.name for m in svc.materials}
    for j, name in enumerate(svc.deferral.materials):
        mat = svc.material(name)
        if name not in material_names:
            err(["deferral", "materials", j], f"容缺材料“{name}”不在材料清单中")
        elif mat is not None and not mat.must_submit:
            err(["deferral", "materials", j], f"“{name}”无需申请人提交，不应列为容缺材料")

    if not svc.online and svc.visits == 0:
        err(["visits"], "不能网上办理的事项，到现场次数不能为 0")
    if len(set(svc.aliases)) != len(svc.aliases):
        err(["aliases"], "别名重复")
    if svc.name in svc.aliases:
        err(["aliases"], "别名不应与事项名称相同")
    if len({f.q for f in svc.faqs}) != len(svc.faqs):
        err(["faqs"], "常见问题重复")

    if node is not None:
        for path, text in _walk_strings(node, []):
            hit = PLACEHOLDERS.search(text)
            if hit:
                err(path, f"含有占位或兜底表述“{hit.group(0)}”，请写明具体内容")
    return out


def _has_cycle(graph: Dict[str, List[str]]) -> bool:
    state: Dict[str, int] = {}

    def visit(n: str) -> bool:
        if state.get(n) == 1:
            return True
        if state.get(n) == 2:
            return False
        state[n] = 1
        if any(visit(m) for m in graph.get(n, []) if m in graph):
            return True
        state[n] = 2
        return False

    return any(visit(n) for n in graph)


def check_sources(src: Sources, require_all: bool = True) -> List[Problem]:
    """All problems: schema ones already in ``src`` plus every cross-reference check."""
    problems = list(src.problems)
    materials: Dict[str, MaterialType] = {}
    for m, file, line in src.materials:
        if m.id in materials:
            problems.append(Problem(file, line, f"材料目录 id “{m.id}”重复"))
        materials[m.id] = m
    rows = {r.id: r for r in src.catalogue}

    seen_ids: Dict[str, str] = {}
    alias_owner: Dict[str, List[tuple]] = defaultdict(list)
    for svc, file, node in src.services:
        if svc.id in seen_ids:
            problems.append(Problem(file, line_of(node, ["id"]), f"事项 id {svc.id} 与 {seen_ids[svc.id]} 重复"))
        seen_ids[svc.id] = file
        problems += check_service(svc, file, node, src.profile, materials, rows.get(svc.id))
        for i, alias in enumerate(svc.aliases):
            alias_owner[alias].append((svc.id, file, line_of(node, ["aliases", i])))
    names = {svc.name: svc.id for svc, _, _ in src.services}
    for alias, owners in alias_owner.items():
        ids = sorted({o[0] for o in owners})
        if len(ids) > 1:
            for _sid, file, line in owners:
                problems.append(Problem(file, line, f"别名“{alias}”同时属于 {'、'.join(ids)}，会造成路由歧义"))
        if alias in names and names[alias] not in ids:
            sid, file, line = owners[0]
            problems.append(Problem(file, line, f"别名“{alias}”是另一事项 {names[alias]} 的正式名称"))
    if require_all:
        for rid in rows:
            if rid not in seen_ids:
                problems.append(Problem("services/", 1, f"缺少主题事项 {rid} {rows[rid].name} 的指南文件"))
    return problems
