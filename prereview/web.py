"""HTTP routes: the resident's notice (HTML and PDF), the upload-and-review API, and an agent listing.

Include in the gateway::

    from prereview.web import router, agent_router
    app.include_router(router)
    app.include_router(agent_router, dependencies=[Depends(<agent auth>)])   # notices and audit trail

Public notice URLs carry an unguessable token (``/prereview/notices/2026-000123-<token>``), so a notice is
visible to whoever was given the link, never to someone counting numbers.

``POST /api/prereview`` binds each notice to its caller: the resident of the web chat (signed cookie) or, for
other callers, an owner key — the caller's own (``owner_key``) or one minted and returned with the first
notice.  A resubmission (``previous_number``) must come from the same owner, otherwise anyone who knew or
guessed a number could supersede a stranger's notice and read its defects.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from typing import Any, Dict, List, Tuple

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from guide.settings import get_settings
from prereview import render, uploads
from prereview.engine import Applicant, Submission, UnknownService, review
from prereview.notices import Notice, NoticeStore, NotYourNotice

router = APIRouter()
agent_router = APIRouter()
OWNER_KEY_CHARS = (16, 128)
NOT_YOURS = ("告知书{number}不是通过您的账号或提交凭证出具的，不能用它替代。"
             "请使用出具该告知书时返回的提交凭证（owner_key），或不填写上一份告知书编号，直接重新预审。")
TOO_MANY_FILES = "一次预审最多上传{limit}个文件，您上传了{count}个。请只上传本事项需要的材料（每份材料一个文件），或分次预审。"
BAD_OWNER_KEY = "提交凭证（owner_key）应为{low}到{high}个字符，请使用出具告知书时返回的凭证。"


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


def _owner(request: Request, owner_key: str) -> Tuple[str, str]:
    """``(owner, key to return)``: the web-chat resident from the signed cookie, else the caller's owner key
    (stored only as a hash), else a new key handed back with the notice."""
    from channels.webchat import COOKIE, resident_from_cookie

    low, high = OWNER_KEY_CHARS
    if owner_key:
        if not low <= len(owner_key) <= high:
            raise HTTPException(status_code=422, detail=BAD_OWNER_KEY.format(low=low, high=high))
        return "key:" + hashlib.sha256(owner_key.encode("utf-8", "surrogatepass")).hexdigest(), ""
    resident = resident_from_cookie(request.cookies.get(COOKIE))
    if resident:
        return resident, ""
    key = secrets.token_urlsafe(24)
    return "key:" + hashlib.sha256(key.encode()).hexdigest(), key


@router.post("/api/prereview")
def api_prereview(
    request: Request,
    service_id: str = Form(...),
    files: List[UploadFile] = File(...),
    scenario: str | None = Form(None),
    materials: List[str] = Form([]),
    applicant_name: str = Form(""),
    applicant_id: str = Form(""),
    previous_number: str | None = Form(None),
    owner_key: str = Form(""),
) -> Dict[str, Any]:
    """Multipart upload → review → numbered notice, as the ``guide prereview --json`` contract plus the chat
    messages.  ``materials`` (optional, one per file, "" for unknown) says what each file is for;
    ``owner_key`` identifies the caller for a later resubmission (returned as ``owner_key`` when minted)."""
    settings = get_settings()
    if len(files) > settings.prereview_max_files:
        raise HTTPException(status_code=413, detail=TOO_MANY_FILES.format(limit=settings.prereview_max_files, count=len(files)))
    owner, minted = _owner(request, owner_key)
    if previous_number and not _store().may_supersede(previous_number, owner):
        raise HTTPException(status_code=403, detail=NOT_YOURS.format(number=previous_number))
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

    try:
        notice = issue_notice(result, actor="web", owner=owner)
    except NotYourNotice:  # ownership changed between the check and the issue: refuse all the same
        raise HTTPException(status_code=403, detail=NOT_YOURS.format(number=previous_number)) from None
    body = notice.to_json(settings.base_url)
    body["messages"] = render.chat_messages(notice, settings.base_url)
    if minted:
        body["owner_key"] = minted  # keep it to submit corrections that replace this notice
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
