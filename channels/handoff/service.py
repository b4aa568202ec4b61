"""Human handoff: the use cases every caller shares (the hub, the workbench, the timeouts task).

The hub asks three things: is a person serving this conversation (``person_serving``),
here is what the resident wrote meanwhile (``resident_message``), and the resident (or a
trigger) wants a person (``request``).  The workbench claims, replies, transfers,
escalates, hands back and closes.  Every change is a named transition of
``channels.handoff.states``, applied to Redis in one WATCH/MULTI transaction (the claim is
a Lua script) together with its queue bookkeeping and its live-feed event, then written
to the audit trail.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

from starlette.concurrency import run_in_threadpool

from channels import delivery, transcript
from channels.audit import audit
from channels.handoff import assignment, queues
from channels.handoff.states import AT_REST, PERSON_STATES, STATE_NAMES, TRANSITIONS, State, next_state
from guide.loops import PerLoop
from guide.redis import get_redis
from guide.settings import get_settings

log = logging.getLogger(__name__)

# reasons a person was asked for; the automatic ones never re-open a conversation just closed
REASONS = {"asked": "居民要求", "fallback": "连续未能理解", "complaint": "投诉或不满", "prereview": "预审后要求人工",
           "supervisor": "值班长接管", "expert": "需要深度咨询"}
AUTOMATIC = {"fallback", "complaint"}
CANCEL_WORDS = ("取消排队", "取消", "不用了", "不需要了", "退出", "算了")
HANDOFF_WORDS = ("转人工", "人工客服", "找客服", "人工服务", "找人工", "真人")
CLOSE_CATEGORIES = ("已解答", "已转12345工单", "需线下办理", "非政务服务咨询", "重复咨询", "其他")
HANDOFF_BUTTON = [{"title": "转人工", "payload": "/ask_human"}]
MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


@dataclass
class Outcome:
    """What a use case did: the new state, messages for this resident, queues whose order changed."""

    ok: bool = True
    state: str = ""
    changed: bool = False
    error: str = ""
    resident: List[Dict[str, Any]] = field(default_factory=list)
    tiers: Set[str] = field(default_factory=set)
    data: Dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ what the resident is told

def _minutes(seconds: float) -> int:
    return max(1, int(round(seconds / 60.0)))


def status_of(sender: str, conv: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    conv = conv if conv is not None else queues.conv(sender)
    state = conv.get("state") or State.BOT
    status: Dict[str, Any] = {"state": state, "state_name": STATE_NAMES.get(state, state)}
    if state == State.QUEUED:
        tier = conv.get("tier") or "guide"
        pos = queues.position(sender, tier) or 1
        status.update(position=pos, ahead=pos - 1, wait_s=queues.wait_estimate(pos, tier))
    elif state == State.WITH_AGENT:
        status["agent"] = conv.get("agent_name", "")
    return status


def queued_message(sender: str, conv: Optional[Dict[str, str]] = None, first: bool = True) -> Dict[str, Any]:
    conv = conv if conv is not None else queues.conv(sender)
    status = status_of(sender, conv)
    who = "人工客服" if (conv.get("tier") or "guide") == "guide" else "深度咨询专员"
    if status["state"] != State.QUEUED:  # assigned while this was being written: the assignment message says who
        return {"kind": "system", "text": f"已为您转接{who}。"}
    ahead, minutes = status.get("ahead", 0), _minutes(status.get("wait_s", 60))
    if first:
        text = (f"已为您转接{who}，您前面还有 {ahead} 位，预计等待约 {minutes} 分钟。"
                "等待期间您可以继续输入问题，专员接入后会一并看到；回复“取消排队”可退出。")
    else:
        text = f"您正在排队等待{who}，前面还有 {ahead} 位，预计等待约 {minutes} 分钟。"
    return {"kind": "system", "text": text, "status": status}


def message_offer(why: str) -> Dict[str, Any]:
    if why == "off_hours":
        head = f"现在是非工作时间（人工服务时间：{queues.hours_text()}）。"
    elif why == "timeout":
        head = "抱歉，目前咨询人数较多，您已等待较长时间。"
    else:
        head = "抱歉，目前没有在线的人工专员。"
    text = (head + "您可以直接输入留言（请写明要办的事、遇到的问题和联系电话），我们将为您生成12345工单，"
            "由工作人员在工作时间处理并答复。回复“取消”返回智能助手。")
    return {"kind": "system", "text": text, "buttons": [{"title": "取消留言", "payload": "取消"}],
            "status": {"state": State.MESSAGE, "state_name": STATE_NAMES[State.MESSAGE]}}


def system_message(text: str, state: str, **status: Any) -> Dict[str, Any]:
    """A system line for the resident, with the conversation's state for the page's status bar."""
    return {"kind": "system", "text": text, "status": {"state": state, "state_name": STATE_NAMES.get(state, state), **status}}


def rating_prompt() -> Dict[str, Any]:
    return {"kind": "rating", "context": "agent", "text": "请为本次人工服务评价：非常满意、满意、基本满意、不满意、非常不满意。",
            "buttons": [{"title": f"{n}. {label}", "payload": label} for n, label in
                        enumerate(["非常满意", "满意", "基本满意", "不满意", "非常不满意"], 1)]}


# ------------------------------------------------------------------ the transition primitive

Fields = Union[Dict[str, Any], Callable[[Dict[str, str]], Dict[str, Any]], None]
Check = Callable[[Any, Dict[str, str]], None]


class Stale(ValueError):
    """The conversation changed since the caller looked (a reply arrived, another step won): nothing was done."""


def transition(sender: str, name: Union[str, Sequence[str]], actor: str, fields: Fields = None, *,
               detail: Union[str, Sequence[str]] = "", noop: Iterable[str] = (), watch: Iterable[str] = (), agent: str = "",
               check: Optional[Check] = None, also: Optional[Callable[[Any], None]] = None) -> Tuple[str, str, Dict[str, str], bool]:
    """Apply transition ``name`` atomically; returns (old state, new state, record before, changed).

    ``name`` may be a chain of transitions (``("time_out", "offer_message")``) applied in the same
    transaction, so a crash can never leave the conversation half way.  When the conversation is
    already in one of ``noop`` nothing is written (idempotent requests).  ``check(pipe, conv)`` runs
    inside the transaction on the watched keys and may raise to refuse (``Stale``, ``ValueError``);
    ``also(pipe)`` queues further writes in the same MULTI.  Raises ``TransitionError`` when the
    transition does not start from the current state, and ``PermissionError`` when ``agent`` is
    given and another agent serves it.
    """
    steps = [name] if isinstance(name, str) else list(name)
    details = [detail] * len(steps) if isinstance(detail, str) else list(detail)
    r = get_redis()
    key = queues.conv_key(sender)
    result: Dict[str, Any] = {}

    def apply(pipe: Any) -> None:
        conv = pipe.hgetall(key)
        state = conv.get("state") or State.BOT
        if state in noop:
            result.update(old=state, new=state, conv=conv, changed=False, path=[state])
            pipe.multi()
            return
        path = [state]
        for step in steps:
            path.append(next_state(path[-1], step))
        target = path[-1]
        if agent and conv.get("agent") != agent:
            raise PermissionError("该会话不由您接待")
        if check is not None:
            check(pipe, conv)
        values = fields(conv) if callable(fields) else dict(fields or {})
        now = time.time()
        old_agent = conv.get("agent", "") if state == State.WITH_AGENT else ""
        new_agent = str(values.get("agent", conv.get("agent", ""))) if target == State.WITH_AGENT else ""
        tier = str(values.get("tier") or conv.get("tier") or "guide")
        group = str(values.get("group", conv.get("group", "")))
        mapping = {k: ("" if v is None else str(v)) for k, v in values.items()}
        mapping.update(state=target, changed_at=f"{now:.3f}", last_transition=steps[-1])
        if old_agent and target != State.WITH_AGENT:
            mapping.update(agent="", agent_name="", prev_agent=old_agent, prev_agent_name=conv.get("agent_name", ""))
        pipe.multi()
        pipe.hset(key, mapping=mapping)
        pipe.expire(key, queues.KEEP)
        for t in queues.TIERS:
            pipe.zrem(queues.queue_key(t), sender)
        if target == State.QUEUED:
            pipe.zadd(queues.queue_key(tier), {sender: float(mapping.get("queued_at") or conv.get("queued_at") or now)})
        if old_agent and old_agent != new_agent:
            pipe.srem(queues.agent_convs_key(old_agent), sender)
        if target == State.WITH_AGENT:
            pipe.sadd(queues.agent_convs_key(new_agent), sender)
            pipe.sadd(queues.ACTIVE, sender)
            pipe.set(queues.last_agent_key(sender), new_agent, ex=queues.KEEP)
        else:
            pipe.srem(queues.ACTIVE, sender)
        if target == State.MESSAGE:
            pipe.zadd(queues.MESSAGE_WAIT, {sender: now})
        else:
            pipe.zrem(queues.MESSAGE_WAIT, sender)
        queues.touch_live(sender, pipe)
        for i, step in enumerate(steps):
            queues.publish({"type": step, "sender": sender, "agent": new_agent or old_agent, "prev_agent": old_agent,
                            "tier": tier, "group": group, "state": path[i + 1], "prev_state": path[i], "by": actor,
                            "at": round(now, 3)}, pipe)
        if also is not None:
            also(pipe)
        result.update(old=state, new=target, conv=conv, changed=True, path=path)

    r.transaction(apply, key, *watch)
    if result["changed"]:
        path = result["path"]
        for i, step in enumerate(steps):
            t = TRANSITIONS[step]
            text = f"{t.label}：{STATE_NAMES[path[i]]} → {STATE_NAMES[path[i + 1]]}" + (f"；{details[i]}" if details[i] else "")
            try:
                audit(actor, f"handoff.{step}", sender, text)
            except Exception:  # noqa: BLE001 - the change is made; a database outage must not make it look failed
                log.exception("audit row not written (database unavailable): %s handoff.%s %s %s", actor, step, sender, text)
    return result["old"], result["new"], result["conv"], result["changed"]


def expect(**wanted: str) -> Check:
    """A ``check`` that refuses (``Stale``) unless the record still has these values (compare-and-set)."""

    def check(_pipe: Any, conv: Dict[str, str]) -> None:
        for k, v in wanted.items():
            if (conv.get(k) or "") != v:
                raise Stale(f"会话已变化（{k}），本次操作未执行")

    return check


_scripts: Dict[str, Tuple[Any, Any]] = {}


def script(source: str) -> Any:
    """A registered Lua script on the current Redis client (re-registered when the client changes)."""
    r = get_redis()
    got = _scripts.get(source)
    if got is None or got[0] is not r:
        got = (r, r.register_script(source))
        _scripts[source] = got
    return got[1]


# ------------------------------------------------------------------ hub-facing API

def person_serving(sender: str) -> bool:
    """True while the conversation is queued, served by a person, or writing a message (one round trip)."""
    pipe = get_redis().pipeline(transaction=False)
    pipe.hget(queues.conv_key(sender), "state")
    queues.touch_live(sender, pipe)
    state, _ = pipe.execute()
    return state in PERSON_STATES


_catalogue: Dict[str, Tuple[str, str]] = {}


def service_info(service_id: str) -> Tuple[str, str]:
    """(name, domain) of a service: from the loaded knowledge base, else from the catalogue file."""
    if not service_id:
        return "", ""
    from knowledge import base

    holder = base._holder
    if holder is not None and holder._kb is not None:
        svc = holder._kb.service(service_id)
        return (svc.name, svc.domain) if svc else ("", "")
    if not _catalogue:
        from knowledge.loader import read_catalogue

        _catalogue.update({row.id: (row.name, row.domain) for row in read_catalogue(get_settings().data_dir / "catalogue.csv")})
    return _catalogue.get(service_id, ("", ""))


def _domain(service_id: str) -> str:
    return service_info(service_id)[1]


def _request(sender: str, channel: str, reason: str, service_id: str, note: str, actor: str) -> Outcome:
    conv = queues.conv(sender)
    state = conv.get("state") or State.BOT
    if state in PERSON_STATES:
        return _already(sender, conv)
    if reason in AUTOMATIC and _guarded(sender, conv):
        return Outcome(state=state, resident=[{"kind": "system", "text": "如仍需人工服务，请点击“转人工”。",
                                               "buttons": HANDOFF_BUTTON}])
    group = _domain(service_id)
    tier = "expert" if reason == "expert" else "guide"
    why = "" if queues.desk_open() else "off_hours"
    if not why and not queues.staffed(tier, group):
        why = "no_agent"
    common = {"channel": channel, "reason": reason, "service": service_id, "note": note[:500], "group": group}
    if why:
        def offer(conv: Dict[str, str]) -> Dict[str, Any]:  # a message offer is an episode of its own (archived when it ends)
            return {**common, "offer": why, "offered_at": f"{time.time():.3f}", "episode": int(conv.get("episode") or 0) + 1,
                    "workorder": "", "order_pending": "", "agent": "", "agent_name": "", "prev_agent": "", "prev_agent_name": ""}

        old, new, before, changed = transition(sender, "offer_message", actor, offer,
                                               detail=f"原因：{REASONS.get(reason, reason)}；{'非工作时间' if why == 'off_hours' else '无在线专员'}",
                                               noop=PERSON_STATES)
        if not changed:
            return _already(sender, before)
        _count(sender, channel, service_id, reason)
        return Outcome(state=new, changed=True, resident=[message_offer(why)])
    now = f"{time.time():.3f}"
    latest = transcript.last(sender, 1)

    def values(conv: Dict[str, str]) -> Dict[str, Any]:
        return {**common, "tier": tier, "queued_at": now, "requested_at": now, "episode": int(conv.get("episode") or 0) + 1,
                "told_pos": "", "start_entry": latest[0]["id"] if latest else "0", "offer": "", "workorder": "",
                "waiting_on": "", "reminded": "0"}

    old, new, before, changed = transition(sender, "request", actor, values, detail=f"原因：{REASONS.get(reason, reason)}",
                                           noop=PERSON_STATES)
    if not changed:
        return _already(sender, before)
    _count(sender, channel, service_id, reason)
    conv = queues.conv(sender)
    msg = queued_message(sender, conv)  # another gateway's dispatch may already have assigned it
    if "status" in msg:
        get_redis().hset(queues.conv_key(sender), mapping={"told_pos": msg["status"]["position"], "told_at": f"{time.time():.3f}"})
    return Outcome(state=conv.get("state", new), changed=True, resident=[msg], tiers={tier})


def _guarded(sender: str, conv: Dict[str, str]) -> bool:
    """Automatic triggers (misses, complaint words) must not re-queue a conversation a person just finished.

    After a close, abandon or timeout: for ``handoff_reentry_guard_s`` seconds.  After a hand back to the
    bot: until the resident has written ``handoff_handback_guard_turns`` messages to the bot (the agent
    decided the bot can go on; two misses right after must not bounce the resident back to the queue).
    An explicit "转人工" is never guarded.
    """
    s = get_settings()
    state = conv.get("state") or State.BOT
    if state in AT_REST and state != State.BOT:
        return time.time() - float(conv.get("changed_at") or 0) < s.handoff_reentry_guard_s
    if state == State.BOT and conv.get("last_transition") == "hand_back":
        since = conv.get("handback_entry") or "0"
        turns = sum(1 for e in transcript.read(sender, after=since, count=500) if e["role"] == "resident")
        return turns < s.handoff_handback_guard_turns
    return False


def _count(sender: str, channel: str, service_id: str, reason: str) -> None:
    from guide.analytics import record

    record("handoff", sender=sender, channel=channel, service_id=service_id, text=REASONS.get(reason, reason), code=reason)


def _already(sender: str, conv: Dict[str, str]) -> Outcome:
    state = conv.get("state") or State.BOT
    if state == State.QUEUED:
        return Outcome(state=state, resident=[queued_message(sender, conv, first=False)])
    if state == State.WITH_AGENT:
        return Outcome(state=state, resident=[system_message(f"人工专员{conv.get('agent_name', '')}正在为您服务，请直接输入您的问题。",
                                                      state, agent=conv.get("agent_name", ""))])
    return Outcome(state=state, resident=[message_offer(conv.get("offer") or "off_hours")])


async def request(sender: str, channel: str, reason: str, service_id: str = "", note: str = "") -> List[Dict[str, Any]]:
    """Ask for a person (idempotent).  Returns what to show the resident now."""
    actor = "supervisor" if reason == "supervisor" else "resident"
    out = await run_in_threadpool(_request, sender, channel, reason, service_id, note, actor)
    shown = _record_system(sender, out.resident)
    if out.changed and out.state == State.QUEUED:
        shown.extend(await _dispatch(requester=sender))
    return shown


async def resident_message(sender: str, channel: str, text: str, entry_id: str,
                           upload: Optional[Dict[str, Any]] = None) -> Optional[List[Dict[str, Any]]]:
    """The resident wrote while queued, served or leaving a message; the hub already stored ``entry_id``.

    Returns what to show the resident now, or None when the conversation is no longer with a
    person (an agent closed or handed back after the hub looked): the hub then asks the bot, so the
    message is never left unanswered.
    """
    out = await run_in_threadpool(_resident_message, sender, channel, text, entry_id, upload is not None)
    if out is None:
        return None
    shown = _record_system(sender, out.resident)
    if out.tiers:
        announce_soon(out.tiers)
    return shown


def _resident_message(sender: str, channel: str, text: str, entry_id: str, is_upload: bool) -> Optional[Outcome]:
    clean = (text or "").strip()
    for _ in range(5):  # each pass sees one state; a pass that lost a race looks again
        conv = queues.conv(sender)
        state = conv.get("state") or State.BOT
        if state not in PERSON_STATES:
            return None
        if state == State.MESSAGE:
            from channels.handoff import left_messages

            out = left_messages.turn(sender, channel, clean, conv, is_upload)
        elif state == State.QUEUED and clean in CANCEL_WORDS:
            out = _cancel_queue(sender, conv)
        else:
            out = _note_message(sender, entry_id, clean)
        if out is not None:
            return out
    log.warning("a resident message kept racing state changes; the bot answers it")
    return None


def _cancel_queue(sender: str, conv: Dict[str, str]) -> Optional[Outcome]:
    now = f"{time.time():.3f}"
    try:
        transition(sender, "abandon", "resident", {"ended_at": now, "end_reason": "居民取消排队"}, detail="居民取消排队",
                   check=expect(state=State.QUEUED))
    except ValueError:
        return None  # claimed (or ended) meanwhile: look again
    from channels.handoff import records

    records.archive(sender, queues.conv(sender), outcome=State.ABANDONED, category="居民取消排队")
    return Outcome(state=State.ABANDONED, changed=True, tiers={conv.get("tier") or "guide"},
                   resident=[system_message("已为您取消排队，智能助手将继续为您服务。如需人工，可随时回复“转人工”。", State.ABANDONED)])


def _note_message(sender: str, entry_id: str, clean: str) -> Optional[Outcome]:
    """Tell the serving agent (or the queue) about a new message, only if the state is still queued or served."""
    key = queues.conv_key(sender)
    seen: Dict[str, Any] = {}

    def apply(pipe: Any) -> None:
        conv = pipe.hgetall(key)
        state = conv.get("state") or State.BOT
        seen.update(state=state, conv=conv)
        pipe.multi()
        if state not in (State.QUEUED, State.WITH_AGENT):
            return
        now = f"{time.time():.3f}"
        updates = {"last_resident_at": now, "reminded": "0"}
        if state == State.WITH_AGENT and conv.get("waiting_on") != "agent":
            updates.update(waiting_on="agent", waiting_since=now)
        pipe.hset(key, mapping=updates)
        queues.publish({"type": "message", "sender": sender, "agent": conv.get("agent", "") if state == State.WITH_AGENT else "",
                        "tier": conv.get("tier", "guide"), "group": conv.get("group", ""), "state": state, "entry": entry_id}, pipe)

    get_redis().transaction(apply, key)
    state, conv = seen["state"], seen["conv"]
    if state not in (State.QUEUED, State.WITH_AGENT):
        return None
    if state == State.QUEUED and any(w in clean for w in HANDOFF_WORDS):
        return Outcome(state=state, resident=[queued_message(sender, conv, first=False)])
    return Outcome(state=state)


# ------------------------------------------------------------------ delivery helpers

def _record_system(sender: str, messages: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Keep what the resident is told in the transcript (agents and the archive see it too)."""
    for m in messages:
        if m.get("kind") == "system" and m.get("text"):
            transcript.append(sender, "system", m["text"])
    return messages


async def tell(sender: str, messages: List[Dict[str, Any]], record: bool = True) -> Dict[str, Any]:
    """Push messages to the resident through their channel (recorded in the transcript)."""
    if record:
        _record_system(sender, messages)
    return await delivery.push(sender, messages)


def assigned_message(sender: str) -> Dict[str, Any]:
    conv = queues.conv(sender)
    name = conv.get("agent_name", "")
    return system_message(f"人工导办专员{name}已接入，正在查看您的问题，请稍候。", State.WITH_AGENT, agent=name)


async def _dispatch(requester: str = "") -> List[Dict[str, Any]]:
    """Run the dispatcher; tell assigned residents (the requester's message is returned instead of pushed)."""
    return (await _dispatch_count(requester))[0]


async def _dispatch_count(requester: str = "") -> Tuple[List[Dict[str, Any]], int]:
    done = await run_in_threadpool(assignment.dispatch)
    mine: List[Dict[str, Any]] = []
    tiers: Set[str] = set()
    for sender, username in done:
        await run_in_threadpool(audit, "dispatch", "handoff.claim", sender, f"自动分配给 {username}")
        msg = assigned_message(sender)
        tiers.add(queues.conv(sender).get("tier") or "guide")
        if sender == requester:
            mine.append(_record_system(sender, [msg])[0])
        else:
            await tell(sender, [msg])
    if tiers:
        announce_soon(tiers)
    return mine, len(done)


async def dispatch() -> int:
    """Assign what can be assigned now; returns how many conversations got a person."""
    return (await _dispatch_count())[1]


POSITION_EVERY_S = 15  # beyond the first places, a resident hears about a new place at most this often


def position_updates(tier: str, now: Optional[float] = None) -> List[Tuple[str, Dict[str, Any]]]:
    """Queued residents whose place changed since they were last told, with the message to send.

    The first three places are told at once; further back, at most every ``POSITION_EVERY_S``
    seconds (the clock's tick catches up), so a busy queue does not flood everyone at each claim.
    WeChat residents pay for each update with a 客服 message (5 per message they send), which the
    agent needs more: they hear only when they move into the first three places or after
    ``handoff_wechat_position_every_s``, and never when ``handoff_wechat_quota_reserve`` or fewer are left.
    """
    r = get_redis()
    s = get_settings()
    now = now or time.time()
    senders = r.zrange(queues.queue_key(tier), 0, -1)
    if not senders:
        return []
    pipe = r.pipeline()
    for sender in senders:
        pipe.hmget(queues.conv_key(sender), "told_pos", "told_at", "channel")
    told = pipe.execute()
    tier_slots, handle_s = queues.slots(tier), queues.avg_handle_s()
    out = []
    pipe = r.pipeline()
    for i, (sender, (before, told_at, channel)) in enumerate(zip(senders, told)):
        pos = i + 1
        if str(pos) == (before or ""):
            continue
        since = now - float(told_at or 0)
        if channel == "wechat" or (not channel and sender.startswith("wx-")):
            left = delivery.quota_left(sender, "wechat")
            if left is not None and left <= s.handoff_wechat_quota_reserve:
                continue
            into_front = pos <= 3 and (not (before or "").isdigit() or int(before) > 3)
            if not into_front and since < s.handoff_wechat_position_every_s:
                continue
        elif pos > 3 and since < POSITION_EVERY_S:
            continue
        wait = queues.wait_estimate(pos, tier, tier_slots, handle_s)
        status = {"state": State.QUEUED, "state_name": STATE_NAMES[State.QUEUED], "position": pos, "ahead": pos - 1, "wait_s": wait}
        out.append((sender, {"kind": "system", "text": f"排队进度更新：您前面还有 {pos - 1} 位，预计等待约 {_minutes(wait)} 分钟。",
                             "status": status}))
        pipe.hset(queues.conv_key(sender), mapping={"told_pos": pos, "told_at": f"{now:.3f}"})
    pipe.execute()
    return out


async def announce_positions(tiers: Iterable[str]) -> None:
    for tier in tiers:
        for sender, msg in await run_in_threadpool(position_updates, tier):
            await delivery.push(sender, [msg])


class _Announcer:
    """Position updates run after the change that moved the queue, off the path of whoever made it.

    The resident asking for a person, or the agent claiming, is answered without waiting for every
    other queued resident to be told their new place; changes that come while an announcement runs
    are gathered into the next pass (a busy desk closes several conversations per second, and each
    pass reads the whole queue once).  The timeouts task's tick catches up anything a crash cut short.
    """

    def __init__(self) -> None:
        self.dirty: Set[str] = set()
        self.task: Optional[asyncio.Task] = None
        self.idle = asyncio.Event()
        self.idle.set()

    def soon(self, tiers: Iterable[str]) -> None:
        self.dirty.update(tiers)
        if self.dirty and (self.task is None or self.task.done()):
            self.idle.clear()
            self.task = asyncio.get_running_loop().create_task(self._run(), name="handoff-positions")

    async def _run(self) -> None:
        try:
            while self.dirty:
                tiers, self.dirty = set(self.dirty), set()
                try:
                    await announce_positions(sorted(tiers))
                except Exception:  # noqa: BLE001 - a Redis or channel error: the next change or tick tells them
                    log.exception("queue positions not announced")
        finally:
            self.idle.set()


_announcers: PerLoop[_Announcer] = PerLoop(_Announcer)


def announce_soon(tiers: Iterable[str]) -> None:
    """Tell queued residents of these tiers their new places, in the background of this event loop."""
    _announcers.get().soon(tiers)


async def positions_settled() -> None:
    """Wait until the background position updates of this event loop are sent (tests)."""
    announcer = _announcers.peek()
    if announcer is not None:
        await announcer.idle.wait()


# ------------------------------------------------------------------ agent actions (the workbench calls these)

def _serving(sender: str, username: str, supervisor: bool = False) -> Dict[str, str]:
    conv = queues.conv(sender)
    if conv.get("state") != State.WITH_AGENT:
        raise PermissionError(f"该会话当前为“{STATE_NAMES.get(conv.get('state') or State.BOT)}”，不在人工服务中")
    if conv.get("agent") != username and not supervisor:
        raise PermissionError("该会话不由您接待")
    return conv


CLAIM_REFUSED = {"full": "您当前接待的会话已达上限", "tier": "该会话已转入其他层级的队列，您不能接入",
                 "skill": "该会话属于其他业务组，您不能接入"}


async def claim(sender: str, username: str, display_name: str, supervisor: bool = False, tier: Optional[str] = None,
                skills: Optional[List[str]] = None) -> Outcome:
    """An agent clicks 接入: atomic, and only for a conversation of the agent's tier and skill group
    (``tier``/``skills`` as signed in; None: as the agent's presence record says).  Supervisors may take any."""
    cap = 10_000 if supervisor else None
    ok, why = await run_in_threadpool(assignment.claim, sender, username, display_name, "agent", cap, tier, skills,
                                      not supervisor)
    if not ok:
        text = CLAIM_REFUSED.get(why) or f"该会话已被接入或已结束（当前：{STATE_NAMES.get(why, why)}）"
        return Outcome(ok=False, state=why, error=text)
    await run_in_threadpool(audit, username, "handoff.claim", sender, "坐席接入：排队中 → 人工服务中")
    await tell(sender, [assigned_message(sender)])
    announce_soon({queues.conv(sender).get("tier") or "guide"})
    return Outcome(state=State.WITH_AGENT, changed=True)


async def take_over(sender: str, username: str, display_name: str, reason: str = "") -> Outcome:
    """A supervisor joins a live bot conversation from the monitor."""
    now = f"{time.time():.3f}"

    def values(conv: Dict[str, str]) -> Dict[str, Any]:
        return {"agent": username, "agent_name": display_name, "assigned_at": now, "queued_at": now, "requested_at": now,
                "reason": "supervisor", "episode": int(conv.get("episode") or 0) + 1, "channel": delivery.channel_of(sender),
                "waiting_on": "resident", "waiting_since": now, "reminded": "0", "tier": conv.get("tier") or "guide",
                "start_entry": (transcript.last(sender, 1) or [{"id": "0"}])[0]["id"], "offer": "", "workorder": ""}

    await run_in_threadpool(transition, sender, "take_over", username, values,
                            detail=f"由 {display_name} 接管" + (f"；原因：{reason}" if reason else ""))
    await tell(sender, [system_message(f"人工导办专员{display_name}已加入对话，接下来由人工为您服务。", State.WITH_AGENT, agent=display_name)])
    return Outcome(state=State.WITH_AGENT, changed=True)


async def supervise(sender: str, username: str, display_name: str, reason: str) -> Outcome:
    """A supervisor takes a conversation over from the agent serving it (with a reason, audited);
    only then may the supervisor write to the resident."""
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise ValueError("接管正在服务中的会话须填写原因")
    conv = await run_in_threadpool(_serving, sender, username, True)
    if conv.get("agent") == username:
        return Outcome(state=State.WITH_AGENT)
    now = f"{time.time():.3f}"
    await run_in_threadpool(transition, sender, "supervise", username,
                            {"agent": username, "agent_name": display_name, "assigned_at": now, "supervised_by": username,
                             "supervise_reason": reason[:200]},
                            detail=f"由 {display_name} 从 {conv.get('agent_name', '')} 处接管；原因：{reason}",
                            check=expect(agent=conv.get("agent", "")))
    await tell(sender, [system_message(f"值班长{display_name}已加入对话，接下来由其为您服务。", State.WITH_AGENT, agent=display_name)])
    return Outcome(state=State.WITH_AGENT, changed=True)


async def reply(sender: str, username: str, display_name: str, text: str, supervisor: bool = False) -> Dict[str, Any]:
    """An agent's message: transcript, then the resident's channel; the channel's error is returned to show.

    Only the person serving the conversation writes: a supervisor takes it over first (``supervise``,
    audited with the reason).  Every reply is audited."""
    text = (text or "").strip()
    if not text:
        raise ValueError("回复内容不能为空")
    conv = await run_in_threadpool(queues.conv, sender)
    if supervisor and conv.get("state") == State.WITH_AGENT and conv.get("agent") != username:
        raise PermissionError("该会话由其他专员接待，请先接管（填写原因）再回复")
    await run_in_threadpool(_serving, sender, username)
    entry = transcript.append(sender, "agent", text, agent=username, agent_name=display_name)
    now = f"{time.time():.3f}"
    pipe = get_redis().pipeline()
    pipe.hset(queues.conv_key(sender), mapping={"waiting_on": "resident", "waiting_since": now, "reminded": "0",
                                                "last_agent_at": now})
    queues.publish({"type": "message", "sender": sender, "agent": username, "entry": entry, "state": State.WITH_AGENT}, pipe)
    pipe.execute()
    report = await delivery.push(sender, [{"kind": "agent", "text": text, "agent": display_name}])
    if not report.get("ok"):
        transcript.append(sender, "system", f"消息未送达：{report.get('error', '')}", internal=True)
    await run_in_threadpool(audit, username, "handoff.reply", sender,
                            f"回复 {len(text)} 字（条目 {entry}）" + ("" if report.get("ok") else f"；未送达：{report.get('error', '')}"))
    return {"entry": entry, "delivery": report}


async def transfer(sender: str, username: str, to_username: str, note: str = "", supervisor: bool = False) -> Outcome:
    """Give a served conversation to a colleague (who must be signed in and have room).

    The colleague's presence and load are checked inside the transaction that moves the
    conversation (their set of conversations is watched), so two transfers at once, or a transfer
    racing the dispatcher, cannot take anyone past capacity."""
    await run_in_threadpool(_serving, sender, username, supervisor)
    if to_username == username:
        raise ValueError("不能转给自己")
    target = queues.agent(to_username)
    cap = get_settings().handoff_agent_capacity

    def room(pipe: Any, conv: Dict[str, str]) -> None:
        info = pipe.hgetall(queues.agent_key(to_username))
        if (info.get("status") or "offline") == "offline" or not pipe.exists(queues.alive_key(to_username)):
            raise ValueError(f"{info.get('name') or to_username} 当前离线，不能转接")
        if pipe.scard(queues.agent_convs_key(to_username)) >= cap:
            raise ValueError(f"{info.get('name') or to_username} 接待已满")

    now = f"{time.time():.3f}"
    await run_in_threadpool(transition, sender, "transfer", username,
                            {"agent": to_username, "agent_name": target["name"], "assigned_at": now, "waiting_on": "agent",
                             "waiting_since": now, "reminded": "0", "transfer_note": note[:500], "tier": target["tier"]},
                            detail=f"转给 {target['name']}" + (f"；备注：{note}" if note else ""),
                            watch=[queues.agent_convs_key(to_username), queues.agent_key(to_username), queues.alive_key(to_username)],
                            agent="" if supervisor else username, check=room)
    if note:
        transcript.append(sender, "system", f"（内部转接备注）{note}", internal=True)
    await tell(sender, [system_message(f"已为您转接给人工导办专员{target['name']}，请稍候。", State.WITH_AGENT, agent=target["name"])])
    return Outcome(state=State.WITH_AGENT, changed=True)


async def escalate(sender: str, username: str, tier: str, note: str = "", supervisor: bool = False) -> Outcome:
    """Put a served conversation in another tier's queue (the deeper tier keeps the resident's original place)."""
    if tier not in queues.TIERS:
        raise ValueError("未知的坐席层级")
    await run_in_threadpool(_serving, sender, username, supervisor)
    await run_in_threadpool(transition, sender, "escalate", username,
                            {"tier": tier, "told_pos": "", "transfer_note": note[:500], "waiting_on": "", "reminded": "0"},
                            detail=f"转入{queues.TIER_NAMES[tier]}队列" + (f"；备注：{note}" if note else ""),
                            agent="" if supervisor else username)
    if note:
        transcript.append(sender, "system", f"（内部转接备注）{note}", internal=True)
    msg = queued_message(sender, first=True)
    if "status" in msg:
        get_redis().hset(queues.conv_key(sender), mapping={"told_pos": msg["status"]["position"], "told_at": f"{time.time():.3f}"})
    await tell(sender, [msg])
    await _dispatch()
    return Outcome(state=State.QUEUED, changed=True, tiers={tier})


async def hand_back(sender: str, username: str, service_id: str = "", note: str = "", supervisor: bool = False) -> Outcome:
    """Return the conversation to the bot, which resumes knowing the service in question."""
    import httpx

    conv = await run_in_threadpool(_serving, sender, username, supervisor)
    service_id = service_id or conv.get("service", "")
    name = service_info(service_id)[0]
    if service_id and not name:
        raise ValueError(f"没有事项 {service_id}")
    latest = transcript.last(sender, 1)
    await run_in_threadpool(transition, sender, "hand_back", username,
                            {"service": service_id, "ended_at": f"{time.time():.3f}", "handback_entry": latest[0]["id"] if latest else "0"},
                            detail=f"事项 {service_id or '未指定'}" + (f"；备注：{note}" if note else ""),
                            agent="" if supervisor else username)
    from channels.handoff import records

    await run_in_threadpool(records.archive, sender, queues.conv(sender), State.BOT, "交回智能助手", note)
    events: List[Dict[str, Any]] = [{"event": "slot", "name": "fallback_count", "value": 0},
                                    {"event": "slot", "name": "pending", "value": None}]
    if name:
        events.insert(0, {"event": "slot", "name": "service", "value": service_id})
    error = ""
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            r = await client.post(f"{get_settings().rasa_base}/conversations/{sender}/tracker/events", json=events)
            r.raise_for_status()
    except httpx.HTTPError as exc:
        error = f"智能助手未能接收事项信息：{exc}"
        log.warning("hand back to rasa failed for a conversation: %s", exc)
    about = f"关于【{name}】的材料、条件、时限、费用和办理地点，" if name else ""
    await tell(sender, [system_message(f"人工专员已将对话交回智能助手。{about}您可以继续提问，智能助手会为您解答。", State.BOT)])
    await _dispatch()
    return Outcome(state=State.BOT, changed=True, error=error)


async def close(sender: str, username: str, category: str, summary: str = "", supervisor: bool = False) -> Outcome:
    """End the conversation; the transcript is archived and the resident is asked to rate the service."""
    if category not in CLOSE_CATEGORIES:
        raise ValueError("请选择结束分类")
    conv = await run_in_threadpool(_serving, sender, username, supervisor)
    await run_in_threadpool(transition, sender, "close", username,
                            {"ended_at": f"{time.time():.3f}", "category": category, "summary": summary[:1000]},
                            detail=f"分类：{category}" + (f"；小结：{summary}" if summary else ""),
                            agent="" if supervisor else username)
    await run_in_threadpool(_after_end, sender, conv, State.CLOSED, category, summary)
    await tell(sender, [system_message("本次人工服务已结束，感谢您的耐心。如还有问题，可以继续向智能助手提问或再次回复“转人工”。", State.CLOSED),
                        rating_prompt()])
    await _dispatch()
    return Outcome(state=State.CLOSED, changed=True)


def _after_end(sender: str, conv: Dict[str, str], outcome: str, category: str, summary: str = "") -> None:
    from channels import ratings
    from channels.handoff import records

    assigned = float(conv.get("assigned_at") or 0)
    if assigned:
        queues.record_handled(time.time() - assigned)
    records.archive(sender, queues.conv(sender), outcome, category, summary)
    ratings.expect(sender, agent=conv.get("agent", ""), agent_name=conv.get("agent_name", ""), service_id=conv.get("service", ""),
                   episode=conv.get("episode", ""))


async def abandon_idle(sender: str, since: str = "") -> bool:
    """The resident stopped answering the agent (after a reminder): end the conversation.

    Only while it is still so inside the transition (still waiting on the resident, reminded, and ``since``
    unchanged): a reply that arrived after the tick looked keeps the conversation open."""
    conv = queues.conv(sender)
    wanted = {"waiting_on": "resident", "reminded": "1", **({"waiting_since": since} if since else {})}
    try:
        await run_in_threadpool(transition, sender, "abandon", "system",
                                {"ended_at": f"{time.time():.3f}", "end_reason": "居民长时间未回复"}, detail="居民长时间未回复",
                                check=expect(state=State.WITH_AGENT, **wanted))
    except ValueError:
        return False
    await run_in_threadpool(_after_end, sender, conv, State.ABANDONED, "居民长时间未回复")
    await tell(sender, [system_message("由于您长时间未回复，本次人工服务已结束。如需继续咨询，请回复“转人工”。", State.ABANDONED), rating_prompt()])
    return True


async def time_out(sender: str) -> bool:
    """Queued too long: record the timeout and offer a message that becomes a 12345 work order.

    Both steps are one transaction (``time_out`` then ``offer_message``): a crash between them cannot
    leave the resident timed out with no way to leave a message."""
    now = f"{time.time():.3f}"
    try:
        await run_in_threadpool(transition, sender, ("time_out", "offer_message"), "system",
                                {"ended_at": now, "offer": "timeout", "offered_at": now},
                                detail=(f"排队超过 {get_settings().handoff_queue_timeout_s} 秒", "排队超时，引导留言"))
    except ValueError:
        return False
    await tell(sender, [message_offer("timeout")])
    return True


async def requeue(sender: str, since: str = "") -> bool:
    """The agent did not answer within the limit: back to the queue, keeping the resident's place.

    Only if the agent still has not answered inside the transition (``since`` unchanged)."""
    conv = queues.conv(sender)
    wanted = {"waiting_on": "agent", "reminded": "1", **({"waiting_since": since} if since else {})}
    try:
        await run_in_threadpool(transition, sender, "requeue", "system", {"told_pos": "", "waiting_on": "", "reminded": "0"},
                                detail=f"{conv.get('agent_name', '')} 未及时回复", check=expect(state=State.WITH_AGENT, **wanted))
    except ValueError:
        return False
    msg = queued_message(sender, first=False)
    msg["text"] = "专员暂时未能回复，已为您优先重新排队。" + msg["text"]
    if "status" in msg:
        get_redis().hset(queues.conv_key(sender), mapping={"told_pos": msg["status"]["position"], "told_at": f"{time.time():.3f}"})
    await tell(sender, [msg])
    await _dispatch()
    return True


async def expire_message(sender: str, before: Optional[float] = None) -> bool:
    """An offered message not written in time: back to the bot, and the episode is archived as lapsed.

    ``before``: only if the offer is still older than this (a new offer meanwhile is left alone)."""
    def still_old(pipe: Any, conv: Dict[str, str]) -> None:
        if before is not None:
            score = pipe.zscore(queues.MESSAGE_WAIT, sender)
            if score is None or score > before:
                raise Stale("留言邀请已更新")

    try:
        await run_in_threadpool(transition, sender, "cancel_message", "system", {"offer": "", "ended_at": f"{time.time():.3f}"},
                                detail="未留言，回到智能助手", check=still_old, watch=[queues.MESSAGE_WAIT])
    except ValueError:
        return False
    from channels.handoff import records

    await run_in_threadpool(records.archive, sender, queues.conv(sender), "lapsed", "未留言，回到智能助手")
    await tell(sender, [system_message("您暂未留言，智能助手继续为您服务。如需留言或人工服务，请回复“转人工”。", State.BOT)], record=True)
    return True
