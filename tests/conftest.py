"""Shared fixtures: real PostgreSQL and Redis on loopback (started by .ci/services.sh), temporary SQLite."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "knowledge" / "data"
PG_ADMIN = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# tests never write the developer's var/guide.db: one throw-away SQLite file per run unless DATABASE_URL says otherwise
os.environ.setdefault("DATABASE_URL", f"sqlite:///{tempfile.mkdtemp(prefix='guide-test-')}/guide.db")


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


STAFF_PASSWORD = "demo-pass-2026"  # the gateway fixture seeds the demo team (channels.auth.DEMO_STAFF) with it

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    """Debian's chromium driven by Playwright (never a downloaded browser).

    Module-scoped: Playwright's sync API keeps an event loop running on the main thread while it is open, which
    would stop the asyncio tests of later modules (pytest-asyncio) from starting their own loops."""
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
    db_dir = tempfile.mkdtemp(prefix="guide-gw-")
    env = {**os.environ, "PUBLIC_BASE_URL": base, "GATEWAY_PORT": str(port),
           "DATABASE_URL": f"sqlite:///{db_dir}/gateway.db", "DEMO_STAFF_PASSWORD": STAFF_PASSWORD}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "channels.gateway:app", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=str(ROOT), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):  # a fresh database imports the 200 guides first (≈ 40 s on a busy 2-core machine)
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.25)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The whole stack as `guide serve` runs it (action server, Rasa with the small test model,
    gateway) on free loopback ports, on the test Redis and a throw-away SQLite database.

    Yields {"base": gateway URL, "rasa": Rasa URL, "env": the environment the servers run with}.
    """
    from bot.local import free_port
    from bot.train import latest_model
    from guide.supervisor import build

    model = latest_model(test=True) or latest_model()
    if model is None:
        pytest.skip("no trained model: run `guide train --test-model` (make test does)")
    var = tmp_path_factory.mktemp("stack")
    ports = {"GATEWAY_PORT": free_port(), "RASA_PORT": free_port(), "ACTION_PORT": free_port()}
    base = f"http://127.0.0.1:{ports['GATEWAY_PORT']}"
    extra = {**{k: str(v) for k, v in ports.items()}, "PUBLIC_BASE_URL": base, "VAR_DIR": str(var),
             "DATABASE_URL": f"sqlite:///{var}/stack.db", "DEMO_STAFF_PASSWORD": STAFF_PASSWORD,
             "RASA_URL": f"http://127.0.0.1:{ports['RASA_PORT']}"}
    # WeChat: the gateway talks to the fake WeChat API (channels.wechat.fake_server) started here
    import subprocess
    import sys

    wx_port = free_port()
    wechat = subprocess.Popen([sys.executable, "-m", "channels.wechat.fake_server", "--port", str(wx_port),
                               "--appid", "wxguidestackfake1", "--secret", "stack-secret"], cwd=str(ROOT),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    extra.update({"WECHAT_TOKEN": "guide-wechat-test-token", "WECHAT_APPID": "wxguidestackfake1",
                  "WECHAT_SECRET": "stack-secret", "WECHAT_AES_KEY": "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
                  "WECHAT_API_BASE": f"http://127.0.0.1:{wx_port}"})
    from guide.settings import Settings

    settings = Settings(gateway_port=ports["GATEWAY_PORT"], rasa_port=ports["RASA_PORT"],  # type: ignore[call-arg]
                        action_port=ports["ACTION_PORT"], var_dir=var, public_base_url=base)
    procs, env = build(settings, model)
    env = {**env, **extra}
    for p in procs:
        p.env = env
        p.start()
    try:
        for p in procs:
            p.wait_ready()
        from guide.supervisor import warm_up

        warm_up(extra["RASA_URL"])
        yield {"base": base, "rasa": extra["RASA_URL"], "env": env, "procs": procs, "var": var,
               "wechat_api": extra["WECHAT_API_BASE"]}
    finally:
        for p in reversed(procs):
            p.stop()
        wechat.terminate()
        wechat.wait(timeout=10)


@pytest.fixture(scope="session", autouse=True)
def _asyncio_run_beside_playwright() -> Iterator[None]:
    """Playwright's sync API keeps an event loop running on the main thread for the whole session (the browser
    fixture is session-scoped), after which ``asyncio.run`` there refuses to start.  Tests and the code they drive
    call ``asyncio.run`` freely, so while a loop runs on this thread it runs the coroutine on a fresh thread instead."""
    import asyncio
    import concurrent.futures

    original = asyncio.run

    def run(main, *, debug=None):  # type: ignore[no-untyped-def]
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return original(main, debug=debug)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(original, main, debug=debug).result()

    asyncio.run = run  # type: ignore[assignment]
    yield
    asyncio.run = original  # type: ignore[assignment]
