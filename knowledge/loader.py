"""Read the YAML sources into typed models, reporting every problem with file and line.

Problems are collected rather than raised so an editor sees all of them at once, and
so that an import with any problem can be refused as a whole.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, List, Sequence, Tuple, Type, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from knowledge.schema import CityProfile, MaterialCatalogue, MaterialType, Service

DATA_DIR = Path(__file__).resolve().parent / "data"

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the sources, located for a human."""

    file: str
    line: int
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class CatalogueRow:
    """A row of the published list of 200 themed services (ids and names are fixed)."""

    id: str
    domain: str
    name: str
    audience: str
    lead_department: str
    single_items: Tuple[str, ...]


_ERROR_TEXT = {
    "value_error.missing": "缺少必填项",
    "value_error.extra": "不认识的字段（请检查拼写）",
    "type_error.none.not_allowed": "不能为空",
    "type_error.integer": "须为整数",
    "type_error.float": "须为数字",
    "type_error.bool": "须为 true 或 false",
    "type_error.list": "须为列表",
    "type_error.dict": "须为键值结构",
    "type_error.str": "须为文字",
    "value_error.list.min_items": "项数不足",
}


def _chinese(err: Any) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind == "type_error.enum":
        allowed = "、".join(str(getattr(v, "value", v)) for v in ctx.get("enum_values", []))
        return f"取值须为以下之一：{allowed}"
    if kind == "value_error.list.min_items":
        return f"至少需要 {ctx.get('limit_value')} 项"
    if kind in ("value_error.any_str.min_length",):
        return f"内容过短，至少 {ctx.get('limit_value')} 个字"
    if kind in ("value_error.any_str.max_length",):
        return f"内容过长，最多 {ctx.get('limit_value')} 个字"
    if kind.startswith("value_error.number"):
        return f"数值超出范围（{err.get('msg')}）"
    if kind in _ERROR_TEXT:
        return _ERROR_TEXT[kind]
    return str(err.get("msg", kind))


def line_of(node: Any, path: Sequence[Any]) -> int:
    """1-based line of the deepest YAML node on ``path`` that exists."""
    line = 1
    for key in path:
        try:
            if isinstance(node, CommentedMap):
                if key not in node:
                    break
                line = node.lc.key(key)[0] + 1
            elif isinstance(node, CommentedSeq) and isinstance(key, int):
                if key >= len(node):
                    break
                line = node.lc.item(key)[0] + 1
            else:
                break
            node = node[key]
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return line


def plain(node: Any) -> Any:
    """ruamel's round-trip nodes → plain dicts, lists and scalars."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def read_yaml(text: str, file: str) -> Tuple[Any, List[Problem]]:
    """Parse YAML text, keeping line information. Duplicate keys are errors."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        return yaml.load(text), []
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        return None, [Problem(file, line, f"YAML 格式错误：{exc.problem or exc.context}")]
    except Exception as exc:  # ruamel raises a few unmarked errors (e.g. duplicate keys)
        return None, [Problem(file, 1, f"YAML 格式错误：{exc}")]


def parse_model(model: Type[M], node: Any, file: str) -> Tuple[M | None, List[Problem]]:
    """Validate a YAML node against a model; map each error to its line."""
    if not isinstance(node, dict):
        return None, [Problem(file, 1, "文件内容须为键值结构")]
    try:
        return model.parse_obj(plain(node)), []
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [p for p in err["loc"] if p != "__root__"]
            where = ".".join(str(p) for p in loc) or "(整体)"
            problems.append(Problem(file, line_of(node, loc), f"{where}: {_chinese(err)}"))
        return None, problems


def load_text(model: Type[M], text: str, file: str) -> Tuple[M | None, List[Problem]]:
    node, problems = read_yaml(text, file)
    if problems:
        return None, problems
    return parse_model(model, node, file)


def load_file(model: Type[M], path: Path, root: Path = DATA_DIR) -> Tuple[M | None, List[Problem]]:
    try:
        rel = str(path.relative_to(root))
    except ValueError:
        rel = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None, [Problem(rel, 1, "文件须为 UTF-8 编码")]
    return load_text(model, text, rel)


def read_catalogue(path: Path = DATA_DIR / "catalogue.csv") -> List[CatalogueRow]:
    with path.open(encoding="utf-8") as fh:
        return [
            CatalogueRow(
                id=row["id"],
                domain=row["domain"],
                name=row["name"],
                audience=row["audience"],
                lead_department=row["lead_department"],
                single_items=tuple(s for s in row["single_items"].split("；") if s),
            )
            for row in csv.DictReader(fh)
        ]


@dataclass
class Sources:
    """Everything read from a data directory, before cross-reference checks."""

    profile: CityProfile | None
    materials: List[Tuple[MaterialType, str, int]]
    services: List[Tuple[Service, str, Any]]
    catalogue: List[CatalogueRow]
    problems: List[Problem]


def _material_files(root: Path) -> Iterable[Path]:
    return sorted((root / "materials").glob("*.yml"))


def _service_files(root: Path) -> Iterable[Path]:
    return sorted((root / "services").glob("*.yml"))


def load_materials(root: Path) -> Tuple[List[Tuple[MaterialType, str, int]], List[Problem]]:
    out: List[Tuple[MaterialType, str, int]] = []
    problems: List[Problem] = []
    for path in _material_files(root):
        rel = str(path.relative_to(root))
        node, errs = read_yaml(path.read_text(encoding="utf-8"), rel)
        if errs:
            problems += errs
            continue
        cat, errs = parse_model(MaterialCatalogue, node, rel)
        problems += errs
        if cat is not None:
            for i, m in enumerate(cat.materials):
                out.append((m, rel, line_of(node, ["materials", i])))
    return out, problems


def load_sources(root: Path = DATA_DIR) -> Sources:
    problems: List[Problem] = []
    profile, errs = load_file(CityProfile, root / "city.yml", root)
    problems += errs
    materials, errs = load_materials(root)
    problems += errs
    services: List[Tuple[Service, str, Any]] = []
    for path in _service_files(root):
        rel = str(path.relative_to(root))
        node, errs = read_yaml(path.read_text(encoding="utf-8"), rel)
        if errs:
            problems += errs
            continue
        svc, errs = parse_model(Service, node, rel)
        problems += errs
        if svc is not None:
            services.append((svc, rel, node))
    return Sources(profile, materials, services, read_catalogue(root / "catalogue.csv"), problems)
