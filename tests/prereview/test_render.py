"""The notice as chat text (≤ 600 characters a message), HTML and PDF with the CJK font embedded."""

from __future__ import annotations

import pypdfium2 as pdfium
import pytest

from prereview import render
from prereview.corpus import TODAY
from prereview.engine import MemoryCache, Submission, review
from prereview.notices import Notice, NoticeStore


@pytest.fixture()
def notice(kb, sqlite_url: str) -> Notice:  # type: ignore[no-untyped-def]
    subs = [Submission("回执.jpg", b"<script>alert(1)</script> not an image" * 10, material="数码相片回执"),
            Submission("空.pdf", b"", material="投靠人居民身份证")]
    result = review("T068", subs, "own_house", ("黄阳", ""), kb=kb, cache=MemoryCache(), today=TODAY)
    return NoticeStore(sqlite_url).issue(result, prefix="京政务预审")


def test_chat_messages_are_short_and_complete(notice: Notice) -> None:
    messages = render.chat_messages(notice, "http://testserver")
    assert all(len(m) <= 600 for m in messages)
    text = "\n".join(messages)
    assert notice.number in text and "材料补正告知书" in text
    for d in notice.result.defects:
        assert d.message in text and d.fix in text
    assert "12345" in text and "《中华人民共和国行政许可法》第三十二条" in text
    assert f"http://testserver/prereview/notices/{notice.slug}.pdf" in text


def test_long_notices_are_split_not_truncated(notice: Notice) -> None:
    notice.result.defects = notice.result.defects * 12
    messages = render.chat_messages(notice)
    assert len(messages) > 1 and all(len(m) <= 600 for m in messages)
    assert "\n".join(messages).count(notice.result.defects[0].fix) == 12


def test_html_escapes_what_residents_sent(notice: Notice) -> None:
    page = render.html(notice, "http://testserver")
    assert notice.number in page and "怎么改" in page
    assert "<script>alert" not in page


def test_pdf_embeds_the_cjk_font_and_carries_the_text(notice: Notice) -> None:
    data = render.pdf(notice, "http://testserver")
    assert data.startswith(b"%PDF") and b"/FontFile2" in data and b"WenQuanYi" in data
    doc = pdfium.PdfDocument(data)
    text = "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    assert notice.number in text.replace("\r", "").replace("\n", "")
    assert "材料补正告知书" in text and "空文件" in text


@pytest.fixture()
def id_notice(corpus, kb, reading_cache, sqlite_url: str) -> Notice:  # type: ignore[no-untyped-def]
    """A notice with an invalid ID number (read by OCR) and the applicant read from the ID card."""
    case = corpus["id number impossible date"]
    subs = [Submission(u.name, u.data, material=u.material) for u in case.files]
    result = review(case.service, subs, case.scenario, None, kb=kb, cache=reading_cache, today=TODAY, infer_applicant=True)
    assert [d.code for d in result.errors] == ["invalid_id_number"]
    return NoticeStore(sqlite_url).issue(result, prefix="京政务预审")


def test_chat_shows_what_was_read_masked_and_who_applies(id_notice: Notice, corpus) -> None:  # type: ignore[no-untyped-def]
    case = corpus["id number impossible date"]
    applicant = corpus["relocation clean"].applicant
    bad = next(u for u in case.files if u.name == "户口簿本人页.png")
    text = "\n".join(render.chat_messages(id_notice, "http://testserver"))
    (defect,) = id_notice.result.errors
    number = defect.evidence["text"]
    assert "*" * 8 in number and len(number) == 18, "the evidence itself is masked"
    assert f"读取到：{number}" in text, "the chat shows the text read, as the page and the PDF do"
    assert f"申请人：{applicant[0]}（公民身份号码{applicant[1][:6]}********{applicant[1][-4:]}）" in text
    assert bad.name in text


def test_no_whole_id_or_phone_number_is_stored_or_shown(id_notice: Notice, sqlite_url: str) -> None:
    import re

    stored = NoticeStore(sqlite_url).get(id_notice.number)
    assert stored is not None
    data = pdfium.PdfDocument(render.pdf(stored, "http://testserver"))
    pdf_text = "".join(data[i].get_textpage().get_text_range() for i in range(len(data)))
    import json

    for surface in (json.dumps(stored.result.to_json(), ensure_ascii=False), json.dumps(stored.to_json(), ensure_ascii=False),
                    render.html(stored), "\n".join(render.chat_messages(stored)), pdf_text.replace("\r\n", "")):
        assert not re.search(r"(?<![0-9*])\d{17}[0-9X](?![0-9])", surface), "an 18-character ID number in full"
        assert "13800138000" not in surface


def test_legibility_evidence_masks_numbers_it_read(kb, reading_cache) -> None:  # type: ignore[no-untyped-def]
    """A photo cut at the edge still shows most of the form: the snippet kept as evidence is masked."""
    import random

    from prereview.corpus import application_form, cut_right, jpg, photograph, world

    a = world(7).applicant
    data = jpg(cut_right(photograph(application_form("夫妻投靠落户申请表", a, random.Random(3))), 0.2))
    result = review("T068", [Submission("申请表.jpg", data, material="夫妻投靠落户申请表")], "own_house",
                    kb=kb, cache=reading_cache, today=TODAY)
    (defect,) = [d for d in result.defects if d.file == "申请表.jpg"]
    assert defect.rule == "quality.cut_off"
    snippet = defect.evidence["text"]
    assert "138****8000" in snippet and "13800138000" not in snippet
    assert a.id_number not in snippet and a.id_number[:6] + "********" + a.id_number[-4:] in snippet
