"""Storage of guides in SQLite or PostgreSQL, with a version for every change.

The YAML in git is the reviewed source; the database is what running processes read,
and where the editor's drafts, reviews and rollbacks live.  Each service row points at
its published version; every version keeps its author, time and reason.
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, List

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, declarative_base, sessionmaker

Base: Any = declarative_base()


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def content_hash(document: Dict[str, Any]) -> str:
    canonical = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ServiceRow(Base):
    __tablename__ = "services"
    id = Column(String(8), primary_key=True)
    name = Column(String(200), nullable=False)
    domain = Column(String(50), nullable=False, index=True)
    audience = Column(String(10), nullable=False)
    lead_department = Column(String(100), nullable=False)
    published_version = Column(Integer, nullable=False)
    document = Column(JSON, nullable=False)
    content_hash = Column(String(64), nullable=False)
    updated_at = Column(DateTime, nullable=False, default=utcnow)
    updated_by = Column(String(100), nullable=False, default="import")
    source_hash = Column(String(64), nullable=False, default="")  # hash of the YAML last imported


class VersionRow(Base):
    """One version of one service: drafts, submissions, published and superseded ones."""

    __tablename__ = "service_versions"
    __table_args__ = (UniqueConstraint("service_id", "version"),)
    pk = Column(Integer, primary_key=True, autoincrement=True)
    service_id = Column(String(8), ForeignKey("services.id"), nullable=False, index=True)
    version = Column(Integer, nullable=False)
    state = Column(String(20), nullable=False)  # draft | in_review | published | superseded | rejected
    document = Column(JSON, nullable=False)
    content_hash = Column(String(64), nullable=False)
    author = Column(String(100), nullable=False)
    reason = Column(Text, nullable=False, default="")
    created_at = Column(DateTime, nullable=False, default=utcnow)
    reviewer = Column(String(100))
    decided_at = Column(DateTime)


class MaterialRow(Base):
    __tablename__ = "material_types"
    id = Column(String(80), primary_key=True)
    document = Column(JSON, nullable=False)
    content_hash = Column(String(64), nullable=False)
    updated_at = Column(DateTime, nullable=False, default=utcnow)


class ProfileRow(Base):
    __tablename__ = "city_profile"
    key = Column(String(20), primary_key=True)
    document = Column(JSON, nullable=False)
    content_hash = Column(String(64), nullable=False)
    updated_at = Column(DateTime, nullable=False, default=utcnow)


_engines: Dict[str, Engine] = {}


def create_tables(metadata: Any, engine: Engine) -> None:
    """``create_all`` that tolerates another process creating the same tables at the same moment
    (several servers starting together on a fresh database)."""
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    for attempt in range(5):
        try:
            metadata.create_all(engine)
            return
        except (OperationalError, ProgrammingError, IntegrityError):
            if attempt == 4:
                raise
            import time

            time.sleep(0.2 * (attempt + 1))


_tables_ready: set = set()
_tables_lock = threading.Lock()


def engine_with(metadata: Any, url: str) -> Engine:
    """The engine for ``url`` with ``metadata``'s tables created once per process (modules that keep their own
    tables — audit, staff, analytics, handoff records, work orders, ratings — call this instead of repeating it)."""
    engine = engine_for(url)
    key = (id(metadata), url)
    if key not in _tables_ready:
        with _tables_lock:  # two first requests at once must not both create the tables
            if key not in _tables_ready:
                create_tables(metadata, engine)
                _tables_ready.add(key)
    return engine


def engine_for(url: str) -> Engine:
    """One engine per URL per process; SQLite gets WAL so readers never block the editor."""
    if url not in _engines:
        kwargs: Dict[str, Any] = {"future": True, "pool_pre_ping": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            if ":memory:" not in url and url.rstrip("/") not in ("sqlite:", "sqlite:/"):
                # SQLAlchemy 1.4 opens a new SQLite connection (and runs the pragmas) for every use of a file
                # database; under handoff load that was a fifth of the gateway's time (py-spy), so keep a pool
                from sqlalchemy.pool import QueuePool

                kwargs.update(poolclass=QueuePool, pool_size=5, max_overflow=15)
        engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            from sqlalchemy import event

            @event.listens_for(engine, "connect")
            def _pragma(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: crash-safe, one fsync per checkpoint, not per commit
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()

        create_tables(Base.metadata, engine)
        _engines[url] = engine
    return _engines[url]


class Store:
    """Small repository over the guide tables."""

    def __init__(self, url: str) -> None:
        self.engine = engine_for(url)
        self._sessions = sessionmaker(self.engine, future=True, expire_on_commit=False)

    def session(self) -> Session:
        return self._sessions()

    # ----------------------------------------------------------- reads

    def published_services(self) -> List[Dict[str, Any]]:
        with self.session() as s:
            return [r.document for r in s.execute(select(ServiceRow).order_by(ServiceRow.id)).scalars()]

    def service_rows(self) -> List[ServiceRow]:
        with self.session() as s:
            return list(s.execute(select(ServiceRow).order_by(ServiceRow.id)).scalars())

    def service(self, service_id: str) -> ServiceRow | None:
        with self.session() as s:
            return s.get(ServiceRow, service_id)

    def materials(self) -> List[Dict[str, Any]]:
        with self.session() as s:
            return [r.document for r in s.execute(select(MaterialRow).order_by(MaterialRow.id)).scalars()]

    def profile(self) -> Dict[str, Any] | None:
        with self.session() as s:
            row = s.get(ProfileRow, "city")
            return row.document if row else None

    def versions(self, service_id: str) -> List[VersionRow]:
        with self.session() as s:
            q = select(VersionRow).where(VersionRow.service_id == service_id).order_by(VersionRow.version.desc())
            return list(s.execute(q).scalars())

    def version(self, service_id: str, version: int) -> VersionRow | None:
        with self.session() as s:
            q = select(VersionRow).where(VersionRow.service_id == service_id, VersionRow.version == version)
            return s.execute(q).scalars().first()

    def is_empty(self) -> bool:
        with self.session() as s:
            return s.execute(select(ServiceRow.id).limit(1)).first() is None

    # ----------------------------------------------------------- writes (caller validates first)

    @staticmethod
    def _next_version(s: Session, service_id: str) -> int:
        q = select(VersionRow.version).where(VersionRow.service_id == service_id).order_by(VersionRow.version.desc())
        last = s.execute(q.limit(1)).scalar()
        return (last or 0) + 1

    def publish_in(self, s: Session, document: Dict[str, Any], author: str, reason: str, reviewer: str | None = None) -> int | None:
        """Make ``document`` the published version; returns the new version or None if unchanged."""
        digest = content_hash(document)
        sid = document["id"]
        row = s.get(ServiceRow, sid)
        if row is not None and row.content_hash == digest:
            return None
        now = utcnow()
        for old in s.execute(select(VersionRow).where(VersionRow.service_id == sid, VersionRow.state == "published")).scalars():
            old.state = "superseded"
        if row is None:
            row = ServiceRow(id=sid, published_version=0, content_hash="", document={}, name="", domain="", audience="", lead_department="")
            s.add(row)
            s.flush()
        version = self._next_version(s, sid)
        s.add(VersionRow(service_id=sid, version=version, state="published", document=document, content_hash=digest,
                         author=author, reason=reason, created_at=now, reviewer=reviewer, decided_at=now))
        row.name, row.domain, row.audience = document["name"], document["domain"], document["audience"]
        row.lead_department = document["lead_department"]
        row.document, row.content_hash, row.published_version = document, digest, version
        row.updated_at, row.updated_by = now, author
        return version

    @staticmethod
    def _upsert(s: Session, row_type: Any, key_name: str, key: str, document: Dict[str, Any]) -> bool:
        """Write a catalogue or profile document if its content changed; True when written."""
        digest = content_hash(document)
        row = s.get(row_type, key)
        if row is not None and row.content_hash == digest:
            return False
        if row is None:
            s.add(row_type(**{key_name: key}, document=document, content_hash=digest, updated_at=utcnow()))
        else:
            row.document, row.content_hash, row.updated_at = document, digest, utcnow()
        return True

    def put_material_in(self, s: Session, document: Dict[str, Any]) -> bool:
        return self._upsert(s, MaterialRow, "id", document["id"], document)

    def put_profile_in(self, s: Session, document: Dict[str, Any]) -> bool:
        return self._upsert(s, ProfileRow, "key", "city", document)

    # the fingerprint of the YAML sources last synced, kept beside the profile (one small row, no new table)
    SOURCES_KEY = "yaml_sources"

    def sources_fingerprint(self) -> str | None:
        with self.session() as s:
            row = s.get(ProfileRow, self.SOURCES_KEY)
            return row.document.get("fingerprint") if row else None

    def put_sources_fingerprint_in(self, s: Session, fingerprint: str) -> None:
        self._upsert(s, ProfileRow, "key", self.SOURCES_KEY, {"fingerprint": fingerprint})

    def iter_all_versions(self) -> Iterator[VersionRow]:
        with self.session() as s:
            yield from s.execute(select(VersionRow).order_by(VersionRow.service_id, VersionRow.version)).scalars()
