"""WeChat XML in, WeChat text out.

Inbound XML is parsed with defusedxml and any DOCTYPE is refused, so entity tricks
(XXE, billion laughs) never reach a parser that would expand them.  Outbound, the
hub's messages become plain text: WeChat text has no buttons, so buttons become
numbered options ("回复 1、2、3"), and the text is cut into parts that fit a passive
reply (2048 bytes of UTF-8).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

PASSIVE_LIMIT = 2048  # bytes of UTF-8 in one passive reply (WeChat's documented limit)
MAX_FIELDS = 64


class BadMessage(ValueError):
    """Not a WeChat message we can read (malformed, entities, wrong root)."""


def parse_xml(body: bytes | str) -> Dict[str, str]:
    """The flat ``<xml><Field>value</Field>…</xml>`` document as a dict; DTDs and entities are refused."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError, TypeError) as exc:
        raise BadMessage(type(exc).__name__) from exc
    if root.tag != "xml" or len(root) > MAX_FIELDS:
        raise BadMessage("not a WeChat document")
    out: Dict[str, str] = {}
    for child in root:
        out[child.tag] = (child.text or "").strip() if len(child) == 0 else ""
    return out


@dataclass
class Incoming:
    """One message or event from a resident, with the fields this channel uses."""

    to_user: str
    from_user: str
    create_time: int
    msg_type: str  # text | image | voice | location | event | anything else (answered politely)
    msg_id: str = ""
    content: str = ""
    media_id: str = ""
    recognition: str = ""
    event: str = ""  # lower-cased: subscribe | unsubscribe | click | view | scan | …
    event_key: str = ""
    label: str = ""  # location
    latitude: str = ""
    longitude: str = ""
    raw: Dict[str, str] = field(default_factory=dict)

    @property
    def sender(self) -> str:
        return "wx-" + self.from_user

    @property
    def dedupe_key(self) -> str:
        """MsgId for messages; FromUserName + CreateTime (+ event) for events, which have no MsgId."""
        if self.msg_id:
            return f"m:{self.msg_id}"
        return f"e:{self.from_user}:{self.create_time}:{self.event}:{self.event_key}"[:300]


def parse(fields: Dict[str, str]) -> Incoming:
    if not fields.get("FromUserName") or not fields.get("MsgType"):
        raise BadMessage("missing FromUserName or MsgType")
    try:
        created = int(fields.get("CreateTime") or 0)
    except ValueError:
        created = 0
    return Incoming(
        to_user=fields.get("ToUserName", ""), from_user=fields["FromUserName"][:128], create_time=created,
        msg_type=fields["MsgType"].lower(), msg_id=(fields.get("MsgId") or "")[:64], content=fields.get("Content", ""),
        media_id=fields.get("MediaId", ""), recognition=fields.get("Recognition", ""),
        event=(fields.get("Event") or "").lower(), event_key=fields.get("EventKey", ""), label=fields.get("Label", ""),
        latitude=fields.get("Location_X", ""), longitude=fields.get("Location_Y", ""), raw=fields,
    )


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply(to_user: str, from_user: str, content: str) -> str:
    """The passive text reply XML (to the resident, from the account)."""
    return (f"<xml><ToUserName>{_cdata(to_user)}</ToUserName><FromUserName>{_cdata(from_user)}</FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType>{_cdata('text')}</MsgType>"
            f"<Content>{_cdata(content)}</Content></xml>")


# ----------------------------------------------------------------- answers → text

RATING_LEVELS = [(5, "非常满意"), (4, "满意"), (3, "基本满意"), (2, "不满意"), (1, "非常不满意")]


PREFIX = re.compile(r"^\s*\d{1,3}\s*[.．、)）](?!\d)\s*")


def _buttons(messages: List[Dict[str, Any]]) -> List[Tuple[str, str]]:
    """(payload, title) of every usable button, in the order they are shown."""
    out: List[Tuple[str, str]] = []
    for m in messages:
        if (m.get("kind") or "bot") == "rating":
            continue
        for b in m.get("buttons") or []:
            payload = str(b.get("payload") or b.get("title") or "")
            if payload:
                out.append((payload, str(b.get("title") or payload)))
    return out


def options(messages: List[Dict[str, Any]]) -> Dict[str, str]:
    """Number → payload for every button in the answer: 1 … n in the order they are shown.

    The number is the one the resident sees and replies with; the payload is what the bot
    gets for it (a bot's own "2" may be shown as option 1 when it follows another button)."""
    return {str(n): payload for n, (payload, _) in enumerate(_buttons(messages), 1)}


def _button_lines(buttons: List[Dict[str, Any]], first: int) -> List[str]:
    """The buttons of one message as "n. title" lines, numbered from ``first`` (a title's own number is replaced)."""
    lines = []
    n = first
    for b in buttons:
        payload = str(b.get("payload") or b.get("title") or "")
        if not payload:
            continue
        title = PREFIX.sub("", str(b.get("title") or payload)) or payload
        lines.append(f"{n}. {title}")
        n += 1
    return lines


def render(messages: List[Dict[str, Any]]) -> Tuple[str, Dict[str, str]]:
    """The whole answer as one text, and the number → payload map of its options."""
    numbers = options(messages)
    blocks: List[str] = []
    shown = 0
    for m in messages:
        kind = m.get("kind") or "bot"
        if kind == "rating":
            levels = "\n".join(f"{n}. {name}" for n, name in RATING_LEVELS)
            blocks.append(f"请为本次服务评价，回复数字即可：\n{levels}")
            continue
        text = str(m.get("text") or "").strip()
        if kind == "agent" and text:
            text = f"【人工客服】{text}"
        lines = [text] if text else []
        if m.get("buttons"):
            numbered = _button_lines(m["buttons"], shown + 1)
            shown += len(numbered)
            lines.extend(numbered)
        link = m.get("link")
        if isinstance(link, dict) and link.get("url"):
            lines.append(f"{link.get('title') or link.get('text') or '查看详情'}：{link['url']}")
        if lines:
            blocks.append("\n".join(lines))
    text = "\n\n".join(blocks)
    if numbers:
        keys = sorted(numbers, key=int)
        text += f"\n\n（回复 {'、'.join(keys)} 即可选择）" if len(keys) > 1 else f"\n\n（回复 {keys[0]} 即可选择）"
    return text, numbers


def split(text: str, limit: int = PASSIVE_LIMIT) -> List[str]:
    """Parts of at most ``limit`` UTF-8 bytes, cut at paragraph, line, then punctuation boundaries."""
    text = text.strip()
    if not text:
        return []
    if len(text.encode("utf-8")) <= limit:
        return [text]
    parts: List[str] = []
    current = ""
    for line in _units(text, limit):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode("utf-8")) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        parts.append(current)
    return [p.strip("\n") for p in parts if p.strip()]


def _units(text: str, limit: int) -> List[str]:
    """Lines, each long line cut at punctuation (or hard) so every unit fits ``limit``."""
    out: List[str] = []
    for line in text.split("\n"):
        while len(line.encode("utf-8")) > limit:
            cut = _fit(line, limit)
            punct = max(line.rfind(p, 0, cut) for p in "。；！？，、.;!?, ") + 1
            if punct > cut // 2:
                cut = punct
            out.append(line[:cut])
            line = line[cut:]
        out.append(line)
    return out


def _fit(line: str, limit: int) -> int:
    """The longest prefix length whose UTF-8 fits ``limit`` bytes."""
    size = 0
    for i, ch in enumerate(line):
        size += len(ch.encode("utf-8"))
        if size > limit:
            return i
    return len(line)


def chunks(messages: List[Dict[str, Any]], limit: int = PASSIVE_LIMIT) -> Tuple[List[str], Dict[str, str]]:
    text, numbers = render(messages)
    return split(text, limit), numbers


def bare_number(text: str) -> Optional[str]:
    """"1", "１", " 2 " → the digits; anything else → None."""
    t = text.strip().translate(str.maketrans("０１２３４５６７８９", "0123456789")).rstrip("。.、")
    return t if t.isdigit() and len(t) <= 3 else None
