"""A stand-in for Rasa's REST channel with scripted answers, so the WeChat protocol can be tested
over real HTTP with a bot that is slow, long-winded or offers choices on demand.

    python tests/wechat/scripted_rasa.py --port N

``GET /received`` lists every {"sender", "message"} it was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from typing import Any, Dict, List

import uvicorn
from fastapi import FastAPI, Request

app = FastAPI()
received: List[Dict[str, Any]] = []
LONG = "".join(f"第{i}条：办理出生医学证明、预防接种证、户口登记和社会保障卡，需要带好父母双方的身份证和户口簿。\n" for i in range(1, 61))


@app.get("/status")
def status() -> Dict[str, str]:
    return {"status": "ok"}


@app.get("/received")
def seen() -> Dict[str, Any]:
    return {"received": received}


@app.post("/webhooks/rest/webhook")
async def webhook(request: Request) -> List[Dict[str, Any]]:
    body = await request.json()
    received.append(body)
    text = str(body.get("message", ""))
    if text.startswith("/upload_received"):
        upload = json.loads(json.loads(text[len("/upload_received"):])["upload"])
        return [{"recipient_id": body["sender"], "text": f"已收到您的材料：{upload['filename']}"}]
    if text == "/ask_human":
        return [{"recipient_id": body["sender"], "text": "好的，正在为您转接人工客服。"}]
    if "慢" in text:
        delay = re.search(r"慢(\d+(?:\.\d+)?)", text)
        await asyncio.sleep(float(delay.group(1)) if delay else 2.5)
        return [{"recipient_id": body["sender"], "text": f"慢答复：{text}"}]
    if "长" in text:
        return [{"recipient_id": body["sender"], "text": LONG}]
    if "坏按钮" in text:  # a malformed answer (buttons that are not objects): shaping it for WeChat fails
        return [{"recipient_id": body["sender"], "text": "请选择：", "buttons": ["不是按钮"]}]
    if "乱序" in text:  # a button with a word payload before one whose payload is a number
        return [{"recipient_id": body["sender"], "text": "您要哪一项？",
                 "buttons": [{"title": "人工服务", "payload": "/ask_human"}, {"title": "2. 继续咨询", "payload": "2"}]}]
    if "选" in text:
        return [{"recipient_id": body["sender"], "text": "您想办的是哪一件？",
                 "buttons": [{"title": "1. 新生儿出生一件事", "payload": "1"}, {"title": "2. 企业注销一件事", "payload": "2"},
                             {"title": "转人工", "payload": "/ask_human"}]}]
    return [{"recipient_id": body["sender"], "text": f"您说的是：{text}"}]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    uvicorn.run(app, host="127.0.0.1", port=parser.parse_args().port, log_level="warning")
