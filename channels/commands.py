"""Control phrases the gateway answers itself, before NLU.

A resident who types exactly "转人工" (or taps the 转人工 button) wants a person, whatever
the classifier would make of it; handling that here keeps the request fast when the bot is
busy (it does not wait behind other residents' NLU) and exact when a model changes.  Only
whole-message matches count: "转人工问一下户口的事" still goes to the bot, which hears the
question as well.
"""

from __future__ import annotations

import json
import logging
import re

from channels.handoff.service import HANDOFF_WORDS
from guide.redis import get_redis

log = logging.getLogger(__name__)
ASK_PERSON = frozenset({*HANDOFF_WORDS, "/ask_human", "人工", "客服", "转人工客服", "转人工服务", "转接人工", "我要人工",
                        "我要转人工", "我要找人工", "找人工客服", "人工坐席", "找真人", "请转人工", "帮我转人工"})
_NOISE = re.compile(r"[\s，,。.！!？?~～…、:：;；\"'“”‘’()（）【】\[\]]+")
# Rasa's Redis tracker store key: endpoints.yml sets key_prefix "guide", Rasa adds "tracker:"
TRACKER_KEY = "guide:tracker:{sender}"


def asks_for_person(text: str) -> bool:
    """True when the whole message is a request for a person ("转人工！", "人工客服", the button's payload)."""
    return _NOISE.sub("", (text or "").lower())[:20] in ASK_PERSON


def current_service(sender: str) -> str:
    """The service the bot last settled on for this conversation (its ``service`` slot), read from the tracker store.

    Read-only and best effort: the handoff is routed by the service's skill group when there is one."""
    try:
        raw = get_redis().get(TRACKER_KEY.format(sender=sender))
        events = json.loads(raw).get("events", []) if raw else []
    except (ValueError, AttributeError, OSError) as exc:
        log.warning("tracker of %s unreadable: %s", sender[-8:], exc)
        return ""
    except Exception as exc:  # noqa: BLE001 - Redis trouble: route without the service
        log.warning("tracker of %s not read: %s", sender[-8:], exc)
        return ""
    for event in reversed(events):
        if event.get("event") == "restart":
            return ""
        if event.get("event") == "slot" and event.get("name") == "service":
            return str(event.get("value") or "")
    return ""
