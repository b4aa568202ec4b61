"""Colour and stroke heuristics: is there a red official seal, is there ink where a signature belongs.

A seal is a compact, roughly round patch of saturated red (ring, star and curved text), not a red title
or a red line: after closing small gaps, a candidate blob must be about as wide as tall, big enough and
neither solid nor a thin outline.  A signature is checked only where the document has a signature
label (签字 / 签名): the strip to the right of the label must hold ink that OCR did not read as print.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
from PIL import Image

from prereview.ocr import Line

SIGN_LABELS = ("签字", "签名", "签章")
SEAL_SIDE = 800  # long side the seal is looked for at
# "申请人签字：", "委托人（签字）", "签名" at the end of a line — but not "自签字之日起"
LABEL = re.compile(r"(签字|签名|签章)(?:[)）]?\s*[:：]|[)）]|$)")


@dataclass
class SealReading:
    found: bool
    red_ratio: float
    box: tuple[int, int, int, int] | None = None


def find_seal(image: Image.Image, min_red_ratio: float) -> SealReading:
    scale = min(1.0, SEAL_SIDE / max(image.size))
    if scale < 1:  # scaled before any copy is made: a full-size RGB array of a big page is never needed
        image = image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))), Image.Resampling.BOX)
    rgb = np.asarray(image.convert("RGB") if image.mode != "RGB" else image)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hue, sat, val = hsv[:, :, 0], hsv[:, :, 1], hsv[:, :, 2]
    mask = (((hue <= 10) | (hue >= 160)) & (sat >= 90) & (val >= 90)).astype(np.uint8)
    red_ratio = float(mask.mean())
    if red_ratio < min_red_ratio:
        return SealReading(False, round(red_ratio, 5))
    side = min(mask.shape)
    k = max(3, side // 60)
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)  # type: ignore[call-overload]
    for i in range(1, n):
        x, y, bw, bh, _area = stats[i]
        if min(bw, bh) < side * 0.08:
            continue
        if not 0.6 <= bw / bh <= 1.6:
            continue
        fill = float(mask[y:y + bh, x:x + bw].mean())
        if 0.06 <= fill <= 0.85:
            inv = 1 / scale
            return SealReading(True, round(red_ratio, 5), (int(x * inv), int(y * inv), int(bw * inv), int(bh * inv)))
    return SealReading(False, round(red_ratio, 5))


@dataclass
class SignatureReading:
    label: str  # the label found ("申请人签字"), empty when the page has none
    signed: bool
    ink_ratio: float


def find_signature(image: Image.Image, lines: Sequence[Line], min_ink_ratio: float) -> SignatureReading:
    grey = np.asarray(image.convert("L"))
    h, w = grey.shape
    for ln in lines:
        found = LABEL.search(ln.text)
        if found is None:
            continue
        word = found.group(1)
        end_char = found.start(1) + len(word)
        rest = ln.text[found.end():]
        label = ln.text[:end_char].replace("（", "").replace("(", "").strip("：: ") or word
        height = ln.y1 - ln.y0
        # where the label's characters end (OCR may have merged a scribble into the same box)
        label_end = ln.x0 + (ln.x1 - ln.x0) * (len(ln.text) - len(rest)) / max(1, len(ln.text))
        x0, x1 = int(label_end + 0.2 * height), int(min(w, label_end + 8 * height))
        y0, y1 = int(max(0, ln.y0 - 0.8 * height)), int(min(h, ln.y1 + 0.8 * height))
        if x1 - x0 < height or y1 <= y0:
            return SignatureReading(label, False, 0.0)
        region = grey[y0:y1, x0:x1].copy()
        for other in lines:  # printed text in the strip is not a signature
            if other is ln:
                continue
            ox0, ox1 = int(other.x0) - x0, int(other.x1) - x0
            oy0, oy1 = int(other.y0) - y0, int(other.y1) - y0
            if ox1 > 0 and oy1 > 0 and ox0 < region.shape[1] and oy0 < region.shape[0]:
                region[max(0, oy0):max(0, oy1), max(0, ox0):max(0, ox1)] = 255
        paper = float(np.percentile(grey, 90))
        ink = float((region < paper - 80).mean())
        return SignatureReading(label, ink >= min_ink_ratio, round(ink, 4))
    return SignatureReading("", False, 0.0)
