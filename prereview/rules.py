"""The rule catalogue (``rules.yml``) as typed objects.

Checks never write resident-facing text: they report a rule id and the values they measured, and the rule
turns that into a defect with message, fix, severity and legal basis.  Adding a message, changing a
threshold or a severity is therefore an edit to ``rules.yml``, reviewed like any other content.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Mapping

import yaml

from knowledge.schema import LegalRef, MaterialType

RULES_PATH = Path(__file__).with_name("rules.yml")

CODES = (
    "missing_material", "wrong_format", "file_too_large", "unreadable", "wrong_document_type",
    "invalid_id_number", "invalid_credit_code", "expired", "id_mismatch", "name_mismatch",
    "missing_pages", "blank_page", "missing_seal", "missing_signature",
)
SEVERITIES = ("error", "warning")
SELECTORS = {"needs_seal", "needs_signature", "checksum", "validity", "catalogue"}


class _Lenient(dict):
    """Template values: an absent key renders as nothing rather than raising mid-notice."""

    def __missing__(self, key: str) -> str:
        return ""


@dataclass(frozen=True)
class Rule:
    id: str
    code: str
    severity: str
    message: str
    fix: str
    applies_to: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    basis: tuple[LegalRef, ...] = ()

    def applies(self, material: MaterialType | None) -> bool:
        """Whether this rule concerns a material of this catalogue type (``None``: type unknown)."""
        sel = self.applies_to
        if not sel:
            return True
        if material is None:
            return False
        if "catalogue" in sel and material.id not in sel["catalogue"]:
            return False
        if "needs_seal" in sel and material.needs_seal != sel["needs_seal"]:
            return False
        if "needs_signature" in sel and material.needs_signature != sel["needs_signature"]:
            return False
        if "checksum" in sel and sel["checksum"] not in {c.value for c in material.checksums}:
            return False
        if "validity" in sel and (material.validity is not None) != sel["validity"]:
            return False
        return True

    def render(self, values: Mapping[str, Any]) -> tuple[str, str]:
        data = _Lenient({**self.params, **values})
        fmt = string.Formatter()
        return fmt.vformat(self.message, (), data), fmt.vformat(self.fix, (), data)


@dataclass(frozen=True)
class Side:
    name: str
    keywords: tuple[str, ...]
    min_hits: int


@dataclass(frozen=True)
class Catalogue:
    version: int
    rules: Dict[str, Rule]
    sides: Dict[str, tuple[Side, ...]]
    name_labels: tuple[str, ...]

    def rule(self, rule_id: str) -> Rule:
        return self.rules[rule_id]

    def param(self, rule_id: str, name: str) -> Any:
        return self.rules[rule_id].params[name]

    def by_code(self) -> Dict[str, List[Rule]]:
        out: Dict[str, List[Rule]] = {}
        for r in self.rules.values():
            out.setdefault(r.code, []).append(r)
        return out


def parse(doc: Mapping[str, Any]) -> Catalogue:
    """Validate while parsing: a typo in rules.yml must fail at start-up, not in a resident's notice."""
    basis = {k: LegalRef.parse_obj(v) for k, v in doc.get("basis", {}).items()}
    rules: Dict[str, Rule] = {}
    for raw in doc["rules"]:
        rid = raw["id"]
        if rid in rules:
            raise ValueError(f"rules.yml: duplicate rule id {rid}")
        if raw["code"] not in CODES:
            raise ValueError(f"rules.yml: {rid}: unknown defect code {raw['code']}")
        if raw["severity"] not in SEVERITIES:
            raise ValueError(f"rules.yml: {rid}: severity must be error or warning")
        unknown = set(raw.get("applies_to") or {}) - SELECTORS
        if unknown:
            raise ValueError(f"rules.yml: {rid}: unknown applies_to keys {sorted(unknown)}")
        missing_basis = [b for b in raw.get("basis", []) if b not in basis]
        if missing_basis:
            raise ValueError(f"rules.yml: {rid}: unknown basis {missing_basis}")
        rules[rid] = Rule(
            id=rid, code=raw["code"], severity=raw["severity"], message=raw["message"], fix=raw["fix"],
            applies_to=dict(raw.get("applies_to") or {}), params=dict(raw.get("params") or {}),
            basis=tuple(basis[b] for b in raw.get("basis", [])),
        )
    sides = {
        cat: tuple(Side(s["name"], tuple(s["keywords"]), int(s.get("min_hits", 1))) for s in lst)
        for cat, lst in (doc.get("sides") or {}).items()
    }
    return Catalogue(int(doc.get("version", 1)), rules, sides, tuple(doc.get("name_labels", [])))


@lru_cache(maxsize=4)
def load(path: Path = RULES_PATH) -> Catalogue:
    with open(path, encoding="utf-8") as fh:
        return parse(yaml.safe_load(fh))
