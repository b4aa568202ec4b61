"""The gateway (FastAPI): web chat, public guide pages, health checks.

Routes stay thin: the web chat relays to Rasa's REST channel after the input guard;
guide pages render the knowledge base.  WeChat, the agent workbench and the editor
mount here as they land.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any, Dict, List

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from bot.guard import long_note, precheck
from channels import ui_text
from channels.guide_pages import router as guide_router
from guide.settings import get_settings
from knowledge.base import current

log = logging.getLogger(__name__)
app = FastAPI(title="在线导办助手网关", version="0.1.0")
app.include_router(guide_router)
COOKIE = "guide_resident"


class ChatIn(BaseModel):
    text: str = Field("", description="resident's message; the input guard caps its length")


class ChatOut(BaseModel):
    messages: List[Dict[str, Any]]


@app.on_event("startup")
def _startup() -> None:
    current()
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


def _resident_id(request: Request, response: Response) -> str:
    rid = request.cookies.get(COOKIE)
    if not rid or len(rid) > 64 or not rid.replace("-", "").isalnum():
        rid = "web-" + secrets.token_hex(12)
        response.set_cookie(COOKIE, rid, max_age=30 * 24 * 3600, httponly=True, samesite="lax")
    return rid


@app.post("/api/chat", response_model=ChatOut)
async def chat(body: ChatIn, request: Request, response: Response) -> ChatOut:
    sender = _resident_id(request, response)
    reply, text = precheck(body.text)
    if reply:
        return ChatOut(messages=[{"text": reply}])
    settings = get_settings()
    try:
        async with httpx.AsyncClient(timeout=20) as client:
            r = await client.post(f"{settings.rasa_base}/webhooks/rest/webhook", json={"sender": sender, "message": text})
            r.raise_for_status()
            messages = r.json() or []
    except (httpx.HTTPError, ValueError) as exc:
        log.error("rasa unreachable: %s", exc)
        return ChatOut(messages=[{"text": ui_text.BOT_UNAVAILABLE}])
    note = long_note(body.text)
    if note:
        messages.insert(0, {"text": note})
    return ChatOut(messages=[{k: v for k, v in m.items() if k in ("text", "buttons", "image")} for m in messages])


@app.get("/", response_class=HTMLResponse)
def chat_page() -> HTMLResponse:
    return HTMLResponse(ui_text.render_chat_page())


@app.exception_handler(RequestValidationError)
async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """Malformed requests get a polite Chinese answer, never a stack trace or pydantic's English."""
    return JSONResponse({"messages": [{"text": ui_text.BAD_REQUEST}]}, status_code=422)


@app.exception_handler(HTTPException)
async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    body: Dict[str, Any] = {"detail": exc.detail}
    if request.url.path.startswith("/api/") and 400 <= exc.status_code < 500:
        body["messages"] = [{"text": ui_text.BAD_REQUEST}]
    return JSONResponse(body, status_code=exc.status_code)
