"""HTTP routes: the resident's notice (HTML and PDF), the upload-and-review API, and an agent listing.

Include in the gateway::

    from prereview.web import router, agent_router
    app.include_router(router)
    app.include_router(agent_router, dependencies=[Depends(<agent auth>)])   # notices and audit trail

Public notice URLs carry an unguessable token (``/prereview/notices/2026-000123-<token>``), so a notice is
visible to whoever was given the link, never to someone counting numbers.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import HTMLResponse, Response

from guide.settings import get_settings
from prereview import render, uploads
from prereview.engine import Applicant, Submission, UnknownService, review
from prereview.notices import Notice, NoticeStore

router = APIRouter()
agent_router = APIRouter()


def _store() -> NoticeStore:
    return NoticeStore(get_settings().db_url)


def _notice_or_404(slug: str, actor: str, action: str) -> Notice:
    notice = _store().by_slug(slug)
    if notice is None:
        raise HTTPException(status_code=404, detail="告知书不存在或链接已失效")
    _store().record(notice.number, actor, action)
    return notice


@router.get("/prereview/notices/{slug}.pdf")
def notice_pdf(slug: str) -> Response:
    notice = _notice_or_404(slug, "resident", "viewed_pdf")
    filename = f"notice-{notice.year}-{notice.seq:06d}.pdf"
    return Response(render.pdf(notice, get_settings().base_url), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{filename}"', "Cache-Control": "private, no-store"})


@router.get("/prereview/notices/{slug}", response_class=HTMLResponse)
def notice_html(slug: str) -> HTMLResponse:
    notice = _notice_or_404(slug, "resident", "viewed")
    return HTMLResponse(render.html(notice, get_settings().base_url), headers={"Cache-Control": "private, no-store"})


def _read_upload(up: UploadFile, limit: int) -> tuple[str, bytes, int]:
    """Size first (the body is already spooled to disk by Starlette), bytes only when within the limit."""
    up.file.seek(0, os.SEEK_END)
    size = up.file.tell()
    up.file.seek(0)
    data = up.file.read(limit + 1) if size <= limit else b""
    return up.filename or "upload", data, size


@router.post("/api/prereview")
def api_prereview(
    service_id: str = Form(...),
    files: List[UploadFile] = File(...),
    scenario: str | None = Form(None),
    materials: List[str] = Form([]),
    applicant_name: str = Form(""),
    applicant_id: str = Form(""),
    previous_number: str | None = Form(None),
) -> Dict[str, Any]:
    """Multipart upload → review → numbered notice, as the ``guide prereview --json`` contract plus the chat
    messages.  ``materials`` (optional, one per file, "" for unknown) says what each file is for."""
    settings = get_settings()
    limit = int(settings.prereview_max_upload_mb * 1e6)
    subs: List[Submission] = []
    for i, up in enumerate(files):
        name, data, size = _read_upload(up, limit)
        material = materials[i] if i < len(materials) and materials[i] else None
        upload_id = uploads.store(data, name, material, settings).id if data else None
        subs.append(Submission(name, data, size, material, upload_id))
    applicant = Applicant(applicant_name, applicant_id.upper()) if (applicant_name or applicant_id) else None
    try:
        result = review(service_id, subs, scenario or None, applicant, previous_number or None)
    except UnknownService:
        raise HTTPException(status_code=404, detail=f"没有编号为 {service_id} 的主题事项") from None
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    from prereview import issue_notice

    notice = issue_notice(result, actor="web")
    body = notice.to_json(settings.base_url)
    body["messages"] = render.chat_messages(notice, settings.base_url)
    return body


@agent_router.get("/api/prereview/notices")
def agent_notices(service_id: str | None = Query(None), limit: int = Query(50, ge=1, le=500)) -> Dict[str, Any]:
    """Latest notices for the agent workbench (include this router behind agent authentication)."""
    base = get_settings().base_url
    return {"notices": [
        {"number": n.number, "service": n.result.service_id, "service_name": n.result.service_name,
         "applicant": n.result.applicant.name if n.result.applicant else "", "passed": n.passed,
         "issued_on": n.issued_on.isoformat(), "defects": len(n.result.defects), "superseded_by": n.superseded_by,
         "url": f"{base}/prereview/notices/{n.slug}"}
        for n in _store().recent(limit, service_id)
    ]}


@agent_router.get("/api/prereview/notices/{number}/trail")
def agent_trail(number: str) -> Dict[str, Any]:
    store = _store()
    notice = store.get(number)
    if notice is None:
        raise HTTPException(status_code=404, detail="告知书不存在")
    return {"number": number, "notice": notice.to_json(get_settings().base_url), "trail": store.trail(number)}
