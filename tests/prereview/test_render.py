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
