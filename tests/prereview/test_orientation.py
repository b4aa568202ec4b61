"""Photos taken sideways or upside down are read turned upright, and a file that reads as nothing it was sent for is
reported — never passed in silence.  What a file was recognised as is reported apart from what it was declared as."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Dict

import pytest

from prereview.corpus import (
    TODAY,
    Case,
    household_person,
    id_back,
    id_front,
    jpg,
    photograph,
    png,
    shopping_receipt,
    turn,
    world,
    wrong_check,
)
from prereview.engine import Submission, review

CARD = "投靠人居民身份证"


def _card(front: bytes, back: bytes | None = None) -> list:
    back = back or jpg(photograph(id_back(date(2016, 4, 1), None)))
    return [Submission("人像面.jpg", front, material=CARD), Submission("国徽面.jpg", back, material=CARD)]


@pytest.mark.parametrize("angle", [90, 180])
def test_a_turned_id_card_front_is_read_upright_and_passes(angle: int, kb, reading_cache) -> None:  # type: ignore[no-untyped-def]
    a = world(7).applicant
    front = jpg(turn(photograph(id_front(a)), angle))
    result = review("T068", _card(front), "own_house", (a.name, a.id_number), kb=kb, cache=reading_cache, today=TODAY)
    assert [d for d in result.defects if d.material == CARD] == []
    doc = next(d for d in result.documents if d.file == "人像面.jpg")
    assert doc.detected == "居民身份证" and doc.sides == ["人像面"]
    assert doc.turned == [(360 - angle) % 360], "read after turning it back"


def test_a_turned_card_with_a_wrong_check_digit_is_caught(kb, reading_cache) -> None:  # type: ignore[no-untyped-def]
    a = world(7).applicant
    bad = replace(a, id_number=wrong_check(a.id_number))
    result = review("T068", _card(jpg(turn(photograph(id_front(bad)), 270))), "own_house", kb=kb,
                    cache=reading_cache, today=TODAY)
    on_file = [d for d in result.defects if d.file == "人像面.jpg"]
    assert [d.code for d in on_file] == ["invalid_id_number"]
    assert bad.id_number not in on_file[0].message, "the number is masked"
    assert bad.id_number[:6] + "********" + bad.id_number[-4:] in on_file[0].message


def test_something_else_sent_as_the_id_card_is_reported_not_passed(kb, reading_cache) -> None:  # type: ignore[no-untyped-def]
    receipt = jpg(turn(photograph(shopping_receipt()), 90))
    result = review("T068", [Submission("人像面.jpg", receipt, material=CARD)], "own_house", kb=kb,
                    cache=reading_cache, today=TODAY)
    (defect,) = [d for d in result.defects if d.file == "人像面.jpg"]
    assert defect.rule == "type.unrecognised" and defect.code == "unreadable" and defect.severity == "error"
    assert "未能识别为“投靠人居民身份证”" in defect.message and "完整、端正、清晰" in defect.fix
    doc = result.documents[0]
    assert doc.detected == "" and doc.declared == CARD, "what was read is reported, not what was declared"
    assert not result.passed


def test_a_household_page_sent_as_the_id_card_reports_what_it_is(corpus: Dict[str, Case], kb, reading_cache) -> None:  # type: ignore[no-untyped-def]
    case = corpus["household register for id card"]
    result = review(case.service, [Submission(u.name, u.data, material=u.material) for u in case.files], case.scenario,
                    case.applicant, kb=kb, cache=reading_cache, today=TODAY)
    doc = next(d for d in result.documents if d.file == "身份证人像面.jpg")
    assert doc.detected == "居民户口簿" and doc.declared == CARD and doc.material == ""


def test_upright_clean_pages_are_never_turned(corpus: Dict[str, Case], kb, reading_cache) -> None:  # type: ignore[no-untyped-def]
    case = corpus["relocation clean"]
    result = review(case.service, [Submission(u.name, u.data, material=u.material) for u in case.files], case.scenario,
                    case.applicant, kb=kb, cache=reading_cache, today=TODAY)
    assert result.defects == []
    assert [d.turned for d in result.documents] == [[] for _ in result.documents]
    assert all(d.detected for d in result.documents)


def test_the_applicant_is_read_from_their_own_id_card_when_none_is_given(kb, reading_cache) -> None:  # type: ignore[no-untyped-def]
    """The chat never asks who applies: the card tells, and documents of someone else are then caught."""
    w = world(7)
    a, spouse = w.applicant, w.spouse
    subs = _card(jpg(photograph(id_front(a)))) + [
        Submission("户口簿本人页.png", png(photograph(household_person(spouse, "户主"))), material="投靠人原籍居民户口簿")]
    result = review("T068", subs, "own_house", kb=kb, cache=reading_cache, today=TODAY, infer_applicant=True)
    assert result.applicant is not None and (result.applicant.name, result.applicant.id_number) == (a.name, a.id_number)
    assert result.applicant_source == "id_card"
    on_files = [(d.file, d.code) for d in result.defects if d.file and d.code != "missing_pages"]  # no 户主页 sent
    assert on_files == [("户口簿本人页.png", "name_mismatch")]
    assert result.to_json()["applicant"]["id_number"] == a.id_number[:6] + "********" + a.id_number[-4:]

    alone = review("T068", subs[2:], "own_house", kb=kb, cache=reading_cache, today=TODAY, infer_applicant=True)
    assert alone.applicant is None and alone.applicant_source == "unrecognised"
