"""Turn uploaded bytes into page images without trusting the name, the header or the size a file claims.

Order matters for safety: the byte size is checked before anything is read into a decoder, the image header
(width × height) before the pixels are decoded, the PDF page count before any page is rendered, and each
page's rendered size before it is rasterised.  Anything that goes wrong becomes a *finding* (a rule id
and its evidence), never an exception that reaches the resident.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, List

from PIL import Image, ImageOps

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
           render_width: int = 1400) -> Decoded:
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
    return _decode_image(kind, data, size, max_pixels)


def _decode_image(kind: str, data: bytes, size: int, max_pixels: int) -> Decoded:
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
            im.load()
            image = ImageOps.exif_transpose(im).convert("RGB")
    except Exception as exc:  # noqa: BLE001
        out.findings.append(Finding("file.corrupt", evidence={"detail": _short(exc)}))
        return out
    out.pages.append(image)
    return out


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
            for index in range(min(out.page_count, render_pages)):
                page = doc[index]
                try:
                    w_pt, h_pt = page.get_size()
                    if w_pt <= 0 or h_pt <= 0:
                        raise ValueError("页面尺寸为零")
                    scale = min(render_width / w_pt, 3.0)
                    if w_pt * h_pt * scale * scale > max_pixels:  # a huge page box: render smaller, never bigger
                        scale = (max_pixels / (w_pt * h_pt)) ** 0.5
                    out.pages.append(page.render(scale=scale).to_pil().convert("RGB"))
                finally:
                    page.close()
        except pdfium.PdfiumError as exc:
            out.findings.append(Finding("file.corrupt", evidence={"detail": _short(exc)}))
        except ValueError as exc:
            out.findings.append(Finding("file.corrupt", evidence={"detail": _short(exc)}))
        finally:
            doc.close()
    return out


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
