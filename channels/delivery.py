"""Messages that reach a resident outside a request/response turn: agent replies,
queue updates, rating prompts.

Each channel registers one async pusher.  The conversation's channel is remembered in
Redis when the resident first writes, so whichever gateway copy an agent is connected to
can deliver through the right channel.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

from guide.redis import get_redis

log = logging.getLogger(__name__)
Pusher = Callable[[str, List[Dict[str, Any]]], Awaitable[Dict[str, Any]]]
_pushers: Dict[str, Pusher] = {}


def register(channel: str, pusher: Pusher) -> None:
    _pushers[channel] = pusher


_remembered: "OrderedDict[str, Tuple[str, float]]" = OrderedDict()  # sender -> (channel, when this process wrote it)
REMEMBER_AGAIN_S = 24 * 3600
REMEMBERED_MAX = 50_000


def remember_channel(sender: str, channel: str) -> None:
    """Record the conversation's channel (one round trip; this runs on every turn, so a channel this process
    wrote for the resident within the day is not written again)."""
    now = time.monotonic()
    known, at = _remembered.get(sender, ("", -REMEMBER_AGAIN_S))
    if known == channel and now - at < REMEMBER_AGAIN_S:
        return
    pipe = get_redis().pipeline(transaction=False)
    pipe.hset(f"guide:conv:{sender}", mapping={"channel": channel})
    pipe.expire(f"guide:conv:{sender}", 30 * 24 * 3600)
    pipe.execute()
    _remembered[sender] = (channel, now)
    _remembered.move_to_end(sender)
    while len(_remembered) > REMEMBERED_MAX:
        _remembered.popitem(last=False)


def channel_of(sender: str) -> str:
    return get_redis().hget(f"guide:conv:{sender}", "channel") or ("wechat" if sender.startswith("wx-") else "web")


def quota_left(sender: str, channel: str = "") -> Optional[int]:
    """Out-of-band messages the resident's channel still allows (None: no such limit).

    WeChat allows a few 客服 messages per message the resident sends; ``channels.wechat.quota``
    keeps the count in Redis (absent = none left).  Callers that can wait (queue updates) use this
    to leave the quota to the agent."""
    if (channel or channel_of(sender)) != "wechat":
        return None
    from channels.wechat.quota import quota_key

    raw = get_redis().get(quota_key(sender))
    return int(raw) if raw and str(raw).lstrip("-").isdigit() else 0


async def push(sender: str, messages: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Deliver ``messages`` through the resident's channel; returns the channel's report
    (``{"ok": bool, "error": str, ...}``) so the workbench can show a failure (e.g. WeChat 45015)."""
    channel = channel_of(sender)
    pusher = _pushers.get(channel)
    if pusher is None:
        log.error("no pusher for channel %s", channel)
        return {"ok": False, "error": f"渠道 {channel} 未启用"}
    try:
        return await pusher(sender, messages)
    except Exception as exc:  # noqa: BLE001 - report, never crash the agent's request
        log.exception("push to %s failed", channel)
        return {"ok": False, "error": str(exc)}
