"""ID and phone numbers never leave the engine whole: notices are pages anyone with the link may open.

The patterns are ``guide.masking``'s (first 6 and last 4 characters of an ID number, first 3 and last 4 of a
mobile number), but the 15-digit pattern is left out on purpose: here a 15-digit number is a business
licence's old registration number, which the resident must be able to read back, not a first-generation ID.
"""

from __future__ import annotations

from typing import Any

from guide.masking import ID_NUMBER, LANDLINE, MOBILE


def private(text: str) -> str:
    """``text`` with 18-character ID numbers and phone numbers masked (idempotent: masked text has no match)."""
    if not text:
        return text
    text = ID_NUMBER.sub(lambda m: m.group(1) + "*" * 8 + m.group(3), text)
    text = MOBILE.sub(lambda m: m.group(1) + "****" + m.group(3), text)
    return LANDLINE.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3), text)


def private_values(value: Any) -> Any:
    """Every string inside evidence (dicts, lists) masked the same way."""
    if isinstance(value, str):
        return private(value)
    if isinstance(value, dict):
        return {k: private_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [private_values(v) for v in value]
    return value
