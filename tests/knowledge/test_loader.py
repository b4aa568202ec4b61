"""Bad YAML is reported with file, line and a Chinese message; nothing is half-read."""

from knowledge.loader import load_text
from knowledge.schema import Service

GOOD = (__import__("pathlib").Path(__file__).resolve().parents[2] / "knowledge/data/services/T001.yml").read_text(encoding="utf-8")


def test_reference_guide_parses() -> None:
    svc, problems = load_text(Service, GOOD, "T001.yml")
    assert problems == [] and svc is not None
    assert svc.name == "新生儿出生一件事"


def test_malformed_yaml_names_the_line() -> None:
    broken = GOOD.replace("domain: 生育收养", "domain: [生育收养", 1)
    svc, problems = load_text(Service, broken, "T001.yml")
    assert svc is None
    assert problems and problems[0].file == "T001.yml" and "YAML 格式错误" in problems[0].message
    assert problems[0].line >= 3


def test_wrong_type_points_at_its_line() -> None:
    text = GOOD.replace("visits: 0", "visits: 两次")
    svc, problems = load_text(Service, text, "T001.yml")
    assert svc is None
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("visits:"))
    assert any(p.line == line and p.message.startswith("visits") for p in problems)


def test_unknown_key_is_an_error_not_silently_dropped() -> None:
    text = GOOD.replace("visits: 0", "visits: 0\nvisit_count: 0")
    _, problems = load_text(Service, text, "T001.yml")
    assert any("不认识的字段" in p.message for p in problems)


def test_bad_enum_lists_the_allowed_values() -> None:
    text = GOOD.replace("scope: 全市通办", "scope: 到处都能办")
    _, problems = load_text(Service, text, "T001.yml")
    assert any("全市通办" in p.message and "取值须为" in p.message for p in problems)


def test_duplicate_key_is_refused() -> None:
    text = GOOD.replace("visits: 0", "visits: 0\nvisits: 1")
    svc, problems = load_text(Service, text, "T001.yml")
    assert svc is None and problems


def test_fee_consistency_is_checked() -> None:
    text = GOOD.replace("fee:\n  free: true", "fee:\n  free: false")
    _, problems = load_text(Service, text, "T001.yml")
    assert any("收费项目" in p.message for p in problems)
