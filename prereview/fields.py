"""Fields read from OCR lines: names with their ID numbers, credit codes, validity periods and dates.

OCR sometimes joins a label and its value into one box ("姓名张三") and sometimes returns them as two
("姓名" | "张三", or the value on the line below); ``pair_labels`` puts a bare label back together with its
value by the boxes' geometry (same line to the right, else the line just below).  OCR also confuses a few
characters inside numbers ("O" for "0", "l" or "|" for "1", "S" for "5", "B" for "8", "x" for "X"):
``repair_id`` and ``repair_credit`` undo them only where the standard allows a digit — a credit code's
alphabet has no I, O, Z, S or V, so those letters are OCR's; its B or D may be real.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Dict, Iterable, List, Sequence, Union

from prereview.ocr import Line

NAME_STOP = ("性别", "民族", "出生", "住址", "公民身份", "身份证", "国籍", "户主", "与户主", "联系电话", "籍贯",
             "职业", "登记", "证件", "受托人", "委托人", "签字", "签名", "日期", "年龄", "男", "女")
CJK_NAME = re.compile(r"^[\u4e00-\u9fa5·]{2,15}")
ID_CANDIDATE = re.compile(r"(?<![0-9A-Z])(\d{17}[0-9X])(?![0-9A-Z])")
ID_LABELS = ("公民身份号码", "身份证号码", "身份证件号码", "身份证件号", "身份证号", "证件号码", "公民身份证件编号")
CREDIT_WORD = "统一社会信用代码"
CREDIT_LABEL = re.compile(r"统一社会信用代码[:：]?\s*([0-9A-Za-z|]{15,20})")
REGISTRATION = re.compile(r"(?:营业执照注册号|注册号)[:：]?\s*([0-9A-Za-z|]{13,16})")
NUMBER_RUN = re.compile(r"[0-9A-Za-z|×Ｘ]+")
# OCR's confusions of a digit with a letter (or a bar), used only where a digit must stand
AS_DIGIT = {"O": "0", "o": "0", "D": "0", "I": "1", "l": "1", "|": "1", "i": "1", "Z": "2", "z": "2", "S": "5",
            "s": "5", "B": "8"}
# letters a credit code can never contain (GB 32100 leaves out I, O, Z, S, V): read as the digit they resemble
NOT_CREDIT = {"I": "1", "O": "0", "Z": "2", "S": "5", "o": "0", "l": "1", "|": "1", "i": "1", "z": "2", "s": "5"}
MAX_REPAIRS = 3  # more letters than this in an 18-character run: it is not an ID number misread
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
    """Spaces out and the check character's look-alikes (×, Ｘ, x) made an X; see ``repair_id`` for digits."""
    text = text.upper().replace("×", "X").replace("Ｘ", "X")
    return re.sub(r"\s+", "", text)


def repair_id(token: str) -> str | None:
    """An 18-character run read as a citizen ID number: the first 17 must be digits (at most a few look-alike
    letters, replaced), the last a digit or X.  ``None`` when it is not an ID number at all."""
    if len(token) != 18:
        return None
    body, last = token[:17], token[17]
    letters = [c for c in body if not c.isdigit()]
    if len(letters) > MAX_REPAIRS or any(c not in AS_DIGIT for c in letters):
        return None
    last = "X" if last in "xX×Ｘ" else AS_DIGIT.get(last, last)
    if not last.isdigit() and last != "X":
        return None
    return "".join(AS_DIGIT.get(c, c) for c in body) + last


def repair_credit(token: str) -> str:
    """A credit code as read: letters outside the GB 32100 alphabet become their digit look-alikes, and in the
    six-digit region code (positions 3–8) every look-alike does."""
    chars = [NOT_CREDIT.get(c, c) for c in token]
    chars = [c.upper() for c in chars]
    for k in range(2, min(8, len(chars))):
        chars[k] = AS_DIGIT.get(chars[k], chars[k])
    return "".join(chars)


def repair_digits(token: str) -> str:
    return "".join(AS_DIGIT.get(c, c) for c in token)


def id_numbers_in(text: str) -> List[str]:
    """ID numbers in one line of OCR text, look-alike letters repaired (never on a credit-code line)."""
    compact = re.sub(r"\s+", "", text)
    if CREDIT_WORD in compact or "注册号" in compact:
        return [m.group(1) for m in ID_CANDIDATE.finditer(normalise_number(compact))]
    out = []
    for run in NUMBER_RUN.finditer(compact):
        fixed = repair_id(run.group(0))
        if fixed is not None:
            out.append(fixed)
    return out


# ---------------------------------------------------------------- labels and values by geometry


def _bare_label(text: str, labels: Iterable[str]) -> str:
    """The label when a box holds nothing else ("姓名", "公民身份号码：")."""
    core = re.sub(r"[\s:：()（）]", "", text)
    return core if core in labels else ""


def pair_labels(lines: Sequence[Line], labels: Iterable[str]) -> List[str]:
    """Texts in reading order, with each box that holds only a label joined to its value box: the nearest box on
    the same line to its right, else the box just below it.  Boxes already holding label and value pass through."""
    known = set(labels)
    bare = [_bare_label(ln.text, known) for ln in lines]
    partner: Dict[int, int] = {}
    taken: set[int] = set()
    for i, ln in enumerate(lines):
        if not bare[i]:
            continue
        h = ln.height
        cy = (ln.y0 + ln.y1) / 2
        best, best_cost = None, float("inf")
        for j, other in enumerate(lines):
            if j == i or j in taken or bare[j]:
                continue
            ocy, oh = (other.y0 + other.y1) / 2, other.height
            gap = other.x0 - ln.x1
            if -0.5 * h <= gap <= 15 * h and abs(ocy - cy) < 0.6 * max(h, oh) + 0.08 * max(gap, 0):
                cost = gap / h  # same line, to the right
            elif 0 <= other.y0 - ln.y1 + 0.3 * h <= 1.5 * h and other.x0 <= ln.x1 + 2 * h and other.x1 >= ln.x0:
                cost = 100 + (other.y0 - ln.y1) / h + abs(other.x0 - ln.x0) / h  # the line below
            else:
                continue
            if cost < best_cost:
                best, best_cost = j, cost
        if best is not None:
            partner[i] = best
            taken.add(best)
    return [ln.text + lines[partner[i]].text if i in partner else ln.text for i, ln in enumerate(lines) if i not in taken]


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


def extract(lines: Sequence[Union[Line, str]], name_labels: Sequence[str], validity_labels: Sequence[str]) -> Fields:
    """Fields of one page from its OCR lines (``Line`` objects, whose boxes pair labels with values; plain
    strings are taken as already paired)."""
    if lines and isinstance(lines[0], Line):
        labels = [*name_labels, *ID_LABELS, *validity_labels, CREDIT_WORD, "注册号", "营业执照注册号"]
        texts = pair_labels([ln for ln in lines if isinstance(ln, Line)], labels)
    else:
        texts = [str(x) for x in lines]
    return _extract(texts, name_labels, validity_labels)


def _extract(lines: Sequence[str], name_labels: Sequence[str], validity_labels: Sequence[str]) -> Fields:
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
        for number in id_numbers_in(text):
            numbers.append((i, number))
        compact = re.sub(r"\s+", "", text)
        credit = CREDIT_LABEL.search(compact)
        if credit:
            out.credit_codes.append(repair_credit(credit.group(1)))
        elif CREDIT_WORD in compact and i + 1 < len(lines):  # value printed on the next line
            nxt = re.match(r"^([0-9A-Za-z|]{15,20})$", re.sub(r"\s+", "", lines[i + 1]))
            if nxt:
                out.credit_codes.append(repair_credit(nxt.group(1)))
        registration = REGISTRATION.search(compact)
        if registration:
            digits = repair_digits(registration.group(1))
            if digits.isdigit():
                out.registration_numbers.append(digits)
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
