"""The WeChat API calls this channel makes: 客服 text, media download, menu creation.

Async (httpx) so a slow WeChat never blocks the gateway's event loop.  A call that
gets 40001/40014/42001 (token invalid or expired) invalidates the shared token and
tries again, at most ``TOKEN_RETRIES`` times (wechatpy's own retry has no bound);
-1 (system busy) is retried once.  Everything else is raised as ``WeChatAPIError``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import httpx

from channels.wechat import token as tokens
from channels.wechat.token import WeChatAPIError
from guide.loops import PerLoop

log = logging.getLogger(__name__)
TOKEN_ERRORS = {40001, 40014, 42001}
TOKEN_RETRIES = 2
CONCURRENT_CALLS = 8


def _new_client() -> Tuple[httpx.AsyncClient, asyncio.Semaphore]:
    return (httpx.AsyncClient(timeout=httpx.Timeout(10, connect=3),
                              limits=httpx.Limits(max_connections=CONCURRENT_CALLS, max_keepalive_connections=CONCURRENT_CALLS)),
            asyncio.Semaphore(CONCURRENT_CALLS))


_clients: PerLoop[Tuple[httpx.AsyncClient, asyncio.Semaphore]] = PerLoop(_new_client)


def http() -> httpx.AsyncClient:
    """One pooled client per event loop (the gateway has one; CLI runs and tests make their own).

    The pool stays small and calls wait their turn on a semaphore (``gate``): httpcore 1.0 rescans
    every connection and every queued request whenever a request starts or ends, so hundreds of
    requests queued inside httpx cost far more CPU than waiting outside it."""
    return _clients.get()[0]


def gate() -> asyncio.Semaphore:
    return _clients.get()[1]


@dataclass
class Media:
    content: bytes
    content_type: str
    filename: str


async def _call(method: str, path: str, *, body: Optional[Dict[str, Any]] = None,
                params: Optional[Dict[str, str]] = None, raw: bool = False) -> Any:
    busy_retried = False
    attempt = 0
    while True:
        token = await tokens.access_token(http())
        data = (json.dumps(body, ensure_ascii=False).encode("utf-8") if body is not None else None)
        async with gate():
            r = await http().request(method, tokens.api_url(path), params={**(params or {}), "access_token": token},
                                     content=data, headers={"Content-Type": "application/json; charset=utf-8"} if data else None)
            await r.aread()
        ctype = r.headers.get("content-type", "")
        if raw and "json" not in ctype and "text/plain" not in ctype:
            return r
        try:
            result = r.json()
        except ValueError as exc:
            raise WeChatAPIError(-1, f"HTTP {r.status_code}: 非 JSON 应答") from exc
        code = int(result.get("errcode") or 0)
        if code == 0:
            return r if raw else result
        if code in TOKEN_ERRORS and attempt < TOKEN_RETRIES:
            attempt += 1
            log.warning("wechat %s: token rejected (%s), refreshing (%d/%d)", path, code, attempt, TOKEN_RETRIES)
            await tokens.invalidate(token)
            continue
        if code == -1 and not busy_retried:
            busy_retried = True
            await asyncio.sleep(0.3)
            continue
        raise WeChatAPIError(code, str(result.get("errmsg") or ""))


async def send_text(openid: str, content: str) -> None:
    await _call("POST", "message/custom/send", body={"touser": openid, "msgtype": "text", "text": {"content": content}})


async def download_media(media_id: str) -> Media:
    r = await _call("GET", "media/get", params={"media_id": media_id}, raw=True)
    disposition = r.headers.get("content-disposition", "")
    filename = disposition.split("filename=", 1)[1].strip('"; ') if "filename=" in disposition else f"{media_id}.jpg"
    return Media(r.content, r.headers.get("content-type", "application/octet-stream").split(";")[0].strip(), filename)


async def create_menu(menu: Dict[str, Any]) -> Dict[str, Any]:
    return dict(await _call("POST", "menu/create", body=menu))
