"""Knowledge gaps and the dashboard, read from ``guide.analytics`` (conversation_events).

Gaps: questions that fell back, were out of scope, ended in a handoff or got a bad
rating, grouped by character-bigram similarity (the FAQ matcher's measure).  Charts are
inline SVG drawn here on the server: nothing is downloaded by the browser.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from html import escape
from typing import Any, Dict, List, Sequence, Tuple

from guide import analytics
from knowledge.base import KnowledgeBase
from knowledge.faq import similarity
from knowledge.text import normalize

GAP_KINDS = ("fallback", "out_of_scope", "handoff", "rating")
BAD_RATING = 2.0  # ratings are 1–5 (好差评: 1 非常不满意 … 5 非常满意); 1 and 2 are bad
GROUP_SIMILARITY = 0.5
KIND_LABELS = {"fallback": "未能理解", "out_of_scope": "超出范围", "handoff": "转人工", "rating": "差评"}


@dataclass
class GapGroup:
    text: str
    count: int = 0
    kinds: Counter = field(default_factory=Counter)
    examples: List[str] = field(default_factory=list)
    last_at: datetime | None = None
    suggestion: Dict[str, str] | None = None

    def as_dict(self) -> Dict[str, Any]:
        return {"text": self.text, "count": self.count, "kinds": {KIND_LABELS.get(k, k): n for k, n in self.kinds.items()},
                "examples": self.examples[:5], "last_at": self.last_at.isoformat(timespec="minutes") if self.last_at else "",
                "suggestion": self.suggestion}


def _known_phrases(kb: KnowledgeBase) -> set:
    """Questions already covered: every alias and FAQ question (normalised)."""
    known: set = set()
    for svc in kb.services.values():
        known.update(normalize(a) for a in svc.aliases)
        known.update(normalize(f.q) for f in svc.faqs)
    return known


def _residents(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Rows of residents' conversations (the editors' own hit tests run the bot's actions too, and are left out)."""
    from channels.editor.replies import HIT_TEST_SENDER

    return [r for r in rows if r.get("sender") != HIT_TEST_SENDER]


def gap_groups(kb: KnowledgeBase, since: datetime, until: datetime | None = None, limit: int = 100) -> List[GapGroup]:
    rows = _residents(analytics.query(list(GAP_KINDS), since, until))
    known = _known_phrases(kb)
    groups: List[GapGroup] = []
    for row in sorted(rows, key=lambda r: r["at"], reverse=True):
        text = (row.get("text") or "").strip()
        if not text or normalize(text) in known:
            continue
        if row["kind"] == "rating" and (row.get("score") is None or float(row["score"]) > BAD_RATING):
            continue
        group = next((g for g in groups if similarity(g.text, text) >= GROUP_SIMILARITY), None)
        if group is None:
            group = GapGroup(text=text, last_at=row["at"])
            groups.append(group)
        group.count += 1
        group.kinds[row["kind"]] += 1
        if text not in group.examples:
            group.examples.append(text)
    groups.sort(key=lambda g: (-g.count, g.text))
    for g in groups[:limit]:
        hits = kb.index.search(g.text, k=1)
        if hits:
            g.suggestion = {"id": hits[0].service_id, "name": hits[0].name}
    return groups[:limit]


# ------------------------------------------------------------------ dashboard


def dashboard(kb: KnowledgeBase, since: datetime, until: datetime, tz: tzinfo = timezone.utc) -> Dict[str, Any]:
    """Figures for [since, until) — naive UTC, as analytics stores times; days are counted in ``tz``."""
    rows = _residents(analytics.query(["routed", "rating", "prereview_defect", "fallback", "out_of_scope", "clarify", "handoff"],
                                      since, until, limit=200000))
    counts = Counter(r["kind"] for r in rows)
    questions = sum(counts.get(k, 0) for k in ("routed", "clarify", "fallback", "out_of_scope"))
    top = Counter(r["service_id"] for r in rows if r["kind"] == "routed" and r["service_id"])
    ratings = [float(r["score"]) for r in rows if r["kind"] == "rating" and r.get("score") is not None]
    defects = Counter(r["code"] or "（无代码）" for r in rows if r["kind"] == "prereview_defect")
    per_day: Dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        per_day[_local(r["at"], tz).strftime("%m-%d")][r["kind"]] += 1
    days = []
    day = _local(since, tz).date()
    while day <= _local(until - timedelta(microseconds=1), tz).date():
        days.append(day.strftime("%m-%d"))
        day += timedelta(days=1)

    def rate(n: int) -> float | None:
        return n / questions if questions else None

    return {
        "questions": questions,
        "fallback_rate": rate(counts.get("fallback", 0) + counts.get("out_of_scope", 0)),
        "handoff_rate": rate(counts.get("handoff", 0)),
        "clarify_rate": rate(counts.get("clarify", 0)),
        "ratings": len(ratings),
        "rating_avg": sum(ratings) / len(ratings) if ratings else None,
        "bad_ratings": sum(1 for s in ratings if s <= BAD_RATING),
        "top_services": [(f"{sid} {kb.services[sid].name if sid in kb.services else ''}".strip(), n) for sid, n in top.most_common(10)],
        "rating_hist": [(f"{s}分", sum(1 for x in ratings if round(x) == s)) for s in range(1, 6)],
        "defects": defects.most_common(12),
        "series": [(d, per_day[d].get("routed", 0) + per_day[d].get("clarify", 0), per_day[d].get("fallback", 0) + per_day[d].get("out_of_scope", 0),
                    per_day[d].get("handoff", 0)) for d in days],
    }


def _local(utc_naive: datetime, tz: tzinfo) -> datetime:
    return utc_naive.replace(tzinfo=timezone.utc).astimezone(tz)


def bar_chart(data: Sequence[Tuple[str, float]], title: str, unit: str = "", width: int = 560, color: str = "#0b4ea2") -> str:
    """Horizontal bars with labels and values; an accessible title and a note when empty."""
    if not data:
        return f'<p class="muted">{escape(title)}：所选时段没有数据</p>'
    row, left = 26, 190
    height = row * len(data) + 10
    top = max(v for _, v in data) or 1
    parts = [f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" width="100%" class="chart"><title>{escape(title)}</title>']
    for i, (label, value) in enumerate(data):
        y = 5 + i * row
        w = max(1.0, (width - left - 60) * value / top)
        short = label if len(label) <= 14 else label[:13] + "…"
        parts.append(f'<text x="{left - 6}" y="{y + 16}" text-anchor="end" font-size="12">{escape(short)}</text>')
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="{color}"><title>{escape(label)}：{value:g}{unit}</title></rect>')
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 16}" font-size="12">{value:g}{escape(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(series: Sequence[Tuple[str, int, int, int]], title: str, width: int = 560, height: int = 200) -> str:
    """Daily questions, fallbacks and handoffs as three lines with a legend."""
    if not series or not any(sum(s[1:]) for s in series):
        return f'<p class="muted">{escape(title)}：所选时段没有数据</p>'
    left, bottom, top_pad = 36, 24, 24
    top = max(max(s[1:]) for s in series) or 1
    n = len(series)
    xs = [left + (width - left - 10) * (i / max(1, n - 1)) for i in range(n)]

    def y(v: int) -> float:
        return top_pad + (height - bottom - top_pad) * (1 - v / top)

    lines = [("提问", 1, "#0b4ea2"), ("未能理解", 2, "#c0392b"), ("转人工", 3, "#e67e22")]
    parts = [f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" width="100%" class="chart"><title>{escape(title)}</title>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#999"/>',
             f'<text x="{left - 4}" y="{top_pad + 4}" text-anchor="end" font-size="11">{top}</text>',
             f'<text x="{left - 4}" y="{height - bottom}" text-anchor="end" font-size="11">0</text>']
    for name, idx, color in lines:
        pts = " ".join(f"{x:.1f},{y(int(s[idx])):.1f}" for x, s in zip(xs, series))
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{pts}"><title>{name}</title></polyline>')
    step = max(1, n // 8)
    for i in range(0, n, step):
        parts.append(f'<text x="{xs[i]:.1f}" y="{height - 6}" text-anchor="middle" font-size="11">{escape(series[i][0])}</text>')
    for j, (name, _, color) in enumerate(lines):
        parts.append(f'<rect x="{left + 10 + j * 90}" y="4" width="12" height="12" fill="{color}"/><text x="{left + 26 + j * 90}" y="14" font-size="12">{name}</text>')
    parts.append("</svg>")
    return "".join(parts)
