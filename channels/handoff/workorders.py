"""12345 work orders: created from a conversation or an off-hours message, worked through the hotline flow.

Stages follow the 12345 hotline: 受理 → 派单 → 办理 → 答复 → 回访 → 评价 (then 办结), each
with its own time limit.  Numbers are ``GD`` + date + a six-digit daily sequence taken
from a Redis counter (atomic across processes) and guarded by a unique index; if the
counter was lost, the next number is recovered from the database.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, Text, func, select
from sqlalchemy.exc import IntegrityError

from guide.masking import mask
from guide.redis import get_redis
from guide.settings import get_settings
from knowledge.store import engine_with

STAGES = ("受理", "派单", "办理", "答复", "回访", "评价", "办结")
SOURCES = {"conversation": "在线导办会话", "off_hours": "非工作时间留言", "queue_timeout": "排队超时留言", "no_agent": "无在线专员留言"}
NUMBER = re.compile(r"GD\d{14}")


def stage_hours(stage: str) -> int:
    """Time limit of a stage in hours (答复 within the configured days counts from 办理)."""
    return {"受理": 2, "派单": 24, "办理": get_settings().workorder_reply_days * 24, "答复": 24, "回访": 72, "评价": 72}.get(stage, 0)


metadata = MetaData()
work_orders = Table(
    "work_orders",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("number", String(32), nullable=False, unique=True),
    Column("sender", String(80), nullable=False, index=True, default=""),
    Column("channel", String(16), nullable=False, default=""),
    Column("source", String(16), nullable=False),
    Column("service_id", String(16), nullable=False, default=""),
    Column("title", String(200), nullable=False, default=""),
    Column("content", Text, nullable=False, default=""),
    Column("context", Text, nullable=False, default=""),
    Column("phone", String(32), nullable=False, default=""),
    Column("stage", String(8), nullable=False),
    Column("department", String(64), nullable=False, default=""),
    Column("reply", Text, nullable=False, default=""),
    Column("evaluation", String(16), nullable=False, default=""),
    Column("stage_due", DateTime, nullable=True),
    Column("reply_due", DateTime, nullable=False),
    Column("created_by", String(64), nullable=False, default=""),
    Column("created_at", DateTime, nullable=False, index=True),
    Column("updated_at", DateTime, nullable=False),
    Column("history", Text, nullable=False, default="[]"),
)


def _engine():  # type: ignore[no-untyped-def]
    return engine_with(metadata, get_settings().db_url)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _local_day() -> str:
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(get_settings().handoff_timezone)).strftime("%Y%m%d")


def _next_number(day: str, recover: bool = False) -> str:
    r = get_redis()
    key = f"guide:workorder:seq:{day}"
    if recover:  # the counter is behind the database (Redis lost it): continue after the highest stored number
        with _engine().connect() as c:
            top = c.execute(select(func.max(work_orders.c.number)).where(work_orders.c.number.like(f"GD{day}%"))).scalar()
        if top:
            r.set(key, max(int(top[-6:]), int(r.get(key) or 0)))
    seq = int(r.incr(key))
    r.expire(key, 3 * 24 * 3600)
    return f"GD{day}{seq:06d}"


def create(sender: str, channel: str, source: str, content: str, service_id: str = "", title: str = "", phone: str = "",
           created_by: str = "", context: str = "", department: str = "") -> Dict[str, Any]:
    """Open a work order at stage 受理; returns it (with its number)."""
    if source not in SOURCES:
        raise ValueError(f"未知工单来源：{source}")
    content = (content or "").strip()
    if not content:
        raise ValueError("工单内容不能为空")
    if not title:
        title = content.splitlines()[0][:40]
    now = _now()
    day = _local_day()
    history = [{"at": now.isoformat(timespec="seconds"), "stage": "受理", "by": created_by or "resident", "note": SOURCES[source]}]
    recover = False
    for _ in range(8):
        number = _next_number(day, recover)
        try:
            with _engine().begin() as c:
                c.execute(work_orders.insert().values(
                    number=number, sender=sender, channel=channel, source=source, service_id=service_id, title=mask(title)[:200],
                    content=content[:4000], context=mask(context)[:8000], phone=phone[:32], stage="受理", department=department,
                    stage_due=now + timedelta(hours=stage_hours("受理")),
                    reply_due=now + timedelta(days=get_settings().workorder_reply_days), created_by=created_by, created_at=now,
                    updated_at=now, history=json.dumps(history, ensure_ascii=False)))
            break
        except IntegrityError:
            recover = True
    else:
        raise RuntimeError("工单编号分配失败，请重试")
    from channels.audit import audit

    audit(created_by or "resident", "workorder.create", number, f"来源：{SOURCES[source]}；会话 {sender}")
    return get(number)  # type: ignore[return-value]


def _row(row: Any, masked: bool) -> Dict[str, Any]:
    d = dict(row)
    d["history"] = json.loads(d["history"] or "[]")
    d["source_name"] = SOURCES.get(d["source"], d["source"])
    d["overdue"] = bool(d["stage_due"] and d["stage"] not in ("办结",) and d["stage_due"] < _now())
    for k in ("stage_due", "reply_due", "created_at", "updated_at"):
        d[k] = d[k].isoformat(timespec="seconds") + "Z" if d[k] else ""
    if masked:
        d["content"] = mask(d["content"])
        d["phone"] = mask(d["phone"])
    return d


def get(number: str, masked: bool = False) -> Optional[Dict[str, Any]]:
    with _engine().connect() as c:
        row = c.execute(select(work_orders).where(work_orders.c.number == number.strip().upper())).mappings().first()
    return _row(row, masked) if row else None


def listing(stage: str = "", limit: int = 100, sender: str = "") -> List[Dict[str, Any]]:
    """Work orders, newest first, masked (a list never shows ID or phone numbers in clear)."""
    q = select(work_orders).order_by(work_orders.c.id.desc()).limit(limit)
    if stage:
        q = q.where(work_orders.c.stage == stage)
    if sender:
        q = q.where(work_orders.c.sender == sender)
    with _engine().connect() as c:
        return [_row(r, masked=True) for r in c.execute(q).mappings()]


def advance(number: str, actor: str, note: str = "", department: str = "", reply: str = "", evaluation: str = "") -> Dict[str, Any]:
    """Move a work order to its next stage (no skipping): 派单 needs a department, 答复 a reply, 评价 an evaluation."""
    order = get(number)
    if order is None:
        raise ValueError(f"没有工单 {number}")
    i = STAGES.index(order["stage"])
    if i >= len(STAGES) - 1:
        raise ValueError("工单已办结")
    nxt = STAGES[i + 1]
    values: Dict[str, Any] = {"stage": nxt, "updated_at": _now()}
    if nxt == "派单":
        if not department.strip():
            raise ValueError("派单须填写承办单位")
        values["department"] = department.strip()[:64]
    if nxt == "答复":
        if not reply.strip():
            raise ValueError("答复须填写答复内容")
        values["reply"] = reply.strip()[:4000]
    if nxt == "评价":
        if evaluation not in ("非常满意", "满意", "基本满意", "不满意", "非常不满意"):
            raise ValueError("请选择居民评价")
        values["evaluation"] = evaluation
    hours = stage_hours(nxt)
    values["stage_due"] = _now() + timedelta(hours=hours) if hours else None
    history = order["history"] + [{"at": _now().isoformat(timespec="seconds"), "stage": nxt, "by": actor,
                                   "note": mask(note or department or reply or evaluation)[:500]}]
    values["history"] = json.dumps(history, ensure_ascii=False)
    with _engine().begin() as c:
        done = c.execute(work_orders.update().where(work_orders.c.number == order["number"], work_orders.c.stage == order["stage"])
                         .values(**values)).rowcount
    if not done:
        raise ValueError("工单已被他人更新，请刷新后重试")
    from channels.audit import audit

    audit(actor, "workorder.advance", order["number"], f"{order['stage']} → {nxt}；{note or department or reply or evaluation}")
    return get(order["number"])  # type: ignore[return-value]


def created_for(sender: str, content: str, since: float) -> Optional[Dict[str, Any]]:
    """The order already opened for this resident's message (a retry after a crash must not open a second one)."""
    after = datetime.fromtimestamp(since - 5, timezone.utc).replace(tzinfo=None) if since else datetime(2000, 1, 1)
    q = (select(work_orders.c.number).where(work_orders.c.sender == sender, work_orders.c.created_at >= after,
                                            work_orders.c.content == (content or "").strip()[:4000])
         .order_by(work_orders.c.id).limit(1))
    with _engine().connect() as c:
        number = c.execute(q).scalar()
    return get(number) if number else None


def status_text(number: str, owner: bool = True) -> str:
    """What the resident is told when asking for a work order by number.

    ``owner=False`` (someone who proved the phone number's last digits from another account): the
    stage and the deadline only, never the department or the reply.
    """
    order = get(number)
    if order is None:
        return not_found_text(number)
    parts = [f"工单 {order['number']}（{mask(order['title'])}）当前环节：{order['stage']}" if owner
             else f"工单 {order['number']} 当前环节：{order['stage']}"]
    if owner and order["department"]:
        parts.append(f"承办单位：{order['department']}")
    if order["stage"] in ("受理", "派单", "办理"):
        parts.append(f"预计答复期限：{order['reply_due'][:10]}")
    if owner and order["reply"]:
        parts.append(f"答复内容：{order['reply']}")
    elif order["reply"]:
        parts.append("答复内容请使用提交工单时的账号查看，或拨打12345政务服务便民热线查询")
    return "；".join(parts) + "。"


def not_found_text(number: str) -> str:
    return f"没有查到编号为 {number} 的工单，请核对编号（格式如 GD20261123000123）。"


TAIL = re.compile(r"(?:尾号|后四位|后4位)\D{0,4}?(\d{4})(?!\d)")
PROOF_TRIES = 5  # wrong last-four guesses per resident, and per order, within PROOF_WINDOW_S
PROOF_WINDOW_S = 3600


def refusal_text(number: str) -> str:
    return (f"为保护个人信息，工单 {number} 只能由提交人查询。请使用提交工单时的同一账号发送“查询工单 {number}”；"
            f"如更换了设备或账号，请发送“查询工单 {number} 尾号XXXX”（XXXX 为登记手机号的后四位），"
            "或拨打12345政务服务便民热线查询。")


def status_for(number: str, sender: str, text: str = "") -> str:
    """A work order's progress for the resident ``sender`` who asked in ``text``.

    Numbers are sequential, so knowing one proves nothing: the resident who submitted the order
    (same conversation id) sees everything; anyone else must give the last four digits of the
    phone number on the order ("尾号5678"), and then sees the stage only.  Wrong guesses are
    counted per resident and per order, so the four digits cannot be tried one by one.
    """
    order = get(number)
    if order is None:
        return not_found_text(number)
    if order["sender"] == sender:
        return status_text(order["number"])
    tail = TAIL.search(text or "")
    digits = re.sub(r"\D", "", order["phone"] or "")
    if tail is None or len(digits) < 4:
        return refusal_text(order["number"])
    r = get_redis()
    keys = (f"guide:workorder:proof:{sender}", f"guide:workorder:proof:{order['number']}")
    if any(int(r.get(k) or 0) >= PROOF_TRIES for k in keys):
        return (f"查询工单 {order['number']} 的验证次数过多，请稍后再试，或拨打12345政务服务便民热线查询。")
    if tail.group(1) != digits[-4:]:
        pipe = r.pipeline()
        for k in keys:
            pipe.incr(k)
            pipe.expire(k, PROOF_WINDOW_S)
        pipe.execute()
        return refusal_text(order["number"])
    from channels.audit import audit

    audit(sender, "workorder.status_by_phone", order["number"], "以手机号后四位验证查询")
    return status_text(order["number"], owner=False)


def find_number(text: str) -> Optional[str]:
    m = NUMBER.search((text or "").upper())
    return m.group(0) if m else None
