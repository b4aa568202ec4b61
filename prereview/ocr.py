"""Offline OCR (RapidOCR, PP-OCRv4 ONNX models shipped in the wheel), loaded once per process.

Loading the three models takes about half a second, reading one page about a second on two cores, so the
engine is built on first use and shared.  RapidOCR keeps per-call state on the instance, hence the lock;
onnxruntime already uses both cores inside one call, so serialising calls costs no throughput.
Images are downscaled before reading: phone photos of 4000 px gain nothing but time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, List, Sequence

import numpy as np
from PIL import Image

_engine: Any = None
_load_lock = threading.Lock()
_call_lock = threading.Lock()


@dataclass
class Line:
    """One line of text as read, with its quadrilateral in the coordinates of the image passed in."""

    text: str
    box: List[List[float]]
    score: float

    @property
    def x0(self) -> float:
        return min(p[0] for p in self.box)

    @property
    def x1(self) -> float:
        return max(p[0] for p in self.box)

    @property
    def y0(self) -> float:
        return min(p[1] for p in self.box)

    @property
    def y1(self) -> float:
        return max(p[1] for p in self.box)

    def as_list(self) -> list:
        return [self.text, self.box, round(self.score, 3)]

    @classmethod
    def from_list(cls, raw: Sequence[Any]) -> "Line":
        return cls(str(raw[0]), [list(map(float, p)) for p in raw[1]], float(raw[2]))


def engine() -> Any:
    global _engine
    if _engine is None:
        with _load_lock:
            if _engine is None:
                from rapidocr_onnxruntime import RapidOCR

                # detection on at most 960 px a side: enough for printed text, and bounded time per page
                _engine = RapidOCR(det_limit_type="max", det_limit_side_len=960)
    return _engine


def read(image: Image.Image, max_side: int = 1280) -> List[Line]:
    """Lines of text in reading order (top to bottom, then left to right), boxes in ``image`` pixels."""
    scale = min(1.0, max_side / max(image.size))
    small = image if scale >= 1 else image.resize((int(image.width * scale), int(image.height * scale)), Image.Resampling.LANCZOS)
    ocr = engine()
    with _call_lock:
        result, _ = ocr(np.asarray(small.convert("RGB"))[:, :, ::-1].copy(), use_cls=False)
    lines = [Line(text.strip(), [[x / scale, y / scale] for x, y in box], float(score))
             for box, text, score in (result or []) if text.strip()]
    return reading_order(lines)


def reading_order(lines: List[Line]) -> List[Line]:
    """Group lines into rows (vertical centres within half a line height), rows top-down, each left-right."""
    rows: List[List[Line]] = []
    for ln in sorted(lines, key=lambda ln: (ln.y0 + ln.y1) / 2):
        centre, height = (ln.y0 + ln.y1) / 2, max(1.0, ln.y1 - ln.y0)
        if rows:
            last = rows[-1][0]
            if abs(centre - (last.y0 + last.y1) / 2) < 0.5 * max(height, last.y1 - last.y0):
                rows[-1].append(ln)
                continue
        rows.append([ln])
    return [ln for row in rows for ln in sorted(row, key=lambda ln: ln.x0)]
