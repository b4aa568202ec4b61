"""WeChat fixtures: the fake WeChat API, a scripted Rasa and a gateway wired to both, all real HTTP on loopback."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Dict, Iterator

import httpx
import pytest
from wx_helpers import APPID, BUDGET, ROOT, SECRET, _free_port, _start, wechat_env


@pytest.fixture(scope="session")
def wx_logs() -> Path:
    return Path(tempfile.mkdtemp(prefix="guide-wx-"))


@pytest.fixture(scope="session")
def fake_wechat(wx_logs: Path) -> Iterator[str]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start([sys.executable, "-m", "channels.wechat.fake_server", "--port", str(port), "--appid", APPID,
                   "--secret", SECRET], base + "/fake/health", dict(os.environ), wx_logs / "fake_wechat.log")
    yield base
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def scripted_rasa(wx_logs: Path) -> Iterator[str]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start([sys.executable, str(ROOT / "tests" / "wechat" / "scripted_rasa.py"), "--port", str(port)],
                  base + "/status", dict(os.environ), wx_logs / "scripted_rasa.log")
    yield base
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def wx_gateway(fake_wechat: str, scripted_rasa: str, wx_logs: Path) -> Iterator[Dict[str, str]]:
    """The real gateway (uvicorn) with WeChat configured, talking to the fake WeChat API and the scripted Rasa."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    var = wx_logs / "var"
    env = {**os.environ, **wechat_env(fake_wechat), "PUBLIC_BASE_URL": base, "GATEWAY_PORT": str(port), "WECHAT_SIMULATOR": "1",
           "RASA_URL": scripted_rasa, "VAR_DIR": str(var), "DATABASE_URL": f"sqlite:///{wx_logs}/gateway.db",
           "WECHAT_REPLY_BUDGET": BUDGET}
    proc = _start([sys.executable, "-m", "uvicorn", "channels.gateway:app", "--host", "127.0.0.1", "--port", str(port)],
                  base + "/healthz", env, wx_logs / "gateway.log")
    yield {"base": base, "api": fake_wechat, "rasa": scripted_rasa, "var": str(var), "log": str(wx_logs / "gateway.log")}
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture()
def wx_settings(fake_wechat: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This test process configured like the gateway (for calling the client, token and media code directly)."""
    from channels.wechat import client
    from guide import redis as guide_redis
    from guide.settings import get_settings

    for k, v in wechat_env(fake_wechat).items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    guide_redis._async_clients.clear()
    client._clients.clear()
    httpx.post(fake_wechat + "/fake/reset")
    guide_redis.get_redis().delete(f"guide:wechat:token:{APPID}")
    yield
    guide_redis._async_clients.clear()
    client._clients.clear()
    get_settings.cache_clear()


@pytest.fixture()
def rdb():  # type: ignore[no-untyped-def]
    """The Redis the servers use (REDIS_URL), for reading the keys they write; tests use unique ids instead of flushing."""
    from guide.redis import get_redis

    return get_redis()
