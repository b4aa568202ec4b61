"""A stand-in for api.weixin.qq.com on 127.0.0.1, for tests, `make run`'s demo mode and the simulator.

It speaks the real paths and answers (``/cgi-bin/token``, ``message/custom/send``,
``media/get``, ``menu/create``), issues tokens that expire when a newer one is issued
(as WeChat does), records every call, serves a real JPEG for ``media/get``, and can be
told to fail: ``POST /fake/inject {"path": "message/custom/send", "errcode": 45015, "times": 1}``.

    python -m channels.wechat.fake_server --port 8090 [--appid wx… --secret …]

Inspection: ``GET /fake/sent?touser=`` (客服 messages), ``GET /fake/calls``, ``GET /fake/menu``;
``POST /fake/media`` (raw image body) returns a new ``media_id``; ``POST /fake/expire`` invalidates
every issued token; ``POST /fake/reset`` forgets everything.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

DEMO_MEDIA_ID = "DEMO_ID_CARD_PHOTO"
ERRMSG = {
    40001: "invalid credential, access_token is invalid or not latest",
    40007: "invalid media_id",
    40013: "invalid appid",
    40125: "invalid appsecret",
    41001: "access_token missing",
    42001: "access_token expired",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    -1: "system error",
}
FONTS = ["/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"]


def demo_image() -> bytes:
    """A real JPEG that looks like a photographed card (what a resident would send for pre-review)."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (856, 540), (236, 240, 246))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((20, 20, 836, 520), radius=24, outline=(90, 110, 140), width=4, fill=(250, 250, 245))
    font_path = next((f for f in FONTS if Path(f).exists()), None)
    font = ImageFont.truetype(font_path, 34) if font_path else ImageFont.load_default()
    lines = ["姓名  张三", "性别  男    民族  汉", "出生  1990年1月1日", "住址  北京市丰台区西三环南路1号"]
    for i, line in enumerate(lines):
        draw.text((60, 70 + i * 70), line, fill=(30, 30, 30), font=font)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=85)
    return out.getvalue()


class FakeWeChat:
    def __init__(self, appid: str = "", secret: str = "") -> None:
        self.appid, self.secret = appid, secret
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.serial = itertools.count(1)
            self.tokens: Dict[str, float] = {}  # token → expires at
            self.calls: List[Dict[str, Any]] = []
            self.sent: List[Dict[str, Any]] = []
            self.menus: List[Dict[str, Any]] = []
            self.injected: List[Dict[str, Any]] = []
            self.media: Dict[str, tuple] = {DEMO_MEDIA_ID: (demo_image(), "image/jpeg")}
            self.token_fetches = 0

    def record(self, path: str, **extra: Any) -> None:
        with self.lock:
            self.calls.append({"path": path, "at": time.time(), **extra})

    def injected_error(self, path: str) -> Optional[int]:
        with self.lock:
            for rule in self.injected:
                if rule["path"] == path and rule["times"] != 0:
                    rule["times"] -= 1
                    return int(rule["errcode"])
        return None

    def token_ok(self, token: str) -> Optional[int]:
        if not token:
            return 41001
        expires = self.tokens.get(token)
        if expires is None:
            return 40001
        return 42001 if expires < time.time() else None


def error(code: int) -> JSONResponse:
    return JSONResponse({"errcode": code, "errmsg": ERRMSG.get(code, "error")})


def create_app(fake: Optional[FakeWeChat] = None) -> FastAPI:
    fake = fake or FakeWeChat(os.environ.get("FAKE_WECHAT_APPID", ""), os.environ.get("FAKE_WECHAT_SECRET", ""))
    app = FastAPI(title="fake WeChat API")
    app.state.fake = fake

    def guarded(path: str, request: Request) -> Optional[JSONResponse]:
        token = request.query_params.get("access_token", "")
        code = fake.token_ok(token) or fake.injected_error(path)
        fake.record(path, token=token, errcode=code or 0)
        return error(code) if code else None

    @app.get("/cgi-bin/token")
    def get_token(grant_type: str = "", appid: str = "", secret: str = "") -> JSONResponse:
        code = fake.injected_error("token")
        if not code and fake.appid and appid != fake.appid:
            code = 40013
        if not code and fake.secret and secret != fake.secret:
            code = 40125
        fake.record("token", appid=appid, errcode=code or 0)
        if code:
            return error(code)
        with fake.lock:
            fake.token_fetches += 1
            token = f"FAKE_TOKEN_{next(fake.serial)}_{int(time.time())}"
            now = time.time()
            for old in list(fake.tokens):  # a new token retires the old ones after a short overlap
                fake.tokens[old] = min(fake.tokens[old], now + 2)
            fake.tokens[token] = now + 7200
        return JSONResponse({"access_token": token, "expires_in": 7200})

    @app.post("/cgi-bin/message/custom/send")
    async def custom_send(request: Request) -> JSONResponse:
        refused = guarded("message/custom/send", request)
        if refused is not None:
            return refused
        try:
            body = json.loads(await request.body())
        except ValueError:
            return error(44002)
        with fake.lock:
            fake.sent.append({"seq": len(fake.sent) + 1, "at": time.time(), **body})
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    @app.get("/cgi-bin/media/get")
    def media_get(request: Request, media_id: str = "") -> Response:
        refused = guarded("media/get", request)
        if refused is not None:
            return refused
        if media_id not in fake.media:
            return error(40007)
        data, ctype = fake.media[media_id]
        ext = {"image/png": "png", "image/gif": "gif"}.get(ctype, "jpg")
        return Response(data, media_type=ctype, headers={"Content-disposition": f'attachment; filename="{media_id}.{ext}"'})

    @app.post("/cgi-bin/menu/create")
    async def menu_create(request: Request) -> JSONResponse:
        refused = guarded("menu/create", request)
        if refused is not None:
            return refused
        try:
            body = json.loads(await request.body())
        except ValueError:
            return error(40018)
        with fake.lock:
            fake.menus.append(body)
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    # ------------------------------------------------------------- inspection and control

    @app.get("/fake/sent")
    def sent(touser: str = "", after: int = 0) -> Dict[str, Any]:
        with fake.lock:
            items = [m for m in fake.sent if m["seq"] > after and (not touser or m.get("touser") == touser)]
        return {"sent": items}

    @app.get("/fake/calls")
    def calls() -> Dict[str, Any]:
        with fake.lock:
            return {"calls": list(fake.calls), "token_fetches": fake.token_fetches}

    @app.get("/fake/menu")
    def menus() -> Dict[str, Any]:
        return {"menus": list(fake.menus)}

    @app.post("/fake/inject")
    async def inject(request: Request) -> Dict[str, Any]:
        rule = await request.json()
        with fake.lock:
            fake.injected.append({"path": str(rule["path"]), "errcode": int(rule["errcode"]), "times": int(rule.get("times", 1))})
        return {"ok": True}

    @app.post("/fake/media")
    async def upload_media(request: Request) -> Dict[str, Any]:
        data = await request.body()
        ctype = request.headers.get("content-type", "image/jpeg").split(";")[0]
        with fake.lock:
            media_id = f"FAKE_MEDIA_{next(fake.serial)}_{int(time.time())}"
            fake.media[media_id] = (data, ctype)
        return {"media_id": media_id}

    @app.post("/fake/expire")
    def expire() -> Dict[str, Any]:
        with fake.lock:
            for t in fake.tokens:
                fake.tokens[t] = 0
        return {"ok": True}

    @app.post("/fake/reset")
    def reset() -> Dict[str, Any]:
        fake.reset()
        return {"ok": True}

    @app.get("/fake/health")
    def health() -> Dict[str, str]:
        return {"status": "ok"}

    return app


def main(argv: Optional[List[str]] = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="本地模拟的微信公众平台接口（仅供测试和演示）")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--appid", default=os.environ.get("FAKE_WECHAT_APPID", ""))
    parser.add_argument("--secret", default=os.environ.get("FAKE_WECHAT_SECRET", ""))
    args = parser.parse_args(argv)
    uvicorn.run(create_app(FakeWeChat(args.appid, args.secret)), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
