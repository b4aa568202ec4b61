"""Retention: uploads, cached readings and the evidence in notices older than the retention period are deleted
— by the gateway's hourly pass (one gateway per hour, under a Redis lock) or by ``guide prereview --purge``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import update

from prereview.corpus import TODAY

ROOT = Path(__file__).resolve().parents[2]
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _reset() -> None:
    from guide import redis as guide_redis
    from guide.settings import get_settings

    get_settings.cache_clear()
    guide_redis.reset_client()


@pytest.fixture()
def env(small_kb_env: Path, redis_client, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("REDIS_URL", REDIS_TEST_URL)
    _reset()
    yield small_kb_env
    _reset()


def _age(paths, days: float) -> None:  # type: ignore[no-untyped-def]
    stale = time.time() - days * 86400
    for p in paths:
        os.utime(p, (stale, stale))


def _notice(kb, settings, age_days: float):  # type: ignore[no-untyped-def]
    """A real notice whose defect carries evidence, issued ``age_days`` ago."""
    from knowledge.store import utcnow
    from prereview.engine import MemoryCache, Submission, review
    from prereview.notices import NoticeStore, notices

    subs = [Submission("回执.jpg", "数码相片回执\n".encode() * 30, material="数码相片回执")]
    result = review("T068", subs, "own_house", kb=kb, cache=MemoryCache(), today=TODAY)
    store = NoticeStore(settings.db_url)
    notice = store.issue(result, prefix="京政务预审", owner="web-someone")
    assert notice.result.defects[0].evidence, "the defect carries what was read"
    with store.engine.begin() as conn:
        conn.execute(update(notices).where(notices.c.number == notice.number)
                     .values(created_at=utcnow() - timedelta(days=age_days)))
    return notice


def test_purge_deletes_what_is_old_and_keeps_what_is_fresh(env: Path, kb) -> None:  # type: ignore[no-untyped-def]
    from guide.settings import Settings
    from knowledge.store import utcnow
    from prereview import render, uploads
    from prereview.notices import DbCache, NoticeStore, readings
    from prereview.retention import purge_all

    settings = Settings()
    days = settings.prereview_upload_retention_days
    old, fresh = uploads.store(b"old", "image.jpg", settings=settings), uploads.store(b"new", "image.jpg", settings=settings)
    _age((settings.var_dir / "uploads").glob(f"{old.id}.*"), days + 1)
    cache = DbCache(settings.db_url)
    cache.put("5.4:old", {"pages": []})
    cache.put("5.4:new", {"pages": []})
    with cache.engine.begin() as conn:
        conn.execute(update(readings).where(readings.c.key == "5.4:old").values(created_at=utcnow() - timedelta(days=days + 1)))
    stale_notice, fresh_notice = _notice(kb, settings, days + 2), _notice(kb, settings, 1)

    assert purge_all(settings) == {"uploads": 1, "readings": 1, "notices": 1}
    assert uploads.load(old.id, settings) is None and uploads.load(fresh.id, settings) is not None
    assert cache.get("5.4:old") is None and cache.get("5.4:new") is not None
    store = NoticeStore(settings.db_url)
    stale, kept = store.get(stale_notice.number), store.get(fresh_notice.number)
    assert stale is not None and kept is not None
    assert all(d.evidence == {} for d in stale.result.defects) and stale.result.defects, "the notice stays, its evidence goes"
    assert kept.result.defects[0].evidence == fresh_notice.result.defects[0].evidence
    assert "读取到" not in render.html(stale) and "回执.jpg" in render.html(stale)

    assert purge_all(settings) == {"uploads": 0, "readings": 0, "notices": 0}
    assert [r["uploads"] for r in store.purge_runs()] == [0, 1], "every pass is recorded"


def test_cli_purge_for_cron(env: Path) -> None:
    from guide.settings import Settings
    from prereview import uploads

    settings = Settings()
    old = uploads.store(b"old", "image.jpg", settings=settings)
    _age((settings.var_dir / "uploads").glob(f"{old.id}.*"), settings.prereview_upload_retention_days + 1)
    proc = subprocess.run([sys.executable, "-m", "prereview.cli", "--purge", "--json"], cwd=ROOT, env=os.environ.copy(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["uploads"] == 1
    assert uploads.load(old.id, settings) is None
    usage = subprocess.run([sys.executable, "-m", "prereview.cli"], cwd=ROOT, env=os.environ.copy(),
                           capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2 and "--service" in usage.stderr


def test_the_gateway_loop_purges_once_per_interval_across_copies(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from guide.settings import Settings
    from prereview import retention, uploads

    monkeypatch.setenv("PREREVIEW_PURGE_INTERVAL_S", "1")
    _reset()
    settings = Settings()
    old = uploads.store(b"old", "image.jpg", settings=settings)
    _age((settings.var_dir / "uploads").glob(f"{old.id}.*"), settings.prereview_upload_retention_days + 1)

    async def run_a_while() -> None:
        retention.start()
        for _ in range(100):
            if uploads.load(old.id, settings) is None:
                break
            await asyncio.sleep(0.1)
        await retention.stop()

    asyncio.run(run_a_while())
    assert uploads.load(old.id, settings) is None, "the loop ran a pass"
    assert retention.due() is False, "the lock taken by that pass keeps other gateways from repeating it"

    from channels.gateway import app

    assert retention.start in app.router.on_startup and retention.stop in app.router.on_shutdown
