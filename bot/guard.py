"""Input that should never reach the model: empty, emoji-only, binary noise, oversized.

Every channel calls ``precheck`` first and, when it returns a reply, sends that instead
of a model turn, so odd input gets a friendly answer and never a stack trace.
"""

from __future__ import annotations

from typing import Tuple

from knowledge.text import MAX_CHARS, is_meaningful, normalize

EMPTY_REPLY = "您好像没有输入文字。请告诉我您想办的事，比如“宝宝出生要办什么”。"
NOISE_REPLY = "抱歉，没能看懂这条消息。请用文字描述您想办的事，比如“怎么办理居住证”。"
LONG_NOTE = f"（您的消息较长，我先按前{MAX_CHARS}个字理解。）"


def precheck(text: object) -> Tuple[str | None, str]:
    """Returns (reply_instead_of_model, text_to_send). ``reply`` is None when the text is fine."""
    if not isinstance(text, str):
        return NOISE_REPLY, ""
    if "\x00" in text or sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\t\r") > 3:
        return NOISE_REPLY, ""
    stripped = text.strip()
    if not stripped:
        return EMPTY_REPLY, ""
    clean = normalize(stripped)
    if not is_meaningful(clean):
        return NOISE_REPLY, ""
    replacement = sum(1 for ch in stripped[:2000] if ch == "\ufffd")
    if replacement > len(stripped[:2000]) // 4:
        return NOISE_REPLY, ""
    return None, stripped[: MAX_CHARS * 2]


def long_note(text: str) -> str | None:
    return LONG_NOTE if len(text.strip()) > MAX_CHARS else None
