"""Cross-reference checks: the validator names the file and line of each problem."""

from pathlib import Path

from knowledge.loader import load_sources
from knowledge.validate import check_sources


def _problems(data: Path) -> list:
    return [p for p in check_sources(load_sources(data), require_all=False) if p.severity == "error"]


def _edit(data: Path, sid: str, old: str, new: str) -> None:
    path = data / "services" / f"{sid}.yml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_repository_sources_are_clean(data_copy: Path) -> None:
    assert _problems(data_copy) == []


def test_unknown_material_reference(small_data: Path) -> None:
    _edit(small_data, "T001", "catalogue: birth_medical_certificate", "catalogue: no_such_document")
    problems = _problems(small_data)
    assert any("no_such_document" in p.message and p.file == "services/T001.yml" and p.line > 1 for p in problems)


def test_alias_claimed_by_two_services_is_flagged(small_data: Path) -> None:
    alias = "宝宝出生办证"
    text = (small_data / "services" / "T001.yml").read_text(encoding="utf-8").replace("id: T001", "id: T002", 1)
    (small_data / "services" / "T002.yml").write_text(text, encoding="utf-8")
    problems = _problems(small_data)
    assert any(alias in p.message and "同时属于" in p.message for p in problems)


def test_duplicate_service_id(small_data: Path) -> None:
    (small_data / "services" / "T001_copy.yml").write_text((small_data / "services" / "T001.yml").read_text(encoding="utf-8"), encoding="utf-8")
    problems = _problems(small_data)
    assert any("重复" in p.message and "T001" in p.message for p in problems)


def test_placeholder_words_are_rejected(small_data: Path) -> None:
    _edit(small_data, "T001", "summary: 宝宝出生后", "summary: 待补充。宝宝出生后")
    assert any("待补充" in p.message for p in _problems(small_data))


def test_name_must_match_the_catalogue(small_data: Path) -> None:
    _edit(small_data, "T001", "name: 新生儿出生一件事", "name: 新生儿出生")
    assert any("事项名称须与目录一致" in p.message for p in _problems(small_data))


def test_e_certificate_source_needs_a_catalogue_flag(small_data: Path) -> None:
    _edit(small_data, "T001", "catalogue: bank_card\n    source: 申请人提交", "catalogue: bank_card\n    source: 电子证照免提交")
    assert any("电子证照" in p.message for p in _problems(small_data))
