"""The agent workbench and the supervisor's monitor: pages, JSON API and a live feed (SSE).

Routes are thin: they check who is asking (``channels.auth.require_roles``; every
state-changing request carries the CSRF header), check that an agent only touches their
own conversations and their own queue, call ``channels.handoff.service`` and audit what
was viewed.  Lists never show an ID or phone number in clear; the full text is shown only
to the agent serving the conversation.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import aclosing
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List, Optional

import httpx
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from channels import transcript
from channels.audit import audit
from channels.auth import Staff, require_roles
from channels.handoff import feed as live_feed
from channels.handoff import queues, service, workorders
from channels.handoff.states import STATE_NAMES, State
from guide import metrics
from guide.masking import mask
from guide.redis import get_async_redis, get_redis
from guide.settings import get_settings

log = logging.getLogger(__name__)

router = APIRouter()
_pages = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"]))
AGENT = require_roles("agent", "supervisor")
SUPERVISOR = require_roles("supervisor")
CANNED = (
    "您好，我是人工导办专员，很高兴为您服务。请问您想办理什么事项？",
    "请稍等，我帮您查询一下。",
    "请问您是本市户籍吗？",
    "您可以在“一网通办”网上办理，无需到现场。",
    "如需到现场办理，建议先通过“一网通办”预约，并带齐材料原件。",
    "请问还有其他需要帮助的吗？",
    "感谢您的耐心等待，祝您办事顺利！",
)
FEED_FIELDS = ("type", "sender", "agent", "prev_agent", "tier", "state", "prev_state", "by", "entry", "at", "status", "waited")
QUEUE_EVENTS = {"request", "escalate", "requeue", "claim", "abandon", "time_out", "take_over"}
WINDOW_S = 48 * 3600


# ------------------------------------------------------------------ access rules

def is_supervisor(staff: Staff) -> bool:
    return staff.has("supervisor")


def _me(staff: Staff) -> Dict[str, Any]:
    return {"username": staff.username, "name": staff.display_name, "tier": staff.tier, "skills": staff.skills}


def can_see(staff: Staff, conv: Dict[str, str]) -> bool:
    """Supervisors see everything; an agent sees conversations they serve and those waiting in their queue."""
    if is_supervisor(staff):
        return True
    state = conv.get("state")
    if state == State.WITH_AGENT:
        return conv.get("agent") == staff.username
    if state == State.QUEUED:
        return queues.serves(_me(staff), conv.get("tier") or "guide", conv.get("group", ""))
    return False


def event_visible(staff: Staff, event: Dict[str, str]) -> bool:
    if is_supervisor(staff):
        return True
    if staff.username in (event.get("agent"), event.get("prev_agent")):
        return True
    queued = event.get("state") == State.QUEUED or event.get("prev_state") == State.QUEUED or event.get("type") in QUEUE_EVENTS
    return queued and event.get("type") != "presence" and queues.serves(_me(staff), event.get("tier") or "guide", event.get("group", ""))


def _conv_or_404(sender: str, staff: Staff) -> Dict[str, str]:
    conv = queues.conv(sender)
    if not conv or not can_see(staff, conv):
        raise HTTPException(404, "没有这个会话，或您无权查看")
    return conv


VIEW_AUDIT_EVERY_S = 600


def audit_view(staff: Staff, view: str, load: bool, detail: str = "") -> None:
    """Audit a list view once per page load (the page says ``load=1`` on its first call, not on its polls),
    and at least every ``VIEW_AUDIT_EVERY_S`` per person and view whatever the client says."""
    key = f"guide:audit:view:{staff.username}:{view}"
    r = get_redis()
    if load:
        r.set(key, "1", ex=VIEW_AUDIT_EVERY_S)
    elif not r.set(key, "1", nx=True, ex=VIEW_AUDIT_EVERY_S):
        return
    audit(staff.username, f"{view}.view", view, detail)


# ------------------------------------------------------------------ views of a conversation

def _first_question(sender: str) -> str:
    return transcript.first_question(sender) or ""


def wechat_window(sender: str) -> Dict[str, str]:
    """The 48-hour 客服 window and remaining quota the WeChat module keeps in Redis ("—" when unknown)."""
    if not sender.startswith("wx-"):
        return {}
    r = get_redis()
    last, quota = r.get(f"guide:wechat:window:{sender}"), r.get(f"guide:wechat:quota:{sender}")
    window = "—"
    if last:
        left = WINDOW_S - (time.time() - float(last))
        window = "已超出48小时会话窗口，无法再发送客服消息" if left <= 0 else f"剩余 {int(left // 3600)} 小时 {int(left % 3600 // 60)} 分"
    return {"window": window, "quota": quota if quota is not None else "—"}


def item(sender: str, conv: Dict[str, str], full: bool = False) -> Dict[str, Any]:
    """One conversation as a list row (masked)."""
    now = time.time()
    state = conv.get("state") or State.BOT
    queued = float(conv.get("queued_at") or 0)
    name, _ = service.service_info(conv.get("service", ""))
    out = {"sender": sender, "state": state, "state_name": STATE_NAMES.get(state, state), "channel": conv.get("channel", ""),
           "tier": conv.get("tier", "guide"), "tier_name": queues.TIER_NAMES.get(conv.get("tier") or "guide", ""),
           "group": conv.get("group", ""), "service": conv.get("service", ""), "service_name": name,
           "reason": service.REASONS.get(conv.get("reason", ""), conv.get("reason", "")), "agent": conv.get("agent", ""),
           "agent_name": conv.get("agent_name", ""), "waiting_s": int(now - queued) if queued and state == State.QUEUED else 0,
           "preview": mask(_first_question(sender))[:80], "waiting_on": conv.get("waiting_on", "")}
    if state == State.QUEUED:
        out["position"] = queues.position(sender, conv.get("tier") or "guide")
    return out


async def _tracker_slots(sender: str) -> Dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            r = await client.get(f"{get_settings().rasa_base}/conversations/{sender}/tracker", params={"include_events": "NONE"})
            r.raise_for_status()
            return dict(r.json().get("slots") or {})
    except (httpx.HTTPError, ValueError):
        return {}


async def summary(sender: str, conv: Dict[str, str], full: bool) -> Dict[str, Any]:
    """What the agent needs before the first word: service, scenario, pre-review notice, what the bot already said."""
    slots = await _tracker_slots(sender)
    service_id = conv.get("service") or slots.get("service") or ""
    name, domain = service.service_info(service_id)
    scenario = slots.get("scenario") or ""
    scenario_name = ""
    if service_id and scenario:
        from knowledge import base

        holder = base._holder
        svc = holder._kb.service(service_id) if holder is not None and holder._kb is not None else None
        scenario_name = next((s.name for s in (svc.scenarios if svc else []) if s.id == scenario), scenario)
    pre = slots.get("prereview") or {}
    notice = conv.get("note", "")
    if not notice and isinstance(pre, dict) and pre.get("service"):
        notice = f"已开始预审（事项 {pre.get('service')}，已上传 {len(pre.get('files') or [])} 个文件）"
    answered = transcript.bot_answers(sender, 60)[-5:]
    show = (lambda t: t) if full else mask
    return {"service": service_id, "service_name": name, "domain": domain, "scenario": scenario_name,
            "reason": service.REASONS.get(conv.get("reason", ""), conv.get("reason", "")), "prereview": show(notice),
            "bot_answered": [show(a)[:300] for a in answered], "first_question": show(_first_question(sender))[:300],
            "episode": conv.get("episode", ""), "transfer_note": show(conv.get("transfer_note", "")),
            "wechat": wechat_window(sender)}


def _entries(sender: str, after: str, full: bool) -> List[Dict[str, Any]]:
    out = []
    for e in transcript.read(sender, after=after or "-"):
        text = e["text"] if full else mask(e["text"])
        out.append({"id": e["id"], "role": e["role"], "text": text, "at": e["at"], "agent_name": e.get("agent_name", ""),
                    "internal": bool(e.get("internal")), "upload": (e.get("upload") or {}).get("filename", "")})
    return out


# ------------------------------------------------------------------ pages

@router.get("/workbench", response_class=HTMLResponse, include_in_schema=False)
def workbench_page(staff: Staff = Depends(AGENT)) -> HTMLResponse:
    audit(staff.username, "workbench.open", "workbench", "")
    return HTMLResponse(_pages.get_template("workbench.html").render(
        me=staff, supervisor=is_supervisor(staff), categories=service.CLOSE_CATEGORIES, tiers=queues.TIER_NAMES,
        stages=workorders.STAGES, canned=canned()))


@router.get("/supervisor", response_class=HTMLResponse, include_in_schema=False)
def supervisor_page(staff: Staff = Depends(SUPERVISOR)) -> HTMLResponse:
    audit(staff.username, "supervisor.open", "supervisor", "")
    return HTMLResponse(_pages.get_template("supervisor.html").render(me=staff))


def canned() -> List[str]:
    configured = [c.strip() for c in get_settings().handoff_canned_replies.split("|") if c.strip()]
    return configured or list(CANNED)


# ------------------------------------------------------------------ agent API

@router.get("/api/workbench/state")
def state(load: bool = False, staff: Staff = Depends(AGENT)) -> Dict[str, Any]:
    r = get_redis()
    me = queues.agents([staff.username])[0]
    queue: List[Dict[str, Any]] = []
    for tier in queues.TIERS:
        for sender in r.zrange(queues.queue_key(tier), 0, 199):
            conv = queues.conv(sender)
            if conv.get("state") == State.QUEUED and can_see(staff, conv):
                queue.append(item(sender, conv))
    mine = [item(s, queues.conv(s)) for s in sorted(r.smembers(queues.agent_convs_key(staff.username)))]
    audit_view(staff, "workbench.state", load, f"排队 {len(queue)} 个，我的会话 {len(mine)} 个")
    return {"me": {**_me(staff), "status": me["status"], "status_name": me["status_name"], "load": me["load"],
                   "capacity": me["capacity"], "supervisor": is_supervisor(staff)},
            "queue": queue, "mine": mine,
            "desk": {"open": queues.desk_open(), "mode": queues.desk_mode(), "hours": queues.hours_text()}}


class PresenceIn(BaseModel):
    status: str = Field(..., regex="^(online|away|offline)$")


@router.post("/api/workbench/presence")
async def presence(body: PresenceIn, staff: Staff = Depends(AGENT)) -> Dict[str, Any]:
    await run_in_threadpool(queues.set_presence, staff.username, body.status, staff.display_name, staff.tier, staff.skills)
    await run_in_threadpool(audit, staff.username, "agent.presence", staff.username, queues.PRESENCE_NAMES[body.status])
    assigned = await service.dispatch() if body.status == "online" else 0
    return {"ok": True, "status": body.status, "assigned": assigned}


@router.get("/api/workbench/conversations/{sender}")
async def conversation(sender: str, request: Request, after: str = "", staff: Staff = Depends(AGENT)) -> Dict[str, Any]:
    conv = _conv_or_404(sender, staff)
    full = conv.get("state") == State.WITH_AGENT and conv.get("agent") == staff.username
    if not after:
        await run_in_threadpool(audit, staff.username, "conversation.view", sender, "完整" if full else "脱敏")
        return {"conversation": item(sender, conv), "summary": await summary(sender, conv, full),
                "entries": _entries(sender, "", full), "full": full}
    return {"conversation": item(sender, conv), "entries": _entries(sender, after, full), "full": full}


def _fail(exc: Exception) -> HTTPException:
    if isinstance(exc, PermissionError):
        return HTTPException(403, str(exc))
    return HTTPException(409, str(exc))


@router.post("/api/workbench/conversations/{sender}/claim")
async def claim(sender: str, staff: Staff = Depends(AGENT)) -> Dict[str, Any]:
    conv = queues.conv(sender)
    if not conv or (conv.get("state") == State.QUEUED and not can_see(staff, conv)):
        raise HTTPException(404, "没有这个会话，或您无权查看")
    # not queued any more (another agent was quicker, or it ended): the claim below says so with a 409
    out = await service.claim(sender, staff.username, staff.display_name, supervisor=is_supervisor(staff),
                              tier=staff.tier or "guide", skills=list(staff.skills))
    if not out.ok:
        raise HTTPException(409, out.error)
    return {"ok": True, "state": out.state}


class ReplyIn(BaseModel):
    text: str = Field(..., min_length=1, max_length=2000)


@router.post("/api/workbench/conversations/{sender}/reply")
async def reply(sender: str, body: ReplyIn, staff: Staff = Depends(AGENT)) -> Dict[str, Any]:
    try:
        result = await service.reply(sender, staff.username, staff.display_name, body.text, supervisor=is_supervisor(staff))
    except (PermissionError, ValueError) as exc:
        raise _fail(exc) from exc
    report = result["delivery"]
    return {"ok": bool(report.get("ok")), "entry": result["entry"], "error": report.get("error", "")}


class TransferIn(BaseModel):
    to: str = Field("", max_length=64, description="colleague's username")
    tier: str = Field("", regex="^(|guide|expert)$", description="or a tier's queue")
    note: str = Field("", max_length=500)


@router.post("/api/workbench/conversations/{sender}/transfer")
async def transfer(sender: str, body: TransferIn, staff: Staff = Depends(AGENT)) -> Dict[str, Any]:
    try:
        if body.to:
            out = await service.transfer(sender, staff.username, body.to, body.note, supervisor=is_supervisor(staff))
        elif body.tier:
            out = await service.escalate(sender, staff.username, body.tier, body.note, supervisor=is_supervisor(staff))
        else:
            raise ValueError("请选择转给哪位同事或哪个队列")
    except (PermissionError, ValueError) as exc:
        raise _fail(exc) from exc
    return {"ok": True, "state": out.state}


class HandBackIn(BaseModel):
    service_id: str = Field("", max_length=8)
    note: str = Field("", max_length=500)


@router.post("/api/workbench/conversations/{sender}/handback")
async def hand_back(sender: str, body: HandBackIn, staff: Staff = Depends(AGENT)) -> Dict[str, Any]:
    try:
        out = await service.hand_back(sender, staff.username, body.service_id.strip().upper(), body.note, supervisor=is_supervisor(staff))
    except (PermissionError, ValueError) as exc:
        raise _fail(exc) from exc
    return {"ok": True, "state": out.state, "warning": out.error}


class CloseIn(BaseModel):
    category: str = Field(..., max_length=32)
    summary: str = Field("", max_length=1000)


@router.post("/api/workbench/conversations/{sender}/close")
async def close(sender: str, body: CloseIn, staff: Staff = Depends(AGENT)) -> Dict[str, Any]:
    try:
        out = await service.close(sender, staff.username, body.category, body.summary, supervisor=is_supervisor(staff))
    except (PermissionError, ValueError) as exc:
        raise _fail(exc) from exc
    return {"ok": True, "state": out.state}


class OrderIn(BaseModel):
    content: str = Field(..., min_length=4, max_length=4000)
    title: str = Field("", max_length=200)
    phone: str = Field("", max_length=32)


@router.post("/api/workbench/conversations/{sender}/workorder")
async def create_order(sender: str, body: OrderIn, staff: Staff = Depends(AGENT)) -> Dict[str, Any]:
    conv = _conv_or_404(sender, staff)
    if conv.get("state") != State.WITH_AGENT or (conv.get("agent") != staff.username and not is_supervisor(staff)):
        raise HTTPException(403, "只能为您正在接待的会话创建工单")
    context = "\n".join(f"{e['role']}：{e['text']}" for e in transcript.last(sender, 30))
    order = await run_in_threadpool(lambda: workorders.create(
        sender=sender, channel=conv.get("channel", ""), source="conversation", content=body.content, title=body.title,
        phone=body.phone, service_id=conv.get("service", ""), created_by=staff.username, context=context))
    await service.tell(sender, [{"kind": "system", "text": f"已为您登记12345工单，编号 {order['number']}，"
                                                         f"可随时发送“查询工单 {order['number']}”查看进度。"}])
    get_redis().hset(queues.conv_key(sender), "workorder", order["number"])
    return {"ok": True, "number": order["number"]}


@router.get("/api/workbench/colleagues")
def colleagues(staff: Staff = Depends(AGENT)) -> Dict[str, Any]:
    return {"agents": [{k: a[k] for k in ("username", "name", "tier", "status", "status_name", "load", "capacity")}
                       for a in queues.agents() if a["username"] != staff.username]}


@router.get("/api/workbench/knowledge")
def knowledge(q: str = "", service_id: str = "", staff: Staff = Depends(AGENT)) -> Dict[str, Any]:
    """Quick inserts: services matching ``q``; with ``service_id`` its guide elements and FAQs."""
    from knowledge.base import current

    kb = current()
    if service_id:
        svc = kb.service(service_id.strip().upper())
        if svc is None:
            raise HTTPException(404, "没有这个事项")
        elements = [{"name": k, "text": v} for k, v in kb.elements(svc.id).items() if v]
        faqs = [{"q": f.q, "a": f.a} for f in svc.faqs]
        return {"service": {"id": svc.id, "name": svc.name}, "elements": elements, "faqs": faqs, "url": kb.guide_url(svc.id)}
    hits = kb.index.search(q[:100], k=8) if q.strip() else []
    return {"services": [{"id": h.service_id, "name": h.name} for h in hits]}


# ------------------------------------------------------------------ live feed

def _feed_fields(fields: Dict[str, str]) -> Dict[str, str]:
    return {k: v for k, v in fields.items() if k in FEED_FIELDS}


@router.get("/api/workbench/feed")
async def feed(request: Request, staff: Staff = Depends(AGENT)) -> StreamingResponse:
    """Server-sent events: this agent's assignments, messages and queue changes (supervisors: everything)."""
    start = request.headers.get("last-event-id") or request.query_params.get("after") or ""

    async def events() -> AsyncIterator[str]:
        r = get_async_redis()
        last = await live_feed.resume_point(start)
        yield "retry: 1500\n\n"
        yield f"event: hello\ndata: {json.dumps({'agent': staff.username, 'last': last})}\n\n"
        beat = 0.0

        async def heartbeat() -> None:  # the open feed is the agent's presence heartbeat
            nonlocal beat
            if time.time() - beat > 10:
                beat = time.time()
                if (await r.hget(queues.agent_key(staff.username), "status") or "offline") != "offline":
                    await r.set(queues.alive_key(staff.username), "1", ex=get_settings().handoff_presence_ttl_s)

        await heartbeat()
        try:
            async with aclosing(live_feed.batches(last, lambda fields: event_visible(staff, fields))) as stream:
                async for batch in stream:
                    await heartbeat()
                    if not batch:
                        if await request.is_disconnected():
                            break
                        yield ": keep-alive\n\n"
                        continue
                    yield "".join(f"id: {entry_id}\ndata: {json.dumps(_feed_fields(fields), ensure_ascii=False)}\n\n"
                                  for entry_id, fields in batch)
                    now = time.time()
                    for _entry_id, fields in batch:
                        if fields.get("at") and fields.get("agent") == staff.username:  # this agent's own assignments and moves
                            metrics.feed_delay(fields.get("type", ""), now - float(fields["at"]))
        except live_feed.Lagging:  # the browser reconnects with its Last-Event-ID and replays from Redis
            log.info("workbench feed for %s fell behind; closing so it resumes from its last id", staff.username)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


# ------------------------------------------------------------------ work orders

@router.get("/api/workbench/workorders")
def list_orders(stage: str = "", load: bool = False, staff: Staff = Depends(AGENT)) -> Dict[str, Any]:
    orders = workorders.listing(stage=stage)
    audit_view(staff, "workorders.list", load, f"环节：{stage or '全部'}；{len(orders)} 条")
    return {"orders": orders, "stages": workorders.STAGES}


@router.get("/api/workbench/workorders/{number}")
def get_order(number: str, staff: Staff = Depends(AGENT)) -> Dict[str, Any]:
    order = workorders.get(number, masked=True)
    if order is None:
        raise HTTPException(404, "没有这个工单")
    audit(staff.username, "workorder.view", order["number"], "")
    return {"order": order}


class AdvanceIn(BaseModel):
    note: str = Field("", max_length=500)
    department: str = Field("", max_length=64)
    reply: str = Field("", max_length=4000)
    evaluation: str = Field("", max_length=8)


@router.post("/api/workbench/workorders/{number}/advance")
async def advance_order(number: str, body: AdvanceIn, staff: Staff = Depends(AGENT)) -> Dict[str, Any]:
    try:
        order = await run_in_threadpool(workorders.advance, number, staff.username, body.note, body.department, body.reply,
                                        body.evaluation)
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from exc
    delivered: Optional[Dict[str, Any]] = None
    if order["stage"] == "答复" and order["sender"]:
        delivered = await service.tell(order["sender"], [{"kind": "system", "text": f"您的12345工单 {order['number']} 已答复："
                                                                                   f"{order['reply']}"}])
    return {"ok": True, "order": workorders.get(order["number"], masked=True), "delivery": delivered}


# ------------------------------------------------------------------ supervisor

@router.get("/api/workbench/overview")
def overview(load: bool = False, staff: Staff = Depends(SUPERVISOR)) -> Dict[str, Any]:
    """Live conversations, queue lengths and waits, each agent's presence and load."""
    r = get_redis()
    now = time.time()
    tiers = []
    for tier in queues.TIERS:
        oldest = r.zrange(queues.queue_key(tier), 0, 0, withscores=True)
        tiers.append({"tier": tier, "name": queues.TIER_NAMES[tier], "length": queues.queue_length(tier),
                      "longest_wait_s": int(now - oldest[0][1]) if oldest else 0})
    live = []
    for sender, seen in r.zrevrangebyscore(queues.LIVE, "+inf", now - 1800, start=0, num=100, withscores=True):
        conv = queues.conv(sender)
        row = item(sender, conv) if conv else {"sender": sender, "state": State.BOT, "state_name": STATE_NAMES[State.BOT],
                                               "preview": mask(_first_question(sender))[:80], "channel": ""}
        row["last_active_s"] = int(now - seen)
        live.append(row)
    audit_view(staff, "supervisor.overview", load, f"活跃会话 {len(live)} 个")
    return {"tiers": tiers, "agents": queues.agents(), "live": live,
            "desk": {"open": queues.desk_open(), "mode": queues.desk_mode(), "hours": queues.hours_text()}}


class TakeoverIn(BaseModel):
    reason: str = Field("", max_length=200, description="why; required to take a conversation from the agent serving it")


@router.post("/api/workbench/takeover/{sender}")
async def takeover(sender: str, body: Optional[TakeoverIn] = None, staff: Staff = Depends(SUPERVISOR)) -> Dict[str, Any]:
    """A supervisor takes a conversation: from the queue, from the bot, or (with a reason) from an agent."""
    conv = queues.conv(sender)
    reason = (body.reason if body else "").strip()
    try:
        if conv.get("state") == State.QUEUED:
            out = await service.claim(sender, staff.username, staff.display_name, supervisor=True)
            if not out.ok:
                raise ValueError(out.error)
        elif conv.get("state") == State.WITH_AGENT:
            out = await service.supervise(sender, staff.username, staff.display_name, reason)
        else:
            out = await service.take_over(sender, staff.username, staff.display_name, reason)
    except (PermissionError, ValueError) as exc:
        raise HTTPException(409, str(exc)) from exc
    return {"ok": True, "state": out.state}


class DeskIn(BaseModel):
    mode: str = Field("", regex="^(|open|closed)$")


@router.post("/api/workbench/desk")
def desk(body: DeskIn, staff: Staff = Depends(SUPERVISOR)) -> Dict[str, Any]:
    queues.set_desk_mode(body.mode)
    audit(staff.username, "desk.mode", "desk", {"": "按工作时间", "open": "开放", "closed": "暂停"}[body.mode])
    return {"ok": True, "open": queues.desk_open(), "mode": body.mode}


@router.get("/api/workbench/rectifications")
def rectifications(status: str = "", load: bool = False, staff: Staff = Depends(SUPERVISOR)) -> Dict[str, Any]:
    from channels import ratings

    items = ratings.rectification_list(status=status)
    audit_view(staff, "rectifications.list", load, f"状态：{status or '全部'}；{len(items)} 条")
    return {"items": items}


class RectifyIn(BaseModel):
    status: str = Field(..., max_length=8)
    note: str = Field("", max_length=500)
    outcome: str = Field("", max_length=2000)


@router.post("/api/workbench/rectifications/{rect_id}")
async def work_rectification(rect_id: int, body: RectifyIn, staff: Staff = Depends(SUPERVISOR)) -> Dict[str, Any]:
    from channels import ratings

    try:
        done = await run_in_threadpool(ratings.work, rect_id, staff.username, body.status, body.note, body.outcome)
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from exc
    delivered = None
    if done["status"] == "已整改":
        delivered = await service.tell(done["sender"], [ratings.outcome_message(done)])
        await run_in_threadpool(ratings.mark_notified, rect_id, bool(delivered.get("ok")), str(delivered.get("error") or ""))
    return {"ok": True, "item": ratings.rectification(rect_id), "delivery": delivered}
