"""The 12345 web chat: a phone-width page, a WebSocket, uploads and ratings.

Everything a resident's screen shows is appended to one Redis stream per resident
(``guide:webout:{sender}``): their own messages, bot answers, agent replies, queue
updates.  A socket tails that stream from the last id the page has seen, so a
reconnect (or a second tab, or another gateway copy) shows every message exactly once.
The resident is identified by a signed cookie; nothing else is trusted from the page.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from typing import Any, Dict, List, Optional

from fastapi import APIRouter, File, Form, Request, Response, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse
from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import BaseModel, Field

from channels import delivery, hub, ui_text
from channels.templates_env import templates
from guide.redis import get_async_redis, get_redis
from guide.settings import get_settings, secret_key

log = logging.getLogger(__name__)
router = APIRouter()
COOKIE = "guide_resident"
OUTBOX_MAX = 300
REPLAY = 60


# ----------------------------------------------------------------- identity

def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(secret_key(), salt="webchat-resident")


def resident_from_cookie(raw: Optional[str]) -> Optional[str]:
    if not raw or len(raw) > 200:
        return None
    try:
        sender = _serializer().loads(raw)
    except BadSignature:
        return None
    return sender if isinstance(sender, str) and sender.startswith("web-") else None


def ensure_resident(request: Request, response: Response) -> str:
    """The resident's conversation id from the signed cookie, or a new one (cookie set on ``response``)."""
    sender = resident_from_cookie(request.cookies.get(COOKIE))
    if sender is None:
        sender = "web-" + secrets.token_hex(12)
        response.set_cookie(COOKIE, _serializer().dumps(sender), max_age=180 * 24 * 3600, httponly=True, samesite="lax",
                            secure=get_settings().base_url.startswith("https"))
    return sender


# ----------------------------------------------------------------- outbox

def outbox_key(sender: str) -> str:
    return f"guide:webout:{sender}"


def _fields(message: Dict[str, Any]) -> Dict[str, str]:
    out = {"kind": str(message.get("kind") or "bot"), "text": str(message.get("text") or ""), "at": f"{time.time():.3f}"}
    for k in ("buttons", "link", "status", "client_id", "context"):
        if message.get(k) not in (None, "", []):
            out[k] = message[k] if isinstance(message[k], str) else json.dumps(message[k], ensure_ascii=False)
    return out


def post(sender: str, messages: List[Dict[str, Any]]) -> List[str]:
    """Append messages to the resident's screen; returns their ids."""
    r = get_redis()
    pipe = r.pipeline()
    for m in messages:
        pipe.xadd(outbox_key(sender), _fields(m), maxlen=OUTBOX_MAX, approximate=True)
    pipe.expire(outbox_key(sender), 30 * 24 * 3600)
    return [str(x) for x in pipe.execute()[:-1]]


def decode(entry_id: str, fields: Dict[str, str]) -> Dict[str, Any]:
    out: Dict[str, Any] = {"id": entry_id, "kind": fields.get("kind", "bot"), "text": fields.get("text", "")}
    for k in ("buttons", "link", "status"):
        if fields.get(k):
            out[k] = json.loads(fields[k])
    for k in ("client_id", "context"):
        if fields.get(k):
            out[k] = fields[k]
    return out


def history(sender: str, after: str = "") -> List[Dict[str, Any]]:
    r = get_redis()
    if after and _valid_id(after):
        entries = r.xrange(outbox_key(sender), min=f"({after}", max="+", count=OUTBOX_MAX)
    else:
        entries = list(reversed(r.xrevrange(outbox_key(sender), count=REPLAY)))
    return [decode(i, f) for i, f in entries]


def _valid_id(value: str) -> bool:
    # ASCII digits only: str.isdigit() also accepts "²", which Redis refuses
    return len(value) < 40 and re.fullmatch(r"[0-9]+(-[0-9]+)?", value) is not None


async def push_web(sender: str, messages: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The web channel's out-of-band delivery (agents' replies, queue updates): the socket shows them."""
    post(sender, messages)
    return {"ok": True, "error": ""}


delivery.register("web", push_web)


# ----------------------------------------------------------------- turns

def too_fast(sender: str) -> bool:
    """More than ``webchat_rate_limit`` messages in 10 seconds from one resident."""
    key = f"guide:rate:web:{sender}:{int(time.time() // 10)}"
    pipe = get_redis().pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, 20)
    n, _ = pipe.execute()
    return int(n) > get_settings().webchat_rate_limit


async def resident_turn(sender: str, text: str, client_id: str = "", upload: Optional[Dict[str, Any]] = None,
                        wait: bool = False) -> List[Dict[str, Any]]:
    """Show the resident's message, run it through the hub, show the answers; returns the answers.

    ``wait`` (HTTP callers, which resend after an error): a resend of a turn another gateway copy is
    still processing waits for it, and takes it over if that copy died, so a 200 means it was handled."""
    msg_id = f"{sender}:{client_id}" if client_id else ""
    turn = await hub.claim_turn_waiting("web", msg_id) if wait else hub.claim_turn("web", msg_id)
    if not turn.fresh:
        return []  # the page resent a message being answered or answered already (reconnect): shown and answered once
    async with hub.leased(turn):
        if not turn.shown:  # a retry after a crashed gateway already showed the resident's line
            shown = text if upload is None else ui_text.UPLOAD_SHOWN.format(name=upload.get('filename', ''))
            hub.note_turn(turn, shown=post(sender, [{"kind": "me", "text": shown, "client_id": client_id}])[0])
        if too_fast(sender):
            answers = [{"kind": "system", "text": ui_text.CHAT_TOO_FAST}]
        else:
            answers = await hub.handle(hub.Inbound(channel="web", sender=sender, text=text, upload=upload), turn)
        if answers:
            post(sender, answers)
    return answers


class ChatIn(BaseModel):
    text: str = Field("", description="resident's message; the input guard caps its length")
    client_id: str = Field("", max_length=64, description="the page's id for this message; a resend with the same id is ignored")


class ChatOut(BaseModel):
    messages: List[Dict[str, Any]]


@router.post("/api/chat", response_model=ChatOut)
async def chat(body: ChatIn, request: Request, response: Response) -> ChatOut:
    """Plain request/response entry (scripts, and pages where WebSockets are blocked)."""
    sender = ensure_resident(request, response)
    answers = await resident_turn(sender, body.text, body.client_id, wait=True)
    return ChatOut(messages=[{k: v for k, v in m.items() if k in ("kind", "text", "buttons", "link", "status", "image")}
                             for m in answers])


@router.get("/api/webchat/messages")
def messages(request: Request, response: Response, after: str = "") -> Dict[str, Any]:
    """Polling fallback: everything on the resident's screen after ``after``."""
    sender = ensure_resident(request, response)
    return {"messages": history(sender, after)}


@router.post("/api/webchat/upload")
async def upload(request: Request, response: Response, file: UploadFile = File(...), client_id: str = Form("")) -> JSONResponse:
    """A photo or PDF for pre-review: stored (size-capped while reading) and passed to the bot as an upload turn."""
    from prereview import uploads

    sender = ensure_resident(request, response)
    limit = get_settings().max_upload_mb * 1024 * 1024
    chunks: List[bytes] = []
    size = 0
    while True:
        chunk = await file.read(1024 * 1024)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            post(sender, [{"kind": "system", "text": ui_text.UPLOAD_TOO_LARGE.format(mb=get_settings().max_upload_mb)}])
            return JSONResponse({"ok": False, "error": ui_text.UPLOAD_TOO_LARGE.format(mb=get_settings().max_upload_mb)},
                                status_code=413)
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data:
        return JSONResponse({"ok": False, "error": ui_text.UPLOAD_EMPTY}, status_code=400)
    name = (file.filename or "upload").replace("/", "_")[-100:]
    stored = uploads.store(data, name)
    answers = await resident_turn(sender, "", client_id, upload={"upload_id": stored.id, "filename": stored.name,
                                                                "size": stored.size}, wait=True)
    return JSONResponse({"ok": True, "messages": answers})


class RatingIn(BaseModel):
    level: int = Field(..., ge=1, le=5, description="5 非常满意 … 1 非常不满意")
    comment: str = Field("", max_length=500)
    context: str = Field("bot", regex="^(bot|agent)$")


@router.post("/api/webchat/rating")
def rating(body: RatingIn, request: Request, response: Response) -> Any:
    """One rating per rated episode (``ratings.submit`` refuses a second one politely), under the rate limit."""
    from channels import ratings

    sender = ensure_resident(request, response)
    if too_fast(sender):
        post(sender, [{"kind": "system", "text": ui_text.CHAT_TOO_FAST}])
        out = JSONResponse({"ok": False, "text": ui_text.CHAT_TOO_FAST}, status_code=429)
        for k, v in response.headers.items():
            if k == "set-cookie":
                out.headers.append(k, v)
        return out
    result = ratings.submit(sender, "web", body.level, body.comment, context=body.context)
    post(sender, [{"kind": "system", "text": result["text"]}])
    return {"ok": not result.get("duplicate"), **result}


# ----------------------------------------------------------------- page + socket

@router.get("/", response_class=HTMLResponse)
def chat_page(request: Request) -> HTMLResponse:
    response = HTMLResponse("")
    ensure_resident(request, response)
    page = templates.get_template("webchat.html").render(t=ui_text.WEBCHAT, t_json=json.dumps(ui_text.WEBCHAT, ensure_ascii=False))
    out = HTMLResponse(page)
    for k, v in response.headers.items():
        if k == "set-cookie":
            out.headers.append(k, v)
    return out


def _same_origin(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin")
    if not origin:
        return True  # non-browser clients send none; the signed cookie is still required
    host = ws.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


@router.websocket("/ws/chat")
async def chat_socket(ws: WebSocket) -> None:
    sender = resident_from_cookie(ws.cookies.get(COOKIE))
    await ws.accept()  # accept first: a close before accepting reaches the page as a bare 403 with no code to act on
    if sender is None or not _same_origin(ws):
        await ws.close(code=4401)  # the page reloads, which issues a fresh signed identity
        return
    after = ws.query_params.get("after", "")
    tail = asyncio.create_task(_tail(ws, sender, after))
    try:
        while True:
            raw = await ws.receive_text()
            if len(raw) > 20000:
                await ws.send_json({"kind": "system", "text": ui_text.BAD_REQUEST})
                continue
            try:
                frame = json.loads(raw)
            except ValueError:
                await ws.send_json({"kind": "system", "text": ui_text.BAD_REQUEST})
                continue
            if not isinstance(frame, dict) or frame.get("type") == "ping":
                continue
            if frame.get("type") == "message":
                client_id = str(frame.get("client_id") or "")[:64]
                await resident_turn(sender, str(frame.get("text") or ""), client_id)
    except WebSocketDisconnect:
        pass
    except RuntimeError as exc:  # the page vanished mid-frame (closed tab, lost network): an ordinary disconnect
        log.debug("web chat socket closed abruptly: %s", exc)
    except Exception:  # noqa: BLE001 - one broken socket must not take the gateway down
        log.exception("web chat socket failed")
    finally:
        tail.cancel()


async def _tail(ws: WebSocket, sender: str, after: str) -> None:
    """Send the backlog after ``after``, then every new entry of the resident's stream."""
    last = "0"
    for item in history(sender, after):
        await ws.send_json(item)
        last = item["id"]
    if last == "0":
        if after and _valid_id(after):
            last = after
        else:  # nothing yet: start at the stream's current end (never "$", which would skip entries between reads)
            newest = get_redis().xrevrange(outbox_key(sender), count=1)
            last = newest[0][0] if newest else "0-0"
    r = get_async_redis()
    key = outbox_key(sender)
    while True:
        got = await r.xread({key: last}, block=15000, count=50)
        for _stream, entries in got or []:
            for entry_id, fields in entries:
                await ws.send_json(decode(entry_id, fields))
                last = entry_id
