"""Post signed WeChat XML to a gateway, as WeChat does (the simulator's builder, over real HTTP)."""

from __future__ import annotations

import time
import uuid
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
