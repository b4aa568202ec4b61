"""Mask personal identifiers before they reach lists, logs or metrics.

Agents see the full text only inside a conversation they serve; everywhere else an
ID number keeps its first 6 and last 4 characters and a phone number its first 3 and
last 4, which is how government service desks print them on receipts.
"""

from __future__ import annotations

import re

ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[0-9Xx])(?![0-9A-Za-z])")
ID_NUMBER_15 = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{6})(\d{3})(?![0-9A-Za-z])")
MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
LANDLINE = re.compile(r"(?<!\d)(0\d{2,3}-?)(\d{3,4})(\d{4})(?!\d)")


def mask(text: str) -> str:
    """Return ``text`` with ID numbers and phone numbers masked."""
    if not text:
        return text
    text = ID_NUMBER.sub(lambda m: m.group(1) + "*" * 8 + m.group(3)[-4:].rjust(4, "*"), text)
    text = MOBILE.sub(lambda m: m.group(1) + "****" + m.group(3), text)
    text = LANDLINE.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3), text)
    text = ID_NUMBER_15.sub(lambda m: m.group(1) + "*" * 5 + m.group(3)[-4:].rjust(4, "*"), text)
    return text
