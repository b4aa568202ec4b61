"""Legibility of one page image: resolution, sharpness, exposure, blank pages and text cut at the edges.

Measures are taken on a copy scaled to a fixed long side, so that thresholds in ``rules.yml`` mean the same
thing for a phone photo and for a 300 dpi scan.  Sharpness is the variance of the Laplacian measured only
where there is content (tiles with contrast), taking a high percentile: a page that is mostly white paper
must not look "blurred" just because paper has no edges.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Sequence

import cv2
import numpy as np
from PIL import Image

MEASURE_SIDE = 1000
TILE = 50


@dataclass
class Metrics:
    width: int
    height: int
    mean: float  # average grey level 0–255
    paper: float  # 90th percentile: how bright the brightest part (paper) is
    ink: float  # 1st percentile: how dark the darkest part (ink) is
    ink_ratio: float  # share of pixels clearly darker than the paper around them
    sharpness: float  # variance of the Laplacian in the content tiles (90th percentile)

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


def grey(image: Image.Image, side: int = MEASURE_SIDE) -> np.ndarray:
    g = np.asarray(image.convert("L"))
    h, w = g.shape
    scale = side / max(h, w)
    if scale < 1:
        g = cv2.resize(g, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    return g


def measure(image: Image.Image) -> Metrics:
    g = grey(image)
    h, w = g.shape
    background = cv2.medianBlur(g, 31) if min(h, w) > 31 else g
    ink_mask = g.astype(np.int16) < background.astype(np.int16) - 40
    lap = cv2.Laplacian(g, cv2.CV_64F)
    tiles: List[float] = []
    for y in range(0, h - TILE + 1, TILE):
        for x in range(0, w - TILE + 1, TILE):
            tile = g[y:y + TILE, x:x + TILE]
            if tile.std() > 25:
                tiles.append(float(lap[y:y + TILE, x:x + TILE].var()))
    return Metrics(
        width=image.width,
        height=image.height,
        mean=round(float(g.mean()), 1),
        paper=round(float(np.percentile(g, 90)), 1),
        ink=round(float(np.percentile(g, 1)), 1),
        ink_ratio=round(float(ink_mask.mean()), 5),
        sharpness=round(float(np.percentile(tiles, 90)) if tiles else 0.0, 1),
    )


def is_blank(m: Metrics, max_ink_ratio: float) -> bool:
    return m.ink_ratio <= max_ink_ratio and m.sharpness < 50


def is_dark(m: Metrics, max_mean: float, max_paper: float) -> bool:
    return m.mean <= max_mean and m.paper <= max_paper


def is_overexposed(m: Metrics, min_ink: float, min_mean: float) -> bool:
    return m.ink >= min_ink and m.mean >= min_mean


def is_blurred(m: Metrics, min_sharpness: float) -> bool:
    return m.sharpness < min_sharpness


EDGE_NAMES = {"left": "左侧", "right": "右侧", "top": "上方", "bottom": "下方"}


def cut_edges(boxes: Sequence[Sequence[Sequence[float]]], texts: Sequence[str], width: int, height: int,
              margin: float) -> List[tuple[str, str]]:
    """Text lines whose box touches the image border: the document continues beyond the photo."""
    mx, my = max(2.0, width * margin), max(2.0, height * margin)
    out: List[tuple[str, str]] = []
    for box, text in zip(boxes, texts):
        xs = [p[0] for p in box]
        ys = [p[1] for p in box]
        if len(text) < 2:
            continue
        for edge, touching in (("left", min(xs) <= mx), ("right", max(xs) >= width - mx),
                               ("top", min(ys) <= my), ("bottom", max(ys) >= height - my)):
            if touching:
                out.append((edge, text))
    return out
