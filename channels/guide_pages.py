"""Public guide pages: the index, one page per service (all 26 elements, items, checklist per scenario,
flow chart, QR code), a print view and a friendly 404.

Server-rendered and cached per knowledge-base generation: a published edit swaps the
knowledge base object, which empties the cache, so the page changes the same moment
the bot's answer does.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Tuple

import segno
from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from knowledge.base import KnowledgeBase, current
from knowledge.elements import ELEMENTS
from knowledge.flowchart import flowchart_svg

router = APIRouter()
env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"]))


class PageCache:
    """Rendered pages for one knowledge-base object; cleared when the object changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kb: KnowledgeBase | None = None
        self._pages: Dict[str, str] = {}

    def get(self, kb: KnowledgeBase, key: str, render) -> str:  # type: ignore[no-untyped-def]
        with self._lock:
            if kb is not self._kb:
                self._kb, self._pages = kb, {}
            page = self._pages.get(key)
        if page is None:
            page = render()
            with self._lock:
                if kb is self._kb:
                    self._pages[key] = page
        return page


cache = PageCache()


def qr_svg(url: str) -> str:
    return segno.make(url, error="m").svg_inline(scale=4, border=2, dark="#000", light="#fff")


def render_service(kb: KnowledgeBase, service_id: str, print_view: bool = False) -> str:
    svc = kb.services[service_id]
    url = kb.guide_url(service_id)
    names = {s.id: s.name for s in svc.scenarios}
    elements = kb.elements(service_id)
    return env.get_template("guide_page.html").render(
        title=svc.name + ("（打印版）" if print_view else ""),
        site=f"{kb.profile.city}政务服务办事指南",
        svc=svc,
        lead=kb.context.dept(svc.lead_department),
        dept=kb.context.dept,
        scenario_names=lambda ids: "、".join(names.get(i, i) for i in ids),
        elements=[(n, elements[n]) for n in ELEMENTS],
        flow=flowchart_svg(svc),
        qr=qr_svg(url),
        url=url,
        print_view=print_view,
    )


def render_index(kb: KnowledgeBase, q: str) -> str:
    groups: Dict[str, Dict[str, List]] = defaultdict(lambda: defaultdict(list))
    for svc in kb.ordered():
        groups[svc.audience.value][svc.domain].append(svc)
    ordered: List[Tuple[str, List]] = [(aud, list(groups[aud].items())) for aud in ("个人", "企业") if aud in groups]
    hits = [kb.services[h.service_id] for h in kb.index.search(q, k=10)] if q.strip() else []
    return env.get_template("guide_index.html").render(title="办事指南", site=f"{kb.profile.city}政务服务", groups=ordered, q=q, hits=hits, hotline=kb.profile.hotline)


@router.get("/guide", response_class=HTMLResponse)
def guide_index(q: str = "") -> HTMLResponse:
    kb = current()
    q = q.strip()[:100]
    if q:
        return HTMLResponse(render_index(kb, q))
    return HTMLResponse(cache.get(kb, "index", lambda: render_index(kb, "")))


def _not_found(kb: KnowledgeBase, sid: str) -> HTMLResponse:
    page = env.get_template("not_found.html").render(title="未找到该事项", site=f"{kb.profile.city}政务服务", sid=sid[:20])
    return HTMLResponse(page, status_code=404)


@router.get("/guide/{service_id}", response_class=HTMLResponse)
def guide_page(service_id: str) -> HTMLResponse:
    kb = current()
    if service_id not in kb.services:
        return _not_found(kb, service_id)
    return HTMLResponse(cache.get(kb, service_id, lambda: render_service(kb, service_id)))


@router.get("/guide/{service_id}/print", response_class=HTMLResponse)
def guide_print(service_id: str) -> HTMLResponse:
    kb = current()
    if service_id not in kb.services:
        return _not_found(kb, service_id)
    return HTMLResponse(cache.get(kb, f"{service_id}/print", lambda: render_service(kb, service_id, print_view=True)))
