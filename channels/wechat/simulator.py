"""Play a WeChat user locally: build, sign and (optionally) encrypt XML exactly as WeChat does.

``signed_request`` is the one builder, used by the page at ``/wechat/simulator``, by
``guide wechat simulate``, by ``bench`` and by the tests.  The page is served only in
demo setups (``WECHAT_SIMULATOR=1`` or a loopback ``WECHAT_API_BASE``): it signs with
the account's token, so it must never be reachable in production.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlparse

import httpx
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from channels.wechat.crypto import MessageCrypto, nonce, signature
from channels.wechat.messages import parse_xml
from guide.settings import get_settings, secret_key

router = APIRouter()
ACCOUNT = "gh_guide_demo"
PAGE = Path(__file__).with_name("templates") / "simulator.html"
_msg_ids = random.SystemRandom()


@dataclass
class Account:
    token: str
    appid: str = ""
    aes_key: str = ""

    @classmethod
    def from_settings(cls) -> "Account":
        s = get_settings()
        return cls(s.wechat_token, s.wechat_appid, s.wechat_aes_key)


def _cdata(v: str) -> str:
    return "<![CDATA[" + v.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def message_xml(openid: str, kind: str = "text", text: str = "", *, msg_id: Optional[int] = None, event_key: str = "",
                media_id: str = "", recognition: Optional[str] = None, create_time: Optional[int] = None,
                to_user: str = ACCOUNT) -> Tuple[str, Dict[str, Any]]:
    """The plaintext XML WeChat would post for ``kind`` (text, image, voice, location, subscribe,
    unsubscribe, click, view, or any other MsgType); returns (xml, its fields)."""
    created = create_time or int(time.time())
    fields: Dict[str, Any] = {"ToUserName": to_user, "FromUserName": openid, "CreateTime": created}
    events = {"subscribe", "unsubscribe", "click", "view"}
    if kind in events:
        fields.update(MsgType="event", Event=kind.upper() if kind in ("click", "view") else kind)
        if kind in ("click", "view"):
            fields["EventKey"] = event_key
    else:
        fields["MsgType"] = kind
        if kind == "text":
            fields["Content"] = text
        elif kind == "image":
            fields.update(PicUrl=f"http://mmbiz.qpic.cn/{media_id}", MediaId=media_id)
        elif kind == "voice":
            fields.update(MediaId=media_id or "VOICE_MEDIA", Format="amr")
            if recognition is not None:
                fields["Recognition"] = recognition
        elif kind == "location":
            fields.update(Location_X="39.8617", Location_Y="116.3236", Scale="15", Label=text or "北京市丰台区西三环南路")
        fields["MsgId"] = msg_id if msg_id is not None else _msg_ids.randrange(10**15, 10**16)
    body = "".join(f"<{k}>{v}</{k}>" if isinstance(v, int) else f"<{k}>{_cdata(str(v))}</{k}>" for k, v in fields.items())
    return f"<xml>{body}</xml>", fields


def signed_request(account: Account, xml: str, mode: str = "plain", *, timestamp: Optional[int] = None,
                   openid: str = "") -> Tuple[Dict[str, str], bytes]:
    """Query parameters and body of WeChat's POST in ``plain``, ``compat`` or ``safe`` mode."""
    ts, nc = str(timestamp or int(time.time())), nonce()
    params = {"signature": signature(account.token, ts, nc), "timestamp": ts, "nonce": nc}
    if openid:
        params["openid"] = openid
    if mode == "plain":
        return params, xml.encode("utf-8")
    crypto = MessageCrypto(account.token, account.aes_key, account.appid)
    encrypted = crypto.encrypt_field(xml)
    params.update(encrypt_type="aes", msg_signature=signature(account.token, ts, nc, encrypted))
    if mode == "safe":
        to_user = parse_xml(xml).get("ToUserName", "")
        body = f"<xml><ToUserName>{_cdata(to_user)}</ToUserName><Encrypt>{_cdata(encrypted)}</Encrypt></xml>"
    else:  # compatible: the plaintext fields and Encrypt side by side
        body = xml[: -len("</xml>")] + f"<Encrypt>{_cdata(encrypted)}</Encrypt></xml>"
    return params, body.encode("utf-8")


def read_reply(account: Account, body: str) -> str:
    """The text a resident would see from a passive reply ('' for ``success`` or an empty body)."""
    if not body or body == "success":
        return ""
    fields = parse_xml(body)
    if "Encrypt" in fields:
        crypto = MessageCrypto(account.token, account.aes_key, account.appid)
        fields = parse_xml(crypto.decrypt(fields["Encrypt"], fields.get("MsgSignature"), fields.get("TimeStamp", ""),
                                          fields.get("Nonce", "")))
    return fields.get("Content", "")


async def post(http: httpx.AsyncClient, base: str, account: Account, xml: str, mode: str = "plain") -> httpx.Response:
    params, body = signed_request(account, xml, mode, openid=parse_xml(xml).get("FromUserName", ""))
    return await http.post(f"{base.rstrip('/')}/wechat", params=params, content=body,
                           headers={"Content-Type": "text/xml; charset=utf-8"})


# ----------------------------------------------------------------- the page

LOOPBACK = ("127.0.0.1", "localhost", "::1")
TOKEN_SECONDS = 12 * 3600
TOKEN_HEADER = "X-Simulator-Token"


def enabled() -> bool:
    """Served only when switched on (``WECHAT_SIMULATOR``) and talking to a fake WeChat API on loopback.

    The page signs messages with the account's token, so against the real WeChat API it would let anyone
    speak as any resident; ``WECHAT_SIMULATOR_REAL_API`` is the explicit override for a staging account."""
    s = get_settings()
    host = urlparse(s.wechat_api_base).hostname or ""
    return bool(s.wechat_token) and s.wechat_simulator and (host in LOOPBACK or s.wechat_simulator_real_api)


def target() -> str:
    """This gateway's own base URL from the settings (never the request's Host header, which a caller controls)."""
    s = get_settings()
    if s.wechat_simulator_target:
        return s.wechat_simulator_target.rstrip("/")
    host = s.gateway_host if s.gateway_host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    return f"http://{'[' + host + ']' if ':' in host else host}:{s.gateway_port}"


def page_token(now: Optional[float] = None) -> str:
    """A token the page sends back with every post (a cross-site form cannot read or send it)."""
    stamp = str(int(now if now is not None else time.time()))
    mac = hmac.new(secret_key().encode(), f"wechat-simulator:{stamp}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{stamp}.{mac}"


def token_ok(token: str) -> bool:
    stamp, _, _mac = (token or "").partition(".")
    if not stamp.isdigit() or time.time() - int(stamp) > TOKEN_SECONDS:
        return False
    return hmac.compare_digest(page_token(int(stamp)), token)


def _guard(request: Optional[Request] = None) -> None:
    """404 when the simulator is off; 403 for a post without this page's token."""
    if not enabled():
        raise HTTPException(404, "模拟器未开启")
    if request is not None and not token_ok(request.headers.get(TOKEN_HEADER, "")):
        raise HTTPException(403, "请从模拟器页面发送（缺少或过期的页面令牌，请刷新页面）")


class SimIn(BaseModel):
    openid: str = Field("o_demo_resident", regex=r"^[A-Za-z0-9_-]{1,64}$")
    kind: str = Field("text", regex=r"^(text|image|voice|location|subscribe|unsubscribe|click|view)$")
    text: str = Field("", max_length=2000)
    event_key: str = Field("", max_length=128)
    media_id: str = Field("", max_length=128)
    mode: str = Field("plain", regex=r"^(plain|compat|safe)$")


@router.get("/wechat/simulator", response_class=HTMLResponse)
def page() -> HTMLResponse:
    _guard()
    html = PAGE.read_text(encoding="utf-8").replace("{{SIMULATOR_TOKEN}}", page_token())
    return HTMLResponse(html, headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"})


@router.post("/wechat/simulator/send")
async def send(body: SimIn, request: Request) -> Dict[str, Any]:
    """Post one signed message to this gateway's /wechat as WeChat would; returns what WeChat would get back."""
    _guard(request)
    return await _send(body)


async def _send(body: SimIn) -> Dict[str, Any]:
    account = Account.from_settings()
    if body.mode != "plain" and not account.aes_key:
        raise HTTPException(400, "未配置 WECHAT_AES_KEY，只能用明文模式")
    recognition = body.text if body.kind == "voice" and body.text else None
    xml, _ = message_xml(body.openid, body.kind, body.text, event_key=body.event_key, media_id=body.media_id,
                         recognition=recognition)
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=10) as http:
        r = await post(http, target(), account, xml, body.mode)
    elapsed = round((time.perf_counter() - started) * 1000)
    reply = read_reply(account, r.text) if r.status_code == 200 else ""
    return {"status": r.status_code, "elapsed_ms": elapsed, "reply": reply, "raw": r.text[:4000], "sent_xml": xml}


@router.post("/wechat/simulator/image")
async def image(request: Request, openid: str = "o_demo_resident", mode: str = "plain") -> Dict[str, Any]:
    """Put the posted image on the fake WeChat server (as if the resident's phone uploaded it), then send it."""
    _guard(request)
    data = await request.body()
    if not data or len(data) > get_settings().max_upload_mb * 1024 * 1024:
        raise HTTPException(400, "图片为空或过大")
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(f"{get_settings().wechat_api_base.rstrip('/')}/fake/media", content=data,
                            headers={"Content-Type": request.headers.get("content-type", "image/jpeg")})
    media_id = str(r.json()["media_id"])
    try:
        sim = SimIn(openid=openid, kind="image", text="", event_key="", media_id=media_id, mode=mode)
    except ValueError as exc:
        raise HTTPException(422, "OpenID 或模式无效") from exc
    return await _send(sim)


@router.get("/wechat/simulator/pushed")
async def pushed(request: Request, openid: str = "o_demo_resident", after: int = 0) -> Dict[str, Any]:
    """客服 messages the fake WeChat server recorded for this resident (what their phone would show)."""
    _guard(request)
    async with httpx.AsyncClient(timeout=5) as http:
        r = await http.get(f"{get_settings().wechat_api_base.rstrip('/')}/fake/sent", params={"touser": openid, "after": after})
    return {"sent": [{"seq": m["seq"], "text": (m.get("text") or {}).get("content", "")} for m in r.json().get("sent", [])]}
