"""Offline OCR (RapidOCR, PP-OCRv4 ONNX models shipped in the wheel), loaded once per process.

Loading the three models takes about half a second, reading one page about a second on two cores, so the
engine is built on first use and shared.  RapidOCR keeps per-call state on the instance, hence the lock;
onnxruntime already uses both cores inside one call, so serialising calls costs no throughput.
Images are downscaled before reading: phone photos of 4000 px gain nothing but time.

Orientation: a photo taken sideways or upside down reads as nothing (180°) or as tall text boxes (90°/270°).
``read_upright`` reads the page as it is and keeps that reading when it looks like upright text; only
otherwise does it ask the line-direction classifier (cheap: the detected lines are classified, not read)
which way the page lies, and reads it once more turned upright.  Clean, upright pages pay nothing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, List, Sequence, Tuple

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

    @property
    def height(self) -> float:
        """The line's height across its text direction (the short side of its quadrilateral)."""
        return max(1.0, min(_side(self.box, 0, 3), _side(self.box, 0, 1)))

    @property
    def tall(self) -> bool:
        """A box much taller than wide holding several characters: text running down the page (a photo on its side)."""
        return len(self.text) >= 2 and (self.y1 - self.y0) >= 1.5 * (self.x1 - self.x0)

    def as_list(self) -> list:
        return [self.text, self.box, round(self.score, 3)]

    @classmethod
    def from_list(cls, raw: Sequence[Any]) -> "Line":
        return cls(str(raw[0]), [list(map(float, p)) for p in raw[1]], float(raw[2]))


def _side(box: Sequence[Sequence[float]], a: int, b: int) -> float:
    return float(((box[a][0] - box[b][0]) ** 2 + (box[a][1] - box[b][1]) ** 2) ** 0.5)


# a reading counts as upright when it holds this many well-read characters, mostly in horizontal lines
UPRIGHT_MIN_CHARS = 12
UPRIGHT_MIN_SCORE = 0.8
UPRIGHT_MAX_TALL = 0.3


def engine() -> Any:
    global _engine
    if _engine is None:
        with _load_lock:
            if _engine is None:
                from rapidocr_onnxruntime import RapidOCR

                # detection on at most 960 px a side: enough for printed text, and bounded time per page
                _engine = RapidOCR(det_limit_type="max", det_limit_side_len=960)
    return _engine


def _small(image: Image.Image, max_side: int) -> Tuple[Image.Image, float]:
    scale = min(1.0, max_side / max(image.size))
    if scale >= 1:
        return image, 1.0
    return image.resize((int(image.width * scale), int(image.height * scale)), Image.Resampling.LANCZOS), scale


def _bgr(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))[:, :, ::-1].copy()


def read(image: Image.Image, max_side: int = 1280) -> List[Line]:
    """Lines of text in reading order (top to bottom, then left to right), boxes in ``image`` pixels."""
    small, scale = _small(image, max_side)
    ocr = engine()
    with _call_lock:
        result, _ = ocr(_bgr(small), use_cls=False)
    lines = [Line(text.strip(), [[x / scale, y / scale] for x, y in box], float(score))
             for box, text, score in (result or []) if text.strip()]
    return reading_order(lines)


def legible_chars(lines: Sequence[Line]) -> int:
    return sum(len(ln.text) for ln in lines if ln.score >= UPRIGHT_MIN_SCORE)


def looks_upright(lines: Sequence[Line]) -> bool:
    """Enough well-read text, and not mostly in tall boxes (which is how a page lying on its side reads)."""
    chars = legible_chars(lines)
    tall = sum(len(ln.text) for ln in lines if ln.score >= UPRIGHT_MIN_SCORE and ln.tall)
    return chars >= UPRIGHT_MIN_CHARS and tall <= UPRIGHT_MAX_TALL * chars


def rotation(image: Image.Image, max_side: int = 1280) -> int:
    """Which way the page lies: the counter-clockwise turn (0, 90, 180, 270) that makes its text upright.

    Text lines are detected (not read) and each line is given to the 0°/180° direction classifier; a tall line
    is classified after RapidOCR's own quarter turn, so a tall line read "upright" means the page needs a
    quarter turn one way, "upside down" the other.  Votes are weighted by line length."""
    small, _ = _small(image, max_side)
    arr = _bgr(small)
    ocr = engine()
    with _call_lock:
        boxes, _ = ocr.text_det(arr)
        if boxes is None or len(boxes) == 0:
            return 0
        boxes = ocr.sorted_boxes(boxes)[:40]
        crops = ocr.get_crop_img_list(arr, boxes)
        _, labels, _ = ocr.text_cls(crops)
    votes = {0: 0.0, 90: 0.0, 180: 0.0, 270: 0.0}
    for box, (label, score) in zip(boxes, labels):
        width, height = _side(box, 0, 1), _side(box, 0, 3)
        flipped = "180" in str(label)
        if height >= 1.5 * width:
            votes[270 if flipped else 90] += max(width, height) * float(score)
        else:
            votes[180 if flipped else 0] += max(width, height) * float(score)
    best = max(votes, key=lambda k: votes[k])
    return best if votes[best] > votes[0] else 0


def read_upright(image: Image.Image, max_side: int = 1280) -> Tuple[int, List[Line]]:
    """``(turn, lines)``: the page read as it is when that looks upright; otherwise turned by the classifier's
    verdict and read again, keeping whichever reading is better.  Boxes are in the pixels of
    ``image.rotate(turn, expand=True)``."""
    lines = read(image, max_side)
    if looks_upright(lines):
        return 0, lines
    turn = rotation(image, max_side)
    if turn == 0:
        return 0, lines
    turned = read(image.rotate(turn, expand=True), max_side)
    better = (looks_upright(turned), legible_chars(turned)) > (looks_upright(lines), legible_chars(lines))
    return (turn, turned) if better else (0, lines)


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
