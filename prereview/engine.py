"""Pre-review of one submission against one service's guide: the use case the CLI, the bot and the web call.

Two stages, so that a resubmission re-reads only what changed:

1. *Reading* a file (decode, legibility, OCR, seal and signature cues) depends only on its bytes and is cached
   by content hash (``ReadingCache``); it never depends on the service.
2. *Judging* (which material it is, completeness, format, numbers, expiry, consistency) is cheap and always
   runs afresh against the current guide and rule catalogue.

Every finding names a rule in ``rules.yml``; the rule supplies the code, severity, message, fix and basis.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Protocol, Sequence, Tuple

from guide.settings import Settings, get_settings
from knowledge.schema import MaterialType, Requirement, Service, ServiceMaterial
from prereview import checksums, identify, quality
from prereview import files as decoding
from prereview.fields import Fields, extract
from prereview.files import KIND_NAMES, Finding
from prereview.identify import PageType
from prereview.ocr import Line
from prereview.privacy import private, private_values
from prereview.rules import Catalogue, Rule
from prereview.rules import load as load_rules

log = logging.getLogger(__name__)

READER_VERSION = "5"
SNIPPET = 60  # characters of what was read kept as evidence (masked)  # bump when reading (not judging) changes, to invalidate cached readings
IDENTITY_CATEGORY = "身份证明"
REASONS = {
    "format": "位数或字符不对",
    "region": "前两位不是有效的省级行政区划代码",
    "birth_date": "出生日期不存在",
    "check_digit": "校验位错误",
}


class UnknownService(LookupError):
    pass


# ---------------------------------------------------------------- inputs


@dataclass
class Submission:
    """One uploaded file.  ``material`` is the service material it was uploaded for (name or catalogue id),
    ``None`` when the resident just sent files and the engine must tell what they are."""

    name: str
    data: bytes
    size: int = -1
    material: str | None = None
    upload_id: str | None = None
    _sha: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.size < 0:
            self.size = len(self.data)

    @classmethod
    def from_path(cls, path: Path | str, material: str | None = None, max_bytes: int | None = None) -> "Submission":
        """Read a file from disk, but never one larger than ``max_bytes`` (its size alone is reported)."""
        p = Path(path)
        size = p.stat().st_size
        limit = max_bytes if max_bytes is not None else int(get_settings().prereview_max_upload_mb * 1e6)
        data = p.read_bytes() if size <= limit else b""
        return cls(p.name, data, size, material)

    @property
    def sha256(self) -> str:
        if self._sha is None:
            self._sha = hashlib.sha256(self.data).hexdigest() if self.data or self.size == 0 else f"size:{self.size}"
        return self._sha


@dataclass(frozen=True)
class Applicant:
    name: str = ""
    id_number: str = ""


# ---------------------------------------------------------------- readings (cached by content)


@dataclass
class PageReading:
    number: int
    width: int
    height: int
    metrics: Dict[str, Any]
    lines: List[Line]
    seal: Dict[str, Any]
    signature: Dict[str, Any]
    cut: List[Tuple[str, str]]
    turned: int = 0  # degrees the page was turned (counter-clockwise) to read it upright

    @property
    def text(self) -> str:
        return "\n".join(ln.text for ln in self.lines)

    def to_json(self) -> Dict[str, Any]:
        d = asdict(self)
        d["lines"] = [ln.as_list() for ln in self.lines]
        return d

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "PageReading":
        return cls(d["number"], d["width"], d["height"], d["metrics"], [Line.from_list(x) for x in d["lines"]],
                   d["seal"], d["signature"], [tuple(x) for x in d["cut"]], int(d.get("turned", 0)))  # type: ignore[misc]


@dataclass
class FileReading:
    sha256: str
    kind: str
    size: int
    page_count: int
    pages: List[PageReading]
    findings: List[Finding]
    seconds: float = 0.0

    def to_json(self) -> Dict[str, Any]:
        return {"sha256": self.sha256, "kind": self.kind, "size": self.size, "page_count": self.page_count,
                "pages": [p.to_json() for p in self.pages], "seconds": self.seconds,
                "findings": [asdict(f) for f in self.findings]}

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "FileReading":
        return cls(d["sha256"], d["kind"], d["size"], d["page_count"], [PageReading.from_json(p) for p in d["pages"]],
                   [Finding(**f) for f in d["findings"]], d.get("seconds", 0.0))


class ReadingCache(Protocol):
    def get(self, key: str) -> Dict[str, Any] | None: ...

    def put(self, key: str, reading: Dict[str, Any]) -> None: ...


class MemoryCache:
    """Per-process cache (evaluation, tests of the engine alone); the services use ``notices.DbCache``."""

    def __init__(self) -> None:
        self._data: Dict[str, str] = {}

    def get(self, key: str) -> Dict[str, Any] | None:
        raw = self._data.get(key)
        return json.loads(raw) if raw else None

    def put(self, key: str, reading: Dict[str, Any]) -> None:
        self._data[key] = json.dumps(reading, ensure_ascii=False)


def read_file(sub: Submission, settings: Settings, cat: Catalogue) -> FileReading:
    """Decode and read one file: everything that depends only on its bytes."""
    started = time.perf_counter()
    decoded = decoding.decode(
        sub.data, sub.size,
        max_bytes=int(settings.prereview_max_upload_mb * 1e6), max_pixels=settings.prereview_max_pixels,
        max_pages=settings.prereview_max_pdf_pages, render_pages=settings.prereview_render_pages,
        decode_side=settings.prereview_decode_max_side,
    )
    pages: List[PageReading] = []
    blank_ink = cat.param("pages.blank", "max_ink_ratio")
    for number, image in enumerate(decoded.pages, 1):
        metrics = quality.measure(image)
        if decoded.sizes:  # the resolution rule judges the pixels the resident sent, not our working copy
            metrics.width, metrics.height = decoded.sizes[number - 1]
        if quality.is_blank(metrics, blank_ink):
            pages.append(_blank_page(number, image, metrics))
            continue
        pages.append(_read_page(number, image, metrics, settings, cat))
    for number, preview in decoded.previews:  # unread PDF pages: only a blank one is worth a page entry
        metrics = quality.measure(preview)
        if quality.is_blank(metrics, blank_ink):
            pages.append(_blank_page(number, preview, metrics))
    digest = sub.sha256 if sub.size <= settings.prereview_max_upload_mb * 1e6 else f"size:{sub.size}"
    return FileReading(digest, decoded.kind, sub.size, decoded.page_count, pages, decoded.findings,
                       round(time.perf_counter() - started, 3))


def _blank_page(number: int, image: Any, metrics: quality.Metrics) -> PageReading:
    return PageReading(number, image.width, image.height, metrics.as_dict(), [],
                       {"found": False, "red_ratio": 0.0, "box": None}, {"label": "", "signed": False, "ink_ratio": 0.0}, [])


def _read_page(number: int, image: Any, metrics: quality.Metrics, settings: Settings, cat: Catalogue) -> PageReading:
    """OCR (turned upright when the photo lies on its side or upside down), seal, signature and cut edges."""
    from prereview import ocr, seal

    legible = not (quality.is_dark(metrics, cat.param("quality.dark", "max_mean"), cat.param("quality.dark", "max_paper"))
                   or quality.is_overexposed(metrics, cat.param("quality.overexposed", "min_ink"),
                                             cat.param("quality.overexposed", "min_mean"))
                   or quality.is_blurred(metrics, cat.param("quality.blur", "min_sharpness")))
    if legible:  # an illegible photo is reported as such; looking for its orientation would only cost time
        turned, lines = ocr.read_upright(image, settings.prereview_ocr_max_side)
    else:
        turned, lines = 0, ocr.read(image, settings.prereview_ocr_max_side)
    if turned:
        image = image.rotate(turned, expand=True)
        if turned in (90, 270):
            metrics.width, metrics.height = metrics.height, metrics.width
    seal_reading = seal.find_seal(image, cat.param("seal.missing", "min_red_ratio"))
    sign_reading = seal.find_signature(image, lines, cat.param("signature.missing", "min_ink_ratio"))
    cut = quality.cut_edges([ln.box for ln in lines], [ln.text for ln in lines], image.width, image.height,
                            cat.param("quality.cut_off", "margin"))
    return PageReading(number, image.width, image.height, metrics.as_dict(), lines, asdict(seal_reading),
                       asdict(sign_reading), cut, turned)


# ---------------------------------------------------------------- results


@dataclass
class Defect:
    code: str
    rule: str
    severity: str
    material: str
    message: str
    fix: str
    file: str = ""
    page: int | None = None
    evidence: Dict[str, Any] = field(default_factory=dict)
    basis: List[str] = field(default_factory=list)

    def key(self) -> Tuple[str, str, str, int | None]:
        return (self.rule, self.file, self.material, self.page)

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass
class Document:
    """What the engine made of one file."""

    file: str
    sha256: str
    kind: str
    size: int
    pages: int
    material: str  # the service material it counts for ("" when none)
    detected: str  # catalogue name recognised from the content ("" when nothing was recognised)
    sides: List[str]
    reused: bool
    upload_id: str | None = None
    declared: str = ""  # the service material the resident said it was ("" when not said)
    turned: List[int] = field(default_factory=list)  # pages read turned upright (degrees), when any
    seconds: float = 0.0  # time reading it in this review (0 when the reading came from the cache)


@dataclass
class ReviewResult:
    service_id: str
    service_name: str
    scenario: str | None
    scenario_name: str
    applicant: Applicant | None
    review_date: str
    defects: List[Defect]
    documents: List[Document]
    required: List[str]
    next_steps: List[str]
    contacts: List[str]
    basis: List[str]
    deadline_days: int
    previous_number: str | None = None
    resolved: List[Dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    applicant_source: str = ""  # "given", "id_card" (read from the applicant's own ID card), "unrecognised", ""
    images_read: int = 0  # pages decoded and read in this review (not taken from the cache)
    read_seconds: float = 0.0  # time spent reading them

    @property
    def passed(self) -> bool:
        return not any(d.severity == "error" for d in self.defects)

    @property
    def errors(self) -> List[Defect]:
        return [d for d in self.defects if d.severity == "error"]

    @property
    def warnings(self) -> List[Defect]:
        return [d for d in self.defects if d.severity == "warning"]

    def to_json(self) -> Dict[str, Any]:
        return {
            "service": self.service_id,
            "service_name": self.service_name,
            "scenario": self.scenario,
            "passed": self.passed,
            "review_date": self.review_date,
            "applicant": ({"name": self.applicant.name, "id_number": checksums.mask_id(self.applicant.id_number)}
                          if self.applicant else None),  # stored and shown: never the whole number
            "applicant_source": self.applicant_source,
            "defects": [d.to_json() for d in self.defects],
            "documents": [asdict(d) for d in self.documents],
            "required": self.required,
            "next_steps": self.next_steps,
            "contacts": self.contacts,
            "basis": self.basis,
            "deadline_days": self.deadline_days,
            "previous_number": self.previous_number,
            "resolved": self.resolved,
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "ReviewResult":
        return cls(
            service_id=d["service"], service_name=d["service_name"], scenario=d.get("scenario"),
            scenario_name=d.get("scenario_name", ""),
            applicant=Applicant(**d["applicant"]) if d.get("applicant") else None, review_date=d["review_date"],
            defects=[Defect(**x) for x in d["defects"]], documents=[Document(**x) for x in d["documents"]],
            required=list(d["required"]), next_steps=list(d["next_steps"]), contacts=list(d["contacts"]),
            basis=list(d["basis"]), deadline_days=int(d["deadline_days"]), previous_number=d.get("previous_number"),
            resolved=list(d.get("resolved", [])), seconds=float(d.get("seconds", 0.0)),
            applicant_source=str(d.get("applicant_source", "")),
        )


# ---------------------------------------------------------------- judging


@dataclass
class _Doc:
    sub: Submission
    reading: FileReading
    reused: bool
    page_types: List[PageType]
    fields: List[Fields]
    type: MaterialType | None = None
    slot: ServiceMaterial | None = None
    sides: Dict[int, str] = field(default_factory=dict)
    unreadable_pages: set = field(default_factory=set)
    blocked: bool = False  # the file itself could not be used (empty, corrupt, wrong format …)
    label: str = ""  # the name shown to the resident, told apart when two files share a name
    detected: MaterialType | None = None  # what the content was recognised as (None: nothing recognisable)

    @property
    def file(self) -> str:
        return self.label or self.sub.name

    def what(self, page: int | None = None) -> str:
        name = self.slot.name if self.slot else (self.type.name if self.type else self.file)
        side = self.sides.get(page or 0, "") if page else ""
        if side:
            return f"{name}{side}"
        if page and self.reading.page_count > 1:
            return f"{name}第{page}页"
        return name


class _Judge:
    """Collects defects for one review; knows the rules, the service and the catalogue."""

    def __init__(self, cat: Catalogue, service: Service, materials: Mapping[str, MaterialType]) -> None:
        self.cat, self.service, self.materials = cat, service, materials
        self.defects: List[Defect] = []
        self.filled: Dict[str, List[_Doc]] = {}  # service material name → files counted for it
        self._seen: set = set()

    def emit(self, rule_id: str, *, material: str, mtype: MaterialType | None, file: str = "", page: int | None = None,
             values: Mapping[str, Any] | None = None, evidence: Mapping[str, Any] | None = None) -> Defect | None:
        rule: Rule = self.cat.rule(rule_id)
        if not rule.applies(mtype):
            return None
        vals = {"file": file, "page": page or "", "material": material, **(values or {})}
        vals.setdefault("what", material)
        message, fix = rule.render(vals)
        # the last guard: no full ID or phone number reaches a stored or shown notice, whatever a check passed in
        defect = Defect(rule.code, rule.id, rule.severity, material, private(message), private(fix), file, page,
                        private_values(dict(evidence or {})), [b.cite() for b in rule.basis])
        if defect.key() in self._seen:
            return None
        self._seen.add(defect.key())
        self.defects.append(defect)
        return defect

    def has(self, file: str, code: str) -> bool:
        return any(d.file == file and d.code == code for d in self.defects)


def _required(service: Service, scenario: str | None) -> List[ServiceMaterial]:
    """What the resident must upload: submitted by the applicant (not e-certificate or data sharing), and
    required outright or for the chosen scenario."""
    out = []
    for m in service.materials:
        if not m.must_submit:
            continue
        if m.requirement == Requirement.必需 or (scenario and scenario in m.scenarios):
            out.append(m)
    return out


def _find_slot(service: Service, declared: str) -> ServiceMaterial | None:
    return service.material(declared) or next((m for m in service.materials if m.catalogue == declared), None)


def _applicant(value: Any) -> Applicant | None:
    if value is None or isinstance(value, Applicant):
        return value
    if isinstance(value, Mapping):
        return Applicant(str(value.get("name", "")), str(value.get("id_number", "")).upper())
    name, number = value
    return Applicant(str(name or ""), str(number or "").upper())


def review(service_id: str, files: Sequence[Submission | Tuple[str, bytes]], scenario: str | None = None,
           applicant: Applicant | Tuple[str, str] | Mapping[str, str] | None = None, previous_number: str | None = None,
           kb: Any = None, *, cache: ReadingCache | None = None, today: date | None = None,
           settings: Settings | None = None, previous: "ReviewResult | None" = None,
           infer_applicant: bool = False) -> ReviewResult:
    """Pre-review ``files`` (submissions, or ``(name, bytes)`` pairs) for ``service_id``; ``previous_number`` names the notice this one supersedes
    (``previous`` may carry that notice's result, otherwise it is looked up in the notice store).

    ``infer_applicant``: with no ``applicant`` given, take the name and number read from the applicant's own
    identity card among the files (the chat knows no applicant otherwise); ``applicant_source`` says which."""
    started = time.perf_counter()
    settings = settings or get_settings()
    if kb is None:
        from knowledge.base import current

        kb = current()
    service: Service | None = kb.service(service_id)
    if service is None:
        raise UnknownService(service_id)
    if scenario is not None and scenario not in {s.id for s in service.scenarios}:
        raise ValueError(f"{service_id} 没有情形 {scenario}；可选：{', '.join(s.id for s in service.scenarios)}")
    cat = load_rules()
    today = today or date.today()
    who = _applicant(applicant)
    if cache is None:
        from prereview.notices import DbCache

        cache = DbCache(settings.db_url)
    subs = [s if isinstance(s, Submission) else Submission(s[0], s[1]) for s in files]
    judge = _Judge(cat, service, kb.materials)
    docs = [_read(sub, settings, cat, cache) for sub in subs]
    for doc, label in zip(docs, file_labels([sub.name for sub in subs])):
        doc.label = label
    required = _required(service, scenario)
    expected_types = {m.catalogue for m in service.materials}
    validity_labels = sorted({mt.validity.field for mt in kb.materials.values() if mt.validity}, key=len, reverse=True)

    for doc in docs:
        _file_findings(judge, doc, service)
        doc.page_types = [identify.classify(p.text, p.width, p.height, kb.materials, cat.sides) for p in doc.reading.pages]
        doc.fields = [extract(p.lines, cat.name_labels, validity_labels) for p in doc.reading.pages]
    _assign(judge, docs, service, required, expected_types, kb.materials, who)
    for doc in docs:
        if doc.blocked:
            continue
        _format_and_legibility(judge, doc, kb.materials)
        if doc.type is not None and not doc.unreadable_pages:
            _content(judge, doc, today)
    source = "given" if who else ""
    if who is None and infer_applicant:
        who = _applicant_from_id_card(docs)
        source = "id_card" if who else "unrecognised"
    _pages_and_completeness(judge, docs, required, kb.materials)
    _consistency(judge, docs, who)

    result = ReviewResult(
        service_id=service.id, service_name=service.name, scenario=scenario,
        scenario_name=next((s.name for s in service.scenarios if s.id == scenario), ""),
        applicant=who, applicant_source=source, review_date=today.isoformat(), defects=_ordered(judge.defects, docs),
        documents=[_document(d, service) for d in docs], required=[m.name for m in required],
        next_steps=_next_steps(service, kb), contacts=_contacts(service, kb), basis=[],
        deadline_days=service.deferral.deadline_days if service.deferral.allowed else settings.prereview_supplement_days,
        previous_number=previous_number,
        images_read=sum(len(d.reading.pages) for d in docs if not d.reused),
        read_seconds=round(sum(d.reading.seconds for d in docs if not d.reused), 3),
    )
    result.basis = _basis(judge.defects, service)
    if previous_number:
        if previous is None:
            from prereview.notices import NoticeStore

            found = NoticeStore(settings.db_url).get(previous_number)
            previous = found.result if found else None
        if previous is not None:
            now = {(d.material, d.code) for d in result.defects}
            result.resolved = [{"material": d.material, "code": d.code, "message": d.message}
                               for d in previous.defects if (d.material, d.code) not in now]
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def file_labels(names: Sequence[str]) -> List[str]:
    """Names as the resident sees them, told apart when several files share one (iOS names every photo image.jpg)."""
    counts: Dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    return [f"{n}（第{i}个文件）" if counts[n] > 1 else n for i, n in enumerate(names, 1)]


def _applicant_from_id_card(docs: Sequence["_Doc"]) -> Applicant | None:
    """The person on the applicant's own identity card (a file counted for a material the applicant holds):
    a name with a valid ID number on the same page.  A card is an identity document with a validity period
    (居民身份证, 临时居民身份证 …), not a register that lists a whole household."""
    for doc in docs:
        if doc.blocked or doc.unreadable_pages or doc.slot is None or doc.type is None:
            continue
        if doc.slot.holder.value != "申请人" or doc.type.category != IDENTITY_CATEGORY or doc.type.validity is None:
            continue
        for f in doc.fields:
            for person in f.persons:
                if person.name and person.id_number and checksums.check_id_number(person.id_number).ok:
                    return Applicant(person.name, person.id_number)
    return None


def _read(sub: Submission, settings: Settings, cat: Catalogue, cache: ReadingCache) -> _Doc:
    cacheable = bool(sub.data) and sub.size <= settings.prereview_max_upload_mb * 1e6  # never hash a refused upload
    key = f"{READER_VERSION}.{cat.version}:{sub.sha256}" if cacheable else ""
    if cacheable:
        cached = cache.get(key)
        if cached is not None:
            return _Doc(sub, FileReading.from_json(cached), True, [], [])
    reading = read_file(sub, settings, cat)
    if cacheable:
        cache.put(key, reading.to_json())
    return _Doc(sub, reading, False, [], [])


def _file_findings(judge: _Judge, doc: _Doc, service: Service) -> None:
    """Problems of the file itself; any of them means its content cannot be judged."""
    slot = _find_slot(service, doc.sub.material) if doc.sub.material else None
    material = slot.name if slot else doc.file
    for f in doc.reading.findings:
        doc.blocked = True
        values = {"allowed": _allowed(None, slot), **f.evidence}
        judge.emit(f.rule, material=material, mtype=None, file=doc.file, page=f.page, values=values,
                   evidence={**f.evidence, "size": doc.reading.size, "kind": KIND_NAMES.get(doc.reading.kind, "")})


def _allowed(mtype: MaterialType | None, slot: ServiceMaterial | None) -> str:
    fmt = (slot.format if slot and slot.format and slot.format.types else None) or (mtype.format if mtype else None)
    types = [t.value.upper() for t in fmt.types] if fmt and fmt.types else ["JPG", "PNG", "PDF"]
    return "/".join(types)


def _assign(judge: _Judge, docs: List[_Doc], service: Service, required: List[ServiceMaterial],
            expected_types: set, materials: Mapping[str, MaterialType], who: Applicant | None) -> None:
    """Decide which service material each file is, and catch a wrong document type."""
    filled: Dict[str, List[_Doc]] = {}
    required_names = {m.name for m in required}
    for doc in docs:
        declared = _find_slot(service, doc.sub.material) if doc.sub.material else None
        scores = identify.combine(doc.page_types, prefer=expected_types)
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        best = materials.get(ranked[0][0]) if ranked else None
        doc.detected = best
        if declared is not None:
            doc.slot = declared
            want = materials.get(declared.catalogue)
            doc.type = want
            matching = [k for k, v in ranked if want and v >= 0.8 * ranked[0][1]
                        and identify.equivalent(want, materials[k])]
            if matching and want is not None:
                doc.detected = want  # read as what was declared (or a look-alike entry of it)
            judgeable = want is not None and not doc.blocked and not _illegible(judge, doc)
            if best is not None and judgeable and not matching:
                assert want is not None
                judge.emit("type.wrong", material=declared.name, mtype=want, file=doc.file,
                           values={"detected": best.name, "expected_hint": want.recognition.layout or want.description or want.name},
                           evidence={"detected": best.id, "text": _snippet(doc)})
                doc.type = best
                doc.slot = None
                doc.blocked = True
                filled.setdefault(declared.name, [])
                filled[declared.name].append(doc)  # the resident did send something for it: not "missing"
                continue
            if best is None and judgeable and _readable_pages(judge, doc):
                assert want is not None
                # nothing on it reads as any catalogue document: a photo of something else, or one taken so
                # badly (folded, covered, far away) that the page carries none of the words that identify it
                judge.emit("type.unrecognised", material=declared.name, mtype=want, file=doc.file,
                           values={"expected_hint": want.recognition.layout or want.description or want.name},
                           evidence={"text": _snippet(doc), "expected": want.id})
                doc.blocked = True
                filled.setdefault(declared.name, []).append(doc)
                continue
        elif best is not None:
            doc.type = best
            doc.slot = _pick_slot(service, best, doc, materials, filled, required_names, who)
        if doc.type is not None:
            doc.sides = _sides(judge.cat, doc)
        if doc.slot is not None:
            filled.setdefault(doc.slot.name, []).append(doc)
    for doc in docs:
        if (doc.slot is None and doc.type is None and not doc.blocked and not _illegible(judge, doc)
                and _readable_pages(judge, doc)):
            judge.emit("type.unknown", material=doc.file, mtype=None, file=doc.file,
                       values={"service": service.name}, evidence={"text": _snippet(doc)})
            doc.blocked = True
    missing = [m for m in required if m.name not in filled]
    for doc in docs:
        if (doc.slot is None and doc.type is not None and not doc.blocked and missing and doc.type.id not in expected_types
                and not _illegible(judge, doc)):  # a photo too poor to read is reported as such, not as "not needed"
            judge.emit("type.not_needed", material=missing[0].name, mtype=None, file=doc.file,
                       values={"detected": doc.type.name}, evidence={"detected": doc.type.id, "text": _snippet(doc)})
            filled.setdefault(missing[0].name, []).append(doc)
            missing = missing[1:]
    judge.filled = filled


def _pick_slot(service: Service, mtype: MaterialType, doc: _Doc, materials: Mapping[str, MaterialType],
               filled: Dict[str, List[_Doc]], required_names: set, who: Applicant | None) -> ServiceMaterial | None:
    slots = [m for m in service.materials if m.catalogue in materials and identify.equivalent(materials[m.catalogue], mtype)]
    if not slots:
        return None
    ids = {p.id_number for f in doc.fields for p in f.persons if p.id_number}
    names = {p.name for f in doc.fields for p in f.persons if p.name}

    def person_of(m: ServiceMaterial) -> set:
        return {p.id_number for d in filled.get(m.name, []) for f in d.fields for p in f.persons if p.id_number}

    def rank(m: ServiceMaterial) -> tuple:
        same_person = bool(ids and ids & person_of(m))
        is_applicant = bool(who and ((who.id_number and who.id_number in ids) or (who.name and who.name in names)))
        holder_fits = (m.holder.value == "申请人") == is_applicant if (who and (ids or names)) else True
        open_slot = not filled.get(m.name) or same_person or (not ids and len(filled.get(m.name, [])) < 2)
        return (not same_person, m.name not in required_names, not holder_fits, not open_slot, m.catalogue != mtype.id)

    return sorted(slots, key=rank)[0]


def _sides(cat: Catalogue, doc: _Doc) -> Dict[int, str]:
    sides = cat.sides.get(doc.type.id if doc.type else "", ())
    out = {}
    for page in doc.reading.pages:
        name, _ = identify.best_side(sides, identify.compact(page.text))
        if name:
            out[page.number] = name
    return out


def _readable_pages(judge: _Judge, doc: _Doc) -> bool:
    """At least one page that is neither blank nor too small to read: only then is "not recognised" news."""
    fmt = (doc.slot.format if doc.slot and doc.slot.format else None) or (doc.type.format if doc.type else None)
    min_width = fmt.min_width if fmt and fmt.min_width and doc.reading.kind != "pdf" else 0
    blank = judge.cat.param("pages.blank", "max_ink_ratio")
    return any(not quality.is_blank(quality.Metrics(**p.metrics), blank) and p.metrics["width"] >= min_width
               for p in doc.reading.pages)


def _illegible(judge: _Judge, doc: _Doc) -> bool:
    cat = judge.cat
    for p in doc.reading.pages:
        m = quality.Metrics(**p.metrics)
        if (quality.is_dark(m, cat.param("quality.dark", "max_mean"), cat.param("quality.dark", "max_paper"))
                or quality.is_overexposed(m, cat.param("quality.overexposed", "min_ink"), cat.param("quality.overexposed", "min_mean"))
                or quality.is_blurred(m, cat.param("quality.blur", "min_sharpness")) or p.cut):
            return True
    return False


def _format_and_legibility(judge: _Judge, doc: _Doc, materials: Mapping[str, MaterialType]) -> None:
    cat = judge.cat
    slot, mtype = doc.slot, doc.type
    material = slot.name if slot else (mtype.name if mtype else doc.file)
    fmt = (slot.format if slot and slot.format else None) or (mtype.format if mtype else None)
    if fmt and fmt.types and doc.reading.kind not in {t.value for t in fmt.types}:
        judge.emit("file.format_not_allowed", material=material, mtype=mtype, file=doc.file,
                   values={"allowed": _allowed(mtype, slot), "actual": KIND_NAMES.get(doc.reading.kind, doc.reading.kind)},
                   evidence={"kind": doc.reading.kind})
    if fmt and fmt.max_mb and doc.reading.size > fmt.max_mb * 1e6:
        judge.emit("file.too_large", material=material, mtype=mtype, file=doc.file,
                   values={"size_mb": round(doc.reading.size / 1e6, 1), "limit_mb": fmt.max_mb},
                   evidence={"size": doc.reading.size})
    min_width = fmt.min_width if fmt else None
    for p in doc.reading.pages:
        m = quality.Metrics(**p.metrics)
        what = doc.what(p.number)
        page = p.number if doc.reading.page_count > 1 else None
        ev = {"metrics": p.metrics, "text": _page_snippet(p)}
        base = {"what": what}
        if quality.is_blank(m, cat.param("pages.blank", "max_ink_ratio")):
            judge.emit("pages.blank", material=material, mtype=mtype, file=doc.file, page=p.number,
                       values={**base, "page": p.number}, evidence=ev)
            continue
        fired = None
        if min_width and doc.reading.kind != "pdf" and m.width < min_width:
            fired = judge.emit("quality.low_resolution", material=material, mtype=mtype, file=doc.file, page=page,
                               values={**base, "width": m.width, "min_width": min_width}, evidence=ev)
        elif quality.is_dark(m, cat.param("quality.dark", "max_mean"), cat.param("quality.dark", "max_paper")):
            fired = judge.emit("quality.dark", material=material, mtype=mtype, file=doc.file, page=page,
                               values={**base, "mean": round(m.mean)}, evidence=ev)
        elif quality.is_overexposed(m, cat.param("quality.overexposed", "min_ink"), cat.param("quality.overexposed", "min_mean")):
            fired = judge.emit("quality.overexposed", material=material, mtype=mtype, file=doc.file, page=page,
                               values={**base, "ink": round(m.ink)}, evidence=ev)
        elif quality.is_blurred(m, cat.param("quality.blur", "min_sharpness")):
            fired = judge.emit("quality.blur", material=material, mtype=mtype, file=doc.file, page=page,
                               values={**base, "sharpness": round(m.sharpness)}, evidence=ev)
        elif p.cut:
            edge, text = p.cut[0]
            fired = judge.emit("quality.cut_off", material=material, mtype=mtype, file=doc.file, page=page,
                               values={**base, "edge": quality.EDGE_NAMES[edge], "text": text[:20]},
                               evidence={**ev, "edges": sorted({e for e, _ in p.cut})})
        if fired is not None:
            doc.unreadable_pages.add(p.number)


def _content(judge: _Judge, doc: _Doc, today: date) -> None:
    """Numbers, validity, seal and signature: only on files that were legible."""
    mtype = doc.type
    assert mtype is not None
    material = doc.slot.name if doc.slot else mtype.name
    for p, f in zip(doc.reading.pages, doc.fields):
        what = doc.what(p.number)
        page = p.number if doc.reading.page_count > 1 else None
        for number in f.id_numbers:
            v = checksums.check_id_number(number, today)
            if not v.ok:
                reason = REASONS[v.reason] + (f"，应为{v.expected}" if v.expected else "")
                judge.emit("id.invalid", material=material, mtype=mtype, file=doc.file, page=page,
                           values={"what": what, "number": checksums.mask_id(number), "reason": reason},
                           evidence={"text": checksums.mask_id(number), "reason": v.reason})
        for code in f.credit_codes:
            v = checksums.check_credit_code(code)
            if not v.ok:
                reason = REASONS[v.reason] + (f"，应为{v.expected}" if v.expected else "")
                judge.emit("credit.invalid", material=material, mtype=mtype, file=doc.file, page=page,
                           values={"what": what, "number": code, "reason": reason}, evidence={"text": code, "reason": v.reason})
            elif v.legacy:
                judge.emit("credit.pilot", material=material, mtype=mtype, file=doc.file, page=page,
                           values={"what": what, "number": code}, evidence={"text": code})
        if not f.credit_codes:
            for number in f.registration_numbers:
                v = checksums.check_registration_number(number)
                judge.emit("credit.legacy_registration", material=material, mtype=mtype, file=doc.file, page=page,
                           values={"what": what, "number": number}, evidence={"text": number, "well_formed": v.ok})
        if mtype.validity:
            for val in f.validity:
                if val.label != mtype.validity.field or not val.end:
                    continue
                if date.fromisoformat(val.end) < today:
                    end = date.fromisoformat(val.end)
                    judge.emit("validity.expired", material=material, mtype=mtype, file=doc.file, page=page,
                               values={"what": what, "field": val.label, "end": f"{end.year}年{end.month}月{end.day}日"},
                               evidence={"text": f"{val.label} {val.text}", "end": val.end})
    if mtype.needs_seal and doc.reading.pages and not any(p.seal.get("found") for p in doc.reading.pages):
        p = doc.reading.pages[0]
        judge.emit("seal.missing", material=material, mtype=mtype, file=doc.file,
                   values={"what": doc.what()}, evidence={"red_ratio": max(x.seal.get("red_ratio", 0) for x in doc.reading.pages)})
    if mtype.needs_signature:
        labelled = [p for p in doc.reading.pages if p.signature.get("label")]
        if labelled and not any(p.signature.get("signed") for p in labelled):
            p = labelled[0]
            judge.emit("signature.missing", material=material, mtype=mtype, file=doc.file,
                       page=p.number if doc.reading.page_count > 1 else None,
                       values={"what": doc.what(), "label": p.signature["label"]},
                       evidence={"label": p.signature["label"], "ink_ratio": p.signature.get("ink_ratio")})


def _pages_and_completeness(judge: _Judge, docs: List[_Doc], required: List[ServiceMaterial],
                            materials: Mapping[str, MaterialType]) -> None:
    for name, group in judge.filled.items():
        slot = judge.service.material(name)
        mtype = materials.get(slot.catalogue) if slot else None
        sides = judge.cat.sides.get(slot.catalogue if slot else "", ())
        usable = [d for d in group if d.slot is not None and not d.blocked]
        # a file sent for this material that must be replaced anyway (wrong, unrecognised, broken) was probably
        # meant as the absent side: its own defect already asks for it, a second "side missing" would repeat it
        if not sides or not usable or len(usable) < len(group) or any(d.unreadable_pages for d in usable):
            continue
        present = [s.name for s in sides if any(s.name in d.sides.values() for d in usable)]
        absent = [s.name for s in sides if s.name not in present]
        if absent and present:
            judge.emit("pages.missing", material=name, mtype=mtype, file=usable[0].file,
                       values={"missing": "、".join(absent), "present": "、".join(present)},
                       evidence={"files": [d.file for d in usable], "sides": present})
    for m in required:
        if m.name not in judge.filled:
            mtype = materials.get(m.catalogue)
            hint = ""
            if m.format and m.format.pages:
                hint = f"（{m.format.pages}）"
            elif mtype and mtype.format.pages:
                hint = f"（{mtype.format.pages}）"
            judge.emit("completeness.missing", material=m.name, mtype=mtype, values={"hint": hint},
                       evidence={"catalogue": m.catalogue, "requirement": m.requirement.value, "note": m.note})


def _consistency(judge: _Judge, docs: List[_Doc], who: Applicant | None) -> None:
    """The same person must carry the same name and ID number everywhere, and match the applicant.

    For each ID number the reference name is the applicant's (when it is the applicant's number), else the
    one on identity documents (身份证, 户口簿), else the most common; documents that differ are named.  The
    same for each name and its ID number.  So one wrong document is blamed, not the three right ones."""
    entries: List[Tuple[_Doc, int, str, str]] = []  # (doc, page, name, valid id)
    for doc in docs:
        if doc.blocked or doc.unreadable_pages or doc.type is None:
            continue
        material = doc.slot.name if doc.slot else doc.type.name
        persons = [(p.number, person) for p, f in zip(doc.reading.pages, doc.fields) for person in f.persons]
        valid = [(n, x) for n, x in persons if x.id_number and checksums.check_id_number(x.id_number).ok]
        if who and doc.slot is not None and doc.slot.holder.value == "申请人":
            _against_applicant(judge, doc, material, who, valid, [(n, x) for n, x in persons if not x.id_number and x.label == "姓名"])
        entries.extend((doc, page, person.name, person.id_number) for page, person in valid if person.name)

    def reference(values: List[Tuple[_Doc, str]], from_applicant: str) -> str:
        if from_applicant:
            return from_applicant
        authoritative = [v for d, v in values if d.type is not None and d.type.category == IDENTITY_CATEGORY]
        pool = authoritative or [v for _, v in values]
        return max(pool, key=lambda v: (pool.count(v), -pool.index(v)))

    for number in dict.fromkeys(e[3] for e in entries):
        group = [e for e in entries if e[3] == number]
        if len({e[2] for e in group}) < 2:
            continue
        ref_name = reference([(e[0], e[2]) for e in group], who.name if who and who.id_number == number else "")
        holder = next(e for e in group if e[2] == ref_name) if any(e[2] == ref_name for e in group) else group[0]
        for doc, page, name, _ in group:
            if name != ref_name and not judge.has(doc.file, "name_mismatch"):
                judge.emit("person.cross_name", material=doc.slot.name if doc.slot else doc.type.name, mtype=doc.type,  # type: ignore[union-attr]
                           file=doc.file, page=page if doc.reading.page_count > 1 else None,
                           values={"what": doc.what(), "number": checksums.mask_id(number), "other": holder[0].what(),
                                   "expected": ref_name, "found": name},
                           evidence={"text": f"{name} {checksums.mask_id(number)}", "other_file": holder[0].file})
    for name in dict.fromkeys(e[2] for e in entries):
        group = [e for e in entries if e[2] == name]
        if len({e[3] for e in group}) < 2:
            continue
        ref_id = reference([(e[0], e[3]) for e in group], who.id_number if who and who.name == name else "")
        holder = next((e for e in group if e[3] == ref_id), group[0])
        for doc, page, _, number in group:
            if number != ref_id and not judge.has(doc.file, "id_mismatch"):
                judge.emit("person.cross_id", material=doc.slot.name if doc.slot else doc.type.name, mtype=doc.type,  # type: ignore[union-attr]
                           file=doc.file, page=page if doc.reading.page_count > 1 else None,
                           values={"what": doc.what(), "found_name": name, "other": holder[0].what(),
                                   "expected": checksums.mask_id(ref_id), "found": checksums.mask_id(number)},
                           evidence={"text": f"{name} {checksums.mask_id(number)}", "other_file": holder[0].file})


def _against_applicant(judge: _Judge, doc: _Doc, material: str, who: Applicant, valid: list, named: list) -> None:
    """Documents held by the applicant must show the applicant: their number with their name."""
    what = doc.what()

    def emit(rule: str, found: str, expected: str) -> None:
        judge.emit(rule, material=material, mtype=doc.type, file=doc.file,
                   values={"what": what, "found": found, "expected": expected}, evidence={"text": found})

    by_id = [x for _, x in valid if who.id_number and x.id_number == who.id_number]
    by_name = [x for _, x in valid if who.name and x.name == who.name]
    if by_id:
        if who.name and by_id[0].name and by_id[0].name != who.name:
            emit("person.applicant_name", by_id[0].name, who.name)
    elif by_name:
        if who.id_number:
            emit("person.applicant_id", checksums.mask_id(by_name[0].id_number), checksums.mask_id(who.id_number))
    elif valid and who.name:
        emit("person.applicant_name", valid[0][1].name or "（未识别）", who.name)
    elif named and who.name and not any(x.name == who.name for _, x in named):
        emit("person.applicant_name", named[0][1].name, who.name)


def _snippet(doc: _Doc) -> str:
    return private(" ".join(ln.text for p in doc.reading.pages for ln in p.lines))[:SNIPPET]


def _page_snippet(p: PageReading) -> str:
    return private(" ".join(ln.text for ln in p.lines))[:SNIPPET]


def _document(d: _Doc, service: Service) -> Document:
    declared = _find_slot(service, d.sub.material) if d.sub.material else None
    return Document(d.file, d.reading.sha256, d.reading.kind, d.reading.size, d.reading.page_count,
                    d.slot.name if d.slot else "", d.detected.name if d.detected else "",
                    [d.sides[k] for k in sorted(d.sides)], d.reused, d.sub.upload_id,
                    declared.name if declared else (d.sub.material or ""),
                    [p.turned for p in d.reading.pages if p.turned], 0.0 if d.reused else d.reading.seconds)


def _ordered(defects: List[Defect], docs: List[_Doc]) -> List[Defect]:
    """Errors before warnings; within each, in the order of the files, then missing materials."""
    order = {d.file: i for i, d in enumerate(docs)}
    return sorted(defects, key=lambda d: (d.severity != "error", order.get(d.file, len(order)), d.page or 0))


def _basis(defects: Iterable[Defect], service: Service) -> List[str]:
    out: List[str] = ["《中华人民共和国行政许可法》第三十二条"]
    for d in defects:
        out.extend(d.basis)
    out.extend(ref.cite() for ref in service.legal_basis[:2])
    return list(dict.fromkeys(out))


def _contacts(service: Service, kb: Any) -> List[str]:
    profile = kb.profile
    out = [f"{profile.hotline}政务服务便民热线（24小时人工服务）"]
    for place in service.places:
        hall = profile.halls.get(place.hall)
        if hall is None or place.hall == "online_only":
            continue
        hours = "；".join(f"{h.days}{h.open}-{h.close}" for h in hall.hours[:2])
        window = f"（{place.window}）" if place.window and place.window not in hall.name else ""
        phone = f"，电话{hall.phone}" if hall.phone else ""
        out.append(f"{hall.name}{window}：{hall.address}（{hours}{phone}）")
    return out


def _next_steps(service: Service, kb: Any) -> List[str]:
    profile = kb.profile
    steps: List[str] = []
    if service.online:
        steps.append(f"在{profile.portal_name}或“{profile.app_name}”搜索“{service.name}”，上传以上材料在线提交申请。")
    if service.appointment.supported:
        channels = "、".join(service.appointment.channels) or "网上"
        steps.append(f"需要到窗口办理的，可先通过{channels}，再携带材料原件前往。")
    halls = [kb.profile.halls[p.hall] for p in service.places if p.hall in kb.profile.halls and p.hall != "online_only"]
    for place, hall in zip([p for p in service.places if p.hall in kb.profile.halls and p.hall != "online_only"], halls):
        window = f"（{place.window}）" if place.window and place.window not in hall.name else ""
        steps.append(f"办理地点：{hall.name}{window}，{hall.address}。")
    if service.visits == 0:
        steps.append("本事项全程网办，材料无误即可提交，无需到现场。")
    return steps
