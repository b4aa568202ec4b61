""""A guide changed": published on Redis pub/sub, heard by every process, which reloads at once.

No retraining and no restart: the answer renderer and the search index read the
knowledge base object, which is swapped in one assignment on each message.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Callable, List

import redis

from guide.redis import get_redis

CHANNEL = "guide:kb:changed"
log = logging.getLogger(__name__)


def announce_change(service_ids: List[str], quiet: bool = False) -> int:
    """Tell every process; returns how many listeners heard it."""
    try:
        return int(get_redis().publish(CHANNEL, json.dumps({"services": service_ids, "at": time.time()})))
    except redis.RedisError as exc:
        if not quiet:
            raise
        log.warning("could not announce knowledge change: %s", exc)
        return 0


class ChangeListener(threading.Thread):
    """Background thread: on every announcement, call ``on_change`` (which reloads)."""

    def __init__(self, on_change: Callable[[List[str]], None], client: redis.Redis | None = None) -> None:
        super().__init__(name="kb-change-listener", daemon=True)
        self.on_change = on_change
        self.client = client
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                pubsub = (self.client or get_redis()).pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                while not self._stop.is_set():
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
            except redis.RedisError as exc:
                log.warning("knowledge change listener lost redis (%s); retrying", exc)
                time.sleep(1.0)

    def stop(self) -> None:
        self._stop.set()


_listener: ChangeListener | None = None


def start_listening() -> ChangeListener:
    """Reload this process's knowledge base whenever any process publishes a change."""
    global _listener
    if _listener is None:
        from knowledge.base import holder

        def reload(_ids: List[str]) -> None:
            holder().reload()

        _listener = ChangeListener(reload)
        _listener.start()
    return _listener
