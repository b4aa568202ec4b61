"""From a WeChat message or event to the answer's text parts.

Text, recognised voice, images (as uploads) and menu clicks go through the hub like
every other channel; subscribe, location and what WeChat cannot carry to the bot are
answered here.  Rendering remembers, per resident, what a bare number means next
time: an option whose payload is not the number itself, or a rating level.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Tuple

from channels import hub
from channels.wechat import menu, quota, texts
from channels.wechat.media import MediaTooLarge, fetch_media
from channels.wechat.messages import Incoming, bare_number, chunks
from channels.wechat.token import WeChatAPIError
from guide.redis import get_async_redis
from guide.settings import get_settings

log = logging.getLogger(__name__)
MEMORY_SECONDS = 24 * 3600
GRANTING_EVENTS = {"subscribe", "subscribe_scan", "scan", "click", "scancode_push", "scancode_waitmsg"}


def options_key(sender: str) -> str:
    return f"guide:wechat:options:{sender}"


def rating_key(sender: str) -> str:
    return f"guide:wechat:rating:{sender}"


def bot(text: str) -> List[Dict[str, Any]]:
    return [{"kind": "bot", "text": text}]


async def on_arrival(msg: Incoming) -> None:
    """Book-keeping on the first delivery of a message: the 客服 window and quota."""
    if msg.msg_type != "event":  # any message the resident sends, even a type we cannot read
        await quota.on_message(msg.sender)
    elif msg.event in GRANTING_EVENTS:
        await quota.on_event(msg.sender)
    elif msg.event == "unsubscribe":
        await quota.on_unsubscribe(msg.sender)


async def answer(msg: Incoming) -> List[Dict[str, Any]]:
    """The hub-style messages answering ``msg`` (possibly none)."""
    meta = {"openid": msg.from_user, "account": msg.to_user, "msg_type": msg.msg_type}
    if msg.msg_type == "text":
        return await _text(msg, msg.content, meta)
    if msg.msg_type == "voice":
        if msg.recognition.strip():
            return await _text(msg, msg.recognition, {**meta, "voice": True})
        return bot(texts.VOICE_TYPE)
    if msg.msg_type == "image":
        return await _image(msg, meta)
    if msg.msg_type == "location":
        return bot(_halls(msg.label or f"{msg.latitude},{msg.longitude}"))
    if msg.msg_type == "event":
        return await _event(msg, meta)
    return bot(texts.UNSUPPORTED)


async def _turn(msg: Incoming, text: str, meta: Dict[str, Any], upload: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    return await hub.handle(hub.Inbound(channel="wechat", sender=msg.sender, text=text, msg_id=msg.dedupe_key,
                                        upload=upload, meta=meta))


async def _text(msg: Incoming, text: str, meta: Dict[str, Any]) -> List[Dict[str, Any]]:
    number = bare_number(text)
    if number is not None:
        r = get_async_redis()
        context = await r.get(rating_key(msg.sender))
        if context and 1 <= int(number) <= 5:
            await r.delete(rating_key(msg.sender))
            return _rate(msg.sender, int(number), context)
        payload = await r.hget(options_key(msg.sender), number)
        if payload:
            text = payload
    return await _turn(msg, text, meta)


def _rate(sender: str, level: int, context: str) -> List[Dict[str, Any]]:
    try:
        from channels import ratings
    except ImportError:
        return bot(texts.RATING_UNAVAILABLE)
    result = ratings.submit(sender, "wechat", level, "", context=context)
    return [{"kind": "system", "text": str(result.get("text") or texts.RATING_UNAVAILABLE)}]


async def _image(msg: Incoming, meta: Dict[str, Any]) -> List[Dict[str, Any]]:
    try:
        upload = await fetch_media(msg.media_id, msg.sender)
    except MediaTooLarge:
        return bot(texts.IMAGE_TOO_LARGE.format(mb=get_settings().max_upload_mb))
    except (WeChatAPIError, OSError) as exc:
        log.warning("wechat media %s not downloaded: %s", msg.media_id[-8:], exc)
        return bot(texts.IMAGE_FAILED)
    size = upload.pop("size", 0)
    return await _turn(msg, "", {**meta, "size": size}, upload=upload)


async def _event(msg: Incoming, meta: Dict[str, Any]) -> List[Dict[str, Any]]:
    if msg.event in ("subscribe", "subscribe_scan"):
        from knowledge.base import current

        return bot(texts.WELCOME.format(name=current().profile.wechat_name))
    if msg.event == "click":
        action = menu.click(msg.event_key)
        if action.get("reply"):
            return bot(action["reply"])
        if action.get("ask"):
            return await _turn(msg, action["ask"], {**meta, "menu": msg.event_key})
        return bot(texts.MENU_UNKNOWN)
    return []  # unsubscribe, view, scan, template/kf events: nothing to say (WeChat would not show it)


def _halls(label: str) -> str:
    from knowledge.base import current

    lines = [texts.LOCATION.format(label=label.strip()[:60] or "未命名位置")]
    for hall in current().profile.halls.values():
        hours = "；".join(f"{h.days} {h.open}-{h.close}" for h in hall.hours)
        lines.append(f"· {hall.name}：{hall.address}（{hours}）")
    lines.append(texts.LOCATION_TAIL)
    return "\n".join(lines)


async def shape(sender: str, messages: List[Dict[str, Any]]) -> Tuple[List[str], Dict[str, str]]:
    """Text parts for WeChat; remembers what the numbers in them mean for this resident's next message."""
    parts, numbers = chunks(messages)
    r = get_async_redis()
    mapped = {n: p for n, p in numbers.items() if n != p}
    pipe = r.pipeline()
    if parts:
        pipe.delete(options_key(sender))
        if mapped:
            pipe.hset(options_key(sender), mapping=mapped)
            pipe.expire(options_key(sender), MEMORY_SECONDS)
    rating = next((m for m in messages if m.get("kind") == "rating"), None)
    if rating is not None:
        pipe.set(rating_key(sender), str(rating.get("context") or "bot"), ex=MEMORY_SECONDS)
    elif parts:
        pipe.delete(rating_key(sender))
    await pipe.execute()
    return parts, numbers
