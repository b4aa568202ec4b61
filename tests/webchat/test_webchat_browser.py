"""The 12345 web chat in Debian's Chromium against the whole stack: answers, choices, history, identity."""

from __future__ import annotations

import json

import httpx
import pytest

pytestmark = pytest.mark.timeout(300)


def _bot_texts(page) -> list:  # type: ignore[no-untyped-def]
    return page.locator("#log .msg.bot").all_inner_texts()


def test_resident_chats_clicks_a_choice_and_sees_history_once_after_reload(stack, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 390, "height": 844})  # phone width
    page = context.new_page()
    page.goto(stack["base"] + "/")
    page.fill("#text", "宝宝刚出生要办什么")
    page.click("#send-btn")
    page.wait_for_function("document.querySelectorAll('#log .msg.bot').length >= 2", timeout=30000)
    answer = "\n".join(_bot_texts(page))
    assert "出生" in answer
    # the answer is phone-sized: nothing wider than the viewport
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    choices = page.locator("#log .choices button")
    if choices.count():
        before = page.locator("#log .msg.bot").count()
        choices.first.click()
        page.wait_for_function(f"document.querySelectorAll('#log .msg.bot').length > {before}", timeout=30000)
    mine = page.locator("#log .msg.me").all_inner_texts()
    assert mine.count("宝宝刚出生要办什么") == 1

    page.reload()
    page.wait_for_function("document.querySelectorAll('#log .msg.me').length >= 1", timeout=15000)
    page.wait_for_timeout(800)
    again = page.locator("#log .msg.me").all_inner_texts()
    assert again.count("宝宝刚出生要办什么") == 1, again  # replayed once, not duplicated
    context.close()


def test_socket_refuses_an_unsigned_identity_and_rest_polling_sees_the_same_stream(stack) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    import websockets

    async def forged() -> int:
        url = stack["base"].replace("http", "ws") + "/ws/chat"
        async with websockets.connect(url, extra_headers={"Cookie": "guide_resident=web-0123456789abcdef01234567"}) as ws:
            try:
                await ws.recv()
            except websockets.ConnectionClosed as closed:
                return closed.code
        return 0

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:  # its own thread: Playwright's sync API owns this thread's loop
        assert pool.submit(asyncio.run, forged()).result(timeout=30) == 4401

    with httpx.Client(base_url=stack["base"], timeout=30) as client:
        r = client.post("/api/chat", json={"text": "公司不干了怎么注销", "client_id": "c1"})
        assert r.status_code == 200 and any("注销" in m.get("text", "") for m in r.json()["messages"])
        again = client.post("/api/chat", json={"text": "公司不干了怎么注销", "client_id": "c1"})
        assert again.json()["messages"] == []  # a resend with the same id is not a second turn
        shown = client.get("/api/webchat/messages").json()["messages"]
        assert [m["text"] for m in shown if m["kind"] == "me"].count("公司不干了怎么注销") == 1
        assert sum(1 for m in shown if m["kind"] == "bot") == len(r.json()["messages"])  # answered once
        last = shown[-1]["id"]
        assert client.get("/api/webchat/messages", params={"after": last}).json()["messages"] == []
        assert json.loads(json.dumps(shown))  # plain JSON all the way
