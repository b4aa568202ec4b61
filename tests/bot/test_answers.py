"""Answers come from the knowledge base, fit a phone screen, and change when the guide changes."""

import pytest

from actions.answers import ELEMENT_OF_INTENT, element_answer, overview, parse_choice, split_message
from knowledge.base import current


@pytest.fixture(scope="module")
def kb():  # type: ignore[no-untyped-def]
    return current()


def test_split_keeps_every_part_within_the_limit() -> None:
    text = "\n".join(f"{i}. " + "材料" * 40 for i in range(30))
    parts = split_message(text, limit=600)
    assert len(parts) > 1 and all(len(p) <= 600 for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


def test_split_cuts_a_single_long_line_at_punctuation() -> None:
    text = "，".join(["一句很长的说明"] * 200)
    parts = split_message(text, limit=600)
    assert all(len(p) <= 600 for p in parts) and len(parts) >= 3


@pytest.mark.parametrize("text,count,expected", [("2", 3, 1), ("第三个", 3, 2), ("选1", 3, 0), ("最后一个", 3, 2), ("9", 3, None), ("随便", 3, None), ("两个都行吧", 3, 1)])
def test_parse_choice(text: str, count: int, expected: object) -> None:
    assert parse_choice(text, count) == expected


def test_every_answer_of_every_service_fits_the_phone(kb) -> None:  # type: ignore[no-untyped-def]
    for svc in kb.ordered():
        for intent in ELEMENT_OF_INTENT:
            text = element_answer(svc, kb, intent)
            assert svc.name in text
            assert all(len(part) <= 600 for part in split_message(text))
        assert kb.guide_url(svc.id) in overview(svc, kb)


def test_answer_follows_an_edit_without_retraining(kb) -> None:  # type: ignore[no-untyped-def]
    svc = kb.service("T001").copy(deep=True)
    from knowledge.schema import Fee, FeeItem, LegalRef

    svc.fee = Fee(free=False, items=[FeeItem(name="工本费", amount=15, unit="元/本")], basis=[LegalRef(law="《居民身份证法》", article="第二十条")])
    text = element_answer(svc, kb, "ask_fee")
    assert "15元/本" in text and "《居民身份证法》第二十条" in text


def test_materials_answer_respects_the_scenario(kb) -> None:  # type: ignore[no-untyped-def]
    svc = kb.service("T001")
    local = element_answer(svc, kb, "ask_materials", "both_local")
    nonlocal_ = element_answer(svc, kb, "ask_materials", "one_nonlocal")
    assert "外省市户籍一方的居民户口簿" not in local
    assert "外省市户籍一方的居民户口簿" in nonlocal_
    assert "电子证照免提交" in local  # documents the government holds are named as not needed
