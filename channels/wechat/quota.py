"""The 客服 window and quota of each resident, kept where the agent workbench can read them.

WeChat lets an account send 客服 messages only within 48 hours of the resident's last
message, 5 per message (a menu click or subscribe grants 3 for one minute).
``guide:wechat:window:{sender}`` holds the epoch seconds of the last inbound message;
``guide:wechat:quota:{sender}`` the 客服 messages left (absent = none).  WeChat stays
the authority: 45015 and 45047 from the API correct these keys.
"""

from __future__ import annotations

import time
from typing import Dict

from guide.redis import get_async_redis

WINDOW_SECONDS = 48 * 3600
PER_MESSAGE = 5
PER_EVENT, EVENT_SECONDS = 3, 60
NO_KEFU_SECONDS = 3600  # after a 48001, answer passively for an hour before trying 客服 messages again

ERRORS: Dict[int, str] = {
    45015: "居民已超过48小时未给公众号发消息（或已取消关注），微信不允许再推送客服消息。请等居民再次留言，或拨打电话联系。",
    45047: "居民上次留言后可推送的客服消息已用完（每条留言最多5条），请等居民回复后再发送。",
    43004: "居民已取消关注公众号，无法推送消息。",
    48001: "公众号没有客服消息接口权限（需认证的服务号），请联系管理员。",
    40003: "居民的微信身份（OpenID）无效，无法推送。",
}


def window_key(sender: str) -> str:
    return f"guide:wechat:window:{sender}"


def quota_key(sender: str) -> str:
    return f"guide:wechat:quota:{sender}"


def no_kefu_key() -> str:
    """Set when WeChat said this account may not send 客服 messages at all (48001)."""
    return "guide:wechat:no_kefu"


def error_text(errcode: int, errmsg: str = "") -> str:
    return ERRORS.get(errcode, f"微信推送失败（错误码 {errcode}）：{errmsg or '未知错误'}")


async def on_message(sender: str) -> None:
    """The resident wrote: a fresh 48-hour window with 5 客服 messages."""
    r = get_async_redis()
    pipe = r.pipeline()
    pipe.set(window_key(sender), int(time.time()), ex=WINDOW_SECONDS)
    pipe.set(quota_key(sender), PER_MESSAGE, ex=WINDOW_SECONDS)
    await pipe.execute()


async def on_event(sender: str) -> None:
    """A menu click or subscribe: 3 messages within a minute, unless a message already granted more."""
    r = get_async_redis()
    left = await r.get(quota_key(sender))
    if left is None or int(left) < PER_EVENT:
        await r.set(quota_key(sender), PER_EVENT, ex=EVENT_SECONDS)


async def on_unsubscribe(sender: str) -> None:
    await get_async_redis().delete(window_key(sender), quota_key(sender))


async def spent(sender: str) -> None:
    r = get_async_redis()
    left = await r.decr(quota_key(sender))
    if left <= 0:
        await r.delete(quota_key(sender))


async def refused(sender: str, errcode: int) -> None:
    if errcode in (45015, 43004):
        await get_async_redis().delete(window_key(sender), quota_key(sender))
    elif errcode == 45047:
        await get_async_redis().delete(quota_key(sender))
    elif errcode == 48001:
        await get_async_redis().set(no_kefu_key(), "48001", ex=NO_KEFU_SECONDS)


async def can_push(sender: str) -> bool:
    """Whether a 客服 message to ``sender`` would be accepted, as far as this channel knows.

    When it would not (no quota left, window closed, or the account lacks the 客服 API), an
    answer must go out passively, so the endpoint waits its full reply budget instead of
    handing the answer to a 客服 push that WeChat would refuse."""
    r = get_async_redis()
    left, blocked = await r.mget(quota_key(sender), no_kefu_key())
    return blocked is None and left is not None and int(left) > 0
