"""The gateway (FastAPI): web chat, WeChat, agent workbench, editor, public guide pages, health checks.

Routes stay thin: every resident message goes through ``channels.hub`` (dedupe,
transcript, handoff check, Rasa); each surface lives in its own module and mounts here.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from channels import ui_text
from channels.auth import LoginRequired
from channels.auth import router as auth_router
from channels.guide_pages import router as guide_router
from channels.webchat import router as webchat_router
from guide import metrics
from guide.logs import setup_logging
from guide.settings import get_settings
from knowledge.base import current

log = logging.getLogger(__name__)
app = FastAPI(title="在线导办助手网关", version="0.1.0")
app.include_router(guide_router)
app.include_router(auth_router)
app.include_router(webchat_router)
app.include_router(metrics.router)
app.add_middleware(metrics.MetricsMiddleware)

# pre-review notices (HTML/PDF) and the pre-review API (issue 4)
from fastapi import Depends  # noqa: E402

from channels.auth import require_roles  # noqa: E402
from prereview import retention as prereview_retention  # noqa: E402
from prereview.web import agent_router as prereview_agent_router  # noqa: E402
from prereview.web import router as prereview_router  # noqa: E402

app.include_router(prereview_router)
app.include_router(prereview_agent_router, dependencies=[Depends(require_roles("agent", "supervisor"))])
app.add_event_handler("startup", prereview_retention.start)  # uploads and evidence past retention, hourly
app.add_event_handler("shutdown", prereview_retention.stop)

# WeChat official account: POST/GET /wechat, /wechat/simulator in demo setups; importing it registers the 客服 pusher
from channels.wechat.endpoint import router as wechat_router  # noqa: E402

app.include_router(wechat_router)

from channels.editor import editor_router  # noqa: E402  (content editors' workspace, issue 7)

app.include_router(editor_router)

# human handoff (issue 5): agent workbench /workbench, supervisor /supervisor, /api/workbench/*, and its clock
from channels.handoff import timeouts as handoff_timeouts  # noqa: E402
from channels.handoff.workbench import router as workbench_router  # noqa: E402

app.include_router(workbench_router)
app.add_event_handler("startup", handoff_timeouts.start)
app.add_event_handler("shutdown", handoff_timeouts.stop)


@app.on_event("startup")
async def _worker_threads() -> None:
    """The hub's blocking Redis book-keeping runs on ``asyncio.to_thread``; it mostly waits on sockets, so more
    threads than asyncio's default (cores + 4) keep a burst from queueing for one.  (Starlette's
    ``run_in_threadpool``, used by the handoff service, has its own pool of 40.)"""
    from concurrent.futures import ThreadPoolExecutor

    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=get_settings().gateway_threads, thread_name_prefix="gateway"))


@app.on_event("startup")
def _startup() -> None:
    setup_logging("gateway")
    from channels.handoff import queues

    metrics.set_queue_source(lambda: {f"handoff_{t}": queues.queue_key(t) for t in queues.TIERS})
    current()
    settings = get_settings()
    if settings.demo_staff_password:
        from channels.auth import seed_demo_staff

        made = seed_demo_staff(settings.demo_staff_password)
        if made:
            log.warning("created demo staff accounts: %s", ", ".join(made))
    try:
        from knowledge.events import start_listening

        start_listening()
    except Exception as exc:  # no Redis: pages still serve, reload on restart
        log.warning("knowledge change listener not started: %s", exc)


@app.get("/healthz")
def healthz() -> Dict[str, str]:
    return {"status": "ok"}


@app.get("/readyz")
def readyz() -> JSONResponse:
    settings = get_settings()
    checks: Dict[str, str] = {}
    try:
        checks["rasa"] = "ok" if httpx.get(f"{settings.rasa_base}/status", timeout=2).status_code == 200 else "down"
    except httpx.HTTPError:
        checks["rasa"] = "down"
    checks["knowledge"] = "ok" if current().services else "empty"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse(checks, status_code=200 if ok else 503)


@app.exception_handler(LoginRequired)
async def _login_required(request: Request, exc: LoginRequired) -> Response:
    from urllib.parse import quote

    from fastapi.responses import RedirectResponse

    return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)


@app.exception_handler(RequestValidationError)
async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """Malformed requests get a polite Chinese answer, never a stack trace or pydantic's English; ``fields``
    names what was wrong (e.g. "body.level") for whoever wrote the request."""
    fields = sorted({".".join(str(part) for part in err.get("loc", ())) for err in exc.errors()})
    return JSONResponse({"messages": [{"text": ui_text.BAD_REQUEST}], "fields": fields}, status_code=422)


@app.exception_handler(HTTPException)
async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    body: Dict[str, Any] = {"detail": exc.detail}
    if request.url.path.startswith("/api/") and 400 <= exc.status_code < 500:
        body["messages"] = [{"text": ui_text.BAD_REQUEST}]
    return JSONResponse(body, status_code=exc.status_code)
