"""The conversation transcript every party sees: resident, bot, agent and system turns.

One Redis stream per conversation (``guide:transcript:{sender}``), so any gateway copy
can show it, entries carry stable ids (a message is shown once), and the stream is
capped and expires so it never grows without bound.  Closing a handoff copies it to the
database (channels.handoff) for work orders and audits.
"""

from __future__ import annotations

import json
import time
from typing import Any, Dict, List, Optional

from guide.redis import get_redis

MAX_ENTRIES = 500
KEEP_SECONDS = 30 * 24 * 3600
ROLES = ("resident", "bot", "agent", "system")


def key(sender: str) -> str:
    return f"guide:transcript:{sender}"


def append(sender: str, role: str, text: str, **extra: Any) -> str:
    """Add one turn; returns its stream id."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    fields = {"role": role, "text": text or "", "at": f"{time.time():.3f}"}
    if extra:
        fields["extra"] = json.dumps(extra, ensure_ascii=False)
    r = get_redis()
    pipe = r.pipeline()
    pipe.xadd(key(sender), fields, maxlen=MAX_ENTRIES, approximate=True)
    pipe.expire(key(sender), KEEP_SECONDS)
    entry_id, _ = pipe.execute()
    return str(entry_id)


def read(sender: str, after: str = "-", count: int = MAX_ENTRIES) -> List[Dict[str, Any]]:
    """Turns in order, oldest first (``after`` is exclusive when it is an id)."""
    start = "-" if after in ("", "-", "0") else f"({after}"
    entries = get_redis().xrange(key(sender), min=start, max="+", count=count)
    return [_entry(eid, fields) for eid, fields in entries]


def _entry(eid: str, fields: Dict[str, str]) -> Dict[str, Any]:
    out: Dict[str, Any] = {"id": eid, "role": fields.get("role", ""), "text": fields.get("text", ""),
                           "at": float(fields.get("at") or 0)}
    if fields.get("extra"):
        out.update(json.loads(fields["extra"]))
    return out


def last(sender: str, n: int = 20) -> List[Dict[str, Any]]:
    entries = get_redis().xrevrange(key(sender), count=n)
    return [_entry(eid, fields) for eid, fields in reversed(entries)]


def bot_answers(sender: str, n: int = 50) -> List[str]:
    return [e["text"] for e in last(sender, n) if e["role"] == "bot" and e["text"]]


def first_question(sender: str) -> Optional[str]:
    for e in read(sender, count=50):
        if e["role"] == "resident" and e["text"]:
            return str(e["text"])
    return None
