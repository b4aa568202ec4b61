"""Correction notices (补正告知书): numbering, storage and the audit trail, in SQLite or PostgreSQL.

Numbers are sequential per year with no gaps and no duplicates, however many gateways and action servers
issue them at once: the counter row is incremented with ``UPDATE … SET value = value + 1`` and read back in
the same transaction that inserts the notice, so the row lock (PostgreSQL) or the database write lock
(SQLite) serialises issuers and a failed insert rolls the number back.

The tables live in their own MetaData, created on first use next to the knowledge base's tables.

A notice belongs to whoever it was issued to (the resident's conversation, or the API caller's key, kept as
a hash): only its owner may name it as the notice a resubmission replaces, since the new notice lists the
old one's defects.  Ownership lives in its own table, so databases made before it need no migration.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Dict, List

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from knowledge.store import create_tables, engine_for, utcnow
from prereview.engine import ReviewResult

metadata = MetaData()

counters = Table(
    "prereview_counters", metadata,
    Column("year", Integer, primary_key=True),
    Column("value", Integer, nullable=False),
)
notices = Table(
    "prereview_notices", metadata,
    Column("number", String(60), primary_key=True),
    Column("year", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("token", String(24), nullable=False, unique=True),  # unguessable part of the public URL
    Column("service_id", String(8), nullable=False, index=True),
    Column("applicant_name", String(50), nullable=False, default=""),
    Column("passed", Boolean, nullable=False),
    Column("issued_on", Date, nullable=False),
    Column("deadline", Date),
    Column("previous_number", String(60)),
    Column("superseded_by", String(60)),
    Column("result", JSON, nullable=False),
    Column("created_at", DateTime, nullable=False, default=utcnow),
)
audit = Table(
    "prereview_audit", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("number", String(60), nullable=False, index=True),
    Column("at", DateTime, nullable=False, default=utcnow),
    Column("actor", String(100), nullable=False),
    Column("action", String(40), nullable=False),
    Column("detail", Text, nullable=False, default=""),
)
owners = Table(
    "prereview_owners", metadata,
    Column("number", String(60), primary_key=True),
    Column("owner", String(100), nullable=False, index=True),
)
purges = Table(  # one row per retention run: when, up to which moment, and what went
    "prereview_purges", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False, default=utcnow),
    Column("cutoff", DateTime, nullable=False),
    Column("uploads", Integer, nullable=False, default=0),
    Column("readings", Integer, nullable=False, default=0),
    Column("notices", Integer, nullable=False, default=0),
)
readings = Table(
    "prereview_readings", metadata,
    Column("key", String(100), primary_key=True),
    Column("reading", Text, nullable=False),
    Column("created_at", DateTime, nullable=False, default=utcnow),
)

_ready: Dict[str, Engine] = {}
_ready_lock = threading.Lock()


def engine(url: str) -> Engine:
    """The knowledge base's engine for ``url``, with the pre-review tables created once per process."""
    if url not in _ready:
        with _ready_lock:
            if url not in _ready:
                eng = engine_for(url)
                create_tables(metadata, eng)
                _ready[url] = eng
    return _ready[url]


def working_days_after(start: date, days: int) -> date:
    """``days`` working days after ``start`` (weekends skipped; public holidays are announced yearly and
    not modelled, so the date errs on the early side)."""
    d = start
    left = days
    while left > 0:
        d += timedelta(days=1)
        if d.weekday() < 5:
            left -= 1
    return d


class NotYourNotice(PermissionError):
    """A resubmission named a notice issued to someone else (or one that does not exist)."""


def format_number(prefix: str, year: int, seq: int) -> str:
    return f"〔{year}〕{prefix}第{seq:06d}号"


@dataclass
class Notice:
    number: str
    slug: str
    year: int
    seq: int
    issued_on: date
    deadline: date | None
    previous_number: str | None
    superseded_by: str | None
    result: ReviewResult

    @property
    def passed(self) -> bool:
        return self.result.passed

    @property
    def title(self) -> str:
        return "材料预审通过告知书" if self.passed else "材料补正告知书"

    def to_json(self, base_url: str = "") -> Dict[str, Any]:
        """The ``guide prereview --json`` contract: {service, passed, notice: {number, defects: [...]}}."""
        r = self.result
        return {
            "service": r.service_id,
            "service_name": r.service_name,
            "scenario": r.scenario,
            "passed": self.passed,
            "notice": {
                "number": self.number,
                "title": self.title,
                "issued_on": self.issued_on.isoformat(),
                "deadline": self.deadline.isoformat() if self.deadline else None,
                "previous": self.previous_number,
                "url": notice_url(self.slug, base_url),
                "pdf_url": notice_url(self.slug, base_url) + ".pdf",
                "defects": [
                    {"file": d.file, "material": d.material, "code": d.code, "message": d.message, "fix": d.fix,
                     "severity": d.severity, "page": d.page, "rule": d.rule, "evidence": d.evidence, "basis": d.basis}
                    for d in r.defects
                ],
                "resolved": r.resolved,
                "legal_basis": r.basis,
                "contacts": r.contacts,
                "next_steps": r.next_steps if self.passed else [],
            },
            "documents": [
                {"file": d.file, "material": d.material, "detected": d.detected, "declared": d.declared, "sides": d.sides,
                 "kind": d.kind, "pages": d.pages, "turned": d.turned, "rechecked": not d.reused}
                for d in r.documents
            ],
            "seconds": r.seconds,
        }


def notice_url(slug: str, base_url: str = "") -> str:
    return f"{base_url.rstrip('/')}/prereview/notices/{slug}"


class NoticeStore:
    """Issue, fetch and list notices; every issue, view and supersession is written to the audit trail."""

    def __init__(self, url: str) -> None:
        self.engine = engine(url)

    # ----------------------------------------------------------- numbering

    def next_number(self, conn: Any, year: int) -> int:
        """Increment this year's counter inside the caller's transaction and return the new value."""
        bumped = conn.execute(update(counters).where(counters.c.year == year).values(value=counters.c.value + 1))
        if bumped.rowcount == 0:
            raise LookupError(year)
        return int(conn.execute(select(counters.c.value).where(counters.c.year == year)).scalar_one())

    def _ensure_counter(self, year: int) -> None:
        try:
            with self.engine.begin() as conn:
                if conn.execute(select(counters.c.year).where(counters.c.year == year)).first() is None:
                    conn.execute(insert(counters).values(year=year, value=0))
        except IntegrityError:
            pass  # another process created it first

    def owner_of(self, number: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(owners.c.owner).where(owners.c.number == number)).scalar()

    def may_supersede(self, number: str, owner: str | None) -> bool:
        """``owner`` (``None``: a trusted caller such as the CLI) may name ``number`` as the notice it replaces."""
        if owner is None:
            return True
        return bool(owner) and self.owner_of(number) == owner

    def issue(self, result: ReviewResult, prefix: str = "预审", actor: str = "system", today: date | None = None,
              owner: str | None = None) -> Notice:
        """Give ``result`` the next number of the year and store it, atomically.  ``owner`` (the resident's
        conversation or the API caller) is recorded, and must own the notice ``result`` replaces; ``None`` is a
        trusted caller (the CLI, an agent) whose notice has no owner."""
        if result.previous_number and not self.may_supersede(result.previous_number, owner):
            raise NotYourNotice(result.previous_number)
        today = today or date.fromisoformat(result.review_date)
        year = today.year
        deadline = None if result.passed else working_days_after(today, result.deadline_days)
        self._ensure_counter(year)
        for attempt in range(8):
            try:
                with self.engine.begin() as conn:
                    seq = self.next_number(conn, year)
                    number = format_number(prefix, year, seq)
                    token = secrets.token_urlsafe(9)
                    conn.execute(insert(notices).values(
                        number=number, year=year, seq=seq, token=token, service_id=result.service_id,
                        applicant_name=(result.applicant.name if result.applicant else "")[:50], passed=result.passed,
                        issued_on=today, deadline=deadline, previous_number=result.previous_number,
                        result=result.to_json(),
                    ))
                    detail = {"service": result.service_id, "passed": result.passed,
                              "defects": [d.code for d in result.defects], "files": [d.sha256[:12] for d in result.documents]}
                    conn.execute(insert(audit).values(number=number, actor=actor, action="issued",
                                                      detail=json.dumps(detail, ensure_ascii=False)))
                    if owner:
                        conn.execute(insert(owners).values(number=number, owner=owner[:100]))
                    if result.previous_number:
                        conn.execute(update(notices).where(notices.c.number == result.previous_number)
                                     .values(superseded_by=number))
                        conn.execute(insert(audit).values(number=result.previous_number, actor=actor, action="superseded",
                                                          detail=number))
                break
            except OperationalError:  # SQLite: "database is locked" after the busy timeout; try again
                if attempt == 7:
                    raise
        return Notice(number, f"{year}-{seq:06d}-{token}", year, seq, today, deadline, result.previous_number, None, result)

    # ----------------------------------------------------------- reading

    def _notice(self, row: Any) -> Notice:
        result = ReviewResult.from_json(row.result)
        return Notice(row.number, f"{row.year}-{row.seq:06d}-{row.token}", row.year, row.seq, row.issued_on,
                      row.deadline, row.previous_number, row.superseded_by, result)

    def get(self, number: str) -> Notice | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(notices).where(notices.c.number == number)).first()
        return self._notice(row) if row else None

    def by_slug(self, slug: str) -> Notice | None:
        """``2026-000123-<token>``: the token must match, so numbers cannot be enumerated from outside."""
        parts = slug.split("-", 2)
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(notices).where(notices.c.year == int(parts[0]), notices.c.seq == int(parts[1]),
                                                     notices.c.token == parts[2])).first()
        return self._notice(row) if row else None

    def recent(self, limit: int = 50, service_id: str | None = None) -> List[Notice]:
        """For the agent workbench: the latest notices, newest first."""
        q = select(notices).order_by(notices.c.created_at.desc(), notices.c.seq.desc()).limit(limit)
        if service_id:
            q = q.where(notices.c.service_id == service_id)
        with self.engine.connect() as conn:
            return [self._notice(r) for r in conn.execute(q)]

    def trail(self, number: str) -> List[Dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(audit).where(audit.c.number == number).order_by(audit.c.pk)).all()
        return [{"at": r.at.isoformat(), "actor": r.actor, "action": r.action, "detail": r.detail} for r in rows]

    def record(self, number: str, actor: str, action: str, detail: str = "") -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(audit).values(number=number, actor=actor, action=action, detail=detail))


    def purge_evidence(self, older_than: datetime) -> int:
        """Notices stay (they are the record of what was asked), but what was read from the resident's files
        goes after the retention period: each defect's evidence is emptied.  Only notices issued since the last
        run's cutoff are touched, so the work does not grow with the archive."""
        with self.engine.begin() as conn:
            since = conn.execute(select(purges.c.cutoff).order_by(purges.c.cutoff.desc()).limit(1)).scalar()
            q = select(notices.c.number, notices.c.result).where(notices.c.created_at < older_than)
            if since is not None:
                q = q.where(notices.c.created_at >= since)
            changed = 0
            for number, result in conn.execute(q).all():
                body = dict(result)
                if not any(d.get("evidence") for d in body.get("defects", [])):
                    continue
                body["defects"] = [{**d, "evidence": {}} for d in body.get("defects", [])]
                body["evidence_purged"] = True
                conn.execute(update(notices).where(notices.c.number == number).values(result=body))
                changed += 1
        return changed

    def record_purge(self, cutoff: datetime, uploads_removed: int, readings_removed: int, notices_changed: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(purges).values(cutoff=cutoff, uploads=uploads_removed, readings=readings_removed,
                                               notices=notices_changed))

    def purge_runs(self, limit: int = 10) -> List[Dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(purges).order_by(purges.c.pk.desc()).limit(limit)).all()
        return [{"at": r.at.isoformat(), "cutoff": r.cutoff.isoformat(), "uploads": r.uploads, "readings": r.readings,
                 "notices": r.notices} for r in rows]


class DbCache:
    """Readings of files by content hash, shared by every process on the same database."""

    def __init__(self, url: str) -> None:
        self.engine = engine(url)

    def get(self, key: str) -> Dict[str, Any] | None:
        with self.engine.connect() as conn:
            raw = conn.execute(select(readings.c.reading).where(readings.c.key == key)).scalar()
        return json.loads(raw) if raw else None

    def put(self, key: str, reading: Dict[str, Any]) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(readings).where(readings.c.key == key))
                conn.execute(insert(readings).values(key=key, reading=json.dumps(reading, ensure_ascii=False)))
        except IntegrityError:
            pass  # the same file read concurrently elsewhere: either copy will do

    def purge(self, older_than: datetime) -> int:
        """Readings hold OCR text of personal documents: they go with the uploads they came from."""
        with self.engine.begin() as conn:
            return int(conn.execute(delete(readings).where(readings.c.created_at < older_than)).rowcount or 0)
