"""Where handoff state lives in Redis: conversation records, tier queues, agents, the live feed.

Keys (all under ``guide:handoff:``):

- ``conv:{sender}``      hash: state, tier, group (service domain), agent, episode, timestamps …
- ``queue:{tier}``       sorted set of queued senders, score = when they first queued (oldest first)
- ``agent:{username}``   hash: presence, display name, tier, skills; ``agent:{username}:convs`` the set it serves
- ``alive:{username}``   a key the workbench's live feed refreshes; gone = the agent's screen is closed
- ``active``             set of senders served by a person; ``message`` sorted set of senders offered a message
- ``live``               sorted set of every conversation by last activity (the supervisor's monitor)
- ``feed``               stream of events the workbenches tail (capped)

Redis runs with AOF, so a gateway killed mid-conversation loses nothing here.
"""

from __future__ import annotations

import json
import math
import time
from datetime import datetime
from typing import Any, Dict, List, Optional, Tuple

from guide.redis import get_redis
from guide.settings import get_settings

PREFIX = "guide:handoff"
TIERS = ("guide", "expert")
TIER_NAMES = {"guide": "引导专员", "expert": "深度咨询专员"}
PRESENCE = ("online", "away", "offline")
PRESENCE_NAMES = {"online": "在线", "away": "暂离", "offline": "离线"}
ACTIVE = f"{PREFIX}:active"
MESSAGE_WAIT = f"{PREFIX}:message"
LIVE = f"{PREFIX}:live"
FEED = f"{PREFIX}:feed"
AGENTS = f"{PREFIX}:agents"
STATS = f"{PREFIX}:stats"
MODE = f"{PREFIX}:mode"  # "" follow working hours | "open" staffed now | "closed" desk closed now
FEED_MAX = 20000
KEEP = 30 * 24 * 3600


def conv_key(sender: str) -> str:
    return f"{PREFIX}:conv:{sender}"


def queue_key(tier: str) -> str:
    return f"{PREFIX}:queue:{tier}"


def agent_key(username: str) -> str:
    return f"{PREFIX}:agent:{username}"


def agent_convs_key(username: str) -> str:
    return f"{PREFIX}:agent:{username}:convs"


def alive_key(username: str) -> str:
    return f"{PREFIX}:alive:{username}"


def last_agent_key(sender: str) -> str:
    return f"{PREFIX}:last_agent:{sender}"


def conv(sender: str) -> Dict[str, str]:
    return get_redis().hgetall(conv_key(sender))


def feed_event(event: Dict[str, Any]) -> Dict[str, str]:
    """Stream fields for one feed event (strings only)."""
    out = {k: (v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)) for k, v in event.items() if v is not None}
    out.setdefault("at", f"{time.time():.3f}")
    return out


def publish(event: Dict[str, Any], pipe: Any = None) -> None:
    (pipe or get_redis()).xadd(FEED, feed_event(event), maxlen=FEED_MAX, approximate=True)


# ------------------------------------------------------------------ working hours

def _ranges(spec: str) -> List[tuple]:
    out = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        a, _, b = part.partition("-")
        ha, ma = (int(x) for x in a.split(":"))
        hb, mb = (int(x) for x in b.split(":"))
        out.append((ha * 60 + ma, hb * 60 + mb))
    return out


def desk_mode() -> str:
    return get_redis().get(MODE) or ""


def set_desk_mode(mode: str) -> None:
    if mode not in ("", "open", "closed"):
        raise ValueError("人工服务模式只能是：按工作时间、开放、暂停")
    if mode:
        get_redis().set(MODE, mode)
    else:
        get_redis().delete(MODE)


def within_hours(at: Optional[datetime] = None) -> bool:
    """True inside the configured working days and hours (local time of ``handoff_timezone``)."""
    from zoneinfo import ZoneInfo

    s = get_settings()
    now = at or datetime.now(ZoneInfo(s.handoff_timezone))
    if now.tzinfo is not None:
        now = now.astimezone(ZoneInfo(s.handoff_timezone))
    days = {int(d) for d in s.handoff_working_days.split(",") if d.strip()}
    if now.isoweekday() not in days:
        return False
    minute = now.hour * 60 + now.minute
    return any(a <= minute < b for a, b in _ranges(s.handoff_working_hours))


def desk_open(at: Optional[datetime] = None) -> bool:
    mode = desk_mode()
    if mode:
        return mode == "open"
    return within_hours(at)


WEEKDAYS = "一二三四五六日"


def hours_text() -> str:
    s = get_settings()
    days = sorted(int(d) for d in s.handoff_working_days.split(",") if d.strip())
    if days == [1, 2, 3, 4, 5]:
        day_text = "工作日"
    elif days == list(range(1, 8)):
        day_text = "每天"
    else:
        day_text = "每周" + "、".join(WEEKDAYS[d - 1] for d in days)
    return day_text + " " + "、".join(r.strip().replace("-", "—") for r in s.handoff_working_hours.split(",") if r.strip())


# ------------------------------------------------------------------ agents and presence

def set_presence(username: str, status: str, display_name: str, tier: str, skills: List[str]) -> None:
    if status not in PRESENCE:
        raise ValueError("状态只能是：在线、暂离、离线")
    r = get_redis()
    pipe = r.pipeline()
    pipe.hset(agent_key(username), mapping={"status": status, "name": display_name, "tier": tier,
                                            "skills": ",".join(skills), "since": f"{time.time():.3f}"})
    pipe.sadd(AGENTS, username)
    if status == "offline":
        pipe.delete(alive_key(username))
    else:
        pipe.set(alive_key(username), "1", ex=get_settings().handoff_presence_ttl_s)
    publish({"type": "presence", "agent": username, "status": status}, pipe)
    pipe.execute()
    _slots_seen.clear()


def heartbeat(username: str) -> None:
    r = get_redis()
    if (r.hget(agent_key(username), "status") or "offline") != "offline":
        r.set(alive_key(username), "1", ex=get_settings().handoff_presence_ttl_s)


def agent(username: str) -> Dict[str, Any]:
    """One agent as dispatch and the supervisor see them (effective presence, load, capacity)."""
    return agents([username])[0]


def agents(usernames: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    r = get_redis()
    names = sorted(usernames if usernames is not None else r.smembers(AGENTS))
    pipe = r.pipeline()
    for u in names:
        pipe.hgetall(agent_key(u))
        pipe.exists(alive_key(u))
        pipe.smembers(agent_convs_key(u))
    raw = pipe.execute()
    out = []
    cap = get_settings().handoff_agent_capacity
    for i, u in enumerate(names):
        info, alive, convs = raw[3 * i], raw[3 * i + 1], raw[3 * i + 2]
        status = info.get("status", "offline")
        if status != "offline" and not alive:
            status = "offline"
        out.append({"username": u, "name": info.get("name", u), "tier": info.get("tier", "guide"),
                    "skills": [s for s in (info.get("skills") or "").split(",") if s], "status": status,
                    "status_name": PRESENCE_NAMES[status], "load": len(convs), "capacity": cap,
                    "conversations": sorted(convs), "last_assigned": float(info.get("last_assigned") or 0)})
    return out


def serves(a: Dict[str, Any], tier: str, group: str) -> bool:
    return a["tier"] == tier and (not a["skills"] or not group or group in a["skills"])


def staffed(tier: str, group: str = "") -> bool:
    """Somebody who could take this conversation is signed in (online or away)."""
    return any(a["status"] != "offline" and serves(a, tier, group) for a in agents())


# ------------------------------------------------------------------ positions and waits

def position(sender: str, tier: str) -> int:
    rank = get_redis().zrank(queue_key(tier), sender)
    return 0 if rank is None else int(rank) + 1


def queue_length(tier: str) -> int:
    return int(get_redis().zcard(queue_key(tier)))


def avg_handle_s() -> float:
    r = get_redis()
    n, total = r.hmget(STATS, "handled", "handle_s")
    if n and int(n) >= 5:
        return float(total or 0) / int(n)
    return float(get_settings().handoff_avg_handle_s)


def record_handled(seconds: float) -> None:
    pipe = get_redis().pipeline()
    pipe.hincrby(STATS, "handled", 1)
    pipe.hincrbyfloat(STATS, "handle_s", max(0.0, seconds))
    pipe.execute()


SLOTS_FRESH_S = 1.0
_slots_seen: Dict[str, Tuple[float, int]] = {}


def slots(tier: str) -> int:
    """Conversations the online agents of a tier can hold at once.

    Only the wait estimate uses it, and every position update asks: a count up to
    ``SLOTS_FRESH_S`` old is good enough there and spares reading every agent's record each time."""
    now = time.monotonic()
    seen = _slots_seen.get(tier)
    if seen is not None and now - seen[0] < SLOTS_FRESH_S:
        return seen[1]
    n = max(1, sum(a["capacity"] for a in agents() if a["status"] == "online" and a["tier"] == tier))
    _slots_seen[tier] = (now, n)
    return n


def wait_estimate(pos: int, tier: str, tier_slots: Optional[int] = None, handle_s: Optional[float] = None) -> int:
    """Seconds until a person is expected: places ahead over the slots of online agents, times handling time."""
    n = tier_slots if tier_slots is not None else slots(tier)
    return int(max(60, math.ceil(pos / n) * (handle_s if handle_s is not None else avg_handle_s())))


def touch_live(sender: str, pipe: Any = None) -> None:
    (pipe or get_redis()).zadd(LIVE, {sender: time.time()})
