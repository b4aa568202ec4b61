"""The process flow chart of a guide, drawn as SVG from the knowledge base (never a hand-drawn image).

Two parts, top to bottom so it reads on a phone: the 办理流程 steps in order, then the
single items in rows by dependency depth — items in one row run in parallel, an arrow
means "after".
"""

from __future__ import annotations

import html
from typing import Dict, List, Tuple

from knowledge.schema import Service, SingleItem

WIDTH = 360
BOX_H_LINE = 18
PAD = 8
GAP = 26
COLOR = "#0b4ea2"
FILL = "#eef3fb"


def wrap(text: str, width: int) -> List[str]:
    """Wrap Chinese text every ``width`` characters (no spaces to break on)."""
    return [text[i : i + width] for i in range(0, len(text), width)] or [""]


def levels(items: List[SingleItem]) -> List[List[SingleItem]]:
    """Items grouped by dependency depth (0 = can start at once)."""
    by_name = {i.name: i for i in items}
    depth: Dict[str, int] = {}

    def d(name: str, seen: Tuple[str, ...] = ()) -> int:
        if name in depth:
            return depth[name]
        item = by_name[name]
        preds = [a for a in item.after if a in by_name and a not in seen]
        depth[name] = 0 if not preds else 1 + max(d(a, seen + (name,)) for a in preds)
        return depth[name]

    for i in items:
        d(i.name)
    rows: List[List[SingleItem]] = [[] for _ in range(max(depth.values(), default=0) + 1)]
    for i in items:
        rows[depth[i.name]].append(i)
    return rows


def _box(x: float, y: float, w: float, lines: List[str], bold_first: bool = False) -> Tuple[str, float]:
    h = PAD * 2 + BOX_H_LINE * len(lines)
    parts = [f'<rect x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" height="{h:.0f}" rx="6" fill="{FILL}" stroke="{COLOR}"/>']
    for n, line in enumerate(lines):
        weight = ' font-weight="bold"' if bold_first and n == 0 else ""
        parts.append(
            f'<text x="{x + w / 2:.0f}" y="{y + PAD + BOX_H_LINE * (n + 1) - 4:.0f}" text-anchor="middle" font-size="13"{weight}>{html.escape(line)}</text>'
        )
    return "".join(parts), h


def _arrow(x1: float, y1: float, x2: float, y2: float) -> str:
    return f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="{COLOR}" stroke-width="1.5" marker-end="url(#arrow)"/>'


def flowchart_svg(svc: Service) -> str:
    parts: List[str] = []
    y = 10.0
    inner = WIDTH - 20
    prev_bottom = None
    parts.append(f'<text x="10" y="{y + 12:.0f}" font-size="14" font-weight="bold" fill="{COLOR}">办理流程</text>')
    y += 24
    for n, step in enumerate(svc.process, 1):
        lines = wrap(f"{n}. {step.step}（{step.actor}）", 22)[:3] + (wrap(step.time_limit, 22)[:1] if step.time_limit else [])
        svg, h = _box(10, y, inner, lines, bold_first=True)
        if prev_bottom is not None:
            parts.append(_arrow(WIDTH / 2, prev_bottom, WIDTH / 2, y - 2))
        parts.append(svg)
        prev_bottom = y + h
        y += h + GAP
    parts.append(f'<text x="10" y="{y + 4:.0f}" font-size="14" font-weight="bold" fill="{COLOR}">单一事项（同一行并联办理，箭头表示先后）</text>')
    y += 18
    centers: Dict[str, Tuple[float, float, float]] = {}
    for row in levels(svc.single_items):
        cols = min(len(row), 2)
        w = (inner - (cols - 1) * 10) / cols
        row_h = 0.0
        for k, item in enumerate(row):
            col, line_no = k % cols, k // cols
            x = 10 + col * (w + 10)
            by = y + line_no * (PAD * 2 + BOX_H_LINE * 3 + 10)
            lines = wrap(item.name, int(w // 14))[:2] + [f"承诺{item.promised_limit.short()}"]
            svg, h = _box(x, by, w, lines)
            for a in item.after:
                if a in centers:
                    cx, _, cb = centers[a]
                    parts.append(_arrow(cx, cb, x + w / 2, by - 2))
            parts.append(svg)
            centers[item.name] = (x + w / 2, by, by + h)
            row_h = max(row_h, by + h - y)
        y += row_h + GAP
    height = y
    defs = (
        f'<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        f'<path d="M 0 0 L 10 5 L 0 10 z" fill="{COLOR}"/></marker></defs>'
    )
    title = html.escape(f"{svc.name}办理流程图")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" width="100%" role="img" aria-labelledby="flow-title" '
        f'font-family="Noto Sans CJK SC, WenQuanYi Zen Hei, sans-serif"><title id="flow-title">{title}</title>{defs}{"".join(parts)}</svg>'
    )
