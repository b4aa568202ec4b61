"""The engine on real rendered documents with real OCR: clean submissions pass, each defect code is found
exactly where it was injected and nowhere else."""

from __future__ import annotations

from typing import Dict

import pytest

from prereview.corpus import TODAY, Case
from prereview.engine import Submission, review
from prereview.evaluate import keys

# one case per code (the full corpus runs in `python -m prereview.evaluate`)
DEFECT_CASES = {
    "unreadable": "id card blurred",
    "invalid_id_number": "id number impossible date",
    "expired": "id card expired",
    "name_mismatch": "household page of another name",
    "id_mismatch": "form with another id number",
    "missing_seal": "marriage certificate without seal",
    "missing_signature": "form not signed",
    "missing_material": "no application form",
    "missing_pages": "id card back missing",
    "wrong_document_type": "household register for id card",
    "wrong_format": "gif instead of jpg",
    "blank_page": "blank pdf page",
    "invalid_credit_code": "licence credit code check digit",
}


def run(case: Case, kb, cache):  # type: ignore[no-untyped-def]
    subs = [Submission(u.name, u.data, material=u.material) for u in case.files]
    return review(case.service, subs, case.scenario, case.applicant, kb=kb, cache=cache, today=TODAY)


@pytest.mark.parametrize("name", ["relocation clean", "agent clean", "licence clean"])
def test_clean_submissions_have_no_defects(name: str, corpus: Dict[str, Case], kb, reading_cache) -> None:  # type: ignore[no-untyped-def]
    result = run(corpus[name], kb, reading_cache)
    assert result.defects == []
    assert result.passed
    assert result.next_steps, "a clear result says what to do next"
    assert all(d.material for d in result.documents), "every file was recognised as one of the service's materials"


@pytest.mark.parametrize("code", sorted(DEFECT_CASES))
def test_each_defect_code_is_found_where_injected(code: str, corpus: Dict[str, Case], kb, reading_cache) -> None:  # type: ignore[no-untyped-def]
    case = corpus[DEFECT_CASES[code]]
    result = run(case, kb, reading_cache)
    assert keys(result) == set(case.expected)
    defect = next(d for d in result.defects if d.code == code)
    assert defect.message and defect.fix and defect.basis
    assert "{" not in defect.message + defect.fix, "every placeholder was filled"
    if defect.file:
        assert defect.evidence, "a defect on a file carries what was read"


def test_blurred_id_card_message_is_concrete(corpus: Dict[str, Case], kb, reading_cache) -> None:  # type: ignore[no-untyped-def]
    result = run(corpus["id card blurred"], kb, reading_cache)
    (d,) = result.defects
    assert d.material == "投靠人居民身份证" and "人像面" in d.message and "模糊" in d.message
    assert "重新拍摄" in d.fix


def test_files_without_declared_material_are_classified_by_content(corpus: Dict[str, Case], kb, reading_cache) -> None:  # type: ignore[no-untyped-def]
    case = corpus["relocation clean"]
    subs = [Submission(u.name, u.data) for u in case.files]  # no material given
    result = review(case.service, subs, case.scenario, case.applicant, kb=kb, cache=reading_cache, today=TODAY)
    assert result.defects == []
    by_file = {d.file: d.material for d in result.documents}
    assert by_file["身份证人像面.jpg"] == by_file["身份证国徽面.jpg"] == "投靠人居民身份证"
    assert by_file["户口簿本人页.png"] == "投靠人原籍居民户口簿"
    assert by_file["结婚证.jpg"] == "结婚证"


def test_resubmission_rechecks_only_changed_files_and_names_what_was_fixed(corpus: Dict[str, Case], kb, reading_cache) -> None:  # type: ignore[no-untyped-def]
    first = run(corpus["form not signed"], kb, reading_cache)
    assert [d.code for d in first.defects] == ["missing_signature"]
    clean = corpus["relocation clean"]
    subs = [Submission(u.name, u.data, material=u.material) for u in clean.files]
    second = review(clean.service, subs, clean.scenario, clean.applicant, previous_number="〔2026〕京政务预审第000001号",
                    kb=kb, cache=reading_cache, today=TODAY, previous=first)
    assert second.passed and second.previous_number == "〔2026〕京政务预审第000001号"
    assert [r["code"] for r in second.resolved] == ["missing_signature"]
    assert all(d.reused for d in second.documents), "unchanged files come from the cache"
    assert second.images_read == 0


def test_files_with_the_same_name_are_told_apart(corpus: Dict[str, Case], kb, reading_cache) -> None:  # type: ignore[no-untyped-def]
    """iOS Safari names every photo image.jpg: both sides of the card count, and a defect names which file."""
    case = corpus["id card expired"]
    subs = [Submission("image.jpg" if u.name.startswith("身份证") else u.name, u.data, material=u.material,
                       upload_id=f"up{i}") for i, u in enumerate(case.files)]
    result = review(case.service, subs, case.scenario, case.applicant, kb=kb, cache=reading_cache, today=TODAY)
    cards = [d for d in result.documents if d.file.startswith("image.jpg")]
    assert [d.file for d in cards] == ["image.jpg（第1个文件）", "image.jpg（第2个文件）"]
    assert [d.upload_id for d in cards] == ["up0", "up1"] and [d.sides for d in cards] == [["人像面"], ["国徽面"]]
    assert [(d.file, d.code) for d in result.defects] == [("image.jpg（第2个文件）", "expired")]
    assert "image.jpg（第2个文件）" in result.defects[0].message or result.defects[0].file == "image.jpg（第2个文件）"


def test_a_blurred_and_a_clean_photo_of_the_same_name_are_two_files(corpus: Dict[str, Case], kb, reading_cache) -> None:  # type: ignore[no-untyped-def]
    blurred = next(u for u in corpus["id card blurred"].files if u.name == "身份证人像面.jpg")
    clean = next(u for u in corpus["relocation clean"].files if u.name == "身份证人像面.jpg")
    subs = [Submission("image.jpg", blurred.data, material=blurred.material), Submission("image.jpg", clean.data, material=clean.material)]
    result = review("T068", subs, "own_house", kb=kb, cache=reading_cache, today=TODAY)
    on_files = [(d.file, d.code) for d in result.defects if d.file]
    assert on_files == [("image.jpg（第1个文件）", "unreadable")], "the defect of one never hides or repeats on the other"
