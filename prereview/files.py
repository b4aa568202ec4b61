"""Turn uploaded bytes into page images without trusting the name, the header or the size a file claims.

Order matters for safety: the byte size is checked before anything is read into a decoder, the image header
(width × height) before the pixels are decoded, the PDF page count before any page is rendered, and each
page's rendered size before it is rasterised.  Anything that goes wrong becomes a *finding* (a rule id
and its evidence), never an exception that reaches the resident.

Memory: nothing downstream looks at more than ``decode_side`` pixels a side (OCR reads 1280, legibility
measures 1000, the seal finder 800), so a big JPEG is decoded at a reduced scale by libjpeg itself
(``Image.draft``: a 40-megapixel photo costs a sixteenth of its full size) and every page is scaled down
before it is transposed or converted.  The original pixel size is kept for the resolution rule.

PDF pages after the first ``render_pages`` are not read, but each of them (up to the page limit) is still
checked for being blank: a page with a text layer is not blank; one without is rendered as a small preview
for the blank-page measure.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

from PIL import Image

KIND_NAMES = {
    "jpg": "JPG图片",
    "png": "PNG图片",
    "pdf": "PDF文档",
    "gif": "GIF动图",
    "bmp": "BMP图片",
    "webp": "WebP图片",
    "tiff": "TIFF图片",
    "heic": "HEIC照片（苹果手机默认格式）",
    "zip": "压缩包或Office文档",
    "ole": "旧版Office文档",
    "text": "纯文本",
    "empty": "空文件",
    "unknown": "无法识别的数据",
}
DOCUMENT_KINDS = {"jpg", "png", "pdf"}
DECODE_SIDE = 1600  # default working long side of a page image (see the module docstring)
PREVIEW_WIDTH = 480  # pixels across a preview of an unread PDF page, enough to tell a blank page
IMAGE_KINDS = {"jpg", "png", "gif", "bmp", "webp", "tiff"}

# pdfium is not thread-safe: every call into it goes through this lock.
_PDFIUM = threading.Lock()


@dataclass
class Finding:
    """A rule that fired, with the values the message needs (never resident text)."""

    rule: str
    page: int | None = None
    evidence: Dict[str, Any] = field(default_factory=dict)


@dataclass
class Decoded:
    """What a file turned out to be: its real kind, page count and the pages we agreed to render."""

    kind: str
    size: int
    page_count: int = 0
    pages: List[Image.Image] = field(default_factory=list)
    findings: List[Finding] = field(default_factory=list)
    sizes: List[Tuple[int, int]] = field(default_factory=list)  # each page's pixel size before scaling down
    previews: List[Tuple[int, Image.Image]] = field(default_factory=list)  # (page number, small render) of unread pages without text

    @property
    def usable(self) -> bool:
        return bool(self.pages) and not any(f.rule.startswith("file.") for f in self.findings)


def sniff(head: bytes) -> str:
    """The real type from magic bytes (first bytes of the content), never from the file name."""
    if not head:
        return "empty"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head.startswith(b"BM") and len(head) > 14:
        return "bmp"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"hevc", b"heim"):
        return "heic"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "ole"
    if _looks_like_text(head[:4096]):
        return "text"
    return "unknown"


def _looks_like_text(chunk: bytes) -> bool:
    for encoding in ("utf-8", "gb18030"):
        try:
            text = chunk.decode(encoding)
        except UnicodeDecodeError:
            # a multi-byte character cut at the end of the chunk is still text
            try:
                text = chunk[:-3].decode(encoding)
            except UnicodeDecodeError:
                continue
        printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
        return printable >= 0.95 * max(len(text), 1)
    return False


def decode(data: bytes, size: int, *, max_bytes: int, max_pixels: int, max_pages: int, render_pages: int,
           render_width: int = 1400, decode_side: int = DECODE_SIDE) -> Decoded:
    """Decode one upload into page images, refusing whatever would be unsafe to decode."""
    if size == 0:
        return Decoded("empty", 0, findings=[Finding("file.empty")])
    kind = sniff(data[:4096])
    if size > max_bytes:
        return Decoded(kind, size, findings=[Finding("file.too_large", evidence={
            "size_mb": round(size / 1e6, 1), "limit_mb": round(max_bytes / 1e6, 1)})])
    if kind not in DOCUMENT_KINDS:
        if kind in IMAGE_KINDS:  # a real image in a format we do not accept: readable, but the wrong format
            return Decoded(kind, size, findings=[Finding("file.format_not_allowed", evidence={"actual": KIND_NAMES[kind]})])
        return Decoded(kind, size, findings=[Finding("file.not_image_or_pdf", evidence={"actual": KIND_NAMES[kind]})])
    if kind == "pdf":
        return _decode_pdf(data, size, max_pixels, max_pages, render_pages, render_width)
    return _decode_image(kind, data, size, max_pixels, decode_side)


def _decode_image(kind: str, data: bytes, size: int, max_pixels: int, decode_side: int = DECODE_SIDE) -> Decoded:
    out = Decoded(kind, size, page_count=1)
    try:
        with Image.open(io.BytesIO(data)) as probe:  # reads the header only
            width, height = probe.size
    except Image.DecompressionBombError:
        width, height = _png_size(data)
        out.findings.append(Finding("file.too_many_pixels", evidence={"width": width or "?", "height": height or "?"}))
        return out
    except Exception as exc:  # noqa: BLE001 - any decoder failure is "the file is damaged"
        out.findings.append(Finding("file.corrupt", evidence={"detail": _short(exc)}))
        return out
    if width * height > max_pixels or max(width, height) > 20000:
        out.findings.append(Finding("file.too_many_pixels", evidence={"width": width, "height": height}))
        return out
    try:
        with Image.open(io.BytesIO(data)) as im:
            scale = min(1.0, decode_side / max(width, height))
            if im.format == "JPEG" and scale < 1:  # libjpeg decodes at 1/2, 1/4 or 1/8 directly
                im.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
            im.load()
            orientation = int(im.getexif().get(0x0112, 1) or 1)
            image = _working(im, decode_side, orientation)
    except Exception as exc:  # noqa: BLE001
        out.findings.append(Finding("file.corrupt", evidence={"detail": _short(exc)}))
        return out
    out.pages.append(image)
    out.sizes.append((height, width) if orientation in (5, 6, 7, 8) else (width, height))
    return out


_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}  # EXIF orientation → the turn that shows the photo as it was taken


def _working(im: Image.Image, decode_side: int, orientation: int) -> Image.Image:
    """Scaled down to ``decode_side`` first, then upright (EXIF) and RGB: every copy is made at the small size."""
    if im.mode not in ("RGB", "L", "RGBA", "LA"):
        im = im.convert("RGB")
    if max(im.size) > decode_side:
        scale = decode_side / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.LANCZOS,
                       reducing_gap=2.0)
    if orientation in _TRANSPOSE:
        im = im.transpose(_TRANSPOSE[orientation])
    return im.convert("RGB") if im.mode != "RGB" else im


def _decode_pdf(data: bytes, size: int, max_pixels: int, max_pages: int, render_pages: int,
                render_width: int) -> Decoded:
    import pypdfium2 as pdfium

    out = Decoded("pdf", size)
    with _PDFIUM:
        try:
            doc = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if getattr(exc, "err_code", None) == 4:  # FPDF_ERR_PASSWORD
                out.findings.append(Finding("file.encrypted"))
            else:
                out.findings.append(Finding("file.corrupt", evidence={"detail": "PDF结构损坏"}))
            return out
        try:
            out.page_count = len(doc)
            if out.page_count == 0:
                out.findings.append(Finding("file.corrupt", evidence={"detail": "PDF没有任何页面"}))
                return out
            if out.page_count > max_pages:
                out.findings.append(Finding("file.too_many_pages", evidence={"pages": out.page_count, "limit": max_pages}))
                return out
            for index in range(out.page_count):
                page = doc[index]
                try:
                    w_pt, h_pt = page.get_size()
                    if w_pt <= 0 or h_pt <= 0:
                        raise ValueError("页面尺寸为零")
                    if index >= render_pages:  # not read: only told apart from a blank page
                        if not _has_text(page):
                            scale = min(PREVIEW_WIDTH / w_pt, 1.0)
                            if w_pt * h_pt * scale * scale <= max_pixels:
                                out.previews.append((index + 1, page.render(scale=scale).to_pil().convert("RGB")))
                        continue
                    scale = min(render_width / w_pt, 3.0)
                    if w_pt * h_pt * scale * scale > max_pixels:  # a huge page box: render smaller, never bigger
                        scale = (max_pixels / (w_pt * h_pt)) ** 0.5
                    image = page.render(scale=scale).to_pil().convert("RGB")
                    out.pages.append(image)
                    out.sizes.append(image.size)
                finally:
                    page.close()
        except pdfium.PdfiumError as exc:
            out.findings.append(Finding("file.corrupt", evidence={"detail": _short(exc)}))
        except ValueError as exc:
            out.findings.append(Finding("file.corrupt", evidence={"detail": _short(exc)}))
        finally:
            doc.close()
    return out


def _has_text(page: Any) -> bool:
    """A text layer with at least one visible character: the page is not blank, no need to render it."""
    textpage = page.get_textpage()
    try:
        return bool(textpage.get_text_range().strip())
    finally:
        textpage.close()


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (Pillow refuses to tell us for a bomb)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return 0, 0


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if "truncated" in text:
        return "文件不完整，可能上传中断"
    if "cannot identify" in text:
        return "无法识别的图片数据"
    return "图片数据损坏" if len(text) > 60 else text
