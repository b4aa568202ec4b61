"""Shared fixtures: real PostgreSQL and Redis on loopback (started by .ci/services.sh), temporary SQLite."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "knowledge" / "data"
PG_ADMIN = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture()
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'guide.db'}"


@pytest.fixture()
def postgres_url() -> Iterator[str]:
    """A fresh database on the machine's PostgreSQL, dropped afterwards."""
    import psycopg2

    name = f"guide_test_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(PG_ADMIN)
    conn.autocommit = True
    conn.cursor().execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        from knowledge.store import _engines

        engine = _engines.pop(url, None)
        if engine is not None:
            engine.dispose()
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'guide.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture()
def data_copy(tmp_path: Path) -> Path:
    """A private copy of knowledge/data that a test may break."""
    dest = tmp_path / "data"
    shutil.copytree(DATA, dest)
    return dest


@pytest.fixture()
def small_data(tmp_path: Path) -> Path:
    """A data directory with the city profile, the material catalogue and the reference guide T001 only."""
    dest = tmp_path / "small"
    (dest / "services").mkdir(parents=True)
    shutil.copy(DATA / "city.yml", dest / "city.yml")
    shutil.copy(DATA / "catalogue.csv", dest / "catalogue.csv")
    (dest / "materials").mkdir()
    shutil.copy(DATA / "materials" / "core.yml", dest / "materials" / "core.yml")
    shutil.copy(DATA / "services" / "T001.yml", dest / "services" / "T001.yml")
    return dest


@pytest.fixture()
def redis_client():  # type: ignore[no-untyped-def]
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    """Debian's chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def gateway() -> Iterator[str]:
    """The real gateway (uvicorn) on a free loopback port, on the default knowledge base."""
    import subprocess
    import sys
    import time

    import httpx

    from bot.local import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PUBLIC_BASE_URL": base, "GATEWAY_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "channels.gateway:app", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=str(ROOT), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.25)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
