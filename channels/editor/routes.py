"""The editors' workspace over HTTP: pages under /editor, JSON under /api/editor.

Thin on purpose: every rule (validation, review, publish, rollback, import) lives in
``knowledge.editing`` / ``knowledge.excel`` / ``knowledge.retrain``; these handlers
translate requests, check roles (editor, reviewer; admin holds all) and write the audit trail.
"""

from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Dict
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Depends, File, Form, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from channels.audit import audit
from channels.auth import Staff, require_roles
from channels.editor import hittest, insights, limits, replies
from knowledge.base import KnowledgeBase, current, holder
from knowledge.editing import (
    ACTION_NAMES,
    STATE_NAMES,
    Editor,
    EditRefused,
    canonical,
    errors_of,
    field_spec,
)
from knowledge.schema import Service

HERE = Path(__file__).parent
router = APIRouter()
env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
env.globals.update(STATE_NAMES=STATE_NAMES, ACTION_NAMES=ACTION_NAMES)
editor_role = require_roles("editor", "reviewer")
reviewer_role = require_roles("reviewer")
_editors: Dict[str, Editor] = {}
ALIAS_MAX = 30  # characters: an alias is a name residents type, not a question
CATALOGUE_FIELDS = {
    "id": "事项编号是事项的唯一标识，不能修改。",
    "name": "事项名称须与事项目录（knowledge/data/catalogue.csv）一致：检索、路由、统计和 200 个事项的清单都以目录为准。",
    "domain": "所属领域由事项目录决定，须与目录一致。",
    "audience": "服务对象类别由事项目录决定，须与目录一致。",
    "lead_department": "牵头部门由事项目录决定，须与目录一致；协办部门可以在下方修改。",
}
CATALOGUE_NOTE = "如需调整，请联系管理员修改事项目录并重新导入；其余内容可在此编辑，提交审核后生效。"


def editor() -> Editor:
    """One Editor per database (the holder's store, so publishing reloads this process at once)."""
    store = holder().store
    key = str(store.engine.url)
    if key not in _editors:
        holder().get()  # the database is seeded from YAML on first use
        _editors[key] = Editor(store, holder().settings.data_dir)
    return _editors[key]


def page(name: str, staff: Staff, **values: Any) -> HTMLResponse:
    return HTMLResponse(env.get_template(name).render(staff=staff, is_reviewer=staff.has("reviewer"), **values))


def refused(exc: EditRefused, status: int = 422) -> JSONResponse:
    return JSONResponse({"error": exc.message, "problems": [p.as_dict() for p in exc.problems]}, status_code=status)


def _kb_with(kb: KnowledgeBase, svc: Service) -> KnowledgeBase:
    return KnowledgeBase(kb.profile, kb.materials, {**kb.services, svc.id: svc}, kb.base_url)


# ================================================================== pages


@router.get("/editor/static/{name}", include_in_schema=False)
def static(name: str) -> Response:
    path = HERE / "static" / name
    if "/" in name or ".." in name or not path.is_file():
        return Response("未找到", status_code=404)
    media = "text/javascript" if name.endswith(".js") else "text/css"
    return FileResponse(path, media_type=f"{media}; charset=utf-8")


@router.get("/editor", response_class=HTMLResponse)
def list_page(staff: Staff = Depends(editor_role)) -> HTMLResponse:
    ed = editor()
    rows = ed.statuses()
    kb = current()
    departments = sorted({(r.lead_department, kb.context.dept(r.lead_department)) for r in rows}, key=lambda d: d[1])
    return page("list.html", staff, title="事项列表", domains=sorted({r.domain for r in rows}), departments=departments)


@router.get("/editor/services/{service_id}", response_class=HTMLResponse)
def edit_page(service_id: str, staff: Staff = Depends(editor_role)) -> HTMLResponse:
    ed = editor()
    row = ed.store.service(service_id)
    if row is None:
        return HTMLResponse(env.get_template("missing.html").render(staff=staff, title="没有这个事项", service_id=service_id), status_code=404)
    open_row = ed.open_change(service_id)
    return page("edit.html", staff, title=f"编辑 {row.name}", row=row, open_row=open_row,
                contributors=ed.contributors(service_id, open_row.version) if open_row else [])


@router.get("/editor/services/{service_id}/history", response_class=HTMLResponse)
def history_page(service_id: str, staff: Staff = Depends(editor_role)) -> HTMLResponse:
    ed = editor()
    row = ed.store.service(service_id)
    if row is None:
        return HTMLResponse(env.get_template("missing.html").render(staff=staff, title="没有这个事项", service_id=service_id), status_code=404)
    return page("history.html", staff, title=f"版本历史 {row.name}", row=row, versions=ed.history(service_id),
                drafts=ed.draft_versions(service_id),
                log=ed.change_log(service_id))


@router.get("/editor/services/{service_id}/versions/{version}", response_class=HTMLResponse)
def version_page(service_id: str, version: int, staff: Staff = Depends(editor_role)) -> HTMLResponse:
    ed = editor()
    try:
        v = ed.version(service_id, version)
    except EditRefused as exc:
        return HTMLResponse(env.get_template("missing.html").render(staff=staff, title=exc.message, service_id=service_id), status_code=404)
    row = ed.store.service(service_id)
    assert row is not None
    was_draft = ed.draft_versions(service_id)
    older = [x for x in ed.history(service_id) if x.version < version and x.state in ("published", "superseded") and x.version not in was_draft]
    previous = older[0].version if older else None
    base = row.published_version if v.state in ("draft", "in_review", "rejected") else previous
    if v.version in was_draft and v.state == "superseded":
        base = previous
    changes = ed.diff(service_id, base, version) if base != version else []
    contributors = ed.contributors(service_id, version)
    return page("version.html", staff, title=f"{row.name} 第{version}版", row=row, v=v, base=base, changes=changes,
                contributors=contributors, own=staff.username in contributors)


@router.get("/editor/review", response_class=HTMLResponse)
def review_page(staff: Staff = Depends(editor_role)) -> HTMLResponse:
    ed = editor()
    names = {r.id: r.name for r in ed.statuses()}
    queue = [(v, names.get(v.service_id, ""), ed.contributors(v.service_id, v.version)) for v in ed.review_queue()]
    return page("review.html", staff, title="审核队列", queue=queue)


@router.get("/editor/preview/{service_id}/{version}", response_class=HTMLResponse)
def preview_version_page(service_id: str, version: int, staff: Staff = Depends(editor_role)) -> HTMLResponse:
    """A stored version rendered as the public guide page (what residents would see)."""
    from channels.guide_pages import render_service

    ed = editor()
    try:
        svc = Service.parse_obj(ed.version(service_id, version).document)
    except EditRefused as exc:
        return HTMLResponse(exc.message, status_code=404)
    return HTMLResponse(render_service(_kb_with(current(), svc), service_id))


@router.get("/editor/import", response_class=HTMLResponse)
def import_page(staff: Staff = Depends(editor_role)) -> HTMLResponse:
    return page("import.html", staff, title="导入导出")


@router.get("/editor/hit-test", response_class=HTMLResponse)
def hit_test_page(staff: Staff = Depends(editor_role), q: str = "") -> HTMLResponse:
    return page("hittest.html", staff, title="命中测试", q=q[:200])


@router.get("/editor/gaps", response_class=HTMLResponse)
def gaps_page(staff: Staff = Depends(editor_role), days: int = 30) -> HTMLResponse:
    days = min(max(days, 1), 365)
    groups = insights.gap_groups(current(), datetime.utcnow() - timedelta(days=days))
    services = [(s.id, s.name) for s in current().ordered()]
    return page("gaps.html", staff, title="知识缺口", groups=groups, days=days, services=services)


def _tz() -> ZoneInfo:
    return ZoneInfo(holder().settings.display_timezone)


def _period(start: str, end: str, days: int) -> tuple:
    """(since, until) as naive UTC for the analytics query (until exclusive), and the first and last day shown.

    Days are calendar days in DISPLAY_TIMEZONE (Asia/Shanghai): the editor picks local dates, the
    analytics rows are stored in UTC, and the chart counts each row on its local day."""
    tz = _tz()
    today = datetime.now(tz).date()
    try:
        last = date.fromisoformat(end) if end else today
        first = date.fromisoformat(start) if start else last - timedelta(days=max(1, min(days, 366)) - 1)
    except ValueError:
        last, first = today, today - timedelta(days=29)
    if first > last:
        first, last = last, first

    def utc(day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=tz).astimezone(timezone.utc).replace(tzinfo=None)

    return utc(first), utc(last + timedelta(days=1)), first, last


@router.get("/editor/dashboard", response_class=HTMLResponse)
def dashboard_page(staff: Staff = Depends(editor_role), start: str = "", end: str = "", days: int = 30) -> HTMLResponse:
    since, until, first, last = _period(start, end, days)
    data = insights.dashboard(current(), since, until, _tz())
    charts = {
        "top": insights.bar_chart(data["top_services"], "被问最多的事项", "次"),
        "ratings": insights.bar_chart(data["rating_hist"], "好差评分布", "条", color="#1e6b34"),
        "defects": insights.bar_chart(data["defects"], "预审问题（按代码）", "次", color="#c0392b"),
        "series": insights.line_chart(data["series"], "每日提问、未能理解和转人工"),
    }
    return page("dashboard.html", staff, title="数据看板", data=data, charts=charts, start=first.isoformat(), end=last.isoformat(),
                timezone=holder().settings.display_timezone)


@router.get("/editor/retrain", response_class=HTMLResponse)
def retrain_page(staff: Staff = Depends(editor_role)) -> HTMLResponse:
    from knowledge import retrain

    return page("retrain.html", staff, title="模型训练", status=retrain.status(), history=retrain.history())


# ================================================================== JSON: services


@router.get("/api/editor/services")
def list_services(q: str = "", domain: str = "", department: str = "", status: str = "", changed_days: int = 0,
                  sort: str = "id", staff: Staff = Depends(editor_role)) -> Dict[str, Any]:
    rows = editor().statuses()
    kb = current()
    q = q.strip()
    since = datetime.utcnow() - timedelta(days=changed_days) if changed_days > 0 else None
    out = []
    for r in rows:
        if domain and r.domain != domain:
            continue
        if department and r.lead_department != department:
            continue
        if status and r.status != status:
            continue
        if since and r.updated_at < since:
            continue
        if q:
            svc = kb.services.get(r.id)
            hay = " ".join([r.id, r.name] + (list(svc.aliases) if svc else []))
            if q.lower() not in hay.lower():
                continue
        out.append({"id": r.id, "name": r.name, "domain": r.domain, "department": kb.context.dept(r.lead_department),
                    "status": r.status, "status_name": r.status_name, "published_version": r.published_version,
                    "open_version": r.open_version, "updated_at": r.updated_at.isoformat(timespec="minutes"),
                    "updated_by": r.updated_by})
    if sort == "changed":
        out.sort(key=lambda x: str(x["updated_at"]), reverse=True)
    return {"count": len(out), "services": out}


@router.get("/api/editor/spec")
def spec(staff: Staff = Depends(editor_role)) -> Dict[str, Any]:
    """The form's fields plus the choices that come from the city profile and the material catalogue."""
    kb = current()
    return {
        "fields": field_spec(Service),
        "choices": {
            "departments": [[k, d.full_name] for k, d in kb.profile.departments.items()],
            "halls": [[k, h.name] for k, h in kb.profile.halls.items()],
            "materials": sorted([[m.id, m.name] for m in kb.materials.values()], key=lambda x: x[1]),
        },
        "fixed": list(CATALOGUE_FIELDS),
        "fixed_why": {k: f"{v}{'' if k == 'id' else CATALOGUE_NOTE}" for k, v in CATALOGUE_FIELDS.items()},
    }


@router.get("/api/editor/services/{service_id}")
def get_service(service_id: str, staff: Staff = Depends(editor_role)) -> JSONResponse:
    ed = editor()
    try:
        published = ed.published(service_id)
    except EditRefused as exc:
        return refused(exc, 404)
    open_row = ed.open_change(service_id)
    row = ed.store.service(service_id)
    return JSONResponse({
        "id": service_id, "published": published, "published_version": row.published_version if row else 0,
        "open": {"version": open_row.version, "state": open_row.state, "state_name": STATE_NAMES[open_row.state],
                 "author": open_row.author, "reason": open_row.reason, "document": open_row.document} if open_row else None,
        "versions": len(ed.history(service_id)),
    })


@router.post("/api/editor/services/{service_id}/validate")
def validate(service_id: str, body: Dict[str, Any] = Body(...), staff: Staff = Depends(editor_role)) -> Dict[str, Any]:
    _, problems = editor().validate(body.get("document"))
    return {"ok": not errors_of(problems), "problems": [p.as_dict() for p in problems]}


@router.post("/api/editor/services/{service_id}/preview")
def preview(service_id: str, body: Dict[str, Any] = Body(...), staff: Staff = Depends(editor_role)) -> JSONResponse:
    """Exactly what a resident would see for this (unsaved) guide: the WeChat replies and the guide page.

    The replies come from the bot's own action helpers and are shaped by the WeChat channel's own code
    (2048-byte parts, numbered options): the overview, every element, every scenario's materials, every FAQ."""
    from channels.guide_pages import render_service

    svc, problems = editor().validate(body.get("document"))
    if svc is None or errors_of(problems):
        return refused(EditRefused("有错误，无法预览；请先改正标红的字段", errors_of(problems)))
    kb = _kb_with(current(), svc)
    return JSONResponse({"wechat": replies.wechat_preview(svc, kb), "page": render_service(kb, service_id)})


@router.put("/api/editor/services/{service_id}/draft")
def save_draft(service_id: str, body: Dict[str, Any] = Body(...), staff: Staff = Depends(editor_role)) -> JSONResponse:
    try:
        out = editor().save_draft(service_id, body.get("document"), staff.username, str(body.get("reason") or "")[:500])
    except EditRefused as exc:
        return refused(exc)
    audit(staff.username, "editor_save", service_id, f"第{out.version}版")
    return JSONResponse({"version": out.version, "message": out.message, "problems": [p.as_dict() for p in out.problems]})


def _transition(service_id: str, version: int, staff: Staff, action: str, call: Any) -> JSONResponse:
    try:
        out = call()
    except EditRefused as exc:
        return refused(exc, 409)
    audit(staff.username, f"editor_{action}", service_id, out.message)
    return JSONResponse({"version": out.version, "message": out.message})


@router.post("/api/editor/services/{service_id}/versions/{version}/submit")
def submit(service_id: str, version: int, body: Dict[str, Any] = Body(default={}), staff: Staff = Depends(editor_role)) -> JSONResponse:
    return _transition(service_id, version, staff, "submit",
                       lambda: editor().submit(service_id, version, staff.username, str(body.get("reason") or "")[:500]))


@router.post("/api/editor/services/{service_id}/versions/{version}/withdraw")
def withdraw(service_id: str, version: int, staff: Staff = Depends(editor_role)) -> JSONResponse:
    return _transition(service_id, version, staff, "withdraw",
                       lambda: editor().withdraw(service_id, version, staff.username, admin=staff.has("admin")))


@router.post("/api/editor/services/{service_id}/versions/{version}/approve")
def approve(service_id: str, version: int, staff: Staff = Depends(reviewer_role)) -> JSONResponse:
    return _transition(service_id, version, staff, "approve", lambda: editor().approve(service_id, version, staff.username))


@router.post("/api/editor/services/{service_id}/versions/{version}/reject")
def reject(service_id: str, version: int, body: Dict[str, Any] = Body(default={}), staff: Staff = Depends(reviewer_role)) -> JSONResponse:
    return _transition(service_id, version, staff, "reject",
                       lambda: editor().reject(service_id, version, staff.username, str(body.get("reason") or "")[:500]))


@router.post("/api/editor/services/{service_id}/rollback")
def rollback(service_id: str, body: Dict[str, Any] = Body(...), staff: Staff = Depends(reviewer_role)) -> JSONResponse:
    try:
        to_version = int(body.get("version"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return refused(EditRefused("请指定要回滚到的版本号"))
    return _transition(service_id, to_version, staff, "rollback",
                       lambda: editor().rollback(service_id, to_version, staff.username, str(body.get("reason") or "")[:500]))


@router.get("/api/editor/services/{service_id}/diff")
def diff(service_id: str, new: int, old: int = 0, staff: Staff = Depends(editor_role)) -> JSONResponse:
    try:
        changes = editor().diff(service_id, old or None, new)
    except EditRefused as exc:
        return refused(exc, 404)
    return JSONResponse({"changes": [c.as_dict() for c in changes]})


@router.get("/api/editor/services/{service_id}/history")
def history(service_id: str, staff: Staff = Depends(editor_role)) -> Dict[str, Any]:
    ed = editor()
    return {
        "versions": [{"version": v.version, "state": v.state, "state_name": STATE_NAMES.get(v.state, v.state), "author": v.author,
                      "reviewer": v.reviewer, "reason": v.reason, "created_at": v.created_at.isoformat(timespec="seconds")}
                     for v in ed.history(service_id)],
        "log": [{"at": e.at.isoformat(timespec="seconds"), "version": e.version, "actor": e.actor, "action": e.action_name,
                 "detail": e.detail} for e in ed.change_log(service_id)],
    }


# ================================================================== JSON: import / export


@router.get("/api/editor/export.xlsx")
def export_xlsx(ids: str = "", staff: Staff = Depends(editor_role)) -> StreamingResponse:
    from knowledge.excel import export_workbook

    docs = editor().store.published_services()
    if ids:
        wanted = set(ids.split(","))
        docs = [d for d in docs if d["id"] in wanted]
    name = "guides.xlsx" if not ids else f"guides-{ids.replace(',', '-')[:60]}.xlsx"
    return StreamingResponse(io.BytesIO(export_workbook(docs)), media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/api/editor/services/{service_id}/export.yaml")
def export_yaml(service_id: str, staff: Staff = Depends(editor_role)) -> Response:
    from ruamel.yaml import YAML

    from knowledge.importer import _prune

    try:
        doc = editor().published(service_id)
    except EditRefused as exc:
        return refused(exc, 404)
    yaml = YAML()
    yaml.allow_unicode = True
    yaml.width = 4096  # type: ignore[assignment]
    buf = io.StringIO()
    yaml.dump(_prune(doc), buf)
    return Response(buf.getvalue(), media_type="text/yaml; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{service_id}.yml"'})


@router.post("/api/editor/import")
async def import_file(file: UploadFile = File(...), reason: str = Form(""), publish: str = Form(""),
                      staff: Staff = Depends(editor_role)) -> JSONResponse:
    """.xlsx (any number of services) or one service's .yml; all or nothing."""
    from knowledge.excel import CellProblem, ExcelRefused, import_workbook

    try:
        data = await limits.read_capped(file)
    except limits.UploadRefused as exc:
        return JSONResponse({"error": str(exc), "problems": []}, status_code=413)
    name = (file.filename or "").lower()
    direct = bool(publish) and staff.has("admin")
    if bool(publish) and not direct:
        return JSONResponse({"error": "只有管理员可以导入后直接发布；请去掉“直接发布”后重新导入，导入的修改将进入审核"}, status_code=403)
    why = reason.strip()[:500] or f"导入 {file.filename}"
    ed = editor()
    if name.endswith(".xlsx"):
        try:
            limits.check_xlsx(data)
        except limits.UploadRefused as exc:
            return JSONResponse({"error": str(exc), "problems": []}, status_code=413)
        try:
            result = import_workbook(ed, data, staff.username, why, publish=direct)
        except ExcelRefused as exc:
            return JSONResponse({"error": f"导入被拒绝：{len(exc.problems)} 处错误，没有做任何修改", "problems": [p.as_dict() for p in exc.problems]},
                                status_code=422)
        done = result.published or result.submitted
        audit(staff.username, "editor_import", "excel", f"{file.filename}：{len(done)} 个事项")
        verb = "已发布" if direct else "已提交审核"
        return JSONResponse({"message": f"导入成功：{len(done)} 个事项{verb}，{len(result.unchanged)} 个未变化",
                             "changed": [{"id": s, "version": v} for s, v in done], "unchanged": result.unchanged,
                             "warnings": [w.as_dict() for w in result.warnings]})
    if name.endswith((".yml", ".yaml")):
        from knowledge.loader import read_yaml

        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return JSONResponse({"error": "文件须为 UTF-8 编码", "problems": []}, status_code=422)
        node, errs = read_yaml(text, file.filename or "upload.yml")
        if errs:
            return JSONResponse({"error": "导入被拒绝：YAML 格式错误，没有做任何修改",
                                 "problems": [CellProblem("YAML", e.line, "", "", e.message).as_dict() for e in errs]}, status_code=422)
        from knowledge.loader import plain

        doc = plain(node)
        svc, problems = ed.validate(doc)
        if svc is None or errors_of(problems):
            return JSONResponse({"error": "导入被拒绝：内容有错误，没有做任何修改",
                                 "problems": [{**p.as_dict(), "text": str(p)} for p in errors_of(problems)]}, status_code=422)
        sid = svc.id
        if ed.store.service(sid) is None:
            return JSONResponse({"error": f"没有事项 {sid}（只能修改已有的事项）", "problems": []}, status_code=422)
        try:
            if direct:
                done = ed.publish_documents([canonical(svc)], staff.username, why)
            else:
                done = ed.submit_documents([canonical(svc)], staff.username, why)
        except EditRefused as exc:
            return refused(exc, 409)
        audit(staff.username, "editor_import", sid, why)
        return JSONResponse({"message": f"导入成功：{len(done)} 个事项{'已发布' if direct else '已提交审核'}" if done else "内容与当前发布版本相同，未做修改",
                             "changed": [{"id": s, "version": v} for s, v in done], "unchanged": [] if done else [sid], "warnings": []})
    return JSONResponse({"error": "只支持 .xlsx 或 .yml 文件", "problems": []}, status_code=422)


# ================================================================== JSON: hit test, gaps, dashboard, retrain


@router.post("/api/editor/hit-test")
async def hit_test(body: Dict[str, Any] = Body(...), staff: Staff = Depends(editor_role)) -> JSONResponse:
    text = str(body.get("text") or "")[:500]
    try:
        return JSONResponse(await hittest.hit_test(text, current()))
    except hittest.RasaUnavailable as exc:
        return JSONResponse({"error": str(exc)}, status_code=503)


@router.get("/api/editor/gaps")
def gaps(days: int = 30, staff: Staff = Depends(editor_role)) -> Dict[str, Any]:
    groups = insights.gap_groups(current(), datetime.utcnow() - timedelta(days=min(max(days, 1), 365)))
    return {"groups": [g.as_dict() for g in groups]}


@router.post("/api/editor/gaps/adopt")
def adopt_gap(body: Dict[str, Any] = Body(...), staff: Staff = Depends(editor_role)) -> JSONResponse:
    """Add a resident's question as an alias or an FAQ of a service: a draft that goes through review."""
    ed = editor()
    sid, text, kind = str(body.get("service_id") or ""), str(body.get("text") or "").strip(), body.get("as")
    if kind not in ("alias", "faq") or not text:
        return refused(EditRefused("请选择添加为别名或常见问题，并填写问题文字"))
    if kind == "alias" and len(text) > ALIAS_MAX:
        return refused(EditRefused(f"别名最多 {ALIAS_MAX} 个字，这句有 {len(text)} 个字。请改短后再添加（例如只保留事项的叫法），"
                                   "或添加为常见问题"))
    try:
        open_row = ed.open_change(sid)
        if open_row is not None and open_row.state == "in_review":
            raise EditRefused(f"{sid} 第 {open_row.version} 版正在审核中，审核后再添加")
        doc = dict(open_row.document) if open_row is not None else ed.published(sid)
        if kind == "alias":
            doc["aliases"] = list(doc.get("aliases", [])) + [text]
            reason = f"知识缺口：添加别名“{text}”"
        else:
            answer = str(body.get("answer") or "").strip()
            doc["faqs"] = list(doc.get("faqs", [])) + [{"q": text, "a": answer}]
            reason = f"知识缺口：添加常见问题“{text[:40]}”"
        out = ed.save_draft(sid, doc, staff.username, reason)
    except EditRefused as exc:
        return refused(exc)
    audit(staff.username, "editor_gap_adopt", sid, reason)
    return JSONResponse({"version": out.version, "message": f"{out.message}，请在编辑页提交审核", "url": f"/editor/services/{sid}"})


@router.get("/api/editor/dashboard")
def dashboard(start: str = "", end: str = "", days: int = 30, staff: Staff = Depends(editor_role)) -> Dict[str, Any]:
    since, until, first, last = _period(start, end, days)
    data = insights.dashboard(current(), since, until, _tz())
    return {"start": first.isoformat(), "end": last.isoformat(), "timezone": holder().settings.display_timezone, **data}


@router.post("/api/editor/retrain")
def start_retrain(staff: Staff = Depends(reviewer_role)) -> JSONResponse:
    from knowledge import retrain

    try:
        job = retrain.start(staff.username)
    except retrain.RetrainBusy as exc:
        return JSONResponse({"error": str(exc)}, status_code=409)
    audit(staff.username, "editor_retrain", "model", job)
    return JSONResponse({"job": job, "message": "已开始训练，进度见本页"})


@router.get("/api/editor/retrain")
def retrain_status(staff: Staff = Depends(editor_role)) -> Dict[str, Any]:
    from knowledge import retrain

    return {"status": retrain.status(), "history": retrain.history()}
