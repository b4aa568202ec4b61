"""Post signed WeChat XML to a gateway, as WeChat does (the simulator's builder, over real HTTP)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import httpx

from channels.wechat.simulator import Account, message_xml, read_reply, signed_request

TOKEN = "guide-wechat-test-token"
APPID = "wx49f0ab532d5d035a"  # the app id of wechatpy's crypto test vector
SECRET = "guide-test-secret"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
ACCOUNT = Account(TOKEN, APPID, AES_KEY)


def openid() -> str:
    return "o_test_" + uuid.uuid4().hex[:16]


def post(base: str, xml: str, mode: str = "plain", params: Optional[Dict[str, str]] = None,
         body: Optional[bytes] = None, timeout: float = 10) -> httpx.Response:
    if params is None or body is None:
        params, body = signed_request(ACCOUNT, xml, mode)
    return httpx.post(f"{base}/wechat", params=params, content=body, headers={"Content-Type": "text/xml"}, timeout=timeout)


def say(base: str, who: str, text: str = "", kind: str = "text", mode: str = "plain", timeout: float = 10,
        **kw: Any) -> Tuple[httpx.Response, str]:
    xml, _ = message_xml(who, kind, text, **kw)
    r = post(base, xml, mode, timeout=timeout)
    return r, read_reply(ACCOUNT, r.text) if r.status_code == 200 else ""


def pushed(api: str, who: str, wait: float = 0.0, count: int = 1) -> List[str]:
    """客服 texts the fake WeChat server recorded for ``who`` (waiting up to ``wait`` s for ``count`` of them)."""
    deadline = time.time() + wait
    while True:
        sent = httpx.get(f"{api}/fake/sent", params={"touser": who}).json()["sent"]
        texts = [m["text"]["content"] for m in sent]
        if len(texts) >= count or time.time() >= deadline:
            return texts
        time.sleep(0.1)


# kept here, not in conftest: with several test folders in one run, "import conftest" is ambiguous
ROOT = Path(__file__).resolve().parents[2]
BUDGET = "1.5"  # seconds the gateway waits for a passive reply in these tests (production: 4.0)


def _free_port() -> int:
    from bot.local import free_port

    return int(free_port())


def _start(cmd: list, health: str, env: Dict[str, str], log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    for _ in range(240):
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd[2]} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(health, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    proc.terminate()
    raise RuntimeError(f"{cmd} not ready: {log.read_text()[-2000:]}")


def wechat_env(api_base: str) -> Dict[str, str]:
    return {"WECHAT_TOKEN": TOKEN, "WECHAT_APPID": APPID, "WECHAT_SECRET": SECRET, "WECHAT_AES_KEY": AES_KEY,
            "WECHAT_API_BASE": api_base}


def start_gateway(wx: Dict[str, str], logs: Path, name: str, **extra: str) -> tuple:
    """Another real gateway beside ``wx_gateway`` (same database, fake WeChat and scripted Rasa) with ``extra`` settings;
    returns (process, base URL).  The caller terminates the process."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, **wechat_env(wx["api"]), "PUBLIC_BASE_URL": base, "GATEWAY_PORT": str(port), "RASA_URL": wx["rasa"],
           "VAR_DIR": wx["var"], "DATABASE_URL": f"sqlite:///{logs}/gateway.db", "WECHAT_REPLY_BUDGET": BUDGET, **extra}
    proc = _start([sys.executable, "-m", "uvicorn", "channels.gateway:app", "--host", "127.0.0.1", "--port", str(port)],
                  base + "/healthz", env, logs / f"gateway-{name}.log")
    return proc, base
