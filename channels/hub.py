"""The one place a resident's message goes, whatever channel it came from.

For every inbound turn: drop resends (message id, two-phase: see ``claim_turn``), write the transcript, and ask the
handoff service whether a person is serving this conversation.  If so, the message goes
to that person and not to Rasa; otherwise it goes through the input guard to Rasa, and
the bot's reply is read for control payloads (``handoff``, ``rating``) before it is
returned to the channel.  Channels only translate formats.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Dict, List, Optional, Tuple

import httpx

from bot.guard import long_note, precheck
from channels import commands, delivery, transcript, ui_text
from channels.handoff import service as handoff
from guide import metrics
from guide.loops import PerLoop
from guide.redis import get_redis
from guide.settings import get_settings

log = logging.getLogger(__name__)


@dataclass
class Inbound:
    """One resident turn, already translated from the channel's format."""

    channel: str  # "web" | "wechat"
    sender: str  # conversation id: "web-…" or "wx-<openid>"
    text: str = ""
    msg_id: str = ""  # the channel's id for this message; retries carry the same one
    upload: Optional[Dict[str, Any]] = None  # {"upload_id", "filename", "size"}: a file stored by prereview.uploads.store
    meta: Dict[str, Any] = field(default_factory=dict)


RASA_CALLS = 16  # Rasa answers one message at a time per process: more open calls only queue inside Rasa


def _new_rasa_client() -> Tuple[httpx.AsyncClient, asyncio.Semaphore]:
    return (httpx.AsyncClient(timeout=httpx.Timeout(90, connect=3, pool=90),
                              limits=httpx.Limits(max_connections=RASA_CALLS, max_keepalive_connections=RASA_CALLS)),
            asyncio.Semaphore(RASA_CALLS))


# per event loop (the gateway has one; tests make their own): a pooled client to Rasa and the gate in front of it
_rasa_clients: PerLoop[Tuple[httpx.AsyncClient, asyncio.Semaphore]] = PerLoop(_new_rasa_client)


def _rasa_client() -> Tuple[httpx.AsyncClient, asyncio.Semaphore]:
    """This loop's pooled client to Rasa and its semaphore.

    Calls wait their turn on the semaphore rather than inside httpx: httpcore rescans every
    queued request and connection whenever one starts or ends, and in a burst of 200 WeChat messages
    that scan took 9 of the gateway's 14 busy seconds (py-spy) and pushed acknowledgements past 1 s."""
    return _rasa_clients.get()


# ------------------------------------------------------------------ turns: two-phase dedupe
#
# A turn's id (the channel's message id, or the web page's client id) is claimed with a short
# lease that a heartbeat renews while the turn is processed, and marked done once it is answered.
# A resend while the lease is fresh, or after "done", is dropped; a resend after the lease lapsed
# (the gateway died mid-turn) processes the message again, skipping the steps the dead attempt
# already recorded (the resident's own line on screen, the transcript entry).

CLAIM_LUA = """
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'done' then return {'done', '', ''} end
if status == 'processing' then
  local beat = tonumber(redis.call('HGET', KEYS[1], 'beat') or '0')
  if tonumber(ARGV[2]) - beat < tonumber(ARGV[3]) then return {'busy', '', ''} end
end
redis.call('HSET', KEYS[1], 'status', 'processing', 'token', ARGV[1], 'beat', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
local got = redis.call('HMGET', KEYS[1], 'shown', 'entry')
local kind = 'new'
if status then kind = 'retry' end
return {kind, got[1] or '', got[2] or ''}
"""
OWNED_LUA = """
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
if ARGV[2] == 'release' then
  if redis.call('HGET', KEYS[1], 'status') ~= 'processing' then return 0 end
  redis.call('HSET', KEYS[1], 'status', 'failed', 'beat', '0')
  return 1
end
if redis.call('HGET', KEYS[1], 'status') ~= 'processing' then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return 1
"""


@dataclass
class Turn:
    """One claimed resident turn (see the comment above)."""

    key: str
    token: str
    status: str  # "new" | "retry" (a dead attempt's lease lapsed) | "busy" (being processed) | "done"
    shown: str = ""  # the resident's line already on their screen (web outbox id)
    entry: str = ""  # the transcript entry already written

    @property
    def fresh(self) -> bool:
        """This caller processes the turn."""
        return self.status in ("new", "retry")


def claim_turn(channel: str, msg_id: str) -> Turn:
    """Claim a turn by its id; an empty id is always processed (nothing to recognise a resend by)."""
    if not msg_id:
        return Turn("", "", "new")
    s = get_settings()
    key = f"guide:dedupe:{channel}:{msg_id}"
    token = secrets.token_hex(8)
    status, shown, entry = handoff.script(CLAIM_LUA)(keys=[key], args=[token, f"{time.time():.3f}", s.turn_lease_s, s.turn_keep_s])
    return Turn(key, token, str(status), str(shown or ""), str(entry or ""))


async def claim_turn_waiting(channel: str, msg_id: str) -> Turn:
    """Claim a turn; if another attempt is processing it, wait until it is done (a resend gets nothing new)
    or its lease lapses (the attempt died: this caller takes it over).  Bounded by the lease."""
    turn = claim_turn(channel, msg_id)
    deadline = time.monotonic() + get_settings().turn_lease_s + 2
    while turn.status == "busy" and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        turn = claim_turn(channel, msg_id)
    return turn


def note_turn(turn: Turn, **progress: str) -> None:
    """Record a step done (``shown=…``, ``entry=…``) so a retry after a crash does not repeat it."""
    if not turn.key:
        return
    for field_name, value in progress.items():
        handoff.script(OWNED_LUA)(keys=[turn.key], args=[turn.token, field_name, value])
        setattr(turn, field_name, value)


def finish_turn(turn: Turn) -> None:
    """The turn is answered: resends are dropped from now on (for ``turn_keep_s``)."""
    if not turn.key:
        return
    pipe = get_redis().pipeline()
    pipe.hset(turn.key, mapping={"status": "done", "beat": f"{time.time():.3f}"})
    pipe.expire(turn.key, get_settings().turn_keep_s)
    pipe.execute()


def release_turn(turn: Turn) -> None:
    """The turn failed in this process (an error, not a crash): a resend may process it at once."""
    if turn.key:
        handoff.script(OWNED_LUA)(keys=[turn.key], args=[turn.token, "release", ""])


@asynccontextmanager
async def leased(turn: Turn) -> AsyncIterator[Turn]:
    """Keep the turn's lease alive while it is processed; done on success, released on an error."""
    if not turn.key:
        yield turn
        return

    async def beat() -> None:
        every = max(0.2, get_settings().turn_lease_s / 3)
        while True:
            await asyncio.sleep(every)
            await asyncio.to_thread(handoff.script(OWNED_LUA), keys=[turn.key], args=[turn.token, "beat", f"{time.time():.3f}"])

    task = asyncio.create_task(beat())
    try:
        yield turn
    except BaseException:
        task.cancel()
        release_turn(turn)
        raise
    task.cancel()
    await asyncio.to_thread(finish_turn, turn)


async def handle(msg: Inbound, turn: Optional[Turn] = None) -> List[Dict[str, Any]]:
    """Process one turn and return the messages to show the resident now (possibly none).

    With a ``msg_id`` the hub claims the turn itself; a channel that claimed it already (the web
    chat, which shows the resident's line first) passes its ``turn``.
    """
    if turn is None:
        turn = await asyncio.to_thread(claim_turn, msg.channel, msg.msg_id)
        if not turn.fresh:
            return []
        async with leased(turn):
            return await _process(msg, turn)
    return await _process(msg, turn)


def _book_in(msg: Inbound, turn: Turn, shown: str) -> Tuple[str, bool]:
    """The turn's blocking book-keeping (several Redis round trips), run on a worker thread so the event loop
    keeps acknowledging WeChat and serving sockets in a burst: returns (transcript entry, a person serves)."""
    delivery.remember_channel(msg.sender, msg.channel)
    entry = turn.entry
    if not entry:
        entry = transcript.append(msg.sender, "resident", shown, **({"upload": msg.upload} if msg.upload else {}))
        note_turn(turn, entry=entry)
    return entry, handoff.person_serving(msg.sender)


async def _process(msg: Inbound, turn: Turn) -> List[Dict[str, Any]]:
    metrics.count_message(msg.channel, "upload" if msg.upload else "resident")
    shown = msg.text if msg.upload is None else ui_text.UPLOAD_SHOWN.format(name=msg.upload.get('filename', ''))
    entry, served = await asyncio.to_thread(_book_in, msg, turn, shown)

    if served:
        answered = await handoff.resident_message(msg.sender, msg.channel, shown, entry, upload=msg.upload)
        if answered is not None:
            return answered
        # an agent closed or handed back between the two looks: the bot answers, the message is not dropped

    if msg.upload is not None:
        rasa_text = "/upload_received" + json.dumps({"upload": json.dumps(msg.upload, ensure_ascii=False)}, ensure_ascii=False)
    else:
        reply, rasa_text = precheck(msg.text)
        if reply:
            transcript.append(msg.sender, "bot", reply)
            return [{"kind": "bot", "text": reply}]
        if commands.asks_for_person(msg.text):
            return await _person_asked(msg)
    with metrics.turn_timer(msg.channel):
        messages = await bot_turn(msg.sender, rasa_text)
    note = long_note(msg.text) if msg.upload is None else None
    if note:
        messages.insert(0, {"kind": "bot", "text": note})
    return await _after_bot(msg, messages)


async def _person_asked(msg: Inbound) -> List[Dict[str, Any]]:
    """"转人工" and its like: the handoff service at once, with the service the bot was discussing."""
    transcript.append(msg.sender, "bot", ui_text.HANDOFF_ASKED)
    shown: List[Dict[str, Any]] = [{"kind": "bot", "text": ui_text.HANDOFF_ASKED}]
    shown.extend(await handoff.request(msg.sender, msg.channel, reason="asked", service_id=commands.current_service(msg.sender)))
    return shown


async def bot_turn(sender: str, text: str) -> List[Dict[str, Any]]:
    """One Rasa turn over its REST channel (the Rasa server keeps the tracker in Redis)."""
    try:
        # X-Guide-Sender lets a load balancer keep one resident on one Rasa server (nginx: hash $http_x_guide_sender)
        client, gate = _rasa_client()
        async with gate:
            r = await client.post(f"{get_settings().rasa_base}/webhooks/rest/webhook", json={"sender": sender, "message": text},
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
            await asyncio.to_thread(transcript.append, msg.sender, "bot", m.get("text", ""), **extra)
            shown.append(m)
        if custom.get("rating"):
            from channels import ratings

            ratings.prompt_bot(msg.sender)  # the bot's part of the conversation ended: its rating is one episode
            shown.append({"kind": "rating", "context": "bot", "text": ""})
        if custom.get("handoff"):
            request = custom["handoff"]
            shown.extend(await handoff.request(msg.sender, msg.channel, reason=str(request.get("reason") or "asked"),
                                               service_id=request.get("service") or "", note=str(request.get("note") or "")))
    return shown
