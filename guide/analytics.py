"""Conversation facts for the dashboard and the knowledge-gap inbox.

Every process appends small rows (a routed question, a fallback, a handoff, a rating,
a pre-review defect) to one table.  Texts are masked before they are stored, so the
editors' gap inbox never shows a resident's ID or phone number.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional

from sqlalchemy import BigInteger, Column, DateTime, Float, Integer, MetaData, String, Table, Text, func, select

from guide.masking import mask
from guide.settings import get_settings
from knowledge.store import engine_with

log = logging.getLogger(__name__)

KINDS = {
    "routed": "问题已路由到事项",
    "clarify": "追问澄清",
    "fallback": "未能理解",
    "out_of_scope": "超出服务范围",
    "handoff": "转人工",
    "rating": "好差评",
    "prereview_defect": "预审发现问题",
    "prereview": "完成一次预审",
}

metadata = MetaData()
events = Table(
    "conversation_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False, index=True),
    Column("kind", String(32), nullable=False, index=True),
    Column("sender", String(80), nullable=False, default=""),
    Column("channel", String(16), nullable=False, default=""),
    Column("service_id", String(8), nullable=False, default="", index=True),
    Column("text", Text, nullable=False, default=""),
    Column("code", String(48), nullable=False, default=""),
    Column("score", Float, nullable=True),
)


def _engine():  # type: ignore[no-untyped-def]
    return engine_with(metadata, get_settings().db_url)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


_queue: "queue.Queue[Dict[str, Any]]" = queue.Queue(maxsize=10000)
_writer: Optional[threading.Thread] = None
_writer_lock = threading.Lock()


def record(kind: str, *, sender: str = "", channel: str = "", service_id: str = "", text: str = "",
           code: str = "", score: Optional[float] = None, wait: bool = False) -> None:
    """Append one fact; never raises and never blocks a conversation.

    Rows go through a queue to one writer thread per process that inserts them in batches,
    so a busy action server does not wait on the database for statistics.  ``wait=True``
    writes at once (tests, command-line tools).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown analytics kind {kind!r}")
    row = dict(at=_now(), kind=kind, sender=sender[:80], channel=channel[:16], service_id=(service_id or "")[:8],
               text=mask(text or "")[:500], code=code[:48], score=score)
    if wait:
        _write([row])
        return
    _start_writer()
    try:
        _queue.put_nowait(row)
    except queue.Full:  # the database is down or far behind: drop statistics, keep answering
        log.warning("analytics queue full; dropped a %s row", kind)


def flush(timeout: float = 5.0) -> None:
    """Wait until queued rows are written (tests, shutdown)."""
    deadline = time.time() + timeout
    while _queue.unfinished_tasks and time.time() < deadline:
        time.sleep(0.02)


def _write(rows: List[Dict[str, Any]]) -> None:
    try:
        with _engine().begin() as conn:
            conn.execute(events.insert(), rows)
    except Exception as exc:  # noqa: BLE001 - a lost statistic is better than a lost answer
        log.warning("analytics not recorded (%d rows): %s", len(rows), exc)


def _drain() -> None:
    while True:
        rows = [_queue.get()]
        while len(rows) < 200:
            try:
                rows.append(_queue.get_nowait())
            except queue.Empty:
                break
        _write(rows)
        for _ in rows:
            _queue.task_done()


def _start_writer() -> None:
    global _writer
    if _writer is None or not _writer.is_alive():
        with _writer_lock:
            if _writer is None or not _writer.is_alive():
                _writer = threading.Thread(target=_drain, name="analytics-writer", daemon=True)
                _writer.start()


def query(kinds: List[str], since: datetime, until: Optional[datetime] = None, limit: int = 5000) -> List[Dict[str, Any]]:
    flush(2.0)  # this process's own queued rows first, so a reader sees what it just recorded
    q = select(events).where(events.c.kind.in_(kinds), events.c.at >= since)
    if until is not None:
        q = q.where(events.c.at < until)
    with _engine().connect() as conn:
        return [dict(r) for r in conn.execute(q.order_by(events.c.id.desc()).limit(limit)).mappings()]


def counts(since: datetime, until: Optional[datetime] = None) -> Dict[str, int]:
    flush(2.0)
    q = select(events.c.kind, func.count()).where(events.c.at >= since)
    if until is not None:
        q = q.where(events.c.at < until)
    with _engine().connect() as conn:
        return {k: int(n) for k, n in conn.execute(q.group_by(events.c.kind))}


def days_ago(days: int) -> datetime:
    return _now() - timedelta(days=days)
