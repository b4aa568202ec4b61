"""Hostile and broken uploads become defects with clear messages: nothing crashes, nothing is decoded that
would not fit in memory, nothing is trusted by its file name."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from prereview import files
from prereview.corpus import BAD_INPUT_CODES, TODAY, bad_inputs, jpg, png_bomb
from prereview.engine import MemoryCache, Submission, review

LIMITS = dict(max_bytes=20_000_000, max_pixels=40_000_000, max_pages=30, render_pages=8)


@pytest.mark.parametrize("upload", bad_inputs(), ids=lambda u: u.name)
def test_each_bad_input_is_one_clear_defect(upload, kb) -> None:  # type: ignore[no-untyped-def]
    result = review("T068", [Submission(upload.name, upload.data, material=upload.material)], "own_house",
                    kb=kb, cache=MemoryCache(), today=TODAY)
    on_file = [d for d in result.defects if d.file == upload.name]
    assert [d.code for d in on_file] == [BAD_INPUT_CODES[upload.name]]
    assert upload.name in on_file[0].message and on_file[0].fix
    assert not result.passed


def test_a_200_mb_upload_is_refused_by_size_without_being_read(tmp_path: Path, kb) -> None:  # type: ignore[no-untyped-def]
    big = tmp_path / "扫描件.jpg"
    with open(big, "wb") as fh:  # sparse: 200 MB on paper, nothing on disk
        fh.write(jpg(__import__("PIL.Image", fromlist=["Image"]).new("RGB", (32, 32))))
        fh.truncate(200_000_000)
    sub = Submission.from_path(big, "投靠人居民身份证", max_bytes=20_000_000)
    assert sub.data == b"" and sub.size == 200_000_000
    result = review("T068", [sub], "own_house", kb=kb, cache=MemoryCache(), today=TODAY)
    (defect,) = [d for d in result.defects if d.file == "扫描件.jpg"]
    assert defect.code == "file_too_large" and "200.0MB" in defect.message


def test_decompression_bomb_is_refused_from_its_header() -> None:
    data = png_bomb(30000, 30000)
    tracemalloc.start()
    decoded = files.decode(data, len(data), **LIMITS)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [f.rule for f in decoded.findings] == ["file.too_many_pixels"]
    assert decoded.findings[0].evidence == {"width": 30000, "height": 30000}
    assert peak < 20_000_000, "no pixel buffer was allocated"


def test_big_but_legal_header_below_pillows_own_limit_is_still_capped() -> None:
    data = png_bomb(9000, 9000)  # 81 Mpx: Pillow would only warn; our cap is 40 Mpx
    decoded = files.decode(data, len(data), **LIMITS)
    assert [f.rule for f in decoded.findings] == ["file.too_many_pixels"]


def test_500_page_pdf_is_counted_not_rendered() -> None:
    from prereview.corpus import many_pages_pdf

    data = many_pages_pdf(500)
    decoded = files.decode(data, len(data), **LIMITS)
    assert decoded.page_count == 500 and decoded.pages == []
    assert decoded.findings[0].evidence == {"pages": 500, "limit": 30}


def test_only_the_first_pages_of_a_long_pdf_are_rendered() -> None:
    from prereview.corpus import many_pages_pdf

    data = many_pages_pdf(12)
    decoded = files.decode(data, len(data), **LIMITS)
    assert decoded.page_count == 12 and len(decoded.pages) == 8 and not decoded.findings


@pytest.mark.parametrize("head,kind", [
    (b"\xff\xd8\xff\xe0", "jpg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"%PDF-1.7", "pdf"), (b"GIF89a", "gif"),
    (b"PK\x03\x04", "zip"), (b"\x00\x00\x00\x18ftypheic", "heic"), ("纯文字内容".encode(), "text"), (b"", "empty"),
])
def test_type_comes_from_magic_bytes(head: bytes, kind: str) -> None:
    assert files.sniff(head) == kind


def _text_pages_pdf(pages: int, blank: set, image_pages: set) -> bytes:
    """Pages with a text layer, except the ``blank`` ones (nothing) and ``image_pages`` (a scanned picture, no text)."""
    from fpdf import FPDF
    from PIL import Image

    from prereview.corpus import FONT_PATH

    doc = FPDF(unit="pt", format="A4")
    doc.add_font("wqy", fname=FONT_PATH)
    doc.set_font("wqy", size=14)
    scan = Image.new("RGB", (400, 300), (250, 250, 246))
    scan.paste((30, 30, 30), (40, 40, 360, 60))
    for i in range(1, pages + 1):
        doc.add_page()
        if i in image_pages:
            doc.image(scan, x=36, y=36, w=400)
        elif i not in blank:
            doc.cell(0, 20, f"第{i}页 申请材料")
    return bytes(doc.output())


def test_pages_after_the_rendered_ones_are_still_checked_for_blanks() -> None:
    data = _text_pages_pdf(12, blank={11}, image_pages={12})
    decoded = files.decode(data, len(data), **LIMITS)
    assert decoded.page_count == 12 and len(decoded.pages) == 8
    assert [n for n, _ in decoded.previews] == [11, 12], "only pages without a text layer need a look"
    assert all(max(img.size) <= 700 for _, img in decoded.previews), "previews are small"


def test_a_blank_page_beyond_the_read_pages_is_a_defect(kb) -> None:  # type: ignore[no-untyped-def]
    from guide.settings import Settings
    from prereview.corpus import household_person, pdf, photo_receipt, photograph, world

    a = world(7).applicant
    data = pdf([photograph(household_person(a, "户主")), photograph(photo_receipt(a, "BJ2026022000318")), None,
                photograph(photo_receipt(a, "BJ2026022000319"))])
    settings = Settings(prereview_render_pages=1)  # pages 2–4 are not read, as pages 9+ are by default
    result = review("T068", [Submission("户口簿.pdf", data, material="投靠人原籍居民户口簿")], "own_house",
                    kb=kb, cache=MemoryCache(), today=TODAY, settings=settings)
    on_file = [(d.code, d.page) for d in result.defects if d.file == "户口簿.pdf" and d.code != "missing_pages"]
    assert on_file == [("blank_page", 3)]
    assert result.images_read == 2, "page 1 read, page 3 kept as the blank page it is"


def test_thirty_pages_without_text_are_checked_quickly() -> None:
    import time

    data = _text_pages_pdf(30, blank=set(range(1, 31)), image_pages=set())
    started = time.perf_counter()
    decoded = files.decode(data, len(data), **LIMITS)
    assert len(decoded.pages) == 8 and len(decoded.previews) == 22
    assert time.perf_counter() - started < 10
