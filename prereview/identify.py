"""Which catalogue document a page is, from its OCR text and shape.

Each material type in the catalogue lists recognition keywords (and a minimum number of hits); the rule
catalogue adds the sides or pages a type has (人像面 / 国徽面, 户主页 / 本人页).  A type's score is the total
length of its keywords found in the text — long, specific words ("常住人口登记卡") outweigh short ones
("姓名") — plus a bonus when the title is present and when the page's shape matches the type's
aspect ratio.  Nothing here knows about particular documents: all of it comes from data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Sequence

from knowledge.schema import MaterialType
from prereview.rules import Side

_STRIP = re.compile(r"[\s:：,，.。;；、()（）\[\]【】\"'“”‘’·\-—_|/]+")


def compact(text: str) -> str:
    """Text without spaces and punctuation, so "姓 名：" matches the keyword "姓名"."""
    return _STRIP.sub("", text)


@dataclass
class Candidate:
    catalogue: str
    score: float
    hits: List[str]
    side: str = ""


@dataclass
class PageType:
    """The best reading of one page, plus the runners-up (the engine may prefer an expected type)."""

    candidates: List[Candidate] = field(default_factory=list)

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    def score_of(self, catalogue: str) -> float:
        return next((c.score for c in self.candidates if c.catalogue == catalogue), 0.0)

    def get(self, catalogue: str) -> Candidate | None:
        return next((c for c in self.candidates if c.catalogue == catalogue), None)


def _hits(keywords: Iterable[str], text: str) -> List[str]:
    return [k for k in keywords if compact(k) and compact(k) in text]


def best_side(sides: Sequence[Side], text: str) -> tuple[str, float]:
    best, best_score = "", 0.0
    for side in sides:
        hits = _hits(side.keywords, text)
        score = float(sum(len(h) for h in hits))
        if len(hits) >= side.min_hits and score > best_score:
            best, best_score = side.name, score
    return best, best_score


def classify(text: str, width: int, height: int, materials: Mapping[str, MaterialType],
             sides: Mapping[str, Sequence[Side]], limit: int = 5) -> PageType:
    body = compact(text)
    aspect = width / height if height else 0.0
    out: List[Candidate] = []
    for mt in materials.values():
        rec = mt.recognition
        hits = _hits(rec.keywords, body)
        side, side_score = best_side(sides.get(mt.id, ()), body)
        if len(hits) < rec.min_hits and not side:
            continue
        extra = [k for s in sides.get(mt.id, ()) if s.name == side for k in _hits(s.keywords, body) if k not in hits]
        score = float(sum(len(h) for h in hits) + sum(len(k) for k in extra))
        title, lead = compact(mt.name), compact(rec.keywords[0])
        if title in body:
            score += len(title)
        elif lead in body:  # the bonus is for what is printed: a long catalogue name must not outweigh the text
            score += len(lead)
        if rec.aspect_ratio and aspect and abs(aspect - rec.aspect_ratio) / rec.aspect_ratio < 0.2:
            score += 2
        out.append(Candidate(mt.id, score, hits + extra, side))
    out.sort(key=lambda c: (-c.score, c.catalogue))
    return PageType(out[:limit])


def equivalent(a: MaterialType, b: MaterialType) -> bool:
    """Two catalogue entries that look identical on paper (居民身份证 / 经办人身份证件 / 法定代表人身份证件)."""
    return a.id == b.id or set(a.recognition.keywords) == set(b.recognition.keywords) or (
        set(a.recognition.keywords) <= set(b.recognition.keywords) | {a.name}
        and set(b.recognition.keywords) <= set(a.recognition.keywords) | {b.name}
    )


def combine(pages: Sequence[PageType], prefer: Iterable[str] = ()) -> Dict[str, float]:
    """File-level scores: summed over pages, with a small preference for types the service expects."""
    preferred = set(prefer)
    total: Dict[str, float] = {}
    for p in pages:
        for c in p.candidates:
            total[c.catalogue] = total.get(c.catalogue, 0.0) + c.score
    return {k: v * (1.15 if k in preferred else 1.0) for k, v in total.items()}
