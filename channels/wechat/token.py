"""The access token, shared by every process through Redis, with one refresher at a time.

Each call to WeChat's token endpoint invalidates the previous token, so processes
that refresh on their own knock each other out (the classic intermittent 40001).
Here the token lives in ``guide:wechat:token:{appid}``; a process that finds it
missing takes ``…:lock`` (SET NX) and fetches, the others wait for the new value.
A caller that gets 40001/42001 invalidates only the token it used (compare and
delete), so a late complaint about an old token never throws away a fresh one.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Optional

import httpx

from guide.redis import get_async_redis
from guide.settings import get_settings

LOCK_SECONDS = 15
WAIT_SECONDS = 10.0
EARLY_REFRESH = 300  # WeChat overlaps old and new tokens ~5 min; refresh before expiry
_COMPARE_DELETE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class WeChatAPIError(RuntimeError):
    def __init__(self, errcode: int, errmsg: str = "") -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode, self.errmsg = errcode, errmsg


def key() -> str:
    return f"guide:wechat:token:{get_settings().wechat_appid or 'none'}"


def api_url(path: str) -> str:
    return f"{get_settings().wechat_api_base.rstrip('/')}/cgi-bin/{path}"


async def fetch(http: httpx.AsyncClient) -> tuple[str, int]:
    """One call to /cgi-bin/token; (token, expires_in)."""
    s = get_settings()
    r = await http.get(api_url("token"), params={"grant_type": "client_credential", "appid": s.wechat_appid,
                                                 "secret": s.wechat_secret})
    data = r.json()
    if not data.get("access_token"):
        raise WeChatAPIError(int(data.get("errcode") or -1), str(data.get("errmsg") or "no access_token"))
    return str(data["access_token"]), int(data.get("expires_in") or 7200)


async def access_token(http: httpx.AsyncClient) -> str:
    r = get_async_redis()
    cached = await r.get(key())
    if cached:
        return str(cached)
    me = secrets.token_hex(8)
    if await r.set(key() + ":lock", me, nx=True, ex=LOCK_SECONDS):
        try:
            cached = await r.get(key())  # another refresher may have finished just before we took the lock
            if cached:
                return str(cached)
            token, expires_in = await fetch(http)
            await r.set(key(), token, ex=max(60, expires_in - EARLY_REFRESH))
            return token
        finally:
            await r.eval(_COMPARE_DELETE, 1, key() + ":lock", me)
    waited = 0.0
    while waited < WAIT_SECONDS:
        await asyncio.sleep(0.05)
        waited += 0.05
        cached = await r.get(key())
        if cached:
            return str(cached)
        if not await r.exists(key() + ":lock"):  # the refresher failed: try ourselves
            return await access_token(http)
    raise WeChatAPIError(-1, "等待 access_token 刷新超时")


async def invalidate(token: Optional[str]) -> None:
    if token:
        await get_async_redis().eval(_COMPARE_DELETE, 1, key(), token)
