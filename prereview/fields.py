"""Fields read from OCR lines: names with their ID numbers, credit codes, validity periods and dates.

OCR joins a label and its value ("姓名张三") and confuses a few characters ("一" for "-", "x" for "X",
"O" for "0" inside numbers); the patterns below are written for what OCR returns, not for clean text.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Dict, List, Sequence

NAME_STOP = ("性别", "民族", "出生", "住址", "公民身份", "身份证", "国籍", "户主", "与户主", "联系电话", "籍贯",
             "职业", "登记", "证件", "受托人", "委托人", "签字", "签名", "日期", "年龄", "男", "女")
CJK_NAME = re.compile(r"^[\u4e00-\u9fa5·]{2,15}")
ID_CANDIDATE = re.compile(r"(?<![0-9A-Z])(\d{17}[0-9X])(?![0-9A-Z])")
ID_LABELS = ("公民身份号码", "身份证号码", "身份证件号码", "身份证件号", "身份证号", "证件号码", "公民身份证件编号")
CREDIT_LABEL = re.compile(r"统一社会信用代码[:：]?\s*([0-9A-Z]{15,20})")
REGISTRATION = re.compile(r"(?:注册号|营业执照注册号)[:：]?\s*(\d{13,16})")
DATE = re.compile(r"(\d{4})\s*[.\-/年]\s*(\d{1,2})\s*[.\-/月]\s*(\d{1,2})\s*日?")
LONG_TERM = ("长期", "永久")


@dataclass
class Person:
    name: str
    id_number: str = ""
    label: str = ""


@dataclass
class Validity:
    label: str
    text: str
    end: str = ""  # ISO date; empty when long-term or unreadable
    long_term: bool = False


@dataclass
class Fields:
    persons: List[Person] = field(default_factory=list)
    id_numbers: List[str] = field(default_factory=list)
    credit_codes: List[str] = field(default_factory=list)
    registration_numbers: List[str] = field(default_factory=list)
    validity: List[Validity] = field(default_factory=list)
    dates: List[str] = field(default_factory=list)

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Fields":
        return cls(
            persons=[Person(**p) for p in d.get("persons", [])],
            id_numbers=list(d.get("id_numbers", [])),
            credit_codes=list(d.get("credit_codes", [])),
            registration_numbers=list(d.get("registration_numbers", [])),
            validity=[Validity(**v) for v in d.get("validity", [])],
            dates=list(d.get("dates", [])),
        )


def normalise_number(text: str) -> str:
    """Fix OCR's usual confusions inside identifiers."""
    text = text.upper().replace("×", "X").replace("Ｘ", "X")
    return re.sub(r"\s+", "", text)


def parse_date(text: str) -> date | None:
    m = DATE.search(text)
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def _name_after(label: str, text: str) -> str:
    idx = text.find(label)
    if idx < 0:
        return ""
    rest = re.sub(r"^[\s:：]+", "", text[idx + len(label):])
    rest = re.sub(r"[（(][^）)]*[）)]", "", rest)
    m = CJK_NAME.match(rest)
    if not m:
        return ""
    name = m.group(0)
    if any(name.startswith(stop) for stop in NAME_STOP):
        return ""
    for stop in NAME_STOP:
        cut = name.find(stop)
        if cut > 0:
            name = name[:cut]
    return name if len(name) >= 2 else ""


def extract(lines: Sequence[str], name_labels: Sequence[str], validity_labels: Sequence[str]) -> Fields:
    out = Fields()
    numbers: List[tuple[int, str]] = []  # (line index, id number) in reading order
    names: List[tuple[int, str, str]] = []
    for i, raw in enumerate(lines):
        text = raw.replace(" ", "")
        for label in name_labels:
            if text.startswith(label) or (label in text and len(label) >= 3):
                name = _name_after(label, text)
                if name:
                    names.append((i, name, label))
                    break
        for m in ID_CANDIDATE.finditer(normalise_number(text)):
            numbers.append((i, m.group(1)))
        credit = CREDIT_LABEL.search(normalise_number(text))
        if credit:
            out.credit_codes.append(credit.group(1))
        elif "统一社会信用代码" in text and i + 1 < len(lines):  # value printed on the next line
            nxt = re.match(r"^([0-9A-Z]{15,20})$", normalise_number(lines[i + 1]))
            if nxt:
                out.credit_codes.append(nxt.group(1))
        registration = REGISTRATION.search(text)
        if registration:
            out.registration_numbers.append(registration.group(1))
        for d in DATE.finditer(text):
            parsed = parse_date(d.group(0))
            if parsed:
                out.dates.append(parsed.isoformat())
        for label in validity_labels:
            if label in text:
                out.validity.append(_validity(label, text + (lines[i + 1] if i + 1 < len(lines) and not DATE.search(text) else "")))
                break
    out.id_numbers = list(dict.fromkeys(n for _, n in numbers))
    used: set[int] = set()
    for line_no, number in numbers:
        # pair each number with the nearest name above it (or on the same line) not yet taken
        best = None
        for k, (name_line, _name, _label) in enumerate(names):
            if k not in used and name_line <= line_no and (best is None or name_line >= names[best][0]):
                best = k
        if best is not None:
            used.add(best)
            out.persons.append(Person(names[best][1], number, names[best][2]))
        else:
            out.persons.append(Person("", number, ""))
    for k, (_, name, label) in enumerate(names):
        if k not in used:
            out.persons.append(Person(name, "", label))
    return out


def _validity(label: str, text: str) -> Validity:
    rest = text[text.find(label) + len(label):]
    long_term = any(word in rest for word in LONG_TERM)
    dates = [d for d in (parse_date(m.group(0)) for m in DATE.finditer(rest)) if d is not None]
    end = "" if long_term or not dates else max(dates).isoformat()
    return Validity(label, rest.strip(":： ")[:40], end, long_term)
