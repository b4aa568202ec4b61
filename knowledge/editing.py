"""The editors' service layer: drafts, review, publish, rollback, diffs and the change log.

A change goes draft → in_review → published (or rejected).  The reviewer who publishes is
never the author of the change.  Every document is checked by the same validators as
``guide kb validate`` (schema, cross references, placeholders, aliases across services);
publishing goes through ``Store.publish_in`` in one transaction, then every running
process hears about it on Redis and reloads, so answers change without a restart.

Entry points (web editor, Excel import, CLI) only translate; the rules live here.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Sequence, Tuple

from pydantic import BaseModel
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, select
from sqlalchemy.orm import Session

from knowledge.loader import CatalogueRow, Problem, Sources, parse_model, read_catalogue
from knowledge.schema import CityProfile, MaterialType, Service
from knowledge.store import ServiceRow, Store, VersionRow, content_hash, create_tables, utcnow
from knowledge.validate import check_sources

if TYPE_CHECKING:
    from knowledge.base import KnowledgeHolder

log = logging.getLogger(__name__)

OPEN_STATES = ("draft", "in_review")
STATE_NAMES = {"draft": "草稿", "in_review": "待审核", "published": "已发布", "superseded": "历史版本", "rejected": "已退回"}
ACTION_NAMES = {
    "save": "保存草稿", "submit": "提交审核", "withdraw": "撤回审核", "approve": "审核通过并发布", "reject": "退回修改",
    "rollback": "回滚", "import": "导入", "publish_import": "导入并发布",
}

# ------------------------------------------------------------------ readable labels

FIELD_LABELS: Dict[str, str] = {
    "id": "事项编号", "name": "名称", "domain": "领域", "audience": "服务对象类别", "item_type": "事项类型",
    "service_objects": "服务对象", "summary": "事项概述", "aliases": "别名", "resident_questions": "居民常见问法",
    "lead_department": "牵头部门", "cooperating_departments": "协同部门", "legal_basis": "设定依据",
    "conditions": "受理条件", "scenarios": "情形", "single_items": "单一事项", "materials": "所需材料",
    "fee": "收费", "deferral": "容缺受理", "process": "办理流程", "review_standards": "审查标准",
    "channels": "办理形式", "scope": "通办范围", "appointment": "预约办理", "online_payment": "网上支付",
    "delivery": "物流快递", "visits": "到现场次数", "places": "办理地点", "faqs": "常见问题",
    # nested
    "law": "法规名称", "article": "条款", "note": "说明", "days": "天数", "unit": "单位", "free": "不收费",
    "items": "收费项目", "basis": "收费依据", "amount": "金额", "step": "步骤", "actor": "办理主体",
    "description": "描述", "time_limit": "时限", "supported": "是否支持", "allowed": "允许容缺受理",
    "deadline_days": "补交期限（工作日）", "hall": "办理大厅", "window": "窗口", "q": "问题", "a": "回答",
    "department": "承办部门", "legal_limit": "法定办结时限", "promised_limit": "承诺办结时限", "after": "前置事项",
    "result": "办理结果", "catalogue": "材料目录", "source": "来源", "form": "形式", "copies": "份数",
    "medium": "介质", "requirement": "提供要求", "used_by": "适用单项", "holder": "持有人", "format": "文件格式要求",
    "types": "文件类型", "max_mb": "最大（MB）", "min_width": "最小宽度（像素）", "pages": "页数",
}
# a nested field whose meaning depends on its parent
CONTEXT_LABELS: Dict[Tuple[str, str], str] = {
    ("deferral", "materials"): "容缺材料", ("appointment", "channels"): "预约渠道",
    ("online_payment", "channels"): "支付渠道", ("delivery", "channels"): "寄递方式",
    ("single_items", "scenarios"): "适用情形", ("materials", "scenarios"): "适用情形",
    ("scenarios", "id"): "情形编码", ("materials", "name"): "材料名称",
}
LONG_TEXT = {"summary", "description", "a", "note", "result"}
# keys that identify an entry of a list, used to make diffs readable and robust to reordering
ENTRY_KEYS = ("id", "name", "q", "law", "step", "hall")


def _named_keys(path: Sequence[Any]) -> List[str]:
    return [str(p) for p in path if not isinstance(p, int)]


def field_label(path: Sequence[Any]) -> str:
    """'fee.items.0.amount' → '收费 › 收费项目 第1项 › 金额'."""
    parts: List[str] = []
    parent = ""
    for p in path:
        if isinstance(p, int) or (isinstance(p, str) and p.isdigit()):
            if parts:
                parts[-1] += f" 第{int(p) + 1}项"
            continue
        key = str(p)
        parts.append(CONTEXT_LABELS.get((parent, key), FIELD_LABELS.get(key, key)))
        parent = key
    return " › ".join(parts) or "整体"


# ------------------------------------------------------------------ problems located on fields


@dataclass(frozen=True)
class FieldProblem:
    """A validation problem tied to a field of the document (dotted path, '' = the whole guide)."""

    path: str
    message: str
    severity: str = "error"

    @property
    def label(self) -> str:
        return field_label(self.path.split(".")) if self.path else "整体"

    def as_dict(self) -> Dict[str, str]:
        return {"path": self.path, "label": self.label, "message": self.message, "severity": self.severity}

    def __str__(self) -> str:
        return f"{self.label}：{self.message}"


class EditRefused(Exception):
    """A change that was not made; ``message`` is Chinese, ``problems`` locate any field errors."""

    def __init__(self, message: str, problems: Sequence[FieldProblem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems)


def _located_node(doc: Any, path: Tuple[Any, ...], lines: Dict[int, Tuple[Any, ...]]) -> Any:
    """A ruamel tree of ``doc`` whose 'line numbers' are ids of paths, so validators' lines map back to fields."""
    if isinstance(doc, dict):
        node = CommentedMap()
        for k, v in doc.items():
            node[k] = _located_node(v, path + (k,), lines)
            n = len(lines) + 1
            lines[n + 1] = path + (k,)
            node.lc.add_kv_line_col(k, [n, 0, n, 0])
        return node
    if isinstance(doc, list):
        seq = CommentedSeq()
        for i, v in enumerate(doc):
            seq.append(_located_node(v, path + (i,), lines))
            n = len(lines) + 1
            lines[n + 1] = path + (i,)
            seq.lc.add_kv_line_col(i, [n, 0, n, 0])
        return seq
    return doc


_WHERE = re.compile(r"^([A-Za-z0-9_.]+|\(整体\)): ")


@dataclass
class Context:
    """What a single guide is checked against: the city, the catalogues and every other published guide."""

    profile: CityProfile | None
    materials: List[Tuple[MaterialType, str, int]]
    catalogue: List[CatalogueRow]
    others: Dict[str, Service]


class Validator:
    """Single-document validation with the very checks of ``guide kb validate`` (knowledge/validate.py)."""

    def __init__(self, store: Store, data_dir: Path) -> None:
        self.store = store
        self.data_dir = data_dir
        self._parsed: Dict[str, Tuple[str, Service]] = {}
        self._static: Tuple[str, Context] | None = None

    def context(self) -> Context:
        with self.store.session() as s:
            hashes = dict(s.execute(select(ServiceRow.id, ServiceRow.content_hash)).all())
        missing = [sid for sid, h in hashes.items() if self._parsed.get(sid, ("",))[0] != h]
        if missing:
            with self.store.session() as s:
                for row in s.execute(select(ServiceRow).where(ServiceRow.id.in_(missing))).scalars():
                    self._parsed[row.id] = (row.content_hash, Service.parse_obj(row.document))
        for sid in set(self._parsed) - set(hashes):
            del self._parsed[sid]
        profile_doc = self.store.profile()
        key = content_hash({"p": profile_doc, "m": len(self.store.materials())})
        if self._static is None or self._static[0] != key:
            ctx = Context(
                profile=CityProfile.parse_obj(profile_doc) if profile_doc else None,
                materials=[(MaterialType.parse_obj(d), "material_types", 1) for d in self.store.materials()],
                catalogue=read_catalogue(self.data_dir / "catalogue.csv"),
                others={},
            )
            self._static = (key, ctx)
        base = self._static[1]
        return Context(base.profile, base.materials, base.catalogue, {sid: svc for sid, (_, svc) in self._parsed.items()})

    def validate(self, document: Any, context: Context | None = None) -> Tuple[Service | None, List[FieldProblem]]:
        """The parsed guide (None when it has errors that stop parsing) and every problem, located on fields."""
        if not isinstance(document, dict):
            return None, [FieldProblem("", "内容须为键值结构（一个事项）")]
        ctx = context or self.context()
        lines: Dict[int, Tuple[Any, ...]] = {}
        node = _located_node(document, (), lines)
        tag = f"editor:{document.get('id', '')}"
        svc, errors = parse_model(Service, node, tag)
        if svc is None:
            return None, [self._locate(p, lines) for p in errors]
        src = Sources(
            profile=ctx.profile,
            materials=ctx.materials,
            services=[(o, f"db:{sid}", None) for sid, o in ctx.others.items() if sid != svc.id] + [(svc, tag, node)],
            catalogue=ctx.catalogue,
            problems=[],
        )
        problems = [self._locate(p, lines) for p in check_sources(src, require_all=False) if p.file == tag]
        return svc, problems

    @staticmethod
    def _locate(p: Problem, lines: Dict[int, Tuple[Any, ...]]) -> FieldProblem:
        m = _WHERE.match(p.message)
        if m:  # schema errors name their field exactly
            where = m.group(1)
            return FieldProblem("" if where == "(整体)" else where, p.message[m.end():], p.severity)
        path = lines.get(p.line, ())
        return FieldProblem(".".join(str(x) for x in path), p.message, p.severity)


def errors_of(problems: Sequence[FieldProblem]) -> List[FieldProblem]:
    return [p for p in problems if p.severity == "error"]


def canonical(svc: Service) -> Dict[str, Any]:
    """The stored form of a guide (enums as their Chinese values)."""
    return json.loads(svc.json(ensure_ascii=False))


# ------------------------------------------------------------------ diffs


@dataclass(frozen=True)
class Change:
    path: str
    label: str
    kind: str  # added | removed | changed
    before: str
    after: str

    def as_dict(self) -> Dict[str, str]:
        return {"path": self.path, "label": self.label, "kind": self.kind, "before": self.before, "after": self.after}


def _entry_key(value: Any) -> str | None:
    if isinstance(value, dict):
        for k in ENTRY_KEYS:
            if value.get(k):
                return f"{k}={value[k]}"
    return None


def _flatten(doc: Any, path: Tuple[Any, ...], labels: Tuple[str, ...], out: Dict[Tuple[Any, ...], Tuple[Tuple[str, ...], Any]]) -> None:
    """Leaves keyed by a stable path (list entries by their name, not their position)."""
    if isinstance(doc, dict):
        if not doc:
            out[path] = (labels, {})
        parent = next((str(p) for p in reversed(path) if isinstance(p, str) and "=" not in p and not p.startswith("#")), "")
        for k, v in doc.items():
            label = str(CONTEXT_LABELS.get((parent, k), FIELD_LABELS.get(k, k)))
            _flatten(v, path + (k,), labels + (label,), out)
    elif isinstance(doc, list):
        keys = [_entry_key(v) for v in doc]
        keyed = all(keys) and len(set(keys)) == len(keys)
        if not doc or not any(isinstance(v, (dict, list)) for v in doc):
            out[path] = (labels, list(doc))  # a list of plain values reads best as one value
            return
        for i, v in enumerate(doc):
            key = str(keys[i]) if keyed else f"#{i + 1}"
            shown = f"「{str(key).split('=', 1)[1]}」" if keyed else f"第{i + 1}项"
            _flatten(v, path + (key,), labels[:-1] + (labels[-1] + shown,) if labels else (shown,), out)
    else:
        out[path] = (labels, doc)


def _show(value: Any) -> str:
    if value is None:
        return "（空）"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "、".join(_show(v) for v in value) if value else "（无）"
    if isinstance(value, dict):
        return "（空）" if not value else json.dumps(value, ensure_ascii=False)
    return str(value) if value != "" else "（空）"


def diff_documents(before: Dict[str, Any] | None, after: Dict[str, Any]) -> List[Change]:
    """Field-level differences with Chinese labels, in the order of the guide."""
    a: Dict[Tuple[Any, ...], Tuple[Tuple[str, ...], Any]] = {}
    b: Dict[Tuple[Any, ...], Tuple[Tuple[str, ...], Any]] = {}
    _flatten(before or {}, (), (), a)
    _flatten(after, (), (), b)
    order = list(b) + [k for k in a if k not in b]
    changes: List[Change] = []
    for key in order:
        path = ".".join(str(p) for p in key)
        if key not in a:
            labels, value = b[key]
            changes.append(Change(path, " › ".join(labels), "added", "", _show(value)))
        elif key not in b:
            labels, value = a[key]
            changes.append(Change(path, " › ".join(labels), "removed", _show(value), ""))
        elif a[key][1] != b[key][1]:
            labels = b[key][0]
            changes.append(Change(path, " › ".join(labels), "changed", _show(a[key][1]), _show(b[key][1])))
    return changes


# ------------------------------------------------------------------ the change log and draft bookkeeping

metadata = MetaData()
change_log = Table(
    "editor_change_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False, index=True),
    Column("service_id", String(8), nullable=False, index=True),
    Column("version", Integer, nullable=True),
    Column("actor", String(100), nullable=False),
    Column("action", String(32), nullable=False),
    Column("detail", Text, nullable=False, default=""),
)
drafts = Table(
    "editor_drafts",
    metadata,
    Column("service_id", String(8), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("base_version", Integer, nullable=True),
    Column("contributors", Text, nullable=False, default=""),
)
_ready: set = set()


@dataclass
class Entry:
    at: datetime
    version: int | None
    actor: str
    action: str
    detail: str

    @property
    def action_name(self) -> str:
        return ACTION_NAMES.get(self.action, self.action)


@dataclass
class ServiceStatus:
    id: str
    name: str
    domain: str
    lead_department: str
    published_version: int
    updated_at: datetime
    updated_by: str
    open_version: int | None = None
    open_state: str | None = None
    open_author: str | None = None
    last_rejected: bool = False

    @property
    def status(self) -> str:
        return self.open_state or ("rejected" if self.last_rejected else "published")

    @property
    def status_name(self) -> str:
        return STATE_NAMES[self.status] if self.status != "published" else "已发布"


@dataclass
class Outcome:
    version: int | None
    problems: List[FieldProblem] = field(default_factory=list)
    message: str = ""


def default_on_publish(store: Store, process_holder: "KnowledgeHolder | None" = None) -> Callable[[List[str]], None]:
    """Tell every process (Redis pub/sub) and reload this one's knowledge base if it reads the same database
    (``process_holder``: this process's holder, the global one by default)."""

    def notify(service_ids: List[str]) -> None:
        from knowledge.base import holder
        from knowledge.events import announce_change, freshness

        announce_change(service_ids, quiet=True)
        h = process_holder or holder()
        if str(h.store.engine.url) == str(store.engine.url):
            # reload now (the editor sees the result at once) and note the version, so this process's listener
            # does not load the same version again when its own announcement arrives
            freshness(h).refresh()

    return notify


class Editor:
    """Use cases of the content editors' workspace, over one store."""

    def __init__(self, store: Store, data_dir: Path, on_publish: Callable[[List[str]], None] | None = None) -> None:
        self.store = store
        self.validator = Validator(store, data_dir)
        self.on_publish = on_publish or default_on_publish(store)
        if str(store.engine.url) not in _ready:
            create_tables(metadata, store.engine)
            _ready.add(str(store.engine.url))

    # ----------------------------------------------------------- reads

    def statuses(self) -> List[ServiceStatus]:
        with self.store.session() as s:
            rows = list(s.execute(select(ServiceRow).order_by(ServiceRow.id)).scalars())
            opens = s.execute(select(VersionRow.service_id, VersionRow.version, VersionRow.state, VersionRow.author)
                              .where(VersionRow.state.in_(OPEN_STATES))).all()
            last = s.execute(select(VersionRow.service_id, VersionRow.state, VersionRow.version)
                             .where(VersionRow.state.in_(("rejected", "published")))).all()
        by_open = {sid: (v, st, a) for sid, v, st, a in opens}
        latest: Dict[str, Tuple[int, str]] = {}
        for sid, st, v in last:
            if sid not in latest or v > latest[sid][0]:
                latest[sid] = (v, st)
        out = []
        for r in rows:
            o = by_open.get(r.id)
            out.append(ServiceStatus(r.id, r.name, r.domain, r.lead_department, r.published_version, r.updated_at, r.updated_by,
                                     o[0] if o else None, o[1] if o else None, o[2] if o else None,
                                     latest.get(r.id, (0, ""))[1] == "rejected"))
        return out

    def published(self, service_id: str) -> Dict[str, Any]:
        row = self.store.service(service_id)
        if row is None:
            raise EditRefused(f"没有事项 {service_id}")
        return dict(row.document)

    def open_change(self, service_id: str) -> VersionRow | None:
        with self.store.session() as s:
            q = select(VersionRow).where(VersionRow.service_id == service_id, VersionRow.state.in_(OPEN_STATES))
            return s.execute(q.order_by(VersionRow.version.desc())).scalars().first()

    def version(self, service_id: str, version: int) -> VersionRow:
        row = self.store.version(service_id, version)
        if row is None:
            raise EditRefused(f"事项 {service_id} 没有第 {version} 版")
        return row

    def history(self, service_id: str) -> List[VersionRow]:
        return self.store.versions(service_id)

    def change_log(self, service_id: str, limit: int = 200) -> List[Entry]:
        q = select(change_log).where(change_log.c.service_id == service_id).order_by(change_log.c.id.desc()).limit(limit)
        with self.store.engine.connect() as conn:
            return [Entry(r["at"], r["version"], r["actor"], r["action"], r["detail"]) for r in conn.execute(q).mappings()]

    def contributors(self, service_id: str, version: int) -> List[str]:
        with self.store.engine.connect() as conn:
            row = conn.execute(select(drafts.c.contributors).where(drafts.c.service_id == service_id,
                                                                  drafts.c.version == version)).first()
        names = [n for n in (row[0] if row else "").split(",") if n]
        author = self.version(service_id, version).author
        return list(dict.fromkeys([author, *names]))

    def draft_versions(self, service_id: str) -> set:
        """Versions that began as drafts (their content, once approved, was published as a new version)."""
        with self.store.engine.connect() as conn:
            return {v for (v,) in conn.execute(select(drafts.c.version).where(drafts.c.service_id == service_id))}

    def was_published(self, service_id: str, version: int) -> bool:
        row = self.store.version(service_id, version)
        return row is not None and row.state in ("published", "superseded") and version not in self.draft_versions(service_id)

    def diff(self, service_id: str, old: int | None, new: int) -> List[Change]:
        after = self.version(service_id, new).document
        before = self.version(service_id, old).document if old else None
        return diff_documents(before, after)

    def diff_to_published(self, service_id: str, version: int) -> List[Change]:
        return diff_documents(self.published(service_id), self.version(service_id, version).document)

    # ----------------------------------------------------------- writes

    def validate(self, document: Any) -> Tuple[Service | None, List[FieldProblem]]:
        return self.validator.validate(document)

    @staticmethod
    def _log(s: Session, service_id: str, version: int | None, actor: str, action: str, detail: str = "") -> None:
        s.execute(change_log.insert().values(at=utcnow(), service_id=service_id, version=version, actor=actor[:100],
                                             action=action, detail=detail[:4000]))

    def _checked(self, service_id: str, document: Any) -> Tuple[Dict[str, Any], List[FieldProblem]]:
        if isinstance(document, dict) and document.get("id") not in (None, service_id):
            raise EditRefused(f"事项编号不能修改（应为 {service_id}）", [FieldProblem("id", f"事项编号须为 {service_id}")])
        svc, problems = self.validate(document)
        if svc is None or errors_of(problems):
            errs = errors_of(problems)
            raise EditRefused(f"有 {len(errs)} 处错误，未保存", errs)
        return canonical(svc), problems

    def save_draft(self, service_id: str, document: Any, author: str, reason: str = "") -> Outcome:
        """Create or update the open draft; refused (nothing written) when the guide has errors."""
        published = self.published(service_id)
        doc, problems = self._checked(service_id, document)
        digest = content_hash(doc)
        with self.store.session() as s, s.begin():
            q = select(VersionRow).where(VersionRow.service_id == service_id, VersionRow.state.in_(OPEN_STATES))
            open_row = s.execute(q.with_for_update()).scalars().first()
            if open_row is not None and open_row.state == "in_review":
                raise EditRefused(f"第 {open_row.version} 版正在审核中，请等待审核结果或先撤回后再修改")
            if digest == content_hash(published) and open_row is None:
                raise EditRefused("内容与当前发布版本相同，没有需要保存的修改")
            if open_row is None:
                version = Store._next_version(s, service_id)
                row = s.get(ServiceRow, service_id)
                s.add(VersionRow(service_id=service_id, version=version, state="draft", document=doc, content_hash=digest,
                                 author=author, reason=reason, created_at=utcnow()))
                s.execute(drafts.insert().values(service_id=service_id, version=version,
                                                 base_version=row.published_version if row else None, contributors=author))
            else:
                version = open_row.version
                open_row.document, open_row.content_hash = doc, digest
                if reason:
                    open_row.reason = reason
                names = self._contributors_in(s, service_id, version)
                if author not in names:
                    s.execute(drafts.update().where(drafts.c.service_id == service_id, drafts.c.version == version)
                              .values(contributors=",".join(names + [author])))
            self._log(s, service_id, version, author, "save", reason)
        return Outcome(version, problems, f"已保存为第 {version} 版草稿")

    @staticmethod
    def _contributors_in(s: Session, service_id: str, version: int) -> List[str]:
        row = s.execute(select(drafts.c.contributors).where(drafts.c.service_id == service_id, drafts.c.version == version)).first()
        return [n for n in (row[0] if row else "").split(",") if n]

    def _open_row(self, s: Session, service_id: str, version: int, state: str) -> VersionRow:
        q = select(VersionRow).where(VersionRow.service_id == service_id, VersionRow.version == version)
        row = s.execute(q.with_for_update()).scalars().first()
        if row is None:
            raise EditRefused(f"事项 {service_id} 没有第 {version} 版")
        if row.state != state:
            raise EditRefused(f"第 {version} 版当前状态为“{STATE_NAMES.get(row.state, row.state)}”，不能执行此操作")
        return row

    def submit(self, service_id: str, version: int, actor: str, reason: str = "") -> Outcome:
        with self.store.session() as s, s.begin():
            row = self._open_row(s, service_id, version, "draft")
            if reason:
                row.reason = reason
            if not row.reason:
                raise EditRefused("请填写修改说明（审核人据此审核）")
            row.state = "in_review"
            self._log(s, service_id, version, actor, "submit", row.reason)
        return Outcome(version, message=f"第 {version} 版已提交审核")

    def withdraw(self, service_id: str, version: int, actor: str, admin: bool = False) -> Outcome:
        """Take a submitted change back to draft: only its authors (or an admin) may."""
        with self.store.session() as s, s.begin():
            row = self._open_row(s, service_id, version, "in_review")
            authors = set(self._contributors_in(s, service_id, version)) | {row.author}
            if not admin and actor not in authors:
                raise EditRefused(f"只有这次修改的作者（{'、'.join(sorted(authors))}）或管理员可以撤回审核")
            row.state = "draft"
            self._log(s, service_id, version, actor, "withdraw")
        return Outcome(version, message=f"第 {version} 版已撤回为草稿")

    def reject(self, service_id: str, version: int, reviewer: str, reason: str) -> Outcome:
        if not reason.strip():
            raise EditRefused("退回时请写明原因")
        with self.store.session() as s, s.begin():
            row = self._open_row(s, service_id, version, "in_review")
            row.state, row.reviewer, row.decided_at = "rejected", reviewer, utcnow()
            self._log(s, service_id, version, reviewer, "reject", reason.strip())
        return Outcome(version, message=f"第 {version} 版已退回")

    def approve(self, service_id: str, version: int, reviewer: str) -> Outcome:
        """Publish a submitted change; the reviewer may not be one of its authors."""
        draft = self.version(service_id, version)
        if draft.state != "in_review":
            raise EditRefused(f"第 {version} 版当前状态为“{STATE_NAMES.get(draft.state, draft.state)}”，只有待审核的版本可以发布")
        if reviewer in self.contributors(service_id, version):
            raise EditRefused("审核人不能审核自己编写的修改，请由另一位审核人发布")
        doc, _ = self._checked(service_id, draft.document)  # the catalogue or another guide may have changed since
        with self.store.session() as s, s.begin():
            row = self._open_row(s, service_id, version, "in_review")
            base = s.execute(select(drafts.c.base_version).where(drafts.c.service_id == service_id,
                                                                drafts.c.version == version)).scalar()
            service = s.get(ServiceRow, service_id)
            if service is not None and base is not None and service.published_version != base:
                raise EditRefused(f"草稿基于第 {base} 版，此后已发布第 {service.published_version} 版；请退回，由编辑在最新版本上重新修改")
            published = self.store.publish_in(s, doc, author=row.author, reason=row.reason, reviewer=reviewer)
            row.state, row.reviewer, row.decided_at = "superseded", reviewer, utcnow()
            if published is None:
                raise EditRefused("内容与当前发布版本相同，无需发布")
            self._log(s, service_id, published, reviewer, "approve", f"审核第 {version} 版（作者 {row.author}）：{row.reason}")
        self.on_publish([service_id])
        return Outcome(published, message=f"已发布为第 {published} 版")

    def rollback(self, service_id: str, to_version: int, actor: str, reason: str = "") -> Outcome:
        """Publish an earlier version's content again, as a new version, through the same checks."""
        old = self.version(service_id, to_version)
        if not self.was_published(service_id, to_version):
            raise EditRefused("只能回滚到曾经发布过的版本")
        doc, _ = self._checked(service_id, old.document)
        why = f"回滚到第 {to_version} 版" + (f"：{reason.strip()}" if reason.strip() else "")
        with self.store.session() as s, s.begin():
            published = self.store.publish_in(s, doc, author=actor, reason=why, reviewer=actor)
            if published is None:
                raise EditRefused(f"当前发布内容已与第 {to_version} 版相同")
            self._log(s, service_id, published, actor, "rollback", why)
        self.on_publish([service_id])
        return Outcome(published, message=f"已回滚：第 {to_version} 版的内容发布为第 {published} 版")

    def publish_documents(self, documents: List[Dict[str, Any]], actor: str, reason: str, action: str = "publish_import") -> List[Tuple[str, int]]:
        """Publish several already-validated guides in one transaction (admin import)."""
        done: List[Tuple[str, int]] = []
        with self.store.session() as s, s.begin():
            for doc in documents:
                version = self.store.publish_in(s, doc, author=actor, reason=reason, reviewer=actor)
                if version is not None:
                    self._log(s, doc["id"], version, actor, action, reason)
                    done.append((doc["id"], version))
        if done:
            self.on_publish([sid for sid, _ in done])
        return done

    def submit_documents(self, documents: List[Dict[str, Any]], actor: str, reason: str) -> List[Tuple[str, int]]:
        """Turn several validated guides into changes awaiting review, in one transaction (all or nothing)."""
        made: List[Tuple[str, int]] = []
        with self.store.session() as s, s.begin():
            for doc in documents:
                sid = doc["id"]
                open_row = s.execute(select(VersionRow).where(VersionRow.service_id == sid, VersionRow.state.in_(OPEN_STATES))).scalars().first()
                if open_row is not None:
                    raise EditRefused(f"事项 {sid} 已有未完成的修改（第 {open_row.version} 版，{STATE_NAMES[open_row.state]}），请先处理后再导入")
                row = s.get(ServiceRow, sid)
                digest = content_hash(doc)
                if row is not None and row.content_hash == digest:
                    continue
                version = Store._next_version(s, sid)
                s.add(VersionRow(service_id=sid, version=version, state="in_review", document=doc, content_hash=digest,
                                 author=actor, reason=reason, created_at=utcnow()))
                s.flush()
                s.execute(drafts.insert().values(service_id=sid, version=version,
                                                 base_version=row.published_version if row else None, contributors=actor))
                self._log(s, sid, version, actor, "import", reason)
                made.append((sid, version))
        return made

    def review_queue(self) -> List[VersionRow]:
        with self.store.session() as s:
            q = select(VersionRow).where(VersionRow.state == "in_review").order_by(VersionRow.created_at)
            return list(s.execute(q).scalars())


def field_spec(model: type) -> List[Dict[str, Any]]:
    """The form a browser builds for ``model``: field names, Chinese labels, kinds, choices, defaults."""
    from enum import Enum

    from pydantic.fields import SHAPE_LIST

    out: List[Dict[str, Any]] = []
    for name, f in model.__fields__.items():  # type: ignore[attr-defined]
        t = f.type_
        spec: Dict[str, Any] = {"name": name, "label": FIELD_LABELS.get(name, name), "required": bool(f.required),
                                "list": f.shape == SHAPE_LIST, "optional": bool(f.allow_none)}
        if isinstance(t, type) and issubclass(t, BaseModel):
            spec["kind"], spec["fields"] = "object", field_spec(t)
        elif isinstance(t, type) and issubclass(t, Enum):
            spec["kind"], spec["options"] = "enum", [m.value for m in t]
        elif t is bool:
            spec["kind"] = "bool"
        elif t in (int, float):
            spec["kind"] = "number"
        else:
            spec["kind"] = "long" if name in LONG_TEXT else "text"
        if not f.required and f.default is not None and not isinstance(f.default, BaseModel):
            spec["default"] = f.default.value if isinstance(f.default, Enum) else f.default
        out.append(spec)
    return out


def editor_for(store: Store | None = None) -> Editor:
    """The editor over this process's configured database."""
    from guide.settings import get_settings

    settings = get_settings()
    return Editor(store or Store(settings.db_url), settings.data_dir)
