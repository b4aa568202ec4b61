"""Finished handoff episodes, kept in the database with a copy of their transcript.

Redis holds the live conversation; when an episode ends (closed, abandoned, handed back,
turned into a work order) its facts and transcript are copied here so supervisors,
rectifications and work orders can refer to it long after the Redis stream expired.
ID and phone numbers are masked in the copy.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

from sqlalchemy import BigInteger, Column, DateTime, Float, Integer, MetaData, String, Table, Text, select

from channels import transcript
from guide.masking import mask
from guide.settings import get_settings
from knowledge.store import engine_with

metadata = MetaData()
handoff_records = Table(
    "handoff_records",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("sender", String(80), nullable=False, index=True),
    Column("episode", Integer, nullable=False, default=0),
    Column("channel", String(16), nullable=False, default=""),
    Column("reason", String(32), nullable=False, default=""),
    Column("service_id", String(16), nullable=False, default=""),
    Column("tier", String(16), nullable=False, default=""),
    Column("agent", String(64), nullable=False, default=""),
    Column("agent_name", String(64), nullable=False, default=""),
    Column("outcome", String(16), nullable=False),
    Column("category", String(32), nullable=False, default=""),
    Column("summary", Text, nullable=False, default=""),
    Column("workorder", String(32), nullable=False, default=""),
    Column("wait_s", Float, nullable=True),
    Column("ended_at", DateTime, nullable=False, index=True),
    Column("transcript", Text, nullable=False, default="[]"),
)


def engine():  # type: ignore[no-untyped-def]
    return engine_with(metadata, get_settings().db_url)


def archive(sender: str, conv: Dict[str, str], outcome: str, category: str = "", summary: str = "", workorder: str = "") -> int:
    """Copy one finished episode (with its masked transcript) to the database; returns the record id."""
    turns = [{"role": e["role"], "text": mask(e["text"]), "at": e["at"], **({"agent": e["agent_name"]} if e.get("agent_name") else {})}
             for e in transcript.last(sender, 200) if not e.get("internal")]
    queued, assigned = float(conv.get("queued_at") or 0), float(conv.get("assigned_at") or 0)
    agent = conv.get("agent") or conv.get("prev_agent", "")
    agent_name = conv.get("agent_name") or conv.get("prev_agent_name", "")
    with engine().begin() as c:
        result = c.execute(handoff_records.insert().values(
            sender=sender, episode=int(conv.get("episode") or 0), channel=conv.get("channel", ""), reason=conv.get("reason", ""),
            service_id=conv.get("service", ""), tier=conv.get("tier", ""), agent=agent, agent_name=agent_name, outcome=outcome,
            category=category[:32], summary=mask(summary or conv.get("summary", ""))[:4000],
            workorder=workorder or conv.get("workorder", ""),
            wait_s=(assigned - queued) if assigned and queued and assigned >= queued else None,
            ended_at=datetime.now(timezone.utc).replace(tzinfo=None), transcript=json.dumps(turns, ensure_ascii=False)))
        return int(result.inserted_primary_key[0])


def recent(limit: int = 50, agent: Optional[str] = None, sender: Optional[str] = None) -> List[Dict[str, Any]]:
    q = select(handoff_records).order_by(handoff_records.c.id.desc()).limit(limit)
    if agent:
        q = q.where(handoff_records.c.agent == agent)
    if sender:
        q = q.where(handoff_records.c.sender == sender)
    with engine().connect() as c:
        rows = [dict(r) for r in c.execute(q).mappings()]
    for r in rows:
        r["transcript"] = json.loads(r["transcript"] or "[]")
    return rows


