"""Check digits of Chinese identifiers, by the standards that define them.

- GB 11643-1999 公民身份号码: 6-digit region, 8-digit birth date, 3-digit sequence, ISO 7064 MOD 11-2 check.
- GB 32100-2015 统一社会信用代码: 18 characters, MOD 31 check over 17 weighted characters, with the
  9-character organisation code (GB 11714) embedded at positions 9–17.
- Legacy 15-digit business registration numbers (注册号, GS15-2006, ISO 7064 MOD 11,10), still printed on
  pre-2015 licences: recognised so the notice can say "old licence" instead of "wrong number".

Each function returns a small verdict rather than a bool, so the notice can say *what* is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
# Province-level codes of GB/T 2260 (plus 83 used by 台湾居民居住证 numbers).
PROVINCES = {
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
    "71", "81", "82", "83",
}
ID_PATTERN = re.compile(r"^\d{17}[\dX]$")

CREDIT_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
CREDIT_PATTERN = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
ORG_CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Verdict:
    """``ok`` is the answer; ``reason`` is a short machine word; ``expected`` the right check character."""

    ok: bool
    reason: str = ""
    expected: str = ""
    legacy: bool = False


def id_check_char(first17: str) -> str:
    return ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS)) % 11]


def birth_date(number: str) -> date | None:
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def check_id_number(number: str, today: date | None = None) -> Verdict:
    """GB 11643-1999: form, province, a real birth date not in the future, and the check digit."""
    number = number.strip().upper()
    if not ID_PATTERN.match(number):
        return Verdict(False, "format")
    if number[:2] not in PROVINCES:
        return Verdict(False, "region")
    born = birth_date(number)
    if born is None or born.year < 1850 or born > (today or date.today()):
        return Verdict(False, "birth_date")
    expected = id_check_char(number[:17])
    if number[17] != expected:
        return Verdict(False, "check_digit", expected)
    return Verdict(True)


def credit_check_char(first17: str) -> str:
    total = sum(CREDIT_CHARSET.index(c) * w for c, w in zip(first17, CREDIT_WEIGHTS))
    return CREDIT_CHARSET[(31 - total % 31) % 31]


def org_code_check_char(first8: str) -> str:
    total = sum(ORG_CHARSET.index(c) * w for c, w in zip(first8, ORG_WEIGHTS))
    value = 11 - total % 11
    return {10: "X", 11: "0"}.get(value, str(value))


def check_credit_code(code: str) -> Verdict:
    """GB 32100-2015; a right overall check digit over a wrong embedded organisation code is a pilot-era
    code (赋码试点期间), reported as legacy so it becomes a warning, not an error."""
    code = code.strip().upper()
    if not CREDIT_PATTERN.match(code):
        return Verdict(False, "format")
    expected = credit_check_char(code[:17])
    if code[17] != expected:
        return Verdict(False, "check_digit", expected)
    org = code[8:17]
    if all(c in ORG_CHARSET for c in org[:8]) and org[8] != org_code_check_char(org[:8]):
        return Verdict(True, "pilot_org_code", legacy=True)
    return Verdict(True)


def check_registration_number(number: str) -> Verdict:
    """A pre-2015 15-digit 注册号 (ISO 7064 MOD 11,10): always legacy; ``ok`` says whether it is well formed."""
    number = number.strip()
    if not re.fullmatch(r"\d{15}", number):
        return Verdict(False, "format", legacy=True)
    p = 10
    for c in number[:14]:
        s = p % 11 + int(c)
        p = (s % 10 or 10) * 2
    expected = str((11 - p % 11) % 10)
    if number[14] != expected:
        return Verdict(False, "check_digit", expected, legacy=True)
    return Verdict(True, "registration_number", legacy=True)


def mask_id(number: str) -> str:
    """Shown in notices and logs: region and check part stay, the birth date and sequence do not."""
    if len(number) < 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]
