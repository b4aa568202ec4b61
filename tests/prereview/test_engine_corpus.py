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
