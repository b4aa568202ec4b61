"""Who serves whom: the atomic claim and the dispatcher.

A claim is one Lua script: it checks that the conversation is still queued, that it is for the
agent's tier and skill group (it may have been escalated since the agent looked), and that the
agent is under capacity, then moves it out of the queue and into the agent's set and
writes the feed event — all in one step inside Redis, so two agents (or two gateway
copies dispatching at once) can never serve the same conversation.

The dispatcher drains each tier's queue oldest first to online agents whose tier and
skill group fit, preferring the agent who served the resident last time, then the least
loaded, then the one who waited longest for a new conversation.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Tuple

from channels.handoff import queues
from guide.redis import get_redis
from guide.settings import get_settings

CLAIM_LUA = """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'queued' then return {0, state or 'bot'} end
if ARGV[11] == '1' then
  local atier, askills = ARGV[8], ARGV[9]
  if ARGV[10] ~= '1' then
    atier = redis.call('HGET', KEYS[7], 'tier') or ''
    askills = redis.call('HGET', KEYS[7], 'skills') or ''
  end
  if atier == '' then atier = 'guide' end
  local ctier = redis.call('HGET', KEYS[1], 'tier') or ''
  if ctier == '' then ctier = 'guide' end
  if atier ~= ctier then return {0, 'tier'} end
  local cgroup = redis.call('HGET', KEYS[1], 'group') or ''
  if askills ~= '' and cgroup ~= '' then
    local fits = false
    for skill in string.gmatch(askills, '[^,]+') do
      if skill == cgroup then fits = true end
    end
    if not fits then return {0, 'skill'} end
  end
end
local cap = tonumber(ARGV[5])
if cap > 0 and redis.call('SCARD', KEYS[4]) >= cap then return {0, 'full'} end
for i = 2, 3 do redis.call('ZREM', KEYS[i], ARGV[1]) end
redis.call('HSET', KEYS[1], 'state', 'with_agent', 'agent', ARGV[2], 'agent_name', ARGV[3], 'assigned_at', ARGV[4],
           'waiting_on', 'agent', 'waiting_since', ARGV[4], 'reminded', '0', 'changed_at', ARGV[4])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('SADD', KEYS[5], ARGV[1])
redis.call('HSET', KEYS[7], 'last_assigned', ARGV[4])
redis.call('SET', KEYS[8], ARGV[2], 'EX', 2592000)
local tier = redis.call('HGET', KEYS[1], 'tier') or ''
local group = redis.call('HGET', KEYS[1], 'group') or ''
redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[7], '*', 'type', 'claim', 'sender', ARGV[1], 'agent', ARGV[2],
           'tier', tier, 'group', group, 'state', 'with_agent', 'by', ARGV[6], 'at', ARGV[4])
return {1, 'with_agent'}
"""
_script = None
_script_client = None


def _claim_script():  # type: ignore[no-untyped-def]
    global _script, _script_client
    r = get_redis()
    if _script is None or _script_client is not r:
        _script, _script_client = r.register_script(CLAIM_LUA), r
    return _script


def claim(sender: str, username: str, display_name: str, by: str = "agent", capacity: int | None = None,
          tier: Optional[str] = None, skills: Optional[List[str]] = None, check_fit: bool = True) -> Tuple[bool, str]:
    """Atomically give a queued conversation to ``username``.

    Returns (True, "with_agent") or (False, why): the state it is in now, "full" when the agent
    is at capacity, "tier" or "skill" when the conversation (as it is at this instant: it may have
    been escalated since the agent looked) is not for this agent's tier or skill group.  ``tier``
    and ``skills`` are the agent's (None: read from the agent's presence record); ``check_fit``
    False lets a supervisor take any conversation.  ``by`` says who decided: "agent" or "dispatch".
    """
    cap = get_settings().handoff_agent_capacity if capacity is None else capacity
    keys = [queues.conv_key(sender), queues.queue_key("guide"), queues.queue_key("expert"), queues.agent_convs_key(username),
            queues.ACTIVE, queues.FEED, queues.agent_key(username), queues.last_agent_key(sender)]
    explicit = tier is not None
    args = [sender, username, display_name, f"{time.time():.3f}", cap, by, queues.FEED_MAX, tier or "", ",".join(skills or []),
            "1" if explicit else "0", "1" if check_fit else "0"]
    ok, why = _claim_script()(keys=keys, args=args)
    return bool(ok), str(why)


def pick(candidates: List[Dict[str, Any]], last_agent: str) -> Dict[str, Any] | None:
    """The agent to offer a conversation to: the last one who served the resident, else least loaded, longest idle."""
    if not candidates:
        return None
    for a in candidates:
        if a["username"] == last_agent:
            return a
    return min(candidates, key=lambda a: (a["load"], a["last_assigned"], a["username"]))


def dispatch(limit: int = 500) -> List[Tuple[str, str]]:
    """Assign queued conversations to online agents with room; returns [(sender, agent username)]."""
    if not get_settings().handoff_auto_assign:
        return []
    available = [a for a in queues.agents() if a["status"] == "online" and a["load"] < a["capacity"]]
    if not available:
        return []
    r = get_redis()
    done: List[Tuple[str, str]] = []
    for tier in queues.TIERS:
        tier_agents = [a for a in available if a["tier"] == tier]
        if not tier_agents:
            continue
        senders = r.zrange(queues.queue_key(tier), 0, limit - 1)
        if not senders:
            continue
        pipe = r.pipeline()
        for s in senders:
            pipe.hmget(queues.conv_key(s), "group", "state")
            pipe.get(queues.last_agent_key(s))
        raw = pipe.execute()
        for i, sender in enumerate(senders):
            (group, state), last = raw[2 * i], raw[2 * i + 1]
            if state != "queued":
                continue
            fits = [a for a in tier_agents if a["load"] < a["capacity"] and queues.serves(a, tier, group or "")]
            chosen = pick(fits, last or "")
            if chosen is None:
                continue
            ok, why = claim(sender, chosen["username"], chosen["name"], by="dispatch", tier=chosen["tier"], skills=chosen["skills"])
            if ok:
                chosen["load"] += 1
                chosen["last_assigned"] = time.time()
                done.append((sender, chosen["username"]))
            elif why == "full":
                chosen["load"] = chosen["capacity"]
            if all(a["load"] >= a["capacity"] for a in tier_agents):
                break
    return done
