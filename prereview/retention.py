"""Retention: uploads, cached readings and the evidence in notices are personal data, kept for
``PREREVIEW_UPLOAD_RETENTION_DAYS`` and then deleted.

``purge_all`` does one pass and records it (``prereview_purges``).  The gateway runs it in a small background
loop (``start``/``stop`` at startup/shutdown): every copy of the gateway wakes up now and then, but a pass only
runs where it wins a Redis lock that lives for ``PREREVIEW_PURGE_INTERVAL_S``, so N gateways purge once an
hour between them.  ``guide prereview --purge`` runs the same pass from cron on hosts without a gateway.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Dict, Optional

from guide.settings import Settings, get_settings

log = logging.getLogger(__name__)
LOCK = "guide:prereview:purge"
WAKE_S = 300  # how often a gateway checks whether the hourly pass is due (a cheap SET NX)
_task: Optional[asyncio.Task] = None


def purge_all(settings: Settings | None = None, now: float | None = None) -> Dict[str, int]:
    """Delete what is older than the retention period; returns how much of each kind went."""
    from prereview import uploads
    from prereview.notices import DbCache, NoticeStore

    settings = settings or get_settings()
    now = now or time.time()
    cutoff = now - settings.prereview_upload_retention_days * 86400
    moment = datetime.fromtimestamp(cutoff, timezone.utc).replace(tzinfo=None)
    files = uploads.purge_files(settings, cutoff)
    readings = DbCache(settings.db_url).purge(moment)
    store = NoticeStore(settings.db_url)
    notices = store.purge_evidence(moment)
    store.record_purge(moment, files, readings, notices)
    if files or readings or notices:
        log.info("pre-review retention: %d uploads, %d readings, %d notices' evidence removed", files, readings, notices)
    return {"uploads": files, "readings": readings, "notices": notices}


def due(settings: Settings | None = None) -> bool:
    """True for exactly one caller per interval across all gateways (the Redis lock expires by itself)."""
    from guide.redis import get_redis

    settings = settings or get_settings()
    return bool(get_redis().set(LOCK, str(time.time()), nx=True, ex=max(60, settings.prereview_purge_interval_s)))


async def run_forever() -> None:
    while True:
        try:
            if due():
                await asyncio.to_thread(purge_all)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a database or Redis hiccup must not stop retention for good
            log.exception("pre-review retention pass failed")
        await asyncio.sleep(min(WAKE_S, max(1, get_settings().prereview_purge_interval_s)))


def start() -> None:
    """Start the loop in the running event loop (gateway startup); once per process."""
    global _task
    if _task is None or _task.done():
        _task = asyncio.get_running_loop().create_task(run_forever())


async def stop() -> None:
    global _task
    if _task is not None:
        _task.cancel()
        try:
            await _task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001
            pass
        _task = None
