"""Import and export between the YAML/JSON sources and the database.

An import is all or nothing: every file is parsed and cross-checked first, and the
database is written in one transaction only when there is no error.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Tuple

from knowledge.loader import Problem, Sources, load_sources, parse_model, read_catalogue, read_yaml
from knowledge.schema import CityProfile, MaterialType, Service
from knowledge.store import Store, content_hash
from knowledge.validate import check_sources


class ImportRefused(Exception):
    """Raised with every problem found; nothing was written."""

    def __init__(self, problems: List[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


@dataclass
class ImportReport:
    published: List[Tuple[str, int]] = field(default_factory=list)
    unchanged: int = 0
    materials_changed: int = 0
    problems: List[Problem] = field(default_factory=list)
    skipped: bool = False  # the sources were byte-for-byte those of the last sync: nothing was parsed


SCHEMA_FILES = ("schema.py", "loader.py", "validate.py")  # the parsed form of a source depends on these too


def sources_fingerprint(data_dir: Path) -> str:
    """sha256 over every source file (path and bytes) and the code that parses them.

    Parsing the 200 guides takes seconds of pure-Python YAML; hashing their bytes takes
    milliseconds, so a process starting beside an up-to-date database skips the parse."""
    digest = hashlib.sha256()
    code_dir = Path(__file__).resolve().parent
    files = sorted(p for p in data_dir.rglob("*") if p.is_file())
    for path in [*files, *(code_dir / name for name in SCHEMA_FILES)]:
        digest.update(str(path.relative_to(data_dir) if path.is_relative_to(data_dir) else path.name).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def to_document(model: Any) -> Dict[str, Any]:
    """JSON-safe dict of a model (enums as their Chinese values), the stored form."""
    return json.loads(model.json(ensure_ascii=False))


def sync_sources(store: Store, data_dir: Path, author: str = "git", require_all: bool = False,
                 force: bool = True) -> ImportReport:
    """Bring the database in line with the YAML sources, idempotently.

    A service whose YAML has not changed since the last sync keeps its database
    version, so an editor's published change survives restarts until the YAML changes.
    With ``force=False`` (processes starting up) nothing is parsed when the sources'
    fingerprint equals the one recorded by the last sync.
    """
    fingerprint = sources_fingerprint(data_dir)
    if not force and store.sources_fingerprint() == fingerprint:
        return ImportReport(skipped=True)
    src = load_sources(data_dir)
    problems = check_sources(src, require_all=require_all)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ImportRefused(errors)
    report = ImportReport(problems=problems)
    with store.session() as s, s.begin():
        if src.profile is not None:
            store.put_profile_in(s, to_document(src.profile))
        for m, _, _ in src.materials:
            report.materials_changed += int(store.put_material_in(s, to_document(m)))
        from knowledge.store import ServiceRow

        for svc, _, _ in src.services:
            doc = to_document(svc)
            digest = content_hash(doc)
            row = s.get(ServiceRow, svc.id)
            if row is not None and row.source_hash == digest:
                report.unchanged += 1
                continue
            version = store.publish_in(s, doc, author=author, reason="从 YAML 源文件导入")
            s.flush()
            row = s.get(ServiceRow, svc.id)
            assert row is not None
            row.source_hash = digest
            if version is None:
                report.unchanged += 1
            else:
                report.published.append((svc.id, version))
        store.put_sources_fingerprint_in(s, fingerprint)
    return report


def _current_sources(store: Store, data_dir: Path) -> Sources:
    """The database content as ``Sources`` so imported files are checked against it."""
    profile_doc = store.profile()
    return Sources(
        profile=CityProfile.parse_obj(profile_doc) if profile_doc else None,
        materials=[(MaterialType.parse_obj(d), "material_types", 1) for d in store.materials()],
        services=[(Service.parse_obj(d), f"db:{d['id']}", None) for d in store.published_services()],
        catalogue=read_catalogue(data_dir / "catalogue.csv"),
        problems=[],
    )


def _read_import(path: Path) -> Tuple[List[Tuple[Service, str, Any]], List[Problem]]:
    """Services from a YAML file, a directory of YAML files or a JSON export."""
    found: List[Tuple[Service, str, Any]] = []
    problems: List[Problem] = []
    if path.is_dir():
        files = sorted(path.glob("*.yml")) + sorted(path.glob("*.yaml"))
        if not files:
            problems.append(Problem(str(path), 1, "目录中没有 .yml 文件"))
    elif path.exists():
        files = [path]
    else:
        return [], [Problem(str(path), 1, "文件不存在")]
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            problems.append(Problem(str(f), 1, "文件须为 UTF-8 编码"))
            continue
        if f.suffix == ".json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.append(Problem(str(f), exc.lineno, f"JSON 格式错误：{exc.msg}"))
                continue
            entries = data.get("services", []) if isinstance(data, dict) else []
            if not entries:
                problems.append(Problem(str(f), 1, "JSON 中没有 services 列表"))
            for i, entry in enumerate(entries):
                doc = entry.get("source", entry) if isinstance(entry, dict) else entry
                svc, errs = parse_model(Service, doc, f"{f.name}#services[{i}]")
                problems += errs
                if svc is not None:
                    found.append((svc, f"{f.name}#services[{i}]", None))
            continue
        node, errs = read_yaml(text, str(f))
        if errs:
            problems += errs
            continue
        svc, errs = parse_model(Service, node, str(f))
        problems += errs
        if svc is not None:
            found.append((svc, str(f), node))
    return found, problems


def import_path(store: Store, path: Path, data_dir: Path, author: str, reason: str = "导入") -> ImportReport:
    """Import services from ``path``; refuses the whole import on any error."""
    incoming, problems = _read_import(path)
    current = _current_sources(store, data_dir)
    ids = {svc.id for svc, _, _ in incoming}
    seen: Dict[str, str] = {}
    for svc, file, _ in incoming:
        if svc.id in seen:
            problems.append(Problem(file, 1, f"事项 id {svc.id} 在本次导入中重复（另见 {seen[svc.id]}）"))
        seen[svc.id] = file
    merged = Sources(
        profile=current.profile,
        materials=current.materials,
        services=[t for t in current.services if t[0].id not in ids] + incoming,
        catalogue=current.catalogue,
        problems=problems,
    )
    all_problems = check_sources(merged, require_all=False)
    imported_files = {file for _, file, _ in incoming} | {str(path)}
    relevant = [p for p in all_problems if p.file in imported_files or any(p.file.startswith(f) for f in imported_files) or "同时属于" in p.message]
    errors = [p for p in relevant if p.severity == "error"]
    if errors or not incoming:
        raise ImportRefused(errors or [Problem(str(path), 1, "没有可导入的事项")])
    report = ImportReport(problems=relevant)
    with store.session() as s, s.begin():
        for svc, _, _ in incoming:
            version = store.publish_in(s, to_document(svc), author=author, reason=reason)
            if version is None:
                report.unchanged += 1
            else:
                report.published.append((svc.id, version))
    return report


def export_document(kb: Any) -> Dict[str, Any]:
    """The ``guide kb export --json`` contract (ARCHITECTURE.md), plus the full source for round trips."""
    services = []
    for svc in kb.ordered():
        services.append(
            {
                "id": svc.id,
                "name": svc.name,
                "domain": svc.domain,
                "audience": svc.audience.value,
                "aliases": list(svc.aliases),
                "single_items": [
                    {
                        "name": i.name,
                        "department": kb.context.dept(i.department),
                        "legal_limit_days": i.legal_limit.days,
                        "promised_limit_days": i.promised_limit.days,
                        "after": list(i.after),
                        "result": i.result,
                    }
                    for i in svc.single_items
                ],
                "guide": kb.elements(svc.id),
                "faqs": [{"q": f.q, "a": f.a} for f in svc.faqs],
                "source": to_document(svc),
            }
        )
    return {"city": kb.profile.city, "count": len(services), "services": services}


def export_yaml(kb: Any, out_dir: Path) -> int:
    """Write every published guide back as YAML (for committing editor changes to git)."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.allow_unicode = True
    yaml.width = 4096  # type: ignore[assignment]
    out_dir.mkdir(parents=True, exist_ok=True)
    for svc in kb.ordered():
        with (out_dir / f"{svc.id}.yml").open("w", encoding="utf-8") as fh:
            yaml.dump(_prune(to_document(svc)), fh)
    return len(kb.services)


def _prune(doc: Any) -> Any:
    """Drop empty values so exported YAML reads like the hand-written files."""
    if isinstance(doc, dict):
        return {k: _prune(v) for k, v in doc.items() if v not in ("", [], None, {})}
    if isinstance(doc, list):
        return [_prune(v) for v in doc]
    return doc


def first_error_line(problems: List[Problem]) -> Problem | None:
    return problems[0] if problems else None
