""""A guide changed": published on Redis pub/sub, heard by every process, which reloads at once.

No retraining and no restart: the answer renderer and the search index read the
knowledge base object, which is swapped in one assignment on each message.

Pub/sub is fire-and-forget: a process whose connection dropped misses what was
published meanwhile.  So every process also remembers which database version its
knowledge base was loaded from (``db_version``: a cheap aggregate over the published
rows) and compares it with the database's on every (re)subscription and every
``KNOWLEDGE_CHECK_S`` seconds; a process that missed an announcement catches up
within that time.  A process that already loaded a version (the publisher reloads
synchronously) does not reload it again when its own announcement arrives.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Tuple

import redis

from guide.redis import get_redis

if TYPE_CHECKING:
    from knowledge.base import KnowledgeBase, KnowledgeHolder
    from knowledge.store import Store

CHANNEL = "guide:kb:changed"  # + ":<db>": Redis pub/sub ignores database numbers, deployments sharing a server must not


def channel_for(client: redis.Redis) -> str:
    """The announcement channel of the database ``client`` uses (one Redis server may hold several deployments)."""
    return f"{CHANNEL}:{client.connection_pool.connection_kwargs.get('db', 0)}"
CLOCK_SKEW_S = 5.0  # a knowledge base loaded this long after the database's last change is taken as current
log = logging.getLogger(__name__)


def announce_change(service_ids: List[str], quiet: bool = False) -> int:
    """Tell every process; returns how many listeners heard it."""
    try:
        client = get_redis()
        return int(client.publish(channel_for(client), json.dumps({"services": service_ids, "at": time.time()})))
    except redis.RedisError as exc:
        if not quiet:
            raise
        log.warning("could not announce knowledge change: %s", exc)
        return 0


# ------------------------------------------------------------------ which version is loaded


def db_version(store: "Store") -> Tuple[str, float]:
    """(signature of what the database publishes, epoch seconds of its latest change).

    The signature changes with every publish, rollback or import: each one adds a version to a service
    (``sum(published_version)`` grows) or changes a catalogue/profile row (``max(updated_at)``)."""
    from sqlalchemy import func, select

    from knowledge.store import MaterialRow, ProfileRow, ServiceRow

    with store.session() as s:
        n, total, svc_at = s.execute(select(func.count(ServiceRow.id), func.coalesce(func.sum(ServiceRow.published_version), 0),
                                            func.max(ServiceRow.updated_at))).one()
        mat_n, mat_at = s.execute(select(func.count(MaterialRow.id), func.max(MaterialRow.updated_at))).one()
        prof_at = s.execute(select(func.max(ProfileRow.updated_at))).scalar()
    stamps = [_epoch(t) for t in (svc_at, mat_at, prof_at) if t is not None]
    signature = f"{n}:{total}:{mat_n}:" + ":".join(f"{t:.6f}" for t in stamps)
    return signature, max(stamps, default=0.0)


def _epoch(value: Any) -> float:
    """The store writes naive UTC datetimes (SQLite may hand back strings)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc).timestamp()


class Freshness:
    """Keeps one holder's knowledge base at the database's version: reload only when it changed."""

    def __init__(self, holder: "KnowledgeHolder") -> None:
        self.holder = holder
        self._lock = threading.Lock()
        self._loaded: Tuple[Optional[weakref.ReferenceType], str] = (None, "")
        self.reloads = 0

    def _is_marked(self, kb: "KnowledgeBase", signature: str) -> bool:
        ref, loaded = self._loaded
        return ref is not None and ref() is kb and loaded == signature

    def refresh(self) -> bool:
        """Reload if the database publishes something this process has not loaded; True when it reloaded."""
        with self._lock:
            signature, changed_at = db_version(self.holder.store)
            kb = self.holder._kb
            if kb is None:
                return False  # nothing loaded yet: the first use loads the newest
            if self._is_marked(kb, signature):
                return False
            if self._loaded[0] is None and changed_at < kb.loaded_at - CLOCK_SKEW_S:
                self._loaded = (weakref.ref(kb), signature)  # loaded at start-up, after the last change
                return False
            fresh = self.holder.reload()
            self.reloads += 1
            self._loaded = (weakref.ref(fresh), signature)  # read before the reload: a later change is seen next time
            log.info("knowledge base reloaded (database version %s)", signature)
            return True


_fresh: dict = {}
_fresh_lock = threading.Lock()


def freshness(holder: "KnowledgeHolder") -> Freshness:
    with _fresh_lock:
        if id(holder) not in _fresh or _fresh[id(holder)].holder is not holder:
            _fresh[id(holder)] = Freshness(holder)
        return _fresh[id(holder)]


# ------------------------------------------------------------------ the listener


class ChangeListener(threading.Thread):
    """Background thread: on every announcement, call ``on_change`` (which reloads).

    With ``refresh``, it is also called right after every (re)subscription and every ``every``
    seconds, so a process that missed announcements (Redis restarted, connection dropped)
    catches up without a restart."""

    def __init__(self, on_change: Callable[[List[str]], None], client: redis.Redis | None = None,
                 refresh: Callable[[], Any] | None = None, every: float = 30.0) -> None:
        super().__init__(name="kb-change-listener", daemon=True)
        self.on_change = on_change
        self.client = client
        self.refresh = refresh
        self.every = every
        self.subscriptions = 0
        self._halt = threading.Event()

    def _refresh(self) -> None:
        if self.refresh is None:
            return
        try:
            self.refresh()
        except Exception:  # noqa: BLE001 - the database may be down for a moment: try again next time
            log.exception("knowledge version check failed")

    def run(self) -> None:
        pause = 1.0  # grows to 30 s while Redis stays away; one warning per outage, not one a second
        while not self._halt.is_set():
            try:
                client = self.client or get_redis()
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(channel_for(client))
                if pause > 1.0:
                    log.warning("knowledge change listener reconnected to redis")
                pause = 1.0
                self.subscriptions += 1
                self._refresh()  # whatever was published while this process was not subscribed
                checked = time.monotonic()
                while not self._halt.is_set():
                    msg = pubsub.get_message(timeout=1.0)
                    if msg and msg.get("type") == "message":
                        try:
                            ids = json.loads(msg["data"]).get("services", [])
                        except (ValueError, AttributeError):
                            ids = []
                        try:
                            self.on_change(ids)
                        except Exception:  # a bad reload must not kill the listener
                            log.exception("reload after knowledge change failed")
                    if self.refresh is not None and time.monotonic() - checked >= self.every:
                        self._refresh()
                        checked = time.monotonic()
            except redis.RedisError as exc:
                if pause == 1.0:
                    log.warning("knowledge change listener lost redis (%s); retrying", exc)
                self._halt.wait(pause)
                pause = min(pause * 2, 30.0)

    def stop(self) -> None:
        self._halt.set()


_listener: ChangeListener | None = None


def start_listening() -> ChangeListener:
    """Reload this process's knowledge base whenever any process publishes a change (or one was missed)."""
    global _listener
    if _listener is None:
        from guide.settings import get_settings
        from knowledge.base import holder

        fresh = freshness(holder())

        def on_change(_ids: List[str]) -> None:
            fresh.refresh()

        _listener = ChangeListener(on_change, refresh=fresh.refresh, every=get_settings().knowledge_check_s)
        _listener.start()
    return _listener


def stop_listening() -> None:
    """Stop this process's listener (an in-process bot being closed, e.g. the routing benchmark)."""
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None
