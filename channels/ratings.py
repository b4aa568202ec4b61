"""好差评: five-level ratings of the bot and of agents, and the rectifications bad ones open.

A rating after an agent closed the conversation is tied to that agent and service (the
handoff service leaves a marker when it asks); otherwise it rates the bot.  The two
lowest levels open a rectification with a deadline that supervisors work in the
workbench; when it is done the resident is told the outcome through their channel.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional, Tuple

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, Text, select

from guide.masking import mask
from guide.redis import get_redis
from guide.settings import get_settings
from knowledge.store import engine_with

LEVELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
RECTIFY_STATUS = ("待整改", "整改中", "已整改")
CONTEXTS = {"bot": "智能助手", "agent": "人工服务"}

metadata = MetaData()
ratings = Table(
    "ratings",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False, index=True),
    Column("sender", String(80), nullable=False, index=True),
    Column("channel", String(16), nullable=False, default=""),
    Column("level", Integer, nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("context", String(8), nullable=False),
    Column("agent", String(64), nullable=False, default=""),
    Column("service_id", String(16), nullable=False, default=""),
    Column("episode", String(16), nullable=False, default=""),
)
rectifications = Table(
    "rectifications",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("rating_id", Integer, nullable=False, index=True),
    Column("sender", String(80), nullable=False),
    Column("channel", String(16), nullable=False, default=""),
    Column("level", Integer, nullable=False),
    Column("context", String(8), nullable=False),
    Column("agent", String(64), nullable=False, default=""),
    Column("service_id", String(16), nullable=False, default=""),
    Column("comment", Text, nullable=False, default=""),
    Column("status", String(8), nullable=False, index=True),
    Column("owner", String(64), nullable=False, default=""),
    Column("outcome", Text, nullable=False, default=""),
    Column("deadline", DateTime, nullable=False, index=True),
    Column("created_at", DateTime, nullable=False),
    Column("done_at", DateTime, nullable=True),
    Column("notified", String(8), nullable=False, default=""),
    Column("history", Text, nullable=False, default="[]"),
)


def _engine():  # type: ignore[no-untyped-def]
    return engine_with(metadata, get_settings().db_url)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _due_key(sender: str) -> str:
    return f"guide:rating:due:{sender}"


def _rated_key(sender: str) -> str:
    return f"guide:rating:rated:{sender}"  # hash: episode key → "rating id:level"


def _bot_episode_key(sender: str) -> str:
    return f"guide:rating:bot_episode:{sender}"


KEEP_S = 30 * 24 * 3600


def expect(sender: str, agent: str, agent_name: str = "", service_id: str = "", episode: str = "") -> None:
    """The handoff service asked for a rating of an agent's service: the next rating belongs to it."""
    get_redis().set(_due_key(sender), json.dumps({"agent": agent, "agent_name": agent_name, "service_id": service_id,
                                                  "episode": episode}, ensure_ascii=False), ex=24 * 3600)


def prompt_bot(sender: str) -> None:
    """The bot asked for a rating (its part of the conversation ended): a new bot episode starts,
    unless the current one has not been rated yet (asking twice is still one episode)."""
    r = get_redis()
    current = int(r.get(_bot_episode_key(sender)) or 0)
    if r.hexists(_rated_key(sender), f"bot:{current}"):
        r.incr(_bot_episode_key(sender))
    r.expire(_bot_episode_key(sender), KEEP_S)


def _marker(sender: str) -> Optional[Dict[str, str]]:
    raw = get_redis().get(_due_key(sender))
    return json.loads(raw) if raw else None


def pending(sender: str) -> Optional[Dict[str, str]]:
    """The agent episode awaiting this resident's rating (None once it has been rated)."""
    due = _marker(sender)
    if due and not get_redis().hexists(_rated_key(sender), f"agent:{due.get('episode', '')}"):
        return due
    return None


def level_of(text: str) -> Optional[int]:
    """The level named in a resident's words ("非常满意" … "非常不满意"), longest name first."""
    for level, name in sorted(LEVELS.items(), key=lambda kv: len(kv[1]), reverse=True):
        if name in (text or ""):
            return level
    return None


def _episode_of(sender: str, context: str, agent: str) -> Tuple[str, str, str, Dict[str, str]]:
    """(context, episode key, agent, marker) of a rating: the agent episode awaiting one, else the bot's current one."""
    due = _marker(sender)
    if due and (context == "agent" or not agent):
        key = f"agent:{due.get('episode', '')}"
        if context == "agent" or not get_redis().hexists(_rated_key(sender), key):
            return "agent", key, agent or due.get("agent", ""), due
    if context == "agent" and not agent:
        context = "bot"  # nothing to tie it to: the resident rates the service they just had from the bot
    if context not in CONTEXTS:
        context = "bot"
    if context == "agent":
        return context, f"agent:{agent}", agent, {}
    return "bot", f"bot:{int(get_redis().get(_bot_episode_key(sender)) or 0)}", agent, {}


def submit(sender: str, channel: str, level: int, comment: str = "", context: str = "bot", agent: str = "",
           service_id: str = "") -> Dict[str, Any]:
    """Store one rating; the two lowest levels open a rectification.  Returns {"text", "rectification", "rating"}.

    One rating per rated episode (an agent-closed conversation, or the bot's conversation up to its
    rating prompt): a second one is refused politely (``"duplicate": True``) and opens nothing, so
    a page cannot open a rectification per click.
    """
    if level not in LEVELS:
        raise ValueError("评价等级须为 1 到 5")
    context, episode, agent, due = _episode_of(sender, context, agent)
    if due:
        service_id = service_id or due.get("service_id", "")
    r = get_redis()
    if not r.hsetnx(_rated_key(sender), episode, "pending"):
        before = (r.hget(_rated_key(sender), episode) or "").partition(":")[2]
        said = f"（{LEVELS[int(before)]}）" if before.isdigit() and int(before) in LEVELS else ""
        return {"text": f"您已评价过本次{CONTEXTS[context]}{said}，每次服务只能评价一次，感谢您的反馈。"
                        "如还有意见或建议，可以直接留言，或拨打12345政务服务便民热线。",
                "rectification": None, "rating": None, "duplicate": True}
    r.expire(_rated_key(sender), KEEP_S)
    now = _now()
    try:
        with _engine().begin() as c:
            rid = int(c.execute(ratings.insert().values(at=now, sender=sender, channel=channel, level=level,
                                                        comment=mask(comment)[:1000], context=context, agent=agent,
                                                        service_id=service_id, episode=episode[:16]))
                      .inserted_primary_key[0])
            rect_id = None
            if level <= 2:
                deadline = now + timedelta(days=get_settings().rating_rectification_days)
                history = [{"at": now.isoformat(timespec="seconds"), "status": "待整改", "by": "system",
                            "note": f"{LEVELS[level]}评价自动生成"}]
                rect_id = int(c.execute(rectifications.insert().values(
                    rating_id=rid, sender=sender, channel=channel, level=level, context=context, agent=agent, service_id=service_id,
                    comment=mask(comment)[:1000], status="待整改", deadline=deadline, created_at=now,
                    history=json.dumps(history, ensure_ascii=False))).inserted_primary_key[0])
    except Exception:
        r.hdel(_rated_key(sender), episode)  # not stored: the resident may rate again
        raise
    r.hset(_rated_key(sender), episode, f"{rid}:{level}")
    from guide.analytics import record

    record("rating", sender=sender, channel=channel, service_id=service_id, text=comment, code=context, score=float(level))
    from channels.audit import audit

    audit("resident", "rating.submit", sender, f"{CONTEXTS[context]}：{LEVELS[level]}" + (f"；整改单 {rect_id}" if rect_id else ""))
    if rect_id:
        days = get_settings().rating_rectification_days
        text = (f"已收到您的评价：{LEVELS[level]}。很抱歉没能让您满意，我们已登记整改（整改单号 {rect_id}），"
                f"将在 {days} 天内核实整改并把结果告诉您。")
    else:
        text = f"已收到您的评价：{LEVELS[level]}。感谢您的支持！"
    return {"text": text, "rectification": rect_id, "rating": rid}


def _rect(row: Any) -> Dict[str, Any]:
    d = dict(row)
    d["history"] = json.loads(d["history"] or "[]")
    d["level_name"] = LEVELS.get(d["level"], "")
    d["context_name"] = CONTEXTS.get(d["context"], d["context"])
    d["overdue"] = d["status"] != "已整改" and d["deadline"] < _now()
    for k in ("deadline", "created_at", "done_at"):
        d[k] = d[k].isoformat(timespec="seconds") + "Z" if d[k] else ""
    return d


def rectification(rect_id: int) -> Optional[Dict[str, Any]]:
    with _engine().connect() as c:
        row = c.execute(select(rectifications).where(rectifications.c.id == rect_id)).mappings().first()
    return _rect(row) if row else None


def rectification_list(status: str = "", limit: int = 100) -> List[Dict[str, Any]]:
    q = select(rectifications).order_by(rectifications.c.id.desc()).limit(limit)
    if status:
        q = q.where(rectifications.c.status == status)
    with _engine().connect() as c:
        return [_rect(r) for r in c.execute(q).mappings()]


def work(rect_id: int, actor: str, status: str, note: str = "", outcome: str = "") -> Dict[str, Any]:
    """A supervisor takes a rectification (整改中) or finishes it (已整改, with the outcome told to the resident)."""
    if status not in RECTIFY_STATUS[1:]:
        raise ValueError("整改状态只能改为“整改中”或“已整改”")
    item = rectification(rect_id)
    if item is None:
        raise ValueError(f"没有整改单 {rect_id}")
    if item["status"] == "已整改":
        raise ValueError("该整改单已完成")
    if status == "已整改" and not outcome.strip():
        raise ValueError("完成整改须填写整改结果（将告知居民）")
    history = item["history"] + [{"at": _now().isoformat(timespec="seconds"), "status": status, "by": actor,
                                  "note": mask(note or outcome)[:500]}]
    values: Dict[str, Any] = {"status": status, "owner": actor, "history": json.dumps(history, ensure_ascii=False)}
    if status == "已整改":
        values.update(outcome=mask(outcome.strip())[:2000], done_at=_now())
    with _engine().begin() as c:
        c.execute(rectifications.update().where(rectifications.c.id == rect_id).values(**values))
    from channels.audit import audit

    audit(actor, "rectification.work", f"rect:{rect_id}", f"{item['status']} → {status}；{note or outcome}")
    return rectification(rect_id)  # type: ignore[return-value]


def outcome_message(item: Dict[str, Any]) -> Dict[str, Any]:
    return {"kind": "system", "text": f"您此前对{item['context_name']}的“{item['level_name']}”评价（整改单号 {item['id']}）已核实整改："
                                      f"{item['outcome']}。感谢您的监督！"}


NOTIFY_FAILED = "通知失败"


def _failures(item: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [h for h in item["history"] if h.get("status") == NOTIFY_FAILED]


def mark_notified(rect_id: int, ok: bool, error: str = "") -> str:
    """Record one attempt to tell the resident the outcome; returns the new ``notified`` value.

    A refused attempt is kept as "failed" (the handoff clock retries it with a doubling backoff)
    until ``rating_notify_attempts`` attempts failed, then "gaveup" (the supervisor sees it).
    """
    item = rectification(rect_id)
    if item is None:
        raise ValueError(f"没有整改单 {rect_id}")
    now = _now().isoformat(timespec="seconds")
    history = list(item["history"])
    if ok:
        notified = "yes"
        history.append({"at": now, "status": "已告知居民", "by": "system", "note": ""})
    else:
        failed = len(_failures(item)) + 1
        notified = "failed" if failed < get_settings().rating_notify_attempts else "gaveup"
        history.append({"at": now, "status": NOTIFY_FAILED, "by": "system", "note": mask(error or "渠道未送达")[:200]})
    with _engine().begin() as c:
        c.execute(rectifications.update().where(rectifications.c.id == rect_id)
                  .values(notified=notified, history=json.dumps(history, ensure_ascii=False)))
    return notified


def notifications_due(now: Optional[datetime] = None) -> List[Dict[str, Any]]:
    """Finished rectifications whose outcome did not reach the resident and whose next attempt is due."""
    now = now or _now()
    q = select(rectifications).where(rectifications.c.status == "已整改", rectifications.c.notified == "failed").limit(200)
    with _engine().connect() as c:
        items = [_rect(r) for r in c.execute(q).mappings()]
    due = []
    base = get_settings().rating_notify_backoff_s
    for item in items:
        failures = _failures(item)
        if not failures:
            due.append(item)
            continue
        last = datetime.fromisoformat(failures[-1]["at"])
        if now >= last + timedelta(seconds=base * 2 ** (len(failures) - 1)):
            due.append(item)
    return due
