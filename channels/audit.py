"""One audit trail for staff actions and conversation transitions.

Rows are append-only; the detail is masked (ID and phone numbers) before it is written,
so the audit log can be shown to supervisors without exposing residents.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, Text, select

from guide.masking import mask
from guide.settings import get_settings
from knowledge.store import engine_with

metadata = MetaData()
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False, index=True),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(128), nullable=False, index=True),
    Column("detail", Text, nullable=False, default=""),
)


def _engine():  # type: ignore[no-untyped-def]
    return engine_with(metadata, get_settings().db_url)


def audit(actor: str, action: str, target: str, detail: str = "") -> None:
    """Append one row; ``target`` names what was touched (a conversation id, a service id, a user)."""
    with _engine().begin() as conn:
        conn.execute(audit_log.insert().values(at=datetime.now(timezone.utc).replace(tzinfo=None), actor=actor[:64],
                                               action=action[:64], target=target[:128], detail=mask(detail)[:4000]))


def trail(target: Optional[str] = None, limit: int = 200) -> List[Dict[str, Any]]:
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if target is not None:
        query = query.where(audit_log.c.target == target)
    with _engine().connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]
