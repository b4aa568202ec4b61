"""The server URL WeChat calls: ``GET /wechat`` (verification) and ``POST /wechat`` (messages).

Every request is checked before anything is read: the signature (sha1 of token,
timestamp, nonce), the timestamp (an old one is a replay), then the body size.
Safe and compatible modes are chosen by WeChat per request (``encrypt_type=aes``):
the ``Encrypt`` field is verified with ``msg_signature`` and decrypted, and the
reply is encrypted the same way.

A message is answered within ``WECHAT_REPLY_BUDGET`` seconds (WeChat gives up at 5):
passively when the answer is ready, otherwise ``success`` at once and the answer
follows as 客服 messages; retries share the first delivery's answer (``dedupe``).
In a burst (more than ``WECHAT_BUSY_TURNS`` messages in flight in this gateway) the
wait shrinks to ``WECHAT_BUSY_BUDGET`` so acknowledgements stay fast.
Whatever fails inside, the response is a reply or ``success`` — never a 5xx, which
WeChat would show the resident as "该公众号暂时无法提供服务".
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Dict, List, Optional, Set

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.background import BackgroundTask

from channels import delivery, transcript, ui_text
from channels.wechat import dedupe, handling, quota
from channels.wechat.client import send_text
from channels.wechat.crypto import CryptoError, MessageCrypto, check
from channels.wechat.messages import BadMessage, Incoming, parse, parse_xml, text_reply
from channels.wechat.simulator import router as simulator_router
from channels.wechat.token import WeChatAPIError
from guide import metrics
from guide.settings import get_settings

log = logging.getLogger(__name__)
router = APIRouter()
router.include_router(simulator_router)
PROCESS_TIMEOUT = 120.0
_tasks: Set[asyncio.Task] = set()


def _refuse(status: int, text: str) -> PlainTextResponse:
    return PlainTextResponse(text, status_code=status)


def _signed(request: Request) -> Optional[PlainTextResponse]:
    """None when the request carries a valid, fresh signature; otherwise the refusal."""
    s = get_settings()
    if not s.wechat_token:
        return _refuse(404, "微信公众号未配置")
    q = request.query_params
    timestamp, nonce = q.get("timestamp", ""), q.get("nonce", "")
    if not check(q.get("signature"), s.wechat_token, timestamp, nonce):
        return _refuse(403, "签名无效")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > s.wechat_timestamp_skew:
        return _refuse(403, "时间戳过期")
    return None


@router.get("/wechat", response_class=PlainTextResponse)
async def verify(request: Request) -> PlainTextResponse:
    """WeChat's URL check: echo ``echostr`` when the signature is right (plain in every mode)."""
    refused = _signed(request)
    if refused is not None:
        return refused
    return PlainTextResponse(request.query_params.get("echostr", "")[:200])


async def _read(request: Request, limit: int) -> Optional[bytes]:
    """The body, or None as soon as it exceeds ``limit`` bytes (nothing larger is held in memory)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            return None
    return bytes(body)


@router.post("/wechat")
async def receive(request: Request) -> Response:
    refused = _signed(request)
    if refused is not None:
        return refused
    s = get_settings()
    body = await _read(request, s.wechat_max_body_kb * 1024)
    if body is None:
        return _refuse(413, "消息过大")
    q = request.query_params
    crypto: Optional[MessageCrypto] = None
    try:
        fields = parse_xml(body)
        if q.get("encrypt_type", "raw").lower() == "aes":
            if not s.wechat_aes_key or "Encrypt" not in fields:
                return _refuse(400, "无法解密")
            crypto = MessageCrypto(s.wechat_token, s.wechat_aes_key, s.wechat_appid)
            fields = parse_xml(crypto.decrypt(fields["Encrypt"], q.get("msg_signature"), q["timestamp"], q["nonce"]))
        msg = parse(fields)
    except CryptoError:
        return _refuse(403, "消息签名或加密无效")
    except BadMessage as exc:
        log.info("wechat: unreadable body (%s)", exc)
        return _refuse(400, "消息格式无效")

    try:
        return await _answer(msg, crypto, q.get("nonce", ""))
    except Exception:  # noqa: BLE001 - Redis down or any other fault: an apology, never a 5xx
        log.exception("wechat: answering %s failed before a reply", msg.dedupe_key[-24:])
        metrics.count("errors", where="wechat_receive")
        return _passive(msg, ui_text.BOT_UNAVAILABLE, crypto, q.get("nonce", ""))


def _passive(msg: Incoming, text: str, crypto: Optional[MessageCrypto], nonce: str,
             background: Optional[BackgroundTask] = None) -> Response:
    xml = text_reply(msg.from_user, msg.to_user, text)
    if crypto is not None:
        xml = crypto.encrypt(xml, nonce)
    return Response(xml, media_type="application/xml", background=background)


async def _answer(msg: Incoming, crypto: Optional[MessageCrypto], nonce: str) -> Response:
    """Claim the delivery, start answering it (first delivery only) and wait for the answer within the budget."""
    s = get_settings()
    attempt = await dedupe.claim(msg.dedupe_key)
    if attempt == 1:
        try:
            await handling.on_arrival(msg)
        except Exception:  # noqa: BLE001 - quota book-keeping must not stop the answer
            log.exception("wechat: 客服 window book-keeping failed for %s", msg.dedupe_key[-24:])
        task = asyncio.create_task(_process(msg))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)
    else:
        log.info("wechat: delivery %d of %s", attempt, msg.dedupe_key[-24:])
    # a burst (now, or starting while this message waits): ack after the short budget, the answer follows as
    # 客服 messages — unless a push would be refused, then the whole budget is spent waiting for a passive reply
    hurry_after = s.wechat_busy_budget if await quota.can_push(msg.sender) else float("inf")
    state, parts = await dedupe.wait(msg.dedupe_key, attempt, s.wechat_reply_budget, hurry_after,
                                     lambda: dedupe.in_flight() > s.wechat_busy_turns)
    if state != "passive" or not parts:
        return PlainTextResponse("success")
    rest = BackgroundTask(_push_rest, msg.dedupe_key, msg.sender, parts[1:]) if len(parts) > 1 else None
    return _passive(msg, parts[0], crypto, nonce, rest)


async def _process(msg: Incoming) -> None:
    """Answer one message (first delivery only) and hand the parts to whoever delivers them.

    Whatever fails, the turn is finished (``dedupe.finish`` in ``finally``): the waiting request
    gets the answer or an apology, and this gateway stops counting the message as in flight."""
    parts = [ui_text.BOT_UNAVAILABLE]
    outcome = ""
    try:
        try:
            messages = await asyncio.wait_for(handling.answer(msg), timeout=PROCESS_TIMEOUT)
        except Exception:  # noqa: BLE001 - the resident gets an apology, never silence
            log.exception("wechat: answering %s failed", msg.dedupe_key[-24:])
            messages = [{"kind": "bot", "text": ui_text.BOT_UNAVAILABLE}]
        try:
            parts, _ = await handling.shape(msg.sender, messages)
        except Exception:  # noqa: BLE001 - an answer that cannot be shaped becomes an apology
            log.exception("wechat: shaping the answer to %s failed", msg.dedupe_key[-24:])
            metrics.count("errors", where="wechat_shape")
            parts = [ui_text.BOT_UNAVAILABLE]
    finally:
        try:
            outcome = await dedupe.finish(msg.dedupe_key, parts)
        except Exception:  # noqa: BLE001 - a background task has no caller to report to
            log.exception("wechat: finishing %s failed", msg.dedupe_key[-24:])
    if outcome == "push":
        await _deliver_answer(msg.sender, parts)


async def _push_rest(key: str, sender: str, parts: List[str]) -> None:
    try:
        if await dedupe.first_push(key):
            await _deliver_answer(sender, parts)
    except Exception:  # noqa: BLE001 - runs after the response: log, never raise into the server
        log.exception("wechat: pushing the rest of %s failed", key[-24:])


async def _deliver_answer(sender: str, parts: List[str]) -> None:
    """The bot's answer as 客服 messages; a refusal is written to the transcript, where agents see it."""
    report = await deliver(sender, parts)
    if report["ok"]:
        return
    try:
        await asyncio.to_thread(transcript.append, sender, "system",
                                f"机器人答复未能通过客服消息送达（已发 {report['sent']}/{len(parts)} 条）：{report['error']}",
                                internal=True)
    except Exception:  # noqa: BLE001 - the log line in ``deliver`` remains
        log.exception("wechat: recording an undelivered answer for %s failed", sender[:10])


async def deliver(sender: str, parts: List[str]) -> Dict[str, Any]:
    """Send text parts as 客服 messages, in order, stopping at the first refusal."""
    openid = sender[3:] if sender.startswith("wx-") else sender
    sent = 0
    for part in parts:
        try:
            await send_text(openid, part)
        except WeChatAPIError as exc:
            await quota.refused(sender, exc.errcode)
            log.warning("wechat: 客服 message refused (%s) after %d sent", exc.errcode, sent)
            return {"ok": False, "errcode": exc.errcode, "error": quota.error_text(exc.errcode, exc.errmsg), "sent": sent}
        except Exception as exc:  # noqa: BLE001 - network trouble is reported to the agent, not raised
            log.warning("wechat: 客服 message not sent: %s", exc)
            return {"ok": False, "errcode": -1, "error": f"微信推送失败：{type(exc).__name__}", "sent": sent}
        await quota.spent(sender)
        sent += 1
    return {"ok": True, "errcode": 0, "error": "", "sent": sent}


async def push(sender: str, messages: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The channel's pusher for ``channels.delivery`` (agents' replies, queue updates, rating prompts)."""
    parts, _ = await handling.shape(sender, messages)
    if not parts:
        return {"ok": True, "errcode": 0, "error": "", "sent": 0}
    return await deliver(sender, parts)


delivery.register("wechat", push)
