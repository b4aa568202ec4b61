"""The one place a resident's message goes, whatever channel it came from.

For every inbound turn: drop retries (message id), write the transcript, and ask the
handoff service whether a person is serving this conversation.  If so, the message goes
to that person and not to Rasa; otherwise it goes through the input guard to Rasa, and
the bot's reply is read for control payloads (``handoff``, ``rating``) before it is
returned to the channel.  Channels only translate formats.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import httpx

from bot.guard import long_note, precheck
from channels import delivery, transcript, ui_text
from channels.handoff import service as handoff
from guide import metrics
from guide.redis import get_redis
from guide.settings import get_settings

log = logging.getLogger(__name__)
DEDUPE_SECONDS = 3600
_client: Optional[httpx.AsyncClient] = None


@dataclass
class Inbound:
    """One resident turn, already translated from the channel's format."""

    channel: str  # "web" | "wechat"
    sender: str  # conversation id: "web-…" or "wx-<openid>"
    text: str = ""
    msg_id: str = ""  # the channel's id for this message; retries carry the same one
    upload: Optional[Dict[str, Any]] = None  # {"upload_id", "filename", "size"}: a file stored by prereview.uploads.store
    meta: Dict[str, Any] = field(default_factory=dict)


def _http() -> httpx.AsyncClient:
    global _client
    if _client is None:
        # a small pool: httpcore rescans every pooled connection per request, so 200 slots cost more CPU than they save
        _client = httpx.AsyncClient(timeout=httpx.Timeout(90, connect=3, pool=90),
                                    limits=httpx.Limits(max_connections=32, max_keepalive_connections=32))
    return _client


def first_time(channel: str, msg_id: str) -> bool:
    """True once per message id: retried deliveries (WeChat's 3 retries, a web client resending) return False."""
    if not msg_id:
        return True
    return bool(get_redis().set(f"guide:dedupe:{channel}:{msg_id}", "1", nx=True, ex=DEDUPE_SECONDS))


async def handle(msg: Inbound) -> List[Dict[str, Any]]:
    """Process one turn and return the messages to show the resident now (possibly none)."""
    if not first_time(msg.channel, msg.msg_id):
        return []
    metrics.count_message(msg.channel, "upload" if msg.upload else "resident")
    delivery.remember_channel(msg.sender, msg.channel)
    shown = msg.text if msg.upload is None else f"［上传文件］{msg.upload.get('filename', '')}"
    entry = transcript.append(msg.sender, "resident", shown, **({"upload": msg.upload} if msg.upload else {}))

    if handoff.person_serving(msg.sender):
        return await handoff.resident_message(msg.sender, msg.channel, shown, entry, upload=msg.upload)

    if msg.upload is not None:
        rasa_text = "/upload_received" + json.dumps({"upload": json.dumps(msg.upload, ensure_ascii=False)}, ensure_ascii=False)
    else:
        reply, rasa_text = precheck(msg.text)
        if reply:
            transcript.append(msg.sender, "bot", reply)
            return [{"kind": "bot", "text": reply}]
    with metrics.turn_timer(msg.channel):
        messages = await bot_turn(msg.sender, rasa_text)
    note = long_note(msg.text) if msg.upload is None else None
    if note:
        messages.insert(0, {"kind": "bot", "text": note})
    return await _after_bot(msg, messages)


async def bot_turn(sender: str, text: str) -> List[Dict[str, Any]]:
    """One Rasa turn over its REST channel (the Rasa server keeps the tracker in Redis)."""
    try:
        # X-Guide-Sender lets a load balancer keep one resident on one Rasa server (nginx: hash $http_x_guide_sender)
        r = await _http().post(f"{get_settings().rasa_base}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                               headers={"X-Guide-Sender": sender})
        r.raise_for_status()
        raw = r.json() or []
    except (httpx.HTTPError, ValueError) as exc:
        log.error("rasa unreachable: %s", exc)
        metrics.count("errors", where="rasa_unreachable")
        return [{"kind": "bot", "text": ui_text.BOT_UNAVAILABLE, "error": "bot_unavailable"}]
    out: List[Dict[str, Any]] = []
    for m in raw:
        item: Dict[str, Any] = {"kind": "bot"}
        for k in ("text", "buttons", "image"):
            if m.get(k):
                item[k] = m[k]
        if isinstance(m.get("custom"), dict):
            item["custom"] = m["custom"]
        out.append(item)
    return out


async def _after_bot(msg: Inbound, messages: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Record the bot's turn and act on its control payloads."""
    shown: List[Dict[str, Any]] = []
    for m in messages:
        custom = m.pop("custom", None) or {}
        if custom.get("link") and not m.get("text"):
            m["text"] = str(custom["link"].get("title") or "")
        if custom.get("link"):
            m["link"] = custom["link"]
        if m.get("text") or m.get("buttons"):
            extra = {k: m[k] for k in ("buttons", "link") if m.get(k)}
            if custom.get("notice"):
                extra["notice"] = custom["notice"]
            transcript.append(msg.sender, "bot", m.get("text", ""), **extra)
            shown.append(m)
        if custom.get("rating"):
            shown.append({"kind": "rating", "context": "bot", "text": ""})
        if custom.get("handoff"):
            request = custom["handoff"]
            shown.extend(await handoff.request(msg.sender, msg.channel, reason=str(request.get("reason") or "asked"),
                                               service_id=request.get("service") or "", note=str(request.get("note") or "")))
    return shown
