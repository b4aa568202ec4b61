"""The editors' workspace against the whole stack (tests/conftest.py ``stack``: gateway, Rasa with the test model,
action server — three processes).

A publish in the gateway's editor must change what the BOT answers — the action server is another process, so this
proves the announcement reaches it — and a rollback must restore it.  The hit test must show exactly the reply the bot
gives to the same question in a fresh conversation, and the editor's preview exactly what WeChat sends.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List

import httpx
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
STAFF_PASSWORD = "demo-pass-2026"  # tests/conftest.py seeds the gateway's demo staff with it
FEE_QUESTION = "殡仪馆火化费用多少钱"


def staff(base: str, username: str) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=60)
    r = c.post("/login", data={"username": username, "password": STAFF_PASSWORD})
    assert r.status_code in (200, 303), r.text
    c.headers["X-CSRF-Token"] = c.get("/api/me").json()["csrf"]
    return c


def bot_says(base: str, text: str) -> List[str]:
    """What the bot answers a new resident (a fresh conversation: new cookie) through the web chat API."""
    with httpx.Client(base_url=base, timeout=60) as resident:
        r = resident.post("/api/chat", json={"text": text})
        assert r.status_code == 200, r.text
        return [m["text"] for m in r.json()["messages"] if m.get("kind") == "bot" and m.get("text")]


def until_bot_says(base: str, text: str, wanted: str, seconds: float = 15) -> str:
    deadline = time.time() + seconds
    while True:
        said = "\n".join(bot_says(base, text))
        if wanted in said or time.time() > deadline:
            return said
        time.sleep(0.5)


def test_a_publish_in_the_editor_changes_the_bots_answer_and_a_rollback_restores_it(stack: Dict[str, Any]) -> None:
    base = stack["base"]
    before_text = "\n".join(bot_says(base, FEE_QUESTION))
    assert "1000元/具" in before_text, before_text
    ed, rv = staff(base, "editor"), staff(base, "reviewer")
    try:
        before = ed.get("/api/editor/services/T148").json()
        doc = before["published"]
        doc["fee"]["items"][0]["amount"] = 1250
        saved = ed.put("/api/editor/services/T148/draft", json={"document": doc, "reason": "调价测试"}).json()
        assert ed.post(f"/api/editor/services/T148/versions/{saved['version']}/submit", json={}).status_code == 200
        assert rv.post(f"/api/editor/services/T148/versions/{saved['version']}/approve", json={}).status_code == 200
        after = until_bot_says(base, FEE_QUESTION, "1250元/具")
        assert "1250元/具" in after and "1000元/具" not in after  # the action server reloaded: no restart

        r = rv.post("/api/editor/services/T148/rollback", json={"version": before["published_version"], "reason": "测试结束"})
        assert r.status_code == 200, r.text
        restored = until_bot_says(base, FEE_QUESTION, "1000元/具")
        assert "1000元/具" in restored and "1250元/具" not in restored
    finally:
        ed.close()
        rv.close()


@pytest.mark.parametrize("question", [FEE_QUESTION, "宝宝刚出生要办什么", "公司不干了怎么注销", "今天天气怎么样", "你好"])
def test_the_hit_test_shows_the_reply_the_bot_gives(stack: Dict[str, Any], question: str) -> None:
    ed = staff(stack["base"], "editor")
    try:
        r = ed.post("/api/editor/hit-test", json={"text": question})
        assert r.status_code == 200, r.text
        shown = r.json()
    finally:
        ed.close()
    if shown["action"] in ("action_greet",):  # a response template: the hit test names it, Rasa renders the words
        assert shown["messages"] and "utter_greet" in shown["messages"][0]
        return
    assert shown["messages"] == bot_says(stack["base"], question)


def test_the_preview_shows_exactly_what_wechat_sends(stack: Dict[str, Any]) -> None:
    """The editor's preview of the published guide equals the WeChat replies a resident really gets."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "wechat"))
    from wx_helpers import openid, pushed, say

    ed = staff(stack["base"], "editor")
    try:
        doc = ed.get("/api/editor/services/T148").json()["published"]
        blocks = ed.post("/api/editor/services/T148/preview", json={"document": doc}).json()["wechat"]
    finally:
        ed.close()
    titles = [b["title"] for b in blocks]
    assert sum(t.startswith("常见问题：") for t in titles) == len(doc["faqs"])
    assert sum(t.startswith("选择情形") for t in titles) == len(doc["scenarios"])
    assert all(len(m.encode("utf-8")) <= 2048 for b in blocks for m in b["messages"])
    overview = blocks[0]["messages"]
    assert "1. 逝者为本市户籍" in "\n".join(overview) and "即可选择）" in overview[-1]

    who = openid()
    r, passive = say(stack["base"], who, doc["name"], timeout=30)
    assert r.status_code == 200
    got = ([passive] if passive else []) + pushed(stack["wechat_api"], who, wait=15, count=len(overview) - (1 if passive else 0))
    assert got == overview
